"""Composition and running of the devnet: one process, one event loop, one HTTP server per service.

Every emulator shares one simulated clock, one market simulator and one fault book. Services are
built in dependency order; `only=` starts a subset (Asgard brings Solana with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import uvicorn

from devnet.clock import SimClock
from devnet.config import PORT_ORDER, VENUES, DevnetConfig
from devnet.faults import FaultBook, FaultMiddleware
from devnet.mailbox import Mailbox
from devnet.market import MarketSimulator
from devnet.replay import Replay
from shared.logging import get_logger

log = get_logger("devnet")

# service → services it needs
DEPENDS = {"asgard": ("solana",), "hyperliquid": (), "privy": (), "solana": (), "arbitrum": ()}
TICK_S = 0.1


def resolve_services(only: Iterable[str] | None) -> tuple[str, ...]:
    if not only:
        return VENUES
    wanted: set[str] = set()
    for name in only:
        name = name.strip()
        if name not in DEPENDS:
            raise ValueError(f"unknown service {name!r}; choose from {', '.join(VENUES)}")
        wanted.add(name)
        wanted.update(DEPENDS[name])
    return tuple(v for v in VENUES if v in wanted)


class Devnet:
    """Every piece of the devnet, in one object the admin API and the tests can reach."""

    def __init__(self, config: DevnetConfig, only: Iterable[str] | None = None) -> None:
        self.config = config
        self.services = resolve_services(only)
        self.started_real = time.time()
        # Loading the record first: a folder that cannot be read is a ValueError before anything starts.
        # Its first hour is replayed at the current hour of the wall clock (devnet/replay.py).
        self.replay = (
            Replay.load(config.history, config.history_from, config.history_to) if config.history else None
        )
        self.clock = SimClock(config.speed, self.replay.start_ms if self.replay else None)
        self.market = MarketSimulator(config.seed, self.clock, config.sol_price, self.replay)
        self.faults = FaultBook(config.seed, self.clock)
        self.mailbox = Mailbox()
        self.solana: Any = None
        self.stake_pools: Any = None
        self.arbitrum: Any = None
        self.hyperliquid: Any = None
        self.asgard: Any = None
        self.privy: Any = None
        self._apps: dict[str, Any] = {}
        # The speed to come back to once a flash crash stops falling (`DevnetConfig.crash_speed`).
        self._speed_after_crash: float | None = None
        self._build()

    # ------------------------------------------------------------------ wiring
    def _build(self) -> None:
        cfg = self.config
        if "solana" in self.services:
            from devnet.solana import rpc as solana_rpc
            from devnet.solana.chain import SolanaChain
            from devnet.solana.stake_pools import StakePools

            self.solana = SolanaChain(cfg.seed, cfg.slot_ms)
            self.stake_pools = StakePools(self.solana, self.market)
            self.solana.drop_hook = lambda: self.faults.should_drop("solana")
            self._apps["solana"] = FaultMiddleware(
                solana_rpc.create_app(self.solana), self.faults, "solana", "jsonrpc"
            )
        if "arbitrum" in self.services:
            from devnet import arbitrum

            self.arbitrum = arbitrum.ArbitrumChain(cfg, self.faults)
            self._apps["arbitrum"] = FaultMiddleware(
                arbitrum.create_app(self.arbitrum), self.faults, "arbitrum", "jsonrpc"
            )
        if "hyperliquid" in self.services:
            from devnet import hyperliquid

            self.hyperliquid = hyperliquid.HyperliquidExchange(cfg, self.clock, self.market, self.faults)
            self._apps["hyperliquid"] = FaultMiddleware(
                hyperliquid.create_app(self.hyperliquid), self.faults, "hyperliquid"
            )
        if "asgard" in self.services:
            from devnet import asgard

            self.asgard = asgard.AsgardVenue(cfg, self.clock, self.market, self.solana, self.faults)
            self._apps["asgard"] = FaultMiddleware(asgard.create_app(self.asgard), self.faults, "asgard")
        if "privy" in self.services:
            from devnet import privy

            self.privy = privy.PrivyService(cfg, self.clock, self.mailbox)
            self._apps["privy"] = FaultMiddleware(privy.create_app(self.privy), self.faults, "privy")

        # Bridges between chains and venues.
        if self.arbitrum is not None and self.hyperliquid is not None:
            self.arbitrum.bridge_handler = self._bridge_deposit
            self.hyperliquid.withdraw_handler = self._bridge_withdrawal

        from devnet import admin

        self._apps["admin"] = admin.create_app(self)

    def _bridge_deposit(self, sender: str, raw_usdc: int) -> None:
        """USDC reached the Hyperliquid bridge on Arbitrum: credit the sender after the bridge delay."""
        amount = Decimal(raw_usdc).scaleb(-6)

        def credit() -> None:
            self.hyperliquid.credit_usdc(sender, amount, reason="deposit")
            log.info("bridge deposit credited", user=sender, usdc=str(amount))

        try:
            asyncio.get_running_loop().call_later(self.config.bridge_delay_s, credit)
        except RuntimeError:  # no loop (direct use in a test): credit at once
            credit()

    def _bridge_withdrawal(self, destination: str, amount: Decimal) -> None:
        """A Hyperliquid withdraw3 pays out native USDC on Arbitrum (fee already taken)."""
        raw = int(amount.scaleb(6))
        if self.arbitrum is not None and raw > 0:
            self.arbitrum.credit_usdc(destination, raw)

    # ------------------------------------------------------------------ control
    def set_scenario(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = dict(params or {})
        if name == "venue_outage":
            venue = str(params.get("venue", "hyperliquid"))
            if venue not in VENUES:
                raise ValueError(f"unknown venue {venue!r}; choose one of {', '.join(VENUES)}")
            minutes = params.get("minutes", 60)
            minutes = None if minutes is None else float(minutes)
            if minutes is not None and minutes <= 0:
                raise ValueError("minutes must be positive")
            params.update(venue=venue, minutes=minutes)
            self.faults.start_outage(venue, minutes)
        elif name == "calm":
            self.faults.end_outage()
        scenario = self.market.set_scenario(name, params)
        if self.market.crash_falling and self.clock.speed > self.config.crash_speed:
            self._speed_after_crash = self._speed_after_crash or self.clock.speed
            self.clock.set_speed(self.config.crash_speed)
        elif not self.market.crash_falling:
            self._restore_speed()
        log.info("scenario", name=name, params=params)
        return {"name": scenario.name, "params": scenario.params, "started_ms": scenario.started_ms}

    def set_speed(self, speed: float) -> None:
        """The clock's speed from now on, as asked: a crash under way no longer changes it back."""
        self._speed_after_crash = None
        self.clock.set_speed(speed)

    def _restore_speed(self) -> None:
        if self._speed_after_crash is not None:
            self.clock.set_speed(self._speed_after_crash)
            log.info("flash crash over: the clock's speed is back", speed=self._speed_after_crash)
            self._speed_after_crash = None

    def tick(self) -> None:
        """Move simulated markets to now and keep chain liveness in step with outages."""
        self.market.advance()
        if not self.market.crash_falling:
            self._restore_speed()
        if self.solana is not None:
            self.solana.halt(self.faults.is_down("solana"))

    def urls(self) -> dict[str, str]:
        out = {"admin": self.config.url("admin")}
        for name in self.services:
            url = self.config.url(name)
            out[name] = f"{url}/margin-trading" if name == "asgard" else url
        return out

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seed": self.config.seed,
            "services": list(self.services),
            "urls": self.urls(),
            "uptime_s": round(time.time() - self.started_real, 3),
            "clock": {
                "sim_ms": self.clock.now_ms(),
                "real_ms": self.clock.real_ms(),
                "speed": self.clock.speed,
                # The speed that comes back when a flash crash stops falling, while one falls.
                "speed_after_crash": self._speed_after_crash,
            },
            "market": self.market.snapshot(),
            **self.faults.snapshot(),
        }
        if self.solana is not None:
            bh, last_valid = self.solana.latest_blockhash()
            out["solana"] = {
                "slot": self.solana.slot,
                "block_height": self.solana.block_height,
                "latest_blockhash": str(bh),
                "last_valid_block_height": last_valid,
                "halted": self.solana.halted,
            }
        for name in ("arbitrum", "hyperliquid", "asgard", "privy"):
            component = getattr(self, name)
            if component is not None:
                out[name] = component.snapshot()
        if self.hyperliquid is not None:
            # REST weight each client IP spent on Hyperliquid in the last minute (hyperliquid/limits.py).
            out["hyperliquid_weight_by_ip"] = self.hyperliquid.ip_weights.by_ip()
            out["hyperliquid_refused_by_ip"] = self.hyperliquid.ip_weights.refused_by_ip()
        return out

    # ------------------------------------------------------------------ running
    def apps(self) -> dict[str, Any]:
        return dict(self._apps)

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        servers = []
        for name in PORT_ORDER:
            if name not in self._apps:
                continue
            config = uvicorn.Config(
                self._apps[name],
                host=self.config.host,
                port=getattr(self.config.ports, name),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
            servers.append(_QuietServer(config))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available off the main thread or on some platforms; Ctrl-C still stops uvicorn.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

        tasks = [asyncio.create_task(s.serve()) for s in servers]
        ticker = asyncio.create_task(self._ticker())
        try:
            while not all(s.started for s in servers):
                if any(t.done() for t in tasks):
                    for t in tasks:
                        if t.done() and t.exception():
                            raise t.exception()  # type: ignore[misc]
                    raise RuntimeError("a devnet server stopped during start-up (is a port in use?)")
                await asyncio.sleep(0.01)
            if ready is not None:
                ready.set()
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception():
                    raise t.exception()  # type: ignore[misc]
        finally:
            for s in servers:
                s.should_exit = True
            ticker.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)

    async def _ticker(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a bug in one emulator must not stop the clock for the others
                log.exception("devnet tick failed")
            await asyncio.sleep(TICK_S)


class _QuietServer(uvicorn.Server):
    """uvicorn server that leaves signal handling to the devnet (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        return
