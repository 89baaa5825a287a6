"""SOL's price candles (Hyperliquid's mark), for the dashboard's chart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from tenant_bot.api.context import Context
from tenant_bot.venues.hyperliquid_models import CANDLE_INTERVALS
from tenant_bot.venues.outages import UNREACHABLE

router = APIRouter(prefix="/api/v1", tags=["rates"])


@router.get("/candles", summary="SOL price candles of one interval, oldest first")
async def candles(c: Context, interval: str = Query(default="1h", max_length=4)) -> dict[str, Any]:
    """Prices are decimal strings (USD), times epoch milliseconds; `interval_seconds` says each
    candle's length. Cached: Hyperliquid is asked at most once per interval."""
    if interval not in CANDLE_INTERVALS:
        raise HTTPException(422, f"unknown interval {interval!r}; use one of {', '.join(CANDLE_INTERVALS)}")
    try:
        series = await c.candles.series(interval)
    except UNREACHABLE as exc:
        raise HTTPException(503, f"Hyperliquid did not answer: {type(exc).__name__}") from None
    return {
        "coin": series.coin,
        "interval": series.interval,
        "interval_seconds": int(CANDLE_INTERVALS[interval].total_seconds()),
        "fetched_at_ms": series.fetched_ms,
        "candles": [
            {
                "open_ms": k.open_ms,
                "close_ms": k.close_ms,
                "open": str(k.open),
                "high": str(k.high),
                "low": str(k.low),
                "close": str(k.close),
                "volume": str(k.volume),
            }
            for k in series.candles
        ],
    }
