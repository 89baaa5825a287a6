from __future__ import annotations

from decimal import Decimal as D

from shared.assets import Asset
from tenant_bot.strategy.fills import hedge_delta


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
