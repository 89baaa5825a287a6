"""The risk engine and the age of its data: entries (and rebalances) stop past
`max_market_data_age_s` / `max_account_data_age_s`, with the reason; closes and reductions never wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenant_bot.risk.engine import EventKind, RiskEngine
from tenant_bot.risk.states import TradingState
from tests.unit.tenant_bot.risk.inputs import CONFIG, NOW, D, market, position


def test_the_defaults_are_20_s_of_market_data_and_60_s_of_account_data() -> None:
    assert CONFIG.max_market_data_age_s == D("20") and CONFIG.max_account_data_age_s == D("60")


def test_fresh_or_unknown_data_trips_nothing() -> None:
    engine = RiskEngine(CONFIG)
    for ages in ({}, {"market_data_age_s": D("19.9"), "account_data_age_s": D("59")}):
        d = engine.evaluate(market(**ages), [position()], NOW)
        assert d.entries_allowed and d.trips == (), ages
    # At the limit exactly: not past it.
    d = engine.evaluate(market(market_data_age_s=D("20"), account_data_age_s=D("60")), [position()], NOW)
    assert d.entries_allowed


@pytest.mark.parametrize(
    ("ages", "sentence"),
    [
        ({"market_data_age_s": D("34.6")}, "market data is 34 s old (the limit is 20 s)"),
        ({"account_data_age_s": D("61")}, "account data is 61 s old (the limit is 60 s)"),
    ],
)
def test_old_data_pauses_entries_with_the_reason_and_clears_when_fresh(
    ages: dict[str, D], sentence: str
) -> None:
    engine = RiskEngine(CONFIG)
    d = engine.evaluate(market(**ages), [position()], NOW)
    assert not d.entries_allowed and d.state is TradingState.REDUCING
    assert any(sentence in b for b in d.entry_blockers), d.entry_blockers
    assert [e.kind for e in d.events] == [EventKind.TRIPPED, EventKind.STATE_CHANGED]
    assert engine.manual_refusal() is not None and sentence in engine.manual_refusal()  # type: ignore[operator]
    assert engine.too_old(ages.get("market_data_age_s"), ages.get("account_data_age_s")) == sentence
    d = engine.evaluate(market(), [position()], NOW + timedelta(seconds=5))
    assert d.entries_allowed and d.state is TradingState.ACTIVE
    assert [e.kind for e in d.events] == [EventKind.CLEARED, EventKind.STATE_CHANGED]


def test_both_too_old_name_both() -> None:
    engine = RiskEngine(CONFIG)
    why = engine.too_old(D(25), D(90))
    assert why == "market data is 25 s old (the limit is 20 s); account data is 90 s old (the limit is 60 s)"
    assert engine.too_old(D(1), None) is None


def test_closes_and_reductions_go_ahead_on_old_data_rebalances_do_not() -> None:
    old = market(market_data_age_s=D(300), account_data_age_s=D(300))
    closing = RiskEngine(CONFIG).evaluate(old, [position(asgard_health_factor=D("0.04"))], NOW)
    assert closing.closes == {"p1"}
    reducing = RiskEngine(CONFIG).evaluate(old, [position(asgard_health_factor=D("0.07"))], NOW)
    assert reducing.reductions == {"p1": CONFIG.asgard_health.reduce_fraction}
    drifted = position(short_sol=D("9.5"))
    assert RiskEngine(CONFIG).evaluate(market(), [drifted], NOW).rebalances == {"p1"}
    stale = RiskEngine(CONFIG).evaluate(old, [drifted], NOW)
    assert stale.rebalances == set() and not stale.entries_allowed


def test_the_limits_are_settings_of_the_risk_config() -> None:
    config = CONFIG.with_overrides({"max_market_data_age_s": 5})
    d = RiskEngine(config).evaluate(market(market_data_age_s=D(6)), [position()], NOW)
    assert any("market data is 6 s old (the limit is 5 s)" in b for b in d.entry_blockers)
