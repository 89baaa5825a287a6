"""Simulated time.

Markets (prices, funding, interest) run on simulated time, `speed` times faster than the wall
clock and jumpable with `advance`, so an hour of funding can be shown in ten seconds or tested in
one call. Chains (Solana slots, Arbitrum blocks) and signature freshness checks (Hyperliquid nonces,
token expiry) stay on the real clock: a client's wall clock is what it stamps nonces with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SimClock:
    def __init__(
        self, speed: float, start_ms: int | None = None, real: Callable[[], float] = time.time
    ) -> None:
        self._real = real
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._anchor_real = real()
        self._anchor_sim = (start_ms / 1000.0) if start_ms is not None else self._anchor_real

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._lock:
            return self._anchor_sim + (self._real() - self._anchor_real) * self._speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def real_ms(self) -> int:
        """Wall-clock epoch milliseconds (for nonce windows and token lifetimes)."""
        return int(self._real() * 1000)

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        with self._lock:
            now_real = self._real()
            self._anchor_sim = self._anchor_sim + (now_real - self._anchor_real) * self._speed
            self._anchor_real = now_real
            self._speed = float(speed)

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (never backward)."""
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._anchor_sim += seconds
