"""The control plane for the portal tests: the real app in a uvicorn server (no tests in here)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from orchestrator.app import create_app
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from tests.integration.orchestrator.test_tenants_support import kill_all, settings_for
from tests.support.devnet import DevnetProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ControlPlane:
    """`create_app` in a uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, devnet: DevnetProcess, root: Path) -> None:
        self.devnet = devnet
        self.port = free_port()
        self.settings = settings_for(
            devnet,
            root,
            # The bots reach the signing broker at this control plane's own address.
            port=self.port,
            bot_env={"BASIS_TICK_SECONDS": "0.5", "BASIS_HEDGE_TIMEOUT_SECONDS": "8"},
            bot_start_timeout_seconds=90,
        )
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tenants(self) -> TenantService:
        return self.app.state.tenants  # type: ignore[no-any-return]

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the control plane did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        runtime = self.tenants.runtime
        assert isinstance(runtime, ProcessRuntime)
        kill_all(runtime)

    def bot(self, user_id: str) -> httpx.Client:
        """A client straight to the user's bot (not through the proxy), with the bot's token."""
        tenant = self.tenants.of_user(user_id)
        assert tenant is not None
        upstream = self.tenants.upstream(tenant.id)
        assert upstream is not None, f"{tenant.id} is not running ({tenant.status})"
        return httpx.Client(
            base_url=upstream.base_url,
            headers={"X-Basis-Token": upstream.token.get_secret_value()},
            timeout=15,
        )


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
