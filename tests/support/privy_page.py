"""What the portal page does to sign in, for tests that sign users in over HTTP.

The page runs Privy's browser SDK, which calls Privy's auth API from the page's origin (with
`privy-app-id` and `Origin`) to send the email code and check it; the page then posts the access
token to the control plane (`POST /api/v1/auth/privy/session`). These helpers make the same calls,
reading the code from the devnet's mailbox as a person reads their email.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.devnet import DevnetProcess

# The SDK version the page bundles (portal-sdk/package.json), as it names itself.
SDK_CLIENT = "js-sdk-core:0.76.2"


def mailbox(devnet: DevnetProcess, email: str) -> list[dict[str, Any]]:
    """The devnet's messages to `email`, newest first."""
    return devnet.admin("GET", "/mailbox", params={"email": email}).json()["messages"]  # type: ignore[no-any-return]


def latest_code(devnet: DevnetProcess, email: str, seen: int = 0) -> str:
    """The code of the newest message to `email`, once more than `seen` messages have arrived."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        messages = mailbox(devnet, email)
        if len(messages) > seen:
            return str(messages[0]["code"])
        time.sleep(0.1)
    raise AssertionError(f"no new code arrived for {email}")


def privy_headers(devnet: DevnetProcess, origin: str) -> dict[str, str]:
    """The headers the SDK sends on Privy's client API from a page served at `origin`."""
    return {"privy-app-id": devnet.state()["privy"]["app_id"], "privy-client": SDK_CLIENT, "Origin": origin}


def privy_access_token(devnet: DevnetProcess, email: str, origin: str) -> str:
    """The SDK's email sign-in from a page at `origin`: a code sent, read from the mailbox, checked;
    the access token Privy answers."""
    headers = privy_headers(devnet, origin)
    seen = len(mailbox(devnet, email))
    with httpx.Client(base_url=devnet.url("privy"), headers=headers, timeout=30) as privy:
        sent = privy.post("/api/v1/passwordless/init", json={"email": email})
        assert sent.status_code == 200, sent.text
        code = latest_code(devnet, email, seen)
        checked = privy.post("/api/v1/passwordless/authenticate", json={"email": email, "code": code})
        assert checked.status_code == 200, checked.text
    return str(checked.json()["token"])


def sign_in_through_privy(
    client: httpx.Client, devnet: DevnetProcess, email: str, *, remember: bool = False
) -> httpx.Response:
    """What the page does: the code through Privy from the control plane's origin (the client's base
    URL), then the access token posted for a session. The control plane's answer."""
    csrf = client.cookies.get("basis_csrf") or client.get("/api/v1/auth/csrf").json()["csrf_token"]
    token = privy_access_token(devnet, email, str(client.base_url).rstrip("/"))
    return client.post(
        "/api/v1/auth/privy/session",
        json={"access_token": token, "remember": remember},
        headers={"X-CSRF-Token": csrf},
    )
