"""The auth router in a small app served by uvicorn on loopback, against a real devnet's Privy.

The user directory is a test double of the core's interface (it records users in memory); the
sessions and rate limits live in a real database, SQLite and PostgreSQL (`control_plane_db_url`);
Privy is the devnet process.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.privy import PrivyClient, PrivyUser
from orchestrator.auth.rate_limit import RateLimiter
from orchestrator.auth.router import CSRF_COOKIE, CurrentUser, SignedInUser, SignIn, install_sign_in
from orchestrator.auth.sessions import SessionStore
from orchestrator.database.session import open_database
from tests.support.devnet import DevnetProcess, start_devnet


class MemoryDirectory:
    """Stands in for the core's UserDirectory: one user id per Privy user, kept in memory."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.emails: dict[str, str] = {}

    async def sign_in(self, privy_user: PrivyUser) -> SignedInUser:
        is_new = privy_user.id not in self.users
        if is_new:
            self.users[privy_user.id] = f"user-{len(self.users) + 1}"
            self.emails[privy_user.id] = privy_user.email
        return SignedInUser(user_id=self.users[privy_user.id], is_new=is_new, tenant_id=None)


@dataclass
class AuthServer:
    url: str
    db: sessionmaker[Session]
    directory: MemoryDirectory
    dn: DevnetProcess
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A browser-like client connecting from `source` (any 127.x address is loopback)."""
        transport = httpx.HTTPTransport(local_address=source)
        client = httpx.Client(base_url=self.url, transport=transport, timeout=30)
        self.clients.append(client)
        return client

    def code(self, email: str) -> str:
        r = self.dn.admin("GET", "/mailbox", params={"email": email})
        assert r.status_code == 200, r.text
        return str(r.json()["messages"][0]["code"])

    def csrf(self, client: httpx.Client) -> dict[str, str]:
        token = client.cookies.get(CSRF_COOKIE) or client.get("/api/v1/auth/csrf").json()["csrf_token"]
        return {"X-CSRF-Token": token}

    def initiate(self, client: httpx.Client, email: str) -> httpx.Response:
        return client.post("/api/v1/auth/privy/initiate", json={"email": email}, headers=self.csrf(client))

    def verify(self, client: httpx.Client, email: str, code: str, remember: bool = False) -> httpx.Response:
        body = {"email": email, "code": code, "remember": remember}
        return client.post("/api/v1/auth/privy/verify", json=body, headers=self.csrf(client))

    def sign_in(self, client: httpx.Client, email: str, remember: bool = False) -> httpx.Response:
        assert self.initiate(client, email).status_code == 202
        r = self.verify(client, email, self.code(email), remember)
        assert r.status_code == 200, r.text
        return r


def new_email() -> str:
    return f"person-{secrets.token_hex(5)}@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def dn() -> Iterator[DevnetProcess]:
    process = start_devnet(only=["privy"])
    yield process
    process.stop()


@pytest.fixture(scope="package")
def privy_credentials(dn: DevnetProcess) -> tuple[str, str, str]:
    state = dn.state()["privy"]
    return dn.url("privy"), state["app_id"], state["app_secret"]


@pytest.fixture
def auth_server(
    dn: DevnetProcess, privy_credentials: tuple[str, str, str], control_plane_db_url: str
) -> Iterator[AuthServer]:
    url, app_id, secret = privy_credentials
    db = open_database(control_plane_db_url)
    engine = db.kw["bind"]
    sessions = SessionStore(db)
    directory = MemoryDirectory()
    # The server-driven sign-in sends the page's origin, one the test devnet allows.
    privy = PrivyClient(url, url, app_id, SecretStr(secret), origin="http://127.0.0.1:8000")
    app = FastAPI()
    install_sign_in(app, SignIn(privy, sessions, directory, RateLimiter(db), server_codes=True))

    @app.post("/api/v1/things")
    async def change_something(user_id: CurrentUser) -> dict[str, str]:
        return {"changed_by": user_id}

    @app.get("/api/v1/things")
    async def read_something(user_id: CurrentUser) -> dict[str, str]:
        return {"read_by": user_id}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    running = AuthServer(f"http://127.0.0.1:{port}", db, directory, dn)
    yield running
    for client in running.clients:
        client.close()
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
