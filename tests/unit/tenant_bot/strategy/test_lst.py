from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from shared.assets import Asset
from shared.rates import Apy
from tenant_bot.strategy.lst import LstMonitor, LstReference, accrue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_fair_rate_accrues_the_staking_yield() -> None:
    # a full year at 8 % grows 1.2 to 1.296
    year = D(365 * 24 * 3600)
    assert accrue(D("1.2"), Apy(D("0.08")), year) == D("1.296")
    ref = LstReference(D("1.2"), T0, Apy(D("0.08")))
    half = ref.fair_at(T0 + timedelta(days=365) / 2)
    assert abs(half - D("1.2") * D("1.08").sqrt()) < D("1e-20")


def test_normal_discount_is_not_a_depeg() -> None:
    monitor = LstMonitor(depeg_threshold=D("0.01"))
    check = monitor.check(Asset.JITOSOL, D("1.2494"), fair_rate=D("1.25"))
    assert check.discount == D("0.00048")  # 0.0006 / 1.25
    assert not check.depeg and "within" in check.reason


def test_depeg_is_detected_against_the_accrued_reference() -> None:
    ref = LstReference(D("1.25"), T0, Apy(D("0.08")))
    monitor = LstMonitor({Asset.MSOL: ref}, depeg_threshold=D("0.02"))
    later = T0 + timedelta(days=30)
    fair = ref.fair_at(later)
    assert fair > D("1.257")  # 30 days of 8 %
    # 1.23 is only 1.6 % below the rate at T0, but 2.2 % below the accrued fair rate
    check = monitor.check(Asset.MSOL, D("1.23"), at=later)
    assert check.depeg
    assert check.fair_rate == fair
    assert D("0.02") < check.discount < D("0.025")
    assert "below its fair rate" in check.reason


def test_premium_is_reported_but_not_a_depeg() -> None:
    check = LstMonitor().check(Asset.INF, D("1.26"), fair_rate=D("1.25"))
    assert check.discount < 0 and not check.depeg and "above" in check.reason


def test_misuse_raises() -> None:
    monitor = LstMonitor()
    with pytest.raises(ValueError, match="not a liquid-staking token"):
        monitor.check(Asset.SOL, D(1), fair_rate=D(1))
    with pytest.raises(ValueError, match="no fair rate"):
        monitor.check(Asset.JUPSOL, D("1.1"))
    with pytest.raises(ValueError):
        LstMonitor(depeg_threshold=D(0))
