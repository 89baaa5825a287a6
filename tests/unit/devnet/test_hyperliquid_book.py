"""The simulated order book: grid prices, matching, consumed depth that refills, resting orders."""

from __future__ import annotations

from decimal import Decimal

from devnet.hyperliquid import rules
from devnet.hyperliquid.book import SHOWN_LEVELS, Book
from devnet.hyperliquid.orders import Order
from devnet.hyperliquid.prices import Asset

SOL = Asset(5, "SOL", 2, 20, 54, False)
BTC = Asset(0, "BTC", 5, 40, 56, False)
MARK = Decimal("150.037")
STEP = 1_800_000_000_000
_oid = iter(range(1, 10_000))


def book(asset: Asset = SOL, mark: Decimal = MARK, seed: int = 7) -> Book:
    return Book(asset, seed, mark, STEP)


def order(user: str, is_buy: bool, px: str, sz: str, reduce_only: bool = False) -> Order:
    return Order(
        next(_oid),
        user,
        "SOL",
        5,
        is_buy,
        Decimal(px),
        Decimal(sz),
        Decimal(sz),
        reduce_only,
        "Gtc",
        None,
        STEP,
    )


def test_levels_sit_on_the_price_grid_around_the_mark() -> None:
    for asset, mark in ((SOL, MARK), (BTC, Decimal("92017.3")), (SOL, Decimal("99.9987"))):
        b = book(asset, mark)
        bids, asks = b.levels()
        assert len(bids) == len(asks) == SHOWN_LEVELS
        assert bids[0].px < mark < asks[0].px
        assert [lv.px for lv in bids] == sorted((lv.px for lv in bids), reverse=True)
        assert [lv.px for lv in asks] == sorted(lv.px for lv in asks)
        for lv in bids + asks:
            assert rules.is_valid_price(lv.px, asset.sz_decimals), lv
            assert rules.is_valid_size(lv.sz, asset.sz_decimals), lv
            assert lv.n >= 1
        # Depth grows away from the mid: the far levels hold more than the near ones.
        assert sum(lv.sz for lv in asks[-5:]) > sum(lv.sz for lv in asks[:5])


def test_the_book_is_a_function_of_the_seed_and_the_step() -> None:
    assert book().levels() == book().levels()
    assert book(seed=8).levels() != book().levels()
    moved = book()
    moved.on_step(MARK, STEP + 60_000)
    assert moved.levels() != book().levels()


def test_a_taker_walks_the_book_up_to_its_limit() -> None:
    b = book()
    asks = b.levels()[1]
    size = asks[0].sz + asks[1].sz + asks[2].sz / 2
    matches, self_trades = b.take(True, asks[2].px, size, "0xtaker")
    assert not self_trades
    assert [m.px for m in matches] == [asks[0].px, asks[1].px, asks[2].px]
    assert sum(m.sz for m in matches) == size
    # A limit below the next level stops the walk.
    limited, _ = b.take(True, asks[0].px - Decimal("0.01"), Decimal(5), "0xtaker")
    assert limited == []


def test_consumed_depth_moves_the_price_then_refills() -> None:
    b = book()
    best = b.best(False)
    first = b.levels()[1][0]
    b.take(True, None, first.sz, "0xtaker")
    assert b.best(False) > best  # the first level is gone

    def depth(bk: Book, up_to: Decimal) -> Decimal:
        return sum((lv.sz for lv in bk.levels()[1] if lv.px <= up_to), Decimal(0))

    # One simulated minute later half of what was taken is back: the rest is still missing.
    b.on_step(MARK, STEP + 60_000)
    fresh = book()
    fresh.on_step(MARK, STEP + 60_000)
    deep = fresh.levels()[1][10].px
    missing = rules.round_size_down(first.sz / 2, SOL.sz_decimals)
    assert depth(b, deep) == depth(fresh, deep) - missing
    for step in range(2, 20):
        b.on_step(MARK, STEP + 60_000 * step)
    settled = book()
    settled.on_step(MARK, STEP + 60_000 * 19)
    assert b.levels() == settled.levels()  # fully refilled after a while


def test_users_orders_rest_in_the_book_and_fill_first_at_their_price() -> None:
    b = book()
    bid_px = b.best(True)
    assert bid_px is not None
    mine = order("0xmaker", True, str(bid_px), "3")
    b.rest(mine)
    top = b.levels()[0][0]
    assert top.px == bid_px and top.n >= 2
    matches, _ = b.take(False, None, Decimal(2), "0xtaker")
    assert matches[0].maker is mine and matches[0].sz == 2 and mine.sz == 1
    better = order("0xmaker", False, str(b.best(False) - Decimal("0.01")), "1")
    if better.limit_px > bid_px:
        b.rest(better)
        assert b.best(False) == better.limit_px
        assert b.mid() == (bid_px + better.limit_px) / 2


def test_self_trade_cancels_the_resting_order() -> None:
    b = book()
    ask_px = b.best(False)
    assert ask_px is not None
    mine = order("0xsame", False, str(ask_px), "1")
    b.rest(mine)
    matches, self_trades = b.take(True, ask_px, Decimal("0.5"), "0xsame")
    assert self_trades == [mine]
    assert all(m.maker is None for m in matches)
    assert mine not in b.asks


def test_post_only_check_sees_the_other_side() -> None:
    b = book()
    bid, ask = b.best(True), b.best(False)
    assert bid is not None and ask is not None
    assert b.would_cross(True, ask) and not b.would_cross(True, bid)
    assert b.would_cross(False, bid) and not b.would_cross(False, ask)


def test_a_resting_bid_fills_when_the_market_falls_through_it() -> None:
    b = book()
    resting = order("0xmaker", True, "149.5", "2")
    b.rest(resting)
    assert b.crossed() == []
    b.on_step(Decimal("149.4"), STEP + 60_000)
    crossed = b.crossed()
    assert crossed == [(resting, Decimal(2))]


def test_aggregated_levels_group_prices_by_significant_figures() -> None:
    b = book()
    bids, asks = b.levels(n_sig_figs=3)
    assert all(lv.px == lv.px.quantize(Decimal(1)) for lv in bids + asks)
    assert sum(lv.sz for lv in asks) > sum(lv.sz for lv in b.levels()[1][:1])
    assert bids[0].px < asks[0].px


def test_impact_price_is_worse_for_a_larger_notional() -> None:
    b = book()
    small = b.average_price(False, Decimal(1_000))
    large = b.average_price(False, Decimal(2_000_000))
    assert small is not None and large is not None
    assert b.best(False) == small < large
