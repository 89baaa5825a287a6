"""Nonces, tracked per signer (a user, or an agent signing for one), as the venue does.

The 100 highest nonces of each signer are kept. A new nonce must not be one of them, must be
above the smallest of them once 100 are kept, and must lie within (now − 2 days, now + 1 day) of
the wall clock (the real clock, not simulated time: clients stamp nonces with their own clock).
"""

from __future__ import annotations

import heapq

from devnet.hyperliquid import errors

KEEP = 100
PAST_MS = 2 * 24 * 3600 * 1000
FUTURE_MS = 24 * 3600 * 1000


class NonceBook:
    def __init__(self) -> None:
        self._kept: dict[str, list[int]] = {}  # signer → min-heap of its highest nonces
        self._seen: dict[str, set[int]] = {}

    def check(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """The venue's refusal text for this nonce, or None when it may be used."""
        seen = self._seen.get(signer)
        if seen is not None and nonce in seen:
            return errors.duplicate_nonce(nonce)
        if nonce <= now_ms - PAST_MS:
            return errors.nonce_too_low(nonce, now_ms - PAST_MS)
        if nonce >= now_ms + FUTURE_MS:
            return errors.nonce_too_high(nonce, now_ms + FUTURE_MS)
        kept = self._kept.get(signer)
        if kept is not None and len(kept) >= KEEP and nonce <= kept[0]:
            return errors.nonce_too_low(nonce, kept[0])
        return None

    def use(self, signer: str, nonce: int) -> None:
        kept = self._kept.setdefault(signer, [])
        seen = self._seen.setdefault(signer, set())
        heapq.heappush(kept, nonce)
        seen.add(nonce)
        if len(kept) > KEEP:
            seen.discard(heapq.heappop(kept))
