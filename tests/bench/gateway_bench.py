"""Many bots with open positions behind one address, through the shared venue gateway (issue 17).

`make bench-gateway` (also a group of `make bench`). On loopback: a devnet whose Hyperliquid counts
the venue's real 1,200 weight a minute per client address (every bot, the gateway and the control
plane share 127.0.0.1, as they share a host's address), and `basis serve` (process runtime, SQLite,
the gateway on its internal listener, no spare bot). Then:

1. BOTS users sign in as the portal page does (each gets a bot of its own), SIGNERS at a time; each is
   funded by the devnet's faucet and its bot opens a position of CAPITAL USDC at the default 3x through
   its API behind the control plane's proxy, OPENERS at a time.
2. For WINDOW seconds, with every bot ticking at its normal 5 s cadence: every SAMPLE seconds the
   devnet's weight spent by 127.0.0.1 over the last minute, and its 429s; the control plane's p99 over
   sequential requests to `/health` and `/api/v1/auth/me`; at the end each bot's CPU over the window
   and resident memory (from /proc), and the tick p99 over the window from the bots' merged tick
   histograms (the difference of their buckets before and after).

Knobs: BASIS_BENCH_GATEWAY_BOTS (150), BASIS_BENCH_GATEWAY_WINDOW (180 s), BASIS_BENCH_GATEWAY_OPENERS
(6), BASIS_BENCH_GATEWAY_SIGNERS (3).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from shared.logging import configure_logging
from tenant_bot.cadence import TICK_BUCKETS
from tests.bench.results import Figure, percentile
from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess, start_devnet
from tests.support.home_namespace import crossable_root

VENUE_WEIGHT = 1200  # Hyperliquid's REST weight a minute per IP
BUDGET_SHARE = 0.8  # the target: at most 80 % of it
BOTS = int(os.environ.get("BASIS_BENCH_GATEWAY_BOTS", "150"))
WINDOW = float(os.environ.get("BASIS_BENCH_GATEWAY_WINDOW", "180"))
OPENERS = int(os.environ.get("BASIS_BENCH_GATEWAY_OPENERS", "6"))
SIGNERS = int(os.environ.get("BASIS_BENCH_GATEWAY_SIGNERS", "3"))
CAPITAL = "1000"
SAMPLE = 5.0
REQUESTS = 200  # sequential control-plane requests per path
OPEN_ATTEMPTS = 12  # an open refused for the budget is asked again, OPEN_RETRY_SECONDS later
OPEN_RETRY_SECONDS = 10.0
OPENS_RETRIED: list[str] = []  # one entry per open asked again
BUCKET = re.compile(r'^basis_tick_seconds_bucket\{le="([^"]+)"\} (\d+)$')


def _cores(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _buckets(cp: ControlPlane, user: SignedIn) -> list[int]:
    """A bot's cumulative tick-histogram buckets (TICK_BUCKETS, then +Inf), read on the bot's port."""
    port = cp.tenant(user.tenant_id).port
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-Basis-Token": user.token}, timeout=10)
    r.raise_for_status()
    counts = [int(m.group(2)) for line in r.text.splitlines() if (m := BUCKET.match(line))]
    if len(counts) != len(TICK_BUCKETS) + 1:
        raise RuntimeError(f"the bot of {user.tenant_id} gives no tick histogram")
    return counts


def tick_percentile(cumulative: list[int], q: float) -> float:
    """The q-th percentile (ms) of ticks counted in cumulative buckets, interpolated in its bucket;
    past the last bound: that bound (a lower bound of the truth)."""
    total = cumulative[-1]
    if total == 0:
        return float("nan")
    rank = total * q / 100
    lower, below = 0.0, 0
    for bound, count in zip(TICK_BUCKETS, cumulative, strict=False):
        if count >= rank:
            inside = count - below
            return 1000 * (lower + (bound - lower) * ((rank - below) / inside if inside else 1))
        lower, below = bound, count
    return 1000 * TICK_BUCKETS[-1]


def _p99_ms(client: httpx.Client, path: str) -> float:
    took = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        r = client.get(path)
        took.append((time.perf_counter() - t0) * 1000)
        if r.status_code >= 500:
            raise RuntimeError(f"{path} answered {r.status_code}")
    return percentile(took, 99)


def _open(cp: ControlPlane, user: SignedIn) -> None:
    dn = cp.dn
    dn.faucet("solana", "SOL", user.solana_address, "2")
    dn.faucet("solana", "USDC", user.solana_address, str(int(CAPITAL) * 2))
    dn.faucet("hyperliquid", "USDC", user.evm_address, str(int(CAPITAL) * 2))
    cp.wait_running(user, timeout=300)
    csrf = {"X-CSRF-Token": user.csrf}
    for attempt in range(OPEN_ATTEMPTS):
        r = user.client.post(
            "/app/api/v1/positions/open", json={"capital_usd": CAPITAL, "asset": "SOL"}, headers=csrf
        )
        # A bot past its share of the address's budget says so before any side effect (503, "try
        # again shortly"): the user's next click, counted.
        if r.status_code != 503 or "try again" not in r.text or attempt == OPEN_ATTEMPTS - 1:
            break
        OPENS_RETRIED.append(user.tenant_id)
        time.sleep(OPEN_RETRY_SECONDS)
    if r.status_code != 202:
        raise RuntimeError(f"the open of {user.tenant_id} answered {r.status_code}: {r.text[:300]}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = user.client.get(f"/app/api/v1/jobs/{r.json()['id']}").json()
        if job["state"] == "done" and job.get("outcome") == "completed":
            return
        if job["state"] in ("done", "failed"):
            raise RuntimeError(f"the open of {user.tenant_id} ended {job}")
        time.sleep(1)
    raise RuntimeError(f"the open of {user.tenant_id} did not finish")


OPEN_FAILURES: list[str] = []


def _try_open(cp: ControlPlane, user: SignedIn) -> bool:
    """The open, or False with the reason kept (the figures say how many failed)."""
    try:
        _open(cp, user)
    except RuntimeError as exc:
        OPEN_FAILURES.append(str(exc))
        return False
    return True


def _data(cp: ControlPlane, user: SignedIn) -> dict[str, Any]:
    """The bot's own account of its data: how it reads (gateway or fallback) and the ages."""
    port = cp.tenant(user.tenant_id).port
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers={"X-Basis-Token": user.token}, timeout=10)
    r.raise_for_status()
    return dict(r.json()["data"])


