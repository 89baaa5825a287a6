"""What the routes work with, and the dependencies that hand it to them.

`ApiContext` holds the running bot's parts the API uses (the trader to act, the status view to
read, the preferences, the event log) and the API's own (jobs, valuation, live feed, metrics,
event streams). The routes never import the app: each takes what it needs through one of the
dependencies below, which read the context the app was created with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from tenant_bot.api.backtests import Backtests
from tenant_bot.api.candles import CandleCache
from tenant_bot.api.jobs import JobManager
from tenant_bot.api.live import LiveFeed
from tenant_bot.api.metrics import Metrics
from tenant_bot.api.sse import EventHub
from tenant_bot.api.valuation import Valuer
from tenant_bot.bot import Bot
from tenant_bot.cadence import TickLoop
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.execution.withdrawals import WithdrawalDesk
from tenant_bot.observer import Observer
from tenant_bot.preferences import Preferences
from tenant_bot.services import Services
from tenant_bot.status import StatusView
from tenant_bot.storage.events import EventLog
from tenant_bot.trader import Trader

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


@dataclass
class ApiContext:
    bot: Bot  # started
    token: bytes
    heartbeat_seconds: float
    web_dir: Path = WEB_DIR
    jobs: JobManager = field(init=False)
    valuer: Valuer = field(init=False)
    live: LiveFeed = field(init=False)
    metrics: Metrics = field(init=False)
    hub: EventHub = field(init=False)
    backtests: Backtests = field(init=False)
    candles: CandleCache = field(init=False)

    def __post_init__(self) -> None:
        s = self.services
        self.jobs = JobManager(self.trader, s.journal, s.events)
        self.valuer = Valuer(s, self.observer)
        self.live = LiveFeed(self.bot.tick_hooks, self.valuer, s.events, s.preferences, s.db)
        self.metrics = Metrics(self.status, s.events)
        self.backtests = Backtests()
        self.candles = CandleCache(s.hl, HEDGE_COIN)
        self.hub = EventHub(
            s.events, self.heartbeat_seconds, on_join=self._viewer_joined, on_leave=self.loop.viewer_left
        )

    @property
    def services(self) -> Services:
        return self.bot.services

    @property
    def trader(self) -> Trader:
        return self.bot.trader

    @property
    def status(self) -> StatusView:
        return self.bot.status

    @property
    def observer(self) -> Observer:
        return self.bot.observer

    @property
    def loop(self) -> TickLoop:
        return self.bot.loop

    def _viewer_joined(self) -> None:
        # The viewer's page may hold rates from a minute ago (idle cadence): tick now and tell it.
        self.live.refresh()
        self.loop.viewer_joined()

    def start(self) -> None:
        """Hook into the running bot: events counted, the live feed after each tick, jobs followed."""
        self.metrics.attach()
        self.live.attach()
        self.jobs.resume()

    async def aclose(self) -> None:
        self.hub.close()
        await self.live.aclose()
        await self.jobs.aclose()
        self.backtests.close()
        self.metrics.detach()


def context(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


# One small typed dependency per service, the shape orchestrator/context.py uses too (deliberately
# alike: the two processes share no code but shared/, and FastAPI wants one function per type).
def _trader(c: ApiContext = Depends(context)) -> Trader:
    return c.trader


def _status(c: ApiContext = Depends(context)) -> StatusView:
    return c.status


def _observer(c: ApiContext = Depends(context)) -> Observer:
    return c.observer


def _preferences(c: ApiContext = Depends(context)) -> Preferences:
    return c.services.preferences


def _events(c: ApiContext = Depends(context)) -> EventLog:
    return c.services.events


def _jobs(c: ApiContext = Depends(context)) -> JobManager:
    return c.jobs


def _withdrawals(c: ApiContext = Depends(context)) -> WithdrawalDesk:
    return c.services.withdrawals


def _valuer(c: ApiContext = Depends(context)) -> Valuer:
    return c.valuer


def _public_webhooks_only(c: ApiContext = Depends(context)) -> bool:
    # Webhooks may reach loopback and private addresses on the devnet only.
    return c.services.settings.network != "devnet"


Context = Annotated[ApiContext, Depends(context)]
TraderDep = Annotated[Trader, Depends(_trader)]
StatusDep = Annotated[StatusView, Depends(_status)]
ObserverDep = Annotated[Observer, Depends(_observer)]
PreferencesDep = Annotated[Preferences, Depends(_preferences)]
EventsDep = Annotated[EventLog, Depends(_events)]
JobsDep = Annotated[JobManager, Depends(_jobs)]
ValuerDep = Annotated[Valuer, Depends(_valuer)]
WithdrawalsDep = Annotated[WithdrawalDesk, Depends(_withdrawals)]
PublicWebhooksDep = Annotated[bool, Depends(_public_webhooks_only)]
