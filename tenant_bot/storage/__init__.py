"""The bot's own SQLite database: executions and their journal, positions, events, small state."""
