"""The journal: intents before effects, one row per (execution, step, attempt), unique keys."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from tenant_bot.execution.crash import POINTS, CrashPoints
from tenant_bot.execution.journal import Journal
from tenant_bot.storage.database import open_database
from tenant_bot.storage.models import Execution, Position


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(open_database(tmp_path / "bot.sqlite3"))
    j.create(
        Position(id="p1", status="opening", asset="SOL", protocol="kamino", leverage=Decimal(3)),
        Execution(id="e1", kind="open", state="planned", position_id="p1", plan={"long_attempt": 1}),
    )
    return j


def test_an_intent_is_found_again_after_a_restart(journal: Journal, tmp_path: Path) -> None:
    step = journal.intent("e1", "hedge", 1, key="0xabc", request={"size": Decimal("9.51")})
    again = Journal(open_database(tmp_path / "bot.sqlite3"))  # a new process reading the same file
    found = again.step("e1", "hedge", 1)
    assert found is not None and found.id == step.id and found.status == "intent"
    assert found.request == {"size": "9.51"}
    again.finish(step.id, "done", {"filled_size": Decimal("9.51")})
    assert journal.step("e1", "hedge", 1).status == "done"  # type: ignore[union-attr]


def test_the_same_attempt_or_key_cannot_be_journaled_twice(journal: Journal) -> None:
    journal.intent("e1", "hedge", 1, key="0xabc", request={})
    with pytest.raises(IntegrityError):
        journal.intent("e1", "hedge", 1, key="0xdef", request={})
    with pytest.raises(IntegrityError):
        journal.intent("e1", "hedge", 2, key="0xabc", request={})


def test_state_plan_and_outcome(journal: Journal) -> None:
    journal.set_state("e1", "long_sent", plan_update={"long_confirmed_at": 12.5})
    ex = journal.execution("e1")
    assert ex.state == "long_sent" and ex.plan == {"long_attempt": 1, "long_confirmed_at": 12.5}
    assert [e.id for e in journal.unfinished()] == ["e1"]
    journal.set_state("e1", "done", outcome="completed")
    assert journal.unfinished() == [] and journal.execution("e1").finished_at is not None


def test_crash_points_are_checked() -> None:
    assert len(set(POINTS)) == len(POINTS)
    CrashPoints(None).reached("open.long.intent")  # no crash point set: nothing happens
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints("open.nowhere")
