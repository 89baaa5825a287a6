"""The observation's dates and ages, and the prices a bot whose gateway is down reads directly."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from shared.assets import Asset
from tenant_bot.observer import Observation, age_s, market_risk, with_direct_prices
from tests.unit.tenant_bot.strategy.snapshots import AT, snapshot


def test_ages_count_from_when_the_venue_gave_the_data_never_below_zero() -> None:
    obs = Observation(at=AT, market_at=AT - timedelta(seconds=34, milliseconds=600), account_at=AT)
    assert obs.market_data_age_s == D("34.6") and obs.account_data_age_s == D(0)
    assert Observation(at=AT).market_data_age_s is None
    assert age_s(AT, AT + timedelta(seconds=1)) == D(0)  # a direct answer that came after the tick began


def test_the_risk_engine_is_handed_the_observations_ages() -> None:
    obs = Observation(at=AT, snapshot=snapshot(), market_at=AT - timedelta(seconds=21), account_at=AT)
    risk = market_risk(obs, 0)
    assert risk.market_data_age_s == D(21) and risk.account_data_age_s == D(0)


def test_direct_prices_replace_the_mark_and_asgards_prices_and_nothing_else() -> None:
    last = snapshot()
    moved = with_direct_prices(last, D(120), {Asset.SOL: D(119), Asset.JITOSOL: D("142.8")})
    assert moved.prices == {"hyperliquid_mark": D(120), "asgard": D(119)}  # no stale oracle beside them
    assert moved.lst_sol_rates[Asset.JITOSOL] == D("142.8") / D(119)
    assert moved.funding == last.funding and moved.lending == last.lending and moved.at == last.at
    # Asgard did not answer: its last prices stay, the mark still moves.
    only_mark = with_direct_prices(last, D(120), {})
    assert only_mark.prices["hyperliquid_mark"] == D(120) and only_mark.prices["asgard"] == D("149.98")
    assert only_mark.lst_sol_rates == last.lst_sol_rates
