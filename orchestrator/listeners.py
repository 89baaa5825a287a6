"""The control plane's two HTTP listeners, and what keeps them answering under a flood.

`basis serve` runs two uvicorn servers in one process and one event loop (`ControlPlaneServer`):
the public listener (portal, sign-in, the proxy to each user's bot, `/health`) on
BASIS_CP_HOST:BASIS_CP_PORT, and the internal one (the signing broker, `/health`) on
BASIS_CP_BROKER_HOST:BASIS_CP_BROKER_PORT, where only bots should reach it.

Both speak HTTP/1.1 through uvicorn's httptools protocol (llhttp), chosen explicitly: it is the
faster of uvicorn's two, and on its own it has no read deadline at all, no bound on a request head
(httptools gathers a header line of any length before handing it over), and keeps a connection that
never sends a byte open for ever; uvicorn's h11 protocol bounds a head at 16 KiB (answering 400)
and has no deadline either. Neither bounds a body: uvicorn hands it to the application, which may
gather it. `GuardedProtocol` adds, with the figures of each listener's `ListenerLimits`:

- a head deadline: a request head must arrive whole within `header_timeout` seconds of the moment
  the connection opened or answered its previous request (uvicorn closes an idle keep-alive
  connection after 5 s, sooner); then 408 if part of a head had arrived, else a plain close;
- a body deadline: the body must arrive whole within `body_timeout` seconds of its head (408);
- a head size limit, counted as the bytes arrive (431), and a body size limit, from `Content-Length`
  before the application is called, or counted as a chunked body arrives (413). Past either
  nothing more is parsed or kept: the answer is written, the sending side shut, and what the client
  still sends is read and dropped for `LINGER_SECONDS` so that it can read the answer, then closed;
- a connection cap (`Connections`): past `max_connections` open connections, or past
  `max_connections_per_network` from one client network (an IPv4 /24, an IPv6 /64), a new
  connection first sheds the one that has been waiting longest without a request in progress (idle,
  or still sending its head), then the longest-sending body; only when every connection is busy
  (a request being answered, a stream open) is the new one answered 503 and closed.

Deadlines are enforced by one sweep every half second (on uvicorn's own tick) over the connections
in the order they started waiting, so a request costs a few dictionary operations and no timer.

File descriptors: `raise_descriptor_limit` lifts the soft RLIMIT_NOFILE to the hard limit, and
`listener_limits` sizes the caps within it: `reserved_descriptors` are kept for everything that is
not a client connection (the database, the reconciler and runtimes, log files, the broker's Privy
connections, the proxy's idle keep-alive connections to bots, and a burst of accepts up to the
listen backlog); the internal listener gets `broker_max_connections`; what is left is halved for the
public listener, since each public connection may hold one connection to a bot as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orchestrator.config import ControlPlaneSettings
from shared.logging import get_logger

log = get_logger(__name__)

# How long a refused connection keeps reading (and dropping) what its client still sends after the
# answer, so that a client busy sending (a large body, or its request while we answered 503 at once)
# reads the answer instead of a reset.
LINGER_SECONDS = 1.0
# Connections answered 503 past the caps that may linger so at once: each holds a descriptor beyond
# the cap for up to LINGER_SECONDS (within the reserve); past this many they are closed at once.
MAX_LINGERING_REFUSALS = 256
# Connections waiting for the kernel to hand them over; the reserve of descriptors covers a burst
# this large accepted at once, before any shedding can run.
BACKLOG = 1024
# Deadlines are checked this often (in uvicorn ticks of 0.1 s).
SWEEP_TICKS = 5


@dataclass(frozen=True)
class ListenerLimits:
    """What one listener tolerates from its clients; see the module's docstring."""

    name: str  # "public" or "internal", for the logs
    header_timeout: float  # seconds for a whole request head, from the connection's last answer
    body_timeout: float  # seconds for a whole body, from its head
    max_head_bytes: int  # request line and headers; 431 past it
    max_body_bytes: int  # 413 past it
    max_connections: int
    max_connections_per_network: int  # 0: no per-network cap
    # Peers not capped per network: the trusted reverse proxies, through which every user comes.
    uncapped_networks: tuple[str, ...] = ()


