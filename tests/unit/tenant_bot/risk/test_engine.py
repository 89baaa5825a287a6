"""The risk engine's state machine: REDUCING comes and goes with its causes, HALTED stays until an
operator resumes, events only on change, actions per position."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from shared.rates import FundingRate
from tenant_bot.risk.engine import EventKind, RiskEngine, RiskEvent
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.pause import PauseController
from tenant_bot.risk.states import TradingState
from tests.unit.tenant_bot.risk.inputs import CONFIG, NOW, D, market, position


def kinds(events: tuple[RiskEvent, ...]) -> list[EventKind]:
    return [e.kind for e in events]


def test_calm_is_active_with_entries_and_no_events() -> None:
    d = RiskEngine(CONFIG).evaluate(market(), [position()], NOW)
    assert d.state is TradingState.ACTIVE and d.entries_allowed
    assert d.trips == () and d.events == () and not d.closes and not d.reductions and not d.rebalances


def test_active_to_reducing_and_back_with_events_only_on_change() -> None:
    seen: list[RiskEvent] = []
    engine = RiskEngine(CONFIG, on_event=seen.append)
    low = [position(asgard_health_factor=D("0.07"))]
    d1 = engine.evaluate(market(), low, NOW)
    assert d1.state is TradingState.REDUCING and not d1.entries_allowed
    assert kinds(d1.events) == [EventKind.TRIPPED, EventKind.STATE_CHANGED]
    assert d1.reductions == {"p1": Decimal("0.25")}
    assert any("0.07" in b for b in d1.entry_blockers)
    # The same trip next tick (numbers moved a little): no event, still reducing.
    d2 = engine.evaluate(market(), [position(asgard_health_factor=D("0.069"))], NOW + timedelta(seconds=5))
    assert d2.events == () and d2.state is TradingState.REDUCING and len(d2.trips) == 1
    # Cooldown: not asked to reduce again within 300 s.
    assert d2.reductions == {}
    d3 = engine.evaluate(market(), low, NOW + timedelta(seconds=300))
    assert d3.reductions == {"p1": Decimal("0.25")} and d3.events == ()
    # Cause gone: cleared, back to ACTIVE.
    d4 = engine.evaluate(market(), [position()], NOW + timedelta(seconds=310))
    assert d4.state is TradingState.ACTIVE and d4.entries_allowed
    assert kinds(d4.events) == [EventKind.CLEARED, EventKind.STATE_CHANGED]
    assert seen == [*d1.events, *d4.events]


def test_escalation_is_a_change_event() -> None:
    engine = RiskEngine(CONFIG)
    engine.evaluate(market(), [position(asgard_health_factor=D("0.10"))], NOW)  # alert
    d = engine.evaluate(market(), [position(asgard_health_factor=D("0.04"))], NOW)
    assert kinds(d.events) == [EventKind.CHANGED, EventKind.STATE_CHANGED]
    changed = d.events[0]
    assert changed.previous and changed.previous.action.value == "alert"
    assert changed.trip and changed.trip.action.value == "close"
    assert d.closes == {"p1"} and d.reductions == {}


def test_alert_and_rebalance_keep_entries_open() -> None:
    engine = RiskEngine(CONFIG)
    d = engine.evaluate(
        market(),
        [position("a", asgard_health_factor=D("0.11")), position("b", short_sol=D("9.5"))],
        NOW,
    )
    assert d.state is TradingState.ACTIVE and d.entries_allowed
    assert d.rebalances == {"b"} and d.closes == set()


def test_market_wide_close_applies_to_every_position_and_wins_over_rebalance() -> None:
    history = tuple(FundingRate.hourly(D("-0.00001")) for _ in range(24))
    positions = [position("a"), position("b", short_sol=D("9.5"))]
    d = RiskEngine(CONFIG).evaluate(market(funding_history=history), positions, NOW)
    assert d.closes == {"a", "b"} and d.rebalances == set() and d.state is TradingState.REDUCING


def test_reduction_takes_the_larger_fraction() -> None:
    config = CONFIG.with_overrides({"hyperliquid_margin": {"reduce_fraction": "0.4"}})
    p = position(asgard_health_factor=D("0.07"), hl_liquidation_distance=D("0.09"))
    d = RiskEngine(config).evaluate(market(), [p], NOW)
    assert d.reductions == {"p1": Decimal("0.4")}


def test_a_position_being_closed_is_not_also_reduced() -> None:
    # "p1" trips a reduction (Asgard health 0.07) and a close (15 % drift); "p2" only the reduction.
    doomed = position("p1", asgard_health_factor=D("0.07"), short_sol=D("8.5"))
    weak = position("p2", asgard_health_factor=D("0.07"))
    engine = RiskEngine(CONFIG)
    d = engine.evaluate(market(), [doomed, weak], NOW)
    assert d.closes == {"p1"}
    assert set(d.reductions) == {"p2"}
    # The dropped reduction did not start p1's cooldown: once the drift is gone it is reduced at once.
    d = engine.evaluate(
        market(), [position("p1", asgard_health_factor=D("0.07"))], NOW + timedelta(seconds=1)
    )
    assert d.closes == set() and set(d.reductions) == {"p1"}


def test_failures_halt_and_halt_is_sticky_until_resume() -> None:
    engine = RiskEngine(CONFIG)
    d = engine.evaluate(market(consecutive_failures=3), [position(asgard_health_factor=D("0.04"))], NOW)
    assert d.state is TradingState.HALTED and not d.entries_allowed
    assert EventKind.HALTED in kinds(d.events)
    # Nothing automatic while halted, even a close the health breaker asks for.
    assert d.closes == set() and d.reductions == {} and d.rebalances == set()
    assert "3 execution steps failed" in (d.halt_reason or "")
    # The failures stop, the health recovers: still halted.
    d = engine.evaluate(market(consecutive_failures=0), [position()], NOW + timedelta(minutes=5))
    assert d.state is TradingState.HALTED and kinds(d.events) == [EventKind.CLEARED, EventKind.CLEARED]
    engine.resume("ops@basis")
    d = engine.evaluate(market(), [position()], NOW + timedelta(minutes=6))
    assert d.state is TradingState.ACTIVE and d.entries_allowed and d.halt_reason is None
    assert kinds(d.events) == [EventKind.RESUMED]
    assert "ops@basis" in d.events[0].message


def test_resume_acknowledges_the_failures_so_far() -> None:
    engine = RiskEngine(CONFIG)
    engine.evaluate(market(consecutive_failures=3), [], NOW)
    engine.resume("ops")
    d = engine.evaluate(market(consecutive_failures=3), [], NOW)
    assert d.state is TradingState.ACTIVE and kinds(d.events) == [EventKind.RESUMED, EventKind.CLEARED]
    assert engine.evaluate(market(consecutive_failures=5), [], NOW).state is TradingState.ACTIVE
    d = engine.evaluate(market(consecutive_failures=6), [], NOW)
    assert d.state is TradingState.HALTED and "3 execution steps failed" in (d.halt_reason or "")


def test_halt_called_by_execution_and_reducing_after_resume() -> None:
    engine = RiskEngine(CONFIG)
    engine.halt("long leg 10 SOL but short leg 0 after recovery", now=NOW)
    engine.halt("a second reason is ignored", now=NOW)
    assert engine.state is TradingState.HALTED
    d = engine.evaluate(market(price_divergence_bps=D("90")), [position()], NOW)
    assert d.state is TradingState.HALTED and "short leg 0" in (d.halt_reason or "")
    assert kinds(d.events) == [EventKind.HALTED, EventKind.TRIPPED]
    engine.resume("ops", now=NOW)
    d = engine.evaluate(market(price_divergence_bps=D("90")), [position()], NOW)
    assert d.state is TradingState.REDUCING and not d.entries_allowed
    assert kinds(d.events) == [EventKind.RESUMED]  # state set by resume: no separate change event
    assert d.events[0].state is TradingState.REDUCING


def test_pause_and_kill_switch_block_entries_without_changing_state(tmp_path: Path) -> None:
    pause = PauseController()
    kill = KillSwitch(tmp_path / "KILL")
    engine = RiskEngine(CONFIG, pause=pause, kill_switch=kill)
    assert engine.evaluate(market(), [position()], NOW).entries_allowed
    pause.pause("maintenance window", "operator")
    d = engine.evaluate(market(), [position()], NOW)
    assert d.state is TradingState.ACTIVE and not d.entries_allowed
    assert d.entry_blockers == ("paused by operator: maintenance window",)
    pause.resume("all", "operator")
    kill.engage("incident 42", "ops")
    d = engine.evaluate(market(), [position()], NOW)
    assert not d.entries_allowed and kinds(d.events) == [EventKind.KILL_SWITCH]
    assert engine.evaluate(market(), [position()], NOW).events == ()  # no repeat while it stays
    kill.release()
    d = engine.evaluate(market(), [position()], NOW)
    assert d.entries_allowed and kinds(d.events) == [EventKind.KILL_SWITCH]


def test_a_broken_listener_does_not_stop_the_engine() -> None:
    def boom(_: RiskEvent) -> None:
        raise RuntimeError("listener bug")

    d = RiskEngine(CONFIG, on_event=boom).evaluate(market(consecutive_failures=9), [], NOW)
    assert d.state is TradingState.HALTED
