"""Candles built from the simulated minutes: a range read walks back from the newest minute only as
far as it needs, and answers what a walk over every minute would."""

from __future__ import annotations

import random
from decimal import Decimal

from devnet.hyperliquid.history import INTERVALS_MS, MINUTE_MS, Candles


def _every_minute(
    candles: Candles, coin: str, interval: str, start: int, end: int
) -> list[tuple[int, str, str]]:
    """(start, open, close) of each candle, from a walk over every minute in time order."""
    span, out = INTERVALS_MS[interval], {}
    for m in candles._minutes[coin]:
        t = m.t - m.t % span
        if start < t + span and t <= end:
            o, _ = out.get(t, (m.o, m.c))
            out[t] = (o, m.c)
    return [(t, str(o), str(c)) for t, (o, c) in sorted(out.items())]


def test_a_range_answers_what_every_minute_says() -> None:
    rng, candles, px = random.Random(3), Candles(), Decimal(150)
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
    for i in range(3000):
        px += Decimal(rng.randint(-50, 50)) / 100
        candles.on_step("SOL", t0 + i * MINUTE_MS + (MINUTE_MS if i > 1500 else 0) * 30, px)  # a gap
    last = t0 + 3030 * MINUTE_MS  # just past the newest minute (2,999 steps, 30 minutes of gap)
    for interval in ("1m", "15m", "1h", "1d"):
        for start, end in (
            (last - 5 * INTERVALS_MS[interval], last),
            (t0, last),
            (t0 + 7 * MINUTE_MS, t0 + 700 * MINUTE_MS),
        ):
            got = [(c["t"], c["o"], c["c"]) for c in candles.snapshot("SOL", interval, start, end)]
            want = [(t, o, c) for t, o, c in _every_minute(candles, "SOL", interval, start, end)]
            assert [(t, Decimal(o), Decimal(c)) for t, o, c in got] == [
                (t, Decimal(o), Decimal(c)) for t, o, c in want
            ], (interval, start, end)
            assert got, (interval, start, end)
