"""The Privy emulator's auth API in-process, on a clock the tests move: code expiry and limits,
sessions and refresh-token rotation, token claims, signing-key rotation and the JWKS grace period.

Over-the-wire behaviour against a devnet process is in tests/integration/devnet/test_privy.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from devnet.clock import SimClock
from devnet.config import DevnetConfig
from devnet.mailbox import Mailbox
from devnet.privy import CodePolicy, PrivyService, create_app
from devnet.privy.ids import app_id_from_seed, app_secret_from_seed
from devnet.privy.service import KEY_GRACE_MS
from shared.logging import known_secrets

# The app's page, an allowed origin of the devnet's Privy (client calls need one).
PAGE = {"Origin": "http://127.0.0.1:8000"}


class FakeTime:
    """Starts at the real time (PyJWT checks `iat` against it) and moves only when told."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Env:
    time: FakeTime
    svc: PrivyService
    api: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"privy-app-id": self.svc.app_id}

    def init(self, email: str) -> Any:
        return self.api.post("/api/v1/passwordless/init", json={"email": email}, headers=self.headers)

    def code(self, email: str) -> str:
        messages = self.svc.mailbox.messages(email)
        assert messages, f"no mail for {email}"
        code = messages[0].code
        assert code is not None
        return code

    def authenticate(self, email: str, code: str, **extra: Any) -> Any:
        return self.api.post(
            "/api/v1/passwordless/authenticate",
            json={"email": email, "code": code, **extra},
            headers=self.headers,
        )

    def sign_in(self, email: str) -> dict[str, Any]:
        assert self.init(email).status_code == 200
        r = self.authenticate(email, self.code(email))
        assert r.status_code == 200, r.text
        return r.json()

    def jwks(self) -> jwt.PyJWKSet:
        r = self.api.get(f"/api/v1/apps/{self.svc.app_id}/jwks.json")
        assert r.status_code == 200
        return jwt.PyJWKSet.from_dict(r.json())

    def verify(self, token: str) -> dict[str, Any]:
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in self.jwks().keys if k.key_id == kid)
        return jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=self.svc.app_id,
            issuer="privy.io",
            # Times are checked against the fake clock by the tests themselves.
            options={"verify_exp": False, "verify_iat": False},
        )


def make_env(policy: CodePolicy | None = None, seed: int = 7) -> Env:
    fake = FakeTime()
    svc = PrivyService(DevnetConfig(seed=seed), SimClock(1.0, real=fake), Mailbox(), policy)
    return Env(fake, svc, TestClient(create_app(svc), headers=PAGE))


@pytest.fixture
def env() -> Iterator[Env]:
    yield make_env()


def email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


# ---------------------------------------------------------------------- app credentials


def test_app_id_and_secret_come_from_the_seed_and_the_secret_is_scrubbed_from_logs() -> None:
    a, b, other = make_env(seed=11), make_env(seed=11), make_env(seed=12)
    assert a.svc.app_id == b.svc.app_id != other.svc.app_id
    assert a.svc.app_secret_value() == b.svc.app_secret_value() != other.svc.app_secret_value()
    assert len(a.svc.app_id) == 25 and a.svc.app_id.startswith("c") and a.svc.app_id.isalnum()
    assert a.svc.app_secret_value().startswith("privy_app_secret_")
    assert a.svc.app_id == app_id_from_seed(11) and a.svc.app_secret_value() == app_secret_from_seed(11)
    assert a.svc.app_secret_value() in known_secrets()
    # The first signing key is the seed's too: a restarted devnet still verifies its old tokens.
    assert a.jwks().keys[0].key_id == b.jwks().keys[0].key_id != other.jwks().keys[0].key_id


def test_snapshot_has_the_credentials_and_no_wallet_key_or_code(env: Env) -> None:
    addr = email()
    env.sign_in(addr)
    env.init(addr)  # a pending code
    snap = env.svc.snapshot()
    assert snap["app_id"] == env.svc.app_id
    assert snap["app_secret"] == env.svc.app_secret_value()
    assert snap["signing_key"]["current_kid"] in snap["signing_key"]["jwks_kids"]
    assert [u["email"] for u in snap["users"]] == [addr]
    assert snap["pending_codes"] == 1
    assert env.code(addr) not in repr(snap)


# ---------------------------------------------------------------------- the code flow


