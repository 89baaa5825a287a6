"""LST depeg watch: the market LST/SOL price against the fair, staking-accrued exchange rate.

An LST is worth a growing amount of SOL (its stake pool's rate grows with the staking yield). The
long leg is priced at the *market* rate; if that trades at a discount to the fair rate the hedge (in
SOL) no longer covers the long, so a discount beyond the threshold is a depeg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.assets import Asset
from shared.rates import YEAR, Apy

DEFAULT_DEPEG_THRESHOLD = Decimal("0.01")  # 1 % below fair; the normal discount is a few bps


def accrue(rate: Decimal, staking_apy: Apy, elapsed_seconds: Decimal) -> Decimal:
    """`rate` grown by `staking_apy` over `elapsed_seconds`, in Decimal throughout.

    `shared.rates.Apy.growth` goes through float; this stays Decimal so a fair rate and a market rate
    can be compared to the last digit.
    """
    years = elapsed_seconds / Decimal(int(YEAR.total_seconds()))
    return rate * (1 + staking_apy.value) ** years


@dataclass(frozen=True, slots=True)
class LstReference:
    """A known fair rate (SOL per token, e.g. from the stake pool) at `at`, and its staking yield."""

    rate: Decimal
    at: datetime
    staking_apy: Apy

    def fair_at(self, when: datetime) -> Decimal:
        elapsed = Decimal(str((when - self.at).total_seconds()))
        return accrue(self.rate, self.staking_apy, elapsed)


@dataclass(frozen=True, slots=True)
class LstCheck:
    asset: Asset
    market_rate: Decimal
    fair_rate: Decimal
    discount: Decimal  # (fair − market) / fair: > 0 below fair
    depeg: bool
    reason: str


class LstMonitor:
    def __init__(
        self,
        references: Mapping[Asset, LstReference] | None = None,
        *,
        depeg_threshold: Decimal = DEFAULT_DEPEG_THRESHOLD,
    ) -> None:
        if depeg_threshold <= 0:
            raise ValueError("the depeg threshold must be positive")
        self.references = dict(references or {})
        self.depeg_threshold = depeg_threshold

    def update_reference(self, asset: Asset, reference: LstReference) -> None:
        self.references[asset] = reference

    def check(
        self,
        asset: Asset,
        market_rate: Decimal,
        *,
        fair_rate: Decimal | None = None,
        at: datetime | None = None,
    ) -> LstCheck:
        """Discount of `market_rate` against `fair_rate`, or against the reference accrued to `at`."""
        if not asset.is_lst:
            raise ValueError(f"{asset.value} is not a liquid-staking token")
        if market_rate <= 0:
            raise ValueError(f"the market rate must be positive, got {market_rate}")
        if fair_rate is None:
            ref = self.references.get(asset)
            if ref is None or at is None:
                raise ValueError(f"no fair rate for {asset.value}: pass fair_rate, or a reference and `at`")
            fair_rate = ref.fair_at(at)
        if fair_rate <= 0:
            raise ValueError(f"the fair rate must be positive, got {fair_rate}")
        discount = (fair_rate - market_rate) / fair_rate
        depeg = discount >= self.depeg_threshold
        if depeg:
            reason = (
                f"{asset.value} trades {discount:.2%} below its fair rate "
                f"({market_rate} vs {fair_rate:.9f} SOL), threshold {self.depeg_threshold:.2%}"
            )
        elif discount < 0:
            reason = f"{asset.value} trades {-discount:.2%} above its fair rate"
        else:
            reason = f"{asset.value} discount {discount:.2%} is within {self.depeg_threshold:.2%}"
        return LstCheck(asset, market_rate, fair_rate, discount, depeg, reason)
