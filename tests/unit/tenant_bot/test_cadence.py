"""The idle rule: a bot ticks at the slow cadence only when nothing at all needs it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tenant_bot.cadence import TICK_BUCKETS, TickLoop, TickStats, Wakeup, idle_blocker, watchful
from tenant_bot.config import BotSettings
from tenant_bot.risk.states import TradingState

IDLE: dict[str, Any] = {
    "live_positions": False,
    "executions": False,
    "auto_entry": False,
    "state": TradingState.ACTIVE,
    "ticked_clean": True,
    "viewers": 0,
}


def test_a_bot_with_nothing_to_do_is_idle() -> None:
    assert idle_blocker(**IDLE) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"live_positions": True}, "position"),
        ({"executions": True}, "execution"),
        ({"auto_entry": True}, "auto-entry"),
        ({"state": TradingState.REDUCING}, "reducing"),
        ({"state": TradingState.HALTED}, "halted"),
        ({"ticked_clean": False}, "venue error"),
        ({"viewers": 1}, "watching"),
        # A position wins over everything else that would allow idleness.
        ({"live_positions": True, "viewers": 0, "auto_entry": False}, "position"),
    ],
)
def test_any_reason_to_watch_keeps_the_normal_cadence(change: dict[str, Any], reason: str) -> None:
    why = idle_blocker(**{**IDLE, **change})
    assert why is not None and reason in why


CALM: dict[str, Any] = {
    "ticked": True,
    "executions": False,
    "tripped": False,
    "state": TradingState.ACTIVE,
    "auto_entry": False,
}


def test_a_calm_bot_holding_healthy_positions_may_space_its_liveness_probes() -> None:
    assert watchful(**CALM) is False


@pytest.mark.parametrize(
    "change",
    [
        {"ticked": False},  # nothing known yet
        {"executions": True},  # an execution in flight or unfinished
        {"tripped": True},  # a position at risk, an outage, data too old: any breaker
        {"state": TradingState.REDUCING},
        {"state": TradingState.HALTED},
        {"auto_entry": True},  # an entry may be decided on this tick
    ],
)
def test_every_probe_runs_every_tick_while_anything_needs_it(change: dict[str, Any]) -> None:
    assert watchful(**{**CALM, **change}) is True


def test_liveness_probe_seconds_defaults_to_15_and_stays_below_the_stale_height_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BotSettings().liveness_probe_seconds == 15
    monkeypatch.setenv("BASIS_LIVENESS_PROBE_SECONDS", "30")
    assert BotSettings().liveness_probe_seconds == 30
    monkeypatch.setenv("BASIS_LIVENESS_PROBE_SECONDS", "31")
    with pytest.raises(ValueError, match="liveness_probe_seconds"):
        BotSettings()


def test_idle_tick_seconds_defaults_to_a_minute_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BotSettings().idle_tick_seconds == 60
    monkeypatch.setenv("BASIS_IDLE_TICK_SECONDS", "12.5")
    assert BotSettings().idle_tick_seconds == 12.5
    monkeypatch.setenv("BASIS_IDLE_TICK_SECONDS", "0")
    with pytest.raises(ValueError, match="idle_tick_seconds"):
        BotSettings()


class _Loop:
    """A tick loop whose tick and idle check are stubs: only the loop's waiting is under test."""

    def __init__(self, idle: bool) -> None:
        self.idle = idle
        self.ticked = asyncio.Event()
        self.loop = TickLoop(
            self.tick,
            lambda: None if self.idle else "busy",
            tick_seconds=0.01,
            idle_tick_seconds=30,
            wakeup=Wakeup(),
            events=_Events(),
        )

    async def tick(self) -> None:
        self.loop.stats.ticks += 1
        self.ticked.set()

    @property
    def ticks_total(self) -> int:
        return self.loop.stats.ticks

    @property
    def viewers(self) -> int:
        return self.loop.stats.viewers


class _Events:
    def emit(self, *args: Any, **kwargs: Any) -> None:
        return None


async def test_an_idle_loop_waits_until_woken_then_ticks_at_once() -> None:
    bot = _Loop(idle=True)
    stop = asyncio.Event()
    loop = asyncio.create_task(bot.loop.run(stop))
    await asyncio.sleep(0.2)
    assert bot.ticks_total == 1  # the first tick, then the 30-s idle wait
    bot.ticked.clear()
    bot.loop.viewer_joined()
    await asyncio.wait_for(bot.ticked.wait(), 1)
    assert bot.ticks_total == 2 and bot.viewers == 1
    # Still idle by the stub: back to the long wait, no tick storm.
    await asyncio.sleep(0.2)
    assert bot.ticks_total == 2
    bot.loop.viewer_left()
    assert bot.viewers == 0
    stop.set()
    await asyncio.wait_for(loop, 1)


async def test_a_busy_loop_ticks_at_tick_seconds_whatever_the_wake_ups() -> None:
    bot = _Loop(idle=False)
    stop = asyncio.Event()
    loop = asyncio.create_task(bot.loop.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(loop, 1)
    assert bot.ticks_total >= 10


async def test_a_bounded_run_never_waits_for_the_idle_cadence() -> None:
    bot = _Loop(idle=True)
    await asyncio.wait_for(bot.loop.run(asyncio.Event(), max_ticks=3), 1)
    assert bot.ticks_total == 3


def test_tick_durations_fall_in_the_first_bucket_that_holds_them() -> None:
    stats = TickStats()
    for seconds in (0.01, 0.0101, 0.25, 0.2501, 11.0):
        stats.record(seconds)
    assert stats.ticks == 5 and stats.seconds == pytest.approx(11.5202)
    counts = dict(zip(TICK_BUCKETS, stats.buckets, strict=True))
    assert counts[0.01] == 1 and counts[0.025] == 1 and counts[0.25] == 1 and counts[0.3] == 1
    assert sum(stats.buckets) == 4  # 11 s is past the last bound: only in +Inf
