"""Hyperliquid's REST weights, as the venue documents them (gitbook "Rate limits and user limits",
shared/research/venues.md §1.7): the one table that the devnet's emulation of the limit
(devnet/hyperliquid/limits.py) and the shared venue gateway's meter (gateway/meter.py) both read.

An IP may spend 1,200 weight in any minute (`WEIGHT_PER_MINUTE`).
- /exchange: 1 + floor(batch_length / 40), batch_length = the length of the action's array
  (orders, cancels, modifies); 1 for an action without one.
- /info: 2 for l2Book, allMids, clearinghouseState, orderStatus, spotClearinghouseState,
  exchangeStatus; 60 for userRole; 20 for every other request (an unreadable one included).
  historicalOrders, userFills, userFillsByTime, fundingHistory, userFunding add 1 per 20 items
  answered, candleSnapshot 1 per 60.
"""

from __future__ import annotations

WEIGHT_PER_MINUTE = 1200
LIGHT_INFO = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
HEAVY_INFO = {"userRole": 60}
INFO_WEIGHT = 20
PER_ITEMS = {
    "historicalOrders": 20,
    "userFills": 20,
    "userFillsByTime": 20,
    "fundingHistory": 20,
    "userFunding": 20,
    "candleSnapshot": 60,
}
BATCH_FIELDS = ("orders", "cancels", "modifies")


def info_weight(kind: object) -> int:
    """The weight of an /info request before its answer is counted."""
    if kind in LIGHT_INFO:
        return 2
    return HEAVY_INFO.get(kind, INFO_WEIGHT) if isinstance(kind, str) else INFO_WEIGHT


def items_weight(kind: object, items: int) -> int:
    """The extra weight of an answer of `items` items."""
    per = PER_ITEMS.get(kind) if isinstance(kind, str) else None
    return items // per if per else 0


def batch_length(action: object) -> int:
    """The length of the action's array (0 when it has none)."""
    if isinstance(action, dict):
        for name in BATCH_FIELDS:
            value = action.get(name)
            if isinstance(value, list):
                return len(value)
    return 0


def exchange_weight(action: object) -> int:
    """The weight of an /exchange request carrying `action`."""
    return 1 + batch_length(action) // 40
