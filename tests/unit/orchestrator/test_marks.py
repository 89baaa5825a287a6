"""Reading mark prices out of Hyperliquid's `metaAndAssetCtxs` answer (the broker's reads of a real
devnet: tests/security/test_broker_order_prices.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orchestrator.marks import parse_marks


def context(mark: Any) -> dict[str, Any]:
    return {"funding": "0.0000125", "openInterest": "10", "oraclePx": "150.1", "markPx": mark}


def test_marks_are_keyed_by_the_asset_id_the_orders_name() -> None:
    universe = [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
        {"name": "MATIC", "szDecimals": 1, "maxLeverage": 20, "isDelisted": True},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
        {"name": "DYDX", "szDecimals": 1, "maxLeverage": 20},
    ]
    contexts = [context("97000.5"), context("0.4"), context("150.25"), context("0"), context("x")]
    # The delisted perp keeps its index, so SOL stays 2 here; a mark that is not a positive number is
    # no mark at all (an order on that perp is treated as on a venue that cannot be read).
    assert parse_marks([{"universe": universe}, contexts]) == {0: Decimal("97000.5"), 2: Decimal("150.25")}


@pytest.mark.parametrize("answer", [None, {}, [], [{}, []], [{"universe": {}}, []], "text", [1, 2, 3]])
def test_another_answer_is_not_read_as_marks(answer: Any) -> None:
    with pytest.raises(ValueError, match="metaAndAssetCtxs"):
        parse_marks(answer)
