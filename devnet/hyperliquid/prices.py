"""The perp universe and the prices of the last simulated step, as exact Decimals.

The market simulator moves prices once per simulated minute. The exchange copies them here at
every step (and at start), so requests read one consistent set of prices instead of re-deriving
Decimals from floats, and so a step cannot start in the middle of an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from devnet.market import MarketSimulator, sig


@dataclass(frozen=True)
class Asset:
    index: int
    name: str
    sz_decimals: int
    max_leverage: int
    margin_table_id: int
    delisted: bool


@dataclass(frozen=True)
class Quote:
    oracle: Decimal
    mark: Decimal
    premium: Decimal


def universe(market: MarketSimulator) -> list[Asset]:
    """Mainnet order: an asset id is its index, and delisted entries keep theirs (SOL is 5)."""
    return [
        Asset(
            i, p.spec.name, p.spec.sz_decimals, p.spec.max_leverage, p.spec.margin_table_id, p.spec.delisted
        )
        for i, p in enumerate(market.perps.values())
    ]


class PriceBoard:
    def __init__(self, market: MarketSimulator) -> None:
        self._market = market
        self.quotes: dict[str, Quote] = {}
        self.step_ms = -1
        self.refresh(market.sim_ms)

    def refresh(self, step_ms: int) -> None:
        """Copy the simulator's prices; called at every step before anything trades on them."""
        quotes = {}
        for name, p in self._market.perps.items():
            quotes[name] = Quote(
                oracle=sig(p.oracle),
                mark=sig(p.oracle * (1 + p.premium)),
                premium=Decimal(f"{p.premium:.10f}"),
            )
        self.quotes = quotes
        self.step_ms = step_ms

    def oracle(self, coin: str) -> Decimal:
        return self.quotes[coin].oracle

    def mark(self, coin: str) -> Decimal:
        return self.quotes[coin].mark
