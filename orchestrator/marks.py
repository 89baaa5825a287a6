"""The venue's mark prices, as the signing broker reads them to bound the orders it signs.

The broker never takes a price from the bot that asks for a signature: it reads Hyperliquid's own
`POST /info {"type": "metaAndAssetCtxs"}` (the perps' universe, and for each its context with
`markPx`, in the same order, so the asset id of an order is the index of its context) at the control
plane's `hyperliquid_url`. The mark is the venue's robust price (it margins and liquidates with it),
harder to push than a mid by resting orders of one's own.

A read is made only when an order is to be signed, and kept `max_age` seconds, so the venue sees one
request per few seconds of trading at most. A failed read (no answer, an HTTP error, an answer of
another shape) is kept as long, with its reason: orders that may open exposure are refused meanwhile,
reduce-only orders and cancels are still signed (`shared.transaction_policy`).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from shared.transaction_policy import PerpMarks

# Seconds one read of the venue may take: the bot waiting for its signature waits this long at most.
READ_TIMEOUT_SECONDS = 3.0


def parse_marks(answer: Any) -> dict[int, Decimal]:
    """Mark prices by asset id from a `metaAndAssetCtxs` answer (`[meta, contexts]`); delisted perps
    and marks that are not positive numbers are left out. Raises ValueError on another shape."""
    try:
        meta, contexts = answer
        universe = meta["universe"]
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError("not a metaAndAssetCtxs answer") from exc
    if not isinstance(universe, list) or not isinstance(contexts, list):
        raise ValueError("not a metaAndAssetCtxs answer")
    marks: dict[int, Decimal] = {}
    for asset, (entry, context) in enumerate(zip(universe, contexts, strict=False)):
        if not isinstance(entry, dict) or not isinstance(context, dict) or entry.get("isDelisted"):
            continue
        try:
            mark = Decimal(str(context["markPx"]))
        except (KeyError, InvalidOperation):
            continue
        if mark.is_finite() and mark > 0:
            marks[asset] = mark
    return marks


class VenueMarks:
    """Hyperliquid's mark prices for the broker: `current()` reads them, or answers the last read while
    it is younger than `max_age` seconds (a failed read included)."""

    def __init__(self, hyperliquid_url: str, *, max_age: float) -> None:
        self.url = hyperliquid_url.rstrip("/") + "/info"
        self.max_age = max_age
        self._last: tuple[float, PerpMarks] | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> PerpMarks:
        async with self._lock:  # concurrent orders share one read
            if self._last is None or time.monotonic() - self._last[0] >= self.max_age:
                self._last = (time.monotonic(), await self._read())
            return self._last[1]

    async def _read(self) -> PerpMarks:
        # A client per read: reads are few (one per few seconds of trading), and nothing stays open.
        try:
            async with httpx.AsyncClient(timeout=READ_TIMEOUT_SECONDS) as http:
                response = await http.post(self.url, json={"type": "metaAndAssetCtxs"})
        except httpx.HTTPError as exc:
            return PerpMarks(unreadable=f"{self.url} did not answer: {type(exc).__name__}")
        if response.status_code != 200:
            return PerpMarks(unreadable=f"{self.url} answered HTTP {response.status_code}")
        try:
            return PerpMarks(parse_marks(response.json()))
        except ValueError:  # JSON that is not JSON is a ValueError too
            return PerpMarks(unreadable=f"{self.url} answered something other than metaAndAssetCtxs")
