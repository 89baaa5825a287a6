"""Helpers for the sign-in and deployment attack replays (no tests in here): a real `basis serve` on a
devnet (tests/support/control_plane.py `ControlPlane`), and browser-like
clients that connect from a chosen loopback source address (127.0.0.0/8 is all loopback on Linux),
so one test can play several people on several networks."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.auth.router import CSRF_COOKIE, CSRF_HEADER
from tests.support.control_plane import ControlPlane
from tests.support.devnet import DevnetProcess


def new_email(who: str = "person") -> str:
    return f"{who}-{secrets.token_hex(5)}@example.com"


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


@dataclass
class Browser:
    """A browser-like client (cookie jar, CSRF header) connecting from `source`."""

    url: str
    source: str = "127.0.0.1"
    headers: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        transport = httpx.HTTPTransport(local_address=self.source)
        self.client = httpx.Client(base_url=self.url, transport=transport, timeout=30, headers=self.headers)

    def csrf(self) -> dict[str, str]:
        token = (
            self.client.cookies.get(CSRF_COOKIE) or self.client.get("/api/v1/auth/csrf").json()["csrf_token"]
        )
        return {CSRF_HEADER: token}

    def initiate(self, email: str) -> httpx.Response:
        return self.client.post("/api/v1/auth/privy/initiate", json={"email": email}, headers=self.csrf())

    def verify(self, email: str, code: str) -> httpx.Response:
        return self.client.post(
            "/api/v1/auth/privy/verify", json={"email": email, "code": code}, headers=self.csrf()
        )

    def close(self) -> None:
        self.client.close()


@dataclass
class Plane:
    """A running `basis serve` and the browsers a test opened against it (closed at the end)."""

    cp: ControlPlane
    dn: DevnetProcess
    browsers: list[Browser] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.cp.url

    def browser(self, source: str = "127.0.0.1", **headers: str) -> Browser:
        b = Browser(self.url, source, headers)
        self.browsers.append(b)
        return b

    def code(self, email: str) -> str:
        """The newest code the devnet mailbox holds for `email` (only the newest one is valid)."""
        messages = self.dn.admin("GET", "/mailbox", params={"email": email}).json()["messages"]
        assert messages, f"no code was sent to {email}"
        return str(messages[0]["code"])  # the mailbox lists the newest first

    def codes_sent(self, email: str) -> int:
        return len(self.dn.admin("GET", "/mailbox", params={"email": email}).json()["messages"])


@contextlib.contextmanager
def control_plane(dn: DevnetProcess, root: Path, **overrides: Any) -> Iterator[Plane]:
    """`basis serve` on a free loopback port with the test defaults and `overrides`; stopped after."""
    cp = ControlPlane(dn, root, overrides={"bot_spare": False, **overrides})
    plane = Plane(cp, dn)
    try:
        cp.start()
        yield plane
    finally:
        for b in plane.browsers:
            b.close()
        cp.stop()