def network_of(host: str) -> str:
    """The client network a connection is counted in: its IPv4 /24 or IPv6 /64 (IPv4-mapped IPv6
    addresses count as IPv4)."""
    if ":" not in host:
        return host.rpartition(".")[0]
    try:
        address = IPv6Address(host.partition("%")[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped).rpartition(".")[0]
    return str(IPv6Network((address, 64), strict=False).network_address)


def _answer(status: int, reason: str, detail: str, *extra: bytes) -> bytes:
    """A whole `{"detail": ...}` answer that closes the connection, written without the application."""
    body = json.dumps({"detail": detail}).encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, reason.encode()),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"cache-control: no-store",
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit < 1024 * 1024 else f"{limit / (1024 * 1024):g} MiB"


class _Answers:
    """The answers a listener writes itself, made once."""

    def __init__(self, limits: ListenerLimits) -> None:
        retry = b"retry-after: 2"
        self.busy = _answer(
            503, "Service Unavailable", "The server is busy. Try again in a few seconds.", retry
        )
        self.network_busy = _answer(
            503,
            "Service Unavailable",
            "Too many connections from your network. Try again in a few seconds.",
            retry,
        )
        self.head_too_large = _answer(
            431,
            "Request Header Fields Too Large",
            f"The request's headers are too large (at most {_size(limits.max_head_bytes)}).",
        )
        self.body_too_large = _answer(
            413,
            "Content Too Large",
            f"The request body is too large (at most {_size(limits.max_body_bytes)}).",
        )
        self.head_timeout = _answer(
            408,
            "Request Timeout",
            f"The request's headers did not arrive within {limits.header_timeout:g} seconds.",
        )
        self.body_timeout = _answer(
            408, "Request Timeout", f"The request body did not arrive within {limits.body_timeout:g} seconds."
        )
        self.bad_length = _answer(400, "Bad Request", "The Content-Length header is not a number.")


class _Network:
    """One client network's connections: how many, and which may be shed (oldest first)."""

    __slots__ = ("count", "idle", "key", "receiving")

    def __init__(self, key: str) -> None:
        self.key = key
        self.count = 0
        self.idle: OrderedDict[GuardedProtocol, float] = OrderedDict()
        self.receiving: OrderedDict[GuardedProtocol, float] = OrderedDict()


