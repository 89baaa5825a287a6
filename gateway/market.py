"""The public market data the gateway reads once for every bot, and how a request is answered from it.

`MarketCache` holds the latest of each entry, each with the moment the venue gave it:
- snapshots, answers served as the venue gave them: Hyperliquid's `meta`, `metaAndAssetCtxs`,
  `allMids`, `predictedFundings`; Asgard's `/markets` and `/token-metadata`;
- series, rows a request is answered from by its time range: the hedge coin's `fundingHistory` and
  its `candleSnapshot` per interval, each with the time it covers from.

Two writers, one cache. Each entry has a REST `Source`, run by the `Refresher` at the entry's cadence
(`GatewayConfig.cadence`). The websocket feed (gateway/feed.py) writes the entries it carries as its
messages arrive: `allMids` (`put_snapshot`), the hedge coin's candles (`put_series`), and the hedge
coin's context (`put_asset_ctx`, see below). While the feed carries an entry, the Refresher polls it
less (`metaAndAssetCtxs`) or not at all (`allMids`, candles); when the feed stops carrying it (socket
down, a gap), the REST source takes over at once at its full cadence. A write older than what the
entry holds is ignored, so the two never step back in time.

`metaAndAssetCtxs` stays exactly the venue's answer: the last REST answer (meta and every coin's
context, refreshed every `asset_ctxs_fed_refresh_seconds` while fed) with the hedge coin's context
replaced by the pushed one (the venue's `activeAssetCtx` carries the same object) when that is newer.
Its observed-at is then the pushed context's, the one a bot trades on, but never more than
`rest_lag_ms` (twice the fed cadence) later than the REST answer's: while the other coins' contexts
are refreshed on time the answer's Age is the hedge coin's, and if their refresh fails the Age grows
with theirs, less that stated lag.

`cached_answer` decides whether a parsed /info request is one the cache answers (exactly the shapes
the venue accepts for them, nothing more), and renders the answer; anything else is forwarded.
`market_answer` renders every entry a bot's tick reads in one answer, each part dated on its own
(`GET /market`: one request a tick instead of five).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.config import CANDLE_SPANS_MS, PLAIN_CACHED, GatewayConfig, candle_entry
from gateway.meter import Meter
from gateway.upstream import Answer, AnswerLost, Unreachable, Upstream
from shared.hyperliquid_weights import info_weight, items_weight
from shared.logging import get_logger

log = get_logger("gateway.market")

PAGE = 500  # fundingHistory's rows per answer, as the venue pages them
ASSET_CTXS = "metaAndAssetCtxs"
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
    def __init__(self, hedge_coin: str = "SOL", rest_lag_ms: int = 120_000) -> None:
        """`hedge_coin`: the coin whose pushed context `put_asset_ctx` takes; `rest_lag_ms`: how much
        older than the pushed context the rest of `metaAndAssetCtxs` may be before the answer's
        observed-at follows the rest's."""
        self.hedge_coin = hedge_coin
        self.rest_lag_ms = rest_lag_ms
        self._snapshots: dict[str, Snapshot] = {}
        self._series: dict[str, Series] = {}
        self._ctx_rest: Snapshot | None = None  # the venue's metaAndAssetCtxs over REST
        self._ctx_live: tuple[dict[str, Any], int] | None = None  # the hedge coin's pushed context, when

    def snapshot(self, key: str) -> Snapshot | None:
        return self._snapshots.get(key)

    def put_snapshot(self, key: str, snapshot: Snapshot) -> None:
        if key == ASSET_CTXS:
            if self._ctx_rest is None or snapshot.observed_ms >= self._ctx_rest.observed_ms:
                self._ctx_rest = snapshot
                self._compose()
            return
        kept = self._snapshots.get(key)
        if kept is None or snapshot.observed_ms >= kept.observed_ms:
            self._snapshots[key] = snapshot

    def series(self, key: str) -> Series | None:
        return self._series.get(key)

    def put_series(self, key: str, series: Series) -> None:
        kept = self._series.get(key)
        if kept is None or series.observed_ms >= kept.observed_ms:
            self._series[key] = series

    def put_asset_ctx(self, coin: str, ctx: dict[str, Any], observed_ms: int) -> bool:
        """The hedge coin's context as the feed pushed it (or confirmed it unchanged at `observed_ms`).
        False when it cannot stand in the REST answer (another coin, another shape): the entry is then
        not carried by the feed."""
        if coin != self.hedge_coin or not isinstance(ctx, dict):
            return False
        if self._ctx_live is None or observed_ms >= self._ctx_live[1]:
            self._ctx_live = (ctx, observed_ms)
        return self._compose()

    def _compose(self) -> bool:
        """`metaAndAssetCtxs` from the REST answer and the pushed context (see the module doc)."""
        rest, live = self._ctx_rest, self._ctx_live
        if rest is None:
            return True  # nothing to stand in yet: the first REST refresh comes at once
        if live is None or live[1] <= rest.observed_ms:
            self._snapshots[ASSET_CTXS] = rest
            return True
        try:
            meta, ctxs = json.loads(rest.body)
            index = [a["name"] for a in meta["universe"]].index(self.hedge_coin)
            same_shape = isinstance(ctxs[index], dict) and ctxs[index].keys() == live[0].keys()
        except (ValueError, TypeError, KeyError, IndexError):
            same_shape = False
        if not same_shape:
            self._snapshots[ASSET_CTXS] = rest
            return False
        ctxs[index] = live[0]
        observed = min(live[1], rest.observed_ms + self.rest_lag_ms)
        self._snapshots[ASSET_CTXS] = Snapshot(_dumps([meta, ctxs]), observed)
        return True


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


