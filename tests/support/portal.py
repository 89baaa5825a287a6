"""The control plane in this test process: the real app (`create_app`) on `basis serve`'s two listeners,
in a thread, for the portal and API-schema tests (`tests/support/control_plane.py` runs `basis serve`
as a process of its own instead), and the devnet's mailbox for sign-in codes."""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI

from orchestrator.app import create_app
from orchestrator.config import ControlPlaneSettings
from orchestrator.listeners import ControlPlaneServer, bind, listener_limits
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from tests.support.devnet import DevnetProcess
from tests.support.privy_page import latest_code, mailbox
from tests.support.tenants import kill_all, settings_for

__all__ = ["InProcessControlPlane", "Listeners", "latest_code", "loopback_sockets", "mailbox"]


def loopback_sockets() -> tuple[socket.socket, socket.socket]:
    """Two listening sockets on free loopback ports: the public listener's and the internal one's."""
    return bind("127.0.0.1", 0), bind("127.0.0.1", 0)


class Listeners:
    """`basis serve`'s two listeners (`ControlPlaneServer`) for an app of `create_app`, in a thread of
    this process: the public app on `sockets[0]`, the signing broker on `sockets[1]`."""

    def __init__(
        self, app: FastAPI, settings: ControlPlaneSettings, sockets: tuple[socket.socket, socket.socket]
    ) -> None:
        descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        public, internal = listener_limits(settings, descriptors)
        self.server = ControlPlaneServer(
            (app, public, sockets[0]), (app.state.internal_app, internal, sockets[1])
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def start(self, timeout: float = 20) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the control plane did not start")
            time.sleep(0.02)

    def stop(self, timeout: float = 15) -> None:
        self.server.exit()
        self.thread.join(timeout)


class InProcessControlPlane:
    """`create_app` on `basis serve`'s listeners on free loopback ports, in a thread of this process."""

    def __init__(self, devnet: DevnetProcess, root: Path) -> None:
        self.devnet = devnet
        sockets = loopback_sockets()
        self.port = sockets[0].getsockname()[1]
        self.settings = settings_for(
            devnet,
            root,
            port=self.port,
            # The bots reach the signing broker on the internal listener.
            broker_port=sockets[1].getsockname()[1],
            bot_env={"BASIS_TICK_SECONDS": "0.5", "BASIS_HEDGE_TIMEOUT_SECONDS": "8"},
            bot_start_timeout_seconds=90,
        )
        self.app = create_app(self.settings)
        self.listeners = Listeners(self.app, self.settings, sockets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tenants(self) -> TenantService:
        return self.app.state.ctx.tenants  # type: ignore[no-any-return]

    def start(self) -> None:
        self.listeners.start()

    def stop(self) -> None:
        self.listeners.stop()
        runtime = self.tenants.runtime
        assert isinstance(runtime, ProcessRuntime)
        kill_all(runtime)

    def stop_tenant(self, tenant_id: str) -> None:
        """Stop a tenant's bot as an operator would (`basis tenants stop`), from a thread of its own: the
        caller may be inside an event loop (Playwright's sync API runs one)."""
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self.tenants.stop(tenant_id)).result(timeout=120)

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
