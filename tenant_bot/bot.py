"""The bot: its parts wired once, and the loop that ticks them.

`start` builds the `Services` (frozen, once), the `Observer` (venue data → observations → risk
inputs), the `Trader` (acts on decisions and on operators' requests), the `StatusView` (what the
API, the notifications and the CLI show) and the webhook notifier, then recovers unfinished
executions through the same engine as normal operation. One tick: observe every venue at once,
`decide` (no I/O: the risk engine's verdict, the reconciliation of venues against the journal,
exits and an automatic entry), then act. The `TickLoop` keeps the cadence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from tenant_bot.cadence import TickLoop, TickStats, Wakeup, idle_blocker, watchful
from tenant_bot.config import BotSettings
from tenant_bot.decision import Holdings, decide
from tenant_bot.notifications import NotificationConfig, Notifier
from tenant_bot.observer import Observation, Observer
from tenant_bot.risk.states import TradingState
from tenant_bot.services import Services
from tenant_bot.status import StatusView
from tenant_bot.strategy.opportunity import NetApy
from tenant_bot.trader import Trader

log = structlog.get_logger("basis.bot")


@dataclass
class TickReport:
    at: datetime
    state: TradingState
    decision_ms: float
    total_ms: float
    best: NetApy | None = None
    actions: list[str] = field(default_factory=list)


TickHook = Callable[[Observation, TickReport], None]


class Bot:
    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self.wakeup = Wakeup()
        self.stats = TickStats()
        # Called (synchronously, must not block) after every tick; the API hangs its live feed here.
        self.tick_hooks: list[TickHook] = []
        self.notifier: Notifier | None = None
        self._services: Services | None = None
        self._holdings: Holdings | None = None  # what the last tick decided with

    # ------------------------------------------------------------------ the parts
    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the bot has not started")
        return self._services

    async def start(self) -> None:
        """Build every part, attach the notifier, and recover unfinished executions."""
        s = Services.build(self.settings, self.wakeup)
        self._services = s
        self.loop = TickLoop(
            self.tick,
            self.idle_reason,
            tick_seconds=self.settings.tick_seconds,
            idle_tick_seconds=self.settings.idle_tick_seconds,
            wakeup=self.wakeup,
            events=s.events,
            stats=self.stats,
        )
        self.observer = Observer(s)
        self.trader = Trader(s, self.observer)
        self.status = StatusView(s, self.observer, self.stats)
        self.notifier = Notifier.for_bot(self.status, self._notification_config)
        self.notifier.attach(s.events)
        shadow = self.settings.shadow
        s.events.emit(
            "bot.started",
            "Bot started" + (" in shadow mode: nothing will be signed or sent" if shadow else ""),
            solana=s.wallet_signer.solana_address,
            evm=s.wallet_signer.evm_address,
            signer=self.settings.signer,
            shadow=shadow,
        )
        await self.trader.recover()

    def _notification_config(self) -> NotificationConfig | None:
        # Read at each delivery: a change of webhook or format applies to the next message.
        return NotificationConfig.from_settings(self.services.preferences.current.model_dump(mode="json"))

    async def aclose(self) -> None:
        if self._services is None:
            return
        await self.trader.tasks.settle(timeout=30)
        if self.notifier is not None:
            await self.notifier.aclose()
            self.notifier = None
        await self._services.aclose()
        self._services = None

    # ------------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event, *, max_ticks: int | None = None) -> None:
        """Tick until `stop` (or `max_ticks`), then let executions in flight reach a journaled point.
        The deposit bridge polls beside the loop, on its own cadence, until the loop ends."""
        bridge_stop = asyncio.Event()
        bridge = asyncio.create_task(
            self.services.deposits.run(bridge_stop, self.settings.deposit_poll_seconds), name="deposits"
        )
        try:
            await self.loop.run(stop, max_ticks=max_ticks)
        finally:
            bridge_stop.set()
            await bridge
        self.services.events.emit("bot.stopping", "Stopping: waiting for executions in flight")
        await self.trader.tasks.settle()

    async def tick(self) -> TickReport:
        s = self.services
        t0 = time.perf_counter()
        obs = await self.observer.observe(watchful=self.watchful())
        t1 = time.perf_counter()
        self._holdings = holdings = self.trader.holdings(obs)
        decision = decide(obs, holdings, self.trader.rules, s.risk, self.observer.lst_monitor, s.fees.model)
        t2 = time.perf_counter()
        report = TickReport(obs.at, decision.state, (t2 - t1) * 1000, 0.0, decision.best)
        report.actions = await self.trader.act(decision, obs, holdings)
        report.total_ms = (time.perf_counter() - t0) * 1000
        self.stats.record(report.total_ms / 1000)
        self.stats.last_at = obs.at
        for hook in list(self.tick_hooks):
            try:
                hook(obs, report)
            except Exception:  # the dashboard's feed must never stop trading
                log.exception("tick hook failed")
        return report

    def watchful(self) -> bool:
        """Whether this tick runs every chain liveness probe (`cadence.watchful`), from what is in
        memory: the last tick's holdings, the tasks in flight, the risk engine's last trips."""
        s, last = self.services, self._holdings
        return watchful(
            ticked=last is not None,
            executions=bool(last is not None and last.unfinished) or self.trader.tasks.in_flight,
            tripped=bool(s.risk.trips),
            state=s.risk.state,
            auto_entry=s.preferences.current.auto_entry,
        )

    def idle_reason(self) -> str | None:
        """Why the bot is not idle now (see `idle_blocker`), or None when it is."""
        s = self.services
        try:
            live = s.journal.holds_anything()
            executions = bool(s.journal.unfinished()) or self.trader.tasks.in_flight
        except Exception:  # cannot tell: keep the safe, normal cadence
            log.exception("idle check failed")
            return "the journal could not be read"
        obs = self.observer.latest
        return idle_blocker(
            live_positions=live,
            executions=executions,
            auto_entry=s.preferences.current.auto_entry,
            state=s.risk.state,
            ticked_clean=obs is not None and not obs.errors and self.stats.failed_in_a_row == 0,
            viewers=self.stats.viewers,
        )
