"""Bots in containers (the `docker` runtime): provision-to-ready time, idle memory per bot container,
and how many idle bots this machine holds while the control plane still answers quickly.

A devnet on loopback ports and a control plane (`basis serve`) in a subprocess, its docker runtime on
the host's network (the devnet listens on loopback only) and labelled with an instance of the bench's
own (BASIS_CP_DOCKER_INSTANCE), so that neither its reconciler nor the clean-up ever
touches another control plane's containers. SQLite, the bot's default tick (5 s).

1. Provision-to-ready: PROVISIONS tenants one after another through the TenantService (the same
   database and engine as the control plane); each time from `provision` until `/health` answers.
2. Idle memory: IDLE_SECONDS later, each bot container's memory as `docker stats` shows it (cgroup
   usage minus inactive file cache), median.
3. Idle bots held: one user signs in (so `/api/v1/auth/me` has a session), then bots are started in
   batches of BASIS_BENCH_DOCKER_BATCH up to BASIS_BENCH_DOCKER_MAX_BOTS (default: the target, 150,
   so the figure is measured rather than extrapolated; the ramp also stops early below a quarter of
   memory available or when a p99 passes the limit). After each batch has idled, REQUESTS sequential
   requests to `/health` and to `/api/v1/auth/me` give their p99. With a lower cap, the count is
   extrapolated from what the bots use idle (method in the figure's note). Then the idle CPU over
   IDLE_WINDOW: containers, devnet, control plane and the engine's daemons.

Skipped, with the reason printed, when no engine answers or the bot image is missing (`make images`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.bench.control_plane import port_block, start_control_plane
from tests.bench.results import Figure, median, percentile
from tests.bench.signin_bench import _env, _free_port, _sign_up
from tests.support.devnet import DevnetProcess, start_devnet

PROVISIONS = 5
IDLE_SECONDS = 10.0
# Seconds over which the idle bots' CPU is measured (BASIS_BENCH_DOCKER_IDLE_WINDOW).
IDLE_WINDOW = float(os.environ.get("BASIS_BENCH_DOCKER_IDLE_WINDOW", "120"))
REQUESTS = 200
P99_LIMIT_MS = 250.0
TARGET_BOTS = 150
# Each bench bot may use this much memory (the default limit is 512 MB).
BOT_LIMITS = {"memory_mb": 256, "cpus": 1.0, "pids": 256}
# Extrapolation: memory left to the system, the control plane and the devnet; the share of the CPUs
# idle bots may take while the control plane still answers quickly (an assumption, stated in the note).
RESERVE_MB = 2048.0
CPU_SHARE = 0.5


def _skip(reason: str) -> list[Figure]:
    print(f"  skipped: {reason}", flush=True)
    return []


def _engine() -> Any | None:
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        print(f"  no Docker engine answers ({type(exc).__name__})", flush=True)
        return None
    return client


def _meminfo() -> dict[str, float]:
    """/proc/meminfo in MB."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        out[name] = int(value.split()[0]) / 1024
    return out


def _cgroup_file(kind: str, container_id: str, name: str) -> Path | None:
    """The container's cgroup file (v1 with cgroupfs or systemd, or v2), if this host shows it."""
    candidates = [
        Path(f"/sys/fs/cgroup/{kind}/docker/{container_id}/{name}"),
        Path(f"/sys/fs/cgroup/{kind}/system.slice/docker-{container_id}.scope/{name}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/{name}"),
        Path(f"/sys/fs/cgroup/docker/{container_id}/{name}"),
    ]
    return next((p for p in candidates if p.exists()), None)


def _memory_mb(container: Any) -> float:
    """Memory as `docker stats` shows it: usage minus the inactive file cache (reclaimable)."""
    usage = _cgroup_file("memory", container.id, "memory.usage_in_bytes") or _cgroup_file(
        "memory", container.id, "memory.current"
    )
    stat = _cgroup_file("memory", container.id, "memory.stat")
    if usage is not None and stat is not None:
        fields = dict(line.split() for line in stat.read_text().splitlines())
        inactive = int(fields.get("total_inactive_file", fields.get("inactive_file", 0)))
        return (int(usage.read_text()) - inactive) / 1024 / 1024
    stats = container.stats(stream=False)["memory_stats"]
    extra = stats.get("stats", {})
    inactive = extra.get("total_inactive_file", extra.get("inactive_file", 0))
    return (stats["usage"] - inactive) / 1024 / 1024


