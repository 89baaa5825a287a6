"""The shared venue gateway on a real control plane (`basis serve`) in front of a real devnet that
counts Hyperliquid's REST weight per client address (1,200 a minute, as the venue): public reads
answered from one cache for every bot, with their age; a bot's own account only; fair shares; orders
forwarded byte for byte; bad bodies refused with a sentence, never a 500.

Bots' calls are made here as a bot makes them (its token and tenant id); the bots the control plane
starts for the two users read the venues directly from 127.0.0.1 until they learn the gateway, while
the gateway reads from 127.0.0.2 (tests/support/gateway.py), so the devnet's count for that address is
the gateway's alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from hyperliquid.utils import signing
from pydantic import SecretStr

from tenant_bot.venues.asgard import AsgardClient, AsgardMarket
from tenant_bot.venues.gateway import Dated, Gateway, MarketPart, Route
from tenant_bot.venues.hyperliquid_models import parse_asset_contexts
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.gateway import (
    budget,
    gateway_url,
    headers,
    info,
    plane_with_gateway,
    wait_cached,
    weight_spent_by,
)

pytestmark = pytest.mark.devnet

SOL = 5


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # Accounts read over REST and metered here (no account pushed over the feed): test_feed.py
    # tests the pushed ones.
    with plane_with_gateway(Path(tmp_path_factory.mktemp("gateway")), seed=41, user_subscriptions=0) as cp:
        yield cp


@pytest.fixture(scope="module")
def alice(plane: ControlPlane) -> SignedIn:
    user = plane.sign_in("alice")
    wait_cached(plane, user)
    return user


@pytest.fixture(scope="module")
def bob(plane: ControlPlane) -> SignedIn:
    return plane.sign_in("bob")


def direct(plane: ControlPlane, body: dict[str, Any]) -> Any:
    r = httpx.post(plane.dn.url("hyperliquid") + "/info", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def age_of(r: httpx.Response) -> tuple[int, int]:
    """(Age, X-Basis-Observed-At) of a 200, checked against each other and the clock."""
    assert r.status_code == 200, r.text
    age, observed = int(r.headers["Age"]), int(r.headers["X-Basis-Observed-At"])
    now_ms = int(time.time() * 1000)
    assert observed <= now_ms and abs((now_ms - observed) // 1000 - age) <= 1
    return age, observed


# ---------------------------------------------------------------------- the cache
def test_public_reads_come_from_the_cache_with_their_age(plane: ControlPlane, alice: SignedIn) -> None:
    before = budget(plane, alice)["tenant_spent"]
    r = info(plane, alice, {"type": "metaAndAssetCtxs"})
    age, _ = age_of(r)
    assert age <= 6  # refreshed every 5 s
    meta, ctxs = r.json()
    assert meta == direct(plane, {"type": "meta"}) and len(ctxs) == len(meta["universe"])
    assert r.json()[0] == direct(plane, {"type": "metaAndAssetCtxs"})[0]
    assert [c[0] for c in info(plane, alice, {"type": "predictedFundings"}).json()] == [
        c[0] for c in direct(plane, {"type": "predictedFundings"})
    ]

    # Funding history of the hedge coin, from the cached rows: the range asked, ascending, as the venue.
    now_ms = int(time.time() * 1000)
    ask = {"type": "fundingHistory", "coin": "SOL", "startTime": now_ms - 86_400_000}
    r = info(plane, alice, ask)
    age_of(r)
    rows, venue = r.json(), direct(plane, ask)
    assert rows and [x["time"] for x in rows] == sorted(x["time"] for x in rows)
    assert rows == [x for x in venue if x["time"] <= rows[-1]["time"]]
    assert all(x["time"] >= ask["startTime"] for x in rows)
    window = {**ask, "endTime": rows[len(rows) // 2]["time"]}
    assert info(plane, alice, window).json() == rows[: len(rows) // 2 + 1]

    # Candles per interval, from the cache.
    req = {"coin": "SOL", "interval": "1h", "startTime": now_ms - 20 * 3_600_000}
    r = info(plane, alice, {"type": "candleSnapshot", "req": req})
    age_of(r)
    venue_candles = direct(plane, {"type": "candleSnapshot", "req": req})
    assert [c["t"] for c in r.json()] == [c["t"] for c in venue_candles]

    # Asgard, from the cache, with the same headers.
    for path in ("/asgard/markets", "/asgard/token-metadata"):
        r = httpx.get(gateway_url(plane) + path, headers=headers(alice), timeout=10)
        age_of(r)
        mine = httpx.get(
            plane.dn.url("asgard") + path.removeprefix("/asgard"), headers={"X-API-Key": "k"}, timeout=10
        )
        assert mine.status_code == 200, mine.text
        assert r.json().keys() == mine.json().keys()
    # None of it touched the tenant's share.
    assert budget(plane, alice)["tenant_spent"] == before


def _market(plane: ControlPlane, user: SignedIn, **query: Any) -> httpx.Response:
    return httpx.get(gateway_url(plane) + "/market", params=query, headers=headers(user), timeout=10)


def test_a_ticks_market_data_comes_in_one_read_each_part_its_single_read_with_its_date(
    plane: ControlPlane, alice: SignedIn
) -> None:
    """`GET /market`: the five public reads of a bot's tick in one answer, each part what the single
    read answers at that moment with the date it carries (`X-Basis-Observed-At`), at no weight."""
    before = budget(plane, alice)["tenant_spent"]
    start = int(time.time() * 1000) - 86_400_000
    singles = {
        "metaAndAssetCtxs": lambda: info(plane, alice, {"type": "metaAndAssetCtxs"}),
        "predictedFundings": lambda: info(plane, alice, {"type": "predictedFundings"}),
        "fundingHistory": lambda: info(
            plane, alice, {"type": "fundingHistory", "coin": "SOL", "startTime": start}
        ),
        "asgard/markets": lambda: httpx.get(gateway_url(plane) + "/asgard/markets", headers=headers(alice)),
        "asgard/token-metadata": lambda: httpx.get(
            gateway_url(plane) + "/asgard/token-metadata", headers=headers(alice)
        ),
    }
    first = _market(plane, alice, coin="SOL", funding_from=start)
    single = {name: read() for name, read in singles.items()}
    second = _market(plane, alice, coin="SOL", funding_from=start)
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["content-type"] == "application/json"
    assert set(first.json()) == set(second.json()) == set(singles)
    now_ms = int(time.time() * 1000)
    for name, r in single.items():
        _, observed = age_of(r)
        # The single read came between the two market reads: its date lies between theirs, and it is
        # the same answer as the market read of the same date (the cache moves on between them).
        lo, hi = first.json()[name], second.json()[name]
        assert lo["observed_at"] <= observed <= hi["observed_at"] <= now_ms, name
        same = lo if observed == lo["observed_at"] else hi if observed == hi["observed_at"] else None
        if same is not None:
            assert same["answer"] == r.json(), name
    rows = first.json()["fundingHistory"]["answer"]
    assert rows and all(row["time"] >= start and row["coin"] == "SOL" for row in rows)
    # Without a coin and a time: no funding history; a coin the cache does not keep: none either.
    assert set(_market(plane, alice).json()) == set(singles) - {"fundingHistory"}
    assert "fundingHistory" not in _market(plane, alice, coin="BTC", funding_from=start).json()
    assert budget(plane, alice)["tenant_spent"] == before


def test_the_bots_client_reads_the_market_answer_as_its_single_reads(
    plane: ControlPlane, alice: SignedIn
) -> None:
    """The bot's own `Gateway.market` against the real gateway: every part, each parsed by the bot's
    parsers into what the single reads give."""

    async def read() -> tuple[dict[MarketPart, Dated[Any]], dict[str, Any], list[AsgardMarket]]:
        gateway = Gateway(gateway_url(plane), alice.tenant_id, SecretStr(alice.token), user_reads=False)
        asgard = AsgardClient(plane.dn.url("asgard"), SecretStr("k"), gateway=gateway)
        try:
            start = int(time.time() * 1000) - 86_400_000
            parts = await gateway.market("SOL", start)
            markets = await asgard.dated_markets(Route.GATEWAY, parts[MarketPart.ASGARD_MARKETS])
            alone = await asgard.dated_markets(Route.GATEWAY)
            assert [m.asset for m in markets.value] == [m.asset for m in alone.value]
            return parts, parse_asset_contexts(parts[MarketPart.ASSET_CONTEXTS].value), markets.value
        finally:
            await asgard.aclose()
            await gateway.aclose()

    parts, ctxs, markets = asyncio.run(read())
    assert set(parts) == set(MarketPart)
    now = datetime.now(UTC)
    assert all(p.route is Route.GATEWAY and p.age_s(now) < 120 for p in parts.values())
    assert ctxs["SOL"].mark_px > 0 and markets and all(m.max_leverage > 0 for m in markets)


def test_a_market_read_out_of_its_shape_gets_a_sentence(plane: ControlPlane, alice: SignedIn) -> None:
    for query in ({"funding_from": "yesterday"}, {"coin": "x" * 40}, {"since": "1"}):
        r = _market(plane, alice, **query)
        assert r.status_code == 400 and r.headers["X-Basis-Gateway"] == "refused", (query, r.text)
        assert r.json()["detail"].endswith(".")
    r = httpx.get(gateway_url(plane) + "/market", headers=headers(alice, token="x"), timeout=10)
    assert r.status_code == 401 and r.headers["X-Basis-Gateway"] == "refused"
    r = httpx.post(gateway_url(plane) + "/market", headers=headers(alice), timeout=10)
    assert r.status_code == 405


def test_one_refresh_serves_many_bots(plane: ControlPlane, alice: SignedIn, bob: SignedIn) -> None:
    """200 ticks' worth of public reads (what would cost the address ~17,000 weight read directly, 14
    minutes of its budget) spend nothing beyond the gateway's own refreshes."""
    now_ms = int(time.time() * 1000)
    tick = [
        {"type": "metaAndAssetCtxs"},
        {"type": "predictedFundings"},
        {"type": "fundingHistory", "coin": "SOL", "startTime": now_ms - 86_400_000},
        {"type": "allMids"},
        {
            "type": "candleSnapshot",
            "req": {"coin": "SOL", "interval": "15m", "startTime": now_ms - 3_600_000},
        },
    ]
    spent_before = weight_spent_by(plane.dn)
    shares_before = [budget(plane, u)["tenant_spent"] for u in (alice, bob)]
    started = time.monotonic()
    direct_cost = 0
    with httpx.Client(timeout=30) as client:
        for i in range(100):
            for user in (alice, bob):
                for body in tick:
                    r = client.post(
                        gateway_url(plane) + "/hyperliquid/info", json=body, headers=headers(user)
                    )
                    assert r.status_code == 200, (i, body, r.status_code, r.text)
                    direct_cost += 2 if body["type"] == "allMids" else 20 + len(r.json()) // 20
    elapsed = time.monotonic() - started
    spent_after = weight_spent_by(plane.dn)
    # The gateway's own refreshes over the run: about 430 weight a minute, whatever the bots ask.
    allowed = plane.settings.gateway.refresh_cost() * (elapsed + 5) / 60 + 60
    assert spent_after - spent_before <= allowed, (spent_before, spent_after, elapsed)
    assert spent_after <= plane.settings.gateway.budget
    assert direct_cost > 10 * plane.settings.gateway.weight_per_minute
    assert [budget(plane, u)["tenant_spent"] for u in (alice, bob)] == shares_before
    print(
        f"\n1000 reads in {elapsed:.1f} s: direct {direct_cost} weight, gateway {spent_after - spent_before}"
    )


