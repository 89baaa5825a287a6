"""`PauseController`: who stopped new entries, why, and since when.

A pause stops new positions only; open positions keep being watched, rebalanced and closed by the
risk engine, and a manual close always works. Several parties can pause at once (the user from the
dashboard, an operator, an automatic check); each pause has a key (by default who paused), and
entries resume only when every pause is lifted. The controller holds no I/O: the caller persists
`to_json()` and restores it with `from_json()` after a restart, so a pause survives one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

ALL: Literal["all"] = "all"


@dataclass(frozen=True, slots=True)
class PauseReason:
    key: str
    reason: str
    by: str
    at: datetime


class PauseController:
    def __init__(self, reasons: list[PauseReason] | None = None) -> None:
        self._reasons: dict[str, PauseReason] = {r.key: r for r in reasons or []}

    @property
    def paused(self) -> bool:
        return bool(self._reasons)

    @property
    def reasons(self) -> list[PauseReason]:
        """Active pauses, oldest first."""
        return sorted(self._reasons.values(), key=lambda r: (r.at, r.key))

    def pause(
        self, reason: str, by: str, *, key: str | None = None, now: datetime | None = None
    ) -> PauseReason:
        """Pause new entries. Pausing again with the same key replaces that pause's reason."""
        if not reason.strip() or not by.strip():
            raise ValueError("a pause needs a reason and who asked for it")
        key = (key or by).strip()
        if key == ALL:
            raise ValueError(f"{ALL!r} is reserved for resuming every pause")
        entry = PauseReason(key, reason.strip(), by.strip(), now or datetime.now(UTC))
        self._reasons[key] = entry
        return entry

    def resume(self, key: str, by: str) -> list[PauseReason]:
        """Lift one pause (its key) or every pause (`"all"`); returns what was lifted (idempotent).

        `by` is who lifted it, for the caller's event; any party may lift any pause, as on a desk.
        """
        if not by.strip():
            raise ValueError("say who resumes")
        if key == ALL:
            lifted, self._reasons = self.reasons, {}
            return lifted
        entry = self._reasons.pop(key, None)
        return [entry] if entry else []

    def to_json(self) -> str:
        return json.dumps(
            [{**asdict(r), "at": r.at.isoformat()} for r in self.reasons], separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> PauseController:
        try:
            rows = json.loads(text) if text.strip() else []
            reasons = [
                PauseReason(str(r["key"]), str(r["reason"]), str(r["by"]), datetime.fromisoformat(r["at"]))
                for r in rows
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a saved pause state: {exc}") from None
        return cls(reasons)
