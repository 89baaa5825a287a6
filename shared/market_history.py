"""Recorded market history, read from its sources' own answer shapes (any folder, any window).

A folder holds four files (names fixed, as `tenant_bot/backtest/history-sol-2025/README.md` describes):

- `hyperliquid_sol_funding_hourly.json`: Hyperliquid `fundingHistory` rows
  `{"coin","fundingRate","premium","time"}`; `fundingRate` is per hour, positive pays the short.
- `hyperliquid_sol_candles_daily.json`: Hyperliquid `candleSnapshot` rows `{"t","o","h","l","c","i",...}`
  with `"i": "1d"` (UTC days).
- `kamino_sol_supply_daily.json`, `kamino_usdc_borrow_daily.json`: DefiLlama yields charts (a bare
  list, or its `{"status","data":[...]}` envelope) of rows `{"timestamp", "apyBase", "apyBaseBorrow"}`,
  APY in percent; the supply file's `apyBase` is SOL's supply APY, the borrow file's `apyBaseBorrow` is
  USDC's borrow APY.

Reading is strict: a missing or malformed field is a `HistoryError` naming the file and row. Every
number is a Decimal read from its text; every rate keeps its interval (`FundingRate` hourly, `Apy`
yearly).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from shared.rates import HOUR, Apy, FundingRate

FUNDING_FILE = "hyperliquid_sol_funding_hourly.json"
CANDLES_FILE = "hyperliquid_sol_candles_daily.json"
SUPPLY_FILE = "kamino_sol_supply_daily.json"
BORROW_FILE = "kamino_usdc_borrow_daily.json"
COIN = "SOL"
DAY = timedelta(days=1)
T = TypeVar("T")


class HistoryError(ValueError):
    """The recorded data cannot be read; the message names the file and row."""


@dataclass(frozen=True, slots=True)
class Candle:
    """One UTC day of SOL-PERP prices (USD)."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class Funding:
    """One settled Hyperliquid funding: the hour it settled (UTC, on the hour) and its rate."""

    at: datetime
    rate: FundingRate


@dataclass(frozen=True, slots=True)
class DailyRate:
    """A lending yield recorded at `at`; in force from then until the next record."""

    at: datetime
    apy: Apy


@dataclass(frozen=True)
class History:
    """The whole recorded window, each series oldest first."""

    funding: tuple[Funding, ...]
    candles: dict[date, Candle]
    supply: tuple[DailyRate, ...]  # SOL supply APY on Kamino
    borrow: tuple[DailyRate, ...]  # USDC borrow APY on Kamino
    # Funding recorded before the window (`window()`), oldest first: what a bot starting at the
    # window's first hour would already see in the venue's funding history.
    before: tuple[Funding, ...] = ()

    def supply_at(self, at: datetime) -> Apy:
        return _in_force(self.supply, at, "SOL supply")

    def borrow_at(self, at: datetime) -> Apy:
        return _in_force(self.borrow, at, "USDC borrow")

    def candle_price(self, at: datetime) -> Decimal:
        """SOL's price at `at` on its day's candle path (`candle_price`); `HistoryError` off the record."""
        candle = self.candles.get(at.date())
        if candle is None:
            raise HistoryError(f"no candle recorded for {at.date()}")
        midnight = datetime(at.year, at.month, at.day, tzinfo=UTC)
        return candle_price(candle, Decimal((at - midnight).total_seconds()) / 3600)

    def window(self, start: date | None, end: date | None) -> History:
        """The funding hours whose day lies in [start, end] (either bound open); rates and candles whole."""
        hours = tuple(
            f
            for f in self.funding
            if (start is None or f.at.date() >= start) and (end is None or f.at.date() <= end)
        )
        if not hours:
            raise HistoryError(f"no recorded funding between {start or 'the start'} and {end or 'the end'}")
        first = hours[0].at
        before = tuple(f for f in self.funding if f.at < first)
        return History(hours, self.candles, self.supply, self.borrow, before)


def candle_price(candle: Candle, hour: int | Decimal) -> Decimal:
    """The price `hour` hours (0 <= hour < 24) into the day on a path that visits both extremes.

    Open → first extreme → second extreme → close, reached at hours 0, 8, 16 and 24, straight lines
    between: the low first on an up day, the high first on a down day, so every day's high and low
    are visited (the worst case within the day). The backtest prices each hour on it and the devnet's
    replay each minute, so both live through the same path.
    """
    first, second = (candle.low, candle.high) if candle.close >= candle.open else (candle.high, candle.low)
    points = (candle.open, first, second, candle.close)
    leg, into = divmod(Decimal(hour), 8)
    return points[int(leg)] + (points[int(leg) + 1] - points[int(leg)]) * into / 8


