"""Hyperliquid's websocket on the devnet: the official SDK's subscriptions work unchanged, every
feed's first message and a push after a state change, ping, posts, bad messages, and the venue's
per-IP websocket limits (each client address has its own: 127.0.0.2, 127.0.0.3 ... on loopback).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import eth_account
import httpx
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.signing import (
    get_timestamp_ms,
    order_request_to_order_wire,
    order_wires_to_order_action,
    sign_l1_action,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from devnet.hyperliquid import limits
from devnet.hyperliquid.history import INTERVALS_MS
from tests.support.devnet import VENUE_HYPERLIQUID_WEIGHT, DevnetProcess, start_devnet
from tests.support.sdk_schemas import check_answers

pytestmark = pytest.mark.devnet

USER_FEEDS = ("userFills", "userEvents", "orderUpdates", "userFundings", "webData2")
INTERVALS = tuple(INTERVALS_MS)


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["hyperliquid"], speed=1.0, hyperliquid_weight=VENUE_HYPERLIQUID_WEIGHT)
    yield process
    process.stop()


def ws_url(dn: DevnetProcess) -> str:
    return "ws" + dn.url("hyperliquid")[4:] + "/ws"


def open_socket(dn: DevnetProcess, ip: str = "127.0.0.1") -> ClientConnection:
    """A raw connection from `ip` (a loopback address of its own), past the venue's greeting."""
    # Connected directly (legacy=True): the tests hold many sockets at once and close them themselves.
    ws = connect(ws_url(dn), source_address=(ip, 0), open_timeout=10, legacy=True)
    assert ws.recv(timeout=10) == "Websocket connection established."
    return ws


def ask(ws: ClientConnection, message: dict[str, Any] | str) -> Any:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv(timeout=10))


