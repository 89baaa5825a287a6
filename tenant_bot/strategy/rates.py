"""What the market pays, at one instant: funding, lending, staking, LST rates and prices.

Venue clients build a `RatesSnapshot` from their own payloads; everything downstream (the APY
decomposition, sizing, risk checks) reads only this, so a decision can be replayed from a snapshot.

Units: every funding rate carries its interval (Hyperliquid's are hourly; positive means longs pay
shorts, so our short receives it). Lending and staking yields are `Apy` fractions (0.05 = 5 %/yr).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from shared.assets import Asset, Protocol
from shared.rates import HOUR, Apy, FundingRate

# The planning rate: the mean of the last day of settled hourly rates, with the venue's prediction for
# the next hour weighted in. A single hour is noisy (it swings with one hour's premium), while the
# position is held for days; the prediction still lets a fresh regime change show up at once.
DEFAULT_FUNDING_WINDOW_HOURS = 24
DEFAULT_PREDICTED_WEIGHT = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class LendingRate:
    """One Asgard liquidity source for a LONG of `asset` against a USDC debt.

    `supply` is what `asset` earns deposited on `protocol` (excluding staking yield); `borrow` is the
    USDC borrow APY on the same protocol. `capacity_usd` is the largest notional (USD of `asset`) the
    market can take now, None when the venue did not report one. `max_leverage` is the source's long
    maximum (Asgard's `longMaxLeverage`, e.g. 3.84), None when unknown.
    """

    protocol: Protocol
    asset: Asset
    supply: Apy
    borrow: Apy
    capacity_usd: Decimal | None
    max_leverage: Decimal | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class RatesSnapshot:
    """Rates and prices seen at `at` (timezone-aware)."""

    at: datetime
    funding: FundingRate  # the current SOL-PERP rate (Hyperliquid: hourly)
    predicted_funding: FundingRate | None
    funding_history: tuple[FundingRate, ...]  # recent settled rates, oldest first
    lending: tuple[LendingRate, ...]
    # LST staking yields, from each stake pool's last epoch; SOL and LSTs without a readable pool absent.
    staking: dict[Asset, Apy] = field(default_factory=dict)
    # SOL per LST token, as the market prices it (Asgard's token prices): what the depeg watch checks.
    lst_sol_rates: dict[Asset, Decimal] = field(default_factory=dict)
    # SOL per LST token at its stake pool's exchange rate (total lamports / pool tokens): its fair value.
    lst_fair_rates: dict[Asset, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)  # {"hyperliquid_mark": …, "asgard": …}

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("a rates snapshot needs a timezone-aware timestamp")
        object.__setattr__(self, "funding_history", tuple(self.funding_history))
        object.__setattr__(self, "lending", tuple(self.lending))

    def lending_for(self, protocol: Protocol, asset: Asset) -> LendingRate | None:
        for rate in self.lending:
            if rate.protocol is protocol and rate.asset is asset:
                return rate
        return None

    def sol_per_token(self, asset: Asset) -> Decimal | None:
        """The SOL one token of `asset` is worth, for sizing the hedge and valuing the long: 1 for SOL;
        for an LST its pool's fair value, or the market rate when its pool is not read (mSOL, INF)."""
        if not asset.is_lst:
            return Decimal(1)
        return self.lst_fair_rates.get(asset, self.lst_sol_rates.get(asset))

    def staking_for(self, asset: Asset) -> Apy:
        """The staking yield of the long collateral: zero for SOL or an LST with no reported yield."""
        if not asset.is_lst:
            return Apy(Decimal(0))
        return self.staking.get(asset, Apy(Decimal(0)))

    def planning_funding(
        self,
        *,
        window_hours: int = DEFAULT_FUNDING_WINDOW_HOURS,
        predicted_weight: Decimal = DEFAULT_PREDICTED_WEIGHT,
    ) -> FundingRate:
        """The hourly funding rate to plan a multi-day position with.

        `(1 − w) · mean(last window_hours settled rates) + w · predicted`, each rate first expressed
        per hour (whatever interval it was quoted over). Without a prediction the mean alone; without
        history the current rate stands in for it. Use `.apr` on the result for the simple APR
        (hourly × 8760).
        """
        if window_hours < 1:
            raise ValueError("the funding window must cover at least one hour")
        if not Decimal(0) <= predicted_weight <= Decimal(1):
            raise ValueError("the predicted-funding weight must be between 0 and 1")
        recent = self.funding_history[-window_hours:]
        if recent:
            base = sum((r.per_hour for r in recent), Decimal(0)) / len(recent)
        else:
            base = self.funding.per_hour
        if self.predicted_funding is None:
            return FundingRate(base, HOUR)
        blended = (1 - predicted_weight) * base + predicted_weight * self.predicted_funding.per_hour
        return FundingRate(blended, HOUR)
