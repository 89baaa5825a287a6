from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import Amount, Price, from_raw, to_decimal, to_raw, wire


def test_amounts_of_the_same_unit_add_and_compare() -> None:
    a = Amount.of("12.5", "USDC") + Amount.of("0.25", "USDC")
    assert a == Amount(Decimal("12.75"), "USDC")
    assert a > Amount.of("12", "USDC")


def test_amounts_of_different_units_do_not_mix() -> None:
    with pytest.raises(ValueError, match="unit mismatch: USDC vs SOL"):
        _ = Amount.of(1, "USDC") + Amount.of(1, "SOL")
    with pytest.raises(ValueError):
        _ = Amount.of(1, "USDC") < Amount.of(1, "SOL")


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="not the float"):
        Amount(0.1, "USDC")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_decimal(0.1)  # type: ignore[arg-type]


def test_non_numbers_and_infinities_are_refused() -> None:
    with pytest.raises(ValueError):
        to_decimal("twelve")
    with pytest.raises(ValueError):
        to_decimal("Infinity")


def test_price_converts_between_units() -> None:
    sol_usd = Price(Decimal("150"), "SOL", "USD")
    assert sol_usd.convert(Amount.of("2", "SOL")) == Amount.of("300", "USD")
    assert sol_usd.convert(Amount.of("75", "USD")) == Amount.of("0.5", "SOL")
    with pytest.raises(ValueError, match="cannot convert USDC"):
        sol_usd.convert(Amount.of(1, "USDC"))
    with pytest.raises(ValueError):
        Price(Decimal(0), "SOL", "USD")


def test_ratio_of_amounts_has_no_unit() -> None:
    assert Amount.of(3, "SOL") / Amount.of(2, "SOL") == Decimal("1.5")
    assert Amount.of(3, "SOL") / 2 == Amount.of("1.5", "SOL")


def test_raw_units_round_down() -> None:
    assert to_raw(Decimal("1.2345679"), 6) == 1_234_567
    assert from_raw(1_234_567, 6) == Decimal("1.234567")
    assert Amount.of("0.0000009", "USDC").to_raw(6) == 0


def test_wire_has_no_exponent_or_trailing_zeros() -> None:
    assert wire(Decimal("150.10")) == "150.1"
    assert wire(Decimal("1.0")) == "1"
    assert wire(Decimal("1E+2")) == "100"
    assert wire(Decimal("0.00001200")) == "0.000012"
    assert wire(Decimal("0")) == "0"


@given(st.integers(min_value=0, max_value=10**18), st.integers(min_value=0, max_value=18))
def test_raw_round_trip(raw: int, decimals: int) -> None:
    assert to_raw(from_raw(raw, decimals), decimals) == raw