def wait_for(predicate: Callable[[], bool], what: str | Callable[[], str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


class Recorder:
    """Messages an SDK callback received, per subscription."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: dict[str, list[dict[str, Any]]] = {}

    def callback(self, name: str) -> Callable[[Any], None]:
        def receive(message: Any) -> None:
            with self.lock:
                self.got.setdefault(name, []).append(message)

        return receive

    def of(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.got.get(name, []))


def test_the_official_sdk_subscribes_unchanged_and_gets_pushes(dn: DevnetProcess) -> None:
    url = dn.url("hyperliquid")
    wallet = eth_account.Account.create()
    user = wallet.address.lower()
    dn.faucet("hyperliquid", "USDC", user, "2000")
    info = Info(url, skip_ws=False)
    seen = Recorder()
    subscriptions: dict[str, Any] = {
        "allMids": {"type": "allMids"},
        "l2Book": {"type": "l2Book", "coin": "SOL"},
        "candle": {"type": "candle", "coin": "SOL", "interval": "1m"},
        "activeAssetCtx": {"type": "activeAssetCtx", "coin": "SOL"},
        **{kind: {"type": kind, "user": wallet.address} for kind in USER_FEEDS},
    }
    try:
        for name, subscription in subscriptions.items():
            info.subscribe(subscription, seen.callback(name))
        first = ("allMids", "l2Book", "candle", "activeAssetCtx", "userFills", "userFundings", "webData2")
        wait_for(
            lambda: all(seen.of(n) for n in first), lambda: f"every first message (got {sorted(seen.got)})"
        )
        assert seen.of("userFills")[0]["data"] == {"isSnapshot": True, "user": user, "fills": []}
        assert seen.of("userFundings")[0]["data"]["isSnapshot"] is True
        assert seen.of("l2Book")[0]["data"]["coin"] == "SOL"
        assert seen.of("activeAssetCtx")[0]["data"]["coin"] == "SOL"
        assert "SOL" in seen.of("allMids")[0]["data"]["mids"]
        assert seen.of("webData2")[0]["data"]["clearinghouseState"]["assetPositions"] == []
        assert not seen.of("userEvents") and not seen.of("orderUpdates")  # no snapshot for these two

        # A trade: the fills, the order's status and the account's view are pushed.
        exchange = Exchange(wallet, url)
        assert exchange.market_open("SOL", False, 1.0)["status"] == "ok"
        wait_for(lambda: len(seen.of("userFills")) >= 2, "the fill pushed on userFills")
        pushed = seen.of("userFills")[1]["data"]
        assert "isSnapshot" not in pushed and pushed["user"] == user
        assert [(f["coin"], f["side"], f["sz"]) for f in pushed["fills"]] == [("SOL", "A", "1.0")]
        wait_for(lambda: bool(seen.of("userEvents")), "the fill pushed on userEvents")
        assert seen.of("userEvents")[0]["channel"] == "user"
        assert seen.of("userEvents")[0]["data"]["fills"][0]["tid"] == pushed["fills"][0]["tid"]
        wait_for(lambda: bool(seen.of("orderUpdates")), "the order's status on orderUpdates")
        assert seen.of("orderUpdates")[0]["data"][0]["status"] == "filled"
        wait_for(
            lambda: any(m["data"]["clearinghouseState"]["assetPositions"] for m in seen.of("webData2")),
            "the short in webData2",
        )

        # A price move (the market steps as simulated time passes): mids and the book are pushed.
        mids_before, books_before = len(seen.of("allMids")), len(seen.of("l2Book"))
        dn.scenario("flash_crash")
        dn.advance(seconds=180)
        wait_for(lambda: len(seen.of("allMids")) > mids_before, "allMids pushed after the market moved")
        wait_for(lambda: len(seen.of("l2Book")) > books_before, "l2Book pushed after the market moved")
        assert seen.of("allMids")[-1]["data"]["mids"]["SOL"] != seen.of("allMids")[0]["data"]["mids"]["SOL"]

        # A funding settlement: the payment is pushed on userFundings and userEvents.
        dn.advance(hours=1)
        wait_for(lambda: len(seen.of("userFundings")) >= 2, "the funding payment on userFundings")
        payment = seen.of("userFundings")[1]["data"]
        assert "isSnapshot" not in payment and payment["fundings"][0]["coin"] == "SOL"
        assert payment["fundings"][0]["szi"] == "-1.0"
        wait_for(lambda: any("funding" in m["data"] for m in seen.of("userEvents")), "funding on userEvents")
    finally:
        info.disconnect_websocket()


def test_every_message_has_the_shape_of_the_sdk_schemas(dn: DevnetProcess) -> None:
    """Each feed's messages checked against @nktkas/hyperliquid's subscription event schemas."""
    url = dn.url("hyperliquid")
    wallet = eth_account.Account.create()
    dn.faucet("hyperliquid", "USDC", wallet.address, "2000")
    exchange = Exchange(wallet, url)
    exchange.approve_agent()  # webData2 shows the unnamed agent
    exchange.usd_class_transfer(5.0, False)  # and a spot balance
    ws = open_socket(dn)
    feeds = {
        "allMids": {"type": "allMids"},
        "l2Book": {"type": "l2Book", "coin": "SOL", "nSigFigs": 5, "mantissa": 2},
        "candle": {"type": "candle", "coin": "SOL", "interval": "15m"},
        "activeAssetCtx": {"type": "activeAssetCtx", "coin": "SOL"},
        "clearinghouseState": {"type": "clearinghouseState", "user": wallet.address},
        **{kind: {"type": kind, "user": wallet.address} for kind in USER_FEEDS},
    }
    channel_of = {"userEvents": "user"}
    for subscription in feeds.values():
        ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))
    exchange.market_open("SOL", False, 1.0)
    exchange.order("SOL", True, 0.5, 100.0, {"limit": {"tif": "Gtc"}})
    dn.advance(hours=1)
    wanted = {channel_of.get(k, k): k for k in feeds}
    got: dict[str, list[Any]] = {}

    def complete() -> bool:
        # A first message of every feed, and a push after it on the event feeds with a snapshot.
        return all(got.get(k) for k in feeds) and all(len(got[k]) >= 2 for k in ("userFills", "userFundings"))

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not complete():
        message = json.loads(ws.recv(timeout=20))
        if message["channel"] in wanted:
            got.setdefault(wanted[message["channel"]], []).append(message["data"])
    ws.close()
    assert set(got) == set(feeds), f"no message on {set(feeds) - set(got)}"
    answers = [(f"ws:{kind}", data) for kind, messages in got.items() for data in messages]
    wrong = [
        f"{t}: {v['issues']} {v['unknown']}"
        for (t, _), v in zip(answers, check_answers(answers), strict=True)
        if not v["ok"]
    ]
    assert not wrong, "\n".join(wrong)
    # Not vacuous: a fill push without its user fails.
    fills = next(data for kind, data in answers if kind == "ws:userFills")
    assert not check_answers([("ws:userFills", {k: v for k, v in fills.items() if k != "user"})])[0]["ok"]


def test_ping_bad_messages_and_subscription_errors(dn: DevnetProcess) -> None:
    ws = open_socket(dn, "127.0.0.20")
    assert ask(ws, {"method": "ping"}) == {"channel": "pong"}
    assert ask(ws, "not json") == {
        "channel": "error",
        "data": "Error parsing JSON into valid websocket request: not json",
    }
    assert ask(ws, {"method": "dance"})["data"].startswith(
        "Error parsing JSON into valid websocket request: "
    )
    assert ask(ws, [1, 2])["channel"] == "error"
    sub = {"type": "l2Book", "coin": "NOPE"}
    assert ask(ws, {"method": "subscribe", "subscription": sub}) == {
        "channel": "error",
        "data": 'Invalid subscription: {"type":"l2Book","coin":"NOPE"}',
    }
    bad_user = {"type": "userFills", "user": "0x12"}
    assert ask(ws, {"method": "subscribe", "subscription": bad_user})["data"].startswith(
        "Invalid subscription"
    )
    sub = {"type": "allMids"}
    assert ask(ws, {"method": "subscribe", "subscription": sub})["channel"] == "subscriptionResponse"
    ws.recv(timeout=10)  # the mids
    assert (
        ask(ws, {"method": "subscribe", "subscription": sub})["data"]
        == 'Already subscribed: {"type":"allMids"}'
    )
    assert ask(ws, {"method": "unsubscribe", "subscription": sub}) == {
        "channel": "subscriptionResponse",
        "data": {"method": "unsubscribe", "subscription": sub},
    }
    assert (
        ask(ws, {"method": "unsubscribe", "subscription": sub})["data"]
        == 'Already unsubscribed: {"type":"allMids"}'
    )
    assert ask(ws, {"method": "ping"}) == {"channel": "pong"}  # none of it closed the connection
    ws.close()
    assert httpx.get(dn.admin_url + "/health", timeout=5).status_code == 200


def test_post_info_and_a_signed_order(dn: DevnetProcess) -> None:
    url = dn.url("hyperliquid")
    wallet = eth_account.Account.create()
    dn.faucet("hyperliquid", "USDC", wallet.address, "1000")
    ws = open_socket(dn, "127.0.0.21")
    book = ask(
        ws,
        {
            "method": "post",
            "id": 7,
            "request": {"type": "info", "payload": {"type": "l2Book", "coin": "SOL"}},
        },
    )
    assert book["channel"] == "post" and book["data"]["id"] == 7
    assert book["data"]["response"]["type"] == "info"
    assert book["data"]["response"]["payload"]["type"] == "l2Book"
    assert book["data"]["response"]["payload"]["data"]["coin"] == "SOL"

    # An order signed as the SDK signs it, sent over the socket.
    mid = float(httpx.post(url + "/info", json={"type": "allMids"}, timeout=5).json()["SOL"])
    price = float(f"{mid * 0.9:.5g}")
    wire = order_request_to_order_wire(
        {
            "coin": "SOL",
            "is_buy": True,
            "sz": 0.2,
            "limit_px": round(price, 4),
            "order_type": {"limit": {"tif": "Gtc"}},
            "reduce_only": False,
        },
        5,
    )
    action = order_wires_to_order_action([wire])
    nonce = get_timestamp_ms()
    signature = sign_l1_action(wallet, action, None, nonce, None, False)
    payload = {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": None,
        "expiresAfter": None,
    }
    placed = ask(ws, {"method": "post", "id": 8, "request": {"type": "action", "payload": payload}})
    assert placed["data"]["id"] == 8 and placed["data"]["response"]["type"] == "action"
    status = placed["data"]["response"]["payload"]
    assert status["status"] == "ok", status
    oid = status["response"]["data"]["statuses"][0]["resting"]["oid"]
    opened = httpx.post(url + "/info", json={"type": "openOrders", "user": wallet.address}, timeout=5).json()
    assert [o["oid"] for o in opened] == [oid]
    # The same bytes again: the venue's refusal is an action answer, not an error.
    again = ask(ws, {"method": "post", "id": 9, "request": {"type": "action", "payload": payload}})
    assert again["data"]["response"]["payload"] == {
        "status": "err",
        "response": f"Invalid nonce: duplicate nonce {nonce}",
    }
    # A payload /info cannot read: the venue's parse error, the id lost.
    bogus = {"method": "post", "id": 10, "request": {"type": "info", "payload": {"type": "bogus"}}}
    assert ask(ws, bogus)["data"].startswith("Error parsing JSON into valid websocket request: ")
    assert ask(ws, {"method": "post", "id": "x", "request": {}})["channel"] == "error"
    ws.close()


def test_posts_spend_the_ips_rest_weight(dn: DevnetProcess) -> None:
    """A post info weighs what it weighs over HTTP, against the same 1,200 of the same address."""
    ws = open_socket(dn, "127.0.0.22")
    heavy = {"type": "info", "payload": {"type": "metaAndAssetCtxs"}}  # weight 20
    for n in range(VENUE_HYPERLIQUID_WEIGHT // 20):
        assert ask(ws, {"method": "post", "id": n, "request": heavy})["data"]["response"]["type"] == "info"
    refused = ask(ws, {"method": "post", "id": 999, "request": heavy})
    assert refused["data"] == {"id": 999, "response": {"type": "error", "payload": "429 Too Many Requests"}}
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.22")) as same_ip:
        assert same_ip.post(dn.url("hyperliquid") + "/info", json={"type": "allMids"}).status_code == 429
    other = open_socket(dn, "127.0.0.23")
    assert ask(other, {"method": "post", "id": 1, "request": heavy})["data"]["response"]["type"] == "info"
    ws.close()
    other.close()


def test_rest_weight_is_per_client_address(dn: DevnetProcess) -> None:
    url = dn.url("hyperliquid") + "/info"
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.24")) as first:
        for _ in range(VENUE_HYPERLIQUID_WEIGHT // 20):
            assert first.post(url, json={"type": "meta"}).status_code == 200
        refused = first.post(url, json={"type": "meta"})
        assert (refused.status_code, refused.text) == (429, "null")
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.25")) as second:
        assert second.post(url, json={"type": "meta"}).status_code == 200


def test_connections_per_address(dn: DevnetProcess) -> None:
    held = [open_socket(dn, "127.0.0.30") for _ in range(limits.WS_CONNECTIONS)]
    with pytest.raises(InvalidStatus) as refused:
        open_socket(dn, "127.0.0.30")
    assert refused.value.response.status_code == 429
    assert b"Too many websocket connections" in (refused.value.response.body or b"")
    other = open_socket(dn, "127.0.0.31")  # another address has its own allowance
    assert ask(other, {"method": "ping"}) == {"channel": "pong"}
    for ws in [*held, other]:
        ws.close()


def test_new_connections_per_minute_per_address(dn: DevnetProcess) -> None:
    for _ in range(limits.WS_NEW_CONNECTIONS_PER_MINUTE):
        open_socket(dn, "127.0.0.32").close()
    with pytest.raises(InvalidStatus) as refused:
        open_socket(dn, "127.0.0.32")  # none open, but 30 opened this minute
    assert refused.value.response.status_code == 429
    open_socket(dn, "127.0.0.33").close()


def test_subscriptions_per_address(dn: DevnetProcess) -> None:
    """1,000 across the address's connections (distinct feeds per connection, so ten of them)."""
    coins = ("BTC", "ETH", "ATOM", "DYDX", "SOL")  # the listed ones (MATIC is delisted)
    market: list[dict[str, Any]] = [
        {"type": "candle", "coin": c, "interval": i} for c in coins for i in INTERVALS
    ]
    market += [{"type": "l2Book", "coin": c, "nSigFigs": n} for c in coins for n in (None, 2, 3, 4, 5)]
    market += [{"type": "l2Book", "coin": c, "nSigFigs": 5, "mantissa": m} for c in coins for m in (2, 5)]
    market += [{"type": "activeAssetCtx", "coin": c} for c in coins]
    per_socket = limits.WS_SUBSCRIPTIONS // limits.WS_CONNECTIONS
    assert len(market) >= per_socket
    sockets = [open_socket(dn, "127.0.0.34") for _ in range(limits.WS_CONNECTIONS)]
    for ws in sockets:
        for sub in market[:per_socket]:
            ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
    for ws in sockets:
        answered = 0
        while answered < per_socket:
            if json.loads(ws.recv(timeout=30))["channel"] == "subscriptionResponse":
                answered += 1
    refused = ask_until(sockets[0], {"method": "subscribe", "subscription": market[per_socket]}, "error")
    assert refused["data"] == "Cannot subscribe to more than 1000 channels."
    other = open_socket(dn, "127.0.0.35")
    assert ask_until(other, {"method": "subscribe", "subscription": market[0]}, "subscriptionResponse")
    for ws in [*sockets, other]:
        ws.close()


def test_users_per_address(dn: DevnetProcess) -> None:
    users = [eth_account.Account.create().address for _ in range(limits.WS_USERS + 1)]
    ws = open_socket(dn, "127.0.0.36")
    for user in users[:-1]:
        ask_until(
            ws,
            {"method": "subscribe", "subscription": {"type": "orderUpdates", "user": user}},
            "subscriptionResponse",
        )
    eleventh = {"method": "subscribe", "subscription": {"type": "userEvents", "user": users[-1]}}
    assert ask_until(ws, eleventh, "error")["data"] == "Cannot track more than 10 total users."
    # Another feed of a user already tracked takes no user slot.
    again = {"method": "subscribe", "subscription": {"type": "userEvents", "user": users[0]}}
    assert ask_until(ws, again, "subscriptionResponse")
    # Unsubscribing frees the user's slot.
    for kind in ("orderUpdates", "userEvents"):
        ask_until(
            ws,
            {"method": "unsubscribe", "subscription": {"type": kind, "user": users[0]}},
            "subscriptionResponse",
        )
    assert ask_until(ws, eleventh, "subscriptionResponse")
    other = open_socket(dn, "127.0.0.37")
    assert ask_until(
        other,
        {"method": "subscribe", "subscription": {"type": "userEvents", "user": users[0]}},
        "subscriptionResponse",
    )
    ws.close()
    other.close()


def test_messages_per_minute_per_address(dn: DevnetProcess) -> None:
    ws = open_socket(dn, "127.0.0.38")
    ping = json.dumps({"method": "ping"})
    for _ in range(limits.WS_MESSAGES_PER_MINUTE):
        ws.send(ping)
    for _ in range(limits.WS_MESSAGES_PER_MINUTE):
        assert json.loads(ws.recv(timeout=30)) == {"channel": "pong"}
    assert ask(ws, {"method": "ping"}) == {
        "channel": "error",
        "data": "Cannot send more than 2000 messages per minute.",
    }
    other = open_socket(dn, "127.0.0.39")
    assert ask(other, {"method": "ping"}) == {"channel": "pong"}
    ws.close()
    other.close()


def test_posts_in_flight_per_address(dn: DevnetProcess) -> None:
    """Posts stay in flight while the venue is slow (the latency fault): the 101st is refused."""
    dn.faults("hyperliquid", latency_ms=4000)
    try:
        sockets = [open_socket(dn, "127.0.0.40") for _ in range(2)]
        request = {"type": "info", "payload": {"type": "allMids"}}
        for n in range(limits.WS_INFLIGHT_POSTS):
            sockets[n % 2].send(json.dumps({"method": "post", "id": n, "request": request}))
        refused = ask(sockets[0], {"method": "post", "id": 1234, "request": request})
        assert refused == {"channel": "error", "data": "too many pending post requests id=1234"}
        other = open_socket(dn, "127.0.0.41")
        other.send(json.dumps({"method": "post", "id": 1, "request": request}))
        answered = json.loads(other.recv(timeout=15))
        assert answered["channel"] == "post" and answered["data"]["id"] == 1
        # Every post in flight is answered once the venue replies.
        ids = set()
        for ws in sockets:
            while len([i for i in ids if i % 2 == sockets.index(ws)]) < limits.WS_INFLIGHT_POSTS // 2:
                message = json.loads(ws.recv(timeout=15))
                assert message["channel"] == "post"
                ids.add(message["data"]["id"])
        assert ids == set(range(limits.WS_INFLIGHT_POSTS))
        for ws in [*sockets, other]:
            ws.close()
    finally:
        dn.faults("hyperliquid", latency_ms=0)


def ask_until(ws: ClientConnection, message: dict[str, Any], channel: str) -> dict[str, Any]:
    """Send `message` and read until a message on `channel` (skipping the feeds' data)."""
    ws.send(json.dumps(message))
    while True:
        got = json.loads(ws.recv(timeout=30))
        if got["channel"] == channel:
            return got  # type: ignore[no-any-return]
        assert got["channel"] not in ("error", "subscriptionResponse"), got
