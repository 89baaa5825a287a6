"""The Privy emulator over real HTTP, against a devnet process (`--only privy`).

Codes are read from the devnet mailbox through the admin API, tokens are verified with PyJWT's
JWKS client pointed at the devnet, and signatures are checked with the venues' own code
(Hyperliquid's recover functions, eth_account, solders). Each test signs in with its own email
addresses, so the per-email limits one test exhausts do not touch another.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct
from hyperliquid.utils.signing import (
    USD_SEND_SIGN_TYPES,
    action_hash,
    construct_phantom_agent,
    l1_payload,
    recover_agent_or_user_from_l1_action,
    recover_user_from_user_signed_action,
    user_signed_payload,
)
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from tests.support.devnet import DevnetProcess, start_devnet

# The app's page, an allowed origin of the devnet's Privy (client calls need one).
PAGE = {"Origin": "http://127.0.0.1:8000"}

pytestmark = pytest.mark.devnet


class Privy:
    """A thin client of both Privy hosts, as the control plane will hold one."""

    def __init__(self, dn: DevnetProcess) -> None:
        self.dn = dn
        self.url = dn.url("privy")
        state = dn.state()["privy"]
        self.app_id: str = state["app_id"]
        self.app_secret: str = state["app_secret"]
        self.http = httpx.Client(base_url=self.url, timeout=30, headers=PAGE)

    # auth API
    def auth(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            f"/api/v1{path}", json=body, headers={"privy-app-id": self.app_id, **(headers or {})}
        )

    def code(self, email: str) -> str:
        r = self.dn.admin("GET", "/mailbox", params={"email": email})
        assert r.status_code == 200, r.text
        messages = r.json()["messages"]
        assert messages, f"no mail for {email}"
        return messages[0]["code"]

    def sign_in(self, email: str) -> dict[str, Any]:
        assert self.auth("/passwordless/init", {"email": email}).json() == {"success": True}
        r = self.auth("/passwordless/authenticate", {"email": email, "code": self.code(email)})
        assert r.status_code == 200, r.text
        return r.json()

    # REST API
    @property
    def rest_headers(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.app_id}:{self.app_secret}".encode()).decode()
        return {"authorization": f"Basic {basic}", "privy-app-id": self.app_id}

    def rest(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.http.request(method, f"/v1{path}", json=body, headers={**self.rest_headers, **headers})

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        r = self.rest(method, path, body, **headers)
        assert r.status_code == 200, r.text
        return r.json()

    def rpc(
        self,
        wallet_id: str,
        body: dict[str, Any],
        keys: tuple[ec.EllipticCurvePrivateKey, ...] = (),
        expiry_ms: int | None = None,
    ) -> httpx.Response:
        """POST /v1/wallets/{id}/rpc, signed as Privy's docs describe when keys are given."""
        path = f"/v1/wallets/{wallet_id}/rpc"
        privy_headers = {"privy-app-id": self.app_id}
        if expiry_ms is not None:
            privy_headers["privy-request-expiry"] = str(expiry_ms)
        headers = dict(privy_headers)
        if keys:
            payload = {
                "version": 1,
                "method": "POST",
                "url": self.url + path,
                "body": body,
                "headers": privy_headers,
            }
            data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            headers["privy-authorization-signature"] = ",".join(
                base64.b64encode(k.sign(data, ec.ECDSA(hashes.SHA256()))).decode() for k in keys
            )
        return self.http.post(path, json=body, headers={**self.rest_headers, **headers})


@pytest.fixture(scope="module")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["privy"])
    yield process
    process.stop()


@pytest.fixture(scope="module")
def privy(dn: DevnetProcess) -> Privy:
    return Privy(dn)


def email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


def p256_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(spki).decode()


def vrs(signature: str) -> dict[str, Any]:
    raw = bytes.fromhex(signature.removeprefix("0x"))
    assert len(raw) == 65
    return {"r": "0x" + raw[:32].hex(), "s": "0x" + raw[32:64].hex(), "v": raw[64]}


# ---------------------------------------------------------------------- sign-in


