"""The live feed: after each tick, `rates.tick` and `pnl.tick` events and the chart samples.

Hung on the bot's tick hooks; its work runs as a task of its own so a tick never waits for it.
Rate and PnL events are sent only when a figure changed, and at most once per `EVENT_SECONDS`;
samples (table `samples`) are written at most once per `SAMPLE_SECONDS` per series.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.api.valuation import Valuer
from tenant_bot.bot import TickHook, TickReport
from tenant_bot.execution.states import PositionStatus
from tenant_bot.observer import Observation
from tenant_bot.preferences import Preferences
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Sample

log = structlog.get_logger("basis.api.live")

EVENT_SECONDS = 5.0
SAMPLE_SECONDS = 60.0
SERIES = ("funding", "apy", "pnl")
# Samples older than the longest chart (720 h) are dropped.
KEEP = timedelta(hours=720)


class LiveFeed:
    def __init__(
        self,
        hooks: list[TickHook],
        valuer: Valuer,
        events: EventLog,
        preferences: Preferences,
        db: sessionmaker[Session],
    ) -> None:
        self.hooks = hooks
        self.valuer = valuer
        self.events = events
        self.preferences = preferences
        self.db = db
        self._task: asyncio.Task[None] | None = None
        self._last_rates: tuple[Any, ...] | None = None
        self._last_rates_at = 0.0
        self._last_pnl: str | None = None
        self._last_pnl_at = 0.0
        self._last_sample: dict[str, float] = {}

    def attach(self) -> None:
        self.hooks.append(self.on_tick)

    def detach(self) -> None:
        if self.on_tick in self.hooks:
            self.hooks.remove(self.on_tick)

    def refresh(self) -> None:
        """Send `rates.tick` after the next tick even if unchanged (still at most every EVENT_SECONDS)."""
        self._last_rates = None

    def on_tick(self, obs: Observation, report: TickReport) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._update(obs, report), name="live-feed")

    async def aclose(self) -> None:
        self.detach()
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=5)

    async def _update(self, obs: Observation, report: TickReport) -> None:
        try:
            await self._rates(obs, report)
            await self._pnl(obs)
        except Exception:  # the feed is a view: a failure here must not disturb the bot
            log.exception("live feed update failed")

    async def _rates(self, obs: Observation, report: TickReport) -> None:
        snap = obs.snapshot
        if snap is None:
            return
        funding_apr = snap.funding.apr
        best = report.best.net_apy if report.best is not None else None
        leverage = self.preferences.current.leverage
        now = time.monotonic()
        key = (best, funding_apr, leverage)
        if key != self._last_rates and now - self._last_rates_at >= EVENT_SECONDS:
            self._last_rates, self._last_rates_at = key, now
            self.events.emit(
                "rates.tick",
                f"Best net APY {best:.2%} at {leverage}x" if best is not None else "No usable market",
                best_net_apy=best,
                funding_apr=funding_apr,
                leverage=leverage,
            )
        self._sample("funding", funding_apr)
        if best is not None:
            self._sample("apy", best)

    async def _pnl(self, obs: Observation) -> None:
        open_positions = self.valuer.journal.positions(PositionStatus.OPEN)
        if open_positions:
            await self.valuer.refresh()
        open_total = self.valuer.open_total() if open_positions else Decimal(0)
        total = open_total + self.valuer.realised_total()
        now = time.monotonic()
        if open_positions and str(open_total) != self._last_pnl and now - self._last_pnl_at >= EVENT_SECONDS:
            self._last_pnl, self._last_pnl_at = str(open_total), now
            self.events.emit(
                "pnl.tick",
                f"Open positions PnL {open_total:.2f} USDC",
                total=open_total,
                positions=len(open_positions),
            )
        self._sample("pnl", total)

    def _sample(self, series: str, value: Decimal) -> None:
        now = time.monotonic()
        if now - self._last_sample.get(series, -SAMPLE_SECONDS) < SAMPLE_SECONDS:
            return
        self._last_sample[series] = now
        at = datetime.now(UTC)
        with self.db() as s:
            s.add(Sample(series=series, at=at, value=value))
            if series == "funding":  # trim now and then: one delete per minute is nothing
                s.execute(delete(Sample).where(Sample.at < at - KEEP))
            s.commit()


def history(db: sessionmaker[Session], series: str, hours: int) -> list[dict[str, str]]:
    since = datetime.now(UTC) - timedelta(hours=hours)
    with db() as s:
        q = select(Sample).where(Sample.series == series, Sample.at >= since).order_by(Sample.at)
        return [{"at": p.at.isoformat(), "value": str(p.value)} for p in s.scalars(q)]
