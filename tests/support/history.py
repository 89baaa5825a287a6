"""Where the recorded market history lives: `shared/` beside the checkout (or beside its parent, for a
worktree one level down); BASIS_HISTORY_DIR overrides."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.source import ROOT

NAME = Path("shared") / "data" / "history-sol-2025"


def _find() -> Path:
    if os.environ.get("BASIS_HISTORY_DIR"):
        return Path(os.environ["BASIS_HISTORY_DIR"])
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / NAME).is_dir():
            return base / NAME
    return ROOT.parent / NAME


HISTORY_DIR = _find()
