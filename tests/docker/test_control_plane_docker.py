"""A real `basis serve` on the `docker` runtime, SIGKILLed and started again; operations through the real
`basis` CLI, SIGKILLed mid-way. Nothing here runs the control plane in the test's own process.

The bots run in containers on the host's network, so they reach the loopback devnet and the signing
broker of the control plane (`http://127.0.0.1:<its port>`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.database.session import open_database
from orchestrator.runtimes.docker import DockerRuntime
from orchestrator.tenants import TenantService
from tests.docker.test_docker_runtime import bot_ports, container_of
from tests.docker.test_swarm_runtime import container_of as swarm_container_of
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import ROOT, DevnetProcess
from tests.support.tenants import health, settings_env

pytestmark = pytest.mark.devnet


def engine_settings(runtime: str, instance: str) -> dict[str, Any]:
    low, high = bot_ports(instance)
    return {
        "runtime": runtime,
        "docker_instance": instance,
        "docker_host_network": True,
        "bot_port_min": low,
        "bot_port_max": high,
        "bot_stop_timeout_seconds": 10,
    }


@pytest.fixture(params=["docker"])
def plane(
    request: pytest.FixtureRequest, devnet: DevnetProcess, tmp_path: Path, bot_image: str
) -> Iterator[ControlPlane]:
    """`basis serve` on the `docker` runtime, or on `swarm` (parametrize with indirect=True)."""
    runtime = request.param
    # The instance fixtures remove the containers, services and volumes after the test.
    instance = request.getfixturevalue("instance" if runtime == "docker" else "swarm_instance")
    cp = ControlPlane(devnet, tmp_path, overrides=engine_settings(runtime, instance))
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()


def bot_container(client: Any, plane: ControlPlane, tenant: str) -> Any:
    """The container the tenant's bot runs in (for swarm: its service's one task's)."""
    if plane.settings.runtime == "docker":
        return container_of(client, tenant)
    return swarm_container_of(client, tenant)


def wait_job(user: SignedIn, job_id: str, plane: ControlPlane) -> dict[str, Any]:
    deadline, job = time.monotonic() + 90, {}
    while time.monotonic() < deadline:
        job = user.client.get(f"/app/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}\n{plane.logs()[-3000:]}")


def open_positions(user: SignedIn) -> list[dict[str, Any]]:
    r = user.client.get("/app/api/v1/positions")
    assert r.status_code == 200, r.text
    return [p for p in r.json()["positions"] if p["status"] == "open"]


