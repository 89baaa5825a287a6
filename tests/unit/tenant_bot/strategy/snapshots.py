"""Snapshot builder for the strategy tests: round numbers that are easy to check by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.assets import Asset, Protocol
from shared.rates import Apy, FundingRate
from tenant_bot.strategy.rates import LendingRate, RatesSnapshot

D = Decimal
AT = datetime(2026, 9, 1, 12, tzinfo=UTC)
BASELINE = FundingRate.hourly("0.0000125")  # 0.1095 APR


def snapshot(
    *,
    funding: FundingRate = BASELINE,
    lending: tuple[LendingRate, ...] | None = None,
    staking: dict[Asset, Apy] | None = None,
) -> RatesSnapshot:
    if lending is None:
        lending = (
            LendingRate(Protocol.KAMINO, Asset.SOL, Apy(D("0.05")), Apy(D("0.07")), D(1_000_000), D("3.84")),
            LendingRate(Protocol.MARGINFI, Asset.SOL, Apy(D("0.045")), Apy(D("0.06")), D(50_000)),
            LendingRate(Protocol.KAMINO, Asset.JITOSOL, Apy(D("0.002")), Apy(D("0.07")), D(200_000)),
        )
    return RatesSnapshot(
        at=AT,
        funding=funding,
        predicted_funding=funding,
        funding_history=(funding,) * 24,
        lending=lending,
        staking={Asset.JITOSOL: Apy(D("0.08"))} if staking is None else staking,
        lst_sol_rates={Asset.JITOSOL: D("1.25")},
        prices={"hyperliquid_mark": D(150), "hyperliquid_oracle": D("150.05"), "asgard": D("149.98")},
    )
