"""What the venue remembers over time: candles of the mark price, and each account's value and PnL.

Candles (candleSnapshot): one-minute candles are kept (the 5,000 most recent per coin, as the venue
keeps only the most recent 5,000 candles of any interval), each simulated minute moving the mark
from the previous close to the new one; trades add their size to `v` and one to `n`. Longer
intervals are built from them on request. Field names and interval names as on the venue
(gitbook "Info endpoint": candle snapshot).

Portfolio (portfolio): per account, the account value (perp plus spot USDC) and the PnL (value less
net deposits) sampled every simulated hour, and the current one at each request; the periods
day, week, month, allTime (and the same for perps only, which on the devnet are the same numbers:
it has no spot trading).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from devnet.hyperliquid.wire import fmt, fmt_usd

MINUTE_MS = 60_000
KEEP_CANDLES = 5000
INTERVALS_MS = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
    "3d": 3 * 1440 * MINUTE_MS,
    "1w": 7 * 1440 * MINUTE_MS,
    "1M": 30 * 1440 * MINUTE_MS,  # calendar months on the venue; 30 days here
}
KEEP_SAMPLES = 24 * 30 * 2  # two months of hourly account samples
PERIODS_MS = {"day": 86_400_000, "week": 7 * 86_400_000, "month": 30 * 86_400_000, "allTime": None}


@dataclass
class Candle:
    t: int
    o: Decimal
    h: Decimal
    low: Decimal
    c: Decimal
    v: Decimal = Decimal(0)
    n: int = 0

    def touch(self, px: Decimal) -> None:
        self.h, self.low, self.c = max(self.h, px), min(self.low, px), px

    def merge(self, other: Candle) -> None:
        self.h = max(self.h, other.h)
        self.low = min(self.low, other.low)
        self.c = other.c
        self.v += other.v
        self.n += other.n


class Candles:
    def __init__(self) -> None:
        self._minutes: dict[str, deque[Candle]] = {}

    def on_step(self, coin: str, step_ms: int, px: Decimal) -> None:
        """The mark at a simulated minute: it moves that minute's candle from the previous close."""
        self._candle(coin, step_ms, px).touch(px)

    def on_trade(self, coin: str, t_ms: int, px: Decimal, sz: Decimal) -> None:
        candle = self._candle(coin, t_ms, px)
        candle.touch(px)
        candle.v += sz
        candle.n += 1

    def _candle(self, coin: str, t_ms: int, px: Decimal) -> Candle:
        """The candle of the minute holding `t_ms`, opened at the previous close (or `px`)."""
        minutes = self._minutes.setdefault(coin, deque(maxlen=KEEP_CANDLES))
        start = t_ms - t_ms % MINUTE_MS
        if minutes and minutes[-1].t >= start:
            return minutes[-1]
        prev = minutes[-1].c if minutes else px
        minutes.append(Candle(start, prev, prev, prev, prev))
        return minutes[-1]

    def snapshot(self, coin: str, interval: str, start: int, end: int) -> list[dict[str, Any]]:
        span = INTERVALS_MS[interval]
        # The minutes are in time order: walk back from the newest only as far as `start` (the
        # websocket's candle feeds ask for the latest candle many times a second).
        wanted: list[Candle] = []
        for m in reversed(self._minutes.get(coin, ())):
            t = m.t - m.t % span
            if t + span <= start:
                break
            if t <= end:
                wanted.append(m)
        out: dict[int, Candle] = {}
        for m in reversed(wanted):
            t = m.t - m.t % span
            got = out.get(t)
            if got is None:
                out[t] = Candle(t, m.o, m.h, m.low, m.c, m.v, m.n)
            else:
                got.merge(m)
        return [
            {
                "t": c.t,
                "T": c.t + span - 1,
                "s": coin,
                "i": interval,
                "o": fmt(c.o),
                "c": fmt(c.c),
                "h": fmt(c.h),
                "l": fmt(c.low),
                "v": fmt(c.v),
                "n": c.n,
            }
            for c in sorted(out.values(), key=lambda c: c.t)[-KEEP_CANDLES:]
        ]


@dataclass(frozen=True)
class Sample:
    t: int
    value: Decimal
    pnl: Decimal
    volume: Decimal


class AccountHistory:
    def __init__(self) -> None:
        self._samples: dict[str, deque[Sample]] = {}

    def record(self, user: str, sample: Sample) -> None:
        self._samples.setdefault(user, deque(maxlen=KEEP_SAMPLES)).append(sample)

    def portfolio(self, user: str, now: Sample) -> list[Any]:
        samples = [*self._samples.get(user, ()), now]
        periods = []
        for name, span in PERIODS_MS.items():
            kept = [s for s in samples if span is None or s.t >= now.t - span]
            first = kept[0]
            data = {
                "accountValueHistory": [[s.t, fmt_usd(s.value)] for s in kept],
                "pnlHistory": [[s.t, fmt_usd(s.pnl - first.pnl)] for s in kept],
                "vlm": fmt_usd(now.volume - first.volume),
            }
            periods.append([name, data])
        # Perps only: the same figures, the devnet having no spot trading.
        periods += [["perp" + name[0].upper() + name[1:], data] for name, data in list(periods)]
        return periods