def _in_force(rates: tuple[DailyRate, ...], at: datetime, what: str) -> Apy:
    """The latest rate recorded at or before `at` (no look-ahead)."""
    i = bisect.bisect_right([r.at for r in rates], at)
    if i == 0:
        raise HistoryError(f"no {what} rate recorded at or before {at.isoformat()}")
    return rates[i - 1].apy


def load_history(folder: str | Path) -> History:
    """Read and check the four files of `folder`; `HistoryError` says what is wrong, and where."""
    root = Path(folder)
    if not root.is_dir():
        raise HistoryError(f"{root} is not a folder of recorded history")
    funding = _rows(root / FUNDING_FILE, _funding_row)
    candles = _rows(root / CANDLES_FILE, _candle_row)
    supply = _rows(root / SUPPLY_FILE, lambda row: _rate_row(row, "apyBase"))
    borrow = _rows(root / BORROW_FILE, lambda row: _rate_row(row, "apyBaseBorrow"))
    for name, series in ((FUNDING_FILE, funding), (SUPPLY_FILE, supply), (BORROW_FILE, borrow)):
        for i in range(1, len(series)):
            if series[i].at <= series[i - 1].at:
                raise HistoryError(f"{root / name}: row {i} is not later than the row before it")
    by_day = {c.day: c for c in candles}
    if len(by_day) != len(candles):
        raise HistoryError(f"{root / CANDLES_FILE}: two candles for the same day")
    missing = sorted({f.at.date() for f in funding} - set(by_day))
    if missing:
        raise HistoryError(f"{root / CANDLES_FILE}: no candle for {missing[0]} (a day with funding)")
    return History(tuple(funding), by_day, tuple(supply), tuple(borrow))


def _rows(path: Path, parse: Callable[[dict[str, Any]], T]) -> list[T]:
    try:
        data = json.loads(path.read_text(), parse_float=Decimal)
    except FileNotFoundError:
        raise HistoryError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistoryError(f"{path} is not readable JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]  # DefiLlama's envelope
    if not isinstance(data, list) or not data:
        raise HistoryError(f"{path}: expected a non-empty list of rows")
    out = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise HistoryError(f"{path}: row {i} is not an object")
        try:
            out.append(parse(row))
        except _FieldError as exc:
            raise HistoryError(f"{path}: row {i}: {exc}") from None
    return out


class _FieldError(ValueError):
    pass


def _dec(row: dict[str, Any], key: str) -> Decimal:
    if key not in row:
        raise _FieldError(f"field {key!r} is missing")
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _FieldError(f"field {key!r} is not a number: {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _FieldError(f"field {key!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise _FieldError(f"field {key!r} is not a finite number: {value!r}")
    return number


def _ms(row: dict[str, Any], key: str) -> datetime:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(f"field {key!r} must be a time in milliseconds, got {value!r}")
    return datetime.fromtimestamp(value / 1000, UTC)


def _funding_row(row: dict[str, Any]) -> Funding:
    if row.get("coin") != COIN:
        raise _FieldError(f"field 'coin' must be {COIN!r}, got {row.get('coin')!r}")
    rate = _dec(row, "fundingRate")
    # Settlement stamps land a few ms after the hour: the hour is what was settled.
    at = _ms(row, "time").replace(minute=0, second=0, microsecond=0)
    return Funding(at, FundingRate(rate, HOUR))


def _candle_row(row: dict[str, Any]) -> Candle:
    if row.get("i") != "1d":
        raise _FieldError(f"field 'i' must be '1d' (daily candles), got {row.get('i')!r}")
    start = _ms(row, "t")
    o, h, low, c = (_dec(row, k) for k in ("o", "h", "l", "c"))
    if not (0 < low <= min(o, c) and max(o, c) <= h):
        raise _FieldError(f"prices are not a candle (low {low}, open {o}, close {c}, high {h})")
    return Candle(start.date(), o, h, low, c)


def _rate_row(row: dict[str, Any], key: str) -> DailyRate:
    text = row.get("timestamp")
    if not isinstance(text, str):
        raise _FieldError(f"field 'timestamp' must be an ISO time, got {text!r}")
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _FieldError(f"field 'timestamp' is not an ISO time: {text!r}") from None
    if at.tzinfo is None:
        raise _FieldError(f"field 'timestamp' has no time zone: {text!r}")
    percent = _dec(row, key)
    if percent <= -100:
        raise _FieldError(f"field {key!r} is {percent} %, at or below -100 %")
    return DailyRate(at.astimezone(UTC), Apy(percent / 100))
