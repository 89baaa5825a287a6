from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devnet.hyperliquid.rules import is_valid_price as venue_is_valid_price
from shared.assets import Asset
from tenant_bot.strategy.sizing import (
    PositionPlan,
    PositionSizer,
    PriceLevel,
    SizingConfig,
    SizingInputs,
    SizingRejected,
    book_fill,
    hedge_leverage,
    hedge_size_for,
    is_valid_price,
    is_valid_size,
    lot_size,
    marketable_limit,
    price_decimals,
    round_price,
    round_size,
)

# --- tick and lot: examples from venues.md §1.2 ---------------------------------------------------


def test_examples_from_the_venue_docs() -> None:
    assert is_valid_price(D("1234.5"), 0) and not is_valid_price(D("1234.56"), 0)
    assert is_valid_price(D("0.001234"), 0) and not is_valid_price(D("0.0012345"), 0)
    assert round_price(D("1234.56"), 0, up=False) == D("1234.5")
    assert round_price(D("1234.56"), 0, up=True) == D("1234.6")
    assert round_price(D("0.0012345"), 0, up=False) == D("0.001234")
    # SOL (szDecimals 2): at most 4 decimals, and 5 significant figures
    assert round_price(D("187.123456"), 2, up=None) == D("187.12")
    assert round_price(D("9.87654"), 2, up=False) == D("9.8765")
    assert round_price(D("0.123456"), 2, up=True) == D("0.1235")  # 4 decimals beat 5 sig figs
    assert round_price(D("123456.7"), 2) == D(123457)  # integers are always allowed
    assert round_price(D("150.00"), 2) == D(150)
    assert round_price(D("9.99996"), 2, up=True) == D(10)
    assert round_size(D("1.239"), 2) == D("1.23")
    assert round_size(D("5"), 2) == D("5.00")


def test_rounding_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        round_price(D(0), 2)
    with pytest.raises(ValueError, match="smallest tick"):
        round_price(D("0.00001"), 2, up=False)
    with pytest.raises(ValueError):
        round_size(D("-1"), 2)
    with pytest.raises(TypeError):
        round_price(150.5, 2)  # type: ignore[arg-type]  # floats are refused


prices = st.decimals(min_value=D(1), max_value=D(1_000_000), places=8, allow_nan=False, allow_infinity=False)
sz_decimals = st.integers(min_value=0, max_value=5)


@given(px=prices, szd=sz_decimals, up=st.sampled_from([True, False, None]))
def test_rounded_price_is_always_valid_and_tight(px: D, szd: int, up: bool | None) -> None:
    r = round_price(px, szd, up=up)
    assert is_valid_price(r, szd)
    assert venue_is_valid_price(r, szd)  # the devnet's own check of the venue rule
    tick = D(1).scaleb(-price_decimals(px, szd))
    if up is True:
        assert px <= r < px + tick
    elif up is False:
        assert px - tick < r <= px
    else:
        assert abs(r - px) <= tick / 2


@given(
    mid=prices,
    szd=sz_decimals,
    is_buy=st.booleans(),
    slippage=st.decimals(min_value=D(1), max_value=D(1000), places=1),
)
def test_marketable_limit_never_leaves_the_band(mid: D, szd: int, is_buy: bool, slippage: D) -> None:
    edge = mid * (1 + slippage / 10_000) if is_buy else mid * (1 - slippage / 10_000)
    try:
        limit = marketable_limit(mid, is_buy, slippage, szd)
    except ValueError:
        # only when no grid price lies between mid and the band's edge
        inside = round_price(edge, szd, up=not is_buy)
        assert (inside < mid) if is_buy else (inside > mid)
        return
    assert is_valid_price(limit, szd)
    if is_buy:
        assert mid <= limit <= edge
    else:
        assert edge <= limit <= mid


@given(sz=st.decimals(min_value=D(0), max_value=D(10**7), places=9), szd=sz_decimals)
def test_rounded_size_never_exceeds_the_input(sz: D, szd: int) -> None:
    r = round_size(sz, szd)
    assert r <= sz
    assert sz - r < lot_size(szd)
    assert is_valid_size(r, szd)


