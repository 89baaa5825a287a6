"""The authenticated reverse proxy: a signed-in user's requests go to their own bot, and only there.

Written at the ASGI level over a small HTTP/1.1 client of its own on asyncio streams, with a
keep-alive pool per bot: a FastAPI route forwarding through httpx passed about 300 req/s where
configurable-http-proxy passed 2,400, and httpcore alone still cost ~1 ms a request (anyio locks,
h11 and a per-call `import sniffio`), so the per-request path here is a header filter, one write of
the request head, one read of the response head and a body pump. Bodies stream both ways without
buffering (server-sent events included); a client that goes away closes the upstream connection, so
the bot sees its stream end.

What crosses the proxy, and what does not:
- hop-by-hop headers (and those the `Connection` header names) are removed both ways, except that a
  `Connection` header cannot remove framing or what the proxy itself writes (`PROTECTED`);
- the proxy frames every request body itself: the client's `Content-Length` and `Transfer-Encoding`
  never cross; the bot gets the length the client's server checked (and exactly that many bytes),
  or a chunked body. A body the bot cannot tell apart from the next request cannot be smuggled onto
  a pooled connection;
- bodies above `max_body_bytes` are refused with 413 before or while they are sent (a bot's API takes
  small JSON);
- each user holds at most `max_streams_per_user` live event streams (answers of type
  `text/event-stream`) at once; past that the answer is 429, and a stream counts until it ends;
- the browser's `Cookie`, `Authorization`, `X-Basis-Token`, `X-CSRF-Token` and every
  `X-Forwarded-*` / `Forwarded` header are dropped; we set `X-Forwarded-For/Proto/Host` ourselves
  and add the bot's own token, which only the control plane holds;
- a bot's `Set-Cookie` is dropped, so a bot cannot plant cookies on the portal's origin;
- there is no cookie jar: each request carries only what this code puts on it.

The `resolve` callable maps a request to the signed-in user's `Upstream` (the control plane reads
the session); it returns None while the user's bot is not ready, or raises `ProxyRefusal` (e.g. 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.requests import Request

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Request headers the browser may send that must never reach a bot.
CLIENT_ONLY = frozenset(
    {
        b"host",
        b"cookie",
        b"authorization",
        b"x-basis-token",
        b"x-csrf-token",
        b"forwarded",
        b"x-real-ip",
        b"expect",  # our server answers `100-continue` itself; the bot must not send a second one
    }
)
# Names a `Connection` header may list without effect: the message's framing, and the headers the
# proxy writes itself. Dropping them on a client's say-so would desynchronise a pooled connection
# (a body sent raw, without its length, is read by the bot as the next request).
PROTECTED = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"host",
        b"x-basis-token",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"content-security-policy",
    }
)
# `server` and `date` are written again by our own server; repeating the bot's would duplicate them.
UPSTREAM_ONLY = frozenset({b"set-cookie", b"server", b"date"})
# Added to every answer of a bot: only a page of the control plane's own origin (the portal) may frame
# the dashboard, so another site cannot overlay it to trick a signed-in user into clicking (a bot's own
# CSP, if it sends one, applies as well).
FRAMING = (b"content-security-policy", b"frame-ancestors 'self'")

NOT_RUNNING = "your bot is not running"
STARTING = "your bot is starting"
BODY_TOO_LARGE = "the request body is too large for your bot (at most {} bytes)"
TOO_MANY_STREAMS = (
    "you already have {} live event streams open, the most one account may hold: "
    "close another dashboard tab and try again"
)


@dataclass(frozen=True)
class Upstream:
    """Where one user's bot answers (`http://127.0.0.1:PORT`), the token it requires, and whose bot it
    is (`owner`: the user, whose live event streams are counted together)."""

    base_url: str
    token: SecretStr
    owner: str


class ProxyRefusal(Exception):
    """Raised by `resolve` to answer the client without contacting any bot (e.g. 401 not signed in)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


