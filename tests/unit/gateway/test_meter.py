"""The meter (gateway/meter.py): one address's budget in a sliding minute, the gateway's refreshes and
the exchange reserve first, the rest shared by the tenants: each a share a minute (the pool less the
heavy-read headroom, over the active tenants plus one) and credit filling at it, light reads within the
share in any minute, heavy reads from the credit; the address never past its budget."""

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
        weight_per_minute=1200,
        budget=budget,
        refresh_cost=refresh,
        exchange_reserve=exchange,
        heavy_read_weight=60,
        now=clock,
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
    with pytest.raises(ValueError):  # the heavy read's headroom must fit too
        meter(Clock(), budget=480, refresh=300, exchange=120)


def test_a_tenant_alone_gets_half_the_pool_and_a_newcomer_finds_its_share_at_once() -> None:
    clock = Clock()
    m = meter(clock)
    assert spend_until_refused(m, "greedy", 2) == 210  # (480 - 60) / (1 active + 1 kept)
    refused = m.read("greedy", 2)
    assert not refused.admitted and 1 <= refused.retry_after_s <= 60
    # The quiet tenant arrives: shares are now 420 / 3 = 140; it gets all of its own at once.
    assert spend_until_refused(m, "quiet", 2) == 140
    assert not m.read("greedy", 2).admitted  # still past its (smaller) share
    view = m.view("quiet")
    assert (view.share, view.tenant_spent, view.tenant_credit) == (140, 140, 0)


def test_spend_leaves_the_window_after_a_minute_and_quiet_tenants_stop_counting() -> None:
    clock = Clock()
    m = meter(clock)
    assert spend_until_refused(m, "a", 20) == 200  # share 210: ten reads of 20
    clock.t += 30
    assert spend_until_refused(m, "b", 20) == 140  # share 140
    clock.t += 29.9
    assert not m.read("a", 20).admitted
    clock.t += 0.2  # a minute after a's reads: they have left the window; b is still active
    assert m.view("a").share == 420 // 3
    assert m.read("a", 20).admitted
    clock.t += 61  # a minute of silence from both: neither is active, a alone gets half again
    assert m.view("a").share == 210
    assert spend_until_refused(m, "a", 20) == 200


def test_items_charged_after_the_answer_count_against_the_share_and_the_credit() -> None:
    clock = Clock()
    m = meter(clock)
    assert m.read("a", 20).admitted
    m.charge("a", 200)  # a long answer
    view = m.view("a")
    assert (view.tenant_spent, view.tenant_credit) == (220, -10)
    refused = m.read("a", 20)
    assert not refused.admitted and refused.retry_after_s == 9  # (20 + 10) / 210 a minute
    clock.t += 9
    assert not m.read("a", 20).admitted  # the credit is back, but the minute's reads are past the share
    clock.t += 51.1
    assert m.read("a", 20).admitted


def test_a_heavy_read_does_not_hold_the_light_reads_of_the_minute_after_it() -> None:
    # 40 bots: a share of about 17. A bot's first tick reads its fee tier (userFees, 20: heavy), then
    # its account (clearinghouseState, 2) every tick: the account must still be read.
    clock = Clock()
    m = meter(clock, refresh=71)
    for other in range(39):
        assert m.read(f"bot{other}", 2).admitted
    share = m.view("new").share
    assert 15 <= share < 20
    assert m.read("new", 20).admitted  # heavy, from the newcomer's full credit
    for _ in range(3):
        assert m.read("new", 2).admitted
        clock.t += 5
    assert m.view("new").tenant_spent == 26  # every read still counts in what the tenant spent


def test_a_pause_never_forgives_a_debt() -> None:
    clock = Clock()
    m = meter(clock)
    for i in range(50):
        assert m.read(f"t{i}", 2).admitted
    share = 420 / 52
    assert m.view("a").share == int(share)  # 8
    assert m.read("a", 20).admitted  # heavy (20 > 8): from a newcomer's full credit of 60
    m.charge("a", 100)
    for _ in range(2):
        clock.t += 30.3
        for i in range(50):
            m.read(f"t{i}", 2)  # the others stay active
    clock.t += 0.6  # a is no longer active: quiet for a minute
    # Its debt stays: -60 + 61.1 s of its share, not a fresh bucket.
    refused = m.read("a", 2)
    assert not refused.admitted and refused.retry_after_s > 300
    assert m.view("a").tenant_credit < 0


def test_orders_use_their_reserve_whatever_the_reads_spent_then_what_is_left() -> None:
    clock = Clock()
    m = meter(clock)
    reads = [spend_until_refused(m, tenant, 2) for tenant in ("a", "b", "c")]
    # a got its share alone (210), b its share of two (140), c what light reads may take: P - H = 420.
    assert reads == [210, 140, 70] and sum(reads) == 420
    assert all(m.exchange(1).admitted for _ in range(120))  # the reserve, untouched by reads
    # Past the reserve, orders may use what nobody spent (the refreshes' reserve included, as they
    # have spent nothing here), up to the whole budget and never beyond.
    extra = 0
    while m.exchange(1).admitted:
        extra += 1
    assert extra == 960 - 420 - 120 and m.spent() == 960
    refused = m.exchange(1)
    assert not refused.admitted and refused.retry_after_s >= 1


def test_the_view_shows_the_address_and_the_tenant_only() -> None:
    clock = Clock()
    m = meter(clock)
    assert m.refresh(40)
    m.read("a", 2)
    m.read("b", 20)
    view = m.view("a")
    assert (view.weight_per_minute, view.budget, view.spent) == (1200, 960, 62)
    assert (view.refresh_reserve, view.exchange_reserve, view.tenant_spent) == (360, 120, 2)
    assert (view.share, view.tenant_credit) == (140, 140)  # two active: 420 / 3, credit capped at it


