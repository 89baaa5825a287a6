"""Hyperliquid's trading rules for perps: tick and lot size, minimum notional, fees, margin ratios.

Sources: the venue's gitbook pages "Tick and lot size" (prices: at most 5 significant figures and
at most 6 − szDecimals decimals, integer prices always allowed; sizes: at most szDecimals
decimals), "Fees" (base tier: taker 0.045 %, maker 0.015 %), "Margining" (maintenance margin is
half the initial margin at max leverage) and the error table ("Order must have minimum value of
$10.").
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MAX_DECIMALS = 6  # perps; spot would be 8
MAX_SIG_FIGS = 5
MIN_NOTIONAL = Decimal(10)
TAKER_FEE = Decimal("0.00045")
MAKER_FEE = Decimal("0.00015")
# Orders priced further than this from the oracle are refused outright (the venue's reference-price
# band for perps).
MAX_DISTANCE_FROM_ORACLE = Decimal("0.8")


def is_valid_price(px: Decimal, sz_decimals: int) -> bool:
    """True when `px` is on the asset's price grid."""
    if px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    _sign, digits, exponent = px.normalize().as_tuple()
    assert isinstance(exponent, int)
    if -exponent > MAX_DECIMALS - sz_decimals:
        return False
    return len(digits) <= MAX_SIG_FIGS


def is_valid_size(sz: Decimal, sz_decimals: int) -> bool:
    """True when `sz` is a whole number of lots (10^-szDecimals)."""
    if sz <= 0:
        return False
    exponent = sz.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent <= sz_decimals


def price_decimals(px: Decimal, sz_decimals: int) -> int:
    """How many decimals a price of this magnitude may carry on this asset."""
    by_sig_figs = MAX_SIG_FIGS - 1 - px.adjusted()
    return max(0, min(MAX_DECIMALS - sz_decimals, by_sig_figs))


def tick_size(px: Decimal, sz_decimals: int) -> Decimal:
    """The price step at this magnitude (a coarser grid is valid below it too)."""
    return Decimal(1).scaleb(-price_decimals(px, sz_decimals))


def round_price(px: Decimal, sz_decimals: int, *, up: bool) -> Decimal:
    """`px` moved onto the price grid, up or down."""
    tick = tick_size(px, sz_decimals)
    return (px / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * tick


def lot_size(sz_decimals: int) -> Decimal:
    return Decimal(1).scaleb(-sz_decimals)


def round_size_down(sz: Decimal, sz_decimals: int) -> Decimal:
    return sz.quantize(lot_size(sz_decimals), rounding=ROUND_FLOOR)


def maintenance_ratio(max_leverage: int) -> Decimal:
    """Maintenance margin as a fraction of notional: half the initial margin at max leverage."""
    return Decimal(1) / (2 * max_leverage)


def default_leverage(max_leverage: int) -> int:
    """A new account trades each asset cross at 20x, or at the asset's maximum if that is lower."""
    return min(20, max_leverage)