def test_sign_in_issues_tokens_with_privy_claims(env: Env) -> None:
    addr = email()
    body = env.sign_in(addr)
    assert body["is_new_user"] is True
    assert body["session_update_action"] == "set"
    assert body["token"] == body["privy_access_token"]
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    assert header["kid"] == env.svc.keys.current.kid
    claims = env.verify(body["token"])
    assert claims["iss"] == "privy.io"
    assert claims["aud"] == env.svc.app_id
    assert claims["sub"] == body["user"]["id"] and claims["sub"].startswith("did:privy:")
    assert claims["iat"] == int(env.time.now)
    assert claims["exp"] - claims["iat"] == 3600
    assert isinstance(claims["sid"], str) and claims["sid"]
    # The identity token carries the linked accounts as a JSON string, as Privy's parsers read it.
    identity = env.verify(body["identity_token"])
    assert identity["sub"] == claims["sub"]
    assert addr in identity["linked_accounts"] and isinstance(identity["linked_accounts"], str)
    assert body["user"]["linked_accounts"][0]["address"] == addr


def test_second_sign_in_is_the_same_user_and_not_new(env: Env) -> None:
    addr = email()
    first = env.sign_in(addr)
    env.time.advance(60)
    second = env.sign_in(addr.upper())  # emails match case-insensitively
    assert second["is_new_user"] is False
    assert second["user"]["id"] == first["user"]["id"]
    email_account = second["user"]["linked_accounts"][0]
    assert email_account["latest_verified_at"] == email_account["first_verified_at"] + 60
    assert env.verify(second["token"])["sid"] != env.verify(first["token"])["sid"]


def test_no_signup_mode_refuses_an_unknown_email(env: Env) -> None:
    addr = email()
    env.init(addr)
    r = env.authenticate(addr, env.code(addr), mode="no-signup")
    assert r.status_code == 400
    assert r.json()["code"] == "user_does_not_exist"
    assert env.svc.users.by_email(addr) is None


def test_code_expires_after_its_ttl_on_the_real_clock() -> None:
    env = make_env(CodePolicy(code_ttl_ms=120_000))
    addr = email()
    env.init(addr)
    env.time.advance(120)
    r = env.authenticate(addr, env.code(addr))
    assert r.status_code == 422
    assert r.json() == {"error": "Invalid email and code combination", "code": "invalid_credentials"}


def test_code_within_its_ttl_works() -> None:
    env = make_env(CodePolicy(code_ttl_ms=120_000))
    addr = email()
    env.init(addr)
    env.time.advance(119)
    assert env.authenticate(addr, env.code(addr)).status_code == 200


def test_code_is_single_use(env: Env) -> None:
    addr = email()
    env.init(addr)
    code = env.code(addr)
    assert env.authenticate(addr, code).status_code == 200
    r = env.authenticate(addr, code)
    assert r.status_code == 422 and r.json()["code"] == "invalid_credentials"


def test_only_the_newest_code_is_valid(env: Env) -> None:
    addr = email()
    env.init(addr)
    old = env.code(addr)
    new = old
    while new == old:  # the same six digits twice is a one-in-a-million draw: send again
        env.init(addr)
        new = env.code(addr)
    assert env.authenticate(addr, old).status_code == 422
    assert env.authenticate(addr, new).status_code == 200


def test_five_wrong_tries_kill_the_code(env: Env) -> None:
    addr = email()
    env.init(addr)
    code = env.code(addr)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert env.authenticate(addr, wrong).status_code == 422
    r = env.authenticate(addr, code)
    assert r.status_code == 422 and r.json()["code"] == "invalid_credentials"


def test_four_wrong_tries_leave_the_code_usable(env: Env) -> None:
    addr = email()
    env.init(addr)
    code = env.code(addr)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        assert env.authenticate(addr, wrong).status_code == 422
    assert env.authenticate(addr, code).status_code == 200


def test_sends_are_limited_per_email_and_the_window_slides(env: Env) -> None:
    addr = email()
    for _ in range(5):
        assert env.init(addr).status_code == 200
    r = env.init(addr)
    assert r.status_code == 429
    assert r.json() == {"error": "Too many requests. Please wait to try again.", "code": "too_many_requests"}
    assert 1 <= int(r.headers["retry-after"]) <= 600
    assert len(env.svc.mailbox.messages(addr)) == 5  # no mail for the refused send
    assert env.init(email()).status_code == 200  # another address is not limited
    env.time.advance(600)
    assert env.init(addr).status_code == 200