# ---------------------------------------------------------------------- the tenant's own account
def test_user_reads_are_forwarded_for_the_tenants_own_address_only(
    plane: ControlPlane, alice: SignedIn, bob: SignedIn
) -> None:
    spent = budget(plane, alice)["tenant_spent"]
    for address in (
        alice.evm_address,
        alice.evm_address.lower(),
        alice.evm_address.upper().replace("0X", "0x"),
    ):
        r = info(plane, alice, {"type": "clearinghouseState", "user": address})
        age, _ = age_of(r)
        assert (
            age <= 1
            and r.json()["marginSummary"]
            == direct(plane, {"type": "clearinghouseState", "user": alice.evm_address})["marginSummary"]
        )
    assert budget(plane, alice)["tenant_spent"] == spent + 3 * 2  # clearinghouseState weighs 2
    r = info(plane, alice, {"type": "clearinghouseState", "user": bob.evm_address})
    assert r.status_code == 403 and r.headers["X-Basis-Gateway"] == "refused"
    assert r.json()["detail"].endswith(".") and bob.evm_address.lower() not in r.text.lower()
    view = budget(plane, alice)
    assert set(view) == {
        "weight_per_minute",
        "budget",
        "spent",
        "refresh_reserve",
        "exchange_reserve",
        "share",
        "tenant_spent",
        "tenant_credit",
    }
    assert view["weight_per_minute"] == 1200 and view["budget"] == 960 and 0 < view["share"] < 960


