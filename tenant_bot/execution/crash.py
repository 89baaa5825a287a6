"""Crash points: named moments of the state machine where a test can kill the bot with SIGKILL.

`BASIS_CRASH_AT=open.long.intent` makes the process kill itself the first time it reaches that
point, after everything before it is committed and before anything after it happens. The points
are derived from the state machine (`states.py`): `open.planned`, then for every step its
intent, sent and confirmed (a Solana transaction) or filled (a Hyperliquid order) moments, named
`<step's crash prefix>.<moment>`. The crash tests walk every point in `POINTS` and check that a
restart ends hedged, closed, reduced or cleanly unwound. `BASIS_CRASH_RECORD=<file>` makes the
process append every point it passes to that file, so the tests can check that they walk every
point the code reaches.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import structlog

from tenant_bot.execution.states import Flow, Moment, State, StepName, moments

log = structlog.get_logger("basis.bot.crash")


def step_point(step: StepName, moment: Moment) -> str:
    return f"{step.crash_prefix}.{moment.value}"


def _points() -> tuple[str, ...]:
    points = [f"{Flow.OPEN.value}.{State.PLANNED.value}"]  # execution and position rows written
    for step in StepName:
        points.extend(step_point(step, moment) for moment in moments(step.leg))
    return tuple(points)


POINTS: tuple[str, ...] = _points()
# The deposit bridge's moments (tenant_bot/execution/deposits.py): its transfer journaled, and sent
# but not yet recorded as sent.
DEPOSIT_POINTS: tuple[str, ...] = ("deposit.signed", "deposit.sent")
KNOWN_POINTS = POINTS + DEPOSIT_POINTS


class CrashPoints:
    def __init__(self, crash_at: str | None, *, record: Path | None = None) -> None:
        if crash_at is not None and crash_at not in KNOWN_POINTS:
            raise ValueError(f"unknown crash point {crash_at!r}; known: {', '.join(KNOWN_POINTS)}")
        self._at = crash_at
        self._record = record

    def reached(self, point: str) -> None:
        if point not in KNOWN_POINTS:  # a typo in the engine would make a crash test pass vacuously
            raise ValueError(f"unknown crash point {point!r}")
        if self._record is not None:  # written before the kill: the point that kills is reached too
            with self._record.open("a") as f:
                f.write(point + "\n")
        if point == self._at:
            log.warning("crash point reached: killing the process", point=point)
            os.kill(os.getpid(), signal.SIGKILL)

    def step(self, step: StepName, moment: Moment) -> None:
        self.reached(step_point(step, moment))
