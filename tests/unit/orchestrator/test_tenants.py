"""Pure parts of the tenant service: bot tokens, back-off, ids, port and Unix user allocation, the schema."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import inspect

from orchestrator.config import ControlPlaneSettings
from orchestrator.database.session import open_database
from orchestrator.runtimes.process import ProcessRuntime, passed_environment
from orchestrator.tenants import TENANT_ID, TenantService, backoff_seconds
from shared.launch import bot_token
from tenant_bot.config import BotSettings


def test_bot_token_is_the_one_the_bot_derives() -> None:
    secret = "unit-test-server-secret"
    bot = BotSettings(_env_file=None, tenant_id="t-1", server_secret=SecretStr(secret))  # type: ignore[call-arg]
    derived = bot.api_token_value()
    assert derived is not None
    assert bot_token(SecretStr(secret), "t-1").get_secret_value() == derived.get_secret_value()
    assert bot_token(SecretStr(secret), "t-2").get_secret_value() != derived.get_secret_value()


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n, 2, 30) for n in range(7)] == [0, 2, 4, 8, 16, 30, 30]
    assert backoff_seconds(10_000, 1, 60) == 60


@pytest.mark.parametrize("good", ["abc", "t-0123456789ab", "alice-bot-1"])
def test_tenant_ids_accepted(good: str) -> None:
    assert TENANT_ID.match(good)


@pytest.mark.parametrize("bad", ["ab", "Abc", "a_b", "-ab", "ab-", "../x", "a" * 41, "a b"])
def test_tenant_ids_refused(bad: str) -> None:
    assert not TENANT_ID.match(bad)


def test_a_bot_gets_an_allow_list_of_the_control_planes_environment() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "HOME": "/root",
        "BASIS_CP_PRIVY_APP_SECRET": "s3cret-s3cret",
        "BASIS_TICK_SECONDS": "1",
        "AWS_SECRET_ACCESS_KEY": "operator-exported",
        "PYTHONPATH": "/opt/extra::relative/dir",
        "PYTHONSTARTUP": "/tmp/x.py",
    }
    assert passed_environment(environ) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": "/opt/extra",  # an empty or relative entry would be the bot's own folder
    }
    assert "PYTHONPATH" not in passed_environment({"PYTHONPATH": ":."})


def _service(
    tmp_path: Path, busy: set[int], database_url: str, uids: tuple[int, int] = (1_900_000_000, 1_999_999_999)
) -> TenantService:
    settings = ControlPlaneSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        data_root=tmp_path / "tenants",
        bot_port_min=30000,
        bot_port_max=30003,
        bot_uid_min=uids[0],
        bot_uid_max=uids[1],
    )
    runtime = ProcessRuntime(settings.data_root)
    return TenantService(
        settings, open_database(settings.database_url), runtime, port_free=lambda p: p not in busy
    )


async def test_ports_skip_busy_ones_and_other_tenants(tmp_path: Path, control_plane_db_url: str) -> None:
    svc = _service(tmp_path, busy={30000}, database_url=control_plane_db_url)
    from orchestrator.database.models import Tenant

    await svc.provision("one", start=False)
    await svc.provision("two", start=False)
    with svc.sessions.begin() as s:
        one, two = s.get(Tenant, "one"), s.get(Tenant, "two")
        assert one is not None and two is not None
        one.port = svc._allocate_port(s, one)
        two.port = svc._allocate_port(s, two)
        assert (one.port, two.port) == (30001, 30002)
        # A tenant keeps its port while it is free.
        assert svc._allocate_port(s, one) == 30001


async def test_racing_port_allocations_get_different_ports(tmp_path: Path, control_plane_db_url: str) -> None:
    """Two processes (API workers, the CLI) allocating at once: the second waits for the first's port."""
    from orchestrator.database.models import Tenant

    svc = _service(tmp_path, busy=set(), database_url=control_plane_db_url)
    await svc.provision("one", start=False)
    await svc.provision("two", start=False)
    first_allocated = threading.Event()

    def allocate(tenant_id: str, hold_s: float) -> int:
        with svc.sessions.begin() as s:
            tenant = s.get(Tenant, tenant_id)
            assert tenant is not None
            tenant.port = svc._allocate_port(s, tenant)
            s.flush()
            if hold_s:
                first_allocated.set()
                time.sleep(hold_s)  # the other allocation runs now, before this one commits
            return tenant.port

    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(allocate, "one", 0.5)
        assert first_allocated.wait(10)
        two = pool.submit(allocate, "two", 0)
        ports = {one.result(timeout=30), two.result(timeout=30)}
    assert ports == {30000, 30001}