# ---------------------------------------------------------------------- orders
def signed_order(wallet: Any, px: str, nonce: int) -> dict[str, Any]:
    action = {
        "type": "order",
        "orders": [{"a": SOL, "b": True, "p": px, "s": "0.5", "r": False, "t": {"limit": {"tif": "Gtc"}}}],
        "grouping": "na",
    }
    signature = signing.sign_l1_action(wallet, action, None, nonce, None, False)
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }


def test_an_order_signed_in_the_bot_is_forwarded_byte_for_byte(plane: ControlPlane, alice: SignedIn) -> None:
    wallet = Account.create()
    plane.dn.faucet("hyperliquid", "USDC", wallet.address, "1000")
    mid = float(direct(plane, {"type": "allMids"})["SOL"])
    # The price as the SDKs write it (no trailing zero): the venue hashes that form.
    body = signed_order(wallet, signing.float_to_wire(round(mid * 0.9, 2)), int(time.time() * 1000))
    # Laid out as no serializer of ours would: any change on the way would break the signature's
    # recovery (the venue would see another signer) or the venue's reading.
    raw = json.dumps(body, indent=3, sort_keys=True).encode()
    url = gateway_url(plane) + "/hyperliquid/exchange"
    r = httpx.post(url, content=raw, headers=headers(alice), timeout=30)
    assert r.status_code == 200, r.text
    status = r.json()["response"]["data"]["statuses"][0]
    oid = status["resting"]["oid"]
    orders = direct(plane, {"type": "openOrders", "user": wallet.address})
    assert [o["oid"] for o in orders] == [oid]  # the signer's own order, as it signed it
    # The same bytes again: the venue's own refusal of a used nonce, passed back unchanged.
    again = httpx.post(url, content=raw, headers=headers(alice), timeout=30)
    straight = httpx.post(plane.dn.url("hyperliquid") + "/exchange", content=raw, timeout=30)
    assert (again.status_code, again.json()) == (straight.status_code, straight.json())
    assert again.json()["status"] == "err"
    # No credentials: nothing forwarded.
    px = signing.float_to_wire(round(mid * 0.8, 2))
    fresh = json.dumps(signed_order(wallet, px, int(time.time() * 1000) + 7)).encode()
    r = httpx.post(url, content=fresh, headers=headers(alice, token="wrong"), timeout=30)
    assert r.status_code == 401 and r.headers["X-Basis-Gateway"] == "refused"
    assert len(direct(plane, {"type": "openOrders", "user": wallet.address})) == 1


