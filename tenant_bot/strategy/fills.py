"""Did an order fill as intended, and are the two legs still hedged?

The execution engine checks every fill before moving on: a partial long is hedged to what filled
(`sizing.hedge_size_for`), and a hedge whose SOL exposure does not match the long is corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.assets import Asset
from shared.money import Number, to_decimal
from tenant_bot.strategy.prices import sol_equivalent
from tenant_bot.strategy.sizing import lot_size

DEFAULT_MIN_FILL_RATIO = Decimal("0.95")
# Asgard reports the tokens it bought, which can exceed the quote a little (positive slippage).
DEFAULT_MAX_FILL_RATIO = Decimal("1.01")
DEFAULT_DELTA_TOLERANCE = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FillCheck:
    intended: Decimal
    filled: Decimal
    ratio: Decimal  # filled / intended
    ok: bool
    reason: str | None = None


def validate_fill(
    intended: Number,
    filled: Number,
    *,
    min_fill_ratio: Decimal = DEFAULT_MIN_FILL_RATIO,
    max_fill_ratio: Decimal = DEFAULT_MAX_FILL_RATIO,
) -> FillCheck:
    """ok when `min_fill_ratio ≤ filled / intended ≤ max_fill_ratio`."""
    want = to_decimal(intended)
    got = to_decimal(filled)
    if want <= 0:
        raise ValueError(f"the intended size must be positive, got {want}")
    if got < 0:
        raise ValueError(f"a filled size cannot be negative, got {got}")
    ratio = got / want
    if got == 0:
        return FillCheck(want, got, ratio, False, "nothing filled")
    if ratio < min_fill_ratio:
        return FillCheck(want, got, ratio, False, f"filled {ratio:.2%} of {want}, below {min_fill_ratio:.2%}")
    if ratio > max_fill_ratio:
        return FillCheck(want, got, ratio, False, f"filled {ratio:.2%} of {want}, above {max_fill_ratio:.2%}")
    return FillCheck(want, got, ratio, True)


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
    larger = max(long_sol, short)
    drift = (long_sol - short) / larger if larger > 0 else Decimal(0)
    ok = abs(drift) <= tolerance
    if not ok and sz_decimals is not None:
        ok = abs(long_sol - short) <= lot_size(sz_decimals) / 2
    return DeltaCheck(long_sol, short, drift, ok)
