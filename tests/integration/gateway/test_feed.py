"""The gateway's websocket feed on a real control plane (`basis serve`) and devnet, whose /ws keeps
Hyperliquid's per-IP limits: allMids, the hedge coin's context and its candles pushed into the cache
and served with a small Age; the address spending less weight a minute than REST polling did; a
tenant's own account answered from its pushed state at no weight; and, with the devnet restarted and
its socket side closed to the gateway's address, the REST refresh taking over and the feed coming back.

The gateway's requests and websocket leave from 127.0.0.2 (tests/support/gateway.py), so the devnet's
count for that address is the gateway's alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import CANDLE_SPANS_MS, GatewayConfig
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.gateway import (
    budget,
    info,
    plane_with_gateway,
    restart_devnet,
    sockets_held,
    wait_cached,
    wait_followed,
    weight_spent_by,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

SEED = 45
FEED = {
    # Quick to follow accounts and to reconnect, so the test is short; the first reconnect after a
    # loss waits long enough (8 s) for the restarted devnet to be up and its sockets taken first.
    "user_rebalance_seconds": 1,
    "user_hold_seconds": 5,
    "feed_reconnect_min_seconds": 8,
    "feed_reconnect_max_seconds": 10,
}
DIRECT_SOURCE = "127.0.0.3"  # the test's own reads of the venue
# A pushed entry's Age on a live connection: a ping every 5 s, confirmed less the push lag (1 s).
LIVE_AGE = 5 + 1 + 1


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with plane_with_gateway(Path(tmp_path_factory.mktemp("feed")), seed=SEED, **FEED) as cp:
        cp.started_at = time.monotonic()  # type: ignore[attr-defined]
        yield cp
        cp.dn.stop()  # a devnet restarted by a test


@pytest.fixture(scope="module")
def alice(plane: ControlPlane) -> SignedIn:
    user = plane.sign_in("alice")
    wait_cached(plane, user)
    return user


def config(plane: ControlPlane) -> GatewayConfig:
    return plane.settings.gateway


def direct(plane: ControlPlane, body: dict[str, Any]) -> Any:
    """The venue's own answer, read by the test from an address of its own: on 127.0.0.1 it would
    share a budget with the bots, which read the devnet directly here (`gateway_for_bots` off)."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=DIRECT_SOURCE), timeout=10) as client:
        r = client.post(plane.dn.url("hyperliquid") + "/info", json=body)
    assert r.status_code == 200, (r.text, plane.dn.state().get("hyperliquid_weight_by_ip"))
    return r.json()


