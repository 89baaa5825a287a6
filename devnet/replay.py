"""Recorded market history replayed on the devnet (`basis devnet up --history DIR`).

The market simulator asks a `Replay` for what the record says, in simulated time:

- SOL's oracle and mark price each simulated minute: the day's candle path of
  `shared.market_history.candle_price` (open → first extreme → second extreme → close), the same path
  the backtest prices its hours on, so a bot on the replay and the backtest see the same prices at
  each hour;
- SOL's hourly funding as recorded (positive pays the short); an hour missing from the record
  settles at 0; the predicted rate is the last settled one (the record has no forecast; the backtest
  reads the same);
- Kamino's SOL supply and USDC borrow APY in force at each minute (the latest recorded at or before).

The record is shifted in time: its first hour is replayed at the hour the devnet starts (the wall
clock's, rounded down), and every recorded time moves by the same whole number of hours. Clients
stamp nonces and ask for "the last 24 hours" by the wall clock, so a market dated 2025 would answer
them with nothing; the prices, rates and their order within each day are the record's. The state
(`GET /state`, `market.replay`) says which recorded hour is being replayed. The first recorded hour's
funding counts as settled at start, with up to three days of recorded funding before it as the
venue's history. After the last recorded hour the price holds the last close and funding settles
at 0. Reading the record is `shared.market_history`'s (the backtest's own reader), so the devnet and
the backtest agree on every file and every error.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from shared.market_history import History, load_history
from shared.rates import Apy

HOUR_MS = 3_600_000
LEAD_IN_HOURS = 72  # the venue's funding history at start, as the random market seeds it


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class Replay:
    """The recorded window the devnet's SOL market follows."""

    def __init__(self, history: History, start_ms: int) -> None:
        """Replay `history` with its first recorded hour at simulated time `start_ms` (on an hour)."""
        if start_ms % HOUR_MS:
            raise ValueError("a replay starts on a whole hour")
        self.history = history
        self.start_ms = start_ms
        self.shift_ms = start_ms - _ms(history.funding[0].at)  # simulated time - recorded time
        self._end_ms = _ms(history.funding[-1].at)  # recorded
        self._funding = {_ms(f.at): f.rate.per_hour for f in (*history.before, *history.funding)}
        self._last_close = history.candles[history.funding[-1].at.date()].close

    @classmethod
    def load(
        cls,
        folder: str | Path,
        start: date | None = None,
        end: date | None = None,
        start_ms: int | None = None,
    ) -> Replay:
        """The record in `folder` (the four files of `shared.market_history`), cut to [start, end],
        replayed from `start_ms` (default: the wall clock's current hour)."""
        if start_ms is None:
            now = int(time.time() * 1000)
            start_ms = now - now % HOUR_MS
        return cls(load_history(folder).window(start, end), start_ms)

    def recorded(self, t_ms: int) -> int:
        """The recorded time replayed at simulated time `t_ms` (never before the first hour)."""
        return max(t_ms, self.start_ms) - self.shift_ms

    def price(self, t_ms: int) -> Decimal:
        """SOL's price at simulated time `t_ms` on the recorded candle path (the last close after it)."""
        at = self.recorded(t_ms)
        if at > self._end_ms and _at(at).date() > _at(self._end_ms).date():
            return self._last_close
        return self.history.candle_price(_at(at))

    def funding(self, hour_ms: int) -> Decimal:
        """The hourly rate recorded for the hour settled at simulated `hour_ms` (0 where none is)."""
        at = hour_ms - hour_ms % HOUR_MS - self.shift_ms
        return self._funding.get(at, Decimal(0))

    def lead_in(self) -> list[tuple[int, Decimal]]:
        """The funding settled before the replay's first hour, and that hour's: (simulated ms, rate)."""
        first = _ms(self.history.funding[0].at)
        return [
            (t + self.shift_ms, r)
            for t, r in self._funding.items()
            if first - LEAD_IN_HOURS * HOUR_MS < t <= first
        ]

    def supply(self, t_ms: int) -> Apy:
        return self.history.supply_at(_at(self.recorded(t_ms)))

    def borrow(self, t_ms: int) -> Apy:
        return self.history.borrow_at(_at(self.recorded(t_ms)))

    def snapshot(self, t_ms: int) -> dict[str, object]:
        return {
            "from": self.history.funding[0].at.isoformat(),
            "to": self.history.funding[-1].at.isoformat(),
            "recorded_hours": len(self.history.funding),
            "replaying": _at(self.recorded(t_ms)).isoformat(),
            "shift_hours": self.shift_ms // HOUR_MS,
            "ended": self.recorded(t_ms) > self._end_ms + HOUR_MS,
        }
