"""The `docker` runtime against a real engine: hardened containers, volumes that outlive them, adoption.

Each test provisions tenants through the TenantService against the session devnet, with the bots in
containers on the host's network (the devnet listens on loopback only). Skipped without an engine,
failed without one under BASIS_REQUIRE_DOCKER=1 (see conftest.py). A real `basis serve` and real `basis`
CLI runs, SIGKILLed, are in test_control_plane_docker.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.database.session import open_database
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.base import BotSpec
from orchestrator.runtimes.docker import DockerRuntime
from orchestrator.tenants import TenantService
from tests.docker.conftest import event_stream_open
from tests.support.devnet import DevnetProcess
from tests.support.privileges import needs_root
from tests.support.tenants import health, settings_for

pytestmark = pytest.mark.devnet

LIMITS = {"memory_mb": 384, "cpus": 0.5, "pids": 200}


def bot_ports(instance: str) -> tuple[int, int]:
    """A port range of this test's own (from its instance label): the bots share the host's network
    with other tests' bots, and one that takes a port first would answer our health checks. Below the
    kernel's ephemeral range (32768+), where a client socket could hold the port."""
    low = 20000 + int(hashlib.sha256(instance.encode()).hexdigest(), 16) % 120 * 100
    return low, low + 99


def make_service(
    devnet: DevnetProcess, root: Path, instance: str, *, hand_over_here: bool = True
) -> TenantService:
    low, high = bot_ports(instance)
    settings = settings_for(devnet, root, bot_stop_timeout_seconds=10, bot_port_min=low, bot_port_max=high)
    runtime = DockerRuntime(
        instance=instance, host_network=True, stop_timeout=10, hand_over_here=hand_over_here
    )
    return TenantService(settings, open_database(settings.database_url), runtime)


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path, instance: str, bot_image: str) -> Iterator[TenantService]:
    yield make_service(devnet, tmp_path, instance)


def tenant_id() -> str:
    return f"d-{uuid.uuid4().hex[:10]}"


def container_of(client: Any, tenant: str) -> Any:
    return client.containers.get(f"basis-bot-{tenant}")


def has_container(client: Any, tenant: str) -> bool:
    import docker.errors

    try:
        container_of(client, tenant)
    except docker.errors.NotFound:
        return False
    return True


def has_volume(client: Any, tenant: str) -> bool:
    import docker.errors

    try:
        client.volumes.get(f"basis-data-{tenant}")
    except docker.errors.NotFound:
        return False
    return True


def addresses(service: TenantService, tenant: str) -> tuple[str, str]:
    """The bot's wallet addresses: its keystore lives in the volume, so they survive a new container."""
    port = service.get(tenant).port
    r = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/balances",
        headers={"X-Basis-Token": service.token(tenant).get_secret_value()},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return body["solana"]["address"], body["arbitrum"]["address"]


async def owned_and_stray(
    service: TenantService, tmp_path: Path, new_id: Callable[[], str]
) -> tuple[str, str]:
    """A tenant provisioned as usual, and a bot started straight on the runtime that no tenant owns."""
    owned, stray = new_id(), new_id()
    await service.provision(owned)
    spec = service.spec(service.get(owned))
    env = {**spec.env, "BASIS_TENANT_ID": stray}
    uid = service.settings.bot_uid_max  # a user id of its own, which no tenant holds
    await service.runtime.start(BotSpec(stray, spec.version, spec.port + 1, tmp_path / stray, env, uid=uid))
    return owned, stray


