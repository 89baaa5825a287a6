"""Hyperliquid's tick and lot rules, and the wire's number style (pure functions)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from devnet.hyperliquid import rules
from devnet.hyperliquid.wire import canonical_number, fmt, fmt_sig, is_cloid, parse_decimal


@pytest.mark.parametrize(
    ("px", "sz_decimals", "valid"),
    [
        # The venue's own examples (szDecimals 0 leaves 6 decimals): 1234.5 ok, 1234.56 not.
        ("1234.5", 0, True),
        ("1234.56", 0, False),
        ("0.001234", 0, True),
        ("0.0012345", 0, False),
        # Integer prices are always allowed, whatever their significant figures.
        ("123456", 5, True),
        ("92001", 5, True),
        # BTC (szDecimals 5) may carry one decimal, and then only with 5 significant figures.
        ("9200.1", 5, True),
        ("92000.5", 5, False),
        ("9200.12", 5, False),
        # SOL (szDecimals 2): at most 4 decimals and 5 significant figures.
        ("150.12", 2, True),
        ("150.123", 2, False),
        ("1.2345", 2, True),
        ("0.12345", 2, False),
        ("150.10", 2, True),  # a trailing zero is not a significant figure
        ("0", 2, False),
        ("-150", 2, False),
    ],
)
def test_price_grid(px: str, sz_decimals: int, valid: bool) -> None:
    assert rules.is_valid_price(Decimal(px), sz_decimals) is valid


@pytest.mark.parametrize(
    ("sz", "sz_decimals", "valid"),
    [
        ("1.23", 2, True),
        ("1.234", 2, False),
        ("1.230", 2, True),
        ("0.00001", 5, True),
        ("40.5", 0, False),
        ("16", 0, True),
        ("0", 2, False),
        ("-1", 2, False),
    ],
)
def test_lot_size(sz: str, sz_decimals: int, valid: bool) -> None:
    assert rules.is_valid_size(Decimal(sz), sz_decimals) is valid


@pytest.mark.parametrize(
    ("px", "sz_decimals", "tick"),
    [
        ("150", 2, "0.01"),
        ("99.5", 2, "0.001"),
        ("92000", 5, "1"),
        ("3100", 4, "0.1"),
        ("0.62", 1, "0.00001"),
        ("4.6", 2, "0.0001"),
        ("250000", 5, "1"),
    ],
)
def test_tick_size_follows_magnitude(px: str, sz_decimals: int, tick: str) -> None:
    assert rules.tick_size(Decimal(px), sz_decimals) == Decimal(tick)


def test_round_price_lands_on_the_grid() -> None:
    for raw in ("150.12345", "99.99999", "0.6212345", "92000.7", "3.14159"):
        for up in (True, False):
            px = rules.round_price(Decimal(raw), 2, up=up)
            assert rules.is_valid_price(px, 2), (raw, up, px)
            assert (px >= Decimal(raw)) if up else (px <= Decimal(raw))


def test_maintenance_is_half_the_initial_margin_at_max_leverage() -> None:
    assert rules.maintenance_ratio(20) == Decimal("0.025")
    assert rules.maintenance_ratio(50) == Decimal("0.01")
    assert rules.default_leverage(40) == 20 and rules.default_leverage(5) == 5


def test_wire_numbers_read_like_the_venue() -> None:
    assert fmt(Decimal(0)) == "0.0"
    assert fmt(Decimal("1000")) == "1000.0"
    assert fmt(Decimal("150.10")) == "150.1"
    assert fmt(Decimal("-12.30")) == "-12.3"
    assert fmt(Decimal("1E+2")) == "100.0"
    assert fmt_sig(Decimal("150.123456789"), 6) == "150.123"
    # What the venue hashes: no trailing zeros, no exponent.
    assert canonical_number("150.10") == "150.1"
    assert canonical_number("1.0") == "1"
    assert canonical_number("100") == "100"
    assert canonical_number("abc") == "abc"
    assert parse_decimal("nan") is None and parse_decimal("1e999999999") is None
    assert parse_decimal(12) is None and parse_decimal("") is None
    assert is_cloid("0x" + "ab" * 16) and not is_cloid("0x" + "ab" * 15) and not is_cloid(7)
