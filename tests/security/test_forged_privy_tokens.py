"""Forged Privy access tokens posted to the sign-in route of a real `basis serve` on a devnet.

The page signs in with Privy's SDK and posts the access token; anyone can post anything there. Each
forgery below is refused with 401 and a sentence saying why, sets no session and creates no user;
the token the devnet's Privy issued for a real sign-in still signs in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from devnet.privy.signing_keys import SigningKeyRing
from orchestrator.auth.router import CSRF_HEADER, SESSION_COOKIE
from orchestrator.database.models import User
from tests.security.signin_support import Plane, control_plane, new_email
from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.privy_page import privy_access_token, sign_in_through_privy

pytestmark = pytest.mark.devnet

SEED = 11


@pytest.fixture(scope="module")
def own_devnet() -> Iterator[DevnetProcess]:
    # A devnet of this module's own, so its signing key is the one its seed derives (no other test
    # rotated it): the forger below holds Privy's real key and still must not get in.
    dn = start_devnet(seed=SEED)
    try:
        yield dn
    finally:
        dn.stop()


@pytest.fixture(scope="module")
def plane(own_devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with control_plane(own_devnet, tmp_path_factory.mktemp("forged")) as p:
        yield p


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


class Forger:
    """Tokens in Privy's format, signed with the devnet Privy's own key unless said otherwise."""

    def __init__(self, dn: DevnetProcess) -> None:
        privy = dn.state()["privy"]
        self.app_id = privy["app_id"]
        self.key = SigningKeyRing(SEED, lambda: 0, 0).current
        assert self.key.kid == privy["signing_key"]["current_kid"]
        self.user = "did:privy:" + "c" * 25

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"sid": "s-forged", "sub": self.user, "iss": "privy.io", "aud": self.app_id}
        claims |= {"iat": now, "exp": now + 3600}
        return {k: v for k, v in (claims | overrides).items() if v is not None}

    def es256(
        self, key: ec.EllipticCurvePrivateKey | None = None, kid: str | None = None, **over: Any
    ) -> str:
        return jwt.encode(
            self.claims(**over),
            key or self.key.private_key,
            algorithm="ES256",
            headers={"kid": kid or self.key.kid},
        )

    def none(self) -> str:
        return _unsigned({"alg": "none", "typ": "JWT", "kid": self.key.kid}, self.claims()) + "."

    def hs256(self) -> str:
        # Key confusion: HMAC keyed with the public key, which anyone can read from the JWKS.
        body = _unsigned({"alg": "HS256", "typ": "JWT", "kid": self.key.kid}, self.claims())
        mac = hmac.new(self.key.public_pem().encode(), body.encode(), hashlib.sha256).digest()
        return body + "." + _b64(mac)


def _post(plane: Plane, token: str) -> httpx.Response:
    browser = plane.browser()
    return browser.client.post(
        "/api/v1/auth/privy/session", json={"access_token": token}, headers=browser.csrf()
    )


def _forgeries(f: Forger) -> list[tuple[str, str, str]]:
    attacker = ec.generate_private_key(ec.SECP256R1())
    good = f.es256()
    head, body, sig = good.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    flipped[5] ^= 0x01
    return [
        ("wrong audience", f.es256(aud="another-privy-app"), "issued for another Privy app"),
        ("wrong issuer", f.es256(iss="evil.example"), "not issued by Privy"),
        ("expired", f.es256(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "expired"),
        ("bad signature", f"{head}.{body}.{_b64(bytes(flipped))}", "signature does not verify"),
        ("attacker's key under Privy's kid", f.es256(key=attacker), "signature does not verify"),
        ("unknown kid", f.es256(key=attacker, kid="attacker-key"), "not in the app's JWKS"),
        ("alg none", f.none(), "not ES256"),
        ("alg HS256", f.hs256(), "not ES256"),
        ("no subject", f.es256(sub=None), "required claim is missing"),
        ("not a JWT", "not-a-token", "not a JWT"),
    ]


def test_forged_access_tokens_are_refused_and_the_real_one_signs_in(plane: Plane) -> None:
    forger = Forger(plane.dn)
    for name, token, reason in _forgeries(forger):
        r = _post(plane, token)
        assert r.status_code == 401, (name, r.status_code, r.text)
        detail = r.json()["detail"]
        assert detail.startswith("Privy access token refused:") and reason in detail, (name, detail)
        assert SESSION_COOKIE not in r.cookies, name
    with plane.cp.db() as s:  # no user was made for the forged subject
        assert s.scalar(select(User).where(User.privy_user_id == forger.user)) is None

    # The legitimate path: the page's SDK sign-in from the control plane's origin.
    browser = plane.browser()
    email = new_email("real")
    r = sign_in_through_privy(browser.client, plane.dn, email)
    assert r.status_code == 200, r.text
    assert browser.client.get("/api/v1/auth/me").status_code == 200


def test_a_real_token_from_another_sign_in_opens_only_its_own_users_session(plane: Plane) -> None:
    """The token names its user: posting someone's real token signs in as them only, and nothing in
    the body (an email, say) can choose another user."""
    email = new_email("owner")
    token = privy_access_token(plane.dn, email, plane.url)
    browser = plane.browser()
    r = browser.client.post(
        "/api/v1/auth/privy/session",
        json={"access_token": token, "email": "someone-else@example.com"},
        headers=browser.csrf(),
    )
    assert r.status_code == 200, r.text
    me = browser.client.get("/api/v1/portal/me").json()
    assert me["email"] == email


def test_the_session_route_needs_the_csrf_token(plane: Plane) -> None:
    token = privy_access_token(plane.dn, new_email("csrf"), plane.url)
    r = httpx.post(plane.url + "/api/v1/auth/privy/session", json={"access_token": token}, timeout=30)
    assert r.status_code == 403
    assert CSRF_HEADER in r.json()["detail"]