def _all(work: Callable[[Any], Any], items: list[Any], threads: int) -> list[Any]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, items))


def gateway_figures() -> list[Figure]:
    configure_logging("warning")
    dn = start_devnet(seed=17, speed=1.0, hyperliquid_weight=VENUE_WEIGHT)
    try:
        with tempfile.TemporaryDirectory(prefix="basis-bench-gateway-") as tmp:
            return _run(dn, Path(tmp))
    finally:
        dn.stop()


def _run(dn: DevnetProcess, root: Path) -> list[Figure]:
    cp = ControlPlane(
        dn,
        root,
        overrides={
            "bot_spare": False,
            "bot_env": {},  # the bots' normal cadence
            "bot_port_min": 20000,
            "bot_port_max": 20000 + BOTS + 50,
            "bot_start_timeout_seconds": 300,
            "reconcile_interval_seconds": 2,
        },
    )
    cp.start(timeout=120, preexec_fn=crossable_root())
    users_seen: list[SignedIn] = []
    try:
        started = time.monotonic()
        users = _all(lambda i: cp.sign_in(f"gw{i}"), list(range(BOTS)), SIGNERS)
        users_seen.extend(users)
        signed_in = time.monotonic() - started
        refused_before = _refused(dn)
        failed = [
            u for u, ok in zip(users, _all(lambda u: _try_open(cp, u), users, OPENERS), strict=True) if not ok
        ]
        users = [u for u in users if u not in failed]
        if len(failed) > len(users) // 10:
            raise RuntimeError(
                f"{len(failed)} of {len(failed) + len(users)} opens failed: {OPEN_FAILURES[:5]}"
            )
        opened = time.monotonic() - started - signed_in
        return _measure(cp, users, signed_in, opened, refused_before)
    except Exception:
        if users_seen:
            u = users_seen[0]
            r = httpx.get(
                cp.internal_url + "/gateway/v1/budget",
                headers={"Authorization": f"Bearer {u.token}", "X-Basis-Tenant": u.tenant_id},
                timeout=10,
            )
            print("gateway budget:", r.text[:2000])
            print("bot data:", [_data(cp, x) for x in users_seen[:5]])
        print("devnet weight:", _spent(dn), "refused:", _refused(dn))
        # The control plane's log goes with the temporary folder: what it said first.
        errors = [line for line in cp.logs().splitlines() if '"error"' in line or "Traceback" in line]
        print("\n".join(errors[:20]) or cp.logs()[-5000:])
        raise
    finally:
        cp.stop()


