"""Where the recorded market history lives: the copy the bot package ships in
`tenant_bot/backtest/history-sol-2025/`
(the same files as the team's shared folder, in their sources' own shapes); BASIS_HISTORY_DIR
points the tests at another folder, e.g. a longer download."""

from __future__ import annotations

import os
from pathlib import Path

from tenant_bot.backtest import SHIPPED_HISTORY

HISTORY_DIR = Path(os.environ.get("BASIS_HISTORY_DIR") or SHIPPED_HISTORY)