# The parts of `market_answer`, each a cached entry by the name a bot asks for it (the /info `type`,
# or Asgard's path), in the order they are written.
MARKET_PARTS = (
    ("metaAndAssetCtxs", ASSET_CTXS),
    ("predictedFundings", "predictedFundings"),
    ("asgard/markets", asgard_key("/markets")),
    ("asgard/token-metadata", asgard_key("/token-metadata")),
)
FUNDING_PART = "fundingHistory"


def market_answer(cache: MarketCache, coin: str | None, funding_from_ms: int | None) -> bytes:
    """Every cached public entry a bot's tick reads, in one JSON object: part name → `{"observed_at":
    unix ms when the venue gave it (what `X-Basis-Observed-At` says of a single read), "answer": the
    answer the single read gives}`. The parts: the `MARKET_PARTS`, and `fundingHistory` (the rows of
    `coin` from `funding_from_ms` on, exactly `cached_answer`'s page of `{"type": "fundingHistory",
    "coin": coin, "startTime": funding_from_ms}`) when both are given. A part the cache cannot answer
    (not read yet, a coin or a time it does not cover) is left out: the bot reads that one alone.

    Each body in the cache is JSON already (a refresh whose answer is not is not kept, and the
    composed ones are dumped here), so the answer is their bytes spliced, not parsed again: it costs
    the gateway a join per request however large the venue's answers are."""
    parts = [(name, cache.snapshot(key)) for name, key in MARKET_PARTS]
    if coin is not None and funding_from_ms is not None:
        request = {"type": "fundingHistory", "coin": coin, "startTime": funding_from_ms}
        parts.append((FUNDING_PART, cached_answer(cache, request)))
    written = [
        b'"%s":{"observed_at":%d,"answer":%s}' % (name.encode(), snapshot.observed_ms, snapshot.body)
        for name, snapshot in parts
        if snapshot is not None
    ]
    return b"{" + b",".join(written) + b"}"


# ---------------------------------------------------------------------- refreshing over REST
class Source(Protocol):
    """What keeps one entry of the cache fresh over REST."""

    @property
    def entry(self) -> str:
        """The entry's name in `GatewayConfig.entries` (its cadence and weight)."""
        ...

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

    @property
    def entry(self) -> str:
        return self.kind

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        answer = _ok(await upstream.info(_dumps({"type": self.kind})))
        json.loads(answer.body)  # a body that is not JSON is not kept
        cache.put_snapshot(self.kind, Snapshot(answer.body, answer.observed_ms))
        return info_weight(self.kind)


@dataclass
class AsgardSource:
    path: str

    @property
    def entry(self) -> str:
        return asgard_key(self.path)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        answer = _ok(await upstream.asgard(self.path))
        json.loads(answer.body)
        cache.put_snapshot(asgard_key(self.path), Snapshot(answer.body, answer.observed_ms))
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
    entry: str = "fundingHistory"

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        key = funding_key(self.coin)
        kept = cache.series(key)
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
        cache.put_series(key, Series(tuple(rows), covers_from, observed))
        return spent


@dataclass
class CandleSource:
    """The coin's last `lookback` candles of one interval, read whole each time (the last one moves)."""

    coin: str
    interval: str
    lookback: int

    @property
    def entry(self) -> str:
        return candle_entry(self.interval)

    async def refresh(self, upstream: Upstream, cache: MarketCache) -> int:
        start = int(time.time() * 1000) - self.lookback * CANDLE_SPANS_MS[self.interval]
        req = {"coin": self.coin, "interval": self.interval, "startTime": start}
        answer = await upstream.info(_dumps({"type": "candleSnapshot", "req": req}))
        rows = _rows(answer, "t")
        cache.put_series(candle_key(self.coin, self.interval), Series(tuple(rows), start, answer.observed_ms))
        return info_weight("candleSnapshot") + items_weight("candleSnapshot", len(rows))