def _spent(dn: DevnetProcess) -> int:
    """Weight 127.0.0.1 spent on the devnet's Hyperliquid in the last minute."""
    return int(dn.state()["hyperliquid_weight_by_ip"].get("127.0.0.1", 0))


def _refused(dn: DevnetProcess) -> int:
    """Requests from 127.0.0.1 the devnet's Hyperliquid refused with 429 since it started."""
    return int(dn.state()["hyperliquid_refused_by_ip"].get("127.0.0.1", 0))


def _measure(
    cp: ControlPlane, users: list[SignedIn], signed_in: float, opened: float, refused_setup: int
) -> list[Figure]:
    dn = cp.dn
    pids = {u.tenant_id: cp.tenant(u.tenant_id).pid for u in users}
    before = [_buckets(cp, u) for u in users]
    cpu_before = {t: _cores(p) for t, p in pids.items() if p}
    refused_before = _refused(dn)
    t0 = time.monotonic()
    weights: list[int] = []
    with httpx.Client(base_url=cp.url, timeout=30) as anonymous:
        while time.monotonic() - t0 < WINDOW - 30:
            weights.append(_spent(dn))
            time.sleep(SAMPLE)
        health = _p99_ms(anonymous, "/health")
    me = _p99_ms(users[0].client, "/api/v1/auth/me")
    while time.monotonic() - t0 < WINDOW:
        weights.append(_spent(dn))
        time.sleep(SAMPLE)
    elapsed = time.monotonic() - t0
    refused = _refused(dn) - refused_before
    data = [_data(cp, u) for u in users]
    fallback = sum(1 for d in data if d["reads"] != "gateway")
    account_ages = sorted(float(d["account_age_s"] or 0) for d in data)
    after = [_buckets(cp, u) for u in users]
    cpu = [(_cores(p) - cpu_before[t]) / elapsed for t, p in pids.items() if p and t in cpu_before]
    rss = [_rss_mb(p) for p in pids.values() if p]
    merged = [sum(a[i] - b[i] for a, b in zip(after, before, strict=True)) for i in range(len(after[0]))]
    tick_p99 = tick_percentile(merged, 99)
    budget = VENUE_WEIGHT * BUDGET_SHARE
    peak = max(weights[12:] or weights)  # after the first minute the window holds only steady ticks
    cp_p99 = max(health, me)
    load = os.getloadavg()[0]
    setup = (
        f"{len(users)} users signed in in {signed_in:.0f} s, positions opened in {opened:.0f} s "
        f"({len(OPENS_RETRIED)} opens asked again after a 503 for the budget, {len(OPEN_FAILURES)} "
        f"failed: {OPEN_FAILURES[:2]}); at the end {fallback} bots reading directly, account ages "
        f"median {account_ages[len(account_ages) // 2]:.0f} s, max {account_ages[-1]:.0f} s"
    )
    note = f"{setup}; measured over {elapsed:.0f} s; 2 cores; load average at the end {load:.1f}"
    return [
        Figure("gateway", "bots with open positions", len(users), "bots", "≥ 150", len(users) >= 150, note),
        Figure(
            "gateway",
            "Hyperliquid weight per minute of the address (peak of the sliding minute)",
            peak,
            "weight/min",
            f"≤ {budget:.0f} (80 % of {VENUE_WEIGHT})",
            peak <= budget,
            f"sampled every {SAMPLE:g} s from the devnet's count for 127.0.0.1; "
            f"mean {sum(weights) / len(weights):.0f}",
        ),
        Figure(
            "gateway",
            "rate-limit refusals (HTTP 429) while measuring",
            refused,
            "requests",
            "0",
            refused == 0,
            f"{refused_setup} during sign-ins and opens before the window",
        ),
        Figure("gateway", "tick p99", tick_p99, "ms", "≤ 250 ms", tick_p99 <= 250, f"{merged[-1]} ticks"),
        Figure(
            "gateway",
            "control-plane p99 (/health, /api/v1/auth/me)",
            cp_p99,
            "ms",
            "< 250 ms",
            cp_p99 < 250,
            f"{REQUESTS} sequential requests each: /health {health:.1f} ms, /auth/me {me:.1f} ms",
        ),
        Figure(
            "gateway", "CPU per bot", 1000 * sum(cpu) / len(cpu), "milli-cores", note=f"over {elapsed:.0f} s"
        ),
        Figure("gateway", "memory per bot (RSS)", sorted(rss)[len(rss) // 2], "MB", note="median VmRSS"),
    ]


BENCHES = [gateway_figures]
