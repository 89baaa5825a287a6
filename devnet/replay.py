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

The simulated clock starts at the window's first recorded hour, whose funding counts as settled,
with up to three days of recorded funding before it as the venue's history. After the last recorded
hour the price holds the last close and funding settles at 0. Reading the record is
`shared.market_history`'s (the backtest's own reader), so the devnet and the backtest agree on every
file and every error.
"""

from __future__ import annotations

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

    def __init__(self, history: History) -> None:
        self.history = history
        self.start_ms = _ms(history.funding[0].at)
        self.end_ms = _ms(history.funding[-1].at)
        self._funding = {_ms(f.at): f.rate.per_hour for f in (*history.before, *history.funding)}
        self._last_close = history.candles[history.funding[-1].at.date()].close

    @classmethod
    def load(cls, folder: str | Path, start: date | None = None, end: date | None = None) -> Replay:
        """The record in `folder` (the four files of `shared.market_history`), cut to [start, end]."""
        return cls(load_history(folder).window(start, end))

    def price(self, t_ms: int) -> Decimal:
        """SOL's price at simulated time `t_ms` on the recorded candle path (the last close after it)."""
        if t_ms > self.end_ms and _at(t_ms).date() > _at(self.end_ms).date():
            return self._last_close
        return self.history.candle_price(_at(max(t_ms, self.start_ms)))

    def funding(self, hour_ms: int) -> Decimal:
        """The hourly rate recorded for the hour settled at `hour_ms` (0 where the record has none)."""
        return self._funding.get(hour_ms - hour_ms % HOUR_MS, Decimal(0))

    def lead_in(self) -> list[tuple[int, Decimal]]:
        """The funding settled before the replay's first hour, and that hour's: (time ms, rate)."""
        first = self.start_ms - LEAD_IN_HOURS * HOUR_MS
        return [(t, r) for t, r in self._funding.items() if first < t <= self.start_ms]

    def supply(self, t_ms: int) -> Apy:
        return self.history.supply_at(_at(max(t_ms, self.start_ms)))

    def borrow(self, t_ms: int) -> Apy:
        return self.history.borrow_at(_at(max(t_ms, self.start_ms)))

    def snapshot(self, t_ms: int) -> dict[str, object]:
        return {
            "from": self.history.funding[0].at.isoformat(),
            "to": self.history.funding[-1].at.isoformat(),
            "recorded_hours": len(self.history.funding),
            "ended": t_ms > self.end_ms + HOUR_MS,
        }