@pytest.mark.parametrize("plane", ["docker", "swarm"], indirect=True)
def test_a_user_bot_in_a_hardened_container_trades_through_the_proxy_and_survives_both_kills(
    plane: ControlPlane, docker_client: Any
) -> None:
    """Sign-in → hardened container → dashboard through the proxy → a position opens. SIGKILL `basis
    serve` and start it again → the same container (id and start time), the old session's first request
    works. Kill the container → recreated, and the bot recovers its position from the volume."""
    user = plane.sign_in("docker")
    plane.wait_running(user)
    c = bot_container(docker_client, plane, user.tenant_id)
    host, config = c.attrs["HostConfig"], c.attrs["Config"]
    uid = plane.tenant(user.tenant_id).uid
    assert uid is not None and config["User"] == f"{uid}:{uid}" and host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd") and host["Privileged"] is False
    # What the kernel says of the bot's process, whatever the engine was asked.
    code, out = c.exec_run(["grep", "NoNewPrivs", "/proc/1/status"])
    assert code == 0 and out.decode().split() == ["NoNewPrivs:", "1"], (
        "the bot runs without no-new-privileges: an engine older than API 1.46 drops it from swarm "
        "services; start dockerd with --no-new-privileges (or set it in daemon.json)"
    )
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert config["Labels"]["basis.instance"] == plane.settings.docker_instance
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["BASIS_SIGNER"] == "broker" and "BASIS_API_TOKEN" not in env
    assert user.token not in "".join(config["Env"])

    # The dashboard and its API, through the control plane's proxy with the user's session.
    page = user.client.get("/app/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    status = user.client.get("/app/api/v1/status")
    assert status.status_code == 200, status.text
    wallets = status.json()["wallets"]
    assert wallets == {"signer": "broker", "solana": user.solana_address, "evm": user.evm_address}

    dn = plane.dn
    dn.faucet("solana", "SOL", user.solana_address, "2")
    dn.faucet("solana", "USDC", user.solana_address, "2000")
    dn.faucet("hyperliquid", "USDC", user.evm_address, "2000")
    r = user.client.post(
        "/app/api/v1/positions/open",
        json={"capital_usd": "1000", "asset": "SOL"},
        headers={"X-CSRF-Token": user.csrf},
    )
    assert r.status_code == 202, r.text
    job = wait_job(user, r.json()["id"], plane)
    assert job["outcome"] == "completed", job
    opened = open_positions(user)
    assert len(opened) == 1

    # The control plane dies hard and comes back: the container is adopted, not restarted.
    plane.kill()
    c.reload()
    assert c.status == "running"
    plane.start()
    again = user.client.get("/app/api/v1/status")
    assert again.status_code == 200, again.text
    assert again.json()["wallets"] == wallets
    after = bot_container(docker_client, plane, user.tenant_id)
    assert after.id == c.id and after.attrs["State"]["StartedAt"] == c.attrs["State"]["StartedAt"]
    assert plane.tenant(user.tenant_id).restarts == 0

    # The container is killed under it: the engine's event reaches the reconciler of `basis serve`,
    # which recreates it on the same volume; the bot reads its journal and holds the same position.
    c.kill()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tenant = plane.tenant(user.tenant_id)
        if tenant.status == "running" and tenant.restarts >= 1:
            r = user.client.get("/app/api/v1/status")
            if r.status_code == 200:
                break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the killed container was not recreated:\n{plane.logs()[-3000:]}")
    assert bot_container(docker_client, plane, user.tenant_id).id != c.id
    assert r.json()["wallets"] == wallets
    assert [p["id"] for p in open_positions(user)] == [p["id"] for p in opened]


# ---------------------------------------------------------------------- random lifecycle
def cli(plane: ControlPlane, *args: str) -> subprocess.Popen[bytes]:
    """`basis tenants <args>`, as an operator would run it, against the control plane's database."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "tenants", *args, "--json"],
        cwd=ROOT,
        env=settings_env(plane.settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# What a tenant id can be, in the test's own model of the operations that ran (not read from the
# control plane): a tenant that should run, one that should be stopped, one deleted with its data
# kept, or nothing at all.
RUNNING, STOPPED, KEPT, GONE = "running", "stopped", "kept", "gone"
ROWS = {RUNNING, STOPPED}  # a tenant row exists
# Each operation: the states it needs to succeed (else it is refused, exit 2), and the state it leaves.
NEEDS = {
    "create": {GONE, KEPT},  # a kept id's data is taken back
    "start": ROWS,
    "restart": ROWS,
    "stop": ROWS,
    "delete": ROWS,
    "purge": ROWS | {KEPT},
}
LEAVES = {
    "create": RUNNING,
    "start": RUNNING,
    "restart": RUNNING,
    "stop": STOPPED,
    "delete": KEPT,
    "purge": GONE,
}
# What a SIGKILLed run can leave besides its start and end states: a delete or purge of a tenant first
# marks its row stopped (so a reconciler pass does not restart it), then removes the bot, then the row.
HALFWAY = {"delete": {STOPPED}, "purge": {STOPPED}}


class LifecycleModel:
    """The states each tenant id can be in after the `basis tenants` runs so far: one state after a
    run that finished, any state on its way after a run that was SIGKILLed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.can: dict[str, set[str]] = {}

    def choose(self) -> tuple[str, str]:
        """A random operation and the id it applies to (sometimes one that may no longer exist)."""
        ids = sorted(i for i, can in self.can.items() if can & ROWS)
        kept = sorted(i for i, can in self.can.items() if KEPT in can)
        choices = ["create", "create"] if len(ids) < 3 else []
        if ids:
            choices += ["stop", "start", "restart", "kill-bot"] * 2 + ["delete", "purge"]
        if kept:
            choices += ["purge", "create"]
        op = self.rng.choice(choices)
        if op == "create":
            new = f"r-{uuid.uuid4().hex[:10]}"
            return op, self.rng.choice(kept) if kept and self.rng.random() < 0.5 else new
        return op, self.rng.choice(ids + kept if op == "purge" else ids)

    def states(self, tenant_id: str) -> set[str]:
        return self.can.get(tenant_id, {GONE})

    def record(self, op: str, tenant_id: str, returncode: int) -> str | None:
        """Take a run's exit code into the model; a sentence when the model says it cannot be."""
        before = self.states(tenant_id)
        can, cannot = before & NEEDS[op], before - NEEDS[op]
        if returncode == -signal.SIGKILL:  # anywhere on its way: unchanged, halfway, or done
            after = before | ({LEAVES[op]} if can else set())
            self.can[tenant_id] = after | (HALFWAY.get(op, set()) if before & ROWS else set())
        elif returncode == 0:
            if not can:
                return f"{op} {tenant_id} succeeded where it cannot ({sorted(before)})"
            self.can[tenant_id] = {LEAVES[op]}
        elif returncode == 2:  # refused, with a sentence
            if not cannot:
                return f"{op} {tenant_id} was refused where it can ({sorted(before)})"
            self.can[tenant_id] = cannot
        else:  # 1: the bot did not start, 3: the runtime or database failed
            return f"{op} {tenant_id} exited {returncode}"
        return None


def modelled_state(service: TenantService, tenant_id: str) -> str:
    """The control plane's record of `tenant_id`, in the model's terms."""
    tenant = next((t for t in service.all() if t.id == tenant_id), None)
    if tenant is not None:
        return RUNNING if tenant.desired_state == "running" else STOPPED
    return KEPT if any(r.tenant_id == tenant_id for r in service.retained()) else GONE


def test_random_operations_through_the_cli_with_sigkills_leave_every_tenant_as_desired(
    plane: ControlPlane, docker_client: Any
) -> None:
    """Twenty random operations, each a `basis tenants ...` process, some SIGKILLed mid-way; between them
    `basis serve` is SIGKILLed (and sometimes left down during the next operation). The test keeps its
    own model of what each id can be after the runs so far (`LifecycleModel`) and checks every exit
    code against it: a run succeeds exactly when the model says it can, is refused (exit 2) only when
    it cannot, and never fails otherwise. Then one control plane runs: every id is what the model
    allows, each bot runs exactly when it should, and no container or volume belongs to no tenant (data
    kept on delete excepted)."""
    instance = plane.settings.docker_instance
    seed = int(os.environ.get("BASIS_TEST_SEED", str(random.SystemRandom().randrange(1_000_000))))
    model = LifecycleModel(random.Random(seed))
    rng = random.Random(seed + 1)  # the kills, apart from the operations
    db = open_database(plane.settings.database_url)
    service = TenantService(plane.settings, db, DockerRuntime(instance=instance))  # reads the database
    log: list[str] = []
    for step in range(20):
        if rng.random() < 0.3:
            plane.kill()
            log.append("kill serve")
            if rng.random() < 0.5:
                plane.start()
                log.append("start serve")
        op, tid = model.choose()
        log.append(f"{step}: {op} {tid} (can be {sorted(model.states(tid))})")
        if op == "kill-bot":  # the reconciler's business: the desired state does not change
            try:
                container_of(docker_client, tid).kill()
            except Exception as exc:  # not running (stopped, or not created yet): nothing to kill
                log.append(f"  ({type(exc).__name__})")
            continue
        args = {"purge": ["delete", tid, "--purge"]}.get(op, [op, tid])
        proc = cli(plane, *args)
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.3, 3.0))  # the kill lands somewhere in the run
            proc.send_signal(signal.SIGKILL)
            log.append("  cli killed")
        try:
            _, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"basis tenants {' '.join(args)} hung (seed {seed}): {log}") from None
        assert b"Traceback" not in err, err.decode()[-3000:]
        wrong = model.record(op, tid, proc.returncode)
        assert wrong is None, f"{wrong} (seed {seed}): {err.decode()[-2000:]}\n{log}\n{plane.logs()[-3000:]}"
        log.append(f"  exit {proc.returncode}, can be {sorted(model.states(tid))}")
    if plane.process is None or plane.process.poll() is not None:
        plane.start()
        log.append("start serve")

    # The control plane's record of every id agrees with the model, and it knows no other id.
    for tid, can in model.can.items():
        state = modelled_state(service, tid)
        assert state in can, (f"{tid} is {state}; the model says {sorted(can)} (seed {seed})", log)
    known = {t.id for t in service.all()} | {r.tenant_id for r in service.retained()}
    assert known <= set(model.can), (f"ids no operation made: {known - set(model.can)}", log)

    selector = {"label": [f"basis.instance={instance}"]}
    deadline = time.monotonic() + 180
    while True:
        tenants = {t.id: t for t in service.all()}
        kept = {r.tenant_id for r in service.retained()}
        wanted = {i for i, t in tenants.items() if t.desired_state == "running"}
        containers = {
            c.labels["basis.tenant"]: c
            for c in docker_client.containers.list(all=True, filters=selector, ignore_removed=True)
        }
        volumes = {v.attrs["Labels"]["basis.tenant"] for v in docker_client.volumes.list(filters=selector)}
        running = {i for i, c in containers.items() if c.status == "running"}
        settled = (
            all(tenants[i].status == "running" for i in wanted)
            and set(containers) == running == wanted
            and volumes <= set(tenants) | kept
            and all(t.status == "stopped" for i, t in tenants.items() if i not in wanted)
        )
        if settled:
            break
        assert time.monotonic() < deadline, (
            f"not settled (seed {seed}): {log}"
            f"\ntenants {[(t.id, t.desired_state, t.status) for t in tenants.values()]}"
            f"\ncontainers {[(i, c.status) for i, c in containers.items()]}\nvolumes {volumes}, kept {kept}"
            f"\n{plane.logs()[-3000:]}"
        )
        time.sleep(0.5)
    for tid in wanted:
        port = tenants[tid].port
        assert port is not None and health(port), tid
    stopped = len(tenants) - len(wanted)
    print(f"\nseed {seed}: {len(wanted)} running, {stopped} stopped, {len(kept)} kept; {log}")
