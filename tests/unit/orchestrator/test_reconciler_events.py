"""The reconciler's event stream, its timer and data reaping, and "delete, keep data", against an
in-memory runtime (the real engine's side is tests/docker/test_reconciler_docker.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator import reconciler as reconciler_module
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import RetainedData
from orchestrator.database.session import open_database
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.base import BotSpec, BotStatus, Runtime
from orchestrator.tenants import TenantError, TenantService, retained_view


class MemoryRuntime(Runtime):
    """Bots that "run" the moment they start, data volumes, and an event stream a test feeds."""

    name = "memory"

    def __init__(self, *, with_events: bool = True) -> None:
        self.running: dict[str, int] = {}
        self.data: set[str] = set()
        self.starts: list[str] = []
        self.removed: list[tuple[str, bool]] = []
        self.streams_opened = 0
        self.feed: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self.with_events = with_events

    async def start(self, spec: BotSpec) -> BotStatus:
        self.data.add(spec.tenant_id)
        if spec.tenant_id not in self.running:
            self.running[spec.tenant_id] = 1000 + len(self.starts)
            self.starts.append(spec.tenant_id)
        return await self.status(spec.tenant_id)

    async def stop(self, tenant_id: str) -> BotStatus:
        self.running.pop(tenant_id, None)
        return BotStatus(tenant_id, "stopped")

    async def status(self, tenant_id: str) -> BotStatus:
        pid = self.running.get(tenant_id)
        if pid is None:
            return BotStatus(tenant_id, "stopped")
        return BotStatus(tenant_id, "running", pid, 30000)

    async def list(self) -> list[BotStatus]:
        return [await self.status(t) for t in self.running]

    async def logs(self, tenant_id: str, lines: int = 100) -> str:
        return "killed\n"

    async def remove(self, tenant_id: str, purge: bool = False) -> None:
        await self.stop(tenant_id)
        self.removed.append((tenant_id, purge))
        if purge:
            self.data.discard(tenant_id)

    async def volumes(self) -> list[str] | None:
        return sorted(self.data)

    def events(self) -> AsyncIterator[tuple[str, str]] | None:
        return self._stream() if self.with_events else None

    async def _stream(self) -> AsyncIterator[tuple[str, str]]:
        self.streams_opened += 1
        while (event := await self.feed.get()) is not None:
            yield event

    def kill(self, tenant_id: str) -> None:
        """The bot dies behind the control plane's back, and the engine says so."""
        self.running.pop(tenant_id, None)
        self.feed.put_nowait((tenant_id, "kill"))
        self.feed.put_nowait((tenant_id, "die"))


def make_service(tmp_path: Path, runtime: MemoryRuntime, **overrides: float) -> TenantService:
    settings = ControlPlaneSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'control.sqlite3'}",
        data_root=tmp_path / "tenants",
        bot_port_min=30000,
        bot_port_max=30099,
        **overrides,
    )
    return TenantService(settings, open_database(settings.database_url), runtime, port_free=lambda _p: True)


async def wait_until(predicate: object, timeout: float) -> float:
    """Seconds until `predicate()` holds; fails past `timeout`."""
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_delete_keeps_the_data_as_retained_and_a_new_tenant_takes_it_back(tmp_path: Path) -> None:
    runtime = MemoryRuntime()
    service = make_service(tmp_path, runtime)
    await service.provision("alpha")
    await service.delete("alpha")
    assert runtime.removed == [("alpha", False)] and "alpha" in runtime.data
    assert [r.tenant_id for r in service.retained()] == ["alpha"]
    assert service.owns_data("alpha") and service.data_owners() == {"alpha"}
    view = retained_view(service.retained()[0])
    assert (view["id"], view["status"], view["data_kept"]) == ("alpha", "deleted", True)

    with pytest.raises(TenantError, match="already deleted"):
        await service.delete("alpha")
    await service.provision("alpha")  # same id: its data again, no longer "retained"
    assert service.retained() == [] and service.get("alpha").status == "running"

    await service.delete("alpha")
    await service.delete("alpha", purge=True)  # purges what the first delete kept
    assert service.retained() == [] and not service.owns_data("alpha") and "alpha" not in runtime.data
    with pytest.raises(TenantError, match="no tenant"):
        await service.delete("alpha", purge=True)


async def test_a_pass_reaps_data_of_no_tenant_and_spares_kept_data(tmp_path: Path) -> None:
    runtime = MemoryRuntime()
    service = make_service(tmp_path, runtime)
    await service.provision("live")
    await service.provision("kept")
    await service.delete("kept")
    runtime.data.add("orphan")
    report = await Reconciler(service).reconcile_once()
    assert report.reaped_data == ["orphan"]
    assert runtime.data == {"live", "kept"}
    assert ("orphan", True) in runtime.removed
    # Nothing left to reap: the next pass is quiet.
    assert (await Reconciler(service).reconcile_once()).reaped_data == []


