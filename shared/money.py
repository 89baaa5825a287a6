"""Decimal money that carries its unit.

`Amount(Decimal("12.5"), "USDC")` can be added to another USDC amount and to nothing else; a price
converts one unit into another. Floats are refused at construction so that no binary rounding can
slip into a balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Union

Unit = str  # an Asset value ("SOL", "USDC", "jitoSOL", ...) or "USD"
Number = Union[Decimal, int, str]  # noqa: UP007  (kept readable for callers)


def to_decimal(value: Number) -> Decimal:
    """Exact Decimal from an int, a Decimal or a decimal string; floats are refused."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, float):
        raise TypeError(f"use a Decimal or a string, not the float {value!r}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def quantize(value: Decimal, places: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def to_raw(value: Decimal, decimals: int) -> int:
    """Whole units → raw integer units, rounding down (never claim more than is held)."""
    return int((value.scaleb(decimals)).to_integral_value(rounding=ROUND_DOWN))


def from_raw(raw: int, decimals: int) -> Decimal:
    return Decimal(raw).scaleb(-decimals)


def wire(value: Decimal) -> str:
    """Plain decimal text with no exponent and no trailing zeros (`150.10` → `150.1`)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True, slots=True)
class Amount:
    value: Decimal
    unit: Unit

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", to_decimal(self.value))
        if not self.unit:
            raise ValueError("an amount needs a unit")

    @classmethod
    def of(cls, value: Number, unit: Unit) -> Amount:
        return cls(to_decimal(value), unit)

    @classmethod
    def zero(cls, unit: Unit) -> Amount:
        return cls(Decimal(0), unit)

    @classmethod
    def from_raw(cls, raw: int, decimals: int, unit: Unit) -> Amount:
        return cls(from_raw(raw, decimals), unit)

    def to_raw(self, decimals: int) -> int:
        return to_raw(self.value, decimals)

    def _same(self, other: Amount) -> None:
        if not isinstance(other, Amount):
            raise TypeError(f"cannot combine an amount with {type(other).__name__}")
        if other.unit != self.unit:
            raise ValueError(f"unit mismatch: {self.unit} vs {other.unit}")

    def __add__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.value + other.value, self.unit)

    def __sub__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.value - other.value, self.unit)

    def __neg__(self) -> Amount:
        return Amount(-self.value, self.unit)

    def __abs__(self) -> Amount:
        return Amount(abs(self.value), self.unit)

    def __mul__(self, factor: Number) -> Amount:
        if isinstance(factor, Amount):
            raise TypeError("multiply an amount by a number or a Price, not by another amount")
        return Amount(self.value * to_decimal(factor), self.unit)

    __rmul__ = __mul__

    def __truediv__(self, other: Number | Amount) -> Amount | Decimal:
        if isinstance(other, Amount):
            self._same(other)
            return self.value / other.value  # a ratio has no unit
        return Amount(self.value / to_decimal(other), self.unit)

    def __lt__(self, other: Amount) -> bool:
        self._same(other)
        return self.value < other.value

    def __le__(self, other: Amount) -> bool:
        self._same(other)
        return self.value <= other.value

    def __gt__(self, other: Amount) -> bool:
        self._same(other)
        return self.value > other.value

    def __ge__(self, other: Amount) -> bool:
        self._same(other)
        return self.value >= other.value

    def quantize(self, places: int, rounding: str = ROUND_HALF_EVEN) -> Amount:
        return Amount(quantize(self.value, places, rounding), self.unit)

    def is_zero(self) -> bool:
        return self.value == 0

    def __str__(self) -> str:
        return f"{wire(self.value)} {self.unit}"

    def as_json(self) -> dict[str, str]:
        return {"value": wire(self.value), "unit": self.unit}


@dataclass(frozen=True, slots=True)
class Price:
    """How many `quote` one `base` is worth: Price(Decimal('150'), 'SOL', 'USD')."""

    value: Decimal
    base: Unit
    quote: Unit

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", to_decimal(self.value))
        if self.value <= 0:
            raise ValueError(f"a price must be positive, got {self.value}")

    def convert(self, amount: Amount) -> Amount:
        """base → quote, or quote → base."""
        if amount.unit == self.base:
            return Amount(amount.value * self.value, self.quote)
        if amount.unit == self.quote:
            return Amount(amount.value / self.value, self.base)
        raise ValueError(f"a {self.base}/{self.quote} price cannot convert {amount.unit}")

    def inverse(self) -> Price:
        return Price(Decimal(1) / self.value, self.quote, self.base)

    def __str__(self) -> str:
        return f"{wire(self.value)} {self.quote}/{self.base}"
