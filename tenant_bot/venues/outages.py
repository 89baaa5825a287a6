"""Is a venue or chain down? Per-source bookkeeping of failures and of a slot that stops moving.

Pure logic with explicit times, so the risk engine decides from one `outages(now)` call and tests need
no clock. A source is out when either
- its last `failures_to_trip` calls in a row failed (one failure is noise: a timeout, a 502 from a
  load balancer), `since` = the first failure of that run; or
- the slot / block number it reports has not advanced for `stale_after` seconds (a node that answers
  but is stuck, or a halted chain), `since` = the last time it was seen advancing.
A success ends a failure run; a slot that moves again ends staleness. Recovery clears the outage.

`OutageDetector.probe` awaits a client call and feeds the detector with what happened: every venue
and chain read of a tick goes through it.

Timing. The venues' reads are the tick's own, every tick. The chains' liveness probes (slot, block
number) may be spaced while nothing needs them closely (the observer decides: every tick while an
execution is in flight, a position is at risk or an entry may be decided): `due(source, now, every)`
says when, and keeps them at every tick from the first sign of trouble (a failed probe, a height that
did not advance) until the source is well again. So an outage is still called three probes after it
is first seen, within about half a minute; spaced, the first sign comes up to `every` seconds later
(the bot's `liveness_probe_seconds`, 15 by default: called within about 45 s). A stuck height is
called `stale_after` seconds after it was last seen moving, as before: `every` must stay below
`stale_after`, or a chain would look stale between two probes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import httpx

from shared.retry import RetriesExhausted

T = TypeVar("T")
# What a venue or chain that cannot answer raises (HTTP failures, retries exhausted, a refused or
# reset connection): an outage to count, never a reason to stop a tick.
UNREACHABLE = (httpx.HTTPError, RetriesExhausted, OSError)

SOURCES = ("hyperliquid", "asgard", "solana", "arbitrum")
# Three failures in a row: with a 10 s client timeout and a probe every few seconds, an outage is
# called within about half a minute, and two unlucky requests never trip it.
DEFAULT_FAILURES_TO_TRIP = 3
# Solana makes a slot every ~0.4 s and Arbitrum a block every ~0.25 s when busy, but Arbitrum makes no
# block while idle: 60 s without progress is far outside normal on Solana and still safe on Arbitrum
# mainnet, which has steady traffic.
DEFAULT_STALE_AFTER_S = 60.0


def unreachable(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, is `UNREACHABLE`: a client that wraps a failed
    request in its own error (the Solana client's `SolanaRpcError` from an HTTP 503) still reports an
    outage, not a bug."""
    cause: BaseException | None = exc
    for _ in range(8):  # a chain of causes is short; never follow a cycle for ever
        if cause is None:
            return False
        if isinstance(cause, UNREACHABLE):
            return True
        cause = cause.__cause__
    return False


@dataclass(frozen=True)
class Outage:
    source: str
    reason: str
    since: datetime


@dataclass
class _State:
    failures: int = 0
    first_failure_at: datetime | None = None
    last_reason: str = ""
    slot: int | None = None
    slot_advanced_at: datetime | None = None
    probed_at: datetime | None = None  # the last answer or failure
    stalled: bool = False  # the last height reported did not advance


class OutageDetector:
    def __init__(
        self,
        *,
        failures_to_trip: int = DEFAULT_FAILURES_TO_TRIP,
        stale_after: float = DEFAULT_STALE_AFTER_S,
        sources: tuple[str, ...] = SOURCES,
    ) -> None:
        if failures_to_trip < 1:
            raise ValueError("failures_to_trip must be at least 1")
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self.failures_to_trip = failures_to_trip
        self.stale_after = stale_after
        self._states = {s: _State() for s in sources}

    def _state(self, source: str) -> _State:
        try:
            return self._states[source]
        except KeyError:
            raise ValueError(f"unknown source {source!r}; known: {', '.join(self._states)}") from None

    def record_success(self, source: str, at: datetime) -> None:
        """The source answered: any run of failures is over."""
        state = self._state(source)
        state.failures = 0
        state.first_failure_at = None
        state.last_reason = ""
        state.probed_at = at

    def record_failure(self, source: str, at: datetime, reason: str) -> None:
        state = self._state(source)
        if state.failures == 0:
            state.first_failure_at = at
        state.failures += 1
        state.last_reason = reason
        state.probed_at = at

    def record_slot(self, source: str, slot: int, at: datetime) -> None:
        """The source reported its slot / block number: that is also a success."""
        self.record_success(source, at)
        state = self._state(source)
        state.stalled = state.slot is not None and slot <= state.slot
        if state.slot is None or slot > state.slot:
            state.slot = slot
            state.slot_advanced_at = at

    def outages(self, now: datetime) -> dict[str, Outage]:
        out: dict[str, Outage] = {}
        for source, state in self._states.items():
            found: list[Outage] = []
            if state.failures >= self.failures_to_trip and state.first_failure_at is not None:
                found.append(
                    Outage(
                        source,
                        f"{state.failures} failures in a row; last: {state.last_reason}",
                        state.first_failure_at,
                    )
                )
            if state.slot_advanced_at is not None:
                idle = (now - state.slot_advanced_at).total_seconds()
                if idle >= self.stale_after:
                    found.append(
                        Outage(
                            source,
                            f"slot {state.slot} has not advanced for {idle:.0f}s",
                            state.slot_advanced_at,
                        )
                    )
            if found:
                first = min(found, key=lambda o: o.since)
                out[source] = Outage(source, "; ".join(o.reason for o in found), first.since)
        return out

    def due(self, source: str, now: datetime, every: float) -> bool:
        """Whether a probe of `source` spaced `every` seconds apart should run now: never probed,
        probed `every` ago, or suspect (its last probe failed or its height did not advance: then
        every tick, so an outage is called as soon as `failures_to_trip` allows)."""
        state = self._state(source)
        if state.probed_at is None or state.failures or state.stalled:
            return True
        return (now - state.probed_at).total_seconds() >= every

    def is_down(self, source: str, now: datetime) -> bool:
        return source in self.outages(now)

    async def probe(
        self, source: str, call: Awaitable[T], at: datetime, *, height: bool = False
    ) -> tuple[T | None, str | None]:
        """Await `call` and record what happened: (its answer, None), or (None, why) when the
        source could not answer (`UNREACHABLE`; anything else is a bug and is raised).

        `height`: the answer is the source's slot or block number, which must keep advancing.
        """
        try:
            result = await call
        except Exception as exc:
            if not unreachable(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}"[:200]
            self.record_failure(source, at, reason)
            return None, reason
        if height and isinstance(result, int):
            self.record_slot(source, result, at)
        else:
            self.record_success(source, at)
        return result, None