async def test_uids_are_distinct_kept_and_follow_retained_data(
    tmp_path: Path, control_plane_db_url: str
) -> None:
    from orchestrator.database.models import Tenant

    # 0 is root's, and on every host a group or user of a low number exists: both are skipped.
    svc = _service(tmp_path, busy=set(), database_url=control_plane_db_url, uids=(1000, 1000 + 60000))
    for tid in ("one", "two", "three"):
        await svc.provision(tid, start=False)
    with svc.sessions.begin() as s:
        for tid in ("one", "two"):
            tenant = s.get(Tenant, tid)
            assert tenant is not None
            tenant.uid = svc._allocate_uid(s, tenant)
    one, two = svc.get("one").uid, svc.get("two").uid
    assert one is not None and two is not None and one != two
    import grp
    import pwd

    for uid in (one, two):
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)  # never a real account's id
        with pytest.raises(KeyError):
            grp.getgrgid(uid)
    with svc.sessions.begin() as s:
        tenant = s.get(Tenant, "one")
        assert tenant is not None and svc._allocate_uid(s, tenant) == one  # kept

    # Deleted with its data kept: the id stays reserved for the data and comes back with the tenant.
    await svc.delete("one")
    assert svc.retained()[0].uid == one
    with svc.sessions.begin() as s:
        three = s.get(Tenant, "three")
        assert three is not None
        three.uid = svc._allocate_uid(s, three)
    assert svc.get("three").uid not in (one, two)
    again = await svc.provision("one", start=False)
    assert again.uid == one and svc.retained() == []
    # Purged: the data is gone, and so is its claim on the id.
    await svc.delete("one", purge=True)
    four = await svc.provision("four", start=False)
    with svc.sessions.begin() as s:
        row = s.get(Tenant, four.id)
        assert row is not None and svc._allocate_uid(s, row) == one


async def test_a_uid_given_meanwhile_by_another_process_is_kept(
    tmp_path: Path, control_plane_db_url: str
) -> None:
    """The reconciler and the CLI start one tenant at once: the one that loaded the row before the other
    gave it its id must not give it a second one (the bot runs as the first)."""
    from orchestrator.database.models import Tenant

    svc = _service(tmp_path, busy=set(), database_url=control_plane_db_url)
    await svc.provision("one", start=False)
    with svc.sessions.begin() as late:
        stale = late.get(Tenant, "one")
        assert stale is not None and stale.uid is None
        with svc.sessions.begin() as first:
            row = first.get(Tenant, "one")
            assert row is not None
            row.uid = svc._allocate_uid(first, row)
            given = row.uid
        assert stale.uid is None  # loaded before: stale
        assert svc._allocate_uid(late, stale) == given


async def test_the_uid_range_can_run_out(tmp_path: Path, control_plane_db_url: str) -> None:
    from orchestrator.database.models import Tenant
    from orchestrator.tenants import TenantError

    svc = _service(
        tmp_path, busy=set(), database_url=control_plane_db_url, uids=(1_950_000_000, 1_950_000_000)
    )
    await svc.provision("one", start=False)
    await svc.provision("two", start=False)
    with svc.sessions.begin() as s:
        one = s.get(Tenant, "one")
        assert one is not None
        one.uid = svc._allocate_uid(s, one)
    with svc.sessions.begin() as s, pytest.raises(TenantError, match="no free Unix user id"):
        two = s.get(Tenant, "two")
        assert two is not None
        svc._allocate_uid(s, two)


