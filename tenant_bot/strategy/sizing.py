"""Tick and lot rounding, book walks and position sizing: the one place sizes and prices are rounded.

Hyperliquid perps (venues.md §1.2): a price has at most 5 significant figures and at most
6 − szDecimals decimals, and an integer price is always allowed; a size has at most szDecimals
decimals. Sizes are rounded *down* (never trade more than was sized); a limit price is rounded
towards the inside of its slippage band (never further from mid than the band allows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import NamedTuple, Protocol

from shared.assets import Asset
from shared.money import Number, to_decimal
from tenant_bot.strategy.opportunity import check_leverage
from tenant_bot.strategy.prices import sol_equivalent, sol_rate

PERP_MAX_DECIMALS = 6
MAX_SIG_FIGS = 5
HL_MIN_NOTIONAL_USD = Decimal(10)  # "Order must have minimum value of $10."
BPS = Decimal(10_000)


def _check_sz_decimals(sz_decimals: int) -> None:
    if not 0 <= sz_decimals <= PERP_MAX_DECIMALS:
        raise ValueError(f"szDecimals must be between 0 and {PERP_MAX_DECIMALS}, got {sz_decimals}")


def price_decimals(px: Decimal, sz_decimals: int) -> int:
    """Decimals a price of this magnitude may carry: the tighter of the two rules."""
    return max(0, min(PERP_MAX_DECIMALS - sz_decimals, MAX_SIG_FIGS - 1 - px.adjusted()))


def is_valid_price(px: Decimal, sz_decimals: int) -> bool:
    if not px.is_finite() or px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    _sign, digits, exponent = px.normalize().as_tuple()
    assert isinstance(exponent, int)
    return -exponent <= PERP_MAX_DECIMALS - sz_decimals and len(digits) <= MAX_SIG_FIGS


def is_valid_size(sz: Decimal, sz_decimals: int) -> bool:
    return sz.is_finite() and sz >= 0 and sz == sz.quantize(lot_size(sz_decimals), rounding=ROUND_DOWN)


def lot_size(sz_decimals: int) -> Decimal:
    return Decimal(1).scaleb(-sz_decimals)


def round_price(px: Number, sz_decimals: int, *, up: bool | None = None) -> Decimal:
    """`px` on the price grid: up, down, or to the nearest tick (`up=None`)."""
    _check_sz_decimals(sz_decimals)
    value = to_decimal(px)
    if value <= 0:
        raise ValueError(f"a price must be positive, got {value}")
    if value == value.to_integral_value():
        return value.to_integral_value()
    tick = Decimal(1).scaleb(-price_decimals(value, sz_decimals))
    mode = ROUND_HALF_EVEN if up is None else ROUND_CEILING if up else ROUND_FLOOR
    # Rounding can only grow the magnitude at a power of ten (9.99996 → 10.0000), which is still valid.
    rounded = value.quantize(tick, rounding=mode)
    if rounded <= 0:
        raise ValueError(f"{value} is below the smallest tick for szDecimals={sz_decimals}")
    return rounded


def round_size(sz: Number, sz_decimals: int) -> Decimal:
    """`sz` rounded down to whole lots."""
    _check_sz_decimals(sz_decimals)
    value = to_decimal(sz)
    if value < 0:
        raise ValueError(f"a size must not be negative, got {value}")
    return value.quantize(lot_size(sz_decimals), rounding=ROUND_DOWN)


def _check_slippage(slippage_bps: Decimal) -> Decimal:
    value = to_decimal(slippage_bps)
    if not Decimal(0) <= value < BPS:
        raise ValueError(f"slippage must be between 0 and 10000 bps, got {value}")
    return value


def band_edge(mid: Decimal, is_buy: bool, slippage_bps: Decimal) -> Decimal:
    """The worst price the slippage band allows: above mid for a buy, below for a sell."""
    s = _check_slippage(slippage_bps) / BPS
    return mid * (1 + s) if is_buy else mid * (1 - s)


def marketable_limit(mid: Number, is_buy: bool, slippage_bps: Number, sz_decimals: int) -> Decimal:
    """An IOC limit price at the edge of the slippage band, rounded back inside the band.

    Raises when the band is narrower than one tick (the rounded price would not cross mid).
    """
    mid_d = to_decimal(mid)
    if mid_d <= 0:
        raise ValueError(f"mid must be positive, got {mid_d}")
    edge = band_edge(mid_d, is_buy, to_decimal(slippage_bps))
    limit = round_price(edge, sz_decimals, up=not is_buy)
    if (is_buy and limit < mid_d) or (not is_buy and limit > mid_d):
        raise ValueError(f"a {slippage_bps} bps band around {mid_d} is narrower than one price tick")
    return limit


class PriceLevel(NamedTuple):
    """A price and the size available at it: one level of a book side, as sizing reads it."""

    px: Decimal
    sz: Decimal


class _Level(Protocol):
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...


def price_levels(levels: Iterable[_Level]) -> tuple[PriceLevel, ...]:
    """A venue's book side (anything with `px` and `sz`, best first) as price levels."""
    return tuple(PriceLevel(level.px, level.sz) for level in levels)


