"""The process runtime's spare: a pre-imported `tenant_bot.spare` process becomes the next bot, shows that
bot's environment in /proc like a cold-started one, is nobody's bot while it waits, and goes away
with the control plane."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.process import MARKER_ENV, SPARE_ENV, TENANT_ENV, ProcessRuntime, _environ
from orchestrator.tenants import TenantService
from tests.integration.orchestrator.test_tenants_support import (
    health,
    kill_all,
    pid_alive,
    service_for,
    settings_for,
)
from tests.support.devnet import ROOT, DevnetProcess

pytestmark = pytest.mark.devnet


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path) -> Iterator[TenantService]:
    settings = settings_for(devnet, tmp_path)
    svc = service_for(settings)
    runtime = ProcessRuntime(settings.data_root, stop_timeout=settings.bot_stop_timeout_seconds, spare=True)
    svc.runtime = runtime
    yield svc
    spare = runtime._spare
    runtime.close()
    if spare is not None:
        spare[0].wait(timeout=30)
    kill_all(runtime)


def spare_of(runtime: ProcessRuntime) -> subprocess.Popen[bytes]:
    assert runtime._spare is not None
    return runtime._spare[0]


async def test_a_spare_becomes_the_next_bot_and_is_identified_like_a_cold_one(service: TenantService) -> None:
    runtime = service.runtime
    assert isinstance(runtime, ProcessRuntime)
    runtime.warm()
    first = spare_of(runtime)
    await asyncio.sleep(0.5)
    # Waiting, it is nobody's bot: not listed, so never reaped as a stray.
    assert await runtime.list() == []
    assert (await Reconciler(service).reconcile_once()).reaped == []
    assert first.poll() is None

    tenant = await service.provision("spare-one")
    assert tenant.status == "running", tenant.last_error
    assert tenant.pid == first.pid  # the spare became the bot
    assert tenant.port is not None and health(tenant.port)
    env = _environ(first.pid)
    assert env[TENANT_ENV] == "spare-one" and env[MARKER_ENV] == runtime.marker
    assert SPARE_ENV not in env and env["BASIS_API_PORT"] == str(tenant.port)
    assert env["BASIS_DATA_DIR"] == str(runtime.tenant_dir("spare-one").resolve())
    assert os.readlink(f"/proc/{first.pid}/cwd") == str(runtime.tenant_dir("spare-one"))
    # Its output goes to the tenant's log.
    assert "started by the control plane" in await runtime.logs("spare-one", 500)
    assert "Bot started" in await runtime.logs("spare-one", 500)

    # The next spare waits already; a second tenant gets it.
    second = spare_of(runtime)
    assert second.pid != first.pid and second.poll() is None
    other = await service.provision("spare-two")
    assert other.status == "running" and other.pid == second.pid

    # Another control plane (no spare of its own) sees both as ordinary bots and adopts them.
    again = ProcessRuntime(runtime.data_root)
    assert sorted((b.tenant_id, b.pid, b.state) for b in await again.list()) == sorted(
        [("spare-one", first.pid, "running"), ("spare-two", second.pid, "running")]
    )
    assert (await again.status("spare-one")).pid == first.pid

    # Stopped and started again: cold or from the next spare, the same wallets and data folder.
    await service.stop("spare-one")
    assert not pid_alive(first.pid)
    restarted = await service.start("spare-one")
    assert restarted.status == "running" and restarted.pid not in (first.pid, None)


async def test_a_spare_leaves_when_the_control_plane_lets_it_go_or_dies(
    service: TenantService, tmp_path: Path
) -> None:
    runtime = service.runtime
    assert isinstance(runtime, ProcessRuntime)
    runtime.warm()
    spare = spare_of(runtime)
    runtime.close()
    assert spare.wait(timeout=30) == 0

    # A control plane that is SIGKILLed: its spare's stdin closes with it, and the spare exits.
    script = (
        "import sys, time; from pathlib import Path;"
        "from orchestrator.runtimes.process import ProcessRuntime;"
        f"r = ProcessRuntime(Path({str(tmp_path / 'other')!r}), spare=True); r.warm();"
        "print(r._spare[0].pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert pid_alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), "the spare outlived its control plane"


def test_the_spare_takes_an_environment_only_if_it_fits() -> None:
    """`take_environment` rewrites the block /proc shows; one larger than the room is refused."""
    script = """
import json, os
from tenant_bot.spare import take_environment
take_environment({"BASIS_TENANT_ID": "t-1", "A": "b"})
block = open(f"/proc/{os.getpid()}/environ", "rb").read().rstrip(b"\\0").split(b"\\0")
print(json.dumps([x.decode() for x in block] + [os.environ["A"]]))
try:
    take_environment({"BIG": "x" * 100000})
except ValueError as exc:
    print("refused:", exc)
"""
    env = {"PATH": os.environ.get("PATH", ""), "ROOM": "x" * 4000, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert json.loads(first) == ["BASIS_TENANT_ID=t-1", "A=b", "b"]
    assert second.startswith("refused: the environment needs")


def test_only_basis_serve_keeps_a_spare(devnet: DevnetProcess, tmp_path: Path) -> None:
    """A CLI command exits at once: a spare it started would only burn a second of CPU."""
    from orchestrator.app import make_runtime

    settings = settings_for(devnet, tmp_path)
    cli_runtime, served = make_runtime(settings), make_runtime(settings, serving=True)
    assert isinstance(cli_runtime, ProcessRuntime) and isinstance(served, ProcessRuntime)
    assert not cli_runtime.spare and served.spare
    off = make_runtime(settings.model_copy(update={"bot_spare": False}), serving=True)
    assert isinstance(off, ProcessRuntime) and not off.spare
