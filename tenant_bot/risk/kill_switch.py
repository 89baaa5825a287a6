"""`KillSwitch`: a file whose presence stops new entries.

A file, because it works when nothing else does: an operator can `touch` it over ssh or through a
mounted volume even if the bot's API is unreachable. Like a pause it stops new positions only; it
does not close anything. Reading it never raises: if the file's state cannot be determined
(permission denied, I/O error), the switch counts as engaged, the safe side, and the problem is logged.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from shared.logging import get_logger

log = get_logger(__name__)


class KillSwitch:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def engaged(self) -> bool:
        try:
            os.stat(self.path)
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            return False  # a parent is a file: this path cannot exist
        except OSError as exc:
            log.warning("kill_switch_unreadable", path=str(self.path), error=exc.strerror or str(exc))
            return True
        return True

    @property
    def reason(self) -> str | None:
        """What the file says (first 1,000 characters), or None when not engaged or unreadable."""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")[:1000].strip() or None
        except OSError:
            return None

    def engage(self, reason: str, by: str) -> None:
        """Create the file (atomically, so a reader never sees it half written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(f"{datetime.now(UTC).isoformat()} {by}: {reason}\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
