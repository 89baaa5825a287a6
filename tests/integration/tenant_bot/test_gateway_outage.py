"""The host's gateway killed under load (issue 17): bots holding positions keep them watched through
direct reads, pause entries, trade on nothing stale, and go back to the gateway when it returns.

A real `basis serve` control plane runs the gateway on its internal listener; two signed-in users'
bots (signer "broker", so their account reads go through it too) tick every second against one
devnet, each with an open position. The control plane is stopped (SIGTERM: the gateway, and the
signing broker with it, stop answering; the bots run on, as they outlive it). Then:
- each bot says it reads "fallback" and still sees its account, read directly, at most every
  `direct_read_seconds` (2 s here), so the account stays young while the market data ages;
- a flash crash on the devnet during the outage shows in each bot's mark (direct `allMids`);
- the market data passes its 20 s limit: entries stop with the risk engine's sentence, a manual open
  is refused with it, and no order or Asgard position appears on the venues;
- the control plane comes back on the same ports: each bot reads through the gateway again (its
  spend at the gateway grows), its data is young again and nothing blocks entries for age.

With the control plane down the broker cannot sign either, so the second test takes the gateway
away alone: the bots reach it through a relay process (`gateway_url`), SIGKILLed, while the broker
stays up. A crash deep enough for the Asgard health breaker then closes the position during the
outage, on direct reads and broker signatures, before any liquidation.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.control_plane import ControlPlane, SignedIn, free_port
from tests.support.devnet import DevnetProcess
from tests.support.tcp_relay import Relay, relay
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet

BOT_ENV = {"BASIS_TICK_SECONDS": "1", "BASIS_DIRECT_READ_SECONDS": "2"}
MAX_MARKET_AGE_S = 20  # the risk config's default `max_market_data_age_s`


@pytest.fixture
def plane(devnet_factory: Any, tmp_path: Path) -> Iterator[ControlPlane]:
    dn: DevnetProcess = devnet_factory(seed=61, speed=1.0)
    cp = ControlPlane(dn, tmp_path, overrides={"bot_env": BOT_ENV})
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


def _direct(plane: ControlPlane, user: SignedIn) -> httpx.Client:
    """The bot's own API on its loopback port, with its token: reachable while the control plane is down."""
    port = plane.tenant(user.tenant_id).port
    assert port is not None
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-Basis-Token": user.token}, timeout=30
    )


