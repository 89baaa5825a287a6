"""Whatever a client sends, the Privy emulator answers a 4xx in Privy's error shape, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.mailbox import Mailbox
from devnet.privy import PrivyService, create_app

# The app's page, an allowed origin of the devnet's Privy (client calls need one).
PAGE = {"Origin": "http://127.0.0.1:8000"}

SVC = PrivyService(DevnetConfig(seed=3), SimClock(1.0), Mailbox())
API = TestClient(create_app(SVC), raise_server_exceptions=False, headers=PAGE)
BASIC = base64.b64encode(f"{SVC.app_id}:{SVC.app_secret_value()}".encode()).decode()
HEADERS = {"authorization": f"Basic {BASIC}", "privy-app-id": SVC.app_id}
SOL = API.post("/v1/wallets", json={"chain_type": "solana"}, headers=HEADERS).json()["id"]
ETH = API.post("/v1/wallets", json={"chain_type": "ethereum"}, headers=HEADERS).json()["id"]
USER = API.post(
    "/v1/users", json={"linked_accounts": [{"type": "email", "address": "fuzz@example.com"}]}, headers=HEADERS
).json()["id"]

PATHS = [
    "/api/v1/passwordless/init",
    "/api/v1/passwordless/authenticate",
    "/api/v1/sessions",
    "/api/v1/sessions/logout",
    "/v1/users",
    "/v1/users/email/address",
    f"/v1/users/{USER}/wallets",
    "/v1/wallets",
    f"/v1/wallets/{SOL}/rpc",
    f"/v1/wallets/{ETH}/rpc",
    "/v1/key_quorums",
]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Bodies shaped like the real ones, with wrong or odd values in the fields that matter.
known_keys = st.sampled_from(
    [
        "email",
        "code",
        "mode",
        "refresh_token",
        "linked_accounts",
        "wallets",
        "address",
        "chain_type",
        "owner",
        "owner_id",
        "additional_signers",
        "policy_ids",
        "public_keys",
        "authorization_threshold",
        "method",
        "params",
        "transaction",
        "typed_data",
        "message",
        "encoding",
    ]
)
shaped = st.dictionaries(known_keys, json_values, max_size=5)
rpc_bodies = st.fixed_dictionaries(
    {
        "method": st.sampled_from(
            ["signTransaction", "signMessage", "eth_signTypedData_v4", "personal_sign", "eth_signTransaction"]
        ),
        "params": st.dictionaries(known_keys, json_values, max_size=4),
    }
)


def check(response: Any) -> None:
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text
    if response.status_code != 200:
        body = response.json()
        assert set(body) == {"error", "code"} and body["error"] and body["code"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), body=shaped | json_values | rpc_bodies)
def test_any_json_body_gets_a_4xx_or_an_answer(path: str, body: Any) -> None:
    check(API.post(path, content=json.dumps(body), headers={**HEADERS, "content-type": "application/json"}))


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=64), path=st.sampled_from(PATHS))
def test_any_bytes_get_a_4xx_or_an_answer(raw: bytes, path: str) -> None:
    check(API.post(path, content=raw, headers={**HEADERS, "content-type": "application/json"}))


ASCII = st.characters(min_codepoint=32, max_codepoint=126)


@settings(max_examples=100, deadline=None)
@given(
    signature=st.text(alphabet=ASCII, max_size=40),
    expiry=st.text(alphabet=ASCII, max_size=12),
    authorization=st.text(alphabet=ASCII, max_size=40),
)
def test_odd_headers_get_a_4xx(signature: str, expiry: str, authorization: str) -> None:
    quorum = API.post("/v1/key_quorums", json={"user_ids": [USER]}, headers=HEADERS).json()["id"]
    wallet = API.post(
        "/v1/wallets", json={"chain_type": "ethereum", "owner_id": quorum}, headers=HEADERS
    ).json()
    headers = {**HEADERS, "privy-authorization-signature": signature, "privy-request-expiry": expiry}
    body = {"method": "personal_sign", "params": {"message": "x", "encoding": "utf-8"}}
    check(API.post(f"/v1/wallets/{wallet['id']}/rpc", json=body, headers=headers))
    check(API.get("/v1/wallets", headers={"authorization": authorization, "privy-app-id": SVC.app_id}))
    check(API.get("/api/v1/users/me", headers={"authorization": authorization, "privy-app-id": SVC.app_id}))
