"""The sign-in API over real HTTP: email code from the devnet mailbox, sessions, CSRF, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update

from orchestrator.auth.models import WebSession
from orchestrator.auth.privy import PrivyClient
from orchestrator.auth.rate_limit import RateLimiter
from orchestrator.auth.router import (
    CSRF_COOKIE,
    CSRF_HEADER,
    FLOW_COOKIE,
    SESSION_COOKIE,
    SignIn,
    install_sign_in,
)
from orchestrator.auth.sessions import SessionStore
from orchestrator.database.session import open_database
from tests.integration.orchestrator.auth.conftest import AuthServer, MemoryDirectory, new_email
from tests.support.devnet import DevnetProcess
from tests.support.privy_page import privy_access_token

pytestmark = pytest.mark.devnet


def test_sign_in_then_me_with_the_cookie(auth_server: AuthServer) -> None:
    browser = auth_server.client()
    email = new_email()
    assert browser.get("/api/v1/auth/me").status_code == 401
    r = auth_server.initiate(browser, email)
    assert r.status_code == 202 and r.json() == {"status": "sent", "email": email}
    r = auth_server.verify(browser, email.upper(), auth_server.code(email), remember=False)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_new"] is True and body["user_id"] == "user-1"
    assert body["csrf_token"] == browser.cookies.get(CSRF_COOKIE)
    # The directory got the Privy user with its email.
    assert list(auth_server.directory.emails.values()) == [email]
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert (
        "HttpOnly" in session_cookie
        and "SameSite=lax" in session_cookie
        and "Max-Age=86400" in session_cookie
    )
    assert "Secure" not in session_cookie  # plain http on loopback
    csrf_cookie = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf_cookie
    me = browser.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["user_id"] == "user-1" and me.json()["remember"] is False
    assert browser.get("/api/v1/things").json() == {"read_by": "user-1"}
    # The cookie value is not what the database keeps.
    with auth_server.db() as db:
        ids = [row.id for row in db.query(WebSession).all()]
    assert browser.cookies.get(SESSION_COOKIE) not in ids and len(ids) == 1

    # A second sign-in of the same person: not new, 7-day cookie, previous session replaced.
    r = auth_server.sign_in(browser, email, remember=True)
    assert r.json()["is_new"] is False and r.json()["user_id"] == "user-1"
    assert "Max-Age=604800" in next(
        c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    with auth_server.db() as db:
        assert db.query(WebSession).count() == 1


def test_state_changes_need_the_csrf_header(auth_server: AuthServer) -> None:
    browser = auth_server.client()
    email = new_email()
    # Anonymous: no header (and no cookie) → 403, Privy is not asked.
    r = browser.post("/api/v1/auth/privy/initiate", json={"email": email})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    assert auth_server.dn.admin("GET", "/mailbox", params={"email": email}).json()["messages"] == []
    auth_server.sign_in(browser, email)
    # Signed in: a state change without the header, or with a wrong one, is refused.
    assert browser.post("/api/v1/things").status_code == 403
    assert browser.post("/api/v1/things", headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert browser.post("/api/v1/auth/logout").status_code == 403
    ok = browser.post("/api/v1/things", headers=auth_server.csrf(browser))
    assert ok.status_code == 200 and ok.json() == {"changed_by": "user-1"}
    # A planted cookie equal to the header still fails: the token must be this session's own.
    browser.cookies.set(CSRF_COOKIE, "planted", domain="127.0.0.1")
    assert browser.post("/api/v1/things", headers={"X-CSRF-Token": "planted"}).status_code == 403


def test_logout_ends_the_session(auth_server: AuthServer) -> None:
    browser = auth_server.client()
    auth_server.sign_in(browser, new_email())
    stolen = browser.cookies.get(SESSION_COOKIE)
    r = browser.post("/api/v1/auth/logout", headers=auth_server.csrf(browser))
    assert r.status_code == 204
    assert browser.cookies.get(SESSION_COOKIE) is None
    assert browser.get("/api/v1/auth/me").status_code == 401
    # The old cookie value is dead on the server, not only forgotten by the browser.
    replay = auth_server.client()
    replay.cookies.set(SESSION_COOKIE, str(stolen), domain="127.0.0.1")
    assert replay.get("/api/v1/auth/me").status_code == 401
    assert replay.get("/api/v1/things").status_code == 401


def test_an_expired_session_is_refused(auth_server: AuthServer) -> None:
    browser = auth_server.client()
    auth_server.sign_in(browser, new_email())
    with auth_server.db.begin() as db:
        db.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert browser.get("/api/v1/things").status_code == 401
    with auth_server.db() as db:
        assert db.query(WebSession).count() == 0  # deleted when seen expired


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "a@b",
        "two@@example.com",
        "dots..in@example.com",
        "x" * 300 + "@example.com",
        "a b@example.com",
    ],
)
def test_invalid_emails_are_422_with_a_sentence(auth_server: AuthServer, email: str) -> None:
    browser = auth_server.client()
    r = auth_server.initiate(browser, email)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.endswith(".") and detail[0].isupper()


def test_bad_codes_and_bodies_are_4xx(auth_server: AuthServer) -> None:
    browser = auth_server.client()
    email = new_email()
    r = auth_server.verify(browser, email, "12ab56")
    assert r.status_code == 422 and r.json()["detail"] == "The code is the 6 digits from the email."
    headers = auth_server.csrf(browser)
    r = browser.post(
        "/api/v1/auth/privy/verify", content=b"{", headers={**headers, "content-type": "application/json"}
    )
    assert r.status_code == 422
    r = browser.post("/api/v1/auth/privy/initiate", json={"mail": email}, headers=headers)
    assert r.status_code == 422


def test_five_wrong_codes_spend_the_flow_not_the_owners_sign_in(auth_server: AuthServer) -> None:
    """Five wrong codes used to lock the email for 15 minutes, the owner's right code included. Now
    they spend only the flow they were typed in; the owner, asking for a code from their own browser
    (another network), signs in at once."""
    attacker = auth_server.client("127.0.0.2")
    victim = new_email()
    assert auth_server.initiate(attacker, victim).status_code == 202
    right = auth_server.code(victim)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        r = auth_server.verify(attacker, victim, wrong)
        assert r.status_code == 401, r.text
        assert "wrong or has expired" in r.json()["detail"]
    r = auth_server.verify(attacker, victim, right)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["detail"] == "Too many wrong codes; send a new code."
    # The owner's browser, elsewhere: a new code, its own flow, signed in.
    owner = auth_server.client("127.0.1.3")
    assert auth_server.initiate(owner, victim).status_code == 202
    r = auth_server.verify(owner, victim, auth_server.code(victim))
    assert r.status_code == 200, r.text
    # The flow is spent by signing in: its cookie is cleared and opens nothing any more.
    assert owner.cookies.get(FLOW_COOKIE) is None


def test_code_requests_are_limited_per_email_and_network(auth_server: AuthServer) -> None:
    browser = auth_server.client("127.0.0.4")
    email = new_email()
    statuses = [auth_server.initiate(browser, email).status_code for _ in range(4)]
    assert statuses == [202] * 3 + [429]
    # Another network may still ask for that email's code: one network cannot spend it all.
    assert auth_server.initiate(auth_server.client("127.0.2.4"), email).status_code == 202


def test_outside_the_devnet_only_the_pages_privy_sign_in_is_served(
    dn: DevnetProcess, privy_credentials: tuple[str, str, str], control_plane_db_url: str
) -> None:
    """A production Privy app refuses its client API from a server, so outside the devnet the
    server-driven routes answer 410 and send nothing to Privy; the page's path signs in."""
    url, app_id, secret = privy_credentials
    db = open_database(control_plane_db_url)
    privy = PrivyClient(url, url, app_id, SecretStr(secret), origin="http://127.0.0.1:8000")
    app = FastAPI()
    install_sign_in(app, SignIn(privy, SessionStore(db), MemoryDirectory(), RateLimiter(db)))
    email = new_email()
    with TestClient(app) as browser:
        csrf = {CSRF_HEADER: browser.get("/api/v1/auth/csrf").json()["csrf_token"]}
        r = browser.post("/api/v1/auth/privy/initiate", json={"email": email}, headers=csrf)
        assert r.status_code == 410 and "portal page" in r.json()["detail"]
        r = browser.post("/api/v1/auth/privy/verify", json={"email": email, "code": "123456"}, headers=csrf)
        assert r.status_code == 410
        assert dn.admin("GET", "/mailbox", params={"email": email}).json()["messages"] == []
        token = privy_access_token(dn, email, "http://127.0.0.1:8000")
        r = browser.post("/api/v1/auth/privy/session", json={"access_token": token}, headers=csrf)
        assert r.status_code == 200, r.text
        assert browser.get("/api/v1/auth/me").status_code == 200
    db.kw["bind"].dispose()
