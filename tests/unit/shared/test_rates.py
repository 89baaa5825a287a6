from datetime import timedelta
from decimal import Decimal

import pytest

from shared.rates import EIGHT_HOURS, HOUR, Apy, FundingRate


def test_a_funding_rate_needs_an_interval() -> None:
    with pytest.raises(ValueError):
        FundingRate(Decimal("0.0001"), timedelta(0))


def test_hourly_baseline_is_about_eleven_percent_apr() -> None:
    # Hyperliquid's interest-only hourly rate: 0.01% per 8 hours.
    rate = FundingRate.hourly("0.0000125")
    assert rate.apr == Decimal("0.0000125") * 24 * 365
    assert rate.per(EIGHT_HOURS).rate == Decimal("0.0001")


def test_rates_over_different_intervals_compare_per_hour() -> None:
    binance = FundingRate.every("0.0001", 8)
    hyperliquid = FundingRate.hourly("0.0000125")
    assert binance.per_hour == hyperliquid.per_hour
    assert binance.apr == hyperliquid.apr


def test_payment_sign_short_receives_positive_funding() -> None:
    rate = FundingRate(Decimal("0.0001"), HOUR)
    assert rate.payment(Decimal("10000")) == Decimal("1.0000")
    assert FundingRate.hourly("-0.0001").payment(Decimal("10000")) < 0


def test_apy_growth_compounds() -> None:
    apy = Apy(Decimal("0.10"))
    assert abs(apy.growth(timedelta(days=365)) - Decimal("1.10")) < Decimal("1e-9")
    half = apy.growth(timedelta(days=182.5))
    assert abs(half * half - Decimal("1.10")) < Decimal("1e-9")
    with pytest.raises(ValueError):
        Apy(Decimal("-1"))


def test_apy_from_apr_is_higher_than_the_apr() -> None:
    assert Apy.from_apr("0.10").value > Decimal("0.10")
    assert abs(Apy.from_apr("0.10").value - Decimal("0.10517")) < Decimal("0.0001")
