"""How numbers, addresses and client order ids look on Hyperliquid's wire.

The venue answers every amount as a decimal string (`"0.0"`, `"1000.0"`, `"110.5044"`): plain
notation, no trailing zeros, and at least one decimal. Requests carry prices and sizes as strings
too; the venue re-serializes them canonically (no trailing zeros) before hashing for a signature,
which is why `canonical_number` exists.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

USD_PLACES = 6  # Hyperliquid's USDC has 6 decimals (usd amounts on the wire are ints × 1e6)
_USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")
ZERO = Decimal(0)
# Rounding to a fixed number of places must never run out of digits, however large the number.
_WIDE = Context(prec=80)
MAX_MAGNITUDE = 30  # decimal exponent bound of any number the venue accepts


def fmt(value: Decimal) -> str:
    """The venue's number text: `0` → "0.0", `1000` → "1000.0", `150.10` → "150.1"."""
    if value == 0:
        return "0.0"
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def fmt_usd(value: Decimal) -> str:
    """A USDC amount at the venue's 6-decimal precision."""
    return fmt(usd(value))


def fmt_places(value: Decimal, places: int) -> str:
    return fmt(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_WIDE))


def fmt_sig(value: Decimal, figures: int) -> str:
    """Rounded to `figures` significant figures (display of derived prices such as avgPx)."""
    if value == 0:
        return "0.0"
    places = figures - value.adjusted() - 1
    return fmt(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_WIDE))


def usd(value: Decimal) -> Decimal:
    """Rounded to the venue's USDC precision; every balance change goes through this."""
    return value.quantize(_USD_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE)


def parse_decimal(text: object) -> Decimal | None:
    """A finite Decimal from a decimal string, else None (the caller picks the venue's error)."""
    if not isinstance(text, str) or not text or len(text) > 64:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or (value != 0 and not -MAX_MAGNITUDE <= value.adjusted() <= MAX_MAGNITUDE):
        return None  # no price or size is that far from 1, and Decimal arithmetic would overflow
    return value


def canonical_number(text: str) -> str:
    """What the venue hashes for a number string: "150.10" → "150.1", "1.0" → "1"."""
    value = parse_decimal(text)
    if value is None:
        return text
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def is_address(value: object) -> bool:
    return isinstance(value, str) and _ADDRESS.match(value) is not None


def is_cloid(value: object) -> bool:
    return isinstance(value, str) and _CLOID.match(value) is not None


def is_uint(value: object) -> bool:
    """A JSON unsigned integer (a bool is not one, although Python says it is an int)."""
    return type(value) is int and value >= 0