# ---------------------------------------------------------------------- many tenants (issue 17's host)
def many(clock: Clock) -> Meter:
    """The default budget with the feed up: refreshes 71, exchange 120, pool 769."""
    return meter(clock, refresh=71)


def test_a_heavy_read_fits_while_150_tenants_spend_their_share() -> None:
    """The old meter capped any read at the share in a minute (769 // 152 = 5): a bot closing its
    position could never read its fills (userFills, 20) while 150 others read. Now it can, at once."""
    clock = Clock()
    m = many(clock)
    greedy = [f"g{i}" for i in range(150)]
    for minute in range(3):
        for step in range(12):  # every 5 s, every greedy tenant reads all it may
            for tenant in greedy:
                while m.read(tenant, 2).admitted:
                    pass
            if step == 0:  # its account, once a minute (the first minute's burst aside)
                assert m.read("closer", 2).admitted or minute == 0
            assert m.spent() <= 960
            clock.t += 5
    assert m.read("closer", 20).admitted  # userFills
    assert m.view("closer").share == (769 - 60) // 152 == 4
    m.charge("closer", 3)  # its 60 fills
    assert m.spent() <= 960
    # Its credit (60, the heaviest read) holds one more; the next waits for credit to accrue at its
    # share, not taken from the others.
    assert m.read("closer", 20).admitted
    refused = m.read("closer", 20)
    assert not refused.admitted and refused.retry_after_s == 39  # (20 - 17) / 4.66 a minute
    assert m.spent() <= 960


def test_no_tenant_starves_another_under_greed() -> None:
    """150 tenants read as much as they may, every second; a polite one reads its account every 20 s.
    Once all are active (the first minute, the first comers had the shares of fewer tenants), every one
    of them gets two reads (its share, 4.66) in every minute, and the address stays within its
    budget."""
    clock = Clock()
    m = many(clock)
    greedy = [f"g{i}" for i in range(150)]
    got: dict[str, int] = {}
    for second in range(240):
        for tenant in greedy:
            while m.read(tenant, 2).admitted:
                got[tenant] = got.get(tenant, 0) + (second >= 60)
        if second % 20 == 0 and m.read("polite", 2).admitted:
            got["polite"] = got.get("polite", 0) + (second >= 60)
        assert m.spent() <= 960
        clock.t += 1
    assert min(got[t] for t in greedy) >= 2 * 3 and got["polite"] >= 2 * 3


def test_the_address_never_passes_its_budget_when_the_feed_goes_down() -> None:
    """The feed carried most entries (refreshes 71); it goes down, the refreshes' reserve grows to 395
    at once: the reads already in the window were admitted under the larger pool, so the refreshes
    wait for them to leave it, and nothing ever takes the address past its budget."""
    clock = Clock()
    m = many(clock)
    tenants = [f"t{i}" for i in range(3)]
    for tenant in tenants:
        spend_until_refused(m, tenant, 2)
    assert m.spent() == 708  # light reads: the pool less the heavy headroom (709), in reads of 2
    assert m.refresh(20)
    m.set_refresh_reserve(395)
    assert m.pool == 445
    assert not m.refresh(240)  # the whole fallback refresh does not fit yet
    assert not m.read("t0", 2).admitted and not m.read("new", 20).admitted
    assert all(m.exchange(1).admitted for _ in range(120))  # orders keep their reserve
    assert m.spent() <= 960
    clock.t += 60.1  # the reads have left the window
    assert m.refresh(240) and spend_until_refused(m, "new", 2) > 0
    assert m.spent() <= 960


# ---------------------------------------------------------------------- the configured figures
def test_the_default_config_fits_and_states_its_refresh_cost() -> None:
    config = GatewayConfig()
    assert config.budget == 960
    # Feed down: meta 20 + asset contexts 240 + mids 60 + predictions 20 + funding 10.5 + candles 44.
    assert config.refresh_cost() == 395
    assert config.tenant_pool() == 960 - 395 - 120 == 445
    # Feed up: meta, the other coins' contexts and the predictions once a minute, funding 10.5.
    fed = config.fed_entries()
    assert fed == {"allMids", "metaAndAssetCtxs", *(f"candle:{i}" for i in config.candle_intervals)}
    assert config.refresh_cost(fed) == 71 and config.tenant_pool(fed) == 769
    assert GatewayConfig(feed_enabled=False).fed_entries() == frozenset()
    with pytest.raises(ValueError, match="leave nothing"):
        GatewayConfig(asset_ctxs_refresh_seconds=0.5)
    with pytest.raises(ValueError, match="unknown candle intervals"):
        GatewayConfig(candle_intervals=("7m",))


def test_how_many_bots_one_address_holds() -> None:
    """The class doc's arithmetic: account reads (2) twice a minute per bot, shares of the pool less the
    heavy headroom over the bots plus one, plus the 10 accounts the feed pushes."""
    config = GatewayConfig()
    assert config.bots_held(30, feed_up=True) == (769 - 60) // 4 - 1 + 10 == 186
    assert config.bots_held(30, feed_up=False) == (445 - 60) // 4 - 1 == 95
    assert config.bots_held(60, feed_up=True) == 363 and config.bots_held(60, feed_up=False) == 191
    # A meter with those figures does give 176 tenants two account reads a minute each.
    clock = Clock()
    m = many(clock)
    bots = [f"b{i}" for i in range(176)]
    for second in range(0, 120, 30):
        for bot in bots:
            assert m.read(bot, 2).admitted, (second, bot)
        clock.t += 30