class Connections:
    """Every open connection of one listener, counted in all and per client network; those waiting
    for a request head (`idle`) and those sending a body (`receiving`) are kept in the order they
    started waiting, which is the order they are shed in and the order their deadlines fall.
    """

    def __init__(self, limits: ListenerLimits) -> None:
        self.limits = limits
        self.answers = _Answers(limits)
        self.all = _Network("")
        self.networks: dict[str, _Network] = {}
        self._uncapped = tuple(ip_network(n, strict=False) for n in limits.uncapped_networks)
        self.shed = 0  # connections closed to make room, since the start
        self.refused = 0  # connections answered 503 at once, since the start
        self.lingering_refusals = 0

    def admit(self, conn: GuardedProtocol, host: str) -> bytes | None:
        """Count a new connection in, shedding a waiting one if a cap is reached; or the 503 to answer."""
        per_network = self.limits.max_connections_per_network
        network: _Network | None = None
        if per_network and not (self._uncapped and self._is_uncapped(host)):
            key = network_of(host)
            network = self.networks.get(key)
            if network is None:
                network = self.networks[key] = _Network(key)
            if network.count >= per_network and not self._shed_one(network):
                self._refused(network)
                return self.answers.network_busy
        if self.all.count >= self.limits.max_connections and not self._shed_one(self.all):
            self._refused(network)
            return self.answers.busy
        self.all.count += 1
        conn.network = network
        if network is not None:
            network.count += 1
        self.waiting(conn)
        return None

    def _is_uncapped(self, host: str) -> bool:
        try:
            address = ip_address(host.partition("%")[0])
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in self._uncapped)

    def _refused(self, network: _Network | None) -> None:
        self.refused += 1
        if network is not None and not network.count:
            del self.networks[network.key]
        if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
            log.warning(
                "connections refused: every connection is busy", listener=self.limits.name, total=self.refused
            )

    def _shed_one(self, scope: _Network) -> bool:
        for waiting in (scope.idle, scope.receiving):
            if waiting:
                victim = next(iter(waiting))
                victim.shed()
                self.shed += 1
                if self.shed in (1, 100) or self.shed % 10_000 == 0:
                    log.warning(
                        "connection cap reached: shedding the oldest idle connections",
                        listener=self.limits.name,
                        total=self.shed,
                    )
                return True
        return False

    # A connection's state changes, on the request path: a few dictionary operations each.
    def waiting(self, conn: GuardedProtocol) -> None:
        """No request in progress: idle, or sending the next head."""
        now = time.monotonic()
        self.all.idle[conn] = now
        if conn.network is not None:
            conn.network.idle[conn] = now

    def started(self, conn: GuardedProtocol, body: bool) -> None:
        """A head arrived whole; `body`: a body follows it."""
        self.all.idle.pop(conn, None)
        network = conn.network
        if network is not None:
            network.idle.pop(conn, None)
        if body:
            now = time.monotonic()
            self.all.receiving[conn] = now
            if network is not None:
                network.receiving[conn] = now

    def received(self, conn: GuardedProtocol) -> None:
        """The body arrived whole."""
        self.all.receiving.pop(conn, None)
        if conn.network is not None:
            conn.network.receiving.pop(conn, None)

    def forget(self, conn: GuardedProtocol) -> None:
        """Closing: no longer a candidate for shedding or a deadline (still counted until it is gone)."""
        for scope in (self.all, conn.network):
            if scope is not None:
                scope.idle.pop(conn, None)
                scope.receiving.pop(conn, None)

    def release(self, conn: GuardedProtocol) -> None:
        """The connection is gone."""
        self.forget(conn)
        self.all.count -= 1
        network = conn.network
        if network is not None:
            network.count -= 1
            if not network.count:
                del self.networks[network.key]
            conn.network = None

    def sweep(self, now: float) -> None:
        """Close the connections whose head or body is overdue (oldest first; stops at the first in time)."""
        for waiting, timeout, overdue in (
            (self.all.idle, self.limits.header_timeout, GuardedProtocol.head_overdue),
            (self.all.receiving, self.limits.body_timeout, GuardedProtocol.body_overdue),
        ):
            late = []
            for conn, since in waiting.items():
                if now - since < timeout:
                    break
                late.append(conn)
            for conn in late:
                overdue(conn)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines, size limits and the connection cap.

    The overrides wrap uvicorn's parser callbacks (`on_headers_complete`, `on_body`, ...); the
    security tests replay each attack against a real `basis serve`, so a uvicorn upgrade that changes
    them shows there. WebSocket upgrades are not offered (the control plane serves none).
    """

    config: ListenerConfig

    def __init__(
        self, config: ListenerConfig, server_state: Any, app_state: dict[str, Any], _loop: Any = None
    ):
        super().__init__(config, server_state, app_state, _loop)
        self.guard = config.connections
        self.limits = config.connections.limits
        self.network: _Network | None = None
        self.admitted = False
        self.lingering_refusal = False  # answered 503 without being admitted, and lingering
        self.closing = False  # answered or shed: what still arrives is dropped
        self.head_bytes = 0  # bytes received since the last head completed, while no body was due
        self.body_bytes = 0
        self.in_body = False

    # -- the connection
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else ""
        self.client = (host, peer[1]) if isinstance(peer, tuple) else None
        refusal = self.guard.admit(self, host)
        if refusal is not None:
            transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
            self.transport = transport
            self.closing = True
            transport.write(refusal)
            guard = self.guard
            if guard.lingering_refusals < MAX_LINGERING_REFUSALS and transport.can_write_eof():
                guard.lingering_refusals += 1
                self.lingering_refusal = True
                transport.write_eof()
                self.loop.call_later(LINGER_SECONDS, transport.close)
            else:
                transport.close()
            return
        self.admitted = True
        super().connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admitted:
            self.admitted = False
            self.guard.release(self)
        elif self.lingering_refusal:
            self.lingering_refusal = False
            self.guard.lingering_refusals -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # lingering after an answer of ours: read and dropped
        if not self.in_body:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_bytes > self.limits.max_head_bytes and not self.in_body:
            self._close_with(self.guard.answers.head_too_large, linger=True)

    def _unsupported_upgrade_warning(self) -> None:
        pass  # an `Upgrade` header is served as plain HTTP; a warning for each would flood the log

    # -- the parser's callbacks
    def on_headers_complete(self) -> None:
        if self.closing:
            return
        limits = self.limits
        # Bytes counted may include the start of a body that came in the same read: measure exactly.
        if (
            self.head_bytes > limits.max_head_bytes
            and _head_size(self.url, self.headers) > limits.max_head_bytes
        ):
            self._close_with(self.guard.answers.head_too_large, linger=True)
            return
        length = 0
        chunked = False
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._close_with(self.guard.answers.bad_length, linger=True)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if length > limits.max_body_bytes:
            self._close_with(self.guard.answers.body_too_large, linger=True)
            return
        self.head_bytes = 0
        self.body_bytes = 0
        self.in_body = chunked or length > 0
        self.guard.started(self, self.in_body)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.closing:
            return
        self.body_bytes += len(body)
        if self.body_bytes > self.limits.max_body_bytes:
            self._close_with(self.guard.answers.body_too_large, linger=True)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self.closing:
            return
        if self.in_body:
            self.in_body = False
            self.guard.received(self)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.closing and self.cycle.response_complete and not self.transport.is_closing():
            self.guard.waiting(self)

    # -- closing on our own terms
    def head_overdue(self) -> None:
        if self.head_bytes:
            self._close_with(self.guard.answers.head_timeout, linger=False)
        else:
            self._close_with(None, linger=False)  # nothing asked, nothing to answer

    def body_overdue(self) -> None:
        self._close_with(self.guard.answers.body_timeout, linger=False)

    def shed(self) -> None:
        """Closed to make room for a new connection: a client that had started a request hears why."""
        self._close_with(self.guard.answers.busy if self.head_bytes or self.in_body else None, linger=False)

    def _close_with(self, answer: bytes | None, *, linger: bool) -> None:
        """Answer (unless an answer to this request has begun already) and close the connection; the
        request's application, if running, sees the client gone."""
        self.guard.forget(self)
        if self.closing or self.transport.is_closing():
            return
        self.closing = True
        self._unset_keepalive_if_required()
        cycle = self.cycle
        if self.in_body:  # the body belongs to `cycle`, which may have answered already
            free = cycle is not None and not cycle.response_started
        else:  # a new request's head: answer only if no earlier answer is still being written
            free = not self.pipeline and (cycle is None or cycle.response_complete)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.waiting_for_100_continue = False
            cycle.message_event.set()
        if answer is not None and free:
            self.transport.write(answer)
        if linger and answer is not None and free and self.transport.can_write_eof():
            self.flow.resume_reading()  # keep reading (and dropping) while the client reads the answer
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


