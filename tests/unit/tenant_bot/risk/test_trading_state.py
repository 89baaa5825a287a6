"""The risk engine owns the trading state: kept across restarts, changed only through its methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenant_bot.risk.engine import EventKind, RiskEngine, RiskEvent
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.states import TradingState
from tenant_bot.storage.database import open_database
from tenant_bot.storage.state import KeyValueStore
from tests.unit.tenant_bot.risk.inputs import CONFIG, NOW, D, market, position


def _store(tmp_path: Path) -> KeyValueStore:
    return KeyValueStore(open_database(tmp_path / "bot.sqlite3"))


def test_a_halt_and_the_pauses_survive_a_restart_quietly(tmp_path: Path) -> None:
    engine = RiskEngine(CONFIG, store=_store(tmp_path))
    engine.halt("the short vanished", by="execution", now=NOW)
    engine.pause_entries("lunch", "user")
    # A new process: the same file, a new engine; nothing is announced again.
    seen: list[RiskEvent] = []
    again = RiskEngine(CONFIG, store=_store(tmp_path), on_event=seen.append)
    assert again.state is TradingState.HALTED and again.halt_reason == "the short vanished"
    assert again.halted is not None and again.halted.by == "execution" and again.halted.at == NOW
    assert [r.reason for r in again.pause.reasons] == ["lunch"]
    assert seen == []
    assert RiskEngine.saved_halt(_store(tmp_path)) == again.halted
    # Resumed and lifted: the next restart starts active and unpaused.
    again.resume("ops")
    assert again.resume_entries("all", "ops")[0].reason == "lunch"
    third = RiskEngine(CONFIG, store=_store(tmp_path))
    assert third.state is TradingState.ACTIVE and not third.pause.paused
    assert RiskEngine.saved_halt(_store(tmp_path)) is None


def test_reconfigure_changes_the_thresholds_from_the_next_evaluation() -> None:
    engine = RiskEngine(CONFIG)
    low = [position(asgard_health_factor=D("0.07"))]  # below the default reduce threshold
    assert engine.evaluate(market(), low, NOW).reductions
    looser = CONFIG.with_overrides({"asgard_health": {"reduce_below": "0.06", "close_below": "0.03"}})
    engine.reconfigure(looser)
    assert engine.config is looser
    assert engine.evaluate(market(), low, NOW).reductions == {}


def test_one_answer_to_why_not_enter(tmp_path: Path) -> None:
    kill = KillSwitch(tmp_path / "KILL")
    engine = RiskEngine(CONFIG, kill_switch=kill)
    assert engine.entry_blockers() == () and engine.manual_refusal() is None
    # A breaker that pauses entries blocks an open asked for by hand as well (issue 15: it did not).
    engine.evaluate(market(price_divergence_bps=D("90")), [position()], NOW)
    [blocker] = engine.entry_blockers()
    assert blocker.reason.startswith("pause_entries: SOL prices diverge")
    assert engine.manual_refusal() == f"the risk engine blocks new entries ({blocker.reason})"
    kill.engage("incident", "ops")
    assert engine.manual_refusal() == f"the kill switch is engaged ({kill.path} exists)"
    engine.pause_entries("lunch", "user")
    assert engine.manual_refusal() == "the bot is paused; resume it before opening"
    engine.halt("mismatch", now=NOW)
    assert engine.manual_refusal() == "trading is halted; resume it before opening"
    reasons = [b.reason for b in engine.entry_blockers()]
    assert reasons == [
        "trading is halted: mismatch",
        "paused by user: lunch",
        f"the kill switch file {kill.path} is present",
    ]


def test_events_go_to_the_listener(tmp_path: Path) -> None:
    seen: list[Any] = []
    engine = RiskEngine(CONFIG, store=_store(tmp_path), on_event=seen.append)
    engine.halt("x", now=NOW)
    engine.resume("ops", now=NOW)
    assert [e.kind for e in seen] == [EventKind.HALTED, EventKind.RESUMED]
