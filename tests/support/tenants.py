"""Control-plane settings, tenant services and bot processes for the tests of tenants, the reconciler,
the CLI, the broker, the runtimes and the attack replays.

Each test gets its own database and data root, and a process runtime sees only the bots of its own
data root, so a reconciler never touches another test's bots.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from orchestrator.config import ControlPlaneSettings
from orchestrator.database.session import open_database
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from tests.support.devnet import DevnetProcess, free_port, free_port_block
from tests.support.privileges import bot_data_root
from tests.support.waiting import wait_until


def settings_for(dn: DevnetProcess, root: Path, **overrides: Any) -> ControlPlaneSettings:
    privy = dn.state()["privy"]
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{root / 'control.sqlite3'}",
        # Run as root, bots are users of their own, which must reach their folders: not under pytest's.
        "data_root": bot_data_root(),
        "server_secret": SecretStr("test-control-plane-secret"),
        "privy_app_id": privy["app_id"],
        "privy_app_secret": SecretStr(privy["app_secret"]),
        "privy_auth_url": dn.url("privy"),
        "privy_api_url": dn.url("privy"),
        "hyperliquid_url": dn.url("hyperliquid"),
        "asgard_url": dn.url("asgard"),
        "asgard_api_key": SecretStr("test-key"),
        "solana_rpc_url": dn.url("solana"),
        "arbitrum_rpc_url": dn.url("arbitrum"),
        "devnet_admin_url": dn.url("admin"),
        "bot_env": {"BASIS_TICK_SECONDS": "0.5"},
        # The control plane's listeners on ports of this test's own: `make run` on this machine holds the
        # defaults (8000, 8001), and a bot told the default broker address would sign through it.
        "port": free_port(),
        "broker_port": free_port(),
        # A block of ports of this test's own, never the default range `make run` and other runs use.
        "bot_port_min": (low := free_port_block(100)),
        "bot_port_max": low + 99,
        "bot_start_timeout_seconds": 60,
        "bot_stop_timeout_seconds": 20,
        "reconcile_interval_seconds": 0.5,
        "restart_backoff_seconds": 0.5,
        "restart_backoff_max_seconds": 5,
    }
    values.update(overrides)
    return ControlPlaneSettings(**values)


def settings_env(settings: ControlPlaneSettings) -> dict[str, str]:
    """The same settings as `BASIS_CP_*` variables, for a `basis` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict | list):
            import json

            value = json.dumps(value)
        env[f"BASIS_CP_{name.upper()}"] = str(value)
    return env


def service_for(settings: ControlPlaneSettings) -> TenantService:
    runtime = ProcessRuntime(settings.data_root, stop_timeout=settings.bot_stop_timeout_seconds)
    return TenantService(settings, open_database(settings.database_url), runtime)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """`wait_until` at a tenth of a second: these predicates ask a process over HTTP or read /proc."""
    return wait_until(predicate, timeout=timeout, what=what, every=0.1)


def health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def kill_all(runtime: ProcessRuntime) -> None:
    """Test clean-up: SIGKILL every bot of this runtime's data root."""
    for proc in runtime._scan():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def cold_environ(settings: ControlPlaneSettings, tenant_id: str) -> dict[bytes, bytes]:
    """A bot's whole environment, read as root from /proc after restarting it cold.

    A bot that was the pre-imported spare shows in /proc the environment the spare started with (no
    settings in it: it got them later, on its stdin); `basis tenants restart` keeps no spare, so the
    bot it starts shows its own. Returns the new process's environment."""
    from tests.support.devnet import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "tenants", "restart", tenant_id, "--json"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    pid = json.loads(out.stdout)["pid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