def put_candle(
    cache: MarketCache, coin: str, candle: dict[str, Any], observed_ms: int, lookback: int
) -> bool:
    """A pushed candle (the venue's candleSnapshot row) written into the REST series of its coin and
    interval: the candle in progress replaced, or the next one appended. False when it cannot be (no
    series yet, or candles missing between the series and it): the REST source must read it first."""
    interval = candle.get("i")
    if interval not in CANDLE_SPANS_MS or not _is_ms(candle.get("t")):
        return False
    key = candle_key(coin, str(interval))
    series = cache.series(key)
    if series is None or not series.rows:
        return False
    rows = list(series.rows)
    last = rows[-1]["t"]
    if candle["t"] == last:
        rows[-1] = candle
    elif candle["t"] == last + CANDLE_SPANS_MS[str(interval)]:
        rows.append(candle)
    else:  # older than the series' last (nothing to do), or a gap (the REST source reads it)
        return candle["t"] < last
    dropped = len(rows) > lookback + 1  # keep the lookback and the candle in progress
    rows = rows[-lookback - 1 :]
    covers_from = rows[0]["t"] if dropped else series.covers_from_ms
    cache.put_series(key, Series(tuple(rows), covers_from, observed_ms))
    return True


def confirm_series(cache: MarketCache, key: str, observed_ms: int) -> None:
    """The series is unchanged as of `observed_ms` (a pong of the feed)."""
    series = cache.series(key)
    if series is not None:
        cache.put_series(key, Series(series.rows, series.covers_from_ms, observed_ms))


def rest_sources(config: GatewayConfig) -> list[Source]:
    """Every entry's REST source (`GatewayConfig.entries`: what `refresh_cost` counts)."""
    sources: list[Source] = [InfoSource(kind) for kind in PLAIN_CACHED]
    sources.append(FundingSource(config.hedge_coin, config.funding_history_hours))
    sources += [CandleSource(config.hedge_coin, i, config.candle_lookback) for i in config.candle_intervals]
    sources += [AsgardSource("/markets"), AsgardSource("/token-metadata")]
    return sources


class Refresher:
    """Runs each source on its entry's cadence in the caller's event loop, the cadence depending on
    whether the feed carries the entry now (`fed`). Before each tick it tells the meter what the
    refreshes cost a minute now (its refresh reserve), and each refresh waits for the meter's room.
    A failed refresh keeps the entry as it was (its age grows, which every answer shows) and is tried
    again at the next cadence."""

    TICK_S = 0.25

    def __init__(
        self,
        sources: Iterable[Source],
        upstream: Upstream,
        cache: MarketCache,
        meter: Meter,
        config: GatewayConfig,
        fed: Callable[[str], bool] = lambda entry: False,
    ) -> None:
        self.sources = list(sources)
        self.upstream, self.cache, self.meter, self.config, self._fed = upstream, cache, meter, config, fed
        self._last: dict[str, float] = {}  # entry → when its last refresh went (monotonic)
        self._asgard_last = -math.inf  # when the last Asgard refresh went (`asgard_spacing_seconds`)
        self._failing: set[str] = set()
        self._waiting = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.TICK_S)

    async def refresh_due(self) -> None:
        now = time.monotonic()
        fed = {s.entry for s in self.sources if self._fed(s.entry)}
        self.meter.set_refresh_reserve(self.config.refresh_cost(fed))
        due = []
        for source in self.sources:
            cadence = self.config.cadence(source.entry, source.entry in fed)
            if cadence is None or now - self._last.get(source.entry, -math.inf) < cadence:
                continue
            asgard = source.entry.startswith("asgard:")
            if asgard and now - self._asgard_last < self.config.asgard_spacing_seconds:
                continue  # due again at the next pass, once the spacing has passed
            weight = self.config.weight(source.entry)
            if weight and not self.meter.refresh(weight):
                if not self._waiting:  # once per wait: the reads spent under a larger pool are leaving
                    self._waiting = True
                    log.info("gateway refresh waits for room in the budget", entry=source.entry)
                continue
            self._last[source.entry] = now
            if asgard:
                self._asgard_last = now
            due.append((source, weight))
        if due:
            self._waiting = False
        await asyncio.gather(*(self._refresh(s, w) for s, w in due))

    async def _refresh(self, source: Source, admitted: int) -> None:
        try:
            spent = await source.refresh(self.upstream, self.cache)
        except (Unreachable, AnswerLost, RefreshFailed, ValueError) as exc:
            if source.entry not in self._failing:  # once per outage, not once per cadence
                self._failing.add(source.entry)
                log.warning(
                    "gateway refresh failed", entry=source.entry, error=str(exc) or type(exc).__name__
                )
            return
        self.meter.refreshed(max(0, spent - admitted))
        if source.entry in self._failing:
            self._failing.discard(source.entry)
            log.info("gateway refresh recovered", entry=source.entry)
