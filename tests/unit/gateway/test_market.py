"""The cache the feed and the REST refresh both write (gateway/market.py): metaAndAssetCtxs stays the
venue's answer with the hedge coin's pushed context standing in, and its observed-at as documented;
pushed candles join their series or leave it to the REST source; nothing steps back in time."""

from __future__ import annotations

import json

from gateway.market import MarketCache, Series, Snapshot, candle_key, put_candle

META = {"universe": [{"name": "BTC"}, {"name": "SOL"}]}
CTX = {"funding": "0.0001", "markPx": "100.0", "oraclePx": "100.1"}


def rest(sol_mark: str, observed: int) -> Snapshot:
    body = json.dumps([META, [dict(CTX, markPx="50000.0"), dict(CTX, markPx=sol_mark)]]).encode()
    return Snapshot(body, observed)


def test_the_hedge_coins_pushed_context_stands_in_the_rest_answer() -> None:
    cache = MarketCache("SOL", rest_lag_ms=120_000)
    assert cache.put_asset_ctx("SOL", dict(CTX, markPx="101.0"), 1_000)  # before any REST answer
    cache.put_snapshot("metaAndAssetCtxs", rest("100.0", 10_000))
    answer = cache.snapshot("metaAndAssetCtxs")
    assert answer is not None and answer.observed_ms == 10_000  # the REST answer is newer: as it is
    assert json.loads(answer.body)[1][1]["markPx"] == "100.0"
    assert cache.put_asset_ctx("SOL", dict(CTX, markPx="102.0"), 20_000)
    answer = cache.snapshot("metaAndAssetCtxs")
    meta, ctxs = json.loads(answer.body)  # type: ignore[union-attr]
    assert meta == META and ctxs[1]["markPx"] == "102.0" and ctxs[0]["markPx"] == "50000.0"
    assert answer.observed_ms == 20_000  # type: ignore[union-attr]
    # The other coins' REST refresh fails for long: the answer ages with it, less the stated lag.
    assert cache.put_asset_ctx("SOL", dict(CTX, markPx="102.0"), 200_000)
    assert cache.snapshot("metaAndAssetCtxs").observed_ms == 10_000 + 120_000  # type: ignore[union-attr]
    # Another coin, another shape: not stood in, the entry is not carried by the feed.
    assert not cache.put_asset_ctx("BTC", CTX, 300_000)
    assert not cache.put_asset_ctx("SOL", {"markPx": "1"}, 300_000)


def test_a_write_older_than_the_entry_is_ignored() -> None:
    cache = MarketCache()
    cache.put_snapshot("allMids", Snapshot(b'{"SOL":"2"}', 2_000))
    cache.put_snapshot("allMids", Snapshot(b'{"SOL":"1"}', 1_000))
    assert cache.snapshot("allMids") == Snapshot(b'{"SOL":"2"}', 2_000)


def candle(t: int, close: str) -> dict[str, object]:
    return {
        "t": t,
        "T": t + 59_999,
        "s": "SOL",
        "i": "1m",
        "o": "1",
        "c": close,
        "h": "1",
        "l": "1",
        "v": "0",
        "n": 0,
    }


def test_pushed_candles_join_their_series_or_leave_it_to_rest() -> None:
    cache = MarketCache()
    key = candle_key("SOL", "1m")
    assert not put_candle(cache, "SOL", candle(120_000, "1"), 5, lookback=2)  # no series yet
    cache.put_series(key, Series((candle(0, "1"), candle(60_000, "1")), 0, 10))
    assert put_candle(cache, "SOL", candle(60_000, "2"), 20, lookback=2)  # the candle in progress
    assert put_candle(cache, "SOL", candle(120_000, "3"), 30, lookback=2)  # the next one
    series = cache.series(key)
    assert (
        series is not None and [c["c"] for c in series.rows] == ["1", "2", "3"] and series.observed_ms == 30
    )
    assert put_candle(cache, "SOL", candle(180_000, "4"), 40, lookback=2)
    series = cache.series(key)
    assert [c["t"] for c in series.rows] == [60_000, 120_000, 180_000]  # type: ignore[union-attr]
    assert series.covers_from_ms == 60_000  # type: ignore[union-attr]
    assert not put_candle(cache, "SOL", candle(300_000, "5"), 50, lookback=2)  # a gap: REST reads it
