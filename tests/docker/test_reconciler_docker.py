"""The reconciler against a real engine: data volumes of no tenant are reaped, a tenant deleted with
its data kept keeps its volume, and a killed container is recreated from the engine's event stream.

Skipped without an engine, failed without one under BASIS_REQUIRE_DOCKER=1 (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestrator.database.session import open_database
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.docker import DockerRuntime
from orchestrator.tenants import TenantService
from tests.docker.test_docker_runtime import bot_ports
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import health, settings_env, settings_for
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.devnet


def make_service(devnet: DevnetProcess, root: Path, instance: str, **overrides: Any) -> TenantService:
    low, high = bot_ports(instance)
    settings = settings_for(
        devnet, root, bot_stop_timeout_seconds=10, bot_port_min=low, bot_port_max=high, **overrides
    )
    runtime = DockerRuntime(instance=instance, host_network=True, stop_timeout=10)
    return TenantService(settings, open_database(settings.database_url), runtime)


def tenant_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


def has_volume(client: Any, tenant: str) -> bool:
    import docker.errors

    try:
        client.volumes.get(f"basis-data-{tenant}")
    except docker.errors.NotFound:
        return False
    return True


def wallet(service: TenantService, tenant: str) -> str:
    """The bot's Solana address: its keystore is in the volume."""
    import httpx

    port = service.get(tenant).port
    r = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/balances",
        headers={"X-Basis-Token": service.token(tenant).get_secret_value()},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["solana"]["address"])


async def test_a_pass_reaps_an_orphan_volume_and_spares_a_kept_one(
    devnet: DevnetProcess, tmp_path: Path, instance: str, bot_image: str, docker_client: Any
) -> None:
    service = make_service(devnet, tmp_path, instance)
    # A volume of ours that no tenant owns: left by a control plane that died mid-delete, say.
    orphan = tenant_id()
    labels = {"basis.managed-by": "basis", "basis.tenant": orphan, "basis.instance": instance}
    docker_client.volumes.create(name=f"basis-data-{orphan}", labels=labels)
    # A tenant deleted with its data kept.
    kept = tenant_id()
    await service.provision(kept)
    address = wallet(service, kept)
    await service.delete(kept)
    assert has_volume(docker_client, kept)

    report = await Reconciler(service).reconcile_once()
    assert report.reaped_data == [orphan]
    assert not has_volume(docker_client, orphan)
    assert has_volume(docker_client, kept)

    # `basis tenants list` shows it as deleted with its data kept (the CLI only reads the database).
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "tenants", "list", "--json"],
        cwd=ROOT,
        env=settings_env(service.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["id"], r["status"], r.get("data_kept")) for r in rows] == [(kept, "deleted", True)]

    # Provisioned again under its id, it has its keystore back; purged, nothing is left.
    await service.provision(kept)
    assert service.get(kept).status == "running" and wallet(service, kept) == address
    assert service.retained() == []
    await service.delete(kept, purge=True)
    assert not has_volume(docker_client, kept)
    assert (await Reconciler(service).reconcile_once()).reaped_data == []


async def test_a_killed_container_is_recreated_promptly_from_the_event_stream(
    devnet: DevnetProcess, tmp_path: Path, instance: str, bot_image: str, docker_client: Any
) -> None:
    # The timer would take a minute: only the event stream can make it prompt. The back-off after a
    # first failure stays the default (2 s).
    service = make_service(
        devnet, tmp_path, instance, reconcile_interval_seconds=60, restart_backoff_seconds=2
    )
    tid = tenant_id()
    await service.provision(tid)
    address = wallet(service, tid)
    old = docker_client.containers.get(f"basis-bot-{tid}")

    reconciler = Reconciler(service)
    # Readiness, observed: a pass finished, and the engine answered the event subscription (the SDK's
    # call returns once the engine has taken it).
    passes, subscribed = 0, threading.Event()
    reconcile_once, subscribe = reconciler.reconcile_once, service.runtime.client.events

    async def counted_pass() -> Any:
        nonlocal passes
        report = await reconcile_once()
        passes += 1
        return report

    def observed_subscription(*args: Any, **kwargs: Any) -> Any:
        stream = subscribe(*args, **kwargs)
        subscribed.set()
        return stream

    reconciler.reconcile_once = counted_pass  # type: ignore[method-assign]
    service.runtime.client.events = observed_subscription
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    try:
        await wait_until_async(
            lambda: passes >= 1 and subscribed.is_set(), timeout=30, what="a first pass and the event stream"
        )
        started = time.monotonic()
        old.kill()
        recreated = None
        while time.monotonic() - started < 30:
            tenant = service.get(tid)
            if tenant.status == "running" and tenant.port is not None and health(tenant.port):
                recreated = time.monotonic() - started
                break
            await asyncio.sleep(0.05)
        assert recreated is not None, f"not running again within 30 s: {service.get(tid).last_error}"
        print(f"\nkilled container → running again (event stream, 2 s back-off): {recreated:.2f} s")
        assert reconciler.event_wakeups >= 1
        assert recreated < 15
        new = docker_client.containers.get(f"basis-bot-{tid}")
        assert new.id != old.id
        assert wallet(service, tid) == address
        assert service.get(tid).restarts == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await service.delete(tid, purge=True)