Resolver = Callable[[Request], Awaitable[Upstream | None]]


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int
    netloc: bytes
    prefix: bytes  # the base URL's path, without a trailing slash


def _origin(base_url: str) -> _Origin:
    """Bots answer plain HTTP on a private address; TLS ends at the control plane."""
    url = urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"a bot's base URL must be http://host:port, not {base_url!r}")
    port = url.port or 80
    netloc = f"{url.hostname}:{port}" if url.port else url.hostname
    return _Origin(url.hostname, port, netloc.encode("ascii"), url.path.rstrip("/").encode("ascii"))


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names listed in `Connection`: hop-by-hop for this one message (RFC 9110 §7.6.1), less
    the `PROTECTED` ones, which a `Connection` header never removes."""
    names: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(names - PROTECTED)


def request_headers(
    scope: Scope, upstream_netloc: bytes, token: bytes
) -> tuple[list[tuple[bytes, bytes]], int | None]:
    """The headers to send upstream, framing included, and the body's length: 0 when there is none,
    None for a body of unknown length (sent chunked).

    The client's `Content-Length` and `Transfer-Encoding` never cross: the proxy writes its own,
    from the length the client's server checked (it delivers exactly that many bytes), so nothing
    the client says (a `Connection` header naming them, say) can leave a body unframed.
    ASGI servers give header names in lower case, so no case folding is needed on the hot path.
    """
    incoming: list[tuple[bytes, bytes]] = scope["headers"]
    extra = _connection_tokens(incoming) if any(n == b"connection" for n, _ in incoming) else frozenset()
    out: list[tuple[bytes, bytes]] = [(b"host", upstream_netloc)]
    client_host = b""
    declared: int | None = None
    chunked = False
    for name, value in incoming:
        if name == b"host":
            client_host = value
            continue
        if name == b"content-length":
            declared = int(value)  # the server refused the request if it was not a number
            continue
        if name == b"transfer-encoding":
            chunked = True
            continue
        if name in HOP_BY_HOP or name in CLIENT_ONLY or name in extra or name.startswith(b"x-forwarded-"):
            continue
        out.append((name, value))
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", client[0].encode("latin-1")))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if client_host:
        out.append((b"x-forwarded-host", client_host))
    out.append((b"x-basis-token", token))
    if chunked:  # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length
        out.append((b"transfer-encoding", b"chunked"))
        return out, None
    if declared is not None:
        out.append((b"content-length", b"%d" % declared))
        return out, declared
    return out, 0


def response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The bot's response headers without hop-by-hop ones, cookies, and what our server adds itself;
    plus the policy that only the portal may frame them."""
    extra = _connection_tokens(headers)
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in UPSTREAM_ONLY or lower in extra:
            continue
        out.append((lower, value))
    out.append(FRAMING)
    return out


def upstream_target(scope: Scope, prefix: bytes) -> bytes | None:
    """The path and query to request from the bot: the request's raw path below the mount point.

    None when the request names the mount point itself without its trailing slash (`/app`): the
    bot's page uses relative URLs, so the browser must be sent to `/app/` first.
    """
    root = scope.get("root_path", "").encode("utf-8")
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = raw.split(b"?", 1)[0]  # some servers include the query in raw_path
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    if not raw:
        return None
    if not raw.startswith(b"/"):
        raw = b"/" + raw
    query = scope.get("query_string", b"")
    return prefix + raw + (b"?" + query if query else b"")


def _wants_html(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


def _error_page(status: int, detail: str) -> bytes:
    text = escape(detail)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{text}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}"
        "</style></head><body>"
        f"<h1>{text[:1].upper() + text[1:]}</h1>"
        + (
            "<p>This page works again as soon as your bot answers: try again in a few seconds.</p>"
            if status >= 500
            else ""
        )
        + f"<p><small>Error {status}</small></p></body></html>"
    ).encode()


