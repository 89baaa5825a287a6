"""How exposed a two-leg position is: the gap between its legs, and the short's room to liquidation.

The one place these are computed: the risk inputs, the hedge check after a fill and the dashboard
all read them from here.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal


def drift(long_sol: Decimal, short_sol: Decimal) -> Decimal:
    """(long − short) / the larger leg, both in SOL: > 0 net long, < 0 net short, 0 when both are 0."""
    larger = max(long_sol, short_sol)
    return (long_sol - short_sol) / larger if larger > 0 else Decimal(0)


def liquidation_distance(liquidation_px: Decimal | None, mark: Decimal | None) -> Decimal | None:
    """Fraction of the mark price the short's liquidation price lies above it; None when unknown."""
    if liquidation_px is None or not mark:
        return None
    return (liquidation_px - mark) / mark


def deleverage_target(
    token_size: Decimal, debt_usdc: Decimal, price_usd: Decimal, fraction: Decimal
) -> Decimal | None:
    """The leverage to deleverage a long to so that it sells `fraction` of its tokens: the equity
    stays, so the tokens held scale with the leverage (L' = L·(1 − fraction)), and the debt repaid
    with them lowers the debt per token, which is what raises the health factor. Two decimals,
    rounded down (a little more sold, never less); at least 1. None when that is not below the
    current leverage (no debt left to repay): only a partial close can shrink such a long."""
    value = token_size * price_usd
    equity = value - debt_usdc
    if equity <= 0:
        raise ValueError("a long with no equity cannot be deleveraged")
    current = value / equity
    target = max((current * (1 - fraction)).quantize(Decimal("0.01"), rounding=ROUND_DOWN), Decimal(1))
    return target if target < current else None
