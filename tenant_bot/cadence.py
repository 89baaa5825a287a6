"""When the bot ticks: every `tick_seconds`, or every `idle_tick_seconds` while nothing needs it.

`TickLoop` runs a tick function on that cadence until stopped. Idle means: no position that may
hold anything, no execution in flight, auto-entry off, trading active, the last tick clean, and
nobody watching the live feed (`idle_blocker` says which of these holds the normal cadence).
Whatever may end idleness (a viewer, an open or close, a pause or resume, a halt, a settings
change) calls `Wakeup.set()`, so an idle wait ends at once rather than after minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from tenant_bot.risk.states import TradingState

log = structlog.get_logger("basis.bot")


def idle_blocker(
    *,
    live_positions: bool,
    executions: bool,
    auto_entry: bool,
    state: TradingState,
    ticked_clean: bool,
    viewers: int,
) -> str | None:
    """Why the bot must keep its normal cadence, or None when it may tick at the idle cadence.

    `ticked_clean`: the last tick happened, raised nothing and saw no venue error.
    """
    if live_positions:
        return "a position is not closed"
    if executions:
        return "an execution is in flight or being recovered"
    if auto_entry:
        return "auto-entry is on"
    if state != TradingState.ACTIVE:
        return f"trading state is {state.value}"
    if not ticked_clean:
        return "the last tick failed or saw a venue error"
    if viewers > 0:
        return "someone is watching the live feed"
    return None


def watchful(*, ticked: bool, executions: bool, tripped: bool, state: TradingState, auto_entry: bool) -> bool:
    """Whether a tick runs every chain liveness probe rather than each on its own cadence (the bot's
    `liveness_probe_seconds`): before the first tick (`ticked` False), while an execution is in
    flight or unfinished, while a breaker is tripped (a position at risk, an outage, data too old)
    or trading is not active, and while auto-entry is on (an entry may be decided on the tick's view
    of the chains). Otherwise nothing a late outage call could change is about to happen: the open
    positions are healthy and their breakers read the venues every tick; an outage only pauses
    entries, and a manual open observes again with every probe."""
    if not ticked or executions or tripped or state is not TradingState.ACTIVE:
        return True
    return auto_entry


class Wakeup:
    """Set by anything that may end idleness; the idle wait returns as soon as it is set."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self) -> None:
        await self._event.wait()


# Upper bounds (seconds) of the tick-duration histogram's buckets: fine around the 250 ms a tick
# should stay under with many bots on one host, so a p99 read from merged histograms is close.
TICK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


@dataclass
class TickStats:
    """What the loop has done since the process started (for the status and the metrics)."""

    ticks: int = 0
    seconds: float = 0.0
    failed_in_a_row: int = 0
    last_at: datetime | None = None
    viewers: int = 0  # open live-feed streams
    # Ticks per bucket of TICK_BUCKETS (not cumulative); ticks past the last bound are in none.
    buckets: list[int] = field(default_factory=lambda: [0] * len(TICK_BUCKETS))

    def record(self, seconds: float) -> None:
        """Count one tick of `seconds`."""
        self.ticks += 1
        self.seconds += seconds
        for i, bound in enumerate(TICK_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
                break


class FailureLog(Protocol):
    def emit(self, kind: str, message: str, *, severity: str = ..., **data: Any) -> Any: ...


class TickLoop:
    def __init__(
        self,
        tick: Callable[[], Awaitable[Any]],
        idle_reason: Callable[[], str | None],
        *,
        tick_seconds: float,
        idle_tick_seconds: float,
        wakeup: Wakeup,
        events: FailureLog,
        stats: TickStats | None = None,
    ) -> None:
        self._tick = tick
        self._idle_reason = idle_reason
        self.tick_seconds = tick_seconds
        self.idle_tick_seconds = idle_tick_seconds
        self.wakeup = wakeup
        self.events = events
        self.stats = stats or TickStats()

    async def run(self, stop: asyncio.Event, *, max_ticks: int | None = None) -> None:
        """Tick until `stop` is set (or `max_ticks` ticks, each at once: no idle wait then)."""
        ticks = 0
        while not stop.is_set():
            # This tick sees everything up to now: a wake-up from before it is spent.
            self.wakeup.clear()
            await self._one()
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            if max_ticks is None and self._idle_reason() is None:
                await self._sleep(stop, self.idle_tick_seconds, wake=True)
            else:
                await self._sleep(stop, self.tick_seconds, wake=False)

    async def _one(self) -> None:
        try:
            await self._tick()
            self.stats.failed_in_a_row = 0
        except Exception as exc:  # one bad tick must not stop the bot; it is logged and told
            log.exception("tick failed")
            self.stats.failed_in_a_row += 1
            if self.stats.failed_in_a_row == 1:
                self.events.emit(
                    "bot.tick_failed",
                    f"A tick failed ({type(exc).__name__}); the bot keeps ticking",
                    severity="warning",
                )

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, wake: bool) -> None:
        """Wait `seconds`, or until `stop`; also until a wake-up when `wake` (the idle wait)."""
        waits = [asyncio.ensure_future(stop.wait())]
        if wake:
            waits.append(asyncio.ensure_future(self.wakeup.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def viewer_joined(self) -> None:
        self.stats.viewers += 1
        self.wakeup.set()

    def viewer_left(self) -> None:
        self.stats.viewers = max(0, self.stats.viewers - 1)
