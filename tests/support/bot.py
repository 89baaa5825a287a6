"""Run real `basis-bot` processes against a devnet: each bot has its own data folder and wallets."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.devnet import ROOT, DevnetProcess

SERVER_SECRET = "test-server-secret-for-bots"


@dataclass
class BotProcess:
    """One bot's data folder and settings; each command runs `python -m tenant_bot.main ...`."""

    dn: DevnetProcess
    data_dir: Path
    tenant_id: str = "t1"
    env_extra: dict[str, str] = field(default_factory=dict)
    solana: str = ""
    evm: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "bot.log"

    def env(self, **extra: str) -> dict[str, str]:
        dn = self.dn
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BASIS_TENANT_ID": self.tenant_id,
            "BASIS_DATA_DIR": str(self.data_dir),
            "BASIS_SERVER_SECRET": SERVER_SECRET,
            "BASIS_HYPERLIQUID_URL": dn.url("hyperliquid"),
            "BASIS_ASGARD_URL": dn.url("asgard"),
            "BASIS_ASGARD_API_KEY": "test-key",
            "BASIS_SOLANA_RPC_URL": dn.url("solana"),
            "BASIS_ARBITRUM_RPC_URL": dn.url("arbitrum"),
            "BASIS_LOG_JSON": "true",
            "BASIS_TICK_SECONDS": "0.5",
            "BASIS_HEDGE_TIMEOUT_SECONDS": "8",
            **self.env_extra,
            **extra,
        }

    def cmd(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
        return self._run("tenant_bot.main", args, timeout, env)

    def steps(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
        """`tests/support/bot_steps.py` with this bot's environment: drive one execution."""
        return self._run("tests.support.bot_steps", args, timeout, env)

    def _run(
        self, module: str, args: tuple[str, ...], timeout: float, env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with self.log_path.open("a") as f:
            name = "basis-bot" if module == "tenant_bot.main" else module
            f.write(f"\n### {name} {' '.join(args)} -> {proc.returncode}\n{proc.stderr}\n")
        return proc

    def popen(self, *args: str, module: str = "tenant_bot.main", **env: str) -> subprocess.Popen[str]:
        """`basis-bot <args>` in the background (or `module`, a stand-in that runs it)."""
        log = self.log_path.open("a")
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def init(self) -> None:
        out = self.cmd("init")
        assert out.returncode == 0, out.stderr
        addresses = json.loads(out.stdout)
        self.solana, self.evm = addresses["solana"], addresses["evm"]

    def fund(self, *, usdc_solana: str = "2000", usdc_hl: str = "2000", sol: str = "2") -> None:
        self.dn.faucet("solana", "SOL", self.solana, sol)
        self.dn.faucet("solana", "USDC", self.solana, usdc_solana)
        if float(usdc_hl) > 0:
            self.dn.faucet("hyperliquid", "USDC", self.evm, usdc_hl)

    def status(self) -> dict[str, Any]:
        out = self.cmd("status")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- what the venues say
    def hl_info(self, body: dict[str, Any]) -> Any:
        r = httpx.post(self.dn.url("hyperliquid") + "/info", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def hl_short(self) -> float:
        state = self.hl_info({"type": "clearinghouseState", "user": self.evm})
        for p in state["assetPositions"]:
            if p["position"]["coin"] == "SOL":
                return -float(p["position"]["szi"])
        return 0.0

    def hl_fills(self) -> list[dict[str, Any]]:
        return list(self.hl_info({"type": "userFills", "user": self.evm}))

    def asgard(self, path: str) -> Any:
        r = httpx.post(
            self.dn.url("asgard") + path,
            json={"walletPubkey": self.solana},
            headers={"X-API-Key": "test-key"},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def asgard_open(self) -> list[dict[str, Any]]:
        return _records(self.asgard("/positions/open"))

    def asgard_all(self) -> list[dict[str, Any]]:
        return _records(self.asgard("/positions/open")) + _records(self.asgard("/positions/closed"))


def _records(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, list):
        return answer
    for key in ("positions", "data", "items"):
        if isinstance(answer.get(key), list):
            return answer[key]
    return []


API_TOKEN = "test-api-token-0123456789"


@dataclass
class ServedBot:
    """A `basis-bot serve` process: its base URL, token and an httpx client that sends the token."""

    bot: BotProcess
    process: subprocess.Popen[str]
    url: str
    token: str = API_TOKEN

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Basis-Token": self.token}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers=self.headers, timeout=kwargs.pop("timeout", 30), **kwargs
        )

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def serve(bot: BotProcess, *, timeout: float = 60, module: str = "tenant_bot.main", **env: str) -> ServedBot:
    """Start `basis-bot serve` (through `module`, see `BotProcess.popen`) on a free loopback port and wait
    until `/health` answers."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"BASIS_API_TOKEN": API_TOKEN, "BASIS_API_PORT": str(port), **env}
    process = bot.popen(*(["serve"] if module == "tenant_bot.main" else []), module=module, **env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"basis-bot serve exited with {process.returncode}:\n{bot.logs()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return ServedBot(bot, process, url, env["BASIS_API_TOKEN"])
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"basis-bot serve did not answer /health within {timeout}s:\n{bot.logs()[-3000:]}")


@contextlib.contextmanager
def funded_bot_on_own_devnet(folder: Path, *, seed: int, usdc: str, **env: str) -> Iterator[ServedBot]:
    """A devnet of its own, and on it a bot initialised, funded (`usdc` on Solana and on Hyperliquid,
    3 SOL) and serving; both stopped afterwards."""
    from tests.support.devnet import start_devnet

    dn = start_devnet(seed=seed, speed=1.0)
    try:
        bot = BotProcess(dn, folder / "bot")
        bot.init()
        bot.fund(usdc_solana=usdc, usdc_hl=usdc, sol="3")
        served = serve(bot, **env)
        try:
            yield served
        finally:
            served.stop()
    finally:
        dn.stop()
