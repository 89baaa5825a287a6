"""The signing broker on a real control plane (`basis serve`), real bots and the devnet's Privy.

Two users sign in through the auth API (codes from the devnet's mailbox), so each has two Privy
wallets and a bot started with BASIS_SIGNER=broker. The tests then call `POST /internal/sign` as
those bots would (with their tenant tokens), and finally have A's bot open a position on the devnet
with its Privy wallets: every signature of that open went through the broker, since the bot holds no
key at all.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from hyperliquid.utils.signing import (
    USD_CLASS_TRANSFER_SIGN_TYPES,
    WITHDRAW_SIGN_TYPES,
    construct_phantom_agent,
    l1_payload,
    recover_agent_or_user_from_l1_action,
    user_signed_payload,
)
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer

from shared.assets import HYPERLIQUID_BRIDGE
from shared.transaction_policy import USDC_ARBITRUM
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import start_devnet
from tests.support.tenants import cold_environ, pid_alive

pytestmark = pytest.mark.devnet

STRANGER = Keypair().pubkey()
STRANGER_EVM = "0x" + "cd" * 20


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # A devnet of its own: one test turns Privy's faults on.
    dn = start_devnet(seed=31, speed=1.0)
    cp = ControlPlane(dn, Path(tmp_path_factory.mktemp("broker")))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
        dn.stop()


@pytest.fixture(scope="module")
def alice(plane: ControlPlane) -> SignedIn:
    return plane.sign_in("alice")


@pytest.fixture(scope="module")
def bob(plane: ControlPlane) -> SignedIn:
    return plane.sign_in("bob")


# ---------------------------------------------------------------------- payloads
def solana_message(owner: str, *ixs: Instruction, legacy: bool = False) -> bytes:
    payer = Pubkey.from_string(owner)
    if legacy:
        return bytes(Message(list(ixs), payer))
    return to_bytes_versioned(MessageV0.try_compile(payer, list(ixs), [], Hash.default()))


def pay(owner: str, lamports: int, to: Pubkey = STRANGER) -> Instruction:
    return transfer(TransferParams(from_pubkey=Pubkey.from_string(owner), to_pubkey=to, lamports=lamports))


def solana_body(message: bytes, address: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "solana_message", "payload": base64.b64encode(message).decode()}
    if address is not None:
        body["address"] = address
    return body


def agent_typed_data() -> dict[str, Any]:
    """A bare phantom agent (hex fields): what the bot's client once had signed as typed data."""
    return l1_payload(construct_phantom_agent("0x" + "11" * 32, False))


LEVERAGE = {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 3}


def l1_body(action: dict[str, Any] = LEVERAGE, nonce: int = 1_700_000_000_000) -> dict[str, Any]:
    """What the bot's Hyperliquid client sends now: the action, for the broker to hash and sign."""
    payload = {"action": action, "nonce": nonce, "vaultAddress": None, "expiresAfter": None}
    return {"kind": "hyperliquid_l1", "payload": payload}


def withdraw_typed_data(destination: str, amount: str = "10") -> dict[str, Any]:
    action = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": 1,
    }
    return user_signed_payload("HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, action)


def usdc_transfer(to: str, raw_amount: int, nonce: int = 0) -> dict[str, Any]:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, raw_amount]).hex()
    return {
        "type": 2,
        "chainId": 42161,
        "nonce": nonce,
        "to": USDC_ARBITRUM,
        "value": 0,
        "data": data,
        "gas": 90_000,
        "maxFeePerGas": 200_000_000,
        "maxPriorityFeePerGas": 0,
    }


def refused(plane: ControlPlane, user: SignedIn, body: dict[str, Any], status: int = 403) -> str:
    r = plane.sign_as(user, body)
    assert r.status_code == status, r.text
    return str(r.json()["detail"])


