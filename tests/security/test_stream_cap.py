"""Live event streams through the proxy, and connections that are all busy, against a real
`basis serve` with two signed-in users' bots (issue 12, point 3).

Before, one user could hold any number of live event streams (`GET /app/api/v1/events/stream`),
each a connection here and a subscriber in their bot. Now past BASIS_CP_MAX_STREAMS_PER_USER the
next one is answered 429 with a sentence, while another user's stream works, and a stream counts
only while it is open. And when every connection the control plane may hold is busy (streams, here),
a new one is answered 503 with Retry-After rather than left hanging, globally or for the one client
network that holds them all; others are served again as soon as a connection ends.

Streams are opened over raw sockets from chosen loopback networks (127.0.N.x).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.attack import Answer, connect, read_answer
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

STREAMS_PER_USER = 3
CONNECTIONS = 6
PER_NETWORK = 4
HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        devnet,
        Path(tmp_path_factory.mktemp("streams")),
        overrides={
            "max_streams_per_user": STREAMS_PER_USER,
            "max_connections": CONNECTIONS,
            "max_connections_per_network": PER_NETWORK,
            "bot_env": {"BASIS_TICK_SECONDS": "0.5", "BASIS_SSE_HEARTBEAT_SECONDS": "0.5"},
        },
    )
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def users(plane: ControlPlane) -> tuple[SignedIn, SignedIn]:
    alice, bob = plane.sign_in("alice"), plane.sign_in("bob")
    plane.wait_running(alice)
    plane.wait_running(bob)
    return alice, bob


class Streams:
    """Event streams opened through the proxy, each on a socket of its own; closed at the end."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.open: list[socket.socket] = []

    def request(self, user: SignedIn, source: str) -> tuple[socket.socket, int, bytes]:
        """Ask for `user`'s stream from `source`: the socket, the status, and what followed the head."""
        cookie = "; ".join(f"{k}={v}" for k, v in user.client.cookies.items())
        sock = connect(self.plane.settings.port, source)
        sock.sendall(
            b"GET /app/api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Cookie: %b\r\n\r\n" % cookie.encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed before an answer: {data!r}"
            data += chunk
        status = int(data.split(maxsplit=2)[1])
        if status != 200:  # a refusal: read it whole
            data = data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + read_answer(sock, data=data).body
        return sock, status, data

    def start(self, user: SignedIn, source: str) -> socket.socket:
        """A stream that must open (200, text/event-stream) and deliver something (a heartbeat)."""
        sock, status, data = self.request(user, source)
        assert status == 200 and b"text/event-stream" in data.lower(), data[:500]
        self.open.append(sock)
        while b": heartbeat" not in data and b"data: " not in data:
            chunk = sock.recv(65536)
            assert chunk, "the stream ended"
            data += chunk
        return sock

    def end(self, sock: socket.socket) -> None:
        self.open.remove(sock)
        sock.close()

    def close(self) -> None:
        for sock in self.open:
            sock.close()
        self.open.clear()


@pytest.fixture
def streams(plane: ControlPlane) -> Iterator[Streams]:
    opened = Streams(plane)
    yield opened
    opened.close()
    time.sleep(0.5)  # the proxy sees the clients leave and releases their streams


def ask_health(plane: ControlPlane, source: str) -> Answer:
    with connect(plane.settings.port, source) as sock:
        with contextlib.suppress(OSError):  # a refused connection is answered before it asks
            sock.sendall(HEALTH)
        return read_answer(sock)


def eventually(what: str, check: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_a_user_past_the_stream_cap_gets_429_while_another_user_streams(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn], streams: Streams
) -> None:
    alice, bob = users
    held = [streams.start(alice, "127.0.4.1") for _ in range(STREAMS_PER_USER)]
    sock, status, answer = streams.request(alice, "127.0.5.1")
    sock.close()
    assert status == 429, answer
    assert b"already have 3 live event streams open" in answer and b"close another dashboard tab" in answer
    # Another user's stream is not affected by Alice's.
    streams.start(bob, "127.0.5.2")
    # A stream counts while it is open: when one of Alice's ends, she may open another.
    streams.end(held[0])

    def reopened() -> bool:
        sock, status, _ = streams.request(alice, "127.0.5.3")
        if status == 200:
            streams.open.append(sock)
            return True
        sock.close()
        return False

    eventually("Alice's ended stream released", reopened)


def test_when_every_connection_is_busy_a_new_one_gets_503_until_one_ends(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn], streams: Streams
) -> None:
    alice, bob = users
    for _ in range(STREAMS_PER_USER):
        streams.start(alice, "127.0.6.1")
    bobs = [streams.start(bob, "127.0.7.1") for _ in range(STREAMS_PER_USER)]
    assert len(streams.open) == CONNECTIONS  # idle connections (the users' clients') made room
    busy = ask_health(plane, "127.0.0.1")
    assert busy.status == 503 and busy.headers.get("retry-after") == "2", busy
    assert b"The server is busy" in busy.body
    streams.end(bobs[0])
    eventually("a new client served again", lambda: ask_health(plane, "127.0.0.1").status == 200)


def test_one_network_holding_its_cap_gets_503_while_others_are_served(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn], streams: Streams
) -> None:
    alice, bob = users
    for _ in range(STREAMS_PER_USER):
        streams.start(alice, "127.0.8.1")
    streams.start(bob, "127.0.8.2")
    crowded = ask_health(plane, "127.0.8.3")
    assert crowded.status == 503 and b"Too many connections from your network" in crowded.body, crowded
    assert ask_health(plane, "127.0.0.1").status == 200
    assert ask_health(plane, "127.0.9.1").status == 200