def _cpu_seconds(container: Any) -> float:
    """CPU time the container has used so far."""
    v1 = _cgroup_file("cpuacct", container.id, "cpuacct.usage")
    if v1 is not None:
        return int(v1.read_text()) / 1e9
    v2 = _cgroup_file("cpu", container.id, "cpu.stat")
    if v2 is not None:
        fields = dict(line.split() for line in v2.read_text().splitlines())
        return int(fields["usage_usec"]) / 1e6
    return container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def _health_check_cpu(container: Any) -> tuple[float, float]:
    """(CPU seconds one run of the container's health check costs, its interval in seconds): the
    check runs in the container's cgroup, so it is part of the bot's idle CPU."""
    check = container.attrs["Config"]["Healthcheck"]
    test = check["Test"]
    samples = []
    for _ in range(3):
        before = _cpu_seconds(container)
        container.exec_run(test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]])
        samples.append(_cpu_seconds(container) - before)
    return median(samples), check.get("Interval", 30_000_000_000) / 1e9


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _engine_cpu_seconds() -> dict[int, float]:
    """CPU seconds of the engine's own processes by pid: dockerd, containerd and each container's shim
    (they run the health checks' `docker exec` and watch every container, outside its cgroup)."""
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"):
                out[int(entry.name)] = _process_cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # exited meanwhile
    return out


def _p99_ms(client: httpx.Client, path: str) -> float:
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:200]}")
    return percentile(samples, 99)


def _clean_up(client: Any, instance: str) -> None:
    selector = {"label": [f"basis.instance={instance}"]}
    for container in client.containers.list(all=True, filters=selector, ignore_removed=True):
        with contextlib.suppress(Exception):
            container.remove(force=True)
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(Exception):
            volume.remove(force=True)


def docker_figures() -> list[Figure]:
    client = _engine()
    if client is None:
        return _skip("no Docker engine answers; start dockerd to measure the docker runtime")
    from orchestrator.config import ControlPlaneSettings

    version = ControlPlaneSettings.model_fields["bot_version"].default
    import docker.errors

    try:
        client.images.get(f"basis/bot:{version}")
    except docker.errors.ImageNotFound:
        return _skip(f"the image basis/bot:{version} is not on the engine; build it with `make images`")
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    load_before = os.getloadavg()[0]
    dn = start_devnet(seed=13, speed=1.0)
    try:
        with tempfile.TemporaryDirectory(prefix="basis-bench-docker-") as tmp:
            root = Path(tmp)
            port = _free_port()
            env = _env(dn, root, port)
            # Room for the whole ramp, below the kernel's ephemeral range: there, the source port of
            # any outgoing connection can take a bot's port between its allocation and its bind.
            cap = int(os.environ.get("BASIS_BENCH_DOCKER_MAX_BOTS", str(TARGET_BOTS)))
            size = max(100, cap + PROVISIONS + 20)
            low = port_block(size)
            env.update(
                {
                    "BASIS_CP_RUNTIME": "docker",
                    "BASIS_CP_DOCKER_HOST_NETWORK": "true",
                    "BASIS_CP_BOT_PORT_MIN": str(low),
                    "BASIS_CP_BOT_PORT_MAX": str(low + size - 1),
                    "BASIS_CP_BOT_STOP_TIMEOUT_SECONDS": "10",
                    "BASIS_CP_DOCKER_INSTANCE": instance,
                }
            )
            cp = start_control_plane(
                [sys.executable, "-m", "orchestrator.cli", "serve"],
                env,
                root / "serve.log",
                port,
                new_session=True,
            )
            try:
                return asyncio.run(_measure(client, dn, env, instance, port, cp.pid, load_before))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(cp.pid, signal.SIGTERM)
                try:
                    cp.wait(30)
                except subprocess.TimeoutExpired:
                    cp.kill()
                _clean_up(client, instance)
    finally:
        dn.stop()
        client.close()


def _service(env: dict[str, str]) -> Any:
    from orchestrator.app import make_runtime
    from orchestrator.config import ControlPlaneSettings
    from orchestrator.database.session import open_database
    from orchestrator.tenants import TenantService

    values = {k.removeprefix("BASIS_CP_").lower(): v for k, v in env.items() if k.startswith("BASIS_CP_")}
    settings = ControlPlaneSettings(_env_file=None, **values)  # type: ignore[call-arg]
    return TenantService(settings, open_database(settings.database_url), make_runtime(settings))


