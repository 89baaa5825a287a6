"""The portal's page and API over HTTP (no browser): what is served, and what needs a session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from orchestrator.database.models import Tenant
from orchestrator.portal import balance_state, qr_svg, tenant_progress
from tests.support.devnet import DevnetProcess
from tests.support.portal import InProcessControlPlane
from tests.support.privy_page import sign_in_through_privy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def cp(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessControlPlane]:
    plane = InProcessControlPlane(devnet, tmp_path_factory.mktemp("portal-api"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def _signed_in(cp: InProcessControlPlane) -> tuple[httpx.Client, str]:
    """A client with a session (cookies kept by the client) and its CSRF token."""
    client = httpx.Client(base_url=cp.url, timeout=30)
    email = f"portal-api-{secrets.token_hex(4)}@example.com"
    verified = sign_in_through_privy(client, cp.devnet, email)  # as the page does
    assert verified.status_code == 200, verified.text
    return client, verified.json()["csrf_token"]


def test_the_page_and_its_assets_come_from_this_origin_only(cp: InProcessControlPlane) -> None:
    page = httpx.get(cp.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # Its scripts may talk to this origin and to Privy's auth API (the SDK's), nowhere else.
    assert f"connect-src 'self' {cp.devnet.url('privy')}" in csp
    # Nothing in the page points at another host.
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page.text
    sdk = httpx.get(f"{cp.url}/static/privy-sdk.js", timeout=10)  # Privy's SDK, bundled and served here
    assert sdk.status_code == 200 and "js-sdk-core:" in sdk.text
    for asset in ("static/portal.js", "static/api.js", "static/portal.css"):
        r = httpx.get(f"{cp.url}/{asset}", timeout=10)
        assert r.status_code == 200, asset
        assert "https://" not in r.text and "http://" not in r.text.replace("http://www.w3.org", "")
    # Only files under static/ are served.
    for path in ("/static/../../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/nope.js"):
        assert httpx.get(cp.url + path, timeout=10).status_code == 404, path


def test_the_portal_api_needs_a_session(cp: InProcessControlPlane) -> None:
    for path in ("/api/v1/portal/me", "/api/v1/portal/balance", "/api/v1/portal/qr/solana.svg"):
        r = httpx.get(cp.url + path, timeout=10)
        assert r.status_code == 401, path
        assert r.json()["detail"] == "Sign in first."
    assert httpx.post(cp.url + "/api/v1/portal/bot/start", timeout=10).status_code == 401


def test_a_signed_in_user_gets_their_profile_qr_codes_and_balance(cp: InProcessControlPlane) -> None:
    client, csrf = _signed_in(cp)
    try:
        me = client.get("/api/v1/portal/me")
        assert me.status_code == 200
        assert me.headers["cache-control"] == "no-store"
        body = me.json()
        assert body["email"].startswith("portal-api-")
        assert body["solana_address"] and body["evm_address"].startswith("0x")
        assert body["tenant"]["status"] in {"provisioned", "starting", "running"}

        svg = client.get("/api/v1/portal/qr/solana.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.headers["cache-control"] == "no-store"
        assert svg.text.startswith("<svg") and "viewBox" in svg.text
        assert svg.content == qr_svg(body["solana_address"])
        assert client.get("/api/v1/portal/qr/bitcoin.svg").status_code == 422

        # A state change without the CSRF header is refused; with it, a running bot is left alone.
        assert client.post("/api/v1/portal/bot/start").status_code == 403
        started = client.post("/api/v1/portal/bot/start", headers={"X-CSRF-Token": csrf})
        assert started.status_code == 202 and started.json()["id"] == body["tenant"]["id"]

        balance = client.get("/api/v1/portal/balance").json()
        assert balance["state"] in {"empty", "unknown"}  # a new user's wallets hold nothing

        # A bot an operator stopped stays stopped: the portal says so and cannot start it.
        wait_until(
            lambda: client.get("/api/v1/portal/me").json()["tenant"]["status"] == "running",
            timeout=90,
            what="the bot to run",
        )
        cp.stop_tenant(body["tenant"]["id"])
        tenant = client.get("/api/v1/portal/me").json()["tenant"]
        assert tenant["status"] == "stopped" and tenant["desired_state"] == "stopped"
        # Read from the bot just before it stopped: it held nothing.
        kept = client.get("/api/v1/tenant").json()["positions_when_stopped"]
        assert kept["positions"] == [] and kept["as_of"]
        refused = client.post("/api/v1/portal/bot/start", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 409 and "operator" in refused.json()["detail"]
    finally:
        client.close()


def test_balance_state_reads_the_bots_answer() -> None:
    empty = {
        "solana": {"address": "x", "SOL": "0", "USDC": "0", "jitoSOL": "0"},
        "arbitrum": {"address": "0x", "USDC": "0", "ETH": "0"},
        "hyperliquid": {"address": "0x", "account_value": "0", "withdrawable": "0", "margin_used": "0"},
        "can_open": False,
    }
    assert balance_state(empty) == ("empty", None)
    funded = {**empty, "arbitrum": {"address": "0x", "USDC": "12.5", "ETH": "0"}}
    assert balance_state(funded) == ("funded", None)
    # A part the bot cannot read makes an empty answer unknown, never "empty".
    state, detail = balance_state({**empty, "hyperliquid": {"address": "0x", "error": "down"}})
    assert state == "unknown" and detail is not None and "hyperliquid" in detail
    # ...but funds seen elsewhere still count.
    assert balance_state({**funded, "solana": {"error": "down"}})[0] == "funded"
    assert balance_state({})[0] == "unknown"


def test_tenant_progress_counts_from_the_start_and_says_when_a_retry_comes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    starting = Tenant(
        id="t-a",
        status="starting",
        desired_state="running",
        started_at=now - timedelta(seconds=3),
        created_at=now - timedelta(seconds=5),
        failures=0,
    )
    view = tenant_progress(starting, now=now.timestamp())
    assert view["elapsed_s"] == 3.0 and view["retry_in_s"] is None
    failed = Tenant(
        id="t-b",
        status="failed",
        desired_state="running",
        last_error="the bot exited during start-up",
        next_attempt_at=now + timedelta(seconds=4),
        failures=2,
    )
    view = tenant_progress(failed, now=now.timestamp())
    assert view["retry_in_s"] == 4.0 and view["elapsed_s"] is None and view["failures"] == 2


def test_package_data_names_every_portal_file() -> None:
    """The wheel must carry the page: pyproject's package-data globs cover every file of orchestrator/web."""
    import tomllib

    root = Path(__file__).resolve().parents[3]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = globs.get("orchestrator", [])
    web = root / "orchestrator" / "web"
    files = [p.relative_to(root / "orchestrator") for p in web.rglob("*") if p.is_file()]
    assert files
    for f in files:
        assert any(f.match(pattern) for pattern in patterns), f"{f} is not in package-data"


