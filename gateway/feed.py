"""The gateway's websocket feed: one connection to the venue's `/ws` (the URL derived as the official
SDK derives it, `config.ws_url`), leaving from the gateway's source address, whose pushes write the
cache entries the venue pushes (gateway/market.py) and the accounts the gateway follows
(gateway/accounts.py).

Subscriptions: `allMids` → the `allMids` entry; `activeAssetCtx` of the hedge coin → its context in
`metaAndAssetCtxs`; `candle` of the hedge coin per interval → its candle series; `clearinghouseState`
per followed account (at most the venue's 10 users per IP). An entry is *fed* (`fed(entry)`) once the
connection has delivered it: the Refresher then polls it less or not at all; from the moment the
connection is lost, or a pushed candle does not join its series, the entry is no longer fed and its
REST source takes over at once (gateway/market.py `Refresher`; the meter's refresh reserve follows).

What a pushed entry's observed-at means: the venue pushes a subscribed state when it changes, so a
state that does not change is not pushed again. A ping goes every `ping_seconds`; its pong, coming
back on the same connection after everything the venue pushed before it, confirms every state held
here as current at the ping's sending less `push_lag_seconds` (the venue's delay between a change and
its push). An entry's observed-at is the later of its push's arrival and that confirmation, so its Age
stays under ping + lag on a live connection (6 s by default) and grows from the moment the connection
is lost. A pong later than 2 × `ping_seconds` counts the connection dead: it is closed and replaced.

Limits (per IP, the venue's; devnet/hyperliquid/limits.py enforces them): one connection; a new one
at most `ws_new_connections_per_minute` times a minute, after a back-off from
`feed_reconnect_min_seconds` doubling to `feed_reconnect_max_seconds` (jittered), reset once a
connection stayed up a minute; at most `ws_messages_per_minute` messages sent (the subscriptions, one
ping per `ping_seconds`, and the followed accounts' changes, at most two per slot each rebalance).
After every reconnect the feed subscribes again to everything it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gateway.accounts import PushedAccounts, user_subscription
from gateway.config import GatewayConfig, Venues, candle_entry, ws_url
from gateway.market import ASSET_CTXS, MarketCache, Snapshot, candle_key, confirm_series, put_candle
from shared.logging import get_logger

log = get_logger("gateway.feed")

WINDOW_S = 60.0
STABLE_S = 60.0  # a connection up this long resets the back-off
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # allMids on mainnet is tens of KiB; room for growth
OPEN_TIMEOUT_S = 10.0


class FeedStalled(Exception):
    """The venue did not answer a ping in time."""


# How a connection ends when the venue or the network goes away (anything else is a bug, logged).
EXPECTED = (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, TimeoutError, FeedStalled)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Feed:
    def __init__(
        self,
        config: GatewayConfig,
        venues: Venues,
        cache: MarketCache,
        accounts: PushedAccounts,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.config = config
        self.url = ws_url(venues.hyperliquid_url)
        self.cache = cache
        self.accounts = accounts
        self._now_ms = now_ms
        coin = config.hedge_coin
        # subscription → the entry it feeds
        self.market: list[tuple[dict[str, Any], str]] = [
            ({"type": "allMids"}, "allMids"),
            ({"type": "activeAssetCtx", "coin": coin}, ASSET_CTXS),
            *(
                ({"type": "candle", "coin": coin, "interval": i}, candle_entry(i))
                for i in config.candle_intervals
            ),
        ]
        self._fed: dict[str, int] = {}  # entry → when its last push arrived (unix ms), this connection
        self._mids: bytes | None = None
        self._ctx: dict[str, Any] | None = None
        self._candles: dict[str, dict[str, Any]] = {}  # entry → the last candle pushed
        self._pings: deque[int] = deque()  # unix ms each unanswered ping was sent
        self._opened: deque[float] = deque()  # when each connection was opened (monotonic)
        self._sent: deque[float] = deque()  # when each message was sent (monotonic)
        self._ws: ClientConnection | None = None
        self.connected = False
        self.connections = 0  # opened since start (for the logs and tests)

    def fed(self, entry: str) -> bool:
        """Whether the connection carries `entry` now (its REST refresh then polls less or not at all)."""
        return self.connected and entry in self._fed

    # ------------------------------------------------------------------ the connection's life
    async def run(self, stop: asyncio.Event) -> None:
        """Keep one connection open until `stop` is set, reconnecting with back-off."""
        delay = self.config.feed_reconnect_min_seconds
        failing = False
        while not stop.is_set():
            await self._connection_slot(stop)
            if stop.is_set():
                break
            opened, count = time.monotonic(), self.connections
            session = asyncio.create_task(self._session())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            error: BaseException | None = None
            if session.done() and not session.cancelled():
                error = session.exception()
            else:
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session
            self._down()
            if stop.is_set():
                break
            if self.connections > count:  # it had connected: a new outage starts
                failing = False
            if error is not None and not isinstance(error, EXPECTED):
                log.error("gateway feed failed", error=repr(error))
            elif not failing:  # once per outage
                log.warning("gateway feed lost; REST refreshes take over", error=type(error).__name__)
            failing = True
            if time.monotonic() - opened >= STABLE_S:
                delay = self.config.feed_reconnect_min_seconds
            wait = delay * random.uniform(0.8, 1.2)  # jitter
            delay = min(delay * 2, self.config.feed_reconnect_max_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def _connection_slot(self, stop: asyncio.Event) -> None:
        """Wait until opening a connection keeps to the venue's new connections a minute."""
        while not stop.is_set():
            now = time.monotonic()
            while self._opened and self._opened[0] <= now - WINDOW_S:
                self._opened.popleft()
            if len(self._opened) < self.config.ws_new_connections_per_minute:
                self._opened.append(now)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._opened[0] + WINDOW_S - now)

    async def _session(self) -> None:
        local = (self.config.source_address, 0) if self.config.source_address else None
        async with connect(
            self.url,
            proxy=None,
            ping_interval=None,  # the venue's own ping message, below
            open_timeout=OPEN_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            local_addr=local,
        ) as ws:
            self._ws = ws
            self.connections += 1
            log.info("gateway feed connected", url=self.url, connection=self.connections)
            for subscription, _ in self.market:
                await self._send({"method": "subscribe", "subscription": subscription})
            for address in self.accounts.subscribed():
                await self._send({"method": "subscribe", "subscription": user_subscription(address)})
            self.connected = True
            ping_s = self.config.ping_seconds
            next_ping = next_plan = time.monotonic()
            while True:
                now = time.monotonic()
                if now >= next_ping:
                    if self._pings and self._now_ms() - self._pings[0] > 2 * ping_s * 1000:
                        raise FeedStalled()
                    self._pings.append(self._now_ms())
                    await self._send({"method": "ping"})
                    next_ping = now + ping_s
                if now >= next_plan:
                    await self._rebalance()
                    next_plan = now + self.config.user_rebalance_seconds
                timeout = max(0.0, min(next_ping, next_plan) - time.monotonic())
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    continue
                self._on_message(raw)

    def _down(self) -> None:
        if self.connected:
            log.info("gateway feed disconnected")
        self.connected = False
        self._ws = None
        self._fed.clear()
        self._candles.clear()
        self._pings.clear()
        self.accounts.disconnected()

    async def _send(self, message: dict[str, Any]) -> bool:
        """Send one message, unless the minute's messages are spent (False: not sent)."""
        now = time.monotonic()
        while self._sent and self._sent[0] <= now - WINDOW_S:
            self._sent.popleft()
        if len(self._sent) >= self.config.ws_messages_per_minute or self._ws is None:
            return False
        self._sent.append(now)
        await self._ws.send(json.dumps(message, separators=(",", ":")))
        return True

    async def _rebalance(self) -> None:
        plan = self.accounts.plan()
        if not plan.drop and not plan.add:
            return
        # Leave room for the pings of the minute: the accounts wait for the next rebalance otherwise.
        messages = len(plan.drop) + len(plan.add)
        pings = WINDOW_S / self.config.ping_seconds + 1
        if len(self._sent) + messages + pings > self.config.ws_messages_per_minute:
            return
        for address in plan.drop:
            await self._send({"method": "unsubscribe", "subscription": user_subscription(address)})
        for _, address in plan.add:
            await self._send({"method": "subscribe", "subscription": user_subscription(address)})
        self.accounts.applied(plan)
        if plan.add or plan.drop:
            log.info("gateway feed follows accounts", accounts=len(self.accounts.subscribed()))

    # ------------------------------------------------------------------ messages
    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return  # the venue's greeting text
        if not isinstance(message, dict):
            return
        channel, data = message.get("channel"), message.get("data")
        now = self._now_ms()
        if channel == "pong":
            if self._pings:
                self._confirm(self._pings.popleft() - int(self.config.push_lag_seconds * 1000))
        elif channel == "allMids" and isinstance(data, dict) and isinstance(data.get("mids"), dict):
            self._mids = json.dumps(data["mids"], separators=(",", ":")).encode()
            self.cache.put_snapshot("allMids", Snapshot(self._mids, now))
            self._fed["allMids"] = now
        elif channel == "activeAssetCtx" and isinstance(data, dict):
            ctx = data.get("ctx")
            if self.cache.put_asset_ctx(str(data.get("coin")), ctx, now):
                self._ctx = ctx
                self._fed[ASSET_CTXS] = now
            else:
                self._fed.pop(ASSET_CTXS, None)
        elif channel == "candle" and isinstance(data, dict):
            entry = candle_entry(str(data.get("i")))
            self._candles[entry] = data
            self._put_candle(entry, data, now)
        elif channel == "clearinghouseState" and isinstance(data, dict):
            user = data.get("user")
            if isinstance(user, str):
                self.accounts.pushed(user.lower(), data.get("clearinghouseState"), now)
        elif channel == "error":
            log.warning("gateway feed: the venue refused a message", error=str(data)[:200])

    def _put_candle(self, entry: str, candle: dict[str, Any], observed_ms: int) -> None:
        if put_candle(self.cache, self.config.hedge_coin, candle, observed_ms, self.config.candle_lookback):
            self._fed[entry] = observed_ms
        else:  # no series yet, or a gap: its REST source reads the series first; the next pong retries
            self._fed.pop(entry, None)

    def _confirm(self, observed_ms: int) -> None:
        """Everything the connection delivered is unchanged as of `observed_ms`."""
        for entry, candle in self._candles.items():
            if entry not in self._fed:
                self._put_candle(entry, candle, observed_ms)
        for entry, arrived in self._fed.items():
            if observed_ms <= arrived:
                continue
            if entry == "allMids" and self._mids is not None:
                self.cache.put_snapshot("allMids", Snapshot(self._mids, observed_ms))
            elif entry == ASSET_CTXS and self._ctx is not None:
                self.cache.put_asset_ctx(self.config.hedge_coin, self._ctx, observed_ms)
            elif entry.startswith("candle:"):
                key = candle_key(self.config.hedge_coin, entry.removeprefix("candle:"))
                confirm_series(self.cache, key, observed_ms)
        self.accounts.confirm(observed_ms)
