"""The Privy emulator's REST API in-process: app credentials, users, wallets, wallet RPC signing,
key quorums and authorization signatures.

Signatures made here are checked the way the venues check them (solders verification, eth_account
recovery), and authorization signatures are built the way Privy's docs show (sorted-key compact
JSON, P-256, DER, base64), independently of the emulator's own canonicaliser.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from fastapi.testclient import TestClient
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.mailbox import Mailbox
from devnet.privy import PrivyService, create_app

# The app's page, an allowed origin of the devnet's Privy (client calls need one).
PAGE = {"Origin": "http://127.0.0.1:8000"}

BASE = "http://testserver"


def p256_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A private key and its public key as base64 DER SPKI (Privy's format)."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(spki).decode()


def authorization_signature(
    key: ec.EllipticCurvePrivateKey, url: str, body: Any, headers: dict[str, str]
) -> str:
    payload = {"version": 1, "method": "POST", "url": url, "body": body, "headers": headers}
    # Privy's doc sample for Python: sorted keys, no whitespace (RFC 8785 for ASCII and integers).
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@dataclass
class Env:
    svc: PrivyService
    api: TestClient

    @property
    def headers(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.svc.app_id}:{self.svc.app_secret_value()}".encode()).decode()
        return {"authorization": f"Basic {basic}", "privy-app-id": self.svc.app_id}

    def post(self, path: str, body: Any, **headers: str) -> Any:
        return self.api.post(path, json=body, headers={**self.headers, **headers})

    def ok(self, path: str, body: Any, **headers: str) -> Any:
        r = self.post(path, body, **headers)
        assert r.status_code == 200, r.text
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.api.get(path, headers=self.headers, params=params)

    def wallet(self, chain_type: str, **fields: Any) -> dict[str, Any]:
        return self.ok("/v1/wallets", {"chain_type": chain_type, **fields})

    def rpc(
        self,
        wallet_id: str,
        body: dict[str, Any],
        keys: list[ec.EllipticCurvePrivateKey] = (),  # type: ignore[assignment]
        expiry: int | None = None,
        url: str | None = None,
    ) -> Any:
        privy_headers = {"privy-app-id": self.svc.app_id}
        if expiry is not None:
            privy_headers["privy-request-expiry"] = str(expiry)
        extra = dict(privy_headers)
        if keys:
            target = url or f"{BASE}/v1/wallets/{wallet_id}/rpc"
            extra["privy-authorization-signature"] = ",".join(
                authorization_signature(k, target, body, privy_headers) for k in keys
            )
        return self.api.post(f"/v1/wallets/{wallet_id}/rpc", json=body, headers={**self.headers, **extra})

    def quorum(self, public_keys: list[str], **fields: Any) -> str:
        return self.ok("/v1/key_quorums", {"public_keys": public_keys, **fields})["id"]


@pytest.fixture
def env() -> Iterator[Env]:
    svc = PrivyService(DevnetConfig(seed=7), SimClock(1.0), Mailbox())
    yield Env(svc, TestClient(create_app(svc), headers=PAGE))


def email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


def sol_transfer(payer: Pubkey, to: Pubkey, lamports: int = 1000) -> MessageV0:
    ix = transfer(TransferParams(from_pubkey=payer, to_pubkey=to, lamports=lamports))
    return MessageV0.try_compile(payer, [ix], [], Hash.new_unique())


def sign_solana(env: Env, wallet_id: str, tx: bytes, **kwargs: Any) -> Any:
    body = {
        "method": "signTransaction",
        "params": {"transaction": base64.b64encode(tx).decode(), "encoding": "base64"},
    }
    return env.rpc(wallet_id, body, **kwargs)


def typed_data_body(typed: dict[str, Any]) -> dict[str, Any]:
    return {"method": "eth_signTypedData_v4", "params": {"typed_data": typed}}


def split(signature: str) -> tuple[int, int, int]:
    raw = bytes.fromhex(signature.removeprefix("0x"))
    assert len(raw) == 65
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


# ---------------------------------------------------------------------- app credentials


def test_rest_api_needs_basic_auth_and_the_app_header(env: Env) -> None:
    good = env.headers
    wrong_secret = base64.b64encode(f"{env.svc.app_id}:privy_app_secret_nope".encode()).decode()
    cases = [
        {},
        {"privy-app-id": env.svc.app_id},
        {"authorization": good["authorization"]},
        {"authorization": f"Basic {wrong_secret}", "privy-app-id": env.svc.app_id},
        {"authorization": "Basic %%%", "privy-app-id": env.svc.app_id},
        {"authorization": good["authorization"].replace("Basic", "Bearer"), "privy-app-id": env.svc.app_id},
        {"authorization": good["authorization"], "privy-app-id": "cm0000000000000000000000x"},
    ]
    for headers in cases:
        r = env.api.get("/v1/wallets", headers=headers)
        assert r.status_code == 401, headers
        assert set(r.json()) == {"error", "code"}
    assert env.api.get("/v1/wallets", headers=good).status_code == 200
    # The JWKS is public on both hosts' paths; app settings are not.
    for path in (f"/v1/apps/{env.svc.app_id}/jwks.json", f"/api/v1/apps/{env.svc.app_id}/jwks.json"):
        assert env.api.get(path).json()["keys"][0]["kty"] == "EC"
    assert env.api.get("/v1/apps/cm0000000000000000000000x/jwks.json").status_code == 404
    assert env.api.get(f"/v1/apps/{env.svc.app_id}").status_code == 401
    settings = env.get(f"/v1/apps/{env.svc.app_id}").json()
    assert settings["id"] == env.svc.app_id
    assert settings["verification_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert env.api.get("/v1/nothing-here", headers=good).json()["code"] == "not_found"


# ---------------------------------------------------------------------- users


def test_create_user_with_pregenerated_wallets_lists_them_as_linked_accounts(env: Env) -> None:
    _, public = p256_key()
    signer = env.quorum([public], display_name="basis signer")
    addr = email()
    user = env.ok(
        "/v1/users",
        {
            "linked_accounts": [{"type": "email", "address": addr}],
            "wallets": [
                {"chain_type": "solana", "additional_signers": [{"signer_id": signer}]},
                {"chain_type": "ethereum", "additional_signers": [{"signer_id": signer}]},
            ],
        },
    )
    assert user["id"].startswith("did:privy:") and len(user["id"]) == len("did:privy:") + 25
    assert user["is_guest"] is False and user["mfa_methods"] == []
    email_account, sol, eth = user["linked_accounts"]
    assert email_account["type"] == "email" and email_account["address"] == addr
    for account, chain in ((sol, "solana"), (eth, "ethereum")):
        assert account["type"] == "wallet" and account["chain_type"] == chain
        assert account["connector_type"] == "embedded"
        assert account["wallet_client"] == account["wallet_client_type"] == "privy"
        assert account["delegated"] is True
        assert account["wallet_index"] == 0
        assert isinstance(account["verified_at"], int)
        wallet = env.get(f"/v1/wallets/{account['id']}").json()
        assert wallet["address"] == account["address"]
        assert wallet["additional_signers"] == [{"signer_id": signer}]
        assert wallet["owner_id"] is not None  # the user owns their wallets
    assert Pubkey.from_string(sol["address"])
    assert eth["address"].startswith("0x") and len(eth["address"]) == 42
    assert env.get(f"/v1/users/{user['id']}").json() == user
    assert env.ok("/v1/users/email/address", {"address": addr.upper()}) == user
    assert env.get("/v1/wallets", user_id=user["id"]).json()["data"][0]["id"] == sol["id"]


def test_pregenerate_wallets_for_an_existing_user(env: Env) -> None:
    user = env.ok("/v1/users", {"linked_accounts": [{"type": "email", "address": email()}]})
    assert len(user["linked_accounts"]) == 1
    after = env.ok(f"/v1/users/{user['id']}/wallets", {"wallets": [{"chain_type": "ethereum"}]})
    after = env.ok(f"/v1/users/{user['id']}/wallets", {"wallets": [{"chain_type": "ethereum"}]})
    wallets = [a for a in after["linked_accounts"] if a["type"] == "wallet"]
    assert [w["wallet_index"] for w in wallets] == [0, 1]
    assert [w["delegated"] for w in wallets] == [False, False]
    r = env.post(f"/v1/users/{user['id']}/wallets", {"wallets": [{"chain_type": "bitcoin-segwit"}]})
    assert r.status_code == 400 and "bitcoin-segwit" in r.json()["error"]
    r = env.post(
        "/v1/users/did:privy:cnotauser0000000000000000/wallets", {"wallets": [{"chain_type": "solana"}]}
    )
    assert r.status_code == 404


def test_user_errors(env: Env) -> None:
    addr = email()
    env.ok("/v1/users", {"linked_accounts": [{"type": "email", "address": addr}]})
    r = env.post("/v1/users", {"linked_accounts": [{"type": "email", "address": addr}]})
    assert r.status_code == 400 and r.json()["code"] == "linked_to_another_user"
    r = env.post("/v1/users", {"linked_accounts": [{"type": "email", "address": "nope"}]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_data"
    r = env.post("/v1/users", {"linked_accounts": []})
    assert r.status_code == 400
    r = env.post("/v1/users", {"linked_accounts": [{"type": "email", "address": email()}], "wallets": [{}]})
    assert r.status_code == 400 and "chain_type" in r.json()["error"]
    r = env.post("/v1/users/email/address", {"address": email()})
    assert r.status_code == 404
    assert env.get("/v1/users/did:privy:cnotauser0000000000000000").status_code == 404


def test_list_users_pages_and_delete(env: Env) -> None:
    ids = [
        env.ok("/v1/users", {"linked_accounts": [{"type": "email", "address": email()}]})["id"]
        for _ in range(5)
    ]
    first = env.get("/v1/users", limit=2).json()
    assert [u["id"] for u in first["data"]] == ids[:2]
    second = env.get("/v1/users", limit=2, cursor=first["next_cursor"]).json()
    assert [u["id"] for u in second["data"]] == ids[2:4]
    last = env.get("/v1/users", limit=2, cursor=second["next_cursor"]).json()
    assert [u["id"] for u in last["data"]] == ids[4:] and last["next_cursor"] is None
    assert env.get("/v1/users", limit=0).status_code == 400
    assert env.get("/v1/users", limit="ten").status_code == 400
    assert env.api.delete(f"/v1/users/{ids[0]}", headers=env.headers).status_code == 204
    assert env.get(f"/v1/users/{ids[0]}").status_code == 404
    assert env.api.delete(f"/v1/users/{ids[0]}", headers=env.headers).status_code == 404


# ---------------------------------------------------------------------- Solana signing


def test_solana_sign_transaction_fills_the_wallet_slot(env: Env) -> None:
    wallet = env.wallet("solana")
    payer = Pubkey.from_string(wallet["address"])
    message = sol_transfer(payer, Keypair().pubkey())
    unsigned = VersionedTransaction.populate(message, [Signature.default()])
    r = sign_solana(env, wallet["id"], bytes(unsigned))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "signTransaction" and body["data"]["encoding"] == "base64"
    signed = VersionedTransaction.from_bytes(base64.b64decode(body["data"]["signed_transaction"]))
    assert signed.message == message
    assert signed.verify_with_results() == [True]


def test_solana_partially_signed_transaction_keeps_the_other_signature(env: Env) -> None:
    wallet = env.wallet("solana")
    user = Pubkey.from_string(wallet["address"])
    custody = Keypair()  # e.g. Asgard's custody key, which signs first and pays the fee
    ixs = [
        transfer(TransferParams(from_pubkey=custody.pubkey(), to_pubkey=user, lamports=5)),
        transfer(TransferParams(from_pubkey=user, to_pubkey=custody.pubkey(), lamports=1)),
    ]
    message = MessageV0.try_compile(custody.pubkey(), ixs, [], Hash.new_unique())
    assert list(message.account_keys)[:2] == [custody.pubkey(), user]
    custody_sig = custody.sign_message(to_bytes_versioned(message))
    partial = VersionedTransaction.populate(message, [custody_sig, Signature.default()])
    body = sign_solana(env, wallet["id"], bytes(partial)).json()
    signed = VersionedTransaction.from_bytes(base64.b64decode(body["data"]["signed_transaction"]))
    assert signed.signatures[0] == custody_sig
    assert signed.verify_with_results() == [True, True]


def test_solana_legacy_transaction_comes_back_legacy(env: Env) -> None:
    wallet = env.wallet("solana")
    payer = Pubkey.from_string(wallet["address"])
    ix = transfer(TransferParams(from_pubkey=payer, to_pubkey=Keypair().pubkey(), lamports=7))
    legacy = Transaction.new_unsigned(Message.new_with_blockhash([ix], payer, Hash.new_unique()))
    body = sign_solana(env, wallet["id"], bytes(legacy)).json()
    signed = Transaction.from_bytes(base64.b64decode(body["data"]["signed_transaction"]))
    assert signed.message == legacy.message
    assert signed.verify_with_results() == [True]


def test_solana_refuses_a_transaction_the_wallet_need_not_sign(env: Env) -> None:
    wallet = env.wallet("solana")
    other = Keypair()
    message = sol_transfer(other.pubkey(), Pubkey.from_string(wallet["address"]))  # wallet only receives
    r = sign_solana(env, wallet["id"], bytes(VersionedTransaction.populate(message, [Signature.default()])))
    assert r.status_code == 400 and "not a required signer" in r.json()["error"]
    for bad in (b"\x01\x02", b""):
        r = env.rpc(
            wallet["id"],
            {"method": "signTransaction", "params": {"transaction": base64.b64encode(bad).decode()}},
        )
        assert r.status_code == 400
    r = env.rpc(wallet["id"], {"method": "signTransaction", "params": {"transaction": "@@not base64@@"}})
    assert r.status_code == 400
    r = env.rpc(
        wallet["id"], {"method": "signTransaction", "params": {"transaction": "AA==", "encoding": "base58"}}
    )
    assert r.status_code == 400 and "encoding" in r.json()["error"]


def test_solana_sign_message(env: Env) -> None:
    wallet = env.wallet("solana")
    message = b"sign in to basis"
    body = env.rpc(
        wallet["id"],
        {
            "method": "signMessage",
            "params": {"message": base64.b64encode(message).decode(), "encoding": "base64"},
        },
    ).json()
    signature = Signature.from_bytes(base64.b64decode(body["data"]["signature"]))
    assert signature.verify(Pubkey.from_string(wallet["address"]), message)


# ---------------------------------------------------------------------- Ethereum signing


HL_AGENT_TYPES = {
    "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]
}


@pytest.mark.parametrize(
    "variant",
    ["as_privy_docs", "no_domain_type", "camel_primary_type"],
)
def test_eth_sign_typed_data_recovers_to_the_wallet(env: Env, variant: str) -> None:
    wallet = env.wallet("ethereum")
    domain = {
        "name": "Exchange",
        "version": "1",
        "chainId": 1337,
        "verifyingContract": "0x0000000000000000000000000000000000000000",
    }
    message = {"source": "b", "connectionId": "0x" + secrets.token_hex(32)}
    full_types = {
        **HL_AGENT_TYPES,
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
    }
    typed: dict[str, Any] = {
        "domain": domain,
        "types": full_types,
        "message": message,
        "primary_type": "Agent",
    }
    if variant == "as_privy_docs":
        typed["domain"] = {**domain, "chainId": "0x539"}  # chainId as a hex string
    elif variant == "no_domain_type":
        typed["types"] = HL_AGENT_TYPES
    else:
        typed["primaryType"] = typed.pop("primary_type")
    body = env.rpc(wallet["id"], typed_data_body(typed)).json()
    assert body["method"] == "eth_signTypedData_v4" and body["data"]["encoding"] == "hex"
    r, s, v = split(body["data"]["signature"])
    assert v in (27, 28)
    signable = encode_typed_data(
        full_message={"domain": domain, "types": full_types, "primaryType": "Agent", "message": message}
    )
    assert Account.recover_message(signable, vrs=(v, r, s)) == wallet["address"]


def test_personal_sign_utf8_and_hex(env: Env) -> None:
    wallet = env.wallet("ethereum")
    for params, data in (
        ({"message": "hello basis", "encoding": "utf-8"}, b"hello basis"),
        ({"message": "0xdeadbeef", "encoding": "hex"}, bytes.fromhex("deadbeef")),
    ):
        body = env.rpc(wallet["id"], {"method": "personal_sign", "params": params}).json()
        recovered = Account.recover_message(
            encode_defunct(primitive=data), signature=body["data"]["signature"]
        )
        assert recovered == wallet["address"]
    r = env.rpc(wallet["id"], {"method": "personal_sign", "params": {"message": "zz", "encoding": "hex"}})
    assert r.status_code == 400


def test_eth_sign_transaction_is_from_the_wallet(env: Env) -> None:
    wallet = env.wallet("ethereum")
    tx = {
        "to": "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        "value": "0x0",
        "data": "0xa9059cbb" + "00" * 64,
        "chain_id": 42161,
        "nonce": 3,
        "gas_limit": "0x186a0",
        "max_fee_per_gas": 100_000_000,
        "max_priority_fee_per_gas": 0,
        "type": 2,
    }
    body = env.rpc(wallet["id"], {"method": "eth_signTransaction", "params": {"transaction": tx}}).json()
    assert body["data"]["encoding"] == "rlp"
    assert Account.recover_transaction(body["data"]["signed_transaction"]) == wallet["address"]


def test_methods_must_match_the_wallet_chain(env: Env) -> None:
    sol, eth = env.wallet("solana"), env.wallet("ethereum")
    r = env.rpc(sol["id"], {"method": "personal_sign", "params": {"message": "x", "encoding": "utf-8"}})
    assert r.status_code == 400 and "ethereum method" in r.json()["error"]
    r = env.rpc(
        eth["id"], {"method": "signTransaction", "params": {"transaction": "AA==", "encoding": "base64"}}
    )
    assert r.status_code == 400 and "solana method" in r.json()["error"]
    r = env.rpc(eth["id"], {"method": "personal_sign", "chain_type": "solana", "params": {"message": "x"}})
    assert r.status_code == 400
    r = env.rpc(eth["id"], {"method": "eth_mineBlock", "params": {}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_data"
    r = env.rpc(
        eth["id"], typed_data_body({"domain": {}, "types": {}, "message": {}, "primary_type": "Agent"})
    )
    assert r.status_code == 400
    bad_types = {"domain": {}, "types": {"Agent": [{"name": "x", "type": "uint999"}]}, "message": {"x": 1}}
    r = env.rpc(eth["id"], typed_data_body({**bad_types, "primary_type": "Agent"}))
    assert r.status_code == 400
    assert env.rpc("nosuchwallet00000000000", {"method": "personal_sign", "params": {}}).status_code == 404


# ---------------------------------------------------------------------- authorization signatures


def test_owner_key_wallet_needs_the_owners_signature(env: Env) -> None:
    owner, owner_public = p256_key()
    stranger, _ = p256_key()
    wallet = env.wallet("ethereum", owner={"public_key": owner_public})
    assert wallet["owner_id"]
    assert (
        env.get(f"/v1/key_quorums/{wallet['owner_id']}").json()["authorization_keys"][0]["public_key"]
        == owner_public
    )
    body = {"method": "personal_sign", "params": {"message": "hi", "encoding": "utf-8"}}
    r = env.rpc(wallet["id"], body)
    assert r.status_code == 401 and r.json()["code"] == "missing_or_empty_authorization_header"
    r = env.rpc(wallet["id"], body, keys=[stranger])
    assert r.status_code == 401 and r.json()["code"] == "zero_correct_authorization_signatures"
    r = env.rpc(wallet["id"], body, keys=[owner], url="https://api.privy.io/v1/wallets/x/rpc")
    assert r.status_code == 401
    assert env.rpc(wallet["id"], body, keys=[owner]).status_code == 200
    assert env.rpc(wallet["id"], body, keys=[stranger, owner]).status_code == 200
    # A signature over another body does not carry over.
    signature = authorization_signature(
        owner, f"{BASE}/v1/wallets/{wallet['id']}/rpc", body, {"privy-app-id": env.svc.app_id}
    )
    other = {"method": "personal_sign", "params": {"message": "send it all", "encoding": "utf-8"}}
    r = env.post(f"/v1/wallets/{wallet['id']}/rpc", other, **{"privy-authorization-signature": signature})
    assert r.status_code == 401


def test_request_expiry_is_honoured(env: Env) -> None:
    owner, owner_public = p256_key()
    wallet = env.wallet("solana", owner={"public_key": owner_public})
    body = {"method": "signMessage", "params": {"message": "aGk=", "encoding": "base64"}}
    now_ms = int(time.time() * 1000)
    assert env.rpc(wallet["id"], body, keys=[owner], expiry=now_ms + 60_000).status_code == 200
    r = env.rpc(wallet["id"], body, keys=[owner], expiry=now_ms - 1_000)
    assert r.status_code == 401 and r.json()["code"] == "request_expired"
    # The expiry is part of what is signed: dropping it from the signed headers breaks the signature.
    sig = authorization_signature(
        owner, f"{BASE}/v1/wallets/{wallet['id']}/rpc", body, {"privy-app-id": env.svc.app_id}
    )
    r = env.post(
        f"/v1/wallets/{wallet['id']}/rpc",
        body,
        **{"privy-authorization-signature": sig, "privy-request-expiry": str(now_ms + 60_000)},
    )
    assert r.status_code == 401


def test_additional_signer_quorum_and_threshold(env: Env) -> None:
    a, a_pub = p256_key()
    b, b_pub = p256_key()
    two_of_two = env.quorum([a_pub, b_pub], authorization_threshold=2)
    user = env.ok(
        "/v1/users",
        {
            "linked_accounts": [{"type": "email", "address": email()}],
            "wallets": [{"chain_type": "ethereum", "additional_signers": [{"signer_id": two_of_two}]}],
        },
    )
    wallet_id = user["linked_accounts"][1]["id"]
    body = {"method": "personal_sign", "params": {"message": "hi", "encoding": "utf-8"}}
    r = env.rpc(wallet_id, body, keys=[a])
    assert r.status_code == 401 and r.json()["code"] == "insufficient_correct_authorization_signatures"
    assert env.rpc(wallet_id, body, keys=[a, b]).status_code == 200
    # Without a signer, a user's wallet cannot be used by the app (only the user could sign).
    lonely = env.ok(f"/v1/users/{user['id']}/wallets", {"wallets": [{"chain_type": "solana"}]})
    lonely_id = lonely["linked_accounts"][2]["id"]
    r = env.rpc(lonely_id, {"method": "signMessage", "params": {"message": "aGk="}}, keys=[a, b])
    assert r.status_code == 401


def test_nested_key_quorum(env: Env) -> None:
    a, a_pub = p256_key()
    b, b_pub = p256_key()
    inner = env.quorum([b_pub])
    outer = env.ok(
        "/v1/key_quorums", {"public_keys": [a_pub], "key_quorum_ids": [inner], "authorization_threshold": 2}
    )
    assert outer["key_quorum_ids"] == [inner]
    wallet = env.wallet("ethereum", owner_id=outer["id"])
    body = {"method": "personal_sign", "params": {"message": "hi", "encoding": "utf-8"}}
    assert env.rpc(wallet["id"], body, keys=[a]).status_code == 401
    assert env.rpc(wallet["id"], body, keys=[a, b]).status_code == 200


def test_key_quorum_validation(env: Env) -> None:
    _, pub = p256_key()
    secp256k1 = (
        ec.generate_private_key(ec.SECP256K1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert env.post("/v1/key_quorums", {"public_keys": [pem]}).status_code == 200
    # Privy's own examples break the base64 across lines.
    assert env.post("/v1/key_quorums", {"public_keys": [pub[:40] + "\n" + pub[40:]]}).status_code == 200
    for body in (
        {"public_keys": ["not a key"]},
        {"public_keys": [base64.b64encode(secp256k1).decode()]},
        {"public_keys": []},
        {"public_keys": [pub], "authorization_threshold": 2},
        {"user_ids": ["did:privy:cnotauser0000000000000000"]},
        {"key_quorum_ids": ["nosuchquorum000000000000"]},
    ):
        r = env.post("/v1/key_quorums", body)
        assert r.status_code == 400, body
        assert r.json()["code"] == "invalid_data"
    assert env.get("/v1/key_quorums/nosuchquorum000000000000").status_code == 404


def test_wallet_creation_rules(env: Env) -> None:
    _, pub = p256_key()
    quorum = env.quorum([pub])
    for body in (
        {"chain_type": "tron"},
        {"chain_type": "solana", "owner_id": "nosuchquorum000000000000"},
        {"chain_type": "solana", "owner": {"public_key": pub}, "owner_id": quorum},
        {"chain_type": "solana", "owner": {}},
        {"chain_type": "solana", "additional_signers": [{"signer_id": "nosuchquorum000000000000"}]},
        {"chain_type": "solana", "owner": {"user_id": "did:privy:cnotauser0000000000000000"}},
        {"chain_type": "solana", "policy_ids": ["a", "b"]},
    ):
        r = env.post("/v1/wallets", body)
        assert r.status_code == 400, body
    owned = env.wallet(
        "solana", owner_id=quorum, additional_signers=[{"signer_id": quorum}], external_id="t-1"
    )
    assert owned["owner_id"] == quorum and owned["external_id"] == "t-1"
    assert env.post("/v1/wallets", {"chain_type": "solana", "external_id": "t-1"}).status_code == 400
    assert env.get("/v1/wallets", external_id="t-1").json()["data"] == [owned]
    assert env.get("/v1/wallets", address=owned["address"]).json()["data"] == [owned]
    assert all(
        w["chain_type"] == "solana" for w in env.get("/v1/wallets", chain_type="solana").json()["data"]
    )
    assert env.get("/v1/wallets/nosuchwallet00000000000").status_code == 404


def test_idempotency_key_replays_the_first_answer(env: Env) -> None:
    key = secrets.token_hex(16)
    first = env.ok("/v1/wallets", {"chain_type": "ethereum"}, **{"privy-idempotency-key": key})
    again = env.ok("/v1/wallets", {"chain_type": "ethereum"}, **{"privy-idempotency-key": key})
    assert again == first
    assert env.svc.wallets.count() == 1
    r = env.post("/v1/wallets", {"chain_type": "solana"}, **{"privy-idempotency-key": key})
    assert r.status_code == 400


def test_patch_wallet_adds_a_signer_and_needs_the_owner_if_any(env: Env) -> None:
    signer, signer_pub = p256_key()
    quorum = env.quorum([signer_pub])
    app_owned = env.wallet("ethereum")
    r = env.api.patch(
        f"/v1/wallets/{app_owned['id']}",
        json={"additional_signers": [{"signer_id": quorum}]},
        headers=env.headers,
    )
    assert r.status_code == 200 and r.json()["additional_signers"] == [{"signer_id": quorum}]
    body = {"method": "personal_sign", "params": {"message": "hi", "encoding": "utf-8"}}
    assert env.rpc(app_owned["id"], body).status_code == 401  # now it needs the signer
    assert env.rpc(app_owned["id"], body, keys=[signer]).status_code == 200

    owner, owner_pub = p256_key()
    owned = env.wallet("ethereum", owner={"public_key": owner_pub})
    patch = {"display_name": "bot"}
    r = env.api.patch(f"/v1/wallets/{owned['id']}", json=patch, headers=env.headers)
    assert r.status_code == 401
    url = f"{BASE}/v1/wallets/{owned['id']}"
    payload = {
        "version": 1,
        "method": "PATCH",
        "url": url,
        "body": patch,
        "headers": {"privy-app-id": env.svc.app_id},
    }
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    sig = base64.b64encode(owner.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    r = env.api.patch(
        f"/v1/wallets/{owned['id']}",
        json=patch,
        headers={**env.headers, "privy-authorization-signature": sig},
    )
    assert r.status_code == 200 and r.json()["display_name"] == "bot"


def test_wallet_keys_never_leave_the_process(env: Env) -> None:
    eth = env.wallet("ethereum")
    sol = env.wallet("solana")
    eth_key = bytes(env.svc.wallets.key(eth["id"]).key).hex()
    sol_key = bytes(env.svc.wallets.key(sol["id"])).hex()
    seen = json.dumps([env.get(f"/v1/wallets/{w['id']}").json() for w in (eth, sol)])
    seen += json.dumps(env.svc.snapshot()) + repr(env.svc.wallets.get(eth["id"]))
    assert eth_key not in seen and sol_key not in seen
    assert eth_key[:16] not in seen and sol_key[:16] not in seen
