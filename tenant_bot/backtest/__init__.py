"""The backtest: the bot's own decision code over recorded market history, on simulated venues."""

from pathlib import Path

# The recorded window the bot package ships (package data, so a bot in a container has it too):
# SOL 2024-12-31 to 2025-08-31 in its sources' own shapes; its README names each file.
SHIPPED_HISTORY = Path(__file__).resolve().parent / "history-sol-2025"
