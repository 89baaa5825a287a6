"""Withdrawals from Hyperliquid to the address the user registered, confirmed in the dashboard.

Real processes: a devnet subprocess, a `basis serve` control plane (registered withdrawal addresses
usable after 2 s instead of a day, its signing broker) and the signed-in user's bot, which signs
through the broker. The dashboard is reached as the user reaches it, through the control plane's
proxy with the session and its CSRF token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import to_checksum_address

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import start_devnet

pytestmark = pytest.mark.devnet

DELAY_S = 2.0
DESTINATION = to_checksum_address("0x" + "5a" * 20)  # the user's own wallet elsewhere


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    dn = start_devnet(seed=47, speed=1.0)
    cp = ControlPlane(
        dn, Path(tmp_path_factory.mktemp("withdrawals")), overrides={"withdrawal_delay_seconds": DELAY_S}
    )
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


def hl_value(plane: ControlPlane, user: str) -> Decimal:
    r = httpx.post(plane.dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": user})
    return Decimal(r.json()["marginSummary"]["accountValue"])


def arbitrum_usdc_raw(plane: ControlPlane, address: str) -> int:
    account = plane.dn.state()["arbitrum"]["accounts"].get(to_checksum_address(address))
    return int(account["usdc_raw"]) if account else 0


def post(user: SignedIn, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return user.client.post("/app/api/v1/" + path, json=body, headers={"X-CSRF-Token": user.csrf})


def test_a_signed_in_users_deposit_is_bridged_through_the_broker(plane: ControlPlane) -> None:
    """The bridge transfer is signed by the user's Privy wallet through the broker (the bot holds no
    key), within its policy (USDC to Bridge2 only)."""
    user = plane.sign_in("depositor")
    plane.wait_running(user)
    plane.dn.faucet("arbitrum", "ETH", user.evm_address, "0.01")
    plane.dn.faucet("arbitrum", "USDC", user.evm_address, "80")
    deadline = time.monotonic() + 60  # the bot looks every 15 s (BASIS_DEPOSIT_POLL_SECONDS)
    while time.monotonic() < deadline and hl_value(plane, user.evm_address) != Decimal(80):
        time.sleep(0.5)
    assert hl_value(plane, user.evm_address) == Decimal(80), plane.logs()[-3000:]
    assert arbitrum_usdc_raw(plane, user.evm_address) == 0
    view = user.client.get("/app/api/v1/deposits").json()
    deadline = time.monotonic() + 30
    while view["transfers"][0]["state"] != "credited" and time.monotonic() < deadline:
        time.sleep(0.5)
        view = user.client.get("/app/api/v1/deposits").json()
    assert view["transfers"][0]["state"] == "credited" and view["transfers"][0]["amount_usdc"] == "80"


def test_a_confirmed_withdrawal_reaches_the_registered_address_less_the_fee(plane: ControlPlane) -> None:
    user = plane.sign_in("withdrawer")
    plane.wait_running(user)
    plane.dn.faucet("hyperliquid", "USDC", user.evm_address, "100")

    # No registered address: refused with a sentence, nothing signed.
    r = post(user, "withdrawals", {"amount_usdc": "20"})
    assert r.status_code == 409 and "No withdrawal address is registered" in r.json()["detail"], r.text

    r = user.client.put(
        "/api/v1/withdrawals/evm", json={"address": DESTINATION}, headers={"X-CSRF-Token": user.csrf}
    )
    assert r.status_code == 200, r.text
    # Registered a moment ago: still waiting.
    r = post(user, "withdrawals", {"amount_usdc": "20"})
    assert r.status_code == 409 and "waiting period" in r.json()["detail"], r.text
    time.sleep(DELAY_S + 0.5)  # the scenario: the address's waiting period passes

    # Bad amounts: 4xx with a sentence.
    for amount, words in (("1", "more than Hyperliquid's 1 USDC fee"), ("5000", "withdrawable")):
        r = post(user, "withdrawals", {"amount_usdc": amount})
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    assert post(user, "withdrawals", {"amount_usdc": "-3"}).status_code == 422

    # Step one: what will happen, nothing moves.
    r = post(user, "withdrawals", {"amount_usdc": "30"})
    assert r.status_code == 200, r.text
    quote = r.json()
    assert (quote["amount_usdc"], quote["fee_usdc"], quote["receive_usdc"]) == ("30", "1", "29")
    assert quote["destination"].lower() == DESTINATION.lower()
    # No wait: the desk works only inside requests (no task of its own), so whatever a quote sent, it
    # sent before answering; the totals after the confirmation below would also show a second send.
    assert hl_value(plane, user.evm_address) == Decimal(100)
    assert arbitrum_usdc_raw(plane, DESTINATION) == 0

    # Step two: confirmed, it arrives less the fee; a second confirmation does nothing.
    r = post(user, f"withdrawals/{quote['id']}/confirm")
    assert r.status_code == 200, (r.text, plane.logs()[-2000:])
    assert r.json()["state"] == "sent"
    assert arbitrum_usdc_raw(plane, DESTINATION) == 29 * 10**6
    assert hl_value(plane, user.evm_address) == Decimal(70)
    again = post(user, f"withdrawals/{quote['id']}/confirm")
    assert again.status_code == 404 and "request it again" in again.json()["detail"]
    assert arbitrum_usdc_raw(plane, DESTINATION) == 29 * 10**6
    events = user.client.get("/app/api/v1/events", params={"kind": "withdrawal.sent"}).json()["events"]
    assert len(events) == 1 and "29 USDC" in events[0]["message"]
