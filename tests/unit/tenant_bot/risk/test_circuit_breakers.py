"""Each breaker around its thresholds: no trip just on the safe side, a trip just past it, with the
numbers in the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.assets import Asset
from shared.rates import FundingRate
from tenant_bot.risk.circuit_breakers import (
    AsgardHealthBreaker,
    DeltaDriftBreaker,
    ExecutionFailureBreaker,
    FundingBreaker,
    HyperliquidMarginBreaker,
    LstDepegBreaker,
    OutageBreaker,
    PositionRisk,
    PriceDivergenceBreaker,
    default_breakers,
)
from tenant_bot.risk.states import Action
from tests.unit.tenant_bot.risk.inputs import CONFIG, NOW, D, market, position


def test_a_healthy_position_in_a_calm_market_trips_nothing() -> None:
    trips = [t for b in default_breakers(CONFIG) for t in b.evaluate(market(), [position()], NOW)]
    assert trips == []


@pytest.mark.parametrize(
    ("hf", "action"),
    [
        ("0.12", None),  # exactly at the alert line: not below it
        ("0.1199", Action.ALERT),
        ("0.08", Action.ALERT),
        ("0.0799", Action.REDUCE),
        ("0.05", Action.REDUCE),
        ("0.0499", Action.CLOSE),
        ("-0.01", Action.CLOSE),
    ],
)
def test_asgard_health_levels(hf: str, action: Action | None) -> None:
    trips = AsgardHealthBreaker(CONFIG.asgard_health).evaluate(
        market(), [position(asgard_health_factor=D(hf))], NOW
    )
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        [trip] = trips
        assert hf in trip.reason and trip.position_id == "p1" and trip.breaker == "asgard_health"
        assert trip.at == NOW


def test_asgard_health_reason_holds_both_numbers() -> None:
    [trip] = AsgardHealthBreaker(CONFIG.asgard_health).evaluate(
        market(), [position(asgard_health_factor=D("0.045"))], NOW
    )
    assert "0.045" in trip.reason and "0.05" in trip.reason and "4.5%" in trip.reason


def test_unknown_health_trips_nothing_and_percent_is_refused() -> None:
    assert (
        AsgardHealthBreaker(CONFIG.asgard_health).evaluate(
            market(), [position(asgard_health_factor=None)], NOW
        )
        == []
    )
    with pytest.raises(ValueError, match="fraction"):
        position(asgard_health_factor=D("16.7"))


@pytest.mark.parametrize(
    ("distance", "action"),
    [("0.15", None), ("0.1499", Action.ALERT), ("0.0999", Action.REDUCE), ("0.0599", Action.CLOSE)],
)
def test_hyperliquid_liquidation_distance(distance: str, action: Action | None) -> None:
    trips = HyperliquidMarginBreaker(CONFIG.hyperliquid_margin).evaluate(
        market(), [position(hl_liquidation_distance=D(distance))], NOW
    )
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        assert trips[0].breaker == "hyperliquid_liquidation_distance"
        assert f"{D(distance) * 100:.2f}".rstrip("0").rstrip(".") + "%" in trips[0].reason


@pytest.mark.parametrize(
    ("ratio", "action"),
    [("0.15", None), ("0.1501", Action.ALERT), ("0.2001", Action.REDUCE), ("0.3001", Action.CLOSE)],
)
def test_hyperliquid_margin_ratio(ratio: str, action: Action | None) -> None:
    trips = HyperliquidMarginBreaker(CONFIG.hyperliquid_margin).evaluate(
        market(), [position(hl_margin_ratio=D(ratio))], NOW
    )
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        assert trips[0].breaker == "hyperliquid_margin_ratio" and ratio in trips[0].reason


def test_hyperliquid_distance_and_ratio_trip_separately() -> None:
    trips = HyperliquidMarginBreaker(CONFIG.hyperliquid_margin).evaluate(
        market(), [position(hl_margin_ratio=D("0.25"), hl_liquidation_distance=D("0.05"))], NOW
    )
    assert {(t.breaker, t.action) for t in trips} == {
        ("hyperliquid_liquidation_distance", Action.CLOSE),
        ("hyperliquid_margin_ratio", Action.REDUCE),
    }


@pytest.mark.parametrize(
    ("long", "short", "action"),
    [
        ("10", "10", None),
        ("10.3", "10", None),  # 2.91%
        ("10", "9.7", None),  # exactly 3%: not above
        ("10", "9.69", Action.REBALANCE),
        ("10", "9", Action.REBALANCE),  # exactly 10%: not above the close line
        ("10", "8.99", Action.CLOSE),
        ("0", "5", Action.CLOSE),  # the long leg is gone
    ],
)
def test_delta_drift(long: str, short: str, action: Action | None) -> None:
    p = position(long_sol_equivalent=D(long), short_sol=D(short))
    trips = DeltaDriftBreaker(CONFIG.delta_drift).evaluate(market(), [p], NOW)
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        assert long in trips[0].reason and short in trips[0].reason


def test_drift_of_exactly_one_lot_is_rebalanced() -> None:
    # 5 % apart and a gap of exactly `min_rebalance_sol` (0.01 SOL): the smallest order that can be
    # placed, so it is sent; the boundary belongs to "rebalance".
    p = position(long_sol_equivalent=D("0.2"), short_sol=D("0.19"))
    assert CONFIG.delta_drift.min_rebalance_sol == D("0.01")
    [trip] = DeltaDriftBreaker(CONFIG.delta_drift).evaluate(market(), [p], NOW)
    assert trip.action is Action.REBALANCE and trip.position_id == "p1"


def test_drift_below_one_lot_is_not_rebalanced() -> None:
    p = position(long_sol_equivalent=D("0.2"), short_sol=D("0.193"))  # 3.5%, but 0.007 SOL
    assert DeltaDriftBreaker(CONFIG.delta_drift).evaluate(market(), [p], NOW) == []


def hourly(*rates: str) -> tuple[FundingRate, ...]:
    return tuple(FundingRate.hourly(D(r)) for r in rates)


def test_funding_streak_counts_from_the_newest_rate() -> None:
    history = hourly("-0.00001", "0.0000125", *["-0.00001"] * 3)
    assert FundingBreaker.negative_streak(history) == (3, D("0.00003"))
    eight_hourly = (FundingRate.every(D("-0.0001"), 8),)
    assert FundingBreaker.negative_streak(eight_hourly) == (8, D("0.0001"))


@pytest.mark.parametrize(
    ("negative_hours", "action"),
    [(0, None), (7, None), (8, Action.ALERT), (23, Action.ALERT), (24, Action.CLOSE)],
)
def test_funding_negative_streak(negative_hours: int, action: Action | None) -> None:
    history = hourly("0.0000125", *["-0.00001"] * negative_hours)
    trips = FundingBreaker(CONFIG.funding).evaluate(market(funding_history=history), [position()], NOW)
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        assert f"negative for {negative_hours} hourly intervals" in trips[0].reason
        assert trips[0].position_id is None


def test_funding_streak_closes_early_when_it_cost_too_much() -> None:
    cheap = hourly(*["-0.0002"] * 5)  # 0.1% exactly: not above
    costly = hourly(*["-0.0002"] * 4, "-0.00021")
    f = FundingBreaker(CONFIG.funding)
    assert f.evaluate(market(funding_history=cheap), [], NOW) == []
    [trip] = f.evaluate(market(funding_history=costly), [], NOW)
    assert trip.action is Action.CLOSE and "0.101%" in trip.reason and "5 hourly intervals" in trip.reason


def test_negative_predicted_funding_pauses_entries() -> None:
    f = FundingBreaker(CONFIG.funding)
    assert f.evaluate(market(predicted_funding=FundingRate.hourly(D("0"))), [], NOW) == []
    [trip] = f.evaluate(market(predicted_funding=FundingRate.hourly(D("-0.000001"))), [], NOW)
    assert trip.action is Action.PAUSE_ENTRIES and trip.breaker == "funding_forecast"
    assert "-0.000001 per 1h" in trip.reason


@pytest.mark.parametrize(
    ("discount", "action", "text"),
    [
        ("0.01", None, ""),
        ("0.0101", Action.ALERT, "1.01% below"),
        ("0.03", Action.ALERT, "3% below"),
        ("0.0301", Action.CLOSE, "3.01% below"),
    ],
)
def test_lst_depeg(discount: str, action: Action | None, text: str) -> None:
    p = position(asset=Asset.JITOSOL, lst_discount=D(discount))
    trips = LstDepegBreaker(CONFIG.lst_depeg).evaluate(market(), [p], NOW)
    assert [t.action for t in trips] == ([action] if action else [])
    if action:
        assert trips[0].reason.startswith("jitoSOL trades " + text)


def test_depeg_ignores_plain_sol() -> None:
    p = position(asset=Asset.SOL, lst_discount=D("0.5"))
    assert LstDepegBreaker(CONFIG.lst_depeg).evaluate(market(), [p], NOW) == []


@pytest.mark.parametrize(("bps", "trips"), [(None, 0), ("50", 0), ("-50", 0), ("50.1", 1), ("-80", 1)])
def test_price_divergence(bps: str | None, trips: int) -> None:
    m = market(price_divergence_bps=D(bps) if bps else None)
    result = PriceDivergenceBreaker(CONFIG.price_divergence).evaluate(m, [], NOW)
    assert len(result) == trips
    if trips:
        assert result[0].action is Action.PAUSE_ENTRIES and str(abs(D(bps))) in result[0].reason  # type: ignore[arg-type]


def test_outage_pauses_after_the_grace_then_alerts_but_never_closes() -> None:
    b = OutageBreaker(CONFIG.outage)
    assert b.evaluate(market(outages={"hyperliquid": NOW - timedelta(seconds=15)}), [], NOW) == []
    [pause] = b.evaluate(market(outages={"hyperliquid": NOW - timedelta(seconds=16)}), [], NOW)
    assert pause.action is Action.PAUSE_ENTRIES and pause.breaker == "outage:hyperliquid"
    assert "16 s" in pause.reason
    long = b.evaluate(market(outages={"solana": NOW - timedelta(minutes=11)}), [], NOW)
    assert [(t.breaker, t.action) for t in long] == [
        ("outage:solana", Action.PAUSE_ENTRIES),
        ("long_outage:solana", Action.ALERT),
    ]
    assert "11 min" in long[1].reason
    assert all(t.action is not Action.CLOSE for t in long)


@pytest.mark.parametrize(("failures", "halts"), [(0, False), (2, False), (3, True), (7, True)])
def test_execution_failures_halt(failures: int, halts: bool) -> None:
    trips = ExecutionFailureBreaker(CONFIG.execution).evaluate(market(consecutive_failures=failures), [], NOW)
    assert bool(trips) is halts
    if halts:
        assert trips[0].action is Action.HALT and f"{failures} execution steps" in trips[0].reason


def test_position_risk_refuses_negative_sizes() -> None:
    with pytest.raises(ValueError, match="short_sol"):
        PositionRisk("p", Asset.SOL, None, None, None, D("1"), D("-1"), None)