def test_checks_are_limited_per_email(env: Env) -> None:
    addr = email()
    env.init(addr)
    for _ in range(2):  # two codes killed by wrong tries: 10 checks
        code = env.code(addr)
        for _ in range(5):
            env.authenticate(addr, f"{(int(code) + 1) % 1_000_000:06d}")
        env.init(addr)
    r = env.authenticate(addr, env.code(addr))
    assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
    env.time.advance(601)  # the window has slid (and the code expired): a new code works
    env.init(addr)
    assert env.authenticate(addr, env.code(addr)).status_code == 200


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "a@b", "a@@b.com", "two words@example.com", "x" * 65 + "@example.com", 42]
)
def test_invalid_email_is_a_clear_400(env: Env, bad: Any) -> None:
    r = env.api.post("/api/v1/passwordless/init", json={"email": bad}, headers=env.headers)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_data"
    assert r.json()["error"]


def test_missing_or_wrong_app_id_header(env: Env) -> None:
    body = {"email": email()}
    r = env.api.post("/api/v1/passwordless/init", json=body)
    assert r.status_code == 400 and r.json()["code"] == "missing_or_invalid_privy_app_id"
    r = env.api.post(
        "/api/v1/passwordless/init", json=body, headers={"privy-app-id": "cmnotthisapp000000000000x"}
    )
    assert r.status_code == 401 and r.json()["code"] == "missing_or_invalid_privy_app_id"


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"email": null}', "application/json"),
    ],
)
def test_malformed_bodies_are_400_not_500(env: Env, raw: bytes, content_type: str) -> None:
    r = env.api.post(
        "/api/v1/passwordless/init", content=raw, headers={**env.headers, "content-type": content_type}
    )
    assert r.status_code == 400
    assert set(r.json()) == {"error", "code"}


# ---------------------------------------------------------------------- sessions


def test_users_me_needs_a_live_session(env: Env) -> None:
    body = env.sign_in(email())
    bearer = {**env.headers, "authorization": f"Bearer {body['token']}"}
    r = env.api.get("/api/v1/users/me", headers=bearer)
    assert r.status_code == 200
    assert r.json()["user"]["id"] == body["user"]["id"]
    assert env.api.get("/api/v1/users/me", headers=env.headers).json()["code"] == "missing_or_invalid_token"
    garbage = {**env.headers, "authorization": "Bearer not.a.token"}
    assert env.api.get("/api/v1/users/me", headers=garbage).status_code == 401
    env.time.advance(3601)  # the access token has expired
    assert env.api.get("/api/v1/users/me", headers=bearer).status_code == 401


