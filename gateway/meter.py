"""One upstream address's Hyperliquid budget, spent in a sliding minute by the gateway and its tenants.

The budget (`GatewayConfig.budget`, 80 % of the venue's 1,200) is split, in this order:
1. the gateway's own refreshes: a fixed cost a minute, from their cadences (`refresh_cost`), reserved
   whatever they actually spend (what they spend is recorded, for the address's total);
2. the exchange reserve: weight that only /exchange spends, so that orders never wait behind reads;
   an order past it may still use what the reads left unspent of the budget;
3. the rest, the pool, shared by the tenants' reads in equal shares. A tenant's share is the pool
   divided by the tenants active in the last minute (it included) plus one: one share is always kept
   for a tenant that becomes active, so a newcomer finds room at once, and a tenant alone never takes
   the whole pool. A tenant never spends more than its share, so none starves another.

Pure: no I/O, the clock is injected; not thread-safe (the gateway runs in one event loop).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 60.0


class _Window:
    """Weight spent over the last minute, forgetting what is older as it moves."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def spent(self, now: float) -> int:
        while self.entries and self.entries[0][0] <= now - WINDOW_S:
            self.total -= self.entries.popleft()[1]
        return self.total

    def add(self, now: float, weight: int) -> None:
        if weight > 0:
            self.entries.append((now, weight))
            self.total += weight

    def free_in(self, now: float, over: int) -> float:
        """Seconds until at least `over` weight of this window has left it."""
        freed = 0
        for at, weight in self.entries:
            freed += weight
            if freed >= over:
                return max(at + WINDOW_S - now, 0.0)
        return WINDOW_S


@dataclass(frozen=True)
class Admission:
    admitted: bool
    retry_after_s: int = 0  # when refused: whole seconds until the same request would fit


@dataclass(frozen=True)
class TenantView:
    """`GET /budget`: the address's figures and this tenant's, nothing about another tenant."""

    weight_per_minute: int
    budget: int
    spent: int  # by everyone through this address, in the last minute
    refresh_reserve: int
    exchange_reserve: int
    share: int
    tenant_spent: int


class Meter:
    def __init__(
        self,
        *,
        weight_per_minute: int,
        budget: int,
        refresh_cost: int,
        exchange_reserve: int,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_cost + exchange_reserve >= budget:
            raise ValueError("the refreshes and the exchange reserve leave nothing for the tenants")
        self.weight_per_minute = weight_per_minute
        self.budget = budget
        self.refresh_cost = refresh_cost
        self.exchange_reserve = exchange_reserve
        self.pool = budget - refresh_cost - exchange_reserve
        self._now = now
        self._own = _Window()
        self._exchange = _Window()
        self._reads = _Window()  # every tenant's reads together
        self._tenants: dict[str, _Window] = {}
        self._seen: dict[str, float] = {}  # tenant → when it last asked for a metered read

    # ------------------------------------------------------------------ shares
    def _active(self, now: float) -> int:
        # A tenant quiet for a minute has spent nothing in the window (its reads are older): forgotten.
        for tenant in [t for t, at in self._seen.items() if at <= now - WINDOW_S]:
            del self._seen[tenant]
            self._tenants.pop(tenant, None)
        return len(self._seen)

    def share(self, tenant: str) -> int:
        """The tenant's share of the pool now (as if it were active)."""
        now = self._now()
        active = self._active(now) + (tenant not in self._seen)
        return self.pool // (active + 1)

    # ------------------------------------------------------------------ spending
    def read(self, tenant: str, weight: int) -> Admission:
        """A tenant's read of `weight`: charged and admitted, or refused (nothing charged)."""
        now = self._now()
        self._seen[tenant] = now
        window = self._tenants.setdefault(tenant, _Window())
        share = self.pool // (self._active(now) + 1)
        spent = window.spent(now)
        if spent + weight > share:
            return Admission(False, _whole(window.free_in(now, spent + weight - share)))
        total = self._reads.spent(now)
        if total + weight > self.pool:
            return Admission(False, _whole(self._reads.free_in(now, total + weight - self.pool)))
        window.add(now, weight)
        self._reads.add(now, weight)
        return Admission(True)

    def charge(self, tenant: str, weight: int) -> None:
        """Weight known only from the answer (its items), charged to the tenant's read after the fact."""
        now = self._now()
        window = self._tenants.get(tenant)
        if window is not None:  # a tenant forgotten meanwhile has nothing left to be fair about
            window.add(now, weight)
        self._reads.add(now, weight)

    def exchange(self, weight: int) -> Admission:
        """An /exchange request: from the reserve, else from what is left of the whole budget."""
        now = self._now()
        spent = self._exchange.spent(now)
        if spent + weight > self.exchange_reserve:
            everything = self.spent()
            if everything + weight > self.budget:
                over = spent + weight - self.exchange_reserve
                return Admission(False, _whole(self._exchange.free_in(now, over)))
        self._exchange.add(now, weight)
        return Admission(True)

    def refreshed(self, weight: int) -> None:
        """The gateway's own refresh spent `weight` (within its reserve, recorded for the total)."""
        self._own.add(self._now(), weight)

    # ------------------------------------------------------------------ views
    def spent(self) -> int:
        """Everything spent through this address in the last minute."""
        now = self._now()
        return self._own.spent(now) + self._exchange.spent(now) + self._reads.spent(now)

    def view(self, tenant: str) -> TenantView:
        window = self._tenants.get(tenant)
        return TenantView(
            weight_per_minute=self.weight_per_minute,
            budget=self.budget,
            spent=self.spent(),
            refresh_reserve=self.refresh_cost,
            exchange_reserve=self.exchange_reserve,
            share=self.share(tenant),
            tenant_spent=window.spent(self._now()) if window is not None else 0,
        )


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))
