"""The risk engine owns the trading state: kept across restarts, changed only through its methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tenant_bot.risk.engine import Cause, EntryBlocker, EventKind, Halt, RiskEngine, RiskEvent
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


def test_a_halt_saved_by_an_older_version_without_author_or_time_is_read() -> None:
    before = datetime.now(UTC)
    halt = Halt.from_json({"reason": "the short vanished"})
    assert halt.reason == "the short vanished" and halt.by == "execution"
    # No time saved: the time it was read, never a naive one.
    assert halt.at.tzinfo is not None and before <= halt.at <= datetime.now(UTC)
    assert Halt.from_json(halt.to_json()) == halt


def test_each_blocker_refuses_a_manual_open_with_its_own_sentence(tmp_path: Path) -> None:
    assert EntryBlocker(Cause.HALTED, "x").refusal(None) == "trading is halted; resume it before opening"
    assert EntryBlocker(Cause.PAUSED, "x").refusal(None) == "the bot is paused; resume it before opening"
    switch = KillSwitch(tmp_path / "STOP")
    assert (
        EntryBlocker(Cause.KILL_SWITCH, "x").refusal(switch)
        == f"the kill switch is engaged ({tmp_path / 'STOP'} exists)"
    )
    assert (
        EntryBlocker(Cause.KILL_SWITCH, "x").refusal(None)
        == "the kill switch is engaged (the kill switch file exists)"
    )


def test_a_halt_by_a_breaker_and_its_resume_are_recorded_in_full(tmp_path: Path) -> None:
    seen: list[RiskEvent] = []
    engine = RiskEngine(CONFIG, store=_store(tmp_path), on_event=seen.append)
    engine.evaluate(market(consecutive_failures=3), [position()], NOW)
    assert engine.halted == Halt(engine.halt_reason or "", "execution_failures", NOW)
    [halted] = [e for e in seen if e.kind is EventKind.HALTED]
    assert halted.at == NOW and halted.state is TradingState.HALTED
    assert halted.message == f"trading halted by execution_failures: {engine.halt_reason}"
    assert RiskEngine.saved_halt(_store(tmp_path)) == engine.halted

    later = NOW + timedelta(minutes=5)
    engine.resume("ops", now=later)
    [resumed] = [e for e in seen if e.kind is EventKind.RESUMED]
    assert resumed.at == later and resumed.state is TradingState.ACTIVE
    assert resumed.message.startswith("trading resumed by ops (halted by execution_failures: ")
    # Without a time, now: an aware one.
    engine.halt("again", now=later)
    before = datetime.now(UTC)
    engine.resume("ops")
    assert before <= seen[-1].at <= datetime.now(UTC)


def test_a_state_change_event_says_from_what_to_what_and_when() -> None:
    seen: list[RiskEvent] = []
    RiskEngine(CONFIG, on_event=seen.append).evaluate(
        market(), [position(asgard_health_factor=D("0.07"))], NOW
    )
    [changed] = [e for e in seen if e.kind is EventKind.STATE_CHANGED]
    assert changed.message == "trading state active → reducing" and changed.at == NOW
    assert changed.state is TradingState.REDUCING
    [tripped] = [e for e in seen if e.kind is EventKind.TRIPPED]
    assert tripped.at == NOW and tripped.trip is not None and tripped.trip.at == NOW


def test_after_a_resume_the_callers_count_restarting_from_zero_halts_again_at_the_limit() -> None:
    engine = RiskEngine(CONFIG)
    engine.evaluate(market(consecutive_failures=3), [], NOW)
    engine.resume("ops")
    assert engine.evaluate(market(consecutive_failures=3), [], NOW).state is TradingState.ACTIVE
    engine.evaluate(market(consecutive_failures=0), [], NOW)  # the caller's count restarted
    assert engine.evaluate(market(consecutive_failures=3), [], NOW).state is TradingState.HALTED


def test_a_keyed_pause_is_lifted_by_its_key_and_the_lift_is_kept(tmp_path: Path) -> None:
    engine = RiskEngine(CONFIG, store=_store(tmp_path))
    engine.pause_entries("maintenance", "ops", key="window")
    engine.pause_entries("lunch", "user")
    assert [r.key for r in engine.pause.reasons] == ["window", "user"]
    assert [r.reason for r in engine.resume_entries("window", "ops")] == ["maintenance"]
    again = RiskEngine(CONFIG, store=_store(tmp_path))
    assert [r.key for r in again.pause.reasons] == ["user"]


def test_the_kill_switch_blocks_with_its_own_cause(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "STOP")
    (tmp_path / "STOP").touch()
    engine = RiskEngine(CONFIG, kill_switch=switch)
    [blocker] = engine.entry_blockers()
    assert blocker.cause is Cause.KILL_SWITCH
    assert engine.manual_refusal() == f"the kill switch is engaged ({tmp_path / 'STOP'} exists)"


def test_each_breaker_reduces_by_its_own_fraction() -> None:
    config = CONFIG.with_overrides(
        {"hyperliquid_margin": {"reduce_fraction": "0.4"}, "asgard_health": {"reduce_fraction": "0.3"}}
    )
    asgard = position("a", asgard_health_factor=D("0.07"))
    hyperliquid = position("h", hl_liquidation_distance=D("0.09"))
    d = RiskEngine(config).evaluate(market(), [asgard, hyperliquid], NOW)
    assert d.reductions == {"a": D("0.3"), "h": D("0.4")}


def test_a_trip_that_escalates_then_clears_says_so_with_its_position_and_time() -> None:
    seen: list[RiskEvent] = []
    engine = RiskEngine(CONFIG, on_event=seen.append)
    engine.evaluate(market(), [position(asgard_health_factor=D("0.11"))], NOW)  # alert
    later, last = NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    engine.evaluate(market(), [position(asgard_health_factor=D("0.07"))], later)  # reduce
    engine.evaluate(market(), [position()], last)  # healthy again
    [changed] = [e for e in seen if e.kind is EventKind.CHANGED]
    assert changed.at == later and changed.message.startswith("alert → reduce: ")
    assert changed.trip is not None and changed.trip.action.value == "reduce"
    assert changed.previous is not None and changed.previous.action.value == "alert"
    [cleared] = [e for e in seen if e.kind is EventKind.CLEARED]
    assert cleared.at == last and cleared.trip is not None
    assert cleared.message == f"{cleared.trip.breaker} (position p1) cleared (was reduce)"


def test_the_kill_switch_file_appearing_and_going_are_events(tmp_path: Path) -> None:
    seen: list[RiskEvent] = []
    switch = KillSwitch(tmp_path / "STOP")
    engine = RiskEngine(CONFIG, kill_switch=switch, on_event=seen.append)
    engine.evaluate(market(), [], NOW)
    assert [e for e in seen if e.kind is EventKind.KILL_SWITCH] == []  # absent from the start: quiet
    (tmp_path / "STOP").touch()
    engine.evaluate(market(), [], NOW)
    (tmp_path / "STOP").unlink()
    later = NOW + timedelta(seconds=5)
    engine.evaluate(market(), [], later)
    engaged, released = [e for e in seen if e.kind is EventKind.KILL_SWITCH]
    assert engaged.message == f"kill switch engaged ({tmp_path / 'STOP'})" and engaged.at == NOW
    assert released.message == f"kill switch released ({tmp_path / 'STOP'})" and released.at == later
    assert engaged.state is released.state is TradingState.ACTIVE


def test_a_halt_without_a_time_is_dated_now() -> None:
    engine = RiskEngine(CONFIG)
    before = datetime.now(UTC)
    engine.halt("by hand")
    assert engine.halted is not None and engine.halted.by == "execution"
    assert before <= engine.halted.at <= datetime.now(UTC)
