"""Hyperliquid's request weights and the per-IP window, with an explicit clock."""

from __future__ import annotations

from decimal import Decimal

from devnet.hyperliquid.limits import AddressRequests, IpWeights, exchange_weight, info_weight, items_weight


def test_weights_are_the_documented_ones() -> None:
    assert [info_weight(k) for k in ("l2Book", "allMids", "clearinghouseState", "orderStatus")] == [2] * 4
    assert info_weight("userRole") == 60
    assert info_weight("metaAndAssetCtxs") == info_weight("userFees") == info_weight(None) == 20
    assert items_weight("userFills", 39) == 1 and items_weight("userFills", 40) == 2
    assert items_weight("candleSnapshot", 119) == 1 and items_weight("meta", 500) == 0
    assert exchange_weight({"type": "noop"}) == 1
    assert exchange_weight({"type": "order", "orders": [{}] * 79}) == 2
    assert exchange_weight({"type": "cancel", "cancels": [{}] * 80}) == 3


def test_the_window_slides_over_a_minute_per_ip() -> None:
    now = [1000.0]
    w = IpWeights(100, now=lambda: now[0])
    assert w.admit("a", 60) and w.admit("a", 40)
    assert not w.admit("a", 1) and w.admit("b", 100)  # another IP has its own budget
    now[0] += 30
    assert not w.admit("a", 1) and w.spent("a") == 100
    now[0] += 30.001  # the first minute's weight has left the window
    assert w.spent("a") == 0 and w.admit("a", 100)
    w.charge("a", 5)  # after the answer: may go past the limit, and refuses the next request
    assert w.spent("a") == 105 and not w.admit("a", 1)
    assert w.refused_by_ip() == {"a": 3}  # every 429, counted per IP, for the benches


def test_the_address_allowance_grows_with_volume() -> None:
    book = AddressRequests()
    assert book.take("u", 10_000, Decimal(0), 0) is None  # the initial 10,000
    assert book.take("u", 1, Decimal(0), 20_000) is None  # past the cap, one every 10 s still goes
    assert book.take("u", 1, Decimal(0), 25_000) == (
        "Too many cumulative requests sent (10002 > 10000) for cumulative volume traded $0. "
        "Place taker orders to free up 1 request per USDC traded."
    )
    assert book.take("u", 1, Decimal(0), 30_000) is None
    assert book.take("u", 1, Decimal("87457.456"), 30_001) is None  # 1 more per USDC traded
    assert book.answer("u", Decimal("87457.456")) == {
        "cumVlm": "87457.456",
        "nRequestsUsed": 10_003,
        "nRequestsCap": 97_457,
        "nRequestsSurplus": 0,
    }
