"""Rates that say what period they cover.

A funding rate without its interval is the most common bug in funding-arbitrage bots (Hyperliquid
pays hourly, Binance and Bybit every 8 hours); `FundingRate` cannot be built without one. Lending
rates are annual yields (`Apy`), compounding; funding is paid simply, so its annual figure is an APR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from shared.money import Number, to_decimal

HOUR = timedelta(hours=1)
EIGHT_HOURS = timedelta(hours=8)
YEAR = timedelta(days=365)


def _ratio(a: timedelta, b: timedelta) -> Decimal:
    return Decimal(int(a.total_seconds() * 1_000_000)) / Decimal(int(b.total_seconds() * 1_000_000))


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A fraction of notional paid per `interval`. Positive: longs pay shorts."""

    rate: Decimal
    interval: timedelta

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", to_decimal(self.rate))
        if not isinstance(self.interval, timedelta) or self.interval <= timedelta(0):
            raise ValueError("a funding rate needs a positive interval")

    @classmethod
    def hourly(cls, rate: Number) -> FundingRate:
        return cls(to_decimal(rate), HOUR)

    @classmethod
    def every(cls, rate: Number, hours: int) -> FundingRate:
        return cls(to_decimal(rate), timedelta(hours=hours))

    def per(self, interval: timedelta) -> FundingRate:
        """The same rate expressed over another interval (simple scaling: funding does not compound)."""
        return FundingRate(self.rate * _ratio(interval, self.interval), interval)

    @property
    def per_hour(self) -> Decimal:
        return self.per(HOUR).rate

    @property
    def apr(self) -> Decimal:
        """Annualised, simple: what a constant position would collect in a year, as a fraction."""
        return self.per(YEAR).rate

    def payment(self, notional: Decimal, periods: int = 1) -> Decimal:
        """What a short of `notional` (quote units) receives over `periods` intervals; negative = pays."""
        return notional * self.rate * periods

    def __str__(self) -> str:
        hours = self.interval.total_seconds() / 3600
        return f"{self.rate:f} per {hours:g}h ({self.apr * 100:.2f}% APR)"


@dataclass(frozen=True, slots=True)
class Apy:
    """An annual percentage yield as a fraction (0.05 = 5%), compounding."""

    value: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", to_decimal(self.value))
        if self.value <= -1:
            raise ValueError("an APY cannot be -100% or less")

    @classmethod
    def from_apr(cls, apr: Number, compounds_per_year: int = 365 * 24) -> Apy:
        apr_d = to_decimal(apr)
        return cls(
            Decimal(str(math.expm1(compounds_per_year * math.log1p(float(apr_d) / compounds_per_year))))
        )

    def growth(self, elapsed: timedelta) -> Decimal:
        """Factor by which a balance grows over `elapsed` at this yield."""
        years = elapsed.total_seconds() / YEAR.total_seconds()
        return Decimal(str(math.exp(years * math.log1p(float(self.value)))))

    def __str__(self) -> str:
        return f"{self.value * 100:.2f}% APY"
