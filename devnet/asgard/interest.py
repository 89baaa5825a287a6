"""Interest as the lending protocols keep it: one cumulative supply index and one cumulative borrow
index per liquidity source, compounded every simulated minute at that minute's APY.

A position stores its balances divided by the index of the day it opened ("scaled" balances, as
Kamino and marginfi store shares); its balance now is the scaled balance times today's index. So a
minute of interest costs one multiplication per market in use, not one per position.
"""

from __future__ import annotations

import math
from decimal import Decimal

from devnet.market import STEP_YEARS
from shared.assets import Asset, Protocol

Key = tuple[Protocol, Asset]


def step_factor(apy: float) -> Decimal:
    """Growth over one simulated minute at `apy` (compounded: (1 + apy) ** minute_in_years)."""
    return Decimal(repr(math.exp(math.log1p(apy) * STEP_YEARS)))


class InterestIndices:
    def __init__(self) -> None:
        self._supply: dict[Key, Decimal] = {}
        self._borrow: dict[Key, Decimal] = {}

    def supply(self, key: Key) -> Decimal:
        return self._supply.get(key, Decimal(1))

    def borrow(self, key: Key) -> Decimal:
        return self._borrow.get(key, Decimal(1))

    def accrue(self, key: Key, supply_apy: float, borrow_apy: float) -> None:
        """One simulated minute of interest on token A deposits and USDC borrows of one source."""
        self._supply[key] = self.supply(key) * step_factor(supply_apy)
        self._borrow[key] = self.borrow(key) * step_factor(borrow_apy)
