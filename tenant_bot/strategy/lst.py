"""LST depeg watch: the market LST/SOL price against the fair exchange rate of its stake pool.

An LST is worth a growing amount of SOL (its stake pool's rate grows with the staking yield). The
long leg is hedged at the pool's fair rate; if the market trades the LST at a discount to it, the hedge
(in SOL) no longer covers what the long would sell for, so a discount beyond the threshold is a depeg.
The fair rate is read from the pool each time (`tenant_bot.chain.stake_pools`), never remembered from
the market: a depeg already present when the bot starts is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.assets import Asset

DEFAULT_DEPEG_THRESHOLD = Decimal("0.01")  # 1 % below fair; the normal discount is a few bps


@dataclass(frozen=True, slots=True)
class LstCheck:
    asset: Asset
    market_rate: Decimal
    fair_rate: Decimal
    discount: Decimal  # (fair − market) / fair: > 0 below fair
    depeg: bool
    reason: str


class LstMonitor:
    def __init__(self, *, depeg_threshold: Decimal = DEFAULT_DEPEG_THRESHOLD) -> None:
        if depeg_threshold <= 0:
            raise ValueError("the depeg threshold must be positive")
        self.depeg_threshold = depeg_threshold

    def check(self, asset: Asset, market_rate: Decimal, *, fair_rate: Decimal) -> LstCheck:
        """Discount of `market_rate` (SOL per token on the market) against `fair_rate` (the pool's)."""
        if not asset.is_lst:
            raise ValueError(f"{asset.value} is not a liquid-staking token")
        if market_rate <= 0:
            raise ValueError(f"the market rate must be positive, got {market_rate}")
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
