"""The process runtime's spare: a pre-imported `tenant_bot.spare` process becomes the next bot, holds that
bot's lock and runs as its user like a cold-started one, is nobody's bot while it waits, and goes away
with the control plane."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from shared.runtime_lock import holder
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import (
    health,
    kill_all,
    pid_alive,
    service_for,
    settings_for,
)
from tests.support.waiting import wait_until_async

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
        spare.wait(timeout=30)
    kill_all(runtime)


def spare_of(runtime: ProcessRuntime) -> subprocess.Popen[bytes]:
    assert runtime._spare is not None
    return runtime._spare


# The number of read(2), which a spare blocks in once its imports are done, reading its order on stdin.
READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}[platform.machine()]


def waiting_for_its_order(pid: int) -> bool:
    """Whether the process is blocked reading its stdin (fd 0), as /proc tells root."""
    return Path(f"/proc/{pid}/syscall").read_text().split()[:2] == [READ_SYSCALL, "0x0"]


def environ(pid: int) -> dict[str, str]:
    """The environment block a process was started with (read as root)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        items = f.read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in items if b"=" in item)


def ids(pid: int) -> tuple[int, int, str]:
    """(real uid, real gid, supplementary groups) of a live process."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0]), status["Groups"].strip()


async def test_a_spare_becomes_the_next_bot_and_is_identified_like_a_cold_one(service: TenantService) -> None:
    runtime = service.runtime
    assert isinstance(runtime, ProcessRuntime)
    runtime.warm()
    first = spare_of(runtime)
    await wait_until_async(lambda: waiting_for_its_order(first.pid), timeout=30, what="the spare to wait")
    # Waiting, it is nobody's bot: not listed, so never reaped as a stray.
    assert await runtime.list() == []
    assert (await Reconciler(service).reconcile_once()).reaped == []
    assert first.poll() is None

    # It waits with no secret: its environment is the allow-list of the control plane's.
    assert not [k for k in environ(first.pid) if k.startswith("BASIS_")]
    assert holder(runtime.lock_path("spare-one")) is None

    tenant = await service.provision("spare-one")
    assert tenant.status == "running", tenant.last_error
    assert tenant.pid == first.pid  # the spare became the bot
    assert tenant.port is not None and health(tenant.port)
    # Identified like a cold-started bot: it holds the tenant's lock and works in the tenant's folder.
    assert holder(runtime.lock_path("spare-one")) == first.pid
    assert os.readlink(f"/proc/{first.pid}/cwd") == str(runtime.tenant_dir("spare-one"))
    if os.geteuid() == 0:  # as the tenant's own user, with no other group
        assert tenant.uid is not None and ids(first.pid) == (tenant.uid, tenant.uid, "")
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
        "print(r._spare.pid, flush=True); time.sleep(600)"
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


async def test_a_second_bot_of_a_tenant_cannot_take_its_lock(service: TenantService) -> None:
    """However it is started (a spare handed the same tenant, a cold start), a second bot of a tenant finds
    the tenant's lock held and exits: two bots never trade for one user."""
    runtime = service.runtime
    assert isinstance(runtime, ProcessRuntime)
    tenant = await service.provision("only-one")
    assert tenant.status == "running" and tenant.pid is not None
    order = {
        "env": {"PATH": os.environ.get("PATH", "")},
        "cwd": str(runtime.tenant_dir("only-one")),
        "log": str(runtime.log_path("only-one")),
        "lock": str(runtime.lock_path("only-one")),
        "uid": tenant.uid if os.geteuid() == 0 else None,
    }
    spare = subprocess.run(
        [sys.executable, "-P", "-m", "tenant_bot.spare"],
        cwd=ROOT,
        input=json.dumps(order).encode() + b"\n",
        capture_output=True,
        timeout=120,
    )
    assert spare.returncode == 1
    assert "another bot of this tenant runs" in await runtime.logs("only-one", 5)
    assert holder(runtime.lock_path("only-one")) == tenant.pid and pid_alive(tenant.pid)


def test_only_basis_serve_keeps_a_spare(devnet: DevnetProcess, tmp_path: Path) -> None:
    """A CLI command exits at once: a spare it started would only burn a second of CPU."""
    from orchestrator.app import make_runtime

    settings = settings_for(devnet, tmp_path)
    cli_runtime, served = make_runtime(settings), make_runtime(settings, serving=True)
    assert isinstance(cli_runtime, ProcessRuntime) and isinstance(served, ProcessRuntime)
    assert not cli_runtime.spare and served.spare
    off = make_runtime(settings.model_copy(update={"bot_spare": False}), serving=True)
    assert isinstance(off, ProcessRuntime) and not off.spare