# ---------------------------------------------------------------------- signing for oneself
def test_a_tenant_token_signs_for_its_own_wallets(plane: ControlPlane, alice: SignedIn) -> None:
    owner = alice.solana_address
    budget = [set_compute_unit_limit(200_000), set_compute_unit_price(1_000)]
    for legacy in (False, True):
        message = solana_message(owner, *budget, pay(owner, 5_000), legacy=legacy)
        r = plane.sign_as(alice, solana_body(message, owner))
        assert r.status_code == 200, r.text
        signature = Signature.from_bytes(base64.b64decode(r.json()["signature"]))
        assert signature.verify(Pubkey.from_string(owner), message)

    typed = withdraw_typed_data(alice.evm_address)
    r = plane.sign_as(alice, {"kind": "typed_data", "payload": typed})
    assert r.status_code == 200, r.text
    rsv = r.json()
    assert set(rsv) == {"r", "s", "v"} and rsv["v"] in (27, 28)
    vrs = (rsv["v"], int(rsv["r"], 16), int(rsv["s"], 16))
    assert Account.recover_message(encode_typed_data(full_message=typed), vrs=vrs) == alice.evm_address
    # An L1 action: signed over the broker's own hash of it, for the devnet (testnet's source).
    r = plane.sign_as(alice, l1_body())
    assert r.status_code == 200, r.text
    signer = recover_agent_or_user_from_l1_action(LEVERAGE, r.json(), None, 1_700_000_000_000, None, False)
    assert signer == alice.evm_address

    tx = usdc_transfer(HYPERLIQUID_BRIDGE, 25 * 10**6)
    r = plane.sign_as(alice, {"kind": "evm_transaction", "address": alice.evm_address.lower(), "payload": tx})
    assert r.status_code == 200, r.text
    raw = bytes.fromhex(r.json()["raw_transaction"].removeprefix("0x"))
    assert Account.recover_transaction(raw) == alice.evm_address

    # Each signing is logged with tenant, kind and outcome; never the payload or the token.
    lines = [json.loads(line) for line in plane.logs().splitlines() if '"signing"' in line]
    mine = [e for e in lines if e.get("tenant") == alice.tenant_id and e.get("outcome") == "signed"]
    assert {e["kind"] for e in mine} >= {"solana_message", "typed_data", "evm_transaction", "hyperliquid_l1"}
    assert alice.token not in plane.logs()
    assert base64.b64encode(message).decode() not in plane.logs()


# ---------------------------------------------------------------------- who may sign
def test_a_token_cannot_sign_for_another_tenants_wallet(
    plane: ControlPlane, alice: SignedIn, bob: SignedIn
) -> None:
    message = solana_message(bob.solana_address, pay(bob.solana_address, 5_000))
    detail = refused(plane, alice, solana_body(message, bob.solana_address))
    assert bob.solana_address in detail and "not this tenant's" in detail
    detail = refused(
        plane, alice, {"kind": "typed_data", "address": bob.evm_address, "payload": agent_typed_data()}
    )
    assert "not this tenant's" in detail
    # Without naming B's wallet, A's token signs with A's key: B's transaction does not name A.
    detail = refused(plane, alice, solana_body(message))
    assert alice.solana_address in detail and "does not ask" in detail
    # A's token presented as B's tenant is no token at all.
    r = plane.sign(solana_body(message), token=alice.token, tenant_id=bob.tenant_id)
    assert r.status_code == 401, r.text
    # An EVM transaction from B's address is refused too.
    tx = {**usdc_transfer(HYPERLIQUID_BRIDGE, 25 * 10**6), "from": bob.evm_address}
    assert bob.evm_address in refused(plane, alice, {"kind": "evm_transaction", "payload": tx})


def test_no_token_or_a_wrong_one_is_401(plane: ControlPlane, alice: SignedIn) -> None:
    body = {"kind": "typed_data", "payload": agent_typed_data()}
    attempts = [
        (None, alice.tenant_id),
        ("not-the-token", alice.tenant_id),
        (alice.token, None),
        (alice.token, "t-doesnotexist"),
        (alice.token, "../etc"),
    ]
    for token, tenant in attempts:
        r = plane.sign(body, token=token, tenant_id=tenant)
        assert r.status_code == 401, (token is None, tenant, r.text)
        assert r.headers.get("www-authenticate") is None or "Bearer" in r.headers["www-authenticate"]
    r = plane.sign(body, token=None, tenant_id=alice.tenant_id)
    assert "Bearer" in r.json()["detail"]
    # A Basic or cookie credential is not a tenant token.
    r = httpx.post(
        plane.internal_url + "/internal/sign",
        json=body,
        headers={"Authorization": f"Basic {alice.token}", "X-Basis-Tenant": alice.tenant_id},
        cookies=dict(alice.client.cookies),
    )
    assert r.status_code == 401