def test_refresh_rotates_the_refresh_token_and_reuse_revokes_the_session(env: Env) -> None:
    body = env.sign_in(email())
    env.time.advance(4000)  # access token expired; the refresh token still works
    r = env.api.post(
        "/api/v1/sessions",
        json={"refresh_token": body["refresh_token"]},
        headers={**env.headers, "authorization": f"Bearer {body['token']}"},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert fresh["is_new_user"] is False and fresh["session_update_action"] == "set"
    assert fresh["refresh_token"] != body["refresh_token"]
    claims = env.verify(fresh["token"])
    assert claims["sid"] == env.verify(body["token"])["sid"]
    assert claims["iat"] == int(env.time.now)
    # The old refresh token again: treated as stolen, the session ends.
    r = env.api.post("/api/v1/sessions", json={"refresh_token": body["refresh_token"]}, headers=env.headers)
    assert r.status_code == 401 and r.json()["code"] == "token_already_used"
    r = env.api.post("/api/v1/sessions", json={"refresh_token": fresh["refresh_token"]}, headers=env.headers)
    assert r.status_code == 401
    bearer = {**env.headers, "authorization": f"Bearer {fresh['token']}"}
    assert env.api.get("/api/v1/users/me", headers=bearer).status_code == 401


def test_refresh_with_another_sessions_access_token_is_refused(env: Env) -> None:
    one, two = env.sign_in(email()), env.sign_in(email())
    r = env.api.post(
        "/api/v1/sessions",
        json={"refresh_token": one["refresh_token"]},
        headers={**env.headers, "authorization": f"Bearer {two['token']}"},
    )
    assert r.status_code == 401
    # The refresh token was not used up by the refused call.
    r = env.api.post("/api/v1/sessions", json={"refresh_token": one["refresh_token"]}, headers=env.headers)
    assert r.status_code == 200


def test_refresh_needs_a_known_token(env: Env) -> None:
    for body in ({}, {"refresh_token": "made-up"}):
        r = env.api.post("/api/v1/sessions", json=body, headers=env.headers)
        assert r.status_code == 401 and r.json()["code"] == "missing_or_invalid_token"


def test_logout_ends_the_session(env: Env) -> None:
    body = env.sign_in(email())
    bearer = {**env.headers, "authorization": f"Bearer {body['token']}"}
    assert env.api.post("/api/v1/sessions/logout", headers=bearer).status_code == 200
    assert env.api.get("/api/v1/users/me", headers=bearer).status_code == 401
    r = env.api.post("/api/v1/sessions", json={"refresh_token": body["refresh_token"]}, headers=env.headers)
    assert r.status_code == 401
    r = env.api.post("/api/v1/sessions/logout", headers=bearer)
    assert r.status_code == 400 and r.json()["code"] == "already_logged_out"


def test_logout_with_the_refresh_token_once_the_access_token_has_expired(env: Env) -> None:
    body = env.sign_in(email())
    env.time.advance(3601)
    expired = {**env.headers, "authorization": f"Bearer {body['token']}"}
    r = env.api.post(
        "/api/v1/sessions/logout", json={"refresh_token": body["refresh_token"]}, headers=expired
    )
    assert r.status_code == 200
    r = env.api.post("/api/v1/sessions", json={"refresh_token": body["refresh_token"]}, headers=env.headers)
    assert r.status_code == 401
    assert env.api.post("/api/v1/sessions/logout", headers=env.headers).status_code == 401


# ---------------------------------------------------------------------- signing keys


def test_rotation_serves_old_and_new_keys_for_the_grace_period(env: Env) -> None:
    before = env.sign_in(email())
    old_kid = jwt.get_unverified_header(before["token"])["kid"]
    new_kid = env.svc.rotate_signing_key()
    assert new_kid != old_kid
    after = env.sign_in(email())
    assert jwt.get_unverified_header(after["token"])["kid"] == new_kid
    assert [k.key_id for k in env.jwks().keys] == [new_kid, old_kid]
    assert env.verify(after["token"])["sub"] == after["user"]["id"]
    assert env.verify(before["token"])["sub"] == before["user"]["id"]
    # The emulator itself still accepts the old key's tokens.
    bearer = {**env.headers, "authorization": f"Bearer {before['token']}"}
    assert env.api.get("/api/v1/users/me", headers=bearer).status_code == 200
    # The REST API's verification_key is the new key.
    settings = env.svc.app_settings(env.svc.app_id)
    assert settings["verification_key"] == env.svc.keys.current.public_pem()
    jwt.decode(
        after["token"],
        settings["verification_key"],
        algorithms=["ES256"],
        audience=env.svc.app_id,
        issuer="privy.io",
        options={"verify_exp": False},
    )
    # After the grace period (longer than any token's life) the old key is gone.
    assert KEY_GRACE_MS >= 3600 * 1000
    env.time.advance(KEY_GRACE_MS / 1000 + 1)
    assert [k.key_id for k in env.jwks().keys] == [new_kid]


def test_a_token_signed_by_a_foreign_key_is_refused(env: Env) -> None:
    body = env.sign_in(email())
    claims = env.verify(body["token"])
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        claims, forger, algorithm="ES256", headers={"kid": env.svc.keys.current.kid, "typ": "JWT"}
    )
    bearer = {**env.headers, "authorization": f"Bearer {forged}"}
    r = env.api.get("/api/v1/users/me", headers=bearer)
    assert r.status_code == 401 and r.json()["code"] == "missing_or_invalid_token"
    # An HS256 token under the same kid (algorithm confusion) is refused too.
    hs = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": env.svc.keys.current.kid})
    assert (
        env.api.get("/api/v1/users/me", headers={**env.headers, "authorization": f"Bearer {hs}"}).status_code
        == 401
    )