class BookFill(NamedTuple):
    avg_px: Decimal | None  # None when nothing filled
    filled: Decimal
    worst_px: Decimal | None


def book_fill(levels: Iterable[tuple[Decimal, Decimal]], size: Number) -> BookFill:
    """Walk a book side, best level first, as a taker of `size` would."""
    remaining = to_decimal(size)
    if remaining < 0:
        raise ValueError("size must not be negative")
    filled = Decimal(0)
    cost = Decimal(0)
    worst: Decimal | None = None
    for px, sz in levels:
        if remaining <= 0:
            break
        take = min(sz, remaining)
        if take <= 0:
            continue
        filled += take
        cost += take * px
        remaining -= take
        worst = px
    return BookFill(cost / filled if filled else None, filled, worst)


def depth_within(levels: Iterable[tuple[Decimal, Decimal]], limit_px: Decimal, is_buy: bool) -> Decimal:
    """Size available at prices no worse than `limit_px` (asks ≤ limit for a buy, bids ≥ for a sell)."""
    total = Decimal(0)
    for px, sz in levels:
        if (is_buy and px > limit_px) or (not is_buy and px < limit_px):
            break
        total += sz
    return total


def hedge_size_for(
    long_token_size: Number, asset: Asset, lst_sol_rate: Decimal | None, sz_decimals: int
) -> Decimal:
    """SOL-PERP short size that hedges the long actually filled, to the nearest lot.

    Nearest rather than down: here the aim is the smallest delta, and half a lot of extra short is
    covered by the margin buffer.
    """
    _check_sz_decimals(sz_decimals)
    sol = sol_equivalent(to_decimal(long_token_size), asset, lst_sol_rate)
    if sol < 0:
        raise ValueError("a long size must not be negative")
    return sol.quantize(lot_size(sz_decimals), rounding=ROUND_HALF_EVEN)


def hedge_leverage(leverage: Decimal, max_leverage: int) -> int:
    """The leverage to set on Hyperliquid for a position sized at `leverage` (which moves in 0.1 steps).

    Hyperliquid's `updateLeverage` takes a whole number, and an order needs initial margin of
    notional / that number. The short is sized as margin × `leverage`, so rounding down (2.5 → 2)
    asks for more margin than the leg holds and the hedge is refused; rounding up asks for less. In
    cross margin a higher setting changes only the initial margin, not the liquidation price.
    Refused when the perp's `max_leverage` is below `leverage`: that hedge cannot be margined.
    """
    whole = int(leverage.to_integral_value(rounding=ROUND_CEILING))
    if whole > max_leverage:
        raise ValueError(f"Hyperliquid allows at most {max_leverage}x on this perp, not {leverage}x")
    return max(whole, 1)


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """Limits on one position. Notional figures are per leg (USD)."""

    min_position_usd: Decimal = Decimal(50)
    max_position_usd: Decimal = Decimal(250_000)
    capital_fraction_per_position: Decimal = Decimal(1)  # of the USDC on both venues together
    # Fraction of each leg's margin left free on its venue: Asgard's open fee and swap slippage on
    # Solana, and room on Hyperliquid so the short does not start at its initial-margin edge.
    hedge_buffer: Decimal = Decimal("0.05")
    max_slippage_bps: Decimal = Decimal(30)  # band for the short's IOC
    # Take at most this share of the book within the band: it moves between sizing and the fill.
    book_depth_fraction: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        if self.min_position_usd < 0 or self.max_position_usd < self.min_position_usd:
            raise ValueError("need 0 ≤ min_position_usd ≤ max_position_usd")
        if not Decimal(0) < self.capital_fraction_per_position <= 1:
            raise ValueError("capital_fraction_per_position must be in (0, 1]")
        if self.hedge_buffer < 0:
            raise ValueError("hedge_buffer must not be negative")
        if not Decimal(0) < self.book_depth_fraction <= 1:
            raise ValueError("book_depth_fraction must be in (0, 1]")
        _check_slippage(self.max_slippage_bps)


