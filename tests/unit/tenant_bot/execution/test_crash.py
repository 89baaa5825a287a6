"""Crash points come from the state machine: every step has its three, and the old names still work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenant_bot.execution.crash import POINTS, CrashPoints
from tenant_bot.execution.states import Leg, Moment, StepName


def test_every_step_has_its_intent_sent_and_done_points() -> None:
    for step in StepName:
        last = "confirmed" if step.leg is Leg.SOLANA else "filled"
        for moment in ("intent", "sent", last):
            assert f"{step.crash_prefix}.{moment}" in POINTS
    assert POINTS[0] == "open.planned" and len(POINTS) == 1 + 3 * len(StepName)


def test_the_points_the_crash_tests_used_before_keep_their_names() -> None:
    before = [
        "open.planned",
        "open.long.intent",
        "open.long.sent",
        "open.long.confirmed",
        "open.hedge.intent",
        "open.hedge.sent",
        "open.hedge.filled",
        "close.short.intent",
        "close.short.sent",
        "close.long.intent",
        "close.long.sent",
        "close.long.confirmed",
    ]
    assert set(before) <= set(POINTS)


def test_an_unknown_point_is_refused_when_set_and_when_reached() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints("rebalance.long.intent")
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints(None).reached("open.nowhere")


def test_the_points_passed_are_recorded_when_asked(tmp_path: Path) -> None:
    record = tmp_path / "points"
    crash = CrashPoints("open.hedge.filled", record=record)
    crash.reached("open.planned")
    crash.step(StepName.LONG, Moment.INTENT)
    assert record.read_text().split() == ["open.planned", "open.long.intent"]
    CrashPoints(None).reached("open.planned")  # not asked: nothing is written anywhere
    assert record.read_text().split() == ["open.planned", "open.long.intent"]