class ListenerConfig(uvicorn.Config):
    """uvicorn's configuration for one listener, with `GuardedProtocol` and its `Connections`."""

    def __init__(self, app: Any, limits: ListenerLimits, *, lifespan: str) -> None:
        super().__init__(
            app,
            http=GuardedProtocol,
            ws="none",
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            # Never take the client address from a client-sent X-Forwarded-For: rate limits, the
            # connection caps and the proxy's own X-Forwarded-* depend on the real peer.
            proxy_headers=False,
            timeout_graceful_shutdown=5,
            backlog=BACKLOG,
        )
        self.connections = Connections(limits)


class Listener(uvicorn.Server):
    """One listener's uvicorn server: no signal handling of its own (`ControlPlaneServer` stops
    both), and the deadline sweep on its tick."""

    config: ListenerConfig

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        if counter % SWEEP_TICKS == 0:
            self.config.connections.sweep(time.monotonic())
        return await super().on_tick(counter)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now: with port 0 the port is known before any bot learns it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def raise_descriptor_limit() -> int:
    """Lift the soft limit on open files to the hard one; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # the kernel still caps it at fs.nr_open
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listener_limits(
    settings: ControlPlaneSettings, descriptors: int
) -> tuple[ListenerLimits, ListenerLimits]:
    """The public and internal listeners' limits, with connection caps that fit in `descriptors`."""
    internal_cap = settings.broker_max_connections
    fits = (descriptors - settings.reserved_descriptors - internal_cap) // 2
    if fits < 64:
        log.warning(
            "few file descriptors: raise the hard limit on open files (ulimit -Hn)",
            descriptors=descriptors,
            reserved=settings.reserved_descriptors,
            broker_connections=internal_cap,
        )
        fits = max(fits, 16)
    public_cap = min(settings.max_connections, fits)
    shared = {
        "header_timeout": settings.header_timeout_seconds,
        "body_timeout": settings.body_timeout_seconds,
        "max_head_bytes": settings.max_header_bytes,
        "max_body_bytes": settings.max_body_bytes,
    }
    public = ListenerLimits(
        name="public",
        max_connections=public_cap,
        max_connections_per_network=settings.max_connections_per_network,
        uncapped_networks=tuple(settings.trusted_proxies),
        **shared,  # type: ignore[arg-type]
    )
    # Bots reach the internal listener from loopback or one bridge network: no per-network cap. The
    # broker refuses a signing request above its own 64 KiB itself, with its own sentence; the
    # listener's body limit is the backstop past that.
    internal = ListenerLimits(
        name="internal",
        max_connections=internal_cap,
        max_connections_per_network=0,
        **shared,  # type: ignore[arg-type]
    )
    return public, internal