def test_marketable_limit_examples() -> None:
    # sell at 30 bps below 150: 149.55 exactly on the grid
    assert marketable_limit(D(150), False, D(30), 2) == D("149.55")
    # buy 30 bps above 150.123: edge 150.5733690 → rounded down to 150.57
    assert marketable_limit(D("150.123"), True, D(30), 2) == D("150.57")
    with pytest.raises(ValueError, match="narrower than one price tick"):
        marketable_limit(D("150.125"), True, D(0), 2)


# --- book walk ----------------------------------------------------------------------------------

ASKS = [PriceLevel(D("150.00"), D(2)), PriceLevel(D("150.10"), D(3)), PriceLevel(D("150.50"), D(5))]


def test_book_walk() -> None:
    fill = book_fill(ASKS, D(4))
    # 2 @ 150.00 + 2 @ 150.10 = 300 + 300.2 = 600.2; / 4 = 150.05
    assert fill == (D("150.05"), D(4), D("150.10"))
    whole = book_fill(ASKS, D(20))
    assert whole.filled == D(10) and whole.worst_px == D("150.50")
    # (300 + 450.3 + 752.5) / 10 = 150.28
    assert whole.avg_px == D("150.28")
    empty = book_fill([], D(1))
    assert empty == (None, D(0), None)
    assert book_fill([(D(150), D(1))], D(0)).filled == 0


@given(
    sizes=st.lists(st.decimals(min_value=D("0.01"), max_value=D(100), places=2), min_size=1, max_size=8),
    want=st.decimals(min_value=D("0.01"), max_value=D(500), places=2),
)
def test_book_walk_properties(sizes: list[D], want: D) -> None:
    levels = [(D(100) + i, sz) for i, sz in enumerate(sizes)]
    fill = book_fill(levels, want)
    assert fill.filled == min(want, sum(sizes))
    assert fill.avg_px is not None and fill.worst_px is not None
    assert levels[0][0] <= fill.avg_px <= fill.worst_px


# --- position sizing ----------------------------------------------------------------------------

DEEP = (PriceLevel(D("99.99"), D(10_000)),)


def _inputs(**overrides: object) -> SizingInputs:
    values: dict[str, object] = {
        "leverage": D(3),
        "solana_usdc": D(1050),
        "hyperliquid_usdc": D(2100),
        "sol_price": D(100),
        "asset": Asset.SOL,
        "lst_sol_rate": None,
        "capacity_usd": None,
        "bids": DEEP,
    }
    values.update(overrides)
    return SizingInputs(**values)  # type: ignore[arg-type]


def _plan(config: SizingConfig | None = None, **overrides: object) -> PositionPlan:
    plan = PositionSizer(config).plan(_inputs(**overrides))
    assert isinstance(plan, PositionPlan), plan
    return plan


def test_limited_by_the_solana_balance() -> None:
    # m = min(capital 1575, solana 1050/1.05 = 1000, hyperliquid 2100/1.05 = 2000, ...) = 1000
    plan = _plan()
    assert plan.limited_by == "solana_balance"
    assert plan.short_size == D("30.00")  # 3 × 1000 / 100
    assert plan.short_notional_usd == plan.asgard_notional_usd == D(3000)
    assert plan.collateral_usdc == plan.hl_margin_usd == D(1000)
    assert plan.capital_used == D(2000)
    assert plan.short_limit_px == D("99.7")  # 30 bps below 100
    assert plan.expected_long_tokens == D(30)


def test_limited_by_the_hyperliquid_balance() -> None:
    plan = _plan(solana_usdc=D(2100), hyperliquid_usdc=D(1050))
    assert plan.limited_by == "hyperliquid_balance" and plan.hl_margin_usd == D(1000)


def test_limited_by_the_capital_fraction() -> None:
    config = SizingConfig(capital_fraction_per_position=D("0.25"))
    plan = _plan(config, solana_usdc=D(2100), hyperliquid_usdc=D(2100))
    # 0.25 × 4200 / 2 = 525 per leg → notional 1575 → 15.75 SOL
    assert plan.limited_by == "capital"
    assert plan.short_size == D("15.75") and plan.collateral_usdc == D(525)


def test_limited_by_the_maximum_position() -> None:
    plan = _plan(SizingConfig(max_position_usd=D(600)))
    assert plan.limited_by == "max_position" and plan.short_notional_usd == D(600)


