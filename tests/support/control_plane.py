"""A real `basis serve` control plane as a process of its own, for the broker, CLI, security and
container tests: on free loopback ports (its public listener at `url`, the signing broker's internal one at
`internal_url`), in front of a devnet, and users signed in as the portal page does (the code through
the devnet's Privy, read from its mailbox; the access token posted to the control plane)."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import Tenant, User
from orchestrator.database.session import open_database
from orchestrator.runtimes.process import ProcessRuntime
from shared.launch import bot_token
from tests.support.devnet import ROOT, DevnetProcess, free_port
from tests.support.privy_page import sign_in_through_privy
from tests.support.tenants import kill_all, settings_env, settings_for


@dataclass
class SignedIn:
    """A user signed in through the portal's API: their browser-like client, tenant and wallets."""

    email: str
    client: httpx.Client
    csrf: str
    user_id: str
    tenant_id: str
    solana_address: str = ""
    evm_address: str = ""
    token: str = ""


@dataclass
class ControlPlane:
    dn: DevnetProcess
    root: Path
    settings: ControlPlaneSettings = field(init=False)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    users: list[SignedIn] = field(default_factory=list)
    # Settings beyond the test defaults, e.g. {"runtime": "docker", "docker_instance": ...}.
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = {"port": free_port(), "broker_port": free_port()}
        self.settings = settings_for(self.dn, self.root, **{**ports, **self.overrides})
        self.log_path = self.root / "control-plane.log"
        self.db = open_database(self.settings.database_url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def internal_url(self) -> str:
        """The internal listener: the signing broker, where bots (and only bots) call."""
        return f"http://127.0.0.1:{self.settings.broker_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60, preexec_fn: Any = None) -> None:
        """Start `basis serve`; `preexec_fn` runs in the child first (e.g. to lower its limits)."""
        env = settings_env(self.settings)
        env["BASIS_CP_LOG_JSON"] = "true"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "serve"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                preexec_fn=preexec_fn,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"basis serve exited with {self.process.returncode}:\n{self.logs()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"basis serve did not answer within {timeout}s:\n{self.logs()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL `basis serve`, as a crash or an OOM kill would: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        for user in self.users:
            user.client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.settings.runtime == "process":  # containers are the container tests' to remove
            kill_all(ProcessRuntime(self.settings.data_root))

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------------ users
    def sign_in(self, name: str) -> SignedIn:
        email = f"{name}-{secrets.token_hex(4)}@example.com"
        client = httpx.Client(base_url=self.url, timeout=60)
        r = sign_in_through_privy(client, self.dn, email)  # as the portal page does
        assert r.status_code == 200, r.text
        answer = r.json()
        user = SignedIn(email, client, answer["csrf_token"], answer["user_id"], answer["tenant_id"])
        with self.db() as s:
            row = s.get(User, user.user_id)
            assert row is not None and row.solana_address and row.evm_address
            user.solana_address, user.evm_address = row.solana_address, row.evm_address
        user.token = bot_token(self.settings.server_secret_value(), user.tenant_id).get_secret_value()
        self.users.append(user)
        return user

    def tenant(self, tenant_id: str) -> Tenant:
        with self.db() as s:
            tenant = s.scalar(select(Tenant).where(Tenant.id == tenant_id))
        assert tenant is not None
        return tenant

    def wait_running(self, user: SignedIn, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = user.client.get("/api/v1/tenant")
            if r.status_code == 200:
                view = r.json()
                if view["status"] == "running":
                    return view
                assert view["status"] != "failed", view
            time.sleep(0.2)
        raise AssertionError(f"the bot of {user.email} is not running: {view}\n{self.logs()[-3000:]}")

    # ------------------------------------------------------------------ the broker
    def sign(
        self,
        body: dict[str, Any],
        *,
        token: str | None,
        tenant_id: str | None,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if tenant_id is not None:
            headers["X-Basis-Tenant"] = tenant_id
        return httpx.post(self.internal_url + "/internal/sign", json=body, headers=headers, timeout=30)

    def sign_as(self, user: SignedIn, body: dict[str, Any]) -> httpx.Response:
        return self.sign(body, token=user.token, tenant_id=user.tenant_id)
