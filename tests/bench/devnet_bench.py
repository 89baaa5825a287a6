"""Devnet figures: start-up time and venue read latency over loopback."""

from __future__ import annotations

import time

import httpx

from tests.bench.results import Figure, median, percentile
from tests.support.devnet import start_devnet

STARTS = 3
WARMUP = 200
REQUESTS = 2000


def startup_time() -> list[Figure]:
    """Process spawn → every service answering."""
    samples = []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        dn = start_devnet(speed=360)
        try:
            with httpx.Client(timeout=5) as client:
                _wait(client, dn.url("hyperliquid") + "/info", json={"type": "meta"})
                _wait(client, dn.url("solana"), json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
                _wait(client, dn.url("arbitrum"), json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
                _wait(client, dn.url("asgard") + "/markets", method="GET")
                _wait(client, dn.url("privy") + "/api/v1/apps/x/jwks.json", method="GET", any_status=True)
            samples.append(time.perf_counter() - t0)
        finally:
            dn.stop()
    return [
        Figure(
            "devnet",
            "start-up to all services answering (median of 3)",
            median(samples),
            "s",
            note=f"samples {', '.join(f'{s:.2f}' for s in samples)}",
        )
    ]


def _wait(
    client: httpx.Client, url: str, *, method: str = "POST", json: object = None, any_status: bool = False
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            r = client.request(method, url, json=json)
            if any_status or r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def _latency(client: httpx.Client, url: str, body: object) -> list[float]:
    for _ in range(WARMUP):
        client.post(url, json=body)
    samples = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        r = client.post(url, json=body)
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:200]}")
    return samples


def read_latency() -> list[Figure]:
    dn = start_devnet(speed=360)
    figures: list[Figure] = []
    try:
        user = "0x" + "11" * 20
        dn.faucet("hyperliquid", "USDC", user, "1000")
        with httpx.Client(timeout=10) as client:
            info = dn.url("hyperliquid") + "/info"
            for label, body in (
                ("allMids", {"type": "allMids"}),
                ("metaAndAssetCtxs", {"type": "metaAndAssetCtxs"}),
                ("l2Book SOL", {"type": "l2Book", "coin": "SOL"}),
                ("clearinghouseState", {"type": "clearinghouseState", "user": user}),
            ):
                s = _latency(client, info, body)
                figures.append(Figure("hyperliquid /info", f"{label} p50", percentile(s, 50), "ms"))
                figures.append(Figure("hyperliquid /info", f"{label} p99", percentile(s, 99), "ms"))
            s = _latency(
                client,
                dn.url("solana"),
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "getBalance",
                    "params": ["So11111111111111111111111111111111111111112"],
                },
            )
            figures.append(Figure("solana rpc", "getBalance p50", percentile(s, 50), "ms"))
            figures.append(Figure("solana rpc", "getBalance p99", percentile(s, 99), "ms"))
    finally:
        dn.stop()
    return figures


BENCHES = (startup_time, read_latency)
