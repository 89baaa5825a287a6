from __future__ import annotations

from decimal import Decimal as D

import pytest

from shared.assets import Asset
from tenant_bot.strategy.lst import LstMonitor


def test_normal_discount_is_not_a_depeg() -> None:
    monitor = LstMonitor(depeg_threshold=D("0.01"))
    check = monitor.check(Asset.JITOSOL, D("1.2494"), fair_rate=D("1.25"))
    assert check.discount == D("0.00048")  # 0.0006 / 1.25
    assert not check.depeg and "within" in check.reason


def test_depeg_is_detected_against_the_pool_rate() -> None:
    monitor = LstMonitor(depeg_threshold=D("0.02"))
    # 1.23 against a pool rate of 1.2575: 2.19 % below fair
    check = monitor.check(Asset.MSOL, D("1.23"), fair_rate=D("1.2575"))
    assert check.depeg
    assert check.fair_rate == D("1.2575")
    assert D("0.02") < check.discount < D("0.025")
    assert "below its fair rate" in check.reason


def test_premium_is_reported_but_not_a_depeg() -> None:
    check = LstMonitor().check(Asset.INF, D("1.26"), fair_rate=D("1.25"))
    assert check.discount < 0 and not check.depeg and "above" in check.reason


def test_misuse_raises() -> None:
    monitor = LstMonitor()
    with pytest.raises(ValueError, match="not a liquid-staking token"):
        monitor.check(Asset.SOL, D(1), fair_rate=D(1))
    with pytest.raises(ValueError, match="fair rate must be positive"):
        monitor.check(Asset.JUPSOL, D("1.1"), fair_rate=D(0))
    with pytest.raises(ValueError):
        LstMonitor(depeg_threshold=D(0))
