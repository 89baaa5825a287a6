"""The websocket's subscriptions: what each one is, its first message, and what it pushes next.

Every message is rendered from the same answers /info gives (InfoService), so one fact is computed
once. Formats as on the venue (gitbook "Websocket" → "Subscriptions"; the official SDK's
`hyperliquid/utils/types.py` and `websocket_manager.py`; @nktkas/hyperliquid's subscription
schemas, checked in tests/integration/devnet/test_hyperliquid_ws.py):

- allMids → channel allMids, `{"mids": {...}}`, pushed when a mid moves;
- l2Book {coin, nSigFigs?, mantissa?} → the l2Book answer, pushed when a level moves;
- candle {coin, interval} → the current candle (a bare object), pushed when it changes;
- activeAssetCtx {coin} → `{"coin", "ctx"}` (ctx: the metaAndAssetCtxs entry), on change;
- clearinghouseState {user, dex?} → `{"dex": "", "user", "clearinghouseState"}`, on change;
- webData2 {user} → the account's web view (clearinghouseState, frontend open orders, meta,
  asset contexts, agent, ...; `spotState` only when the account holds spot USDC), on change;
- userFills {user, aggregateByTime?} → first `{"isSnapshot": true, "user", "fills"}` (the
  userFills answer), then each batch of new fills without `isSnapshot`;
- userFundings {user} → first `{"isSnapshot": true, "user", "fundings"}`, then new payments;
- userEvents {user} → channel `user`, no snapshot: `{"fills": [...]}`, `{"funding": {...}}`;
- orderUpdates {user} → no snapshot: `[{"order", "status", "statusTimestamp"}]` on each change.

Choices where the venue is not documented: a snapshot feed is pushed when its content changed
since the last push to that subscriber (the venue coalesces per block); `orderUpdates` sends one
row per order per push, its latest status; `userEvents` sends a message per kind. A third-party
capture reports that the live socket now refuses `webData2` for `webData3`; the devnet keeps
`webData2`, which the official SDK still ships.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.history import INTERVALS_MS, KEEP_CANDLES
from devnet.hyperliquid.info import InfoService
from devnet.hyperliquid.wire import ZERO, fmt_usd, is_address

# Subscriptions that name a user (they count against the 10 users an IP may track).
USER_FEEDS = frozenset(
    {"userEvents", "userFills", "orderUpdates", "userFundings", "webData2", "clearinghouseState"}
)
MARKET_FEEDS = frozenset({"allMids", "l2Book", "candle", "activeAssetCtx"})
# Feeds of events (fills, payments, order changes); the others are snapshots of a state.
EVENT_FEEDS = frozenset({"userFills", "userFundings", "userEvents", "orderUpdates"})
CHANNEL = {"userEvents": "user"}  # the others push on the channel named as the subscription


class InvalidSubscription(Exception):
    """Not a subscription the venue knows, or a field of the wrong kind."""


@dataclass(frozen=True)
class Feed:
    """One subscription, normalised: `key` tells two equal subscriptions apart from others."""

    kind: str
    key: str
    user: str | None
    coin: str | None
    params: dict[str, Any]

    @property
    def channel(self) -> str:
        return CHANNEL.get(self.kind, self.kind)


def parse(subscription: Any, ex: HyperliquidExchange) -> Feed:
    """The feed a `subscription` object asks for; raises InvalidSubscription."""
    if not isinstance(subscription, dict):
        raise InvalidSubscription()
    kind = subscription.get("type")
    if kind not in USER_FEEDS and kind not in MARKET_FEEDS:
        raise InvalidSubscription()
    user = None
    if kind in USER_FEEDS:
        raw = subscription.get("user")
        if not is_address(raw):
            raise InvalidSubscription()
        user = str(raw).lower()
        if subscription.get("dex") not in (None, ""):
            raise InvalidSubscription()  # only the first perp dex exists on the devnet
    coin = None
    params: dict[str, Any] = {}
    if kind in ("l2Book", "candle", "activeAssetCtx"):
        coin = subscription.get("coin")
        if not isinstance(coin, str) or coin not in ex.by_name:
            raise InvalidSubscription()
    if kind == "l2Book":
        n_sig, mantissa = subscription.get("nSigFigs"), subscription.get("mantissa")
        bad_mantissa = mantissa is not None and (mantissa not in (1, 2, 5) or n_sig != 5)
        if n_sig not in (None, 2, 3, 4, 5) or bad_mantissa:
            raise InvalidSubscription()
        params = {"nSigFigs": n_sig, "mantissa": mantissa}
    if kind == "candle":
        if subscription.get("interval") not in INTERVALS_MS:
            raise InvalidSubscription()
        params = {"interval": subscription["interval"]}
    key = json.dumps([kind, user, coin, params], separators=(",", ":"))
    return Feed(kind, key, user, coin, params)


@dataclass
class Cursor:
    """Where one subscriber is in a feed: the last snapshot sent, the last event seen."""

    last: bytes | None = None
    fill_tid: int = -1
    funding_time: int = -1
    order_seq: int = 0


class Feeds:
    """Renders feeds from the exchange's state, through the /info answers."""

    def __init__(self, ex: HyperliquidExchange, info: InfoService) -> None:
        self.ex = ex
        self.info = info

    def _ask(self, request: dict[str, Any]) -> Any:
        return json.loads(self.info.handle(json.dumps(request).encode()))

    # ------------------------------------------------------------------ snapshot feeds
    def state(self, feed: Feed) -> Any:
        """The current content of a snapshot feed (None for event feeds)."""
        kind = feed.kind
        if kind == "allMids":
            return {"mids": self._ask({"type": "allMids"})}
        if kind == "l2Book":
            return self._ask({"type": "l2Book", "coin": feed.coin, **feed.params})
        if kind == "candle":
            return self._candle(feed)
        if kind == "activeAssetCtx":
            meta, ctxs = self._ask({"type": "metaAndAssetCtxs"})
            index = next(i for i, a in enumerate(meta["universe"]) if a["name"] == feed.coin)
            return {"coin": feed.coin, "ctx": ctxs[index]}
        if kind == "clearinghouseState":
            state = self._ask({"type": "clearinghouseState", "user": feed.user})
            return {"dex": "", "user": feed.user, "clearinghouseState": state}
        if kind == "webData2":
            return self._web_data(feed)
        return None

    def _candle(self, feed: Feed) -> Any:
        interval = feed.params["interval"]
        now, span = self.ex.now_ms(), INTERVALS_MS[interval]
        # The current candle, cheaply; the latest however old only when the last two have none.
        for start in (now - 2 * span, now - KEEP_CANDLES * span):
            req = {"coin": feed.coin, "interval": interval, "startTime": max(0, start)}
            candles = self._ask({"type": "candleSnapshot", "req": req})
            if candles:
                return candles[-1]
        return None

    def _web_data(self, feed: Feed) -> dict[str, Any]:
        user = feed.user
        assert user is not None
        meta, ctxs = self._ask({"type": "metaAndAssetCtxs"})
        spot = self._ask({"type": "spotClearinghouseState", "user": user})
        with self.ex.lock:
            agent = self.ex.agents.unnamed(user)
            account = self.ex.accounts.get(user)
            cum_ledger = max(ZERO, account.net_deposits) if account is not None else ZERO
        data: dict[str, Any] = {
            "clearinghouseState": self._ask({"type": "clearinghouseState", "user": user}),
            "leadingVaults": [],
            "totalVaultEquity": "0.0",
            "openOrders": self._ask({"type": "frontendOpenOrders", "user": user}),
            "agentAddress": agent.address if agent is not None else None,
            "agentValidUntil": agent.valid_until if agent is not None else None,
            "cumLedger": fmt_usd(cum_ledger),
            "meta": meta,
            "assetCtxs": ctxs,
            "serverTime": self.ex.now_ms(),
            "isVault": False,
            "user": user,
            "twapStates": [],
            "spotAssetCtxs": [],
        }
        if spot["balances"]:
            data["spotState"] = spot  # absent for an account without spot balances, as it may be
        return data

    # ------------------------------------------------------------------ messages
    def first(self, feed: Feed, cursor: Cursor) -> list[Any]:
        """The data of the messages that follow the subscriptionResponse (perhaps none)."""
        if feed.kind in EVENT_FEEDS:
            return self._events(feed, cursor, snapshot=True)
        data = self.state(feed)
        return self._changed(data, cursor)

    def next(self, feed: Feed, cursor: Cursor, states: dict[str, Any]) -> list[Any]:
        """The data of the messages the feed pushes now (none when nothing changed).

        `states` caches each feed's content for one pass over the subscribers, so a feed many
        subscribe to is rendered once.
        """
        if feed.kind in EVENT_FEEDS:
            return self._events(feed, cursor, snapshot=False)
        if feed.key not in states:
            states[feed.key] = self.state(feed)
        return self._changed(states[feed.key], cursor)

    @staticmethod
    def _changed(data: Any, cursor: Cursor) -> list[Any]:
        if data is None:
            return []
        # Server times move on every read; the content is what tells a change.
        content = {k: v for k, v in data.items() if k not in ("time", "serverTime")}
        state = data.get("clearinghouseState")
        if isinstance(state, dict):
            content["clearinghouseState"] = {k: v for k, v in state.items() if k != "time"}
        digest = json.dumps(content, sort_keys=True).encode()
        if digest == cursor.last:
            return []
        cursor.last = digest
        return [data]

    def _events(self, feed: Feed, cursor: Cursor, *, snapshot: bool) -> list[Any]:
        user = feed.user
        assert user is not None
        with self.ex.lock:
            fills = self.ex.fills.get(user, [])
            fundings = self.ex.funding.get(user, [])
            new_fills = _after(fills, "tid", cursor.fill_tid)
            new_fundings = _after(fundings, "time", cursor.funding_time)
            if fills:
                cursor.fill_tid = fills[-1]["tid"]
            if fundings:
                cursor.funding_time = fundings[-1]["time"]
            cursor.order_seq, orders = self.ex.orders.updates_since(user, cursor.order_seq)
        kind = feed.kind
        if kind == "userFills":
            if snapshot:
                fills_sent = self._ask({"type": "userFills", "user": user})
                return [{"isSnapshot": True, "user": user, "fills": fills_sent}]
            return [{"user": user, "fills": new_fills}] if new_fills else []
        if kind == "userFundings":
            rows = [_funding_row(r) for r in (fundings[-500:] if snapshot else new_fundings)]
            if snapshot:
                return [{"isSnapshot": True, "user": user, "fundings": rows}]
            return [{"user": user, "fundings": rows}] if rows else []
        if snapshot:
            return []  # userEvents and orderUpdates have no snapshot: only what happens next
        if kind == "orderUpdates":
            return [orders] if orders else []
        out: list[Any] = []
        if new_fills:
            out.append({"fills": new_fills})
        for row in new_fundings:
            delta = row["delta"]
            out.append({"funding": {k: delta[k] for k in ("coin", "usdc", "szi", "fundingRate", "nSamples")}})
        return out


def _after(rows: list[dict[str, Any]], field_name: str, mark: int) -> list[dict[str, Any]]:
    """The rows whose `field_name` is past `mark` (rows are in increasing order of it)."""
    start = len(rows)
    while start > 0 and rows[start - 1][field_name] > mark:
        start -= 1
    return rows[start:]


def _funding_row(row: dict[str, Any]) -> dict[str, Any]:
    delta = row["delta"]
    return {
        "time": row["time"],
        "coin": delta["coin"],
        "usdc": delta["usdc"],
        "szi": delta["szi"],
        "fundingRate": delta["fundingRate"],
        "nSamples": delta["nSamples"],
    }