def _status(api: httpx.Client) -> dict[str, Any]:
    r = api.get("/api/v1/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _spent_at_gateway(plane: ControlPlane, user: SignedIn) -> int:
    r = httpx.get(
        plane.internal_url + "/gateway/v1/budget",
        headers={"Authorization": f"Bearer {user.token}", "X-Basis-Tenant": user.tenant_id},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return int(r.json()["tenant_spent"])


def _open(plane: ControlPlane, user: SignedIn) -> None:
    dn = plane.dn
    dn.faucet("solana", "SOL", user.solana_address, "2")
    dn.faucet("solana", "USDC", user.solana_address, "2000")
    dn.faucet("hyperliquid", "USDC", user.evm_address, "2000")
    plane.wait_running(user)
    r = user.client.post(
        "/app/api/v1/positions/open",
        json={"capital_usd": "1000", "asset": "SOL"},
        headers={"X-CSRF-Token": user.csrf},
    )
    assert r.status_code == 202, r.text
    job_id, job = r.json()["id"], {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = user.client.get(f"/app/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert job.get("outcome") == "completed", (job, plane.logs()[-3000:])


def _venue_trades(dn: DevnetProcess, user: SignedIn) -> tuple[int, int]:
    """(fills on Hyperliquid, Asgard positions open) of the user's wallets, as the venues say."""
    fills = httpx.post(dn.url("hyperliquid") + "/info", json={"type": "userFills", "user": user.evm_address})
    asgard = httpx.post(
        dn.url("asgard") + "/positions/open",
        json={"walletPubkey": user.solana_address},
        headers={"X-API-Key": "test-key"},
    )
    return len(fills.json()), len(asgard.json())


def _venue_mid(dn: DevnetProcess) -> Decimal:
    return Decimal(httpx.post(dn.url("hyperliquid") + "/info", json={"type": "allMids"}).json()["SOL"])


def _stale_blockers(status: dict[str, Any]) -> list[str]:
    return [b for b in status["entry_blockers"] if "market data is" in b]


def _paused_for_age(api: httpx.Client) -> dict[str, Any] | None:
    status = _status(api)
    return status if _stale_blockers(status) else None


def test_the_gateway_killed_under_load_keeps_positions_watched_and_entries_paused(
    plane: ControlPlane,
) -> None:
    dn = plane.dn
    users = [plane.sign_in("alice"), plane.sign_in("bob")]
    for user in users:
        _open(plane, user)
    apis = [_direct(plane, u) for u in users]

    # Through the gateway: market data young, account reads metered there for each tenant.
    for api in apis:
        wait_until(
            lambda api=api: _status(api)["data"]["reads"] == "gateway",
            timeout=30,
            what="reads via the gateway",
        )
        data = _status(api)["data"]
        assert data["market_age_s"] is not None and data["market_age_s"] <= MAX_MARKET_AGE_S, data
        assert data["account_age_s"] is not None and data["account_age_s"] <= 60, data
    spent_before = [_spent_at_gateway(plane, u) for u in users]
    assert all(s > 0 for s in spent_before), spent_before
    trades_before = [_venue_trades(dn, u) for u in users]
    marks_before = [Decimal(_status(api)["data"]["mark"]) for api in apis]

    # Kill the gateway (and the broker with it): the bots run on.
    assert plane.process is not None
    plane.process.send_signal(signal.SIGTERM)
    plane.process.wait(timeout=30)
    with pytest.raises(httpx.TransportError):
        httpx.get(plane.internal_url + "/health", timeout=2)

    for api in apis:
        wait_until(
            lambda api=api: _status(api)["data"]["reads"] == "fallback", timeout=30, what="the fallback"
        )

    # A price drop during the outage is seen through the direct reads.
    dn.scenario("flash_crash", drop=0.06)
    dn.advance(seconds=11 * 60)
    crashed = _venue_mid(dn)
    assert crashed < min(marks_before) * Decimal("0.97"), (crashed, marks_before)
    for api in apis:
        wait_until(
            lambda api=api: Decimal(_status(api)["data"]["mark"]) < crashed * Decimal("1.01"),
            timeout=30,
            what="the crash in the bot's mark",
        )

    # Entries pause on the aged market data; the account stays young (read directly every ~2 s).
    for api in apis:
        status = wait_until(
            lambda api=api: _paused_for_age(api),
            timeout=MAX_MARKET_AGE_S + 30,
            what="entries paused on old market data",
        )
        data = status["data"]
        assert data["reads"] == "fallback" and data["market_age_s"] > MAX_MARKET_AGE_S, data
        assert data["account_age_s"] < 20, data
        assert f"(the limit is {MAX_MARKET_AGE_S} s)" in _stale_blockers(status)[0]
        assert status["trading_state"] == "reducing"
        # The positions are still held and watched: no outage of the venues is reported.
        assert not any(o["source"] == "hyperliquid" for o in status["outages"]), status["outages"]
        refused = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"})
        assert refused.status_code == 409 and "market data is" in refused.text, refused.text
        assert not any("diverge" in b for b in status["entry_blockers"]), status["entry_blockers"]
    assert [_venue_trades(dn, u) for u in users] == trades_before, "something traded during the outage"

    # The gateway comes back: every bot reads through it again and entries are no longer held for age.
    plane.start()
    for api, user in zip(apis, users, strict=True):
        wait_until(
            lambda api=api: (
                (d := _status(api)["data"])["reads"] == "gateway" and d["market_age_s"] <= MAX_MARKET_AGE_S
            ),
            timeout=60,
            what="reads via the gateway again",
        )
        wait_until(
            lambda api=api: not _stale_blockers(_status(api)), timeout=30, what="the age blocker to clear"
        )
        # A new gateway counts from nothing: this tenant's reads are metered there again.
        wait_until(
            lambda user=user: _spent_at_gateway(plane, user) > 0, timeout=30, what="spend at the gateway"
        )
        positions = user.client.get("/app/api/v1/positions").json()["positions"]
        assert [p["status"] for p in positions] == ["open"], positions
    assert [_venue_trades(dn, u) for u in users] == trades_before
    for api in apis:
        api.close()


@pytest.fixture
def relayed(devnet_factory: Any, tmp_path: Path) -> Iterator[tuple[ControlPlane, Relay]]:
    """A control plane whose bots reach the gateway through a relay of its own process (`gateway_url`),
    and the signing broker directly: killing the relay takes the gateway away from them, and only it."""
    dn: DevnetProcess = devnet_factory(seed=62, speed=1.0)
    listen = free_port()
    cp = ControlPlane(
        dn,
        tmp_path,
        overrides={"bot_env": BOT_ENV, "gateway_url": f"http://127.0.0.1:{listen}/gateway/v1"},
    )
    try:
        with relay(listen, "127.0.0.1", cp.settings.broker_port) as r:
            cp.start()
            yield cp, r
    finally:
        cp.stop()


def _short_size(dn: DevnetProcess, user: SignedIn) -> Decimal:
    state = httpx.post(
        dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": user.evm_address}
    ).json()
    return sum((Decimal(p["position"]["szi"]) for p in state["assetPositions"]), Decimal(0))


def test_with_the_gateway_gone_a_crash_still_closes_the_position_through_the_broker(
    relayed: tuple[ControlPlane, Relay],
) -> None:
    """The gateway unreachable (its relay SIGKILLed) while the signing broker is up: a crash deep enough
    for the Asgard health breaker's close is seen through the direct reads, and the bot closes both legs,
    signed by the broker, with no liquidation. The gateway back, the bot reads through it again."""
    plane, gateway_relay = relayed
    dn = plane.dn
    user = plane.sign_in("carol")
    _open(plane, user)
    api = _direct(plane, user)
    wait_until(lambda: _status(api)["data"]["reads"] == "gateway", timeout=30, what="reads via the gateway")
    assert _short_size(dn, user) < 0

    gateway_relay.kill()
    wait_until(lambda: _status(api)["data"]["reads"] == "fallback", timeout=30, what="the fallback")
    assert httpx.get(plane.internal_url + "/health", timeout=5).status_code == 200  # the broker is up

    # About 18 % down in one minute: a 3x SOL long's health factor (about 0.21) falls below 0.05.
    dn.scenario("flash_crash", drop=0.18, minutes=1)
    dn.advance(seconds=120)

    def closed() -> list[dict[str, Any]] | None:
        positions = api.get("/api/v1/positions").json()["positions"]
        return positions if positions and all(p["status"] == "closed" for p in positions) else None

    wait_until(closed, timeout=120, what="the position closed during the gateway's outage")
    assert _status(api)["data"]["reads"] == "fallback"
    events = api.get("/api/v1/events", params={"limit": 500}).json()["events"]
    assert any("Asgard health factor" in json.dumps(e) for e in events), [e["kind"] for e in events]
    assert _short_size(dn, user) == 0
    asgard = httpx.post(
        dn.url("asgard") + "/positions/open",
        json={"walletPubkey": user.solana_address},
        headers={"X-API-Key": "test-key"},
    ).json()
    assert asgard == [], asgard

    gateway_relay.start()
    wait_until(lambda: _status(api)["data"]["reads"] == "gateway", timeout=60, what="reads via the gateway")
