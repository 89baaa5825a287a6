"""Exact Decimal amounts: parsing, rounding, raw (on-chain integer) units and wire text.

Every amount of money in Basis is a `Decimal`, never a float: `to_decimal` refuses floats so that
no binary rounding can slip into a balance. An amount's unit is carried by where it is held (a
field named `..._usdc`, `..._sol`, `token_size` of a known asset), not by a wrapper type.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Union

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
