"""The accounts the feed keeps pushed (clearinghouseState subscriptions), each under one tenant.

The venue lets an IP follow at most 10 users over its websockets, so the gateway chooses whose
account to follow: the tenants reading their own account through it (a read names one of the
caller's addresses, checked in app.py), those with an open position first (their account moves with
the mark, and their risk engines read it most), then those that read it most in the last minute. A
subscription is kept at least `hold_s` (the choice does not churn, and the messages it costs stay
few) and dropped once its tenant has not read its account for `idle_s`.

Isolation: a subscription is taken for one tenant and one of its addresses, and what the venue
pushes for it is kept under that tenant and answered only to a request of that same tenant naming
that address (`answer`); a request of any other tenant goes on to the usual path (and its own
checks). Two tenants naming the same address never share a subscription: the second waits.

Every answer has the venue's body (the `clearinghouseState` the push carried, unchanged) and its
observed-at: when the push arrived, or later when a pong confirmed it unchanged (gateway/feed.py).
While the socket is down nothing is answered from here (the reads are forwarded and metered).

Pure: the clock is injected; used from the event loop only.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.market import Snapshot

WINDOW_S = 60.0


@dataclass
class _Demand:
    """One tenant's reads of one of its addresses."""

    reads: deque[float] = field(default_factory=deque)  # when, in the last minute
    has_position: bool = False

    def count(self, now: float) -> int:
        while self.reads and self.reads[0] <= now - WINDOW_S:
            self.reads.popleft()
        return len(self.reads)


@dataclass
class _Subscription:
    tenant_id: str
    since: float  # when it was subscribed (monotonic)
    state: Snapshot | None = None  # the pushed clearinghouseState, while the socket is up


@dataclass(frozen=True)
class Plan:
    """What the feed sends: addresses to unsubscribe, then addresses to subscribe."""

    drop: tuple[str, ...]
    add: tuple[tuple[str, str], ...]  # (tenant, address)


def user_subscription(address: str) -> dict[str, Any]:
    return {"type": "clearinghouseState", "user": address}


def asks_account(request: dict[str, Any]) -> str | None:
    """The address (lowercase) when `request` is exactly a clearinghouseState read the pushed state
    answers (the first perp dex), else None."""
    if request.get("type") != "clearinghouseState" or not set(request) <= {"type", "user", "dex"}:
        return None
    user = request.get("user")
    if request.get("dex") not in (None, "") or not isinstance(user, str):
        return None
    return user.lower()


class PushedAccounts:
    def __init__(
        self,
        slots: int,
        *,
        hold_s: float,
        idle_s: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = slots
        self.hold_s, self.idle_s = hold_s, idle_s
        self._now = now
        self._demand: dict[tuple[str, str], _Demand] = {}  # (tenant, address) → its reads
        self._last_read: dict[tuple[str, str], float] = {}
        self._subs: dict[str, _Subscription] = {}  # address → the subscription (one tenant's)

    # ------------------------------------------------------------------ the app's side
    def read(self, tenant_id: str, address: str) -> None:
        """The tenant read its own account `address` (lowercase)."""
        if not self.slots:
            return  # no account is followed (the feed is off)
        now = self._now()
        key = (tenant_id, address)
        demand = self._demand.setdefault(key, _Demand())
        demand.count(now)  # forget what left the minute
        demand.reads.append(now)
        self._last_read[key] = now

    def saw(self, tenant_id: str, address: str, body: bytes) -> None:
        """A clearinghouseState answer the tenant got over REST: whether the account holds a position."""
        demand = self._demand.get((tenant_id, address))
        if demand is not None:
            demand.has_position = _has_position(body)

    def answer(self, tenant_id: str, address: str) -> Snapshot | None:
        """The pushed state of `address` when it is kept under `tenant_id`, else None."""
        sub = self._subs.get(address)
        if sub is None or sub.tenant_id != tenant_id:
            return None
        return sub.state

    # ------------------------------------------------------------------ the feed's side
    def subscribed(self) -> list[str]:
        return list(self._subs)

    def plan(self) -> Plan:
        """Which subscriptions to drop and take now (the feed sends them, then calls `applied`)."""
        now = self._now()
        for key in [k for k, at in self._last_read.items() if at <= now - self.idle_s]:
            del self._last_read[key]
            self._demand.pop(key, None)
        taken = {address: sub.tenant_id for address, sub in self._subs.items()}

        def score(key: tuple[str, str]) -> tuple[bool, int]:
            demand = self._demand[key]
            return (demand.has_position, demand.count(now))

        candidates = [k for k in self._demand if taken.get(k[1], k[0]) == k[0]]
        wanted = sorted(candidates, key=score, reverse=True)[: self.slots]
        wanted_addresses = {address for _, address in wanted}
        drop = []
        for address, sub in self._subs.items():
            idle = (sub.tenant_id, address) not in self._last_read
            if idle or (address not in wanted_addresses and now - sub.since >= self.hold_s):
                drop.append(address)
        free = self.slots - (len(self._subs) - len(drop))
        add: dict[str, str] = {}  # address → tenant; one tenant per address
        for tenant, address in wanted:
            if address not in self._subs and address not in add and len(add) < free:
                add[address] = tenant
        return Plan(tuple(drop), tuple((tenant, address) for address, tenant in add.items()))

    def applied(self, plan: Plan) -> None:
        now = self._now()
        for address in plan.drop:
            self._subs.pop(address, None)
        for tenant, address in plan.add:
            self._subs[address] = _Subscription(tenant, now)

    def pushed(self, address: str, state: Any, observed_ms: int) -> None:
        """The venue pushed `address`'s clearinghouseState."""
        sub = self._subs.get(address)
        if sub is None or not isinstance(state, dict):
            return  # a push for a subscription dropped meanwhile
        body = json.dumps(state, separators=(",", ":")).encode()
        sub.state = Snapshot(body, observed_ms)
        demand = self._demand.get((sub.tenant_id, address))
        if demand is not None:
            demand.has_position = bool(state.get("assetPositions"))

    def confirm(self, observed_ms: int) -> None:
        """Every pushed state was still current at `observed_ms` (a pong)."""
        for sub in self._subs.values():
            if sub.state is not None and observed_ms > sub.state.observed_ms:
                sub.state = Snapshot(sub.state.body, observed_ms)

    def disconnected(self) -> None:
        """The socket is down: nothing pushed is answered until it is pushed again."""
        for sub in self._subs.values():
            sub.state = None


def _has_position(body: bytes) -> bool:
    try:
        state = json.loads(body)
    except ValueError:
        return False
    return isinstance(state, dict) and bool(state.get("assetPositions"))
