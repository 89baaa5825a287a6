"""One upstream address's Hyperliquid budget, spent in a sliding minute by the gateway and its tenants.

The budget B (`GatewayConfig.budget`, 80 % of the venue's 1,200) is split, in this order:
1. the gateway's own REST refreshes: a reserve R, what they cost a minute at their cadences now
   (`set_refresh_reserve`: smaller while the websocket feed carries entries, larger while it is down);
2. the exchange reserve E: weight that only /exchange spends, so that orders never wait behind reads;
   an order past it may still use what nobody else spent of the budget;
3. the rest, the pool P = B − R − E, shared by the tenants' reads.

Tenants: each has a share S = (P − H) / (tenants active in the last minute + 1), H being
`heavy_read_weight` (the heaviest read a bot must be able to make), and a bucket of credit that fills
at S a minute up to max(S, H); every read takes its weight from the credit. A read is
- light when its weight is at most S: admitted when the credit covers it and the tenant's light
  reads of the last minute (with what their answers' items were charged) stay within S, and all
  reads together within P − H; a heavy read's own weight is paid from the credit only, so it does
  not hold the tenant's account reads back for the minute after it;
- heavy when its weight is more than S (userFills, userFunding, userFees weigh 20 and more, and S is
  about 3 with 150 tenants): admitted when the credit covers it, within the whole pool P.
Weight known only from the answer (its items) is taken afterwards, and may leave the credit
negative, which the tenant repays by waiting (a pause never forgives it). So:
- no tenant starves another: each spends at most S a minute in the long run (its credit fills no
  faster), and light reads at most S in any minute; the shares of the active tenants add up to less
  than P − H, so a tenant's light read within its share always finds room in the pool;
- a heavy read is never starved: a tenant that spent less than its share has credit for it, and the
  last H of the pool is kept from light reads, so it fits even while every other tenant spends its
  share (the old meter capped every read at S in any minute: a 20-weight userFills never fitted
  with 150 tenants, so a bot closing a position could not read its fills);
- one share is always kept for a newcomer, whose bucket starts full: it finds room at once.

The address never passes B: every admission keeps own + reads + max(exchange, E) ≤ B (`_room`), so
the exchange reserve is always there for orders, and when R grows (the feed went down) the pool
shrinks at once while the refreshes wait for the reads already in the window to leave it. Only the
items of an answer, charged after it, can pass B, by what one answer holds: the 20 % margin absorbs it.

Pure: no I/O, the clock is injected; not thread-safe (the gateway runs in one event loop). A change
of S (tenants coming and going, R moving) applies from the next read of each tenant on.
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


class _Bucket:
    """A tenant's credit, as of `at`."""

    __slots__ = ("at", "credit")

    def __init__(self, credit: float, at: float) -> None:
        self.credit, self.at = credit, at

    def fill(self, now: float, per_minute: float, capacity: float) -> float:
        # Never above the capacity of now: a share that shrank (more tenants) shrinks the bucket too.
        self.credit = min(capacity, self.credit + (now - self.at) * per_minute / WINDOW_S)
        self.at = now
        return self.credit


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
    refresh_reserve: int  # what the gateway's own REST refreshes take now
    exchange_reserve: int
    share: int  # this tenant's credit a minute
    tenant_spent: int  # this tenant, in the last minute
    tenant_credit: int  # what this tenant may spend now (negative: what it still owes)


