"""Start real devnet processes for tests: `python -m devnet up` on a free block of loopback ports."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devnet.config import PORT_ORDER, Ports

ROOT = Path(__file__).resolve().parents[2]
# Hyperliquid's REST weight per client IP per minute in the devnets tests start. The venue's is 1,200
# (the devnet's default), but test bots tick every 0.5 s (tests/support/bot.py), about 60 weight a
# tick: one bot alone spends ~7,000 a minute, and every test shares 127.0.0.1. Tests that are not
# about the limit get this much; the tests of the limit pass the venue's 1,200.
TEST_HYPERLIQUID_WEIGHT = 1_000_000
VENUE_HYPERLIQUID_WEIGHT = 1200


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port free now (the kernel's pick): never a default another run may hold."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(size: int = len(PORT_ORDER)) -> int:
    """A base port B such that B .. B+size-1 are all free on loopback."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - size)
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no free block of loopback ports")


@dataclass
class DevnetProcess:
    base_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: Ports = field(init=False)

    def __post_init__(self) -> None:
        self.ports = Ports.from_base(self.base_port)

    def url(self, service: str) -> str:
        base = f"http://127.0.0.1:{getattr(self.ports, service)}"
        return f"{base}/margin-trading" if service == "asgard" else base

    @property
    def admin_url(self) -> str:
        return self.url("admin")

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.admin_url + path, timeout=30, **kwargs)

    def state(self) -> dict[str, Any]:
        r = self.admin("GET", "/state")
        r.raise_for_status()
        return r.json()

    def faucet(self, chain: str, asset: str, address: str, amount: str) -> dict[str, Any]:
        r = self.admin(
            "POST", "/faucet", json={"chain": chain, "asset": asset, "address": address, "amount": amount}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def advance(self, *, hours: float = 0, seconds: float = 0, slots: int = 0) -> dict[str, Any]:
        r = self.admin("POST", "/clock/advance", json={"hours": hours, "seconds": seconds, "slots": slots})
        assert r.status_code == 200, r.text
        return r.json()

    def scenario(self, name: str, **params: Any) -> dict[str, Any]:
        r = self.admin("POST", "/scenario", json={"name": name, "params": params})
        assert r.status_code == 200, r.text
        return r.json()

    def faults(self, venue: str, **settings: Any) -> dict[str, Any]:
        r = self.admin("POST", "/faults", json={"venue": venue, **settings})
        assert r.status_code == 200, r.text
        return r.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class PortTaken(RuntimeError):
    """Another process took one of the ports between choosing the block and binding it."""


TEST_PAGE_ORIGINS = "http://127.0.0.1:*"


def start_devnet(
    *,
    seed: int = 7,
    speed: float = 1.0,
    scenario: str = "calm",
    only: list[str] | None = None,
    extra: list[str] | None = None,
    timeout: float = 60.0,
    hyperliquid_weight: int = TEST_HYPERLIQUID_WEIGHT,
    hyperliquid_network: str = "testnet",
    base_port: int | None = None,
) -> DevnetProcess:
    """`hyperliquid_network` "mainnet": the Hyperliquid emulator verifies signatures as mainnet.
    `base_port`: on these ports (a devnet restarted where its clients know it), else a free block."""
    # A free block can be taken by another process before the devnet binds it: pick another.
    for attempt in range(5):
        try:
            more = [*(extra or []), "--hyperliquid-network", hyperliquid_network]
            return _start_devnet(seed, speed, scenario, only, more, timeout, hyperliquid_weight, base_port)
        except PortTaken:
            if attempt == 4 or base_port is not None:
                raise
    raise AssertionError("unreachable")


def _start_devnet(
    seed: int,
    speed: float,
    scenario: str,
    only: list[str] | None,
    extra: list[str] | None,
    timeout: float,
    hyperliquid_weight: int,
    base_port: int | None = None,
) -> DevnetProcess:
    base = base_port if base_port is not None else free_port_block()
    log_file = tempfile.NamedTemporaryFile(prefix="devnet-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [
        sys.executable,
        "-m",
        "devnet",
        "up",
        "--base-port",
        str(base),
        "--seed",
        str(seed),
        "--speed",
        str(speed),
        "--scenario",
        scenario,
        "--hyperliquid-weight-per-minute",
        str(hyperliquid_weight),
        # Control planes under test take random loopback ports: their pages' origins are all allowed
        # on Privy's client API; other origins are refused (devnet/privy/origins.py).
        "--privy-allowed-origin",
        TEST_PAGE_ORIGINS,
    ]
    if only:
        cmd += ["--only", ",".join(only)]
    cmd += extra or []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    dn = DevnetProcess(base, proc, Path(log_file.name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "address already in use" in dn.log():
                raise PortTaken(dn.log())
            raise RuntimeError(f"devnet exited with {proc.returncode}:\n{dn.log()}")
        try:
            if httpx.get(dn.admin_url + "/health", timeout=1).status_code == 200:
                return dn
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    dn.stop()
    raise RuntimeError(f"devnet did not answer within {timeout}s:\n{dn.log()}")
