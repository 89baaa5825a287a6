from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import from_raw, to_decimal, to_raw, wire


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="not the float"):
        to_decimal(0.1)  # type: ignore[arg-type]


def test_non_numbers_and_infinities_are_refused() -> None:
    with pytest.raises(ValueError):
        to_decimal("twelve")
    with pytest.raises(ValueError):
        to_decimal("Infinity")


def test_raw_units_round_down() -> None:
    assert to_raw(Decimal("1.2345679"), 6) == 1_234_567
    assert from_raw(1_234_567, 6) == Decimal("1.234567")
    assert to_raw(Decimal("0.0000009"), 6) == 0


def test_wire_has_no_exponent_or_trailing_zeros() -> None:
    assert wire(Decimal("150.10")) == "150.1"
    assert wire(Decimal("1.0")) == "1"
    assert wire(Decimal("1E+2")) == "100"
    assert wire(Decimal("0.00001200")) == "0.000012"
    assert wire(Decimal("0")) == "0"


@given(st.integers(min_value=0, max_value=10**18), st.integers(min_value=0, max_value=18))
def test_raw_round_trip(raw: int, decimals: int) -> None:
    assert to_raw(from_raw(raw, decimals), decimals) == raw