async def _measure(
    client: Any,
    dn: DevnetProcess,
    env: dict[str, str],
    instance: str,
    port: int,
    cp_pid: int,
    load_before: float,
) -> list[Figure]:
    service = _service(env)
    memory_at_start = _meminfo()
    cores = os.cpu_count() or 1

    # 1. Provision to ready, one after another.
    ready: list[float] = []
    for i in range(PROVISIONS):
        started = time.perf_counter()
        tenant = await service.provision(f"bench-{i}-{uuid.uuid4().hex[:6]}", limits=BOT_LIMITS)
        ready.append(time.perf_counter() - started)
        if tenant.status != "running":
            raise RuntimeError(f"{tenant.id} did not start: {tenant.last_error}")

    # 2. Idle memory per bot container.
    await asyncio.sleep(IDLE_SECONDS)
    containers = client.containers.list(
        filters={"label": [f"basis.instance={instance}"]}, ignore_removed=True
    )
    idle_memory = median([_memory_mb(c) for c in containers])

    # 3. The ramp, with a signed-in user's session for /api/v1/auth/me.
    cap = int(os.environ.get("BASIS_BENCH_DOCKER_MAX_BOTS", str(TARGET_BOTS)))
    batch = max(1, int(os.environ.get("BASIS_BENCH_DOCKER_BATCH", "5")))
    points: list[tuple[int, float, float]] = []  # (bots, p99 /health ms, p99 /auth/me ms)
    stopped_by = f"the cap of {cap} bots (BASIS_BENCH_DOCKER_MAX_BOTS)"
    held_measured = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as browser:
        _sign_up(browser, dn, f"bench-docker-{uuid.uuid4().hex[:6]}@example.com")
        while True:
            await asyncio.sleep(IDLE_SECONDS / 2)  # the last batch is idle
            bots = len(
                client.containers.list(filters={"label": [f"basis.instance={instance}"]}, ignore_removed=True)
            )
            p99_health = _p99_ms(browser, "/health")
            p99_me = _p99_ms(browser, "/api/v1/auth/me")
            points.append((bots, p99_health, p99_me))
            print(
                f"  {bots} bots: p99 /health {p99_health:.1f} ms, /api/v1/auth/me {p99_me:.1f} ms", flush=True
            )
            if max(p99_health, p99_me) >= P99_LIMIT_MS:
                stopped_by = f"p99 ≥ {P99_LIMIT_MS:g} ms at {bots} bots"
                break
            held_measured = bots
            available = _meminfo()["MemAvailable"]
            if available < _meminfo()["MemTotal"] / 4:
                stopped_by = f"a quarter of the memory left ({available:.0f} MB available)"
                break
            if bots >= cap:
                break
            size = min(batch, cap - bots)
            results = await asyncio.gather(
                *(
                    service.provision(f"ramp-{bots + j}-{uuid.uuid4().hex[:6]}", limits=BOT_LIMITS)
                    for j in range(size)
                ),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                stopped_by = f"a start of a batch of {size} failed: {errors[0]}"
                break
            # A start that timed out on this loaded machine is retried by the control plane's
            # reconciler: give it that chance before calling the ramp off.
            slow = [r.id for r in results if not isinstance(r, BaseException) and r.status != "running"]
            deadline = time.monotonic() + 120
            while slow and time.monotonic() < deadline:
                await asyncio.sleep(1)
                slow = [t for t in slow if service.get(t).status != "running"]
            if slow:
                tenant = service.get(slow[0])
                stopped_by = (
                    f"{len(slow)} of a batch of {size} bots not running 120 s after their start "
                    f"({tenant.id}: {tenant.status}, {tenant.last_error})"
                )
                break

    # What the idle bots cost, once the last batch has settled: their CPU over IDLE_WINDOW (and the
    # devnet's, which they poll, the control plane's and the engine's), their memory. The window holds
    # at least one idle tick and one engine health check of every bot (both every 60 s).
    await asyncio.sleep(IDLE_SECONDS)
    containers = client.containers.list(
        filters={"label": [f"basis.instance={instance}"]}, ignore_removed=True
    )
    check_cpu, check_interval = _health_check_cpu(containers[0])
    before = {c.id: _cpu_seconds(c) for c in containers}
    devnet_before = _process_cpu_seconds(dn.process.pid)
    cp_before = _process_cpu_seconds(cp_pid)
    engine_before = _engine_cpu_seconds()
    started = time.monotonic()
    await asyncio.sleep(IDLE_WINDOW)
    elapsed = time.monotonic() - started
    bot_cpu = sum(_cpu_seconds(c) - before[c.id] for c in containers if c.id in before)
    devnet_cpu = _process_cpu_seconds(dn.process.pid) - devnet_before
    cp_cpu = _process_cpu_seconds(cp_pid) - cp_before
    engine_cpu = sum(v - engine_before.get(pid, 0.0) for pid, v in _engine_cpu_seconds().items())
    n = len(containers)
    # Cores per bot, with its share of the rest.
    per_bot_cpu = (bot_cpu + devnet_cpu + cp_cpu + engine_cpu) / elapsed / n
    per_bot_memory = statistics.median([_memory_mb(c) for c in containers])
    used_now = memory_at_start["MemAvailable"] - _meminfo()["MemAvailable"]
    per_bot_host_memory = max(per_bot_memory, used_now / n)  # what the host really gave each one

    memory_bound = int((memory_at_start["MemAvailable"] - RESERVE_MB) / per_bot_host_memory)
    cpu_bound = int(cores * CPU_SHARE / per_bot_cpu) if per_bot_cpu > 0 else memory_bound
    if held_measured < max(b for b, _h, _m in points) or "did not start" in stopped_by:
        held, how = held_measured, "measured (the ramp stopped before the cap)"
    else:
        held = max(held_measured, min(memory_bound, cpu_bound))
        how = (
            f"extrapolated: min(memory bound {memory_bound}, CPU bound {cpu_bound}); memory bound = "
            f"(MemAvailable before the bots {memory_at_start['MemAvailable']:.0f} MB − {RESERVE_MB:.0f} MB "
            f"reserve) / {per_bot_host_memory:.0f} MB per bot (the larger of the container's idle memory "
            f"and the host's MemAvailable drop per bot); CPU bound = {cores} cores × {CPU_SHARE:g} / "
            f"{per_bot_cpu * 1000:.1f} milli-cores per idle bot (its container, plus its share of the "
            f"devnet it polls and the control plane), assuming the control plane keeps p99 < "
            f"{P99_LIMIT_MS:g} ms while idle bots take at most {CPU_SHARE:.0%} of the CPUs"
        )
    trail = "; ".join(f"{b} bots: {h:.0f}/{m:.0f} ms" for b, h, m in points)
    machine = (
        f"{cores} cores, {memory_at_start['MemTotal'] / 1024:.1f} GB; load average before the bench "
        f"{load_before:.1f}"
    )
    last = points[-1]
    return [
        Figure(
            "docker",
            "provision → ready (docker runtime) median",
            median(ready),
            "s",
            target="≤ 3 s",
            met=median(ready) <= 3,
            note=f"{PROVISIONS} tenants one after another, host networking, SQLite; "
            f"all: {', '.join(f'{r:.2f}' for r in ready)} s; {machine}",
        ),
        Figure(
            "docker",
            "idle memory per bot container",
            idle_memory,
            "MB",
            target="≤ 100 MB",
            met=idle_memory <= 100,
            note=f"median over {len(ready)} containers {IDLE_SECONDS:g} s after their start, cgroup "
            "usage minus inactive file cache (as docker stats)",
        ),
        Figure(
            "docker",
            "idle bots measured with control-plane p99 < 250 ms",
            held_measured,
            "bots",
            note=f"stopped by {stopped_by}; p99 /health / /api/v1/auth/me per step: {trail}",
        ),
        Figure(
            "docker",
            f"control-plane p99 at {last[0]} idle bots (/health, /api/v1/auth/me)",
            max(last[1], last[2]),
            "ms",
            target=f"< {P99_LIMIT_MS:g} ms",
            met=max(last[1], last[2]) < P99_LIMIT_MS,
            note=f"{REQUESTS} sequential requests each; /health {last[1]:.1f} ms, /auth/me {last[2]:.1f} ms",
        ),
        Figure(
            "docker",
            "idle bot CPU (with its share of devnet and control plane)",
            per_bot_cpu * 1000,
            "milli-cores",
            note=f"{n} idle bots over {elapsed:.0f} s: containers {bot_cpu:.2f} s, devnet "
            f"{devnet_cpu:.2f} s, control plane {cp_cpu:.2f} s, engine daemons {engine_cpu:.2f} s of "
            f"CPU; idle bots tick every 60 s (BASIS_IDLE_TICK_SECONDS); the engine's health check "
            f"(every {check_interval:g} s, {check_cpu * 1000:.0f} ms of CPU in the container each) takes "
            f"{check_cpu / check_interval * 1000:.1f} milli-cores of that",
        ),
        Figure(
            "docker",
            "idle bots this machine holds",
            held,
            "bots",
            target=f"≥ {TARGET_BOTS}",
            met=held >= TARGET_BOTS,
            note=f"{how}; {machine}",
        ),
    ]


BENCHES = [docker_figures]

if __name__ == "__main__":
    from tests.bench.results import report

    report(docker_figures(), Path(tempfile.gettempdir()) / "docker-bench.json")
