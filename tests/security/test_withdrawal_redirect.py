"""A compromised bot tries to send its user's Hyperliquid balance elsewhere, or to learn another
user's withdrawal address.

Real processes: a devnet subprocess and a `basis serve` control plane (registered withdrawal
addresses usable after 2 s instead of a day). The attacks are made with a user's tenant token, as
code inside that user's bot would; the legitimate withdrawal (to the address the user registered)
must still be signed, and the devnet must pay it out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from hyperliquid.utils.signing import WITHDRAW_SIGN_TYPES, user_signed_payload

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import start_devnet

pytestmark = pytest.mark.devnet

DELAY_S = 2.0
ALICE_OWN = to_checksum_address("0x" + "a1" * 20)
BOB_OWN = to_checksum_address("0x" + "b0" * 20)
OUTSIDER = to_checksum_address("0x" + "66" * 20)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    dn = start_devnet(seed=61, speed=1.0)
    cp = ControlPlane(
        dn,
        Path(tmp_path_factory.mktemp("withdrawal-redirect")),
        overrides={"withdrawal_delay_seconds": DELAY_S},
    )
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


def register(user: SignedIn, address: str) -> None:
    r = user.client.put(
        "/api/v1/withdrawals/evm", json={"address": address}, headers={"X-CSRF-Token": user.csrf}
    )
    assert r.status_code == 200, r.text


def withdraw3(destination: str, amount: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The withdraw3 action a bot would send, and the typed data it asks the broker to sign."""
    action = {
        "type": "withdraw3",
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": int(time.time() * 1000),
    }
    return action, user_signed_payload("HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, dict(action))


def address_of(plane: ControlPlane, token: str | None, tenant_id: str | None) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if tenant_id is not None:
        headers["X-Basis-Tenant"] = tenant_id
    return httpx.get(plane.internal_url + "/internal/withdrawal-address", headers=headers, timeout=30)


def test_a_bot_gets_withdraw3_signed_only_to_its_users_registered_address(plane: ControlPlane) -> None:
    alice, bob = plane.sign_in("alice"), plane.sign_in("bob")
    register(alice, ALICE_OWN)
    register(bob, BOB_OWN)
    time.sleep(DELAY_S + 0.5)  # the scenario: the addresses' waiting period passes
    plane.dn.faucet("hyperliquid", "USDC", alice.evm_address, "500")

    # The attack: alice's bot asks for a withdrawal to an outsider, or to another user's address.
    for destination in (OUTSIDER, BOB_OWN):
        _, payload = withdraw3(destination, "400")
        r = plane.sign_as(alice, {"kind": "typed_data", "payload": payload})
        assert r.status_code == 403, r.text
        assert set(r.json()) == {"detail"} and destination in r.json()["detail"]

    # The legitimate withdrawal: signed, accepted by the devnet, paid out less the 1 USDC fee.
    action, payload = withdraw3(ALICE_OWN, "400")
    r = plane.sign_as(alice, {"kind": "typed_data", "payload": payload})
    assert r.status_code == 200, r.text
    signature = r.json()
    recovered = Account.recover_message(
        encode_typed_data(full_message=payload),
        vrs=(signature["v"], int(signature["r"], 16), int(signature["s"], 16)),
    )
    assert recovered.lower() == alice.evm_address.lower()
    sent = httpx.post(
        plane.dn.url("hyperliquid") + "/exchange",
        json={"action": action, "nonce": action["time"], "signature": signature},
        timeout=30,
    )
    assert sent.json()["status"] == "ok", sent.text
    accounts = plane.dn.state()["arbitrum"]["accounts"]
    assert int(accounts[ALICE_OWN]["usdc_raw"]) == 399 * 10**6
    assert OUTSIDER not in accounts and BOB_OWN not in accounts
    state = httpx.post(
        plane.dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": alice.evm_address}
    ).json()
    assert Decimal(state["marginSummary"]["accountValue"]) == Decimal(100)


def test_a_bot_reads_only_its_own_users_withdrawal_address(plane: ControlPlane) -> None:
    carol, dave = plane.sign_in("carol"), plane.sign_in("dave")
    register(carol, ALICE_OWN)
    # Without a token, with a token for another tenant id, with a made-up token: the same 401.
    assert address_of(plane, None, None).status_code == 401
    assert address_of(plane, carol.token, dave.tenant_id).status_code == 401
    assert address_of(plane, "not-a-token", carol.tenant_id).status_code == 401
    # Not on the public listener at all.
    public = httpx.get(
        plane.url + "/internal/withdrawal-address",
        headers={"Authorization": f"Bearer {carol.token}", "X-Basis-Tenant": carol.tenant_id},
        timeout=30,
    )
    assert public.status_code == 404
    # Each bot sees its own user's, and nothing of the other's.
    mine = address_of(plane, carol.token, carol.tenant_id)
    assert mine.status_code == 200 and mine.json()["evm"]["address"] == ALICE_OWN
    assert isinstance(mine.json()["evm"]["usable"], bool) and mine.json()["evm"]["usable_at"]
    theirs = address_of(plane, dave.token, dave.tenant_id)
    assert theirs.status_code == 200 and theirs.json() == {"evm": None}
