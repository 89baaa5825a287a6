"""What the gateway reads in a request (gateway/app.py) and what its cache answers (gateway/market.py):
pure functions, no I/O."""

from __future__ import annotations

import json

import pytest

from gateway.app import Refused, addresses_in, market_query, parse_info
from gateway.market import (
    MarketCache,
    Series,
    Snapshot,
    asgard_key,
    cached_answer,
    candle_key,
    funding_key,
    market_answer,
)

A = "0x" + "ab" * 20
B = "0x" + "Cd" * 20


def test_every_address_anywhere_is_found_in_any_spelling_and_only_addresses() -> None:
    body = {
        "type": "x",
        "user": A.upper().replace("0X", "0x"),
        "req": {"inner": [f" {B[2:]} "]},
        B.lower(): 1,
        "hash": "0x" + "ef" * 32,  # a 64-digit hash is no address
        "cloid": "0x" + "12" * 16,
    }
    assert addresses_in(body) == {A, B.lower()}
    assert addresses_in({"type": "allMids"}) == set()


@pytest.mark.parametrize(
    "raw",
    [
        b"x",
        b"[]",
        b'{"type": 1}',
        b'{"type": "a", "type": "b"}',
        b'{"type": "a", "n": Infinity}',
        b"[" * 5000,
    ],
)
def test_unreadable_bodies_are_refused_with_400(raw: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_info(raw)
    assert refused.value.status == 400


def test_the_cache_answers_only_the_shapes_it_holds() -> None:
    cache = MarketCache()
    cache.put_snapshot("allMids", Snapshot(b'{"SOL":"150"}', 1000))
    assert cached_answer(cache, {"type": "allMids"}) == Snapshot(b'{"SOL":"150"}', 1000)
    assert cached_answer(cache, {"type": "allMids", "dex": ""}) is not None
    assert cached_answer(cache, {"type": "allMids", "dex": "other"}) is None
    assert cached_answer(cache, {"type": "meta"}) is None  # not read yet: forwarded


def test_funding_history_is_answered_from_the_rows_it_covers() -> None:
    cache = MarketCache()
    rows = tuple({"coin": "SOL", "fundingRate": "0.0001", "time": t} for t in range(1000, 2000, 100))
    cache.put_series(funding_key("SOL"), Series(rows, 900, 5000))
    answer = cached_answer(
        cache, {"type": "fundingHistory", "coin": "SOL", "startTime": 1150, "endTime": 1500}
    )
    assert answer is not None and answer.observed_ms == 5000
    assert [r["time"] for r in json.loads(answer.body)] == [1200, 1300, 1400, 1500]
    assert cached_answer(cache, {"type": "fundingHistory", "coin": "SOL", "startTime": 800}) is None
    assert cached_answer(cache, {"type": "fundingHistory", "coin": "BTC", "startTime": 1000}) is None
    assert cached_answer(cache, {"type": "fundingHistory", "coin": "SOL", "startTime": True}) is None
    assert cached_answer(cache, {"type": "fundingHistory", "coin": "SOL", "startTime": 1000, "x": 1}) is None


def test_candles_are_answered_per_interval_overlapping_the_range() -> None:
    cache = MarketCache()
    hour = 3_600_000
    rows = tuple({"t": t * hour, "T": (t + 1) * hour - 1, "c": str(t)} for t in range(10))
    cache.put_series(candle_key("SOL", "1h"), Series(rows, 0, 7))
    req = {"coin": "SOL", "interval": "1h", "startTime": 3 * hour + 5, "endTime": 5 * hour}
    answer = cached_answer(cache, {"type": "candleSnapshot", "req": req})
    assert answer is not None and [r["c"] for r in json.loads(answer.body)] == ["3", "4", "5"]
    assert cached_answer(cache, {"type": "candleSnapshot", "req": {**req, "interval": "4h"}}) is None


def test_the_market_answer_holds_each_cached_part_as_its_single_read_with_its_own_date() -> None:
    cache = MarketCache("SOL")
    ctxs = b'[{"universe":[{"name":"SOL","szDecimals":2}]},[{"markPx":"150.1","funding":"0.0000125"}]]'
    cache.put_snapshot("metaAndAssetCtxs", Snapshot(ctxs, 1_000))
    cache.put_snapshot("predictedFundings", Snapshot(b'[["SOL",[["HlPerp",null]]]]', 2_000))
    cache.put_snapshot(asgard_key("/markets"), Snapshot(b'{"strategies": {"a": {"apy": 0.125}}}', 3_000))
    cache.put_snapshot(asgard_key("/token-metadata"), Snapshot(b'{"tokens":[]}', 4_000))
    rows = tuple({"coin": "SOL", "fundingRate": "0.0001", "time": t} for t in range(1000, 2000, 100))
    cache.put_series(funding_key("SOL"), Series(rows, 900, 5_000))
    cache.put_snapshot("allMids", Snapshot(b'{"SOL":"150"}', 6_000))  # not a tick's: not in it

    answer = json.loads(market_answer(cache, "SOL", 1_650))
    assert set(answer) == {
        "metaAndAssetCtxs",
        "predictedFundings",
        "fundingHistory",
        "asgard/markets",
        "asgard/token-metadata",
    }
    single = {
        "metaAndAssetCtxs": cache.snapshot("metaAndAssetCtxs"),
        "predictedFundings": cache.snapshot("predictedFundings"),
        "asgard/markets": cache.snapshot(asgard_key("/markets")),
        "asgard/token-metadata": cache.snapshot(asgard_key("/token-metadata")),
        "fundingHistory": cached_answer(cache, {"type": "fundingHistory", "coin": "SOL", "startTime": 1_650}),
    }
    for name, snapshot in single.items():
        assert snapshot is not None
        assert answer[name] == {"observed_at": snapshot.observed_ms, "answer": json.loads(snapshot.body)}
    assert [r["time"] for r in answer["fundingHistory"]["answer"]] == [1700, 1800, 1900]


def test_a_part_the_cache_cannot_answer_is_left_out_for_the_bot_to_read_alone() -> None:
    cache = MarketCache("SOL")
    assert json.loads(market_answer(cache, "SOL", 0)) == {}  # nothing read yet
    cache.put_snapshot("predictedFundings", Snapshot(b"[]", 2_000))
    rows = ({"coin": "SOL", "fundingRate": "0.0001", "time": 1_000},)
    cache.put_series(funding_key("SOL"), Series(rows, 900, 5_000))
    assert set(json.loads(market_answer(cache, "SOL", 950))) == {"predictedFundings", "fundingHistory"}
    assert set(json.loads(market_answer(cache, "SOL", 800))) == {"predictedFundings"}  # before its rows
    assert set(json.loads(market_answer(cache, "BTC", 950))) == {"predictedFundings"}  # a coin not kept
    assert set(json.loads(market_answer(cache, None, None))) == {"predictedFundings"}


@pytest.mark.parametrize(
    "query",
    [
        [("coin", "SOL"), ("funding_from", "-5")],
        [("funding_from", "1e9")],
        [("funding_from", "")],
        [("funding_from", "9" * 16)],
        [("funding_from", "١٢٣")],  # digits, not ASCII ones
        [("coin", "")],
        [("coin", "x" * 33)],
        [("coin", "SOL\n")],
        [("coin", "SOL"), ("coin", "BTC")],
        [("since", "1000")],
    ],
)
def test_a_market_query_out_of_its_shape_is_refused_with_400(query: list[tuple[str, str]]) -> None:
    with pytest.raises(Refused) as refused:
        market_query(query)
    assert refused.value.status == 400 and refused.value.detail


def test_a_market_query_reads_its_coin_and_time() -> None:
    assert market_query([("coin", "SOL"), ("funding_from", "1733961600000")]) == ("SOL", 1733961600000)
    assert market_query([]) == (None, None)