@dataclass(frozen=True, slots=True)
class SizingInputs:
    leverage: Decimal
    solana_usdc: Decimal  # free USDC in the Solana wallet
    hyperliquid_usdc: Decimal  # free USDC (withdrawable) on Hyperliquid
    sol_price: Decimal  # SOL-PERP mid, USD
    asset: Asset  # the long collateral
    lst_sol_rate: Decimal | None  # SOL per token; None for SOL
    capacity_usd: Decimal | None  # the Asgard market's room, USD notional; None = not reported
    bids: tuple[PriceLevel, ...]  # SOL-PERP bids, best first: what the short sells into
    sz_decimals: int = 2


@dataclass(frozen=True, slots=True)
class PositionPlan:
    leverage: Decimal
    collateral_usdc: Decimal  # Asgard margin
    asgard_notional_usd: Decimal
    short_size: Decimal  # SOL, lot-rounded
    short_notional_usd: Decimal
    hl_margin_usd: Decimal
    capital_used: Decimal  # both margins
    limited_by: str  # which limit set the size (see PositionSizer.plan)
    expected_long_tokens: Decimal  # tokens of the collateral the long should hold (estimate)
    short_limit_px: Decimal  # IOC limit for the short within the slippage band


@dataclass(frozen=True, slots=True)
class SizingRejected:
    reason: str
    limited_by: str | None = None


class PositionSizer:
    """Largest position all limits allow, with equal notional on both legs."""

    def __init__(self, config: SizingConfig | None = None) -> None:
        self.config = config or SizingConfig()

    def plan(self, inputs: SizingInputs) -> PositionPlan | SizingRejected:
        """Per-leg margin m is the smallest of (each named in `limited_by`):

        - `capital`: capital_fraction × (Solana + Hyperliquid USDC) / 2
        - `solana_balance` / `hyperliquid_balance`: that venue's USDC / (1 + hedge_buffer)
        - `max_position`: max_position_usd / L
        - `venue_capacity`: the Asgard market's capacity / L
        - `book_depth`: book_depth_fraction × bids within the slippage band, in USD, / L

        The short is m·L / price rounded down to a lot; both legs then use that notional.
        """
        cfg = self.config
        lev = check_leverage(inputs.leverage)
        price = inputs.sol_price
        if price <= 0:
            raise ValueError(f"SOL price must be positive, got {price}")
        if inputs.solana_usdc < 0 or inputs.hyperliquid_usdc < 0:
            raise ValueError("balances must not be negative")
        rate = sol_rate(inputs.asset, inputs.lst_sol_rate)
        buffer = 1 + cfg.hedge_buffer
        try:
            limit_px = marketable_limit(price, False, cfg.max_slippage_bps, inputs.sz_decimals)
        except ValueError as exc:
            return SizingRejected(f"no usable short limit price: {exc}", "book_depth")
        depth = depth_within(inputs.bids, limit_px, is_buy=False)

        caps: dict[str, Decimal] = {
            "capital": cfg.capital_fraction_per_position * (inputs.solana_usdc + inputs.hyperliquid_usdc) / 2,
            "solana_balance": inputs.solana_usdc / buffer,
            "hyperliquid_balance": inputs.hyperliquid_usdc / buffer,
            "max_position": cfg.max_position_usd / lev,
        }
        if inputs.capacity_usd is not None:
            caps["venue_capacity"] = max(inputs.capacity_usd, Decimal(0)) / lev
        caps["book_depth"] = cfg.book_depth_fraction * depth * limit_px / lev
        limited_by = min(caps, key=lambda k: caps[k])  # first of equals: dict order
        margin = caps[limited_by]

        short_size = round_size(margin * lev / price, inputs.sz_decimals)
        notional = short_size * price
        minimum = max(cfg.min_position_usd, HL_MIN_NOTIONAL_USD)
        if notional < minimum:
            return SizingRejected(
                f"position of ${notional:.2f} per leg (limited by {limited_by}) "
                f"is below the ${minimum} minimum",
                limited_by,
            )
        return PositionPlan(
            leverage=lev,
            collateral_usdc=notional / lev,
            asgard_notional_usd=notional,
            short_size=short_size,
            short_notional_usd=notional,
            hl_margin_usd=notional / lev,
            capital_used=2 * notional / lev,
            limited_by=limited_by,
            expected_long_tokens=short_size / rate,
            short_limit_px=limit_px,
        )
