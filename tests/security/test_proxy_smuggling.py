"""Request smuggling through the proxy, against a real `basis serve` with two signed-in users' bots
(issue 12, point 4).

Before, `Connection: keep-alive, content-length` on a POST made the proxy drop the Content-Length
but send the body raw on its pooled keep-alive connection to the bot, which read the body as a
second request; its answer was then read as the answer to the next request on that connection.
Now the proxy frames every body itself (its own Content-Length, or chunked) whatever `Connection`
names: the bot sees exactly one request with its body, and the next requests, the same user's on
the pooled connection and another user's, each get their own answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.attack import answered_by_bot, connect, read_answer
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet

# Sent as the body: what the bot would have read as a second request (it has no token: a 401, whose
# answer would then have gone to the next request on the pooled connection).
SMUGGLED = b"GET /api/v1/balances HTTP/1.1\r\nHost: bot\r\n\r\n"


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(devnet, Path(tmp_path_factory.mktemp("smuggling")))
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


def seen_by_bot(plane: ControlPlane, user: SignedIn) -> dict[str, int]:
    return answered_by_bot(plane.tenant(user.tenant_id).port or 0, user.token)


def new_requests(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        series: count - before.get(series, 0)
        for series, count in after.items()
        if count != before.get(series)
    }


@pytest.mark.parametrize(
    ("connection", "framing", "body"),
    [
        (b"keep-alive, content-length", b"Content-Length: %d" % len(SMUGGLED), SMUGGLED),
        (b"Content-Length, Host", b"Content-Length: %d" % len(SMUGGLED), SMUGGLED),
        (
            b"keep-alive, transfer-encoding",
            b"Transfer-Encoding: chunked",
            b"%x\r\n%b\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
        ),
    ],
    ids=["keep-alive-content-length", "content-length-host", "transfer-encoding"],
)
def test_a_body_is_never_read_as_a_second_request(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn], connection: bytes, framing: bytes, body: bytes
) -> None:
    alice, bob = users
    # Warm the proxy's pooled connection to Alice's bot, which the smuggled request would poison.
    assert alice.client.get("/app/api/v1/status").status_code == 200
    before = seen_by_bot(plane, alice)
    cookie = "; ".join(f"{k}={v}" for k, v in alice.client.cookies.items()).encode()
    with connect(plane.settings.port) as sock:
        sock.sendall(
            b"POST /app/api/v1/positions/preview HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: %b\r\n"
            b"X-CSRF-Token: %b\r\nContent-Type: application/json\r\nConnection: %b\r\n%b\r\n\r\n%b"
            % (cookie, alice.csrf.encode(), connection, framing, body)
        )
        answer = read_answer(sock)
    # The bot read the POST with its body (not JSON, so 422) ...
    assert answer.status == 422, answer
    # ... and the next request on the pooled connection gets its own answer, not the smuggled one's,
    status = alice.client.get("/app/api/v1/status")
    assert status.status_code == 200 and "paused" in status.json(), status.text
    # as does another user's.
    balances = bob.client.get("/app/api/v1/balances")
    assert balances.status_code == 200 and balances.json()["solana"]["address"] == bob.solana_address
    # Alice's bot saw exactly those two requests: no GET /api/v1/balances (401) came out of the body.
    seen = new_requests(before, seen_by_bot(plane, alice))
    assert seen == {
        '{route="/api/v1/positions/preview",status="422"}': 1,
        '{route="/api/v1/status",status="200"}': 1,
    }, seen
