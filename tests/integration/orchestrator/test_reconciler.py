"""The reconciler against real processes: start timeouts, stray bots, and a control-plane restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.database.models import Tenant
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.base import BotSpec
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import (
    health,
    kill_all,
    pid_alive,
    service_for,
    settings_env,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.devnet


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str) -> Iterator[TenantService]:
    svc = service_for(settings_for(devnet, tmp_path, database_url=control_plane_db_url))
    yield svc
    assert isinstance(svc.runtime, ProcessRuntime)
    kill_all(svc.runtime)


async def test_a_start_that_never_gets_healthy_fails_and_is_retried(
    devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str
) -> None:
    settings = settings_for(
        devnet,
        tmp_path,
        database_url=control_plane_db_url,
        bot_start_timeout_seconds=1.0,
        restart_backoff_seconds=0.3,
    )
    svc = service_for(settings)
    # A real process that never answers /health, in place of the bot.
    svc.runtime = ProcessRuntime(
        settings.data_root, stop_timeout=2, command=[sys.executable, "-c", "import time; time.sleep(600)"]
    )
    try:
        tenant = await svc.provision("slow", wait=False)
        assert tenant.status == "starting"
        reconciler = Reconciler(svc)
        seen: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await reconciler.reconcile_once()
            current = svc.get("slow")
            seen.append(current.status)
            if current.restarts >= 2:
                break
            await asyncio.sleep(0.1)
        current = svc.get("slow")
        assert "failed" in seen, seen
        assert current.restarts >= 2, "the reconciler retries a failed start"
        assert current.last_error is not None and "did not answer /health" in current.last_error
        # Consecutive failures are counted: they drive the back-off.
        assert current.failures >= 2
    finally:
        kill_all(svc.runtime)


async def test_a_stray_bot_of_our_data_root_is_reaped(service: TenantService) -> None:
    runtime = service.runtime
    assert isinstance(runtime, ProcessRuntime)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A bot no tenant owns (e.g. its tenant was deleted while the control plane was down).
    ghost = BotSpec(
        "ghost", "0.1.0", port, service.settings.data_root / "ghost", env={}, uid=service.settings.bot_uid_max
    )
    status = await runtime.start(ghost)
    assert status.pid is not None and pid_alive(status.pid)
    report = await Reconciler(service).reconcile_once()
    assert status.pid in report.reaped
    wait_for(lambda: not pid_alive(status.pid), 30, "the stray bot to exit")


def health_checks(port: int, token: str) -> int:
    """How many `GET /health` the bot has answered (its /metrics)."""
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-Basis-Token": token}, timeout=5)
    assert r.status_code == 200, r.text
    prefix = 'basis_http_requests_total{route="/health",status="200"} '
    return sum(int(line.removeprefix(prefix)) for line in r.text.splitlines() if line.startswith(prefix))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def test_control_plane_restart_adopts_the_running_bot(service: TenantService, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **settings_env(service.settings),
        "BASIS_CP_PORT": str(port),
        "BASIS_CP_BROKER_PORT": str(_free_port()),  # never the default: `make run` may hold it
        "PYTHONUNBUFFERED": "1",
    }
    await service.provision("delta", start=False)
    with service.sessions.begin() as s:
        row = s.get(Tenant, "delta")
        assert row is not None
        row.desired_state = "running"  # the control plane's reconciler starts it

    log = tmp_path / "serve.log"
    cp = _serve(env, log)
    try:
        wait_for(lambda: health(port), 60, "basis serve to answer")

        def running() -> Tenant | None:
            t = service.get("delta")
            return t if t.status == "running" and t.pid else None

        first = wait_for(running, 90, "the reconciler to start the bot")
        bot_pid = first.pid
        assert health(first.port)

        cp.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal (exit status -SIGTERM).
        assert cp.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()[-3000:]
        # The bot outlives the control plane.
        assert pid_alive(bot_pid) and health(first.port)

        cp = _serve(env, log)
        wait_for(lambda: health(port), 60, "basis serve to answer again")
        # Each reconciler pass asks the running bot's /health: a few more of those, and the new
        # control plane has had its chances to restart the bot.
        checked = health_checks(first.port, service.token("delta").get_secret_value())
        wait_for(
            lambda: health_checks(first.port, service.token("delta").get_secret_value()) >= checked + 4,
            30,
            "several reconciler passes (the bot's /health asked)",
        )
        after = service.get("delta")
        assert after.pid == bot_pid and after.status == "running" and after.restarts == 0
        assert pid_alive(bot_pid)
        r = httpx.get(f"http://127.0.0.1:{port}/app/", timeout=5)
        assert r.status_code == 401  # routed through the proxy, which wants a signed-in user
    finally:
        if cp.poll() is None:
            cp.send_signal(signal.SIGTERM)
            try:
                cp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(cp.pid, signal.SIGKILL)