def test_email_code_flow_tokens_verify_against_the_jwks(privy: Privy, dn: DevnetProcess) -> None:
    addr = email()
    first = privy.sign_in(addr)
    assert first["is_new_user"] is True and first["session_update_action"] == "set"
    token = first["token"]
    for jwks_url in (
        f"{privy.url}/api/v1/apps/{privy.app_id}/jwks.json",  # auth host path
        f"{privy.url}/v1/apps/{privy.app_id}/jwks.json",  # REST host path (Privy's server SDKs)
    ):
        key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=privy.app_id, issuer="privy.io")
        assert claims["sub"] == first["user"]["id"] and claims["sub"].startswith("did:privy:")
        assert claims["exp"] - claims["iat"] == 3600
        assert abs(claims["iat"] - time.time()) < 60
        assert claims["sid"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "JWT" and header["alg"] == "ES256" and header["kid"] == key.key_id
    # The code also went to the devnet log (the devnet's documented second mailbox).
    assert privy.code(addr) in dn.log()

    second = privy.sign_in(addr)
    assert second["is_new_user"] is False and second["user"]["id"] == first["user"]["id"]

    me = privy.http.get(
        "/api/v1/users/me",
        headers={"privy-app-id": privy.app_id, "authorization": f"Bearer {second['token']}"},
    )
    assert me.status_code == 200 and me.json()["user"]["id"] == first["user"]["id"]

    refreshed = privy.auth(
        "/sessions",
        {"refresh_token": second["refresh_token"]},
        {"authorization": f"Bearer {second['token']}"},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != second["refresh_token"]
    fresh_token = refreshed.json()["token"]
    assert jwt.decode(fresh_token, options={"verify_signature": False})["sid"] == claims_of(second)["sid"]

    bearer = {"authorization": f"Bearer {fresh_token}"}
    assert privy.auth("/sessions/logout", None, bearer).status_code == 200
    me = privy.http.get("/api/v1/users/me", headers={"privy-app-id": privy.app_id, **bearer})
    assert me.status_code == 401
    assert privy.auth("/sessions", {"refresh_token": refreshed.json()["refresh_token"]}).status_code == 401
    # No refresh token reached the log.
    assert second["refresh_token"] not in dn.log()


def claims_of(body: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(body["token"], options={"verify_signature": False})


def test_wrong_reused_and_exhausted_codes(privy: Privy) -> None:
    addr = email()
    privy.auth("/passwordless/init", {"email": addr})
    code = privy.code(addr)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = privy.auth("/passwordless/authenticate", {"email": addr, "code": wrong})
    assert r.status_code == 422
    assert r.json() == {"error": "Invalid email and code combination", "code": "invalid_credentials"}
    assert privy.auth("/passwordless/authenticate", {"email": addr, "code": code}).status_code == 200
    r = privy.auth("/passwordless/authenticate", {"email": addr, "code": code})  # used already
    assert r.status_code == 422

    other = email()
    privy.auth("/passwordless/init", {"email": other})
    code = privy.code(other)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert privy.auth("/passwordless/authenticate", {"email": other, "code": wrong}).status_code == 422
    r = privy.auth("/passwordless/authenticate", {"email": other, "code": code})  # dead after 5
    assert r.status_code == 422


def test_send_rate_limit(privy: Privy) -> None:
    addr = email()
    for _ in range(5):
        assert privy.auth("/passwordless/init", {"email": addr}).status_code == 200
    r = privy.auth("/passwordless/init", {"email": addr})
    assert r.status_code == 429
    assert r.json()["code"] == "too_many_requests"
    assert int(r.headers["retry-after"]) > 0


def test_app_id_header_and_email_validation(privy: Privy) -> None:
    r = privy.http.post("/api/v1/passwordless/init", json={"email": email()})
    assert r.status_code == 400 and r.json()["code"] == "missing_or_invalid_privy_app_id"
    r = privy.http.post(
        "/api/v1/passwordless/init",
        json={"email": email()},
        headers={"privy-app-id": "cm000000000000000000000x0"},
    )
    assert r.status_code == 401
    r = privy.auth("/passwordless/init", {"email": "not an email"})
    assert r.status_code == 400 and r.json() == {"error": "Invalid email address", "code": "invalid_data"}


# ---------------------------------------------------------------------- users and wallets


def test_rest_needs_the_app_secret(privy: Privy) -> None:
    assert privy.http.get("/v1/users").status_code == 401
    basic = base64.b64encode(f"{privy.app_id}:wrong".encode()).decode()
    r = privy.http.get("/v1/users", headers={"authorization": f"Basic {basic}", "privy-app-id": privy.app_id})
    assert r.status_code == 401 and r.json()["error"] == "Invalid app ID or app secret."
    settings = privy.ok("GET", f"/apps/{privy.app_id}")
    assert settings["verification_key"].startswith("-----BEGIN PUBLIC KEY-----")


def test_user_with_pregenerated_wallets_by_id_and_by_email(privy: Privy) -> None:
    _, signer_public = p256_key()
    signer = privy.ok("POST", "/key_quorums", {"public_keys": [signer_public]})["id"]
    addr = email()
    user = privy.ok(
        "POST",
        "/users",
        {
            "linked_accounts": [{"type": "email", "address": addr}],
            "wallets": [
                {"chain_type": "solana", "additional_signers": [{"signer_id": signer}]},
                {"chain_type": "ethereum", "additional_signers": [{"signer_id": signer}]},
            ],
        },
    )
    wallets = [a for a in user["linked_accounts"] if a["type"] == "wallet"]
    assert [w["chain_type"] for w in wallets] == ["solana", "ethereum"]
    assert all(w["delegated"] and w["connector_type"] == "embedded" for w in wallets)
    assert privy.ok("GET", f"/users/{user['id']}") == user
    assert privy.ok("POST", "/users/email/address", {"address": addr}) == user
    assert privy.rest("POST", "/users/email/address", {"address": email()}).status_code == 404
    # Signing in with that email finds the same user, wallets included.
    signed_in = privy.sign_in(addr)
    assert signed_in["is_new_user"] is False and signed_in["user"]["id"] == user["id"]
    assert signed_in["user"]["linked_accounts"][1:] == user["linked_accounts"][1:]


# ---------------------------------------------------------------------- signing


def test_hyperliquid_l1_action_signature_recovers_to_the_wallet(privy: Privy) -> None:
    wallet = privy.ok("POST", "/wallets", {"chain_type": "ethereum"})
    action = {
        "type": "order",
        "orders": [
            {"a": 5, "b": False, "p": "150.5", "s": "1.2", "r": False, "t": {"limit": {"tif": "Gtc"}}}
        ],
        "grouping": "na",
    }
    nonce = int(time.time() * 1000)
    payload = l1_payload(construct_phantom_agent(action_hash(action, None, nonce, None), False))
    typed = {
        "domain": payload["domain"],
        "types": payload["types"],
        "message": {**payload["message"], "connectionId": "0x" + payload["message"]["connectionId"].hex()},
        "primary_type": payload["primaryType"],
    }
    r = privy.rpc(wallet["id"], {"method": "eth_signTypedData_v4", "params": {"typed_data": typed}})
    assert r.status_code == 200, r.text
    signature = vrs(r.json()["data"]["signature"])
    assert signature["v"] in (27, 28)
    signer = recover_agent_or_user_from_l1_action(action, signature, None, nonce, None, False)
    assert signer == wallet["address"]


def test_hyperliquid_user_signed_action_recovers_to_the_wallet(privy: Privy) -> None:
    wallet = privy.ok("POST", "/wallets", {"chain_type": "ethereum"})
    action = {
        "type": "usdSend",
        "signatureChainId": "0x66eee",
        "hyperliquidChain": "Testnet",
        "destination": "0x" + secrets.token_hex(20),
        "amount": "12.5",
        "time": int(time.time() * 1000),
    }
    payload = user_signed_payload("HyperliquidTransaction:UsdSend", USD_SEND_SIGN_TYPES, action)
    typed = {
        "domain": {**payload["domain"], "chainId": action["signatureChainId"]},  # hex, as Privy allows
        "types": {k: v for k, v in payload["types"].items() if k != "EIP712Domain"},
        "message": payload["message"],
        "primary_type": payload["primaryType"],
    }
    r = privy.rpc(wallet["id"], {"method": "eth_signTypedData_v4", "params": {"typed_data": typed}})
    assert r.status_code == 200, r.text
    signer = recover_user_from_user_signed_action(
        dict(action),
        vrs(r.json()["data"]["signature"]),
        USD_SEND_SIGN_TYPES,
        "HyperliquidTransaction:UsdSend",
        False,
    )
    assert signer == wallet["address"]


def test_personal_sign_recovers_with_eth_account(privy: Privy) -> None:
    wallet = privy.ok("POST", "/wallets", {"chain_type": "ethereum"})
    body = {"method": "personal_sign", "params": {"message": "Basis sign-in", "encoding": "utf-8"}}
    signature = privy.rpc(wallet["id"], body).json()["data"]["signature"]
    assert (
        Account.recover_message(encode_defunct(text="Basis sign-in"), signature=signature)
        == wallet["address"]
    )


def test_solana_sign_transaction_and_partial_signatures(privy: Privy) -> None:
    wallet = privy.ok("POST", "/wallets", {"chain_type": "solana"})
    me = Pubkey.from_string(wallet["address"])
    custody = Keypair()
    ixs = [
        transfer(TransferParams(from_pubkey=custody.pubkey(), to_pubkey=me, lamports=10)),
        transfer(TransferParams(from_pubkey=me, to_pubkey=custody.pubkey(), lamports=1)),
    ]
    message = MessageV0.try_compile(custody.pubkey(), ixs, [], Hash.new_unique())
    first = custody.sign_message(to_bytes_versioned(message))
    partial = VersionedTransaction.populate(message, [first, Signature.default()])
    body = {
        "method": "signTransaction",
        "params": {"transaction": base64.b64encode(bytes(partial)).decode(), "encoding": "base64"},
    }
    r = privy.rpc(wallet["id"], body)
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "signTransaction"
    signed = VersionedTransaction.from_bytes(base64.b64decode(r.json()["data"]["signed_transaction"]))
    assert signed.signatures[0] == first
    assert signed.verify_with_results() == [True, True]
    # The wrong chain for the method is a 400.
    eth = privy.ok("POST", "/wallets", {"chain_type": "ethereum"})
    assert privy.rpc(eth["id"], body).status_code == 400


def test_owner_key_authorization_signatures(privy: Privy) -> None:
    owner, owner_public = p256_key()
    stranger, _ = p256_key()
    wallet = privy.ok("POST", "/wallets", {"chain_type": "ethereum", "owner": {"public_key": owner_public}})
    body = {"method": "personal_sign", "params": {"message": "move funds", "encoding": "utf-8"}}
    r = privy.rpc(wallet["id"], body)
    assert r.status_code == 401 and r.json()["code"] == "missing_or_empty_authorization_header"
    r = privy.rpc(wallet["id"], body, keys=(stranger,))
    assert r.status_code == 401 and r.json()["code"] == "zero_correct_authorization_signatures"
    now_ms = int(time.time() * 1000)
    r = privy.rpc(wallet["id"], body, keys=(owner,), expiry_ms=now_ms - 5_000)
    assert r.status_code == 401 and r.json()["code"] == "request_expired"
    r = privy.rpc(wallet["id"], body, keys=(owner,), expiry_ms=now_ms + 60_000)
    assert r.status_code == 200, r.text
    signature = r.json()["data"]["signature"]
    assert (
        Account.recover_message(encode_defunct(text="move funds"), signature=signature) == wallet["address"]
    )
    assert privy.rpc(wallet["id"], body, keys=(owner,)).status_code == 200


def test_state_shows_privy_users_and_wallets(privy: Privy, dn: DevnetProcess) -> None:
    addr = email()
    user = privy.sign_in(addr)["user"]
    state = dn.state()["privy"]
    assert state["app_id"] == privy.app_id and state["app_secret"] == privy.app_secret
    assert any(u["id"] == user["id"] and u["email"] == addr for u in state["users"])
    assert state["signing_key"]["current_kid"] in state["signing_key"]["jwks_kids"]
