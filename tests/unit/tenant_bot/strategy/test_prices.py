from __future__ import annotations

from decimal import Decimal as D

import pytest

from shared.assets import Asset
from tenant_bot.strategy.prices import price_consensus, sol_equivalent, token_price_usd


def test_median_and_divergence_of_three_sources() -> None:
    c = price_consensus(
        {"hyperliquid_mark": D(150), "hyperliquid_oracle": D("150.30"), "asgard": D("149.85")},
        max_divergence_bps=D(50),
    )
    assert c.price == D(150)
    # (150.30 − 149.85) / 150 × 10000 = 0.45 / 150 × 10000 = 30 bps
    assert c.divergence_bps == D(30)
    assert c.ok and c.reason is None
    assert set(c.sources) == {"hyperliquid_mark", "hyperliquid_oracle", "asgard"}


def test_one_bad_source_moves_the_median_little_but_fails_the_check() -> None:
    c = price_consensus({"a": D(150), "b": D("150.1"), "c": D(120)}, max_divergence_bps=D(50))
    assert c.price == D(150)
    assert not c.ok
    assert c.reason is not None and "c=120" in c.reason and "b=150.1" in c.reason


def test_even_count_median_and_minimum_sources() -> None:
    c = price_consensus({"a": D(100), "b": D(102)}, max_divergence_bps=D(500))
    assert c.price == D(101) and c.ok
    one = price_consensus({"a": D(100)}, max_divergence_bps=D(50))
    assert not one.ok and one.divergence_bps == 0 and "1 of 2" in (one.reason or "")
    assert price_consensus({"a": D(100)}, max_divergence_bps=D(50), min_sources=1).ok


def test_invalid_prices_raise() -> None:
    with pytest.raises(ValueError):
        price_consensus({}, max_divergence_bps=D(50))
    with pytest.raises(ValueError, match="'b'"):
        price_consensus({"a": D(100), "b": D(0)}, max_divergence_bps=D(50))


def test_sol_equivalents() -> None:
    assert sol_equivalent(D(10), Asset.JITOSOL, D("1.25")) == D("12.50")
    assert sol_equivalent(D(10), Asset.SOL, None) == D(10)
    assert token_price_usd(D(150), Asset.MSOL, D("1.3")) == D("195.0")
    with pytest.raises(ValueError, match="LST/SOL rate"):
        sol_equivalent(D(10), Asset.JITOSOL, None)
    with pytest.raises(ValueError, match="no SOL equivalent"):
        sol_equivalent(D(10), Asset.USDC, D(1))