class ReapingRuntime(MemoryRuntime):
    """A runtime that does not list its data, and reaps it itself."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[set[str]] = []

    async def volumes(self) -> list[str] | None:
        return None

    async def reap(self, owners: set[str]) -> list[str]:
        self.asked.append(owners)
        return []


async def test_a_runtime_that_only_reaps_is_given_every_owner(tmp_path: Path) -> None:
    runtime = ReapingRuntime()
    asked = runtime.asked
    service = make_service(tmp_path, runtime)
    await service.provision("live")
    await service.provision("kept")
    await service.delete("kept")
    await Reconciler(service).reconcile_once()
    assert asked == [{"live", "kept"}]


async def test_a_died_bot_is_restarted_from_the_event_stream_not_the_timer(tmp_path: Path) -> None:
    runtime = MemoryRuntime()
    # The timer would take a minute; the back-off after the first failure is 0.2 s.
    service = make_service(tmp_path, runtime, reconcile_interval_seconds=60, restart_backoff_seconds=0.2)
    await service.provision("alpha")
    reconciler = Reconciler(service)
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    try:
        await wait_until(lambda: runtime.streams_opened == 1, 5)
        await asyncio.sleep(0.1)  # the first pass is done
        runtime.kill("alpha")
        took = await wait_until(
            lambda: "alpha" in runtime.running and service.get("alpha").status == "running", 5
        )
        assert took < 2, took
        assert reconciler.event_wakeups == 1  # "kill" is no trigger, "die" is
        await wait_until(lambda: service.get("alpha").failures == 0, 5)  # the settle task saw it healthy
        assert service.get("alpha").restarts == 1 and runtime.starts == ["alpha", "alpha"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_the_event_stream_reconnects_with_back_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconciler_module, "EVENTS_BACKOFF_SECONDS", 0.05)
    runtime = MemoryRuntime()
    service = make_service(tmp_path, runtime, reconcile_interval_seconds=60)
    reconciler = Reconciler(service)
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    try:
        await wait_until(lambda: runtime.streams_opened == 1, 5)
        started = time.monotonic()
        runtime.feed.put_nowait(None)  # the engine restarted: the stream ends
        await wait_until(lambda: runtime.streams_opened == 2, 5)
        runtime.feed.put_nowait(None)
        await wait_until(lambda: runtime.streams_opened == 3, 5)
        # Waited 0.05 s, then 0.1 s: doubling.
        assert time.monotonic() - started >= 0.15
        # A died bot is still noticed on the new stream.
        await service.provision("alpha")
        runtime.kill("alpha")
        await wait_until(lambda: reconciler.event_wakeups == 1, 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert task.done() and task.exception() is None


async def test_without_an_event_stream_the_timer_still_reconciles(tmp_path: Path) -> None:
    runtime = MemoryRuntime(with_events=False)
    service = make_service(tmp_path, runtime, reconcile_interval_seconds=0.1, restart_backoff_seconds=0.1)
    await service.provision("alpha")
    stop = asyncio.Event()
    task = asyncio.create_task(Reconciler(service).run(stop))
    try:
        runtime.running.pop("alpha")
        await wait_until(lambda: "alpha" in runtime.running and service.get("alpha").status == "running", 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_the_timer_wakes_when_a_back_off_ends(tmp_path: Path) -> None:
    runtime = MemoryRuntime()
    service = make_service(tmp_path, runtime, reconcile_interval_seconds=30, restart_backoff_seconds=3)
    await service.provision("alpha")
    reconciler = Reconciler(service)
    assert reconciler._next_delay(30) == 30
    service.mark_failed("alpha", "crashed")
    assert 2 < reconciler._next_delay(30) <= 3
    with service.sessions.begin() as s:
        s.add(RetainedData(tenant_id="gone", version="0.1.0"))  # retained data wants nothing
    assert 2 < reconciler._next_delay(30) <= 3


def test_tenants_list_shows_kept_data_as_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app

    service = make_service(tmp_path, MemoryRuntime())

    async def setup() -> None:
        await service.provision("live")
        await service.provision("gone")
        await service.delete("gone")

    asyncio.run(setup())  # the CLI runs its own event loop: this test has none
    monkeypatch.setenv("BASIS_CP_DATABASE_URL", service.settings.database_url)
    monkeypatch.setenv("BASIS_CP_DATA_ROOT", str(tmp_path / "tenants"))
    runner = CliRunner()
    listed = runner.invoke(app, ["tenants", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["status"], r.get("data_kept", False)) for r in rows] == [
        ("live", "running", False),
        ("gone", "deleted", True),
    ]
    table = runner.invoke(app, ["tenants", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "data kept since" in table.stdout
    again = runner.invoke(app, ["tenants", "delete", "gone"])
    assert again.exit_code == 2 and "--purge deletes the data" in again.output
