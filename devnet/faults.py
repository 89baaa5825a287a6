"""Fault injection: per-venue latency, server errors, 429s, dropped transactions, refused or partly
filled Hyperliquid orders, and outages.

Set through the admin API (`POST /faults`, `POST /scenario` with `venue_outage`). Every emulator's
HTTP front is wrapped in `FaultMiddleware`; transaction paths ask `should_drop(venue)` themselves,
because what "dropped" means differs by venue (a Solana transaction that never lands, an Arbitrum
transaction never mined, a Hyperliquid action applied whose answer is lost).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from devnet.clock import SimClock
from devnet.config import VENUES

Style = Literal["http", "jsonrpc"]


@dataclass
class VenueFaults:
    # Added delay before every answer, in real milliseconds.
    latency_ms: int = 0
    # Fraction of requests answered with a server error (HTTP 500, or HTTP 503 for JSON-RPC nodes).
    error_rate: float = 0.0
    # Fraction of requests answered 429 Too Many Requests.
    rate_429: float = 0.0
    # Fraction of transactions accepted and then lost (see the module doc for what each venue does).
    drop_rate: float = 0.0
    # Asgard only: built transactions carry an instruction for a program outside any allow-list
    # (the "rogue program" fault: `POST /faults {"venue": "asgard", "rogue_program": true}`).
    foreign_program: bool = False
    # Hyperliquid only: orders that would add to a position are refused for margin, as the venue
    # refuses an under-funded account ("Insufficient margin to place order."); reduce-only orders
    # still work. Lets a test make a hedge fail while reads and exits keep working.
    reject_orders: bool = False
    # Hyperliquid only: the share of an IOC order's size that fills when the order is not
    # reduce-only (rounded down to the asset's lot; the rest is cancelled), as a thin book fills
    # it. The answer is the venue's for a partial IOC: `filled` with `totalSz` below the size sent.
    # A share that rounds to nothing is "could not immediately match". 1 = no fault. Lets a test
    # make a hedge fill partly while exits (reduce-only) keep filling in full.
    ioc_fill_fraction: float = 1.0

    def validate(self) -> None:
        if not 0 <= self.latency_ms <= 60_000:
            raise ValueError("latency_ms must be between 0 and 60000")
        for name in ("error_rate", "rate_429", "drop_rate", "ioc_fill_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    def is_clear(self) -> bool:
        return self == VenueFaults()


class FaultBook:
    def __init__(self, seed: int, clock: SimClock) -> None:
        self._clock = clock
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()
        self._faults: dict[str, VenueFaults] = {v: VenueFaults() for v in VENUES}
        self._outages: dict[str, int | None] = {}  # venue → simulated ms it ends (None: until cleared)

    def _venue(self, venue: str) -> str:
        if venue not in self._faults:
            raise ValueError(f"unknown venue {venue!r}; choose one of {', '.join(VENUES)}")
        return venue

    def get(self, venue: str) -> VenueFaults:
        return self._faults[self._venue(venue)]

    def set(self, venue: str, **changes: Any) -> VenueFaults:
        """Change some knobs of one venue; the others keep their value."""
        venue = self._venue(venue)
        allowed = {f.name for f in fields(VenueFaults)}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            updated = VenueFaults(**{**asdict(self._faults[venue]), **changes})
            updated.validate()
            self._faults[venue] = updated
            return updated

    def clear(self, venue: str | None = None) -> None:
        with self._lock:
            for v in [self._venue(venue)] if venue else list(self._faults):
                self._faults[v] = VenueFaults()
                self._outages.pop(v, None)

    def start_outage(self, venue: str, minutes: float | None) -> None:
        venue = self._venue(venue)
        end = None if minutes is None else self._clock.now_ms() + int(minutes * 60_000)
        with self._lock:
            self._outages[venue] = end

    def end_outage(self, venue: str | None = None) -> None:
        with self._lock:
            if venue is None:
                self._outages.clear()
            else:
                self._outages.pop(self._venue(venue), None)

    def is_down(self, venue: str) -> bool:
        end = self._outages.get(venue, 0)
        if end == 0:
            return False
        if end is not None and self._clock.now_ms() >= end:
            with self._lock:
                self._outages.pop(venue, None)
            return False
        return True

    def roll(self, probability: float) -> bool:
        if probability <= 0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def should_drop(self, venue: str) -> bool:
        return self.roll(self.get(venue).drop_rate)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock.now_ms()
        return {
            "faults": {v: asdict(f) for v, f in self._faults.items() if not f.is_clear()},
            "outages": {
                v: {
                    "until_sim_ms": end,
                    "remaining_sim_s": None if end is None else max(0, (end - now) // 1000),
                }
                for v, end in self._outages.items()
                if self.is_down(v)
            },
        }


class FaultMiddleware:
    """ASGI middleware: outage → 503, then latency, then random 429 / server error, else the app."""

    def __init__(self, app: Any, book: FaultBook, venue: str, style: Style = "http") -> None:
        self.app = app
        self.book = book
        self.venue = venue
        self.style = style

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        book, venue = self.book, self.venue
        if book.is_down(venue):
            await _answer(send, 503, f"{venue} is unavailable (devnet outage)")
            return
        faults = book.get(venue)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if book.roll(faults.rate_429):
            await _answer(send, 429, "Too Many Requests", retry_after=1)
            return
        if book.roll(faults.error_rate):
            await _answer(
                send,
                503 if self.style == "jsonrpc" else 500,
                "Service Unavailable" if self.style == "jsonrpc" else "Internal Server Error",
            )
            return
        await self.app(scope, receive, send)


async def _answer(send: Any, status: int, text: str, retry_after: int | None = None) -> None:
    body = json.dumps({"error": text}).encode() if status != 429 else text.encode()
    headers = [
        (b"content-type", b"application/json" if status != 429 else b"text/plain"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
