"""OutageDetector with explicit times: failure runs, stale slots, recovery, its probe, and when a spaced
probe is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.retry import RetryPolicy
from tenant_bot.chain.arbitrum import ArbitrumClient, ArbitrumRpcError
from tenant_bot.chain.solana import SolanaRpcError
from tenant_bot.venues.outages import DEFAULT_FAILURES_TO_TRIP, Outage, OutageDetector

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_consecutive_failures_trip_an_outage_dated_from_the_first_failure() -> None:
    d = OutageDetector(failures_to_trip=3)
    d.record_failure("asgard", at(0), "timeout")
    d.record_failure("asgard", at(5), "HTTP 502")
    assert d.outages(at(6)) == {}
    d.record_failure("asgard", at(10), "HTTP 503")
    outage = d.outages(at(11))["asgard"]
    assert outage == Outage("asgard", outage.reason, at(0))
    assert "3 failures" in outage.reason and "HTTP 503" in outage.reason
    assert d.is_down("asgard", at(11)) and not d.is_down("solana", at(11))


def test_a_success_between_failures_restarts_the_count_and_clears_the_outage() -> None:
    d = OutageDetector(failures_to_trip=2)
    d.record_failure("hyperliquid", at(0), "x")
    d.record_success("hyperliquid", at(1))
    d.record_failure("hyperliquid", at(2), "y")
    assert d.outages(at(3)) == {}
    d.record_failure("hyperliquid", at(4), "z")
    assert d.outages(at(5))["hyperliquid"].since == at(2)
    d.record_success("hyperliquid", at(6))
    assert d.outages(at(7)) == {}


def test_a_slot_that_stops_advancing_is_an_outage_since_it_last_moved() -> None:
    d = OutageDetector(stale_after=30)
    d.record_slot("solana", 100, at(0))
    d.record_slot("solana", 101, at(10))
    d.record_slot("solana", 101, at(20))  # answers, but stuck
    d.record_slot("solana", 99, at(30))  # a lagging node going backwards is not progress either
    assert d.outages(at(39)) == {}
    outage = d.outages(at(40))["solana"]
    assert outage.since == at(10) and "101" in outage.reason
    d.record_slot("solana", 102, at(41))
    assert d.outages(at(42)) == {}


def test_both_signals_at_once_report_one_outage_from_the_earliest() -> None:
    d = OutageDetector(failures_to_trip=1, stale_after=10)
    d.record_slot("arbitrum", 5, at(0))
    d.record_failure("arbitrum", at(20), "connect refused")
    outage = d.outages(at(21))["arbitrum"]
    assert outage.since == at(0) and "connect refused" in outage.reason and "not advanced" in outage.reason


def test_knobs_and_sources_are_checked() -> None:
    assert DEFAULT_FAILURES_TO_TRIP >= 2  # one failure alone must never be an outage by default
    with pytest.raises(ValueError):
        OutageDetector(failures_to_trip=0)
    with pytest.raises(ValueError):
        OutageDetector(stale_after=0)
    with pytest.raises(ValueError, match="unknown source"):
        OutageDetector().record_failure("binance", at(0), "x")


async def test_probe_records_slots_successes_and_failures() -> None:
    d = OutageDetector(failures_to_trip=1, stale_after=5)
    now = [at(0)]

    async def slot() -> int:
        return 42

    async def broken() -> int:
        raise ConnectionError("refused")

    async def markets() -> list[str]:
        return ["ok"]

    assert await d.probe("solana", slot(), now[0], height=True) == (42, None)
    assert await d.probe("asgard", broken(), now[0]) == (None, "ConnectionError: refused")
    assert d.outages(at(1))["asgard"].reason.endswith("ConnectionError: refused")
    assert await d.probe("asgard", markets(), now[0]) == (["ok"], None)
    assert "asgard" not in d.outages(at(1))
    assert d.outages(at(6))["solana"].since == at(0)  # 42 never advanced


async def test_a_client_error_raised_from_a_failed_request_is_an_outage_and_a_bug_is_not() -> None:
    """The Solana client raises its own SolanaRpcError from the HTTP 503 of a chain that is down: still
    an outage (before, it escaped the probe and failed every tick, so the breaker never saw it)."""
    d = OutageDetector(failures_to_trip=1)

    async def down() -> int:
        request = httpx.Request("POST", "http://127.0.0.1:1/")
        try:
            httpx.Response(503, request=request).raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise SolanaRpcError("solana getSlot: HTTPStatusError") from exc
        return 0

    async def wrong() -> int:
        raise SolanaRpcError("solana getSlot: invalid params")

    result, why = await d.probe("solana", down(), at(0), height=True)
    assert result is None and why == "SolanaRpcError: solana getSlot: HTTPStatusError"
    assert d.is_down("solana", at(1))
    with pytest.raises(SolanaRpcError, match="invalid params"):
        await d.probe("solana", wrong(), at(2), height=True)


async def test_an_arbitrum_node_answering_503_is_an_outage() -> None:
    """An Arbitrum node answering 503 counts as the chain not answering (the client's retries end in
    RetriesExhausted); a JSON-RPC error from a live node is still raised."""

    def node(request: httpx.Request) -> httpx.Response:
        if b"eth_blockNumber" in request.content:
            return httpx.Response(503, text="Service Unavailable")
        return httpx.Response(
            200, json={"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad"}}
        )

    client = ArbitrumClient(
        "http://127.0.0.1:1", transport=httpx.MockTransport(node), retry=RetryPolicy(attempts=2, base_delay=0)
    )
    d = OutageDetector(failures_to_trip=1)
    try:
        result, why = await d.probe("arbitrum", client.block_number(), at(0), height=True)
        assert result is None and why is not None and why.startswith("RetriesExhausted")
        assert d.is_down("arbitrum", at(1))
        with pytest.raises(ArbitrumRpcError, match="bad"):
            await d.probe("arbitrum", client.chain_id(), at(2))
    finally:
        await client.aclose()


def test_a_spaced_probe_is_due_first_then_after_its_interval() -> None:
    d = OutageDetector()
    assert d.due("solana", at(0), every=15)  # never probed
    d.record_slot("solana", 100, at(0))
    assert not d.due("solana", at(14.9), every=15)
    assert d.due("solana", at(15), every=15)


def test_a_suspect_source_is_probed_every_tick_until_it_is_well() -> None:
    d = OutageDetector(failures_to_trip=3)
    d.record_slot("solana", 100, at(0))
    d.record_failure("solana", at(15), "timeout")
    assert d.due("solana", at(15.1), every=15)  # a failure: every tick, so three come in a row soon
    d.record_failure("solana", at(20), "timeout")
    d.record_failure("solana", at(25), "timeout")
    assert d.outages(at(25))["solana"].since == at(15)
    d.record_slot("solana", 150, at(30))
    assert not d.due("solana", at(31), every=15)  # well again: spaced again
    d.record_slot("solana", 150, at(45))  # answers, but its height did not move
    assert d.due("solana", at(46), every=15)
    d.record_slot("solana", 160, at(46))
    assert not d.due("solana", at(47), every=15)


def test_spaced_probes_never_make_a_moving_chain_look_stale() -> None:
    """The slowest spacing the bot allows (30 s) against the stale limit (60 s): a chain that moves
    is never called down between two probes."""
    d = OutageDetector()
    t, slot = 0.0, 0
    while t < 600:
        if d.due("arbitrum", at(t), every=30):
            slot += 75
            d.record_slot("arbitrum", slot, at(t))
        assert d.outages(at(t)) == {}
        t += 5
