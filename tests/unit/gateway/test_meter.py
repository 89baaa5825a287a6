"""The meter (gateway/meter.py): one address's budget in a sliding minute, the gateway's refreshes and
the exchange reserve first, equal shares of the rest among the tenants active in the last minute (one
share kept for a newcomer), none spending past its share."""

from __future__ import annotations

import pytest

from gateway.config import GatewayConfig
from gateway.meter import Meter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def meter(clock: Clock, budget: int = 960, refresh: int = 360, exchange: int = 120) -> Meter:
    return Meter(
        weight_per_minute=1200, budget=budget, refresh_cost=refresh, exchange_reserve=exchange, now=clock
    )


def spend_until_refused(m: Meter, tenant: str, weight: int) -> int:
    spent = 0
    while m.read(tenant, weight).admitted:
        spent += weight
        assert spent < 10_000
    return spent


def test_the_pool_is_the_budget_less_refreshes_and_the_exchange_reserve() -> None:
    m = meter(Clock())
    assert m.pool == 960 - 360 - 120 == 480
    with pytest.raises(ValueError):
        meter(Clock(), budget=400, refresh=300, exchange=100)


def test_a_tenant_alone_gets_half_the_pool_and_a_newcomer_finds_its_share_at_once() -> None:
    clock = Clock()
    m = meter(clock)
    assert spend_until_refused(m, "greedy", 2) == 240  # 480 / (1 active + 1 kept)
    refused = m.read("greedy", 2)
    assert not refused.admitted and 1 <= refused.retry_after_s <= 60
    # The quiet tenant arrives: shares are now 480 / 3 = 160; it gets all of its own.
    assert spend_until_refused(m, "quiet", 2) == 160
    assert not m.read("greedy", 2).admitted  # still past its (smaller) share
    assert m.view("quiet").share == 160 and m.view("quiet").tenant_spent == 160


def test_spend_leaves_the_window_after_a_minute_and_quiet_tenants_stop_counting() -> None:
    clock = Clock()
    m = meter(clock)
    spend_until_refused(m, "a", 20)
    clock.t += 30
    spend_until_refused(m, "b", 20)
    clock.t += 29.9
    assert not m.read("a", 20).admitted
    clock.t += 0.2  # a minute after a's reads: they have left the window; b is still active
    assert m.view("a").share == 480 // 3
    assert m.read("a", 20).admitted
    clock.t += 61  # a minute of silence from both: neither is active, a alone gets half again
    assert m.view("a").share == 240
    assert spend_until_refused(m, "a", 20) == 240


def test_items_charged_after_the_answer_count_against_the_share() -> None:
    clock = Clock()
    m = meter(clock)
    assert m.read("a", 20).admitted
    m.charge("a", 200)  # a long answer
    assert m.view("a").tenant_spent == 220
    assert spend_until_refused(m, "a", 20) == 20  # 240 - 220 leaves one more


def test_orders_use_their_reserve_whatever_the_reads_spent_then_what_is_left() -> None:
    clock = Clock()
    m = meter(clock)
    reads = sum(spend_until_refused(m, tenant, 2) for tenant in ("a", "b", "c"))
    assert reads == 240 + 160 + 80  # the pool, whole: a got half, b a third, c what was left
    assert all(m.exchange(1).admitted for _ in range(120))  # the reserve, untouched by reads
    # Past the reserve, orders may use what nobody spent (the refreshes' reserve included, as they
    # have spent nothing here), up to the whole budget and never beyond.
    extra = 0
    while m.exchange(1).admitted:
        extra += 1
    assert extra == 960 - reads - 120 and m.spent() == 960
    refused = m.exchange(1)
    assert not refused.admitted and refused.retry_after_s >= 1


def test_the_view_shows_the_address_and_the_tenant_only() -> None:
    clock = Clock()
    m = meter(clock)
    m.refreshed(40)
    m.read("a", 2)
    m.read("b", 20)
    view = m.view("a")
    assert (view.weight_per_minute, view.budget, view.spent) == (1200, 960, 62)
    assert (view.refresh_reserve, view.exchange_reserve, view.tenant_spent) == (360, 120, 2)


def test_the_default_config_fits_and_states_its_refresh_cost() -> None:
    config = GatewayConfig()
    assert config.budget == 960
    # 20 + 240 + 60 + 40 (meta, asset contexts, mids, predictions) + 21 (funding) + candles
    assert 380 < config.refresh_cost() < 450
    assert config.tenant_pool() == 960 - config.refresh_cost() - 120 > 300
    with pytest.raises(ValueError, match="leave nothing"):
        GatewayConfig(asset_ctxs_refresh_seconds=0.5)
    with pytest.raises(ValueError, match="unknown candle intervals"):
        GatewayConfig(candle_intervals=("7m",))
