"""The `swarm` runtime on a single-node swarm: a hardened service per tenant, Docker secrets, adoption, purge.

Each test provisions tenants through the TenantService against the session devnet, with the bots'
services on the host network (the devnet listens on loopback only). The `swarm` fixture makes this
engine a single-node swarm for the session when it is not one already, and leaves the swarm again at
the end. Skipped without an engine, failed without one under BASIS_REQUIRE_DOCKER=1 (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from orchestrator.database.session import open_database
from orchestrator.reconciler import Reconciler
from orchestrator.runtimes.base import BotSpec
from orchestrator.runtimes.swarm import SwarmRuntime
from orchestrator.tenants import TenantService
from tests.docker.conftest import event_stream_open
from tests.docker.test_docker_runtime import addresses, bot_ports, owned_and_stray, settle
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import health, settings_env, settings_for

pytestmark = pytest.mark.devnet

LIMITS = {"memory_mb": 384, "cpus": 0.5, "pids": 200}
CONSTRAINT = "node.role==manager"


def make_service(devnet: DevnetProcess, root: Path, instance: str) -> TenantService:
    low, high = bot_ports(instance)
    settings = settings_for(devnet, root, bot_stop_timeout_seconds=10, bot_port_min=low, bot_port_max=high)
    runtime = SwarmRuntime(instance=instance, host_network=True, stop_timeout=10, constraints=[CONSTRAINT])
    return TenantService(settings, open_database(settings.database_url), runtime)


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path, swarm_instance: str, bot_image: str) -> TenantService:
    return make_service(devnet, tmp_path, swarm_instance)


def tenant_id() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def service_of(client: Any, tenant: str) -> Any:
    return client.services.get(f"basis-bot-{tenant}")


def task_of(client: Any, tenant: str) -> dict[str, Any]:
    tasks = service_of(client, tenant).tasks()
    assert len(tasks) == 1, tasks
    return tasks[0]


def container_of(client: Any, tenant: str) -> Any:
    return client.containers.get(task_of(client, tenant)["Status"]["ContainerStatus"]["ContainerID"])


def leftovers(client: Any, tenant: str) -> dict[str, list[str]]:
    """What the engine still holds of a tenant: services, containers, secrets, configs, volumes."""
    selector = {"label": [f"basis.tenant={tenant}"]}
    return {
        "services": [s.name for s in client.services.list(filters=selector)],
        "containers": [
            c.name for c in client.containers.list(all=True, filters=selector, ignore_removed=True)
        ],
        "secrets": [s.name for s in client.secrets.list(filters=selector)],
        "configs": [c.name for c in client.configs.list(filters=selector)],
        "volumes": [v.name for v in client.volumes.list(filters=selector)],
    }


async def test_a_provisioned_bot_runs_as_a_hardened_service_with_docker_secrets(
    service: TenantService, docker_client: Any, swarm: str
) -> None:
    tid = tenant_id()
    started = time.monotonic()
    tenant = await service.provision(tid, limits=LIMITS)
    ready = time.monotonic() - started
    print(f"\nprovision to ready (swarm runtime): {ready:.2f} s")
    assert tenant.status == "running", tenant.last_error
    assert tenant.port is not None and health(tenant.port)

    svc = service_of(docker_client, tid)
    spec = svc.attrs["Spec"]
    template = spec["TaskTemplate"]
    cspec = template["ContainerSpec"]
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert template["RestartPolicy"]["Condition"] == "none"
    assert CONSTRAINT in template["Placement"]["Constraints"]
    assert spec["Labels"]["basis.managed-by"] == "basis" and spec["Labels"]["basis.tenant"] == tid
    assert spec["Labels"]["basis.version"] == tenant.version
    assert cspec["Labels"]["basis.tenant"] == tid  # the task's container carries them too
    assert cspec["Image"] == docker_client.images.get(f"basis/bot:{tenant.version}").id  # no registry
    uid = tenant.uid
    assert uid is not None and uid != 1000  # the tenant's own user, not the image's shared one
    assert cspec["User"] == f"{uid}:{uid}" and cspec["ReadOnly"] is True and cspec["Init"] is True
    assert cspec["CapabilityDrop"] == ["ALL"] and not cspec.get("CapabilityAdd")
    assert template["Resources"]["Limits"] == {
        "NanoCPUs": 500_000_000,
        "MemoryBytes": 384 * 1024 * 1024,
        "Pids": 200,
    }
    files = sorted((s["File"]["Name"], s["File"]["UID"], s["File"]["Mode"]) for s in cspec["Secrets"])
    assert files == [(n, str(uid), 0o400) for n in ("api_token", "asgard_api_key", "server_secret")]

    c = container_of(docker_client, tid)
    host, config = c.attrs["HostConfig"], c.attrs["Config"]
    assert config["User"] == f"{uid}:{uid}"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["Privileged"] is False
    assert host["Memory"] == 384 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 200
    assert host["Init"] is True
    assert host["NetworkMode"] == "host"
    # What the kernel applies: an engine older than API 1.46 drops the service's setting (the spec it
    # stores has no `Privileges.NoNewPrivileges`), and only its
    # daemon-wide default (dockerd --no-new-privileges, as .ci/run starts it) covers the bot then.
    code, out = c.exec_run(["grep", "NoNewPrivs", "/proc/1/status"])
    assert code == 0 and out.decode().split() == ["NoNewPrivs:", "1"], (
        "the bot runs without no-new-privileges: start dockerd with --no-new-privileges"
    )
    mounts = {m["Destination"]: m for m in c.attrs["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == f"basis-data-{tid}"
    assert mounts["/tmp"]["Type"] == "tmpfs"
    assert not any("docker.sock" in (m.get("Source") or "") for m in mounts.values())
    volume = docker_client.volumes.get(f"basis-data-{tid}")
    assert volume.attrs["Labels"]["basis.tenant"] == tid  # so volumes() and reap() find it

    # Secrets are Docker secrets read from files, never environment variables or spec fields.
    env = dict(item.split("=", 1) for item in config["Env"])
    secrets = [
        service.token(tid).get_secret_value(),
        service.settings.server_secret_value().get_secret_value(),
        "test-key",
    ]
    assert not any(secret in str(svc.attrs) for secret in secrets)
    assert not any(secret in value for secret in secrets for value in env.values())
    assert "BASIS_API_TOKEN" not in env and env["BASIS_API_TOKEN_FILE"] == "/run/secrets/api_token"
    assert env["BASIS_SERVER_SECRET_FILE"] == "/run/secrets/server_secret"
    code, out = c.exec_run(["stat", "-c", "%u %a", "/run/secrets/api_token", "/data", "/data/bot.sqlite3"])
    assert (code, out.decode().split("\n")[:3]) == (0, [f"{uid} 400", f"{uid} 700", f"{uid} 600"])
    code, out = c.exec_run(
        [
            "sh",
            "-c",
            "id -u; touch /opt/x 2>&1 || true; touch /tmp/x && echo tmp-ok; grep ' /tmp ' /proc/mounts",
        ]
    )
    text = out.decode()
    lines = text.split("\n")
    assert lines[0] == str(uid) and "Read-only file system" in text and "tmp-ok" in lines
    assert "noexec" in text.split(" /tmp ", 1)[1].split("\n")[0]

    # The token read from the secret file is the one the control plane holds (the API answers it).
    sol, evm = addresses(service, tid)
    assert sol and evm.startswith("0x")

    # Once it ran, the node is remembered (its volume lives there): later starts are pinned to it.
    configs = docker_client.configs.list(filters={"label": [f"basis.tenant={tid}"]})
    assert [c.attrs["Spec"]["Labels"]["basis.node"] for c in configs] == [swarm]
    # With the user its volume there was given to: later starts need no job to hand it over again.
    assert [c.attrs["Spec"]["Labels"]["basis.uid"] for c in configs] == [str(uid)]


async def test_a_control_plane_restart_adopts_the_service_and_a_crash_is_recovered_from_the_volume(
    devnet: DevnetProcess,
    tmp_path: Path,
    swarm_instance: str,
    service: TenantService,
    docker_client: Any,
    swarm: str,
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    before = addresses(service, tid)
    task = task_of(docker_client, tid)
    container = container_of(docker_client, tid)

    # A new control plane: new service, new runtime object, same database and engine.
    again = make_service(devnet, tmp_path, swarm_instance)
    report = await Reconciler(again).reconcile_once()
    assert report.started == [] and report.failed == [] and report.reaped == []
    assert task_of(docker_client, tid)["ID"] == task["ID"]
    after = container_of(docker_client, tid)
    assert after.id == container.id
    assert after.attrs["State"]["StartedAt"] == container.attrs["State"]["StartedAt"]
    assert again.get(tid).status == "running"
    upstream = again.upstream(tid)
    assert upstream is not None and health(int(upstream.base_url.rsplit(":", 1)[1]))
    await again.start(tid)  # a no-op too
    assert task_of(docker_client, tid)["ID"] == task["ID"]

    # Killed behind the control plane's back: the event stream says so at once (the task's container
    # carries our labels); Swarm does not restart it (policy none), the reconciler does, as a new
    # service pinned to this node, on the same volume.
    runtime = again.runtime
    assert isinstance(runtime, SwarmRuntime)
    died = asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def follow() -> None:
        async for tenant, action in runtime.events():
            seen.append((tenant, action))
            if (tenant, action) == (tid, "die"):
                died.set()

    follower = asyncio.create_task(follow())
    await event_stream_open(after, seen, tid)
    after.kill()
    await asyncio.wait_for(died.wait(), timeout=15)
    follower.cancel()
    deadline = time.monotonic() + 30
    while (await again.runtime.status(tid)).state != "exited":
        assert time.monotonic() < deadline, await again.runtime.status(tid)
        await asyncio.sleep(0.2)
    await settle(Reconciler(again), again, tid)
    renewed = service_of(docker_client, tid)
    assert f"node.id=={swarm}" in renewed.attrs["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
    assert container_of(docker_client, tid).id != container.id
    assert addresses(again, tid) == before
    assert again.get(tid).restarts >= 1
    # The old task's secrets went with its service: one set, the new one.
    assert len(leftovers(docker_client, tid)["secrets"]) == 3


async def test_stop_keeps_the_volume_and_delete_with_purge_leaves_nothing(
    service: TenantService, docker_client: Any
) -> None:
    tid = tenant_id()
    await service.provision(tid)
    started = time.monotonic()
    await service.stop(tid)
    print(f"\nstop (swarm runtime: service, container and secrets gone): {time.monotonic() - started:.2f} s")
    left = leftovers(docker_client, tid)
    assert left["services"] == left["containers"] == left["secrets"] == []
    assert left["volumes"] == [f"basis-data-{tid}"] and len(left["configs"]) == 1
    assert (await service.runtime.status(tid)).state == "stopped"

    started = time.monotonic()
    await service.start(tid)
    print(f"start again: {time.monotonic() - started:.2f} s")
    assert service.get(tid).status == "running"
    started = time.monotonic()
    await service.delete(tid, purge=True)
    print(f"delete with purge: {time.monotonic() - started:.2f} s")
    assert leftovers(docker_client, tid) == {
        "services": [],
        "containers": [],
        "secrets": [],
        "configs": [],
        "volumes": [],
    }
    runtime = service.runtime
    assert isinstance(runtime, SwarmRuntime)
    assert await runtime.list() == [] and await runtime.volumes() == []
    # Every call is idempotent: removing what is gone is not an error.
    await runtime.remove(tid, purge=True)
    assert (await runtime.stop(tid)).state == "stopped"


def test_the_control_plane_builds_a_swarm_runtime_from_its_settings_and_the_service_spec_it_asks_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No engine needed: the settings reach the runtime, and outside the host network the bot is
    published through the routing mesh with its secrets as files (checked on the spec sent)."""
    from orchestrator.app import make_runtime
    from orchestrator.config import ControlPlaneSettings
    from orchestrator.runtimes.container import bot_environment

    monkeypatch.setenv("BASIS_CP_SWARM_CONSTRAINTS", '["node.labels.basis==bots"]')
    settings = ControlPlaneSettings(_env_file=None, runtime="swarm", docker_image_repo="example/bot")  # type: ignore[call-arg]
    runtime = make_runtime(settings)
    assert isinstance(runtime, SwarmRuntime) and runtime.name == "swarm"
    assert runtime.constraints == ["node.labels.basis==bots"] and runtime.pin_to_node
    assert runtime.host_network is False and runtime.image("1.2") == "example/bot:1.2"

    spec = BotSpec(
        "t-1", "1.2", 18200, Path("/unused"), {"BASIS_API_TOKEN": "s3cr3t", "BASIS_X": "1"}, uid=1_900_000_321
    )
    env, secrets = bot_environment(spec, host_network=False, secret_dir="/run/secrets")
    kwargs = runtime._service_kwargs(spec, env, "example/bot:1.2", [], "node-a")
    assert kwargs["endpoint_spec"]["Ports"] == [
        {"Protocol": "tcp", "PublishedPort": 18200, "TargetPort": 8080}
    ]
    assert "networks" not in kwargs
    assert kwargs["env"]["BASIS_API_HOST"] == "0.0.0.0" and kwargs["env"]["BASIS_API_PORT"] == "8080"
    assert kwargs["env"]["BASIS_API_TOKEN_FILE"] == "/run/secrets/api_token" and secrets == {
        "api_token": "s3cr3t"
    }
    assert "s3cr3t" not in str(kwargs)
    assert kwargs["constraints"] == ["node.labels.basis==bots", "node.id==node-a"]
    assert kwargs["labels"]["basis.node"] == "node-a" and kwargs["args"] == ["serve"]
    assert kwargs["user"] == "1900000321:1900000321"


