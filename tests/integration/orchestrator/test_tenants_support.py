"""Helpers shared by the control-plane tenant, reconciler and CLI tests (no tests in here).

Each test gets its own database and data root, so its process runtime's marker differs from every
other test's and a reconciler never touches another test's bots.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from orchestrator.config import ControlPlaneSettings
from orchestrator.database.session import open_database
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from tests.support.devnet import DevnetProcess


def settings_for(dn: DevnetProcess, root: Path, **overrides: Any) -> ControlPlaneSettings:
    privy = dn.state()["privy"]
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{root / 'control.sqlite3'}",
        "data_root": root / "tenants",
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
        "bot_env": {"BASIS_TICK_SECONDS": "0.5"},
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def kill_all(runtime: ProcessRuntime) -> None:
    """Test clean-up: SIGKILL every bot carrying this runtime's marker."""
    for proc in runtime._scan():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
