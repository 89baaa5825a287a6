"""SOL's price candles for the dashboard's chart, read from Hyperliquid at most once per interval.

Hyperliquid limits REST weight per IP (1,200 a minute, shared by every bot on a host) and a
`candleSnapshot` costs 20 or more, so the candles of each interval are kept and asked for again only
once that interval has passed: a new candle can only have opened by then. Viewers in between, however
many, are served the kept ones. Concurrent viewers of a stale interval share one request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenant_bot.venues.hyperliquid import HyperliquidClient
from tenant_bot.venues.hyperliquid_models import CANDLE_INTERVALS, Candle

CANDLES_SHOWN = 120  # candles per chart: five days of hours, two hours of minutes


@dataclass(frozen=True)
class CandleSeries:
    coin: str
    interval: str
    fetched_ms: int  # when Hyperliquid was asked (epoch ms)
    candles: tuple[Candle, ...]


class CandleCache:
    def __init__(self, hl: HyperliquidClient, coin: str, *, clock: Callable[[], float] = time.time) -> None:
        self._hl, self._coin, self._clock = hl, coin, clock
        self._series: dict[str, CandleSeries] = {}
        self._locks = {interval: asyncio.Lock() for interval in CANDLE_INTERVALS}

    async def series(self, interval: str) -> CandleSeries:
        """The last `CANDLES_SHOWN` candles of `interval`, fetched if the kept ones are an interval old."""
        if interval not in CANDLE_INTERVALS:
            raise ValueError(f"unknown candle interval {interval!r}; use {', '.join(CANDLE_INTERVALS)}")
        span_ms = int(CANDLE_INTERVALS[interval].total_seconds() * 1000)
        async with self._locks[interval]:
            now_ms = int(self._clock() * 1000)
            kept = self._series.get(interval)
            if kept is not None and now_ms - kept.fetched_ms < span_ms:
                return kept
            candles = await self._hl.candles(self._coin, interval, now_ms - CANDLES_SHOWN * span_ms)
            fresh = CandleSeries(self._coin, interval, now_ms, tuple(candles[-CANDLES_SHOWN:]))
            self._series[interval] = fresh
            return fresh
