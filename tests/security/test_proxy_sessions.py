"""Replays against the control plane's own proxy route: one user's session asking for another user's
bot, and a state change sent without the session's CSRF token (as a cross-site form would). A real
`basis serve`, two users signed in through its auth API, each with a running bot; `/app/...` goes
through the real resolver (`AppContext.upstream`), which reads the session and checks CSRF, never a
resolver of the test's own (tests/integration/orchestrator/test_proxy_forwarding.py covers the
proxy's forwarding with one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(devnet, Path(tmp_path_factory.mktemp("proxy-sessions")))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def users(plane: ControlPlane) -> tuple[SignedIn, SignedIn]:
    a, b = plane.sign_in("proxy-a"), plane.sign_in("proxy-b")
    plane.wait_running(a)
    plane.wait_running(b)
    return a, b


def _direct(plane: ControlPlane, user: SignedIn) -> httpx.Client:
    """The user's bot asked directly, with its own token: what the bot itself says."""
    port = plane.tenant(user.tenant_id).port
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-Basis-Token": user.token}, timeout=30
    )


def test_each_session_reaches_only_its_own_bot(plane: ControlPlane, users: tuple[SignedIn, SignedIn]) -> None:
    a, b = users
    assert a.solana_address != b.solana_address and a.evm_address != b.evm_address
    for user in (a, b):
        r = user.client.get("/app/api/v1/balances")
        assert r.status_code == 200, r.text
        body = r.json()
        # The wallets of the session's own user, as the control plane created them...
        assert body["solana"]["address"] == user.solana_address
        assert body["arbitrum"]["address"] == user.evm_address
        # ...and what that user's bot answers when asked directly.
        with _direct(plane, user) as bot:
            assert bot.get("/api/v1/balances").json()["solana"]["address"] == user.solana_address
    # Without a session nothing is proxied.
    anonymous = httpx.get(plane.url + "/app/api/v1/balances", timeout=30)
    assert anonymous.status_code == 401


def test_a_state_change_needs_the_sessions_csrf_token(
    plane: ControlPlane, users: tuple[SignedIn, SignedIn]
) -> None:
    a, b = users
    with _direct(plane, a) as bot_a, _direct(plane, b) as bot_b:
        assert bot_a.get("/api/v1/status").json()["paused"] is False
        # No token: refused by the control plane, and the bot never sees it.
        r = a.client.post("/app/api/v1/control/pause", json={"reason": "no token"})
        assert r.status_code == 403, r.text
        assert "X-CSRF-Token" in r.json()["detail"]
        # Another session's token: refused too.
        r = a.client.post(
            "/app/api/v1/control/pause", json={"reason": "crossed"}, headers={"X-CSRF-Token": b.csrf}
        )
        assert r.status_code == 403, r.text
        assert bot_a.get("/api/v1/status").json()["paused"] is False
        # The session's own token: passes, and reaches this user's bot only.
        r = a.client.post(
            "/app/api/v1/control/pause", json={"reason": "with token"}, headers={"X-CSRF-Token": a.csrf}
        )
        assert r.status_code == 200, r.text
        assert bot_a.get("/api/v1/status").json()["paused"] is True
        assert bot_b.get("/api/v1/status").json()["paused"] is False
        r = a.client.post("/app/api/v1/control/resume", headers={"X-CSRF-Token": a.csrf})
        assert r.status_code == 200, r.text
        assert bot_a.get("/api/v1/status").json()["paused"] is False
