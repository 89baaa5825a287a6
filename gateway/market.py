"""The public market data the gateway reads once for every bot, and how a request is answered from it.

`MarketCache` holds the latest of each entry, each with the moment the venue gave it:
- snapshots, answers served as the venue gave them: Hyperliquid's `meta`, `metaAndAssetCtxs`,
  `allMids`, `predictedFundings`; Asgard's `/markets` and `/token-metadata`;
- series, rows a request is answered from by its time range: the hedge coin's `fundingHistory` and
  its `candleSnapshot` per interval, each with the time it covers from.

Who writes an entry is not the cache's concern. Today each entry has a `Source` that refreshes it over
REST on its own cadence (`Refresher`); a websocket feed (once the venue's `/ws` is emulated) will write
the entries it carries (`allMids`, `activeAssetCtx` → the asset contexts, `candle`) with `put_snapshot`
/ `put_series` as its messages arrive, and the `Source` of each such entry is simply left out of the
refresher's list (its weight leaves the meter's reserve with it); nothing else changes.

`cached_answer` decides whether a parsed /info request is one the cache answers (exactly the shapes
the venue accepts for them, nothing more), and renders the answer; anything else is forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.config import CANDLE_SPANS_MS, PLAIN_CACHED, GatewayConfig
from gateway.upstream import Answer, AnswerLost, Unreachable, Upstream
from shared.hyperliquid_weights import info_weight, items_weight
from shared.logging import get_logger

log = get_logger("gateway.market")

PAGE = 500  # fundingHistory's rows per answer, as the venue pages them
KEEP_CANDLES = 5000  # the venue's most recent candles


@dataclass(frozen=True)
class Snapshot:
    body: bytes  # the venue's answer, unchanged
    observed_ms: int  # unix ms when the venue gave it


@dataclass(frozen=True)
class Series:
    rows: tuple[dict[str, Any], ...]  # ascending by time
    covers_from_ms: int  # every row of the venue's from this time on is here (up to `observed_ms`)
    observed_ms: int


def funding_key(coin: str) -> str:
    return f"fundingHistory:{coin}"


def candle_key(coin: str, interval: str) -> str:
    return f"candleSnapshot:{coin}:{interval}"


def asgard_key(path: str) -> str:
    return f"asgard:{path}"


class MarketCache:
    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._series: dict[str, Series] = {}

    def snapshot(self, key: str) -> Snapshot | None:
        return self._snapshots.get(key)

    def put_snapshot(self, key: str, snapshot: Snapshot) -> None:
        self._snapshots[key] = snapshot

    def series(self, key: str) -> Series | None:
        return self._series.get(key)

    def put_series(self, key: str, series: Series) -> None:
        self._series[key] = series


# ---------------------------------------------------------------------- answering from the cache
def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _is_ms(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _window(req: dict[str, Any], allowed: set[str]) -> tuple[int, int | None] | None:
    """(startTime, endTime) of a time-range request of exactly the allowed fields, else None."""
    if not set(req) <= allowed:
        return None
    start, end = req.get("startTime"), req.get("endTime")
    if not _is_ms(start) or not (end is None or _is_ms(end)):
        return None
    return start, end  # type: ignore[return-value]


def cached_answer(cache: MarketCache, request: dict[str, Any]) -> Snapshot | None:
    """The answer to `request` from the cache, or None when it is not one the cache covers."""
    kind = request.get("type")
    if kind in PLAIN_CACHED:
        if set(request) <= {"type", "dex"} and request.get("dex") in (None, ""):
            return cache.snapshot(str(kind))
        return None
    if kind == "fundingHistory":
        window = _window(request, {"type", "coin", "startTime", "endTime"})
        coin = request.get("coin")
        if window is None or not isinstance(coin, str):
            return None
        series = cache.series(funding_key(coin))
        start, end = window
        if series is None or start < series.covers_from_ms:
            return None
        rows = [r for r in series.rows if start <= r["time"] and (end is None or r["time"] <= end)]
        return Snapshot(_dumps(rows[:PAGE]), series.observed_ms)
    if kind == "candleSnapshot":
        req = request.get("req")
        if set(request) != {"type", "req"} or not isinstance(req, dict):
            return None
        window = _window(req, {"coin", "interval", "startTime", "endTime"})
        coin, interval = req.get("coin"), req.get("interval")
        if window is None or not isinstance(coin, str) or interval not in CANDLE_SPANS_MS:
            return None
        series = cache.series(candle_key(coin, str(interval)))
        start, end = window
        if series is None or start < series.covers_from_ms:
            return None
        span = CANDLE_SPANS_MS[str(interval)]
        # The venue's candles overlapping the range: opened before its end, closing after its start.
        rows = [r for r in series.rows if r["t"] + span > start and (end is None or r["t"] <= end)]
        return Snapshot(_dumps(rows[-KEEP_CANDLES:]), series.observed_ms)
    return None


# ---------------------------------------------------------------------- refreshing over REST
class Source(Protocol):
    """What keeps one entry of the cache fresh over REST."""

    key: str
    cadence_s: float

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        """Read the venue and write the entry; the Hyperliquid weight spent. Raises on failure."""
        ...


class RefreshFailed(Exception):
    pass


def _ok(answer: Answer) -> Answer:
    if answer.status != 200:
        raise RefreshFailed(f"the venue answered HTTP {answer.status}")
    return answer


@dataclass
class InfoSource:
    """A plain /info request ({"type": kind}), its answer kept as the venue gave it."""

    kind: str
    cadence_s: float

    @property
    def key(self) -> str:
        return self.kind

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        answer = _ok(await upstream.info(_dumps({"type": self.kind})))
        json.loads(answer.body)  # a body that is not JSON is not kept
        cache.put_snapshot(self.key, Snapshot(answer.body, answer.observed_ms))
        return info_weight(self.kind)


@dataclass
class AsgardSource:
    path: str
    cadence_s: float

    @property
    def key(self) -> str:
        return asgard_key(self.path)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        answer = _ok(await upstream.asgard(self.path))
        json.loads(answer.body)
        cache.put_snapshot(self.key, Snapshot(answer.body, answer.observed_ms))
        return 0  # Asgard is not Hyperliquid's budget


def _rows(answer: Answer, time_field: str) -> list[dict[str, Any]]:
    rows = json.loads(_ok(answer).body)
    if not isinstance(rows, list) or not all(isinstance(r, dict) and _is_ms(r.get(time_field)) for r in rows):
        raise RefreshFailed("the venue's rows are not what it documents")
    return rows


@dataclass
class FundingSource:
    """The coin's settled funding rates: `hours` of them read once, then only the new ones."""

    coin: str
    hours: int
    cadence_s: float

    @property
    def key(self) -> str:
        return funding_key(self.coin)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        kept = cache.series(self.key)
        rows = list(kept.rows) if kept else []
        covers_from = kept.covers_from_ms if kept else int(time.time() * 1000) - self.hours * 3_600_000
        start = rows[-1]["time"] + 1 if rows else covers_from
        spent = 0
        while True:  # pages of 500, as the venue answers them
            body = {"type": "fundingHistory", "coin": self.coin, "startTime": start}
            answer = await upstream.info(_dumps(body))
            page = _rows(answer, "time")
            spent += info_weight("fundingHistory") + items_weight("fundingHistory", len(page))
            rows.extend(r for r in page if r["time"] >= start)
            observed = answer.observed_ms
            if len(page) < PAGE:
                break
            start = page[-1]["time"] + 1
        if rows:  # keep `hours` before the newest row
            covers_from = max(covers_from, rows[-1]["time"] - self.hours * 3_600_000)
            rows = [r for r in rows if r["time"] >= covers_from]
        cache.put_series(self.key, Series(tuple(rows), covers_from, observed))
        return spent


