"""TenantService against real `basis-bot serve` processes on a devnet (process runtime)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantError, TenantService, _port_free
from tests.support.devnet import DevnetProcess, free_port_block
from tests.support.tenants import (
    health,
    kill_all,
    pid_alive,
    service_for,
    settings_for,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.devnet


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str) -> Iterator[TenantService]:
    svc = service_for(settings_for(devnet, tmp_path, database_url=control_plane_db_url))
    yield svc
    assert isinstance(svc.runtime, ProcessRuntime)
    kill_all(svc.runtime)


async def test_create_stop_start_and_token(service: TenantService) -> None:
    tenant = await service.provision("alpha")
    assert tenant.status == "running", tenant.last_error
    assert tenant.port is not None and tenant.pid is not None
    assert health(tenant.port)
    base = f"http://127.0.0.1:{tenant.port}"
    token = service.token("alpha").get_secret_value()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert (await client.get("/api/v1/status")).status_code == 401  # the bot wants its token
        assert (await client.get("/api/v1/status", headers={"X-Basis-Token": token})).status_code == 200
    # The bot's stdout and stderr go to its log.
    assert (await service.runtime.logs("alpha", 200)).strip()

    stopped = await service.stop("alpha")
    assert stopped.status == "stopped" and stopped.desired_state == "stopped"
    assert not pid_alive(tenant.pid)
    assert not health(tenant.port)
    # Idempotent.
    assert (await service.stop("alpha")).status == "stopped"

    again = await service.start("alpha")
    assert again.status == "running" and again.pid != tenant.pid
    assert again.pid is not None and pid_alive(again.pid)
    # Starting a running bot starts nothing new.
    assert (await service.start("alpha")).pid == again.pid

    await service.delete("alpha", purge=True)
    assert not pid_alive(again.pid)
    assert not (service.settings.data_root / "alpha").exists()
    with pytest.raises(TenantError):
        service.get("alpha")


async def test_bad_ids_and_duplicates_are_refused(service: TenantService) -> None:
    for bad in ("A", "Bad_Id", "-x-", "../etc", "x" * 60):
        with pytest.raises(TenantError) as info:
            await service.provision(bad, start=False)
        assert info.value.code == 2
    await service.provision("beta", start=False)
    with pytest.raises(TenantError, match="already exists"):
        await service.provision("beta", start=False)
    with pytest.raises(TenantError, match="no tenant"):
        await service.start("nobody")


async def test_killed_bot_is_restarted_and_keeps_its_state(service: TenantService) -> None:
    tenant = await service.provision("gamma")
    assert tenant.status == "running", tenant.last_error
    token = service.token("gamma").get_secret_value()
    headers = {"X-Basis-Token": token}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{tenant.port}", headers=headers) as client:
        assert (await client.post("/api/v1/control/pause", json={})).status_code == 200
        events = (await client.get("/api/v1/events")).json()
    assert events, "pausing records an event"

    assert tenant.pid is not None
    os.killpg(tenant.pid, signal.SIGKILL)
    reconciler = Reconciler(service)
    for _ in range(600):
        await reconciler.reconcile_once()
        current = service.get("gamma")
        if current.status == "running" and current.pid not in (None, tenant.pid):
            break
        await asyncio.sleep(0.1)
    current = service.get("gamma")
    assert current.status == "running", current.last_error
    assert current.restarts >= 1 and current.pid != tenant.pid
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{current.port}", headers=headers) as client:
        after = (await client.get("/api/v1/events")).json()
    ids = {e["id"] for e in (after if isinstance(after, list) else after.get("events", []))}
    before = {e["id"] for e in (events if isinstance(events, list) else events.get("events", []))}
    assert before <= ids, "the bot's SQLite survived the crash"


class PortRace:
    """The race of a start: once armed with a port, that port looks free when it is picked and is
    taken (by the test's socket) by the time the bot binds it; every later check sees the truth."""

    def __init__(self) -> None:
        self.port: int | None = None

    def __call__(self, port: int) -> bool:
        if port == self.port:
            self.port = None
            return True
        return _port_free(port)


def _held(port: int) -> socket.socket:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the dead bot's TIME_WAITs
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


async def test_a_bot_whose_port_was_taken_meanwhile_starts_on_another_and_counts_a_restart(
    devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str
) -> None:
    low = free_port_block(10)
    settings = settings_for(
        devnet, tmp_path, database_url=control_plane_db_url, bot_port_min=low, bot_port_max=low + 9
    )
    base, race = service_for(settings), PortRace()
    service = TenantService(settings, base.sessions, base.runtime, port_free=race)
    assert isinstance(service.runtime, ProcessRuntime)
    try:
        race.port = low
        with _held(low):
            tenant = await service.provision("delta")
        assert tenant.status == "running", tenant.last_error
        assert tenant.port is not None and tenant.port != low and health(tenant.port)
        # One move (more if something else takes the next port too), counted as restarts, not failures.
        assert tenant.restarts >= 1 and tenant.failures == 0 and tenant.last_error is None
        log = await service.runtime.logs("delta", 200)
        assert f"('127.0.0.1', {low}): address already in use" in log, log  # the first start's

        # The reconciler's restart of a crashed bot meets the same race: it moves the bot too.
        assert tenant.pid is not None
        os.killpg(tenant.pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(tenant.pid), timeout=10, what="the bot's death")
        reconciler = Reconciler(service)
        race.port = tenant.port
        with _held(tenant.port):
            for _ in range(600):
                await reconciler.reconcile_once()
                current = service.get("delta")
                if current.status == "running" and current.pid not in (None, tenant.pid):
                    break
                await asyncio.sleep(0.1)
        current = service.get("delta")
        assert current.status == "running", current.last_error
        assert current.port not in (None, tenant.port) and health(current.port)
        # The crash's restart and its move, after the first start's: at least two more restarts. On a
        # busy machine another process may take the next port as well, and that move counts too.
        assert current.restarts >= tenant.restarts + 2, (current.restarts, tenant.restarts)
    finally:
        kill_all(service.runtime)


async def test_a_bot_whose_port_was_taken_with_no_other_free_fails_its_start_saying_why(
    devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str
) -> None:
    low = free_port_block(1)
    settings = settings_for(
        devnet, tmp_path, database_url=control_plane_db_url, bot_port_min=low, bot_port_max=low
    )
    base, race = service_for(settings), PortRace()
    service = TenantService(settings, base.sessions, base.runtime, port_free=race)
    assert isinstance(service.runtime, ProcessRuntime)
    try:
        race.port = low
        with _held(low):
            tenant = await service.provision("epsilon")
        assert tenant.status == "failed" and tenant.failures == 1 and tenant.restarts == 0
        assert tenant.last_error is not None and "address already in use" in tenant.last_error
    finally:
        kill_all(service.runtime)
