"""Dashboard API figures on the devnet: `/rates` and `/positions` latency with 10 open positions
(opened through the API), and the delay from a bot event to a connected event-stream client."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.bench.results import Figure, percentile
from tests.support.bot import BotProcess, serve
from tests.support.devnet import start_devnet

POSITIONS = 10
REQUESTS = 300
EVENTS = 100


def _open_positions(api: httpx.Client) -> None:
    for _ in range(POSITIONS):
        r = api.post("/api/v1/positions/open", json={"capital_usd": "600", "asset": "SOL"})
        if r.status_code != 202:
            raise RuntimeError(f"open refused: {r.status_code} {r.text}")
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while (job := api.get(f"/api/v1/jobs/{job_id}").json())["state"] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} did not finish")
            time.sleep(0.05)
        if job["state"] != "done":
            raise RuntimeError(f"open failed: {job['error']}")


def _latencies(api: httpx.Client, path: str) -> list[float]:
    for _ in range(20):
        api.get(path)
    samples = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        r = api.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code}")
    return samples


def _stream_latency(url: str, headers: dict[str, str], api: httpx.Client) -> list[float]:
    """Time from an event's write (its `at`) to its arrival at a connected client, for control events."""
    delays: list[float] = []
    connected = threading.Event()
    done = threading.Event()

    def reader() -> None:
        with (
            httpx.Client(base_url=url, headers=headers, timeout=60) as client,
            client.stream("GET", "/api/v1/events/stream") as r,
        ):
            connected.set()
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received = time.time()
                    event = json.loads(line[6:])
                    if event["kind"] in ("control.paused", "control.resumed"):
                        delays.append((received - datetime.fromisoformat(event["at"]).timestamp()) * 1000)
                        if len(delays) >= EVENTS:
                            break
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    connected.wait(10)
    time.sleep(0.3)
    for i in range(EVENTS):
        if i % 2 == 0:
            api.post("/api/v1/control/pause", json={"reason": f"bench {i}"})
        else:
            api.post("/api/v1/control/resume")
        time.sleep(0.02)
    done.wait(30)
    api.post("/api/v1/control/resume")
    if len(delays) < EVENTS:
        raise RuntimeError(f"only {len(delays)} of {EVENTS} events reached the stream")
    return delays


def api_figures() -> list[Figure]:
    dn = start_devnet(seed=5, speed=1.0)
    try:
        with tempfile.TemporaryDirectory(prefix="basis-bench-api-") as tmp:
            bot = BotProcess(dn, Path(tmp) / "bot", env_extra={"BASIS_LOG_LEVEL": "warning"})
            bot.init()
            bot.fund(usdc_solana="4500", usdc_hl="4500", sol="3")
            served = serve(bot)
            try:
                with served.client() as api:
                    _open_positions(api)
                    rates = _latencies(api, "/api/v1/rates")
                    positions = _latencies(api, "/api/v1/positions")
                    count = len(
                        [p for p in api.get("/api/v1/positions").json()["positions"] if p["status"] == "open"]
                    )
                    stream = _stream_latency(served.url, served.headers, api)
            finally:
                served.stop()
    finally:
        dn.stop()
    note = f"{count} open positions, {REQUESTS} sequential requests, keep-alive"
    return [
        Figure("api", "GET /api/v1/rates p50", percentile(rates, 50), "ms", note=note),
        Figure("api", "GET /api/v1/rates p99", percentile(rates, 99), "ms", note=note),
        Figure("api", "GET /api/v1/positions p50", percentile(positions, 50), "ms", note=note),
        Figure("api", "GET /api/v1/positions p99", percentile(positions, 99), "ms", note=note),
        Figure("api", "bot event → SSE client p50", percentile(stream, 50), "ms", note=f"{EVENTS} events"),
        Figure("api", "bot event → SSE client p99", percentile(stream, 99), "ms", note=f"{EVENTS} events"),
    ]


BENCHES = [api_figures]

if __name__ == "__main__":
    from tests.bench.results import report

    report(api_figures(), Path(tempfile.gettempdir()) / "api-bench.json")