async def send_error(scope: Scope, send: Send, status: int, detail: str) -> None:
    """A JSON `{"detail": ...}` answer, or a small HTML page when the client is a browser page load."""
    if _wants_html(scope):
        body, media = _error_page(status, detail), b"text/html; charset=utf-8"
    else:
        body, media = json.dumps({"detail": detail}).encode(), b"application/json"
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 503:
        headers.append((b"retry-after", b"2"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _ClientGone(Exception):
    pass


class _BodyRefused(Exception):
    """The client's body cannot be relayed (too large): answered with `status` before the bot's answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _UpstreamSlow(Exception):
    pass


class _UpstreamBroken(Exception):
    """The bot's connection failed; `answered` says whether any of its answer had arrived."""

    def __init__(self, reason: str, *, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Connection:
    """One keep-alive HTTP/1.1 connection to a bot."""

    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return now - self.idle_since < expiry and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Head:
    status: int
    headers: list[tuple[bytes, bytes]]
    length: int | None  # None: chunked, or until the connection closes
    chunked: bool
    keep_alive: bool
    event_stream: bool  # `text/event-stream`: a live stream, counted against the user's cap


def parse_head(raw: bytes) -> _Head:
    """The status line and headers of a response, as read up to the blank line."""
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
        raise ValueError("not an HTTP/1.x response")
    headers: list[tuple[bytes, bytes]] = []
    length: int | None = None
    chunked = False
    event_stream = False
    keep_alive = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("malformed header line")
        name = name.strip().lower()
        value = value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif name == b"content-type":
            event_stream = value.lower().startswith(b"text/event-stream")
        elif name == b"connection":
            tokens = value.lower()
            keep_alive = b"close" not in tokens if keep_alive else b"keep-alive" in tokens
        headers.append((name, value))
    if chunked:
        length = None  # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length
    return _Head(int(rest[:3]), headers, length, chunked, keep_alive, event_stream)


async def _redirect_to_root(scope: Scope, send: Send) -> None:
    """`/app` → `/app/`: a relative redirect to the mount's root, never one built from `Host`."""
    root = scope.get("root_path", "").encode("utf-8")
    query = scope.get("query_string", b"")
    location = root + b"/" + (b"?" + query if query else b"")
    await send({"type": "http.response.start", "status": 307, "headers": [(b"location", location)]})
    await send({"type": "http.response.body", "body": b""})


def _failure(exc: BaseException, base_url: str) -> tuple[int, str]:
    """The status and sentence a client gets when its bot could not be asked or did not answer."""
    if isinstance(exc, _BodyRefused):
        return exc.status, exc.detail
    if isinstance(exc, _UpstreamSlow):
        return 504, "your bot did not answer in time"
    log.info("proxy: bot at %s unreachable: %s", base_url, type(exc).__name__)
    if isinstance(exc, _UpstreamBroken) and exc.answered:
        return 502, "your bot answered badly; try again"
    return 502, NOT_RUNNING


class BotProxy:
    """An ASGI app forwarding every request to the `Upstream` that `resolve` names for it.

    Mount it where the dashboard lives (e.g. `app.mount("/app", proxy)`); the part of the path below
    the mount point is what the bot receives. Idle connections are kept per bot origin and nothing
    else (no cookies, no credentials) is kept between requests, but the count of each user's open
    event streams.
    """

    def __init__(
        self,
        resolve: Resolver,
        *,
        # A bot's API takes small JSON; a larger body is refused (413) before it reaches the bot.
        max_body_bytes: int = 1024 * 1024,
        # Live event streams one user may hold through the proxy at once (each holds a connection
        # here and a subscriber in the bot); the next one is answered 429.
        max_streams_per_user: int = 8,
        max_idle_per_bot: int = 32,
        # Below uvicorn's 5 s keep-alive timeout, so we never reuse a connection the bot is closing.
        keepalive_expiry: float = 4.0,
        connect_timeout: float = 5.0,
        # A bot answers API calls at once (long work runs as jobs); a hung one must not hold a client.
        response_timeout: float = 120.0,
    ) -> None:
        self.resolve = resolve
        self.max_body_bytes = max_body_bytes
        self.max_streams_per_user = max_streams_per_user
        self.max_idle_per_bot = max_idle_per_bot
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._origins: dict[str, _Origin] = {}
        self._streams: dict[str, int] = {}  # owner -> live event streams open now

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":  # only when run as the whole app (tests, benchmarks)
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:  # the bots speak no websocket
            await send({"type": "websocket.close", "code": 1008})

    # -- the pool
    async def _connect(self, origin: _Origin) -> _Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(origin.host, origin.port, limit=256 * 1024), self.connect_timeout
        )
        return _Connection(reader, writer)

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        conns = self._idle.get((origin.host, origin.port))
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            if conn.usable(now, self.keepalive_expiry):
                return conn
            conn.close()
        return None

    def _give_back(self, origin: _Origin, conn: _Connection) -> None:
        conns = self._idle.setdefault((origin.host, origin.port), [])
        if len(conns) >= self.max_idle_per_bot:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    # -- one request
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = await self._resolve(scope, send)
        if upstream is None:
            return
        origin = self._origins.get(upstream.base_url)
        if origin is None:
            origin = self._origins[upstream.base_url] = _origin(upstream.base_url)
        target = upstream_target(scope, origin.prefix)
        if target is None:
            await _redirect_to_root(scope, send)
            return
        headers, length = request_headers(
            scope, origin.netloc, upstream.token.get_secret_value().encode("latin-1")
        )
        if length is not None and length > self.max_body_bytes:
            await send_error(scope, send, 413, BODY_TOO_LARGE.format(self.max_body_bytes))
            return
        method: str = scope["method"]
        head = b"".join(
            [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
            + [b"%b: %b\r\n" % pair for pair in headers]
            + [b"\r\n"]
        )
        try:
            conn, response = await self._exchange(origin, head, receive if length != 0 else None, length)
        except _ClientGone:
            return
        except (_BodyRefused, _UpstreamSlow, _UpstreamBroken, OSError, TimeoutError) as exc:
            await send_error(scope, send, *_failure(exc, upstream.base_url))
            return
        await self._deliver(upstream.owner, origin, conn, response, scope, receive, send)

    async def _resolve(self, scope: Scope, send: Send) -> Upstream | None:
        """The request's upstream; None once the client has been answered instead (refused, starting)."""
        try:
            upstream = await self.resolve(Request(scope))
        except ProxyRefusal as refusal:
            await send_error(scope, send, refusal.status, refusal.detail)
            return None
        if upstream is None:
            await send_error(scope, send, 503, STARTING)
        return upstream

    async def _deliver(
        self,
        owner: str,
        origin: _Origin,
        conn: _Connection,
        response: _Head,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Relay the bot's answer; an event stream counts against its owner's cap while it lasts."""
        if response.event_stream:
            streams = self._streams.get(owner, 0)
            if streams >= self.max_streams_per_user:
                conn.close()  # the bot sees this stream end at once
                await send_error(scope, send, 429, TOO_MANY_STREAMS.format(streams))
                return
            self._streams[owner] = streams + 1
        reusable = False
        try:
            reusable = await self._relay(conn, response, scope, receive, send)
        finally:
            if reusable:
                self._give_back(origin, conn)
            else:
                conn.close()  # an unfinished answer: the bot sees its connection (and any stream) end
            if response.event_stream:
                left = self._streams[owner] - 1
                if left:
                    self._streams[owner] = left
                else:
                    del self._streams[owner]

    async def _exchange(
        self, origin: _Origin, head: bytes, receive: Receive | None, length: int | None
    ) -> tuple[_Connection, _Head]:
        """Send the request on a pooled connection (or a new one) and read the response head."""
        # A body cannot be sent twice, so it never risks a pooled connection that may be closing.
        conn = self._take_idle(origin) if receive is None else None
        if conn is not None:
            try:
                return conn, await self._round_trip(conn, head, None, length)
            except _UpstreamBroken as exc:
                conn.close()
                if exc.answered:
                    raise
                # The bot closed this idle connection as we took it: a bodiless request is safe to repeat.
            except BaseException:
                conn.close()
                raise
        conn = await self._connect(origin)
        try:
            return conn, await self._round_trip(conn, head, receive, length)
        except BaseException:
            conn.close()
            raise

    async def _round_trip(
        self, conn: _Connection, head: bytes, receive: Receive | None, length: int | None
    ) -> _Head:
        writer, reader = conn.writer, conn.reader
        try:
            writer.write(head)
            if receive is not None:
                await self._send_body(writer, receive, length)
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.response_timeout)
            while raw[9:10] == b"1" and raw[9:12] != b"101":  # skip interim 1xx answers
                raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.response_timeout)
        except TimeoutError as exc:
            raise _UpstreamSlow from exc
        except asyncio.IncompleteReadError as exc:
            raise _UpstreamBroken("connection closed", answered=bool(exc.partial)) from exc
        except asyncio.LimitOverrunError as exc:
            raise _UpstreamBroken("response head too large", answered=True) from exc
        except (ConnectionError, BrokenPipeError) as exc:
            raise _UpstreamBroken(type(exc).__name__, answered=False) from exc
        try:
            return parse_head(raw)
        except ValueError as exc:
            raise _UpstreamBroken(str(exc), answered=True) from exc

    async def _send_body(self, writer: asyncio.StreamWriter, receive: Receive, length: int | None) -> None:
        """The client's body, chunk by chunk as it arrives, never gathered in memory: exactly `length`
        bytes, or chunked (`length` None) up to `max_body_bytes`. A body that overruns either is not
        sent on (the connection to the bot is then closed, never reused)."""
        chunked = length is None
        limit = self.max_body_bytes if length is None else length
        sent = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            body = message.get("body", b"")
            if body:
                sent += len(body)
                if sent > limit:
                    if chunked:
                        raise _BodyRefused(413, BODY_TOO_LARGE.format(self.max_body_bytes))
                    raise _BodyRefused(400, "the request body is longer than its Content-Length")
                writer.write(b"%x\r\n%b\r\n" % (len(body), body) if chunked else body)
                await writer.drain()
            if not message.get("more_body", False):
                break
        if chunked:
            writer.write(b"0\r\n\r\n")
        elif sent != length:
            raise _BodyRefused(400, "the request body is shorter than its Content-Length")

    async def _relay(
        self, conn: _Connection, response: _Head, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Pass the answer on; True when the connection ended cleanly and may serve another request."""
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": response_headers(response.headers),
            }
        )
        if scope["method"] == "HEAD" or response.status in (204, 304) or response.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return response.keep_alive
        if response.length is not None:
            # A body of known length ends on its own: no need to watch for the client leaving.
            return await self._pump(conn, response, send) and response.keep_alive
        # Streams (SSE) may idle for long: watch the client, and stop reading the bot when it leaves.
        pump = asyncio.ensure_future(self._pump(conn, response, send))
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone):
                task.cancel()
            await asyncio.gather(pump, gone, return_exceptions=True)
        if pump.cancelled() or pump.exception() is not None:
            return False
        return bool(pump.result()) and response.keep_alive

    @staticmethod
    async def _pump(conn: _Connection, response: _Head, send: Send) -> bool:
        """Copy the body to the client as it arrives; True when it arrived whole."""
        reader = conn.reader
        try:
            if response.length is not None:
                left = response.length
                while left > 0:
                    chunk = await reader.read(min(left, 256 * 1024))
                    if not chunk:
                        raise asyncio.IncompleteReadError(b"", left)
                    left -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
                return True
            if response.chunked:
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0], 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers: dropped
                            pass
                        break
                    data = await reader.readexactly(size + 2)
                    await send({"type": "http.response.body", "body": data[:-2], "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return True
            while chunk := await reader.read(256 * 1024):  # no framing: the body ends with the connection
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return False
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
            # Headers are gone already: end the client's connection too, so it sees a cut, not a hang.
            log.info("proxy: bot's body cut short: %s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b""})
            return False