# ---------------------------------------------------------------------- policy
def test_payloads_outside_policy_are_refused_with_the_reason(plane: ControlPlane, alice: SignedIn) -> None:
    owner = alice.solana_address
    rogue = Keypair().pubkey()
    ix = Instruction(rogue, b"drain", [AccountMeta(Pubkey.from_string(owner), True, False)])
    detail = refused(plane, alice, solana_body(solana_message(owner, ix)))
    assert str(rogue) in detail and "allow-list" in detail
    detail = refused(plane, alice, solana_body(solana_message(owner, pay(owner, 2 * 10**9))))
    assert "2 SOL" in detail and "0.01 SOL" in detail

    detail = refused(
        plane, alice, {"kind": "evm_transaction", "payload": usdc_transfer(STRANGER_EVM, 25 * 10**6)}
    )
    assert "not an allow-listed destination" in detail
    detail = refused(
        plane,
        alice,
        {"kind": "evm_transaction", "payload": usdc_transfer(HYPERLIQUID_BRIDGE, 200_000 * 10**6)},
    )
    assert "200000 USDC allowed" not in detail and "more than the 100000 USDC" in detail

    permit = {
        "domain": {"name": "USD Coin", "version": "2", "chainId": 42161, "verifyingContract": USDC_ARBITRUM},
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [{"name": "spender", "type": "address"}, {"name": "value", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "message": {"spender": STRANGER_EVM, "value": 2**255},
    }
    assert "'USD Coin'" in refused(plane, alice, {"kind": "typed_data", "payload": permit})
    approve = withdraw_typed_data(alice.evm_address)
    approve["primaryType"] = "HyperliquidTransaction:ApproveAgent"
    assert "ApproveAgent" in refused(plane, alice, {"kind": "typed_data", "payload": approve})
    assert STRANGER_EVM in refused(
        plane, alice, {"kind": "typed_data", "payload": withdraw_typed_data(STRANGER_EVM)}
    )
    action = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "amount": "5",
        "toPerp": True,
        "nonce": 1,
    }
    ok = user_signed_payload("HyperliquidTransaction:UsdClassTransfer", USD_CLASS_TRANSFER_SIGN_TYPES, action)
    assert plane.sign_as(alice, {"kind": "typed_data", "payload": ok}).status_code == 200


def test_unreadable_payloads_are_4xx_not_500(plane: ControlPlane, alice: SignedIn) -> None:
    bodies = [
        {"kind": "solana_message", "payload": "not base64!"},
        {"kind": "solana_message", "payload": base64.b64encode(b"\x80\x01\x02").decode()},
        {"kind": "solana_message", "payload": {"a": 1}},
        {"kind": "typed_data", "payload": "text"},
        {"kind": "typed_data", "payload": {"domain": [], "types": 3}},
        {"kind": "evm_transaction", "payload": {"chainId": "x"}},
        {"kind": "evm_transaction", "payload": {**usdc_transfer(HYPERLIQUID_BRIDGE, 10**7), "nonce": "lots"}},
        {"kind": "evm_transaction", "payload": {**usdc_transfer(HYPERLIQUID_BRIDGE, 10**7), "data": "0xzz"}},
        {"kind": "sign_anything", "payload": "x"},
        {"kind": "typed_data"},
        {"kind": "typed_data", "payload": {}, "extra": 1},
    ]
    for body in bodies:
        r = plane.sign_as(alice, body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert isinstance(r.json()["detail"], str | list)


def test_privy_down_is_a_502_with_a_sentence(plane: ControlPlane, alice: SignedIn) -> None:
    secret = plane.settings.privy_app_secret
    assert secret is not None
    plane.dn.faults("privy", error_rate=1.0)
    try:
        r = plane.sign_as(alice, l1_body())
    finally:
        plane.dn.faults("privy", error_rate=0.0)
    assert r.status_code == 502, r.text
    assert "Privy" in r.json()["detail"] and secret.get_secret_value() not in r.text
    assert plane.sign_as(alice, l1_body()).status_code == 200


# ---------------------------------------------------------------------- the bot
def test_bots_of_signed_in_users_get_the_broker_and_never_the_privy_secret(
    plane: ControlPlane, alice: SignedIn, bob: SignedIn
) -> None:
    for user in (alice, bob):
        plane.wait_running(user)
        tenant = plane.tenant(user.tenant_id)
        assert tenant.pid is not None and pid_alive(tenant.pid)
        env = cold_environ(plane.settings, user.tenant_id)  # the spare's /proc shows not the bot's own
        plane.wait_running(user)
        assert env[b"BASIS_SIGNER"] == b"broker"
        assert env[b"BASIS_BROKER_URL"].decode() == plane.internal_url  # the internal listener
        assert env[b"BASIS_SOLANA_ADDRESS"].decode() == user.solana_address
        assert env[b"BASIS_EVM_ADDRESS"].decode() == user.evm_address
        environ = b"\0".join(f"{k.decode()}={v.decode()}".encode() for k, v in env.items())
        privy_secret = plane.settings.privy_app_secret
        assert privy_secret is not None
        assert privy_secret.get_secret_value().encode() not in environ
        # Nor the control plane's own secret, from which every tenant's token derives.
        assert plane.settings.server_secret_value().get_secret_value().encode() not in environ
        # No key of its own: nothing to sign with but the broker.
        assert not (plane.settings.data_root / user.tenant_id / "keystore.json").exists()


def test_a_bot_opens_a_position_through_the_broker(plane: ControlPlane, alice: SignedIn) -> None:
    dn = plane.dn
    dn.faucet("solana", "SOL", alice.solana_address, "2")
    dn.faucet("solana", "USDC", alice.solana_address, "2000")
    dn.faucet("hyperliquid", "USDC", alice.evm_address, "2000")
    plane.wait_running(alice)
    api, csrf = alice.client, {"X-CSRF-Token": alice.csrf}

    status = api.get("/app/api/v1/status").json()
    assert status["wallets"] == {"signer": "broker", "solana": alice.solana_address, "evm": alice.evm_address}
    balances = api.get("/app/api/v1/balances").json()
    assert balances["solana"]["address"] == alice.solana_address
    assert balances["hyperliquid"]["address"] == alice.evm_address

    signed_before = _signed(plane, alice.tenant_id)
    r = api.post("/app/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"}, headers=csrf)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline, job = time.monotonic() + 90, {}
    while time.monotonic() < deadline:
        job = api.get(f"/app/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert job.get("state") == "done" and job.get("outcome") == "completed", (job, plane.logs()[-3000:])

    # The venues hold the position under the Privy addresses.
    hl = httpx.post(
        dn.url("hyperliquid") + "/info", json={"type": "clearinghouseState", "user": alice.evm_address}
    ).json()
    assert any(
        p["position"]["coin"] == "SOL" and float(p["position"]["szi"]) < 0 for p in hl["assetPositions"]
    )
    asgard = httpx.post(
        dn.url("asgard") + "/positions/open",
        json={"walletPubkey": alice.solana_address},
        headers={"X-API-Key": "test-key"},
    ).json()
    assert asgard, asgard
    # And the broker signed them: at least the Asgard transaction and the Hyperliquid order.
    signed = _signed(plane, alice.tenant_id)
    new = signed[len(signed_before) :]
    assert {"solana_message", "hyperliquid_l1"} <= {e["kind"] for e in new}, new


def _signed(plane: ControlPlane, tenant_id: str) -> list[dict[str, Any]]:
    out = []
    for line in plane.logs().splitlines():
        if '"signing"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("tenant") == tenant_id and entry.get("outcome") == "signed":
            out.append(entry)
    return out
