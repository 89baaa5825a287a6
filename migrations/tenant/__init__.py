"""Migrations of a bot's SQLite database. Applied by the bot itself at start-up."""