def test_who_a_bot_runs_as(tmp_path: Path) -> None:
    """With root, its tenant's user (a spec without one is refused, never run as root); without root
    (the devnet on a laptop), the control plane's own user, said once in the log."""
    from orchestrator.runtimes.base import BotSpec
    from orchestrator.runtimes.process import BotIsolationError
    from tests.support.privileges import bot_data_root

    spec = BotSpec("t-1", "0.1.0", 30000, tmp_path / "t-1", env={}, uid=1_900_000_001)
    users = ProcessRuntime(bot_data_root(), bot_users=True)  # below folders others can cross
    shared = ProcessRuntime(tmp_path / "b", bot_users=False)
    assert users._user(spec) == 1_900_000_001
    with pytest.raises(BotIsolationError, match="no Unix user of its own"):
        users._user(BotSpec("t-2", "0.1.0", 30001, tmp_path / "t-2", env={}))
    assert shared._user(spec) is None and shared._user(BotSpec("t-2", "0.1.0", 1, tmp_path, env={})) is None


def test_a_data_root_the_bots_cannot_reach_is_refused_with_the_folder_to_fix(tmp_path: Path) -> None:
    from orchestrator.runtimes.base import BotSpec
    from orchestrator.runtimes.process import BotIsolationError

    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    runtime = ProcessRuntime(closed / "tenants", bot_users=True)
    spec = BotSpec("t-1", "0.1.0", 30000, closed / "tenants" / "t-1", env={}, uid=1_900_000_001)
    with pytest.raises(BotIsolationError, match=f"but {closed} cannot be crossed by other users: chmod o"):
        runtime._user(spec)


async def test_a_bot_an_older_version_started_is_stopped_before_a_new_one_starts(tmp_path: Path) -> None:
    """An older version kept its pid file in the bot's folder and held no lock: its bot is recognised by
    that file's start time and its working directory, and stopped, so two bots never run for a tenant."""
    import json
    import subprocess
    import sys

    from orchestrator.runtimes.process import _stat

    runtime = ProcessRuntime(tmp_path / "tenants", stop_timeout=5, bot_users=False)
    folder = runtime.tenant_dir("old")
    folder.mkdir()
    old = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], cwd=folder, start_new_session=True
    )
    stat = _stat(old.pid)
    assert stat is not None
    (folder / "bot.pid").write_text(json.dumps({"pid": old.pid, "start_time": stat[1]}))
    # Another process of the same start time but elsewhere is not taken for it.
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, start_new_session=True
    )
    try:
        assert (await runtime.status("old")).state == "stopped"  # not a bot of this runtime
        await runtime._stop_legacy("old")
        assert old.wait(timeout=10) != 0 and not (folder / "bot.pid").exists()
        other_stat = _stat(other.pid)
        assert other_stat is not None
        (folder / "bot.pid").write_text(json.dumps({"pid": other.pid, "start_time": other_stat[1]}))
        await runtime._stop_legacy("old")
        assert other.poll() is None  # its working directory is not the tenant's folder: left alone
    finally:
        for process in (old, other):
            process.kill()
            process.wait(timeout=10)


async def test_status_of_an_unknown_tenant_is_stopped(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path)
    status = await runtime.status("nobody")
    assert status.state == "stopped" and status.pid is None and not status.alive
    assert await runtime.logs("nobody") == ""
    assert (await runtime.stop("nobody")).state == "stopped"  # idempotent
    await runtime.remove("nobody", purge=True)


def test_migration_creates_every_table(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'cp.sqlite3'}")
    tables = set(inspect(db.kw["bind"]).get_table_names())
    assert {"users", "tenants", "web_sessions", "auth_attempts", "alembic_version"} <= tables
    # Running it again is a no-op.
    open_database(f"sqlite:///{tmp_path / 'cp.sqlite3'}")


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import orchestrator.auth.models
    import orchestrator.database.models  # noqa: F401
    from orchestrator.database.base import Base

    db = open_database(f"sqlite:///{tmp_path / 'cp.sqlite3'}")
    with db.kw["bind"].connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"a model changed without a migration: {diff}"
