"""Sign-in to a ready dashboard, as a new user lives it: a devnet and `basis serve` (process
runtime, SQLite) on loopback ports; for each of USERS fresh emails, as the portal page does: the
code sent through the devnet's Privy, read from the devnet mailbox and checked there, the access
token posted to the control plane (t0 = its answer arrived), then poll `/app/api/v1/status`
through the proxy with the session cookie until it answers 200 with the bot's data (t1), and
check that `/app/` serves the dashboard page. Reported: median and p90 of t1 - t0, how long the
code check and session took (Privy's check, the token's, the two wallets, provisioning), and the resident
memory of one bot left idle for IDLE_SECONDS. The control plane keeps a pre-imported spare bot, as
`basis serve` does by default (the users come one after another, so some find the next spare still
importing); the same run without spares (BASIS_CP_BOT_SPARE=false) gives the cold start beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.bench.control_plane import port_block, start_control_plane
from tests.bench.results import Figure, median, percentile
from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.privy_page import latest_code, privy_headers

USERS = 7
# As often as a browser might poll; much more often and the polling itself slows the start (2 cores).
POLL_SECONDS = 0.025
READY_TIMEOUT = 60.0
IDLE_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(dn: DevnetProcess, root: Path, port: int) -> dict[str, str]:
    privy = dn.state()["privy"]
    # The operator's own BASIS_* settings stay out: the bench configures everything it runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    low = port_block(100)
    settings = {
        "DATABASE_URL": f"sqlite:///{root / 'control.sqlite3'}",
        "DATA_ROOT": str(root / "tenants"),
        "PORT": str(port),
        "BROKER_PORT": "0",  # the signing broker's internal listener: any free port
        "SERVER_SECRET": "bench-control-plane-secret",
        "PRIVY_APP_ID": privy["app_id"],
        "PRIVY_APP_SECRET": privy["app_secret"],
        "PRIVY_AUTH_URL": dn.url("privy"),
        "PRIVY_API_URL": dn.url("privy"),
        "HYPERLIQUID_URL": dn.url("hyperliquid"),
        "ASGARD_URL": dn.url("asgard"),
        "ASGARD_API_KEY": "bench-key",
        "SOLANA_RPC_URL": dn.url("solana"),
        "ARBITRUM_RPC_URL": dn.url("arbitrum"),
        "BOT_PORT_MIN": str(low),
        "BOT_PORT_MAX": str(low + 99),
        "LOG_LEVEL": "warning",
    }
    env.update({f"BASIS_CP_{k}": v for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _sign_up(client: httpx.Client, dn: DevnetProcess, email: str) -> tuple[float, float, str]:
    """(t0 as perf_counter, seconds from the code's check to the session, tenant id) for one new user,
    signed in as the portal page does: the code through Privy from the page's origin, then the
    access token posted to the control plane."""
    csrf = client.get("/api/v1/auth/csrf").json()["csrf_token"]
    origin = str(client.base_url).rstrip("/")
    with httpx.Client(base_url=dn.url("privy"), headers=privy_headers(dn, origin), timeout=30) as privy:
        r = privy.post("/api/v1/passwordless/init", json={"email": email})
        if r.status_code != 200:
            raise RuntimeError(f"Privy's passwordless/init answered {r.status_code}: {r.text}")
        code = latest_code(dn, email)
        started = time.perf_counter()
        r = privy.post("/api/v1/passwordless/authenticate", json={"email": email, "code": code})
        if r.status_code != 200:
            raise RuntimeError(f"Privy's passwordless/authenticate answered {r.status_code}: {r.text}")
    r = client.post(
        "/api/v1/auth/privy/session",
        json={"access_token": r.json()["token"], "remember": False},
        headers={"X-CSRF-Token": csrf},
    )
    t0 = time.perf_counter()
    if r.status_code != 200:
        raise RuntimeError(f"the session request answered {r.status_code}: {r.text}")
    body = r.json()
    if not body["is_new"] or not body["tenant_id"]:
        raise RuntimeError(f"expected a new user with a tenant, got {body}")
    return t0, t0 - started, str(body["tenant_id"])


def _until_ready(client: httpx.Client) -> float:
    """perf_counter when `/app/api/v1/status` first answers 200 with the bot's data."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        r = client.get("/app/api/v1/status")
        if r.status_code == 200:
            t1 = time.perf_counter()
            data = r.json()
            if "trading_state" not in data:
                raise RuntimeError(f"the status holds no bot data: {data}")
            page = client.get("/app/", headers={"Accept": "text/html"})
            if page.status_code != 200 or "<html" not in page.text.lower():
                raise RuntimeError(f"/app/ answered {page.status_code} without the page")
            return t1
        if r.status_code not in (502, 503):
            raise RuntimeError(f"/app/api/v1/status answered {r.status_code}: {r.text[:300]}")
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"the dashboard was not ready within {READY_TIMEOUT:g} s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _bot_pid(data_root: Path, tenant_id: str) -> int:
    return int(json.loads((data_root / ".runtime" / tenant_id / "bot.pid").read_text())["pid"])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used: unlike wall time, barely moved by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop_bots(data_root: Path) -> None:
    """The bots outlive the control plane by design: stop each one (its own process group)."""
    pids = []
    for pid_file in data_root.glob(".runtime/*/bot.pid"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pids.append(int(json.loads(pid_file.read_text())["pid"]))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + 10
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in pids):
                return
            time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def signin_figures() -> list[Figure]:
    dn = start_devnet(seed=13, speed=1.0)
    try:
        figures = _run(dn, spare=True)
        cold = dataclasses.replace(
            _run(dn, spare=False)[0],
            name="verified code → ready dashboard (process, no spare) median",
            target="",
            met=None,
        )
        return [*figures[:1], cold, *figures[1:]]
    finally:
        dn.stop()


def _run(dn: DevnetProcess, *, spare: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="basis-bench-signin-") as tmp:
        root = Path(tmp)
        root.chmod(0o711)  # run as root, each bot is a user of its own that must cross it to its folder
        port = _free_port()
        env = _env(dn, root, port)
        env["BASIS_CP_BOT_SPARE"] = "true" if spare else "false"
        cp = start_control_plane(
            [sys.executable, "-m", "orchestrator.cli", "serve"], env, root / "serve.log", port
        )
        try:
            return _measure(dn, port, root / "tenants")
        finally:
            cp.send_signal(signal.SIGTERM)
            try:
                cp.wait(30)
            except subprocess.TimeoutExpired:
                cp.kill()
            _stop_bots(root / "tenants")


def _measure(dn: DevnetProcess, port: int, data_root: Path) -> list[Figure]:
    ready: list[float] = []
    verify: list[float] = []
    cpu: list[float] = []
    tenants: list[str] = []
    for i in range(USERS):
        # One browser per user: its own cookie jar.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            t0, took, tenant_id = _sign_up(client, dn, f"bench-{i}-{os.urandom(3).hex()}@example.com")
            t1 = _until_ready(client)
            cpu.append(_cpu_seconds(_bot_pid(data_root, tenant_id)))
        ready.append(t1 - t0)
        verify.append(took)
        tenants.append(tenant_id)
    time.sleep(IDLE_SECONDS)
    pid = _bot_pid(data_root, tenants[0])
    rss = _rss_mb(pid)
    load = os.getloadavg()[0]
    note = f"{USERS} new users one after another, process runtime, SQLite, loopback; load average {load:.1f}"
    p50, p90 = median(ready), percentile(ready, 90)
    return [
        Figure(
            "signin",
            "verified code → ready dashboard (process) median",
            p50,
            "s",
            target="≤ 1.5 s",
            met=p50 <= 1.5,
            note=note,
        ),
        Figure("signin", "verified code → ready dashboard (process) p90", p90, "s", note=note),
        Figure(
            "signin",
            "code check to session (Privy, token, two wallets, provisioning) median",
            median(verify),
            "s",
            note=note,
        ),
        Figure(
            "signin",
            "bot CPU time from exec to ready dashboard, median",
            median(cpu),
            "s",
            note="user + system time of the bot process when its dashboard first answered (for a bot "
            "that was a spare, its imports before the user came included)",
        ),
        Figure(
            "signin",
            "idle bot memory (RSS)",
            rss,
            "MB",
            target="≤ 100 MB",
            met=rss <= 100,
            note=f"VmRSS of one bot {IDLE_SECONDS:g} s after its dashboard was ready, ticking idle",
        ),
    ]


BENCHES = [signin_figures]

if __name__ == "__main__":
    from tests.bench.results import report

    report(signin_figures(), Path(tempfile.gettempdir()) / "signin-bench.json")