def age(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    observed = int(r.headers["X-Basis-Observed-At"])
    assert observed <= int(time.time() * 1000)
    return int(r.headers["Age"])


def wait_reserve(plane: ControlPlane, user: SignedIn, reserve: int, timeout: float = 40) -> None:
    """Until the meter's refresh reserve is `reserve` (71 with the feed carrying its entries, 395
    without)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if budget(plane, user)["refresh_reserve"] == reserve:
            return
        time.sleep(0.25)
    raise AssertionError(
        f"the refresh reserve is not {reserve}: {budget(plane, user)}\n{plane.logs()[-3000:]}"
    )


def sol(answer: Any) -> dict[str, Any]:
    meta, ctxs = answer
    return ctxs[[a["name"] for a in meta["universe"]].index("SOL")]


def candle_request(interval: str) -> dict[str, Any]:
    """The last 100 candles of `interval` (within the 150 the gateway keeps)."""
    start = int(time.time() * 1000) - 100 * CANDLE_SPANS_MS[interval]
    return {"type": "candleSnapshot", "req": {"coin": "SOL", "interval": interval, "startTime": start}}


def candles(plane: ControlPlane, user: SignedIn, interval: str) -> httpx.Response:
    return info(plane, user, candle_request(interval))


# ---------------------------------------------------------------------- the market, pushed
def test_the_feed_serves_mids_the_hedge_coins_context_and_candles_with_a_small_age(
    plane: ControlPlane, alice: SignedIn
) -> None:
    wait_reserve(plane, alice, config(plane).refresh_cost(config(plane).fed_entries()))
    assert "gateway feed connected" in plane.logs()
    spent = budget(plane, alice)["tenant_spent"]
    ages: list[int] = []
    for _ in range(15):  # 15 s: three pings; the devnet's market steps once a minute
        mids = info(plane, alice, {"type": "allMids"})
        ctxs = info(plane, alice, {"type": "metaAndAssetCtxs"})
        for r in (mids, ctxs, candles(plane, alice, "1m"), candles(plane, alice, "1h")):
            ages.append(age(r))
        time.sleep(1)
    assert max(ages) <= LIVE_AGE, ages
    # The venue's answers, as the venue gives them (a market step between the two reads aside).
    for _ in range(3):
        mids, ctxs = (
            info(plane, alice, {"type": "allMids"}).json(),
            info(plane, alice, {"type": "metaAndAssetCtxs"}),
        )
        venue_mids, venue_ctxs = (
            direct(plane, {"type": "allMids"}),
            direct(plane, {"type": "metaAndAssetCtxs"}),
        )
        if mids == venue_mids and sol(ctxs.json()) == sol(venue_ctxs):
            break
        time.sleep(2)
    else:
        raise AssertionError((mids, venue_mids, sol(ctxs.json()), sol(venue_ctxs)))
    meta, contexts = ctxs.json()
    assert meta == venue_ctxs[0] and len(contexts) == len(venue_ctxs[1])  # the venue's shape, whole
    assert [set(c) for c in contexts] == [set(c) for c in venue_ctxs[1]]
    ours, venue = candles(plane, alice, "1m").json(), direct(plane, candle_request("1m"))
    assert [c["t"] for c in ours] == [c["t"] for c in venue] and ours[-1]["c"] == venue[-1]["c"]
    assert budget(plane, alice)["tenant_spent"] == spent  # all from the cache


def test_the_gateways_address_spends_less_weight_a_minute_than_rest_polling(
    plane: ControlPlane, alice: SignedIn
) -> None:
    """A minute after start (the first REST read of every entry has left the devnet's window), the
    address spends what the REST reads left beside the feed: 71 a minute, against 395 polling all."""
    wait_for = plane.started_at + 65 - time.monotonic()  # type: ignore[attr-defined]
    if wait_for > 0:
        time.sleep(wait_for)
    fed, polled = config(plane).refresh_cost(config(plane).fed_entries()), config(plane).refresh_cost()
    spent = weight_spent_by(plane.dn)
    print(
        f"\nthe gateway's address over the last minute: {spent} weight (feed up {fed}, REST polling {polled})"
    )
    assert 0 < spent <= fed + 25 and spent < polled / 3
    assert budget(plane, alice)["refresh_reserve"] == fed


# ---------------------------------------------------------------------- an account, pushed
def test_a_tenants_account_is_answered_from_its_pushed_state_at_no_weight(
    plane: ControlPlane, alice: SignedIn
) -> None:
    wait_followed(plane, alice)
    own = {"type": "clearinghouseState", "user": alice.evm_address}
    spent = budget(plane, alice)["tenant_spent"]
    assert info(plane, alice, own).json()["marginSummary"]["accountValue"] == "0.0"
    plane.dn.faucet("hyperliquid", "USDC", alice.evm_address, "50")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the venue pushes the change; no read of it is forwarded
        r = info(plane, alice, own)
        if r.json()["marginSummary"]["accountValue"] == "50.0":
            break
        time.sleep(0.2)
    else:
        raise AssertionError(r.text)
    assert age(r) <= LIVE_AGE
    assert r.json() == direct(plane, own) | {"time": r.json()["time"]}
    for _ in range(20):
        assert age(info(plane, alice, own)) <= LIVE_AGE
    assert budget(plane, alice)["tenant_spent"] == spent


# ---------------------------------------------------------------------- the socket side gone (last)
def test_with_the_devnets_socket_side_gone_rest_takes_over_and_the_feed_comes_back(
    plane: ControlPlane, alice: SignedIn
) -> None:
    """The devnet restarts, and its /ws is closed to the gateway's address (another client of that
    address holds its 10 connections): the REST refresh takes over at once (allMids every 2 s, the
    contexts every 5 s, the reserve at the full 395), then the connections are let go and the feed
    comes back (the reserve back at 71, the account pushed again)."""
    fed, polled = config(plane).refresh_cost(config(plane).fed_entries()), config(plane).refresh_cost()
    wait_reserve(plane, alice, fed)
    connected = plane.logs().count("gateway feed connected")
    dn = restart_devnet(plane, SEED)
    with sockets_held(dn, 10):
        wait_reserve(plane, alice, polled, timeout=20)
        assert "gateway feed lost; REST refreshes take over" in plane.logs()
        # The first REST reads of the restarted devnet: both entries read afresh from it.
        wait_until(
            lambda: (
                weight_spent_by(dn) > 0
                and all(age(info(plane, alice, {"type": k})) <= 6 for k in ("allMids", "metaAndAssetCtxs"))
            ),
            timeout=30,
            every=0.5,
            what="the REST refresh to read the restarted devnet",
        )
        ages = []
        spent, started = weight_spent_by(dn), time.monotonic()
        for _ in range(10):
            ages += [age(info(plane, alice, {"type": k})) for k in ("allMids", "metaAndAssetCtxs")]
            time.sleep(1)
        assert max(ages) <= 6, ages  # REST cadences: 2 s and 5 s
        # Mids (weight 2) every 2 s and the contexts (weight 20) every 5 s, over the seconds watched:
        # at least half of it (the devnet counts the last minute; a loaded machine polls late).
        polled_rate = 2 / 2 + 20 / 5
        assert weight_spent_by(dn) - spent >= polled_rate * (time.monotonic() - started) / 2
        assert info(plane, alice, {"type": "allMids"}).json() == direct(plane, {"type": "allMids"})
        assert budget(plane, alice)["refresh_reserve"] == polled  # still down: refused at the handshake
    wait_reserve(plane, alice, fed, timeout=40)
    assert plane.logs().count("gateway feed connected") > connected
    ages = [age(info(plane, alice, {"type": "allMids"})) for _ in range(5)]
    assert max(ages) <= LIVE_AGE
    wait_followed(plane, alice)  # the account pushed again (subscribed again after the reconnect)
    assert "Traceback" not in plane.logs()