# ---------------------------------------------------------------------- bad input
BAD_INFO = [
    b"not json",
    b"[]",
    b'"clearinghouseState"',
    b'{"type": 5}',
    b'{"no": "type"}',
    b'{"type": "allMids", "type": "clearinghouseState"}',
    b'{"type": "allMids", "x": NaN}',
    b"[" * 60_000,
    b'{"type": "\xff"}',
    b"",
]


def test_bad_bodies_get_a_sentence_never_a_500(plane: ControlPlane, alice: SignedIn) -> None:
    for raw in BAD_INFO:
        r = info(plane, alice, None, content=raw)
        assert r.status_code == 400, (raw[:40], r.status_code, r.text)
        assert r.headers["X-Basis-Gateway"] == "refused" and r.json()["detail"].endswith(".")
    r = info(plane, alice, None, content=b'{"type": "allMids", "pad": "' + b"x" * 70_000 + b'"}')
    assert r.status_code == 413 and r.json()["detail"]
    # A well-formed request the venue cannot read: the venue's own answer, passed back.
    r = info(plane, alice, {"type": "nonsense"})
    assert r.status_code == 422
    for raw in (b"nope", b"{}", b'{"action": 3}', b"[1]"):
        r = httpx.post(gateway_url(plane) + "/hyperliquid/exchange", content=raw, headers=headers(alice))
        assert r.status_code == 400 and r.headers["X-Basis-Gateway"] == "refused", r.text
    r = httpx.get(gateway_url(plane) + "/hyperliquid/info", headers=headers(alice))
    assert r.status_code == 405 and r.json()["detail"]
    r = httpx.get(gateway_url(plane) + "/nothing", headers=headers(alice))
    assert r.status_code == 404 and r.json()["detail"]
    for hdrs in (
        {},
        headers(alice, token="x"),
        headers(alice, tenant="t-nobody"),
        {"Authorization": "Basic x"},
    ):
        r = httpx.post(gateway_url(plane) + "/hyperliquid/info", json={"type": "allMids"}, headers=hdrs)
        assert r.status_code == 401 and r.headers["X-Basis-Gateway"] == "refused"
    # The gateway is not on the public listener.
    r = httpx.post(
        plane.url + "/gateway/v1/hyperliquid/info", json={"type": "allMids"}, headers=headers(alice)
    )
    assert r.status_code == 404
    assert "Traceback" not in plane.logs()