def test_limited_by_the_venue_capacity() -> None:
    plan = _plan(capacity_usd=D(900))
    assert plan.limited_by == "venue_capacity" and plan.asgard_notional_usd == D(900)


def test_limited_by_book_depth_within_the_band() -> None:
    bids = (PriceLevel(D("99.9"), D(2)), PriceLevel(D("99.8"), D(3)), PriceLevel(D("99.0"), D(1000)))
    plan = _plan(bids=bids)
    # only 5 SOL bid at or above the 99.7 limit; half of it: 2.5 × 99.7 = 249.25 notional → 2.49 SOL
    assert plan.limited_by == "book_depth"
    assert plan.short_size == D("2.49")
    fill = book_fill(bids, plan.short_size)
    assert fill.worst_px is not None and fill.worst_px >= plan.short_limit_px


def test_below_minimum_is_rejected_with_its_reason() -> None:
    result = PositionSizer().plan(_inputs(solana_usdc=D(10)))
    assert isinstance(result, SizingRejected)
    assert result.limited_by == "solana_balance"
    assert "below the $50 minimum" in result.reason
    empty_book = PositionSizer().plan(_inputs(bids=()))
    assert isinstance(empty_book, SizingRejected) and empty_book.limited_by == "book_depth"


def test_lst_long_holds_fewer_tokens_for_the_same_sol_exposure() -> None:
    plan = _plan(asset=Asset.JITOSOL, lst_sol_rate=D("1.25"))
    assert plan.short_size == D("30.00")
    assert plan.expected_long_tokens == D(24)  # 30 SOL / 1.25
    with pytest.raises(ValueError, match="LST/SOL rate"):
        PositionSizer().plan(_inputs(asset=Asset.JITOSOL))


def test_off_grid_price_rounds_the_size_down_and_keeps_legs_equal() -> None:
    bids = (PriceLevel(D("137.3"), D(10_000)),)
    plan = _plan(sol_price=D("137.37"), solana_usdc=D(1000), hyperliquid_usdc=D(5000), bids=bids)
    # 3 × 1000 / 1.05 = 2857.14… notional → 20.798… SOL → 20.79
    assert plan.short_size == D("20.79")
    assert plan.short_notional_usd == plan.asgard_notional_usd == D("20.79") * D("137.37")
    assert plan.collateral_usdc * 3 == plan.short_notional_usd
    assert plan.collateral_usdc * D("1.05") <= D(1000)


def test_sizing_refuses_bad_leverage() -> None:
    with pytest.raises(ValueError, match="leverage"):
        PositionSizer().plan(_inputs(leverage=D(5)))


def test_hedge_size_for_the_long_that_filled() -> None:
    # 24.004 jitoSOL × 1.25 = 30.005 SOL → nearest lot (half-even) 30.00
    assert hedge_size_for(D("24.004"), Asset.JITOSOL, D("1.25"), 2) == D("30.00")
    assert hedge_size_for(D("24.0044"), Asset.JITOSOL, D("1.25"), 2) == D("30.01")  # 30.0055
    assert hedge_size_for(D("1.234"), Asset.SOL, None, 2) == D("1.23")
    with pytest.raises(ValueError):
        hedge_size_for(D(1), Asset.USDC, None, 2)


@pytest.mark.parametrize(
    ("leverage", "expected"), [("2", 2), ("2.1", 3), ("2.5", 3), ("3", 3), ("3.9", 4), ("4", 4)]
)
def test_hyperliquid_leverage_is_the_whole_number_at_or_above(leverage: str, expected: int) -> None:
    """Issue 15: `int(2.5)` = 2 asked initial margin of notional / 2 = 1.25 x the leg's margin."""
    lev = D(leverage)
    assert hedge_leverage(lev, 20) == expected
    margin = D(500)  # the leg's margin; the short is sized at margin x leverage
    assert margin * lev / hedge_leverage(lev, 20) <= margin


def test_hyperliquid_leverage_above_the_perps_maximum_is_refused() -> None:
    assert hedge_leverage(D("2.5"), 3) == 3
    with pytest.raises(ValueError, match="at most 2x"):
        hedge_leverage(D("2.5"), 2)