async def settle(reconciler: Reconciler, service: TenantService, tenant: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await reconciler.reconcile_once()
        if service.get(tenant).status == "running":
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{tenant} is not running after {timeout}s: {service.get(tenant).last_error}")


async def test_a_provisioned_bot_runs_hardened_and_answers(
    service: TenantService, docker_client: Any
) -> None:
    tid = tenant_id()
    started = time.monotonic()
    tenant = await service.provision(tid, limits=LIMITS)
    ready = time.monotonic() - started
    print(f"\nprovision to ready (docker runtime): {ready:.2f} s")
    assert tenant.status == "running", tenant.last_error
    assert tenant.port is not None and health(tenant.port)

    c = container_of(docker_client, tid)
    host, config = c.attrs["HostConfig"], c.attrs["Config"]
    uid = tenant.uid
    assert uid is not None and uid != 1000  # the tenant's own user, not the image's shared one
    assert config["User"] == f"{uid}:{uid}"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"])
    assert host["Privileged"] is False
    assert host["Memory"] == 384 * 1024 * 1024 and host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 200
    assert "/tmp" in host["Tmpfs"]
    assert host["Init"] is True
    assert config["Labels"]["basis.managed-by"] == "basis"
    assert config["Labels"]["basis.tenant"] == tid
    assert config["Labels"]["basis.version"] == tenant.version
    assert config["Healthcheck"]["Test"][0] == "CMD"
    mounts = c.attrs["Mounts"]
    assert [(m["Type"], m.get("Name"), m["Destination"]) for m in mounts] == [
        ("volume", f"basis-data-{tid}", "/data")
    ]
    assert not any("docker.sock" in (m.get("Source") or "") for m in mounts)

    # Secrets are files, not environment variables that `docker inspect` would show.
    env = dict(item.split("=", 1) for item in config["Env"])
    secrets = [
        service.token(tid).get_secret_value(),
        service.settings.server_secret_value().get_secret_value(),
    ]
    assert not any(secret in value for secret in secrets for value in env.values())
    assert "BASIS_API_TOKEN" not in env and env["BASIS_API_TOKEN_FILE"] == "/data/.secrets/api_token"
    assert "BASIS_SERVER_SECRET" not in env
    code, out = c.exec_run(["stat", "-c", "%u %a", "/data/.secrets/api_token", "/data", "/data/bot.sqlite3"])
    assert (code, out.decode().split("\n")[:3]) == (0, [f"{uid} 400", f"{uid} 700", f"{uid} 600"])
    # The root really is read-only and the bot really is its tenant's user inside, with no other group.
    code, out = c.exec_run(
        ["sh", "-c", "id -u; id -G; touch /opt/x 2>&1 || true; touch /tmp/x && echo tmp-ok"]
    )
    lines = out.decode().split("\n")
    assert lines[:2] == [str(uid), str(uid)] and "Read-only file system" in out.decode() and "tmp-ok" in lines

    # The token read from the file is the one the control plane holds (the API answers it).
    sol, evm = addresses(service, tid)
    assert sol and evm.startswith("0x")

    # The engine's own health check (first run a minute in): its command, run now, passes; pointed at a
    # port where nothing listens, or where something answers but not 200, it fails.
    check = config["Healthcheck"]
    assert check["Interval"] == 60_000_000_000 and check["Test"][0] == "CMD"
    assert c.exec_run(check["Test"][1:])[0] == 0
    assert c.exec_run(check["Test"][1:], environment={"BASIS_API_PORT": "9"})[0] != 0
    not_found = ["bash", "-c", check["Test"][3].replace("GET /health", "GET /no-such-page")]
    assert c.exec_run(not_found)[0] != 0


async def test_stop_start_and_a_kill_keep_the_volume_and_the_bot_state(
    service: TenantService, docker_client: Any
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    before = addresses(service, tid)

    await service.stop(tid)
    assert not has_container(docker_client, tid) and has_volume(docker_client, tid)
    assert (await service.runtime.status(tid)).state == "stopped"
    await service.start(tid)
    assert service.get(tid).status == "running"
    assert addresses(service, tid) == before

    # Killed behind the control plane's back: the engine's event stream says so at once, and the
    # reconciler recreates it on the same volume.
    runtime = service.runtime
    assert isinstance(runtime, DockerRuntime)
    seen: list[tuple[str, str]] = []
    died = asyncio.Event()

    async def follow() -> None:
        async for tenant, action in runtime.events():
            seen.append((tenant, action))
            if (tenant, action) == (tid, "die"):
                died.set()

    follower = asyncio.create_task(follow())
    old = container_of(docker_client, tid)
    await event_stream_open(old, seen, tid)
    old.kill()
    await asyncio.wait_for(died.wait(), timeout=15)
    follower.cancel()
    assert (tid, "kill") in seen
    assert (await service.runtime.status(tid)).state == "exited"
    await settle(Reconciler(service), service, tid)
    new = container_of(docker_client, tid)
    assert new.id != old.id
    assert addresses(service, tid) == before
    assert service.get(tid).restarts >= 1


async def test_a_control_plane_restart_adopts_the_container_without_restarting_it(
    devnet: DevnetProcess, tmp_path: Path, instance: str, service: TenantService, docker_client: Any
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    before = container_of(docker_client, tid)

    # A new control plane: new service, new runtime object, same database and engine.
    again = make_service(devnet, tmp_path, instance)
    report = await Reconciler(again).reconcile_once()
    assert report.started == [] and report.failed == [] and report.reaped == []
    after = container_of(docker_client, tid)
    assert after.id == before.id
    assert after.attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]
    assert again.get(tid).status == "running"
    upstream = again.upstream(tid)
    assert upstream is not None and health(int(upstream.base_url.rsplit(":", 1)[1]))
    # Starting it again through the new control plane is a no-op too.
    await again.start(tid)
    assert container_of(docker_client, tid).attrs["State"]["StartedAt"] == before.attrs["State"]["StartedAt"]


async def test_delete_with_purge_leaves_no_container_and_no_volume(
    service: TenantService, docker_client: Any
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    assert has_container(docker_client, tid) and has_volume(docker_client, tid)
    await service.delete(tid, purge=True)
    assert not has_container(docker_client, tid) and not has_volume(docker_client, tid)
    assert await service.runtime.list() == []
    runtime = service.runtime
    assert isinstance(runtime, DockerRuntime)
    assert await runtime.volumes() == []
    # Every call is idempotent: removing what is gone is not an error.
    await runtime.remove(tid, purge=True)
    assert (await runtime.stop(tid)).state == "stopped"


async def test_containers_and_volumes_of_no_tenant_are_reaped(
    service: TenantService, docker_client: Any, tmp_path: Path
) -> None:
    runtime = service.runtime
    assert isinstance(runtime, DockerRuntime)
    owned, stray = await owned_and_stray(service, tmp_path, tenant_id)
    assert has_container(docker_client, stray) and has_volume(docker_client, stray)
    assert sorted(b.tenant_id for b in await runtime.list()) == sorted([owned, stray])
    reaped = await runtime.reap({t.id for t in service.all()})
    assert reaped == [stray]
    assert not has_container(docker_client, stray) and not has_volume(docker_client, stray)
    assert has_container(docker_client, owned) and has_volume(docker_client, owned)


async def test_bridge_networking_publishes_on_loopback_only(
    service: TenantService, docker_client: Any, instance: str, tmp_path: Path
) -> None:
    """Outside the tests the bot is on the runtime's own bridge (no traffic between its containers) and
    published on 127.0.0.1 (checked on the created container; tests/security/test_bot_network.py runs it)."""
    runtime = DockerRuntime(instance=instance)
    tid = tenant_id()
    spec = BotSpec(
        tid, service.settings.bot_version, 18555, tmp_path, {"BASIS_API_TOKEN": "x" * 32}, uid=1_900_000_555
    )
    env, secrets = runtime._environment(spec)
    network = runtime._ensure_network()
    assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    container = docker_client.containers.create(**runtime._create_kwargs(spec, env))
    try:
        bindings = container.attrs["HostConfig"]["PortBindings"]
        assert bindings == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18555"}]}
        assert container.attrs["HostConfig"]["NetworkMode"] == runtime.network == f"basis-bots-{instance}"
        assert env["BASIS_API_HOST"] == "0.0.0.0" and env["BASIS_API_PORT"] == "8080"
        assert secrets == {"api_token": "x" * 32}
    finally:
        container.remove(force=True)
        # Creating the container made its (unlabelled) volume: gone with it.
        docker_client.volumes.get(f"basis-data-{tid}").remove(force=True)


async def test_an_upgrade_recreates_the_container_on_the_new_image_and_keeps_the_volume(
    service: TenantService, docker_client: Any, bot_image: str
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    before = addresses(service, tid)
    old = container_of(docker_client, tid)
    repo, version = bot_image.rsplit(":", 1)
    newer = f"{version}-next"
    docker_client.images.get(bot_image).tag(repo, newer)
    try:
        tenant = await service.upgrade(tid, newer)
        assert tenant.status == "running", tenant.last_error
        new = container_of(docker_client, tid)
        assert new.id != old.id
        assert new.attrs["Config"]["Image"] == f"{repo}:{newer}"
        assert new.labels["basis.version"] == newer
        assert addresses(service, tid) == before
    finally:
        await service.delete(tid, purge=True)
        docker_client.images.remove(f"{repo}:{newer}")


# ---------------------------------------------------------------------- handing the volume over
def owner_containers(client: Any, instance: str, tenant: str, since: float) -> list[str]:
    """Actions the engine reports, since `since`, for containers that handed the tenant's volume over."""
    events = client.events(
        since=int(since),
        until=int(time.time()) + 1,
        filters={"type": "container", "label": f"basis.volume-owner={instance}:{tenant}"},
        decode=True,
    )
    return [str(e.get("Action") or e.get("status")) for e in events]


def volume_folder(client: Any, tenant: str) -> Path:
    return Path(client.volumes.get(f"basis-data-{tenant}").attrs["Mountpoint"])


async def test_as_root_beside_the_engine_a_new_volume_is_handed_over_here(
    service: TenantService, docker_client: Any, instance: str
) -> None:
    needs_root("the control plane hands a volume over itself only as root beside the engine")
    tid = tenant_id()
    since = time.time() - 1
    tenant = await service.provision(tid)
    assert tenant.status == "running", tenant.last_error
    assert owner_containers(docker_client, instance, tid, since) == []  # no throwaway container ran
    folder = volume_folder(docker_client, tid)
    info = folder.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (tenant.uid, tenant.uid, 0o700)
    # The marker by which the folder was recognised is gone; the secrets are the bot's, 0400.
    assert not [p for p in os.listdir(folder) if p.startswith(".basis-volume-")]
    token = folder / ".secrets" / "api_token"
    assert (token.stat().st_uid, stat.S_IMODE(token.stat().st_mode)) == (tenant.uid, 0o400)


async def test_otherwise_a_throwaway_container_hands_the_volume_over(
    devnet: DevnetProcess, tmp_path: Path, docker_client: Any, instance: str, bot_image: str
) -> None:
    """A control plane that reaches the engine only through its socket (from another container, or not
    root) cannot open the volume's folder: the owner container does the work, as before."""
    service = make_service(devnet, tmp_path, instance, hand_over_here=False)
    tid = tenant_id()
    since = time.time() - 1
    tenant = await service.provision(tid)
    assert tenant.status == "running", tenant.last_error
    assert "create" in owner_containers(docker_client, instance, tid, since)
    code, out = container_of(docker_client, tid).exec_run(
        ["stat", "-c", "%u %a", "/data", "/data/.secrets/api_token"]
    )
    assert (code, out.decode().split("\n")[:2]) == (0, [f"{tenant.uid} 700", f"{tenant.uid} 400"])


async def test_an_older_volume_with_planted_links_is_handed_over_entry_by_entry_never_through_a_link(
    service: TenantService, docker_client: Any, instance: str, bot_image: str
) -> None:
    """An older version ran every bot as the image's UID 1000: one such bot plants links in its volume to
    files of the host. Handed over here, as root on the host, each link itself changes owner, never
    what it points at, and every file becomes the tenant's user's, private."""
    needs_root("the control plane hands a volume over itself only as root beside the engine")
    host = Path(tempfile.mkdtemp(prefix="basis-host-"))
    target = host / "host-secret"
    target.write_text("root's")
    target.chmod(0o600)
    try:
        tid = tenant_id()
        docker_client.volumes.create(
            name=f"basis-data-{tid}",
            labels={"basis.managed-by": "basis", "basis.tenant": tid, "basis.instance": instance},
        )
        plant = (
            f"ln -s {target} /data/escape && ln -s {host} /data/escape-dir && mkdir /data/old && "
            "echo kept > /data/old/state && chmod 0644 /data/old/state"
        )
        docker_client.containers.run(
            bot_image, ["sh", "-c", plant], entrypoint=[], user="1000:1000", network_mode="none",
            volumes={f"basis-data-{tid}": {"bind": "/data", "mode": "rw"}}, remove=True,
        )  # fmt: skip
        folder = volume_folder(docker_client, tid)
        assert folder.stat().st_uid == 1000 and (folder / "escape").lstat().st_uid == 1000
        tenant = await service.provision(tid)
        assert tenant.status == "running", tenant.last_error
        uid = tenant.uid
        assert uid is not None
        assert (folder / "escape").lstat().st_uid == uid and (folder / "escape-dir").lstat().st_uid == uid
        assert (target.stat().st_uid, stat.S_IMODE(target.stat().st_mode)) == (0, 0o600)
        assert host.stat().st_uid == 0
        state = (folder / "old" / "state").stat()
        assert (state.st_uid, stat.S_IMODE(state.st_mode)) == (uid, 0o600)
        code, out = container_of(docker_client, tid).exec_run(["cat", "/data/old/state"])
        assert (code, out) == (0, b"kept\n")  # the bot reads what the older version left
    finally:
        shutil.rmtree(host)


async def test_a_handover_here_that_fails_midway_is_finished_by_the_throwaway_container(
    service: TenantService, docker_client: Any, instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that refuses a change here, after the folder itself was handed over: the owner
    container then hands over everything (it does not stop at the folder's owner)."""
    needs_root("the control plane hands a volume over itself only as root beside the engine")
    from orchestrator.runtimes import docker as runtime_module

    def fails_midway(folder: int, uid: int) -> None:
        os.fchown(folder, uid, uid)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(runtime_module, "hand_over", fails_midway)
    tid = tenant_id()
    since = time.time() - 1
    tenant = await service.provision(tid)
    assert tenant.status == "running", tenant.last_error
    assert "create" in owner_containers(docker_client, instance, tid, since)
    code, out = container_of(docker_client, tid).exec_run(["stat", "-c", "%u %a", "/data", "/data/.secrets"])
    assert (code, out.decode().split("\n")[:2]) == (0, [f"{tenant.uid} 700", f"{tenant.uid} 500"])
