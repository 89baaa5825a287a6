"""Oversized requests against a real `basis serve` with a signed-in user's bot (issue 12, point 3).

Before, 300 MiB bodies and 200 MiB of headers were buffered (about 2 GB of memory). Now a body past
BASIS_CP_MAX_BODY_BYTES is answered 413 as soon as its Content-Length is read, or as soon as a
chunked body passes the limit; a head past BASIS_CP_MAX_HEADER_BYTES is answered 431 as it arrives;
neither is kept. The attacker streams each (as the attack did) and must read the refusal early; the
control plane's memory stays bounded, a bot behind the proxy never sees the request, and `/health`
keeps answering another client meanwhile.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.attack import Answer, Watch, answered_by_bot, connect, read_answer
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

MIB = 1024 * 1024
BODY = 300 * MIB  # the attack's body
HEADERS = 200 * MIB  # the attack's headers
PIECE = b"x" * MIB
# What the attacker may have pushed before it hears the refusal: socket buffers on both sides.
EARLY = 16 * MIB
MEMORY = 48  # MiB the control plane's resident memory may grow by while the attack runs


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(devnet, Path(tmp_path_factory.mktemp("oversized")))
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def user(plane: ControlPlane) -> SignedIn:
    signed_in = plane.sign_in("oversized")
    plane.wait_running(signed_in)
    return signed_in


def stream(port: int, head: bytes, pieces: Iterator[bytes]) -> tuple[Answer | None, int]:
    """Send `head`, then `pieces` as fast as the server takes them, until it answers; the answer
    (None if it never did) and the bytes sent after the head."""
    sent = 0
    with connect(port) as sock:
        sock.sendall(head)
        for piece in pieces:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # closed on us: the answer, if any, is in the buffer
                break
            sent += len(piece)
        try:
            return read_answer(sock, timeout=10), sent
        except (OSError, ConnectionError):
            return None, sent


def body_pieces(chunked: bool) -> Iterator[bytes]:
    for _ in range(BODY // MIB):
        yield b"100000\r\n" + PIECE + b"\r\n" if chunked else PIECE


def bot_requests(plane: ControlPlane, user: SignedIn) -> dict[str, int]:
    return answered_by_bot(plane.tenant(user.tenant_id).port or 0, user.token)


def paused(user: SignedIn) -> bool:
    status = user.client.get("/app/api/v1/status")
    assert status.status_code == 200, status.text
    return bool(status.json()["paused"])


def cookies(user: SignedIn) -> bytes:
    return "; ".join(f"{name}={value}" for name, value in user.client.cookies.items()).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("target", ["sign-in", "proxy", "broker"])
def test_a_300_mib_body_is_refused_before_it_is_read(
    plane: ControlPlane, user: SignedIn, target: str, chunked: bool
) -> None:
    # Each refuses with its own sentence: the listener a declared length past BASIS_CP_MAX_BODY_BYTES
    # (before any application runs), the signing broker a body past its own 64 KiB as it reads it.
    listener = b"too large (at most 1 MiB)"
    if target == "broker":
        port, path, limit = plane.settings.broker_port, b"/internal/sign", 64 * 1024
        sentence = b"larger than 64 KiB" if chunked else listener
        extra = b"Authorization: Bearer %b\r\nX-Basis-Tenant: %b\r\n" % (
            user.token.encode(),
            user.tenant_id.encode(),
        )
    elif target == "proxy":
        port, path, limit = plane.settings.port, b"/app/api/v1/control/pause", plane.settings.max_body_bytes
        sentence = listener
        extra = b"Cookie: %b\r\nX-CSRF-Token: %b\r\n" % (cookies(user), user.csrf.encode())
    else:
        port, path, limit = plane.settings.port, b"/api/v1/auth/privy/initiate", plane.settings.max_body_bytes
        sentence = listener
        extra = b""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % BODY
    head = b"POST %b HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%b%b\r\n\r\n" % (
        path,
        extra,
        framing,
    )
    seen_by_bot = bot_requests(plane, user)
    with Watch(plane.settings.port, plane.pid) as watch:
        answer, sent = stream(port, head, body_pieces(chunked))
    assert answer is not None, f"no answer after {sent} bytes"
    assert answer.status == 413, answer
    assert sentence in answer.body, answer
    assert sent <= EARLY, f"{sent / MIB:.0f} MiB sent before the refusal"
    if chunked:
        assert sent >= limit  # refused for what arrived, not before
    watch.assert_answered(median_ms=250, max_ms=2_000, at_least=1)
    assert watch.rss_growth_mib < MEMORY, f"resident memory grew {watch.rss_growth_mib:.0f} MiB"
    # The bot never got the request whole (a chunked one it saw cut short, at most the limit) and did
    # not act on it; it still answers.
    seen = bot_requests(plane, user)
    if chunked and target == "proxy":
        new = {series: count - seen_by_bot.get(series, 0) for series, count in seen.items()}
        assert sum(new.values()) <= 1 and not any('status="2' in s and n for s, n in new.items()), new
    else:
        assert seen == seen_by_bot
    assert not paused(user)


def head_pieces(kind: str) -> Iterator[bytes]:
    if kind == "one huge header":
        yield b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        for _ in range(HEADERS // MIB):
            yield PIECE
    elif kind == "many headers":
        line = b"X-Many: " + b"y" * 50 + b"\r\n"
        batch = line * (MIB // len(line))
        yield b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for _ in range(HEADERS // len(batch)):
            yield batch
    else:  # a huge request line
        yield b"GET /health?q="
        for _ in range(HEADERS // MIB):
            yield PIECE


@pytest.mark.parametrize("kind", ["one huge header", "many headers", "huge request line"])
@pytest.mark.parametrize("listener", ["public", "internal"])
def test_200_mib_of_headers_is_refused_as_they_arrive(plane: ControlPlane, kind: str, listener: str) -> None:
    port = plane.settings.port if listener == "public" else plane.settings.broker_port
    pieces = head_pieces(kind)
    with Watch(plane.settings.port, plane.pid) as watch:
        answer, sent = stream(port, next(pieces), pieces)
    assert answer is not None, f"no answer after {sent} bytes"
    assert answer.status == 431, answer
    assert b"headers are too large (at most 32 KiB)" in answer.body
    assert plane.settings.max_header_bytes <= sent <= EARLY, f"{sent / MIB:.1f} MiB sent before the refusal"
    watch.assert_answered(median_ms=250, max_ms=2_000, at_least=1)
    assert watch.rss_growth_mib < MEMORY, f"resident memory grew {watch.rss_growth_mib:.0f} MiB"


def test_requests_within_the_limits_still_pass(plane: ControlPlane, user: SignedIn) -> None:
    """A 24 KiB head and a body just under the limit are served as before."""
    big_header = {"X-Padding": "p" * (24 * 1024)}
    assert httpx.get(plane.url + "/health", headers=big_header, timeout=10).status_code == 200
    near = b'{"email": "' + b"a" * (plane.settings.max_body_bytes - 100) + b'@example.com"}'
    r = httpx.post(plane.url + "/api/v1/auth/privy/initiate", content=near, timeout=30)
    assert r.status_code not in (413, 431) and r.status_code < 500, r.text
    started = time.monotonic()
    r = user.client.post(
        "/app/api/v1/control/pause", json={"reason": "p" * 1000}, headers={"X-CSRF-Token": user.csrf}
    )
    assert r.status_code < 400 or r.status_code == 422, r.text
    assert time.monotonic() - started < 10
    user.client.post("/app/api/v1/control/resume", headers={"X-CSRF-Token": user.csrf})


def test_the_refusal_does_not_leave_the_connection_half_read(plane: ControlPlane) -> None:
    """After a 431 the connection is closed: whatever followed cannot be read as a second request."""
    with connect(plane.settings.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"z" * (64 * 1024))
        answer = read_answer(sock)
        assert answer.status == 431 and answer.headers.get("connection") == "close"
        try:
            sock.sendall(b"\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        except OSError:
            return
        sock.settimeout(3)
        try:
            rest = sock.recv(65536)
        except (TimeoutError, OSError):
            rest = b""
        assert rest == b"", rest
