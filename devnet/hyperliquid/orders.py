"""Orders: what a placed order is, its statuses, and the registry orderStatus / openOrders read.

An order keeps its final status after it leaves the book (filled, canceled, rejected...), so a
client that lost an answer can ask `orderStatus` by oid or by cloid and learn what happened.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from devnet.hyperliquid.wire import fmt

# Orders that left the book are kept for orderStatus up to this many (oldest forgotten first).
KEEP_CLOSED = 200_000
# Status changes kept per user for the websocket's orderUpdates (a subscriber further behind has
# missed them, as a client that lagged the venue's socket has).
KEEP_UPDATES = 1_000
FIRST_OID = 30_000_000_000  # of the magnitude mainnet oids have, so clients see realistic ids


@dataclass(eq=False)  # an order is itself: compared by identity
class Order:
    oid: int
    user: str
    coin: str
    asset: int
    is_buy: bool
    limit_px: Decimal
    orig_sz: Decimal
    sz: Decimal  # still open
    reduce_only: bool
    tif: str
    cloid: str | None
    timestamp: int
    status: str = "open"
    status_ts: int = 0

    @property
    def side(self) -> str:
        return "B" if self.is_buy else "A"

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def _head(self) -> dict[str, Any]:
        """The fields both kinds of open-order row start with, in the venue's order."""
        return {
            "coin": self.coin,
            "side": self.side,
            "limitPx": fmt(self.limit_px),
            "sz": fmt(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
        }

    def open_order(self) -> dict[str, Any]:
        """openOrders row."""
        row = {**self._head(), "origSz": fmt(self.orig_sz)}
        if self.cloid is not None:
            row["cloid"] = self.cloid
        if self.reduce_only:
            row["reduceOnly"] = True
        return row

    def frontend(self) -> dict[str, Any]:
        """frontendOpenOrders row, also the order inside an orderStatus answer."""
        return {
            **self._head(),
            "triggerCondition": "N/A",
            "isTrigger": False,
            "triggerPx": "0.0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": self.reduce_only,
            "orderType": "Limit",
            "origSz": fmt(self.orig_sz),
            "tif": self.tif,
            "cloid": self.cloid,
        }


class OrderRegistry:
    def __init__(self) -> None:
        self._next_oid = FIRST_OID
        self.by_oid: dict[int, Order] = {}
        self._by_cloid: dict[tuple[str, str], int] = {}
        self._open: dict[str, dict[int, Order]] = {}
        self._closed: deque[int] = deque()
        # Per user: (sequence number, the order, its status then, when), oldest first.
        self.updates: dict[str, deque[tuple[int, Order, str, int]]] = {}
        self._seq = 0

    def new_oid(self) -> int:
        self._next_oid += 1
        return self._next_oid

    def add(self, order: Order) -> None:
        self.by_oid[order.oid] = order
        if order.cloid is not None:
            self._by_cloid[(order.user, order.cloid)] = order.oid
        if order.is_open:
            self._open.setdefault(order.user, {})[order.oid] = order
        else:
            self._remember_closed(order)
        self._record_update(order)

    def close(self, order: Order, status: str, time_ms: int) -> None:
        """The order leaves the book with a final status."""
        order.status = status
        order.status_ts = time_ms
        opened = self._open.get(order.user)
        if opened is not None:
            opened.pop(order.oid, None)
            if not opened:
                del self._open[order.user]
        self._remember_closed(order)
        self._record_update(order)

    def updates_since(self, user: str, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """The user's status changes after `seq`, one per order (its latest), and the newest seq."""
        log = self.updates.get(user)
        if not log or log[-1][0] <= seq:
            return seq, []
        latest: dict[int, dict[str, Any]] = {}
        for n, order, status, status_ts in reversed(log):
            if n <= seq:
                break
            if order.oid not in latest:
                # The order as it is now (an open order's size after partial fills), its status then.
                row = {"order": order.open_order(), "status": status, "statusTimestamp": status_ts}
                latest[order.oid] = row
        return log[-1][0], [latest[oid] for oid in sorted(latest)]

    def _record_update(self, order: Order) -> None:
        self._seq += 1
        log = self.updates.setdefault(order.user, deque(maxlen=KEEP_UPDATES))
        log.append((self._seq, order, order.status, order.status_ts))

    def open_orders(self, user: str) -> list[Order]:
        """Newest first."""
        return sorted(self._open.get(user, {}).values(), key=lambda o: o.oid, reverse=True)

    def has_open(self, user: str) -> bool:
        return bool(self._open.get(user))

    def find(self, user: str, oid: int | None = None, cloid: str | None = None) -> Order | None:
        if cloid is not None:
            found = self._by_cloid.get((user, cloid.lower()))
            oid = found if found is not None else None
        if oid is None:
            return None
        order = self.by_oid.get(oid)
        return order if order is not None and order.user == user else None

    def open_count(self) -> int:
        return sum(len(v) for v in self._open.values())

    def all_open(self) -> list[Order]:
        return [o for orders in self._open.values() for o in orders.values()]

    def _remember_closed(self, order: Order) -> None:
        self._closed.append(order.oid)
        while len(self._closed) > KEEP_CLOSED:
            old = self.by_oid.pop(self._closed.popleft(), None)
            if old is not None and old.cloid is not None:
                key = (old.user, old.cloid)
                if self._by_cloid.get(key) == old.oid:
                    del self._by_cloid[key]


@dataclass(frozen=True)
class OrderRequest:
    """One order of an `order` action, as sent (numbers still text: their errors come later)."""

    asset: int
    is_buy: bool
    px: str
    sz: str
    reduce_only: bool
    tif: str | None  # None for a trigger order
    cloid: str | None
