"""Proxy overhead, in one run: latency p50/p99 and requests/s at concurrency 10 through the bot proxy
and straight to the same bot (`GET /health`, `GET /api/v1/status`), and the delay from a bot event
to clients of event streams held open through the proxy (1 stream, then 500 at once).

The proxy runs as its own process on `basis serve`'s public listener (uvicorn's httptools protocol
with the read deadlines, size limits and connection cap of `orchestrator/listeners.py`, default
settings); the load comes from raw asyncio keep-alive connections, so the client's own cost stays
small and equal on both sides.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import SecretStr
from starlette.requests import Request

from orchestrator.config import ControlPlaneSettings
from orchestrator.listeners import Listener, ListenerConfig, bind, listener_limits, raise_descriptor_limit
from orchestrator.proxy import BotProxy, Upstream
from tests.bench.results import Figure, percentile
from tests.support.bot import BotProcess, serve
from tests.support.devnet import ROOT, start_devnet

CONCURRENCY = 10
REQUESTS = 4000
WARMUP = 300
ROUNDS = 4
EVENTS = 60
STREAMS = 500


def proxy_app() -> BotProxy:
    """The proxy the bench runs: one user, resolved from the session cookie. Its STREAMS streams
    stand in for as many users' (so the per-user stream cap is lifted to them)."""
    upstream = Upstream(os.environ["BENCH_UPSTREAM"], SecretStr(os.environ["BENCH_TOKEN"]), "bench")
    users = {"bench": upstream}

    async def resolve(request: Request) -> Upstream | None:
        return users.get(request.cookies.get("basis_session", ""))

    return BotProxy(resolve, max_streams_per_user=STREAMS)