def test_on_the_devnet_a_user_gets_test_funds_in_their_own_wallets_once_a_while(
    cp: InProcessControlPlane,
) -> None:
    client, csrf = _signed_in(cp)
    try:
        me = client.get("/api/v1/portal/me").json()
        # The deposit dialog's minimums, from the figures the bot and the bridge enforce.
        assert me["deposit_minimums"] == {"solana": {"SOL": "0.01"}, "evm": {"USDC": "5", "ETH": "0.0001"}}
        assert me["test_funds"] is True
        assert client.post("/api/v1/portal/test-funds").status_code == 403  # no CSRF header
        sent = client.post("/api/v1/portal/test-funds", headers={"X-CSRF-Token": csrf})
        assert sent.status_code == 200, sent.text
        assert {(s["chain"], s["asset"]) for s in sent.json()["sent"]} == {
            ("solana", "USDC"),
            ("solana", "SOL"),
            ("arbitrum", "USDC"),
            ("arbitrum", "ETH"),
        }
        again = client.post("/api/v1/portal/test-funds", headers={"X-CSRF-Token": csrf})
        assert again.status_code == 429 and "just sent" in again.json()["detail"]
        # The user's own bot sees them.
        wait_until(
            lambda: client.get("/api/v1/portal/balance").json()["state"] == "funded",
            timeout=90,
            what="the bot to see the test funds",
        )
    finally:
        client.close()
    # Signed out: nothing.
    assert httpx.post(cp.url + "/api/v1/portal/test-funds", timeout=10).status_code in (401, 403)