@dataclass
class CandleSource:
    """The coin's last `lookback` candles of one interval, read whole each time (the last one moves)."""

    coin: str
    interval: str
    lookback: int
    cadence_s: float

    @property
    def key(self) -> str:
        return candle_key(self.coin, self.interval)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        start = int(time.time() * 1000) - self.lookback * CANDLE_SPANS_MS[self.interval]
        req = {"coin": self.coin, "interval": self.interval, "startTime": start}
        answer = await upstream.info(_dumps({"type": "candleSnapshot", "req": req}))
        rows = _rows(answer, "t")
        cache.put_series(self.key, Series(tuple(rows), start, answer.observed_ms))
        return info_weight("candleSnapshot") + items_weight("candleSnapshot", len(rows))


def rest_sources(config: GatewayConfig) -> list[Source]:
    """Every entry's REST source, at the cadences the config gives (what `refresh_cost` counts)."""
    sources: list[Source] = [InfoSource(kind, config.cadence(kind)) for kind in PLAIN_CACHED]
    sources.append(
        FundingSource(config.hedge_coin, config.funding_history_hours, config.funding_history_refresh_seconds)
    )
    sources += [
        CandleSource(config.hedge_coin, i, config.candle_lookback, config.candle_cadence(i))
        for i in config.candle_intervals
    ]
    sources.append(AsgardSource("/markets", config.asgard_markets_refresh_seconds))
    sources.append(AsgardSource("/token-metadata", config.asgard_token_metadata_refresh_seconds))
    return sources


class Refresher:
    """Runs each source on its cadence in the caller's event loop; a failed refresh keeps the entry
    as it was (its age grows, which every answer shows) and is tried again at the next cadence."""

    TICK_S = 0.25

    def __init__(self, sources: Iterable[Source], upstream: Upstream, cache: MarketCache, spent: Any) -> None:
        """`spent(weight)`: told what each refresh spent (the meter's `refreshed`)."""
        self.sources = list(sources)
        self.upstream, self.cache, self._spent = upstream, cache, spent
        self._due = {s.key: 0.0 for s in self.sources}
        self._failing: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.TICK_S)

    async def refresh_due(self) -> None:
        now = time.monotonic()
        due = [s for s in self.sources if self._due[s.key] <= now]
        for source in due:
            self._due[source.key] = now + source.cadence_s
        await asyncio.gather(*(self._refresh(s) for s in due))

    async def _refresh(self, source: Source) -> None:
        try:
            self._spent(await source.refresh(self.upstream, self.cache))
        except (Unreachable, AnswerLost, RefreshFailed, ValueError) as exc:
            if source.key not in self._failing:  # once per outage, not once per cadence
                self._failing.add(source.key)
                log.warning("gateway refresh failed", entry=source.key, error=str(exc) or type(exc).__name__)
            return
        if source.key in self._failing:
            self._failing.discard(source.key)
            log.info("gateway refresh recovered", entry=source.key)
