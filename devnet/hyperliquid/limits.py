"""Hyperliquid's request limits: REST weight per IP, and the request allowance per address.

Per IP (gitbook "Rate limits and user limits", shared/research/venues.md §1.7): every REST request
has a weight, and an IP may spend `weight_per_minute` (1,200 on the venue) in any 60 seconds. The
weights are the venue's table in shared/hyperliquid_weights.py, which the shared gateway's meter
reads too (re-exported here for the emulator's modules).
Over the limit the venue answers HTTP 429 with the body `null` (what the official SDK reports:
`ClientError(429, None, 'null', None, headers)`, in many public captures). A refused request costs
nothing; the weight of the items answered is charged after the answer, so one large answer can
take an IP past the limit and the next request is refused.

Choices where the venue is not documented: the window slides over the last 60 real seconds (the
venue does not say whether it slides or resets each minute), and loopback clients are told apart
by address only (every test on 127.0.0.1 shares one budget, as bots on one host share an IP).

Per address (actions only): 1 request per 1 USDC traded, plus an initial 10,000. A batch of n
counts n. Past the cap an action is refused with the venue's text
"Too many cumulative requests sent (N > M) for cumulative volume traded $V. Place taker orders to
free up 1 request per USDC traded." (public captures), except one every 10 seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.hyperliquid_weights import (
    PER_ITEMS,
    WEIGHT_PER_MINUTE,
    batch_length,
    exchange_weight,
    info_weight,
    items_weight,
)

__all__ = [
    "PER_ITEMS",
    "AddressRequests",
    "IpWeights",
    "batch_length",
    "exchange_weight",
    "info_weight",
    "items_weight",
]

WINDOW_S = 60.0
DEFAULT_WEIGHT_PER_MINUTE = WEIGHT_PER_MINUTE
INITIAL_REQUESTS = 10_000
LIMITED_EVERY_MS = 10_000
RATE_LIMITED_BODY = b"null"


class IpWeights:
    """Weight spent per client IP over the last minute; thread-safe (handlers and tests share it)."""

    def __init__(self, weight_per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        if weight_per_minute < 1:
            raise ValueError("the weight per minute must be at least 1")
        self.limit = weight_per_minute
        self._now = now
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}  # the sum of each IP's window, kept as it moves
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()

    def _total(self, ip: str, now: float) -> int:
        """What `ip` spent in the last minute, after forgetting what is older."""
        spent = self._spent.setdefault(ip, deque())
        total = self._totals.get(ip, 0)
        while spent and spent[0][0] <= now - WINDOW_S:
            total -= spent.popleft()[1]
        self._totals[ip] = total
        return total

    def _add(self, ip: str, now: float, weight: int) -> None:
        self._spent[ip].append((now, weight))
        self._totals[ip] += weight

    def spent(self, ip: str) -> int:
        with self._lock:
            return self._total(ip, self._now())

    def by_ip(self) -> dict[str, int]:
        """What each client IP spent in the last minute (the admin API's `GET /state`)."""
        with self._lock:
            now = self._now()
            return {ip: total for ip in list(self._spent) if (total := self._total(ip, now))}

    def admit(self, ip: str, weight: int) -> bool:
        """Charge `weight` to `ip` and say yes, or say no (charging nothing) when it would exceed."""
        with self._lock:
            now = self._now()
            if self._total(ip, now) + weight > self.limit:
                self._refused[ip] = self._refused.get(ip, 0) + 1
                return False
            self._add(ip, now, weight)
            return True

    def refused_by_ip(self) -> dict[str, int]:
        """Requests refused (429) per client IP since the devnet started (the admin API's `GET /state`)."""
        with self._lock:
            return dict(self._refused)

    def charge(self, ip: str, weight: int) -> None:
        """Charge weight known only after answering (the items of an answer)."""
        if weight <= 0:
            return
        with self._lock:
            now = self._now()
            self._total(ip, now)
            self._add(ip, now, weight)


@dataclass
class _Allowance:
    used: int = 0
    last_limited_ms: int = field(default=-LIMITED_EVERY_MS)


class AddressRequests:
    """Actions per address against 10,000 + 1 per USDC traded (the caller holds the exchange lock)."""

    def __init__(self) -> None:
        self._by_user: dict[str, _Allowance] = {}

    def used(self, user: str) -> int:
        allowance = self._by_user.get(user)
        return allowance.used if allowance else 0

    @staticmethod
    def cap(volume: Decimal) -> int:
        return INITIAL_REQUESTS + int(volume)

    def take(self, user: str, requests: int, volume: Decimal, now_ms: int) -> str | None:
        """Count `requests` for `user`; the venue's refusal text when past the cap (nothing counted)."""
        allowance = self._by_user.setdefault(user, _Allowance())
        cap = self.cap(volume)
        if allowance.used + requests > cap:
            if now_ms - allowance.last_limited_ms < LIMITED_EVERY_MS:
                return (
                    f"Too many cumulative requests sent ({allowance.used + requests} > {cap}) for cumulative "
                    f"volume traded ${_dollars(volume)}. Place taker orders to free up 1 request per "
                    "USDC traded."
                )
            allowance.last_limited_ms = now_ms
        allowance.used += requests
        return None

    def answer(self, user: str, volume: Decimal) -> dict[str, Any]:
        """The userRateLimit answer."""
        cap, used = self.cap(volume), self.used(user)
        return {
            "cumVlm": _volume_text(volume),
            "nRequestsUsed": used,
            "nRequestsCap": cap,
            # Requests bought with reserveRequestWeight, which the devnet does not sell.
            "nRequestsSurplus": 0,
        }


def _volume_text(volume: Decimal) -> str:
    text = f"{volume.quantize(Decimal('0.000001')):f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _dollars(volume: Decimal) -> str:
    """Volume in the refusal text: cents at most, no trailing zeros ("$4643", "$87457.46")."""
    text = f"{volume.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