class Meter:
    def __init__(
        self,
        *,
        weight_per_minute: int,
        budget: int,
        refresh_cost: int,
        exchange_reserve: int,
        heavy_read_weight: int = 60,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """`refresh_cost`: the refreshes' reserve at start (the feed is not up yet: all of them)."""
        self.weight_per_minute = weight_per_minute
        self.budget = budget
        self.exchange_reserve = exchange_reserve
        self.heavy = heavy_read_weight
        self._now = now
        self.set_refresh_reserve(refresh_cost)
        self._own = _Window()
        self._exchange = _Window()
        self._reads = _Window()  # every tenant's reads together
        self._tenants: dict[str, _Window] = {}  # each tenant's spending, all of it
        self._light: dict[str, _Window] = {}  # each tenant's light reads (the cap in any minute)
        self._buckets: dict[str, _Bucket] = {}
        self._seen: dict[str, float] = {}  # tenant → when it last asked for a metered read
        self._pruned_at = now()

    def set_refresh_reserve(self, refresh_cost: int) -> None:
        """What the gateway's own refreshes cost a minute now; the pool is the rest."""
        if refresh_cost + self.exchange_reserve + self.heavy >= self.budget:
            raise ValueError(
                "the refreshes, the exchange reserve and the heavy read leave nothing for the tenants"
            )
        self.refresh_reserve = refresh_cost
        self.pool = self.budget - refresh_cost - self.exchange_reserve

    # ------------------------------------------------------------------ shares
    def _active(self, now: float) -> int:
        # A tenant quiet for a minute is no longer active. Its bucket is kept while it owes (so that
        # a pause never forgives a debt), and forgotten once full again (checked once a minute).
        for tenant in [t for t, at in self._seen.items() if at <= now - WINDOW_S]:
            del self._seen[tenant]
            self._tenants.pop(tenant, None)
            self._light.pop(tenant, None)
        if now - self._pruned_at >= WINDOW_S:
            self._pruned_at = now
            share = (self.pool - self.heavy) / (len(self._seen) + 1)
            for tenant in [t for t in self._buckets if t not in self._seen]:
                if self._buckets[tenant].fill(now, share, max(share, self.heavy)) >= max(share, self.heavy):
                    del self._buckets[tenant]
        return len(self._seen)

    def _share(self, now: float, tenant: str) -> float:
        """`tenant`'s share a minute now, as an active tenant (counted once, whether it was or not)."""
        active = self._active(now)
        return (self.pool - self.heavy) / (active + (tenant not in self._seen) + 1)

    def _bucket(self, tenant: str, now: float, share: float) -> _Bucket:
        bucket = self._buckets.get(tenant)
        if bucket is None:  # a newcomer starts full
            bucket = self._buckets[tenant] = _Bucket(max(share, self.heavy), now)
        return bucket

    def share(self, tenant: str) -> int:
        """The tenant's share of the pool a minute now (as if it were active)."""
        return int(self._share(self._now(), tenant))

    # ------------------------------------------------------------------ spending
    def _room(self, now: float) -> int:
        """What can still be spent while keeping own + reads + max(exchange, E) within the budget."""
        exchange = max(self._exchange.spent(now), self.exchange_reserve)
        return self.budget - self._own.spent(now) - self._reads.spent(now) - exchange

    def _frees(self, now: float, over: int) -> float:
        """Seconds until `over` weight of the address's spending has left the window."""
        return min(w.free_in(now, over) for w in (self._own, self._reads, self._exchange))

    def read(self, tenant: str, weight: int) -> Admission:
        """A tenant's read of `weight`: charged and admitted, or refused (nothing charged)."""
        now = self._now()
        self._seen[tenant] = now
        share = self._share(now, tenant)
        bucket = self._bucket(tenant, now, share)
        credit = bucket.fill(now, share, max(share, self.heavy))
        if credit < weight:
            return Admission(False, _whole((weight - credit) * WINDOW_S / share))
        window = self._tenants.setdefault(tenant, _Window())
        light = self._light.setdefault(tenant, _Window())
        heavy = weight > share
        if not heavy:
            # Light reads only: a heavy read (paid from the credit) must not hold the account's read
            # back for a minute after it.
            spent = light.spent(now)
            if spent + weight > share:
                return Admission(False, _whole(light.free_in(now, math.ceil(spent + weight - share))))
        limit = self.pool if heavy else self.pool - self.heavy
        total = self._reads.spent(now)
        if total + weight > limit:
            return Admission(False, _whole(self._reads.free_in(now, total + weight - limit)))
        room = self._room(now)
        if weight > room:
            return Admission(False, _whole(self._frees(now, weight - room)))
        bucket.credit -= weight
        window.add(now, weight)
        if not heavy:
            light.add(now, weight)
        self._reads.add(now, weight)
        return Admission(True)

    def charge(self, tenant: str, weight: int) -> None:
        """Weight known only from the answer (its items), charged to the tenant's read after the fact."""
        now = self._now()
        bucket = self._buckets.get(tenant)
        if bucket is not None:
            bucket.credit -= weight
        for windows in (self._tenants, self._light):  # a long answer counts in the minute's cap too
            window = windows.get(tenant)
            if window is not None:
                window.add(now, weight)
        self._reads.add(now, weight)

    def exchange(self, weight: int) -> Admission:
        """An /exchange request: from the reserve, else from what is left of the whole budget."""
        now = self._now()
        spent = self._exchange.spent(now)
        if spent + weight > self.exchange_reserve and self.spent() + weight > self.budget:
            over = spent + weight - self.exchange_reserve
            return Admission(False, _whole(self._exchange.free_in(now, over)))
        self._exchange.add(now, weight)
        return Admission(True)

    def refresh(self, weight: int) -> bool:
        """May the gateway's own refresh of `weight` go now? Charged when it may. Within the refresh
        reserve whenever the tenants keep to the pool; after the reserve grew, once the reads spent
        under the larger pool have left the window."""
        now = self._now()
        if weight > self._room(now):
            return False
        self._own.add(now, weight)
        return True

    def refreshed(self, weight: int) -> None:
        """A refresh spent `weight` more than it was admitted for (the items of its answer)."""
        self._own.add(self._now(), weight)

    # ------------------------------------------------------------------ views
    def spent(self) -> int:
        """Everything spent through this address in the last minute."""
        now = self._now()
        return self._own.spent(now) + self._exchange.spent(now) + self._reads.spent(now)

    def view(self, tenant: str) -> TenantView:
        now = self._now()
        window = self._tenants.get(tenant)
        share = self._share(now, tenant)
        bucket = self._buckets.get(tenant)
        credit = (
            bucket.fill(now, share, max(share, self.heavy)) if bucket is not None else max(share, self.heavy)
        )
        return TenantView(
            weight_per_minute=self.weight_per_minute,
            budget=self.budget,
            spent=self.spent(),
            refresh_reserve=self.refresh_reserve,
            exchange_reserve=self.exchange_reserve,
            share=int(share),
            tenant_spent=window.spent(now) if window is not None else 0,
            tenant_credit=math.floor(credit),
        )


def _whole(seconds: float) -> int:
    return max(1, math.ceil(seconds))
