"""The deleverage target of a health reduction, checked against figures worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tenant_bot.strategy.exposure import deleverage_target


def test_the_deleverage_target_sells_the_fraction_and_raises_health() -> None:
    # 30 SOL at $100 against 2000 USDC: value 3000, equity 1000, 3x. Selling a quarter of the SOL
    # keeps the equity: 22.5 SOL ($2250) against 1250 USDC, 2.25x.
    assert deleverage_target(D(30), D(2000), D(100), D("0.25")) == D("2.25")
    # Health with a liquidation threshold of 0.8: 1 - 2000 / (3000 x 0.8) = 0.1667 before,
    # 1 - 1250 / (2250 x 0.8) = 0.3056 after.
    lt = D("0.8")
    before = 1 - D(2000) / (D(3000) * lt)
    after = 1 - D(1250) / (D(2250) * lt)
    assert round(before, 4) == D("0.1667") and round(after, 4) == D("0.3056")
    # Rounded down to two decimals (a little more sold), never below 1.
    assert deleverage_target(D(30), D(2010), D(100), D("0.25")) == D("2.27")  # 3000/990 x 0.75 = 2.2727
    assert deleverage_target(D(30), D(1000), D(100), D("0.5")) == D(1)  # 1.5 x 0.5 = 0.75
    # No debt: 1x already, nothing a deleverage can repay (a partial close must do it).
    assert deleverage_target(D(30), D(0), D(100), D("0.25")) is None
    with pytest.raises(ValueError):
        deleverage_target(D(30), D(3000), D(100), D("0.25"))
