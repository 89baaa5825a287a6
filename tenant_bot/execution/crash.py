"""Crash points: named moments of the state machine where a test can kill the bot with SIGKILL.

`BASIS_CRASH_AT=open.long.intent` makes the process kill itself the first time it reaches that
point, after everything before it is committed and before anything after it happens. The crash
tests walk every point in `POINTS` and check that a restart ends hedged or cleanly unwound.
"""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger("basis.bot.crash")

POINTS: tuple[str, ...] = (
    "open.planned",  # execution and position rows written, nothing sent
    "open.long.intent",  # signed long transaction journaled, not submitted
    "open.long.sent",  # long submitted, confirmation not yet seen
    "open.long.confirmed",  # long confirmed and recorded, hedge not started
    "open.hedge.intent",  # hedge order journaled (cloid + signed body), not sent
    "open.hedge.sent",  # hedge order answered by the venue, answer not yet recorded
    "open.hedge.filled",  # hedge fill recorded, position not yet marked open
    "close.short.intent",
    "close.short.sent",
    "close.long.intent",
    "close.long.sent",
    "close.long.confirmed",
)


class CrashPoints:
    def __init__(self, crash_at: str | None) -> None:
        if crash_at is not None and crash_at not in POINTS:
            raise ValueError(f"unknown crash point {crash_at!r}; known: {', '.join(POINTS)}")
        self._at = crash_at

    def reached(self, point: str) -> None:
        if point == self._at:
            log.warning("crash point reached: killing the process", point=point)
            os.kill(os.getpid(), signal.SIGKILL)