def serve_proxy(port: int) -> None:
    """`proxy_app` on the public listener as `basis serve` runs it (its default limits; all the
    bench's clients come from 127.0.0.1, standing in for many networks: no per-network cap)."""
    settings = ControlPlaneSettings(_env_file=None, max_connections_per_network=0)  # type: ignore[call-arg]
    public, _ = listener_limits(settings, raise_descriptor_limit())
    server = Listener(ListenerConfig(proxy_app(), public, lifespan="on"))
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(server.serve([bind("127.0.0.1", port)]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_proxy(upstream: str, token: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, "BENCH_UPSTREAM": upstream, "BENCH_TOKEN": token}
    cmd = [sys.executable, "-m", "tests.bench.proxy_bench", "serve", str(port)]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", cookies={"basis_session": "bench"}).is_success:
                return process, port
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the proxy did not start")


def _start_chp(upstream: str) -> tuple[subprocess.Popen[bytes], int] | None:
    """configurable-http-proxy (JupyterHub's) in front of the same bot, when it is installed:
    on PATH or named by BASIS_CHP (`npm install --prefix DIR configurable-http-proxy`)."""
    binary = os.environ.get("BASIS_CHP") or shutil.which("configurable-http-proxy")
    if not binary:
        return None
    port, api_port = _free_port(), _free_port()
    cmd = [binary, "--ip", "127.0.0.1", "--port", str(port), "--api-ip", "127.0.0.1"]
    cmd += ["--api-port", str(api_port), "--default-target", upstream, "--log-level", "warn"]
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": "bench"}
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").is_success:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    return None


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _load(port: int, request: bytes, count: int = REQUESTS) -> tuple[list[float], float]:
    """Latencies (ms) of `count` requests over CONCURRENCY keep-alive connections, and the seconds taken."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONCURRENCY)]
    samples: list[float] = []
    remaining = WARMUP

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            status = await _exchange(reader, writer, request)
            if status != 200:
                raise RuntimeError(f"answer {status}")
            if record:
                samples.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(worker(r, w, False) for r, w in conns))
    remaining = count
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(r, w, True) for r, w in conns))
    elapsed = time.perf_counter() - t0
    for _, w in conns:
        w.close()
    return samples, elapsed


async def _interleaved(targets: dict[str, tuple[int, bytes]]) -> dict[str, tuple[list[float], float]]:
    """Latencies and requests/s per target, measured in alternating rounds: a shared machine's load
    drifts during a run, and alternating spreads the drift evenly over the targets compared."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    seconds = dict.fromkeys(targets, 0.0)
    for _ in range(ROUNDS):
        for name, (port, request) in targets.items():
            got, elapsed = await _load(port, request, REQUESTS // ROUNDS)
            samples[name] += got
            seconds[name] += elapsed
    return {name: (samples[name], len(samples[name]) / seconds[name]) for name in targets}


def _request(path: str, port: int, extra: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()


async def _streams(port: int, auth: str, count: int, trigger: httpx.AsyncClient) -> list[float]:
    """Hold `count` event streams open on `port`; the delays (ms) of EVENTS control events."""
    path = "/api/v1/events/stream"
    delays: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    async def reader_task() -> None:
        nonlocal ready
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request(path, port, f"{auth}Accept: text/event-stream\r\n"))
        await reader.readuntil(b"\r\n\r\n")
        ready += 1
        if ready == count:
            all_ready.set()
        seen = 0
        try:
            while seen < EVENTS:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"data: "):
                    received = time.time()
                    event = json.loads(line[6:])
                    if event["kind"] in ("control.paused", "control.resumed"):
                        delays.append((received - datetime.fromisoformat(event["at"]).timestamp()) * 1000)
                        seen += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(reader_task()) for _ in range(count)]
    await asyncio.wait_for(all_ready.wait(), 60)
    await asyncio.sleep(0.5)
    for i in range(EVENTS):
        path = "/api/v1/control/pause" if i % 2 == 0 else "/api/v1/control/resume"
        r = await trigger.post(path, json={"reason": "proxy bench"})
        r.raise_for_status()
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    await trigger.post("/api/v1/control/resume")
    if len(delays) < EVENTS * count:
        raise RuntimeError(f"only {len(delays)} of {EVENTS * count} events reached the streams")
    return delays


async def _measure(bot_port: int, proxy_port: int, chp_port: int | None, token: str) -> list[Figure]:
    figures: list[Figure] = []
    note = f"concurrency {CONCURRENCY}, {REQUESTS} requests each, keep-alive, {ROUNDS} alternating rounds"
    for path in ("/health", "/api/v1/status"):
        token_header = f"X-Basis-Token: {token}\r\n"
        targets = {
            "direct": (bot_port, _request(path, bot_port, token_header)),
            "proxied": (proxy_port, _request(path, proxy_port, "Cookie: basis_session=bench\r\n")),
        }
        if chp_port is not None:
            targets["chp"] = (chp_port, _request(path, chp_port, token_header))
        results = await _interleaved(targets)
        (direct, direct_rps), (proxied, proxied_rps) = results["direct"], results["proxied"]
        figures += [
            Figure("proxy", f"GET {path} direct p50", percentile(direct, 50), "ms", note=note),
            Figure("proxy", f"GET {path} direct p99", percentile(direct, 99), "ms", note=note),
            Figure("proxy", f"GET {path} direct", direct_rps, "req/s", note=note),
            Figure("proxy", f"GET {path} proxied p50", percentile(proxied, 50), "ms", note=note),
            Figure("proxy", f"GET {path} proxied p99", percentile(proxied, 99), "ms", note=note),
            Figure("proxy", f"GET {path} proxied", proxied_rps, "req/s", note=note),
        ]
        overhead = percentile(proxied, 50) - percentile(direct, 50)
        figures.append(
            Figure(
                "proxy",
                f"GET {path} overhead p50",
                overhead,
                "ms",
                target="≤ 2 ms",
                met=overhead <= 2,
                note=note,
            )
        )
        figures.append(
            Figure("proxy", f"GET {path} proxied/direct throughput", proxied_rps / direct_rps, "×", note=note)
        )
        if chp_port is not None:
            chp, chp_rps = results["chp"]
            ratio = proxied_rps / chp_rps
            figures += [
                Figure(
                    "proxy",
                    f"GET {path} via configurable-http-proxy p50",
                    percentile(chp, 50),
                    "ms",
                    note=note,
                ),
                Figure("proxy", f"GET {path} via configurable-http-proxy", chp_rps, "req/s", note=note),
                Figure(
                    "proxy",
                    f"GET {path} proxy/configurable-http-proxy throughput",
                    ratio,
                    "×",
                    target="≥ 1.0×",
                    met=ratio >= 1.0,
                    note=note,
                ),
            ]
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{bot_port}", headers={"X-Basis-Token": token}, timeout=30
    ) as trigger:
        cookie = "Cookie: basis_session=bench\r\n"
        one = await _streams(proxy_port, cookie, 1, trigger)
        many = await _streams(proxy_port, cookie, STREAMS, trigger)
        many_direct = await _streams(bot_port, f"X-Basis-Token: {token}\r\n", STREAMS, trigger)
    figures += [
        Figure(
            "proxy",
            "bot event → SSE client via proxy p50",
            percentile(one, 50),
            "ms",
            note=f"{EVENTS} events",
        ),
        Figure(
            "proxy",
            "bot event → SSE client via proxy p99",
            percentile(one, 99),
            "ms",
            note=f"{EVENTS} events",
        ),
    ]
    p99 = percentile(many, 99)
    figures.append(
        Figure(
            "proxy",
            f"{STREAMS} streams via proxy, event latency p99",
            p99,
            "ms",
            target="≤ 100 ms",
            met=p99 <= 100,
            note=f"{EVENTS} events × {STREAMS} streams",
        )
    )
    figures.append(
        Figure(
            "proxy",
            f"{STREAMS} streams direct, event latency p99",
            percentile(many_direct, 99),
            "ms",
            note="the same streams straight to the bot, for comparison",
        )
    )
    return figures


def proxy_figures() -> list[Figure]:
    dn = start_devnet(seed=11, speed=1.0)
    try:
        with tempfile.TemporaryDirectory(prefix="basis-bench-proxy-") as tmp:
            bot = BotProcess(dn, Path(tmp) / "bot", env_extra={"BASIS_LOG_LEVEL": "warning"})
            bot.init()
            served = serve(bot)
            proxy, proxy_port = _start_proxy(served.url, served.token)
            chp = _start_chp(served.url)
            try:
                bot_port = int(served.url.rsplit(":", 1)[1])
                return asyncio.run(_measure(bot_port, proxy_port, chp[1] if chp else None, served.token))
            finally:
                for process in (proxy, chp[0] if chp else None):
                    if process is not None:
                        process.terminate()
                        process.wait(10)
                served.stop()
    finally:
        dn.stop()


BENCHES = [proxy_figures]

if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        import logging

        logging.basicConfig(level=logging.WARNING)
        serve_proxy(int(sys.argv[2]))
    else:
        from tests.bench.results import report

        report(proxy_figures(), Path(tempfile.gettempdir()) / "proxy-bench.json")
