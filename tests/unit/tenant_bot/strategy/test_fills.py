from __future__ import annotations

from decimal import Decimal as D

import pytest

from shared.assets import Asset
from tenant_bot.strategy.fills import hedge_delta, validate_fill


def test_fill_ratios() -> None:
    assert validate_fill(D(10), D("9.6"), min_fill_ratio=D("0.95")).ok
    short = validate_fill(D(10), D("9.4"), min_fill_ratio=D("0.95"))
    assert not short.ok and short.ratio == D("0.94") and "below" in (short.reason or "")
    assert not validate_fill(D(10), D(0), min_fill_ratio=D("0.95")).ok
    over = validate_fill(D(10), D("10.2"), min_fill_ratio=D("0.95"))
    assert not over.ok and "above" in (over.reason or "")
    assert validate_fill(D(10), D("10.05"), min_fill_ratio=D("0.95")).ok
    with pytest.raises(ValueError):
        validate_fill(D(0), D(1), min_fill_ratio=D("0.95"))


def test_delta_on_an_lst_uses_its_sol_rate() -> None:
    # 80 jitoSOL at 1.25 SOL each = 100 SOL of exposure
    hedged = hedge_delta(D(80), Asset.JITOSOL, D("1.25"), D("99.5"), tolerance=D("0.01"))
    assert hedged.long_sol_equivalent == D(100)
    assert hedged.drift_fraction == D("0.005")  # (100 − 99.5) / 100
    assert hedged.ok and hedged.net_sol == D("0.5")
    # hedging the token count instead of its SOL value leaves 20 % unhedged
    naive = hedge_delta(D(80), Asset.JITOSOL, D("1.25"), D(80), tolerance=D("0.01"))
    assert not naive.ok and naive.drift_fraction == D("0.2")
    over = hedge_delta(D(80), Asset.JITOSOL, D("1.25"), D(102), tolerance=D("0.01"))
    assert not over.ok and over.drift_fraction < 0  # net short


def test_delta_tolerates_half_a_lot_on_small_positions() -> None:
    # 0.3 SOL long, 0.29 short: 3.3 % drift, but 0.01 is one lot at szDecimals 2; half a lot is 0.005.
    assert not hedge_delta(D("0.3"), Asset.SOL, None, D("0.29"), sz_decimals=2).ok
    assert hedge_delta(D("0.296"), Asset.SOL, None, D("0.30"), sz_decimals=2).ok
    assert not hedge_delta(D("0.296"), Asset.SOL, None, D("0.30")).ok  # without the lot rule


def test_nothing_on_either_side_is_hedged() -> None:
    check = hedge_delta(D(0), Asset.SOL, None, D(0))
    assert check.ok and check.drift_fraction == 0
    naked = hedge_delta(D(0), Asset.SOL, None, D(1))
    assert not naked.ok and naked.drift_fraction == -1
