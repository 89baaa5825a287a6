"""The websocket `/ws` (`ws://127.0.0.1:3001/ws`), with the venue's messages and per-IP limits.

The official SDK's `Info(url, skip_ws=False)` and its `subscribe(...)` work against it unchanged.
Messages (gitbook "Websocket", "Post requests", "Timeouts and heartbeats"):
- on connect the venue's greeting text `Websocket connection established.` (the SDK skips it);
- `{"method": "subscribe" | "unsubscribe", "subscription": {...}}` → `{"channel":
  "subscriptionResponse", "data": <the request>}`, then the feed's first message (feeds.py);
  pushes `{"channel": ..., "data": ...}` when the devnet's state changes (a market step, a trade,
  an order, a funding settlement), checked every `PUSH_S`;
- `{"method": "ping"}` → `{"channel": "pong"}`; a connection that sends nothing for `IDLE_S` is
  closed, as the venue closes one silent for 60 seconds;
- `{"method": "post", "id": N, "request": {"type": "info" | "action", "payload": {...}}}` →
  `{"channel": "post", "data": {"id": N, "response": {"type": "info", "payload": {"type": <info
  type>, "data": <the /info answer>}}}}`, or `"type": "action"` with the /exchange answer as
  payload (a refused action is `status: "err"` there, not an error). Posts weigh what the same
  request weighs over HTTP against the IP's REST budget (metered.py); past it, the answer is
  `{"type": "error", "payload": "429 Too Many Requests"}` (the gitbook: "a String mirroring the
  HTTP status code and description"; the exact text is not published: chosen). The Hyperliquid
  `latency_ms` fault delays each post's answer; the `drop` fault applies the action and answers
  `{"type": "error", "payload": "504 Gateway Timeout"}`, as HTTP answers 504.
- Errors go on the `error` channel, `{"channel": "error", "data": "<text>"}`, with the venue's
  texts (Hyperliquid's order_book_server, quoted by its forks; nktkas/hyperliquid issue #78):
  `Error parsing JSON into valid websocket request: <the message>` (also for a post whose payload
  /info or /exchange cannot read: the venue parses it with the message, and the post's id is
  lost), `Invalid subscription: <subscription>`, `Already subscribed: ...`, `Already
  unsubscribed: ...`, and the limits' texts (limits.py).

Per-IP limits (limits.py `SocketLimits`): connections, new connections a minute, subscriptions,
users, messages a minute, posts in flight. A connection past a connection limit is refused at the
handshake with HTTP 429 (undocumented: chosen). A bad message never closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from devnet.hyperliquid import errors, feeds, limits
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.metered import MeteredApi, RateLimited
from shared.logging import get_logger

log = get_logger("devnet.hyperliquid")

GREETING = "Websocket connection established."
PUSH_S = 0.1  # how often the pusher looks for a change of state (the devnet's tick)
IDLE_S = 60.0  # the venue closes a connection that sent nothing for a minute
RATE_LIMITED_POST = "429 Too Many Requests"
DROPPED_POST = "504 Gateway Timeout"


def parse_error(text: str) -> str:
    return f"Error parsing JSON into valid websocket request: {text}"


@dataclass(eq=False)
class Connection:
    websocket: WebSocket
    ip: str
    streams: dict[str, tuple[feeds.Feed, feeds.Cursor]] = field(default_factory=dict)
    posts: set[asyncio.Task[None]] = field(default_factory=set)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    open: bool = True

    async def send(self, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        async with self.send_lock:
            if not self.open:
                return
            try:
                await self.websocket.send_text(text)
            except Exception:  # the peer went away; the receive loop ends the connection
                self.open = False

    async def error(self, text: str) -> None:
        await self.send({"channel": "error", "data": text})


class SocketServer:
    def __init__(self, ex: HyperliquidExchange, api: MeteredApi) -> None:
        self.ex = ex
        self.api = api
        self.feeds = feeds.Feeds(ex, api.info_service)
        self.limits = limits.SocketLimits()
        self.connections: set[Connection] = set()
        self._pusher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ connections
    async def endpoint(self, websocket: WebSocket) -> None:
        ip = websocket.client.host if websocket.client is not None else "unknown"
        refusal = self.limits.connect(ip)
        if refusal is not None:
            await _deny(websocket, refusal)
            return
        conn = Connection(websocket, ip)
        try:
            await websocket.accept()
            self.connections.add(conn)
            self._start_pusher()
            await conn.send(GREETING)
            while conn.open:
                try:
                    message = await asyncio.wait_for(websocket.receive(), IDLE_S)
                except TimeoutError:
                    break
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    text = raw.decode("utf-8", "replace")
                try:
                    await self._on_message(conn, text)
                except Exception:  # a devnet bug answers nothing to that message; the socket lives on
                    log.exception("hyperliquid websocket message failed")
        except WebSocketDisconnect:
            pass
        finally:
            conn.open = False
            self.connections.discard(conn)
            for feed, _ in conn.streams.values():
                self.limits.unsubscribe(ip, feed.user)
            conn.streams.clear()
            for task in list(conn.posts):
                task.cancel()
            self.limits.disconnect(ip)
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _on_message(self, conn: Connection, text: str) -> None:
        refusal = self.limits.message(conn.ip)
        if refusal is not None:
            await conn.error(refusal)
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        method = message.get("method") if isinstance(message, dict) else None
        if method == "ping":
            await conn.send({"channel": "pong"})
        elif method in ("subscribe", "unsubscribe") and isinstance(message.get("subscription"), dict):
            await self._subscription(conn, method, message["subscription"])
        elif method == "post":
            await self._post(conn, message, text)
        else:
            await conn.error(parse_error(text))

    async def _subscription(self, conn: Connection, method: str, subscription: dict[str, Any]) -> None:
        shown = json.dumps(subscription, separators=(",", ":"))
        try:
            feed = feeds.parse(subscription, self.ex)
        except feeds.InvalidSubscription:
            await conn.error(f"Invalid subscription: {shown}")
            return
        answer = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": subscription}}
        if method == "unsubscribe":
            if conn.streams.pop(feed.key, None) is None:
                await conn.error(f"Already unsubscribed: {shown}")
                return
            self.limits.unsubscribe(conn.ip, feed.user)
            await conn.send(answer)
            return
        if feed.key in conn.streams:
            await conn.error(f"Already subscribed: {shown}")
            return
        refusal = self.limits.subscribe(conn.ip, feed.user)
        if refusal is not None:
            await conn.error(refusal)
            return
        cursor = feeds.Cursor()
        first = self.feeds.first(feed, cursor)
        conn.streams[feed.key] = (feed, cursor)
        await conn.send(answer)
        for data in first:
            await conn.send({"channel": feed.channel, "data": data})

    # ------------------------------------------------------------------ posts
    async def _post(self, conn: Connection, message: dict[str, Any], text: str) -> None:
        post_id, request = message.get("id"), message.get("request")
        if (
            not isinstance(post_id, int)
            or isinstance(post_id, bool)
            or post_id < 0
            or not isinstance(request, dict)
            or request.get("type") not in ("info", "action")
            or not isinstance(request.get("payload"), dict)
        ):
            await conn.error(parse_error(text))
            return
        refusal = self.limits.start_post(conn.ip, post_id)
        if refusal is not None:
            await conn.error(refusal)
            return
        task = asyncio.create_task(self._answer(conn, post_id, request["type"], request["payload"], text))
        conn.posts.add(task)
        task.add_done_callback(conn.posts.discard)

    async def _answer(
        self, conn: Connection, post_id: int, kind: str, payload: dict[str, Any], text: str
    ) -> None:
        try:
            latency = self.ex.faults.get("hyperliquid").latency_ms
            if latency:
                await asyncio.sleep(latency / 1000)
            body = json.dumps(payload).encode()
            response: dict[str, Any]
            try:
                if kind == "info":
                    answer = json.loads(self.api.info(conn.ip, body))
                    response = {"type": "info", "payload": {"type": payload.get("type"), "data": answer}}
                else:
                    result = self.api.exchange(conn.ip, body)
                    if self.ex.faults.should_drop("hyperliquid"):
                        response = {"type": "error", "payload": DROPPED_POST}
                    else:
                        response = {"type": "action", "payload": result}
            except RateLimited:
                response = {"type": "error", "payload": RATE_LIMITED_POST}
            except errors.Undeserializable:
                await conn.error(parse_error(text))
                return
            await conn.send({"channel": "post", "data": {"id": post_id, "response": response}})
        except Exception:  # a bug must not leave the post counted in flight or kill the server
            log.exception("hyperliquid websocket post failed")
        finally:
            self.limits.end_post(conn.ip)

    # ------------------------------------------------------------------ pushes
    def _start_pusher(self) -> None:
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push())

    async def _push(self) -> None:
        """While anyone is connected: after each change of the exchange's state, push what changed."""
        seen = self.ex.version
        while self.connections:
            await asyncio.sleep(PUSH_S)
            try:
                self.ex.sync()
                if self.ex.version == seen:
                    continue
                seen = self.ex.version
                states: dict[str, Any] = {}  # each feed's content, rendered once per pass
                for conn in list(self.connections):
                    for feed, cursor in list(conn.streams.values()):
                        for data in self.feeds.next(feed, cursor, states):
                            await conn.send({"channel": feed.channel, "data": data})
            except Exception:  # one bad render must not stop the pushes of everyone else
                log.exception("hyperliquid websocket push failed")


async def _deny(websocket: WebSocket, sentence: str) -> None:
    """Refuse the handshake: HTTP 429 with the sentence, or a 403 where the server cannot say more."""
    try:
        await websocket.send_denial_response(PlainTextResponse(sentence, status_code=429))
    except RuntimeError:
        await websocket.close(code=1008, reason=sentence)
