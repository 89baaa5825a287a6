"""Access-token checks, with a JWKS served in-process (Privy's side is the devnet's own test)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from orchestrator.auth.privy import InvalidAccessToken, PrivyClient

APP_ID = "app-under-test"


class Keys:
    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {"k1": ec.generate_private_key(ec.SECP256R1())}
        self.fetches = 0

    def jwks(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/v1/apps/{APP_ID}/jwks.json"
        self.fetches += 1
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return httpx.Response(200, json={"keys": keys})

    def token(self, kid: str = "k1", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "sid": "s1",
            "sub": "did:privy:abc",
            "iss": "privy.io",
            "aud": APP_ID,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def client(keys: Keys) -> PrivyClient:
    transport = httpx.MockTransport(keys.jwks)
    return PrivyClient(
        "http://privy.test", "http://privy.test", APP_ID, SecretStr("s" * 40), transport=transport
    )


async def test_a_good_token_verifies_and_the_jwks_is_cached(keys: Keys, client: PrivyClient) -> None:
    for _ in range(3):
        claims = await client.verify_access_token(keys.token())
        assert claims.user_id == "did:privy:abc" and claims.session_id == "s1"
    assert keys.fetches == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-app"},
        {"iss": "evil.io"},
        {"exp": int(time.time()) - 120},
        {"sid": None},
        {"sub": None},
    ],
)
async def test_bad_claims_are_refused(keys: Keys, client: PrivyClient, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidAccessToken):
        await client.verify_access_token(keys.token(**overrides))


async def test_other_algorithms_are_refused(client: PrivyClient) -> None:
    unsigned = jwt.encode({"sub": "did:privy:abc"}, None, algorithm="none", headers={"kid": "k1"})
    hs = jwt.encode({"sub": "did:privy:abc"}, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    for token in (unsigned, hs, "garbage"):
        with pytest.raises(InvalidAccessToken):
            await client.verify_access_token(token)


async def test_an_unknown_kid_refetches_once_then_cools_down(keys: Keys, client: PrivyClient) -> None:
    await client.verify_access_token(keys.token())
    keys.keys["k2"] = ec.generate_private_key(ec.SECP256R1())  # rotation
    assert (await client.verify_access_token(keys.token("k2"))).user_id == "did:privy:abc"
    assert keys.fetches == 2
    forged_kid = jwt.encode(
        {"sub": "x"}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "k9"}
    )
    for _ in range(5):
        with pytest.raises(InvalidAccessToken):
            await client.verify_access_token(forged_kid)
    assert keys.fetches == 3  # one refetch for the miss, then the cool-down