class ControlPlaneServer:
    """The public and the internal listener in one event loop: both start, and both stop together
    (the internal one first, so that the signing broker finishes its requests while the public
    application's shared clients are still open)."""

    def __init__(
        self,
        public: tuple[Any, ListenerLimits, socket.socket],
        internal: tuple[Any, ListenerLimits, socket.socket],
    ) -> None:
        # The public application has the lifespan (reconciler, spare bot, clients); the internal one
        # shares its objects.
        self.public = Listener(ListenerConfig(public[0], public[1], lifespan="on"))
        self.internal = Listener(ListenerConfig(internal[0], internal[1], lifespan="off"))
        self.sockets = {self.public: public[2], self.internal: internal[2]}
        self.should_exit = False

    @property
    def started(self) -> bool:
        return self.public.started and self.internal.started

    async def serve(self) -> None:
        internal = asyncio.create_task(self.internal.serve([self.sockets[self.internal]]), name="internal")
        public = asyncio.create_task(self.public.serve([self.sockets[self.public]]), name="public")
        try:
            while not self.should_exit and not (public.done() or internal.done()):
                await asyncio.sleep(0.1)
        finally:
            for listener, task in ((self.internal, internal), (self.public, public)):
                listener.should_exit = True
                await task

    def exit(self) -> None:
        """Stop both listeners (a second call stops them without waiting for open requests)."""
        if self.should_exit:
            self.public.force_exit = self.internal.force_exit = True
        self.should_exit = True

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, in an event loop of uvicorn's choice (uvloop when installed)."""
        with asyncio.Runner(loop_factory=self.public.config.get_loop_factory()) as runner:
            loop = runner.get_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.exit)
            runner.run(self.serve())
