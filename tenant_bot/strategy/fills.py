"""Are the two legs still hedged once the hedge has filled?

A partial long is hedged to what filled (`sizing.hedge_size_for`); after the hedge, the engine
compares both legs here and warns when they differ (the risk engine's drift breaker rebalances).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.assets import Asset
from shared.money import Number, to_decimal
from tenant_bot.strategy.exposure import drift
from tenant_bot.strategy.prices import sol_equivalent
from tenant_bot.strategy.sizing import lot_size

DEFAULT_DELTA_TOLERANCE = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DeltaCheck:
    long_sol_equivalent: Decimal
    short_sol: Decimal
    drift_fraction: Decimal  # (long − short) / max(long, short): > 0 net long, < 0 net short
    ok: bool

    @property
    def net_sol(self) -> Decimal:
        """Unhedged SOL exposure: positive means net long."""
        return self.long_sol_equivalent - self.short_sol


def hedge_delta(
    long_token_size: Number,
    asset: Asset,
    lst_sol_rate: Decimal | None,
    short_size: Number,
    *,
    tolerance: Decimal = DEFAULT_DELTA_TOLERANCE,
    sz_decimals: int | None = None,
) -> DeltaCheck:
    """Compare the long's SOL equivalent with the short (both as positive sizes).

    ok when |drift| ≤ `tolerance`, or, given `sz_decimals`, when the gap is at most half a lot: the
    short cannot be closer than that, so small positions are not flagged for rounding alone.
    """
    long_sol = sol_equivalent(to_decimal(long_token_size), asset, lst_sol_rate)
    short = to_decimal(short_size)
    if long_sol < 0 or short < 0:
        raise ValueError("sizes are magnitudes and must not be negative")
    fraction = drift(long_sol, short)
    ok = abs(fraction) <= tolerance
    if not ok and sz_decimals is not None:
        ok = abs(long_sol - short) <= lot_size(sz_decimals) / 2
    return DeltaCheck(long_sol, short, fraction, ok)