async def test_services_volumes_and_secrets_of_no_tenant_are_reaped(
    service: TenantService, docker_client: Any, tmp_path: Path
) -> None:
    runtime = service.runtime
    assert isinstance(runtime, SwarmRuntime)
    owned, stray = await owned_and_stray(service, tmp_path, tenant_id)
    left = leftovers(docker_client, stray)
    assert left["services"] and left["secrets"]
    assert sorted(b.tenant_id for b in await runtime.list()) == sorted([owned, stray])
    assert await runtime.reap({t.id for t in service.all()}) == [stray]
    assert leftovers(docker_client, stray) == {
        "services": [],
        "containers": [],
        "secrets": [],
        "configs": [],
        "volumes": [],
    }
    assert leftovers(docker_client, owned)["services"] == [f"basis-bot-{owned}"]
    assert (await runtime.status(owned)).state == "running"


def test_doctor_checks_the_swarm_and_that_no_new_privileges_holds(
    devnet: DevnetProcess, tmp_path: Path, bot_image: str, swarm: str, docker_client: Any
) -> None:
    settings = settings_for(devnet, tmp_path, runtime="swarm")
    volumes_before = {v.name for v in docker_client.volumes.list()}
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "doctor", "--json"],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    runtime = next(c for c in json.loads(out.stdout)["checks"] if c["name"] == "runtime")
    assert runtime["ok"], runtime
    assert "swarm runtime" in runtime["detail"] and "no-new-privileges enforced" in runtime["detail"]
    # Its probe container (below API 1.46) is gone again, with its anonymous volume.
    assert (
        docker_client.containers.list(all=True, filters={"label": ["basis.probe"]}, ignore_removed=True) == []
    )
    # (A tenant's volume may still appear from another test's service, removed but late to stop.)
    new = [v for v in docker_client.volumes.list() if v.name not in volumes_before]
    assert [v.name for v in new if "basis.tenant" not in (v.attrs.get("Labels") or {})] == []