# ---------------------------------------------------------------------- fair shares (spends alice's share)
def test_a_greedy_tenant_gets_stale_answers_or_429_while_a_quiet_one_reads_fresh(
    plane: ControlPlane, alice: SignedIn, bob: SignedIn
) -> None:
    own = {"type": "clearinghouseState", "user": alice.evm_address}
    age_of(info(plane, alice, own))
    refused_at = None
    for i in range(2000):
        r = info(plane, alice, own)
        _, observed = age_of(r)
        if observed < int(time.time() * 1000) - 1500:  # an answer older than this request: stale
            refused_at = i
            break
    assert refused_at is not None and refused_at < 400, refused_at
    view = budget(plane, alice)  # alone so far: half the pool less the heavy-read headroom (one share
    # kept for a newcomer)
    pool = 960 - view["refresh_reserve"] - view["exchange_reserve"]
    share = (pool - plane.settings.gateway.heavy_read_weight) // 2
    assert view["share"] == share and share - 2 <= view["tenant_spent"] <= share
    # A request alice has no answer to keep: 429 with Retry-After, said by the gateway.
    r = info(plane, alice, {"type": "openOrders", "user": alice.evm_address})
    assert r.status_code == 429 and r.headers["X-Basis-Gateway"] == "refused"
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and r.json()["detail"]
    # Bob, quiet so far, reads his own account fresh, several times, while alice is held back.
    for _ in range(5):
        asked_ms = int(time.time() * 1000)
        r = info(plane, bob, {"type": "clearinghouseState", "user": bob.evm_address})
        _, observed = age_of(r)
        assert observed >= asked_ms
    time.sleep(1.2)  # the scenario: alice's cached answer grows over a second old
    r = info(plane, alice, own)
    age, observed = age_of(r)
    assert age >= 1 and observed < int(time.time() * 1000) - 1000  # honest: the age says it is stale
    assert budget(plane, bob)["share"] < view["share"]  # now two active tenants share the pool
    # The address stayed within the gateway's budget: the venue never had to refuse it.
    assert weight_spent_by(plane.dn) <= plane.settings.gateway.budget


# ---------------------------------------------------------------------- the venue gone (last: stops it)
def test_with_the_venue_gone_orders_say_nothing_was_sent_and_cached_reads_show_their_age(
    plane: ControlPlane, bob: SignedIn
) -> None:
    plane.dn.stop()
    time.sleep(1.5)  # the scenario: the last answers age past a second with no venue to refresh them
    r = httpx.post(
        gateway_url(plane) + "/hyperliquid/exchange",
        content=b'{"action": {"type": "order", "orders": []}, "nonce": 1}',
        headers=headers(bob),
        timeout=30,
    )
    assert r.status_code == 502 and r.headers["X-Basis-Gateway"] == "unreachable" and r.json()["detail"]
    r = info(plane, bob, {"type": "metaAndAssetCtxs"})
    age, _ = age_of(r)
    assert age >= 1  # the last answer, honestly aged: the bot decides it is too old to trade on
    r = info(plane, bob, {"type": "l2Book", "coin": "SOL"})  # never read: nothing to fall back on
    assert r.status_code == 502 and r.headers["X-Basis-Gateway"] == "unreachable"
    # Bob's own account: the last answer he had, aged.
    age, _ = age_of(info(plane, bob, {"type": "clearinghouseState", "user": bob.evm_address}))
    assert age >= 1
