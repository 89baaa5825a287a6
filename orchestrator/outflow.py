"""`OutflowBudget`: how much of each asset a tenant's signatures let flow out, over a sliding window,
counted in the control-plane database so a restart (or a second worker) does not reset it.

What counts as outflow is decided by the transaction policy (`shared.transaction_policy.Outflow`:
withdrawals, SOL sent to others, fees); the budget per asset and the window are the policy's
`outflow_budget` and `outflow_budget_window`. An outflow is counted when the broker is about to sign,
whether or not the bot then sends the transaction (the broker cannot know), and refunded if the
signature is not made after all (Privy failed).

`spend` checks and records in one transaction under a lock per tenant (PostgreSQL: an advisory
lock; SQLite: its single write lock), so signing requests racing each other cannot all slip under
the budget; the same pattern as the sign-in limits (orchestrator/auth/rate_limit.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.database.models import BrokerOutflow
from orchestrator.database.session import serialize
from shared.assets import Asset
from shared.transaction_policy import Outflow


class OverBudget(Exception):
    """The outflow would pass the tenant's budget for `asset`; `reason` is a sentence to show."""

    def __init__(self, reason: str, retry_after_s: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Spent:
    """The rows one `spend` recorded, so they can be refunded."""

    ids: tuple[int, ...] = ()


class OutflowBudget:
    def __init__(
        self,
        db: sessionmaker[Session],
        budget: Mapping[Asset, Decimal],
        window: timedelta,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self.budget = dict(budget)
        self.window = window
        self._now = clock

    def spend(self, tenant_id: str, outflow: Outflow) -> Spent:
        """Record `outflow` for the tenant if every asset stays within its budget, else `OverBudget`."""
        if not outflow:
            return Spent()
        now = self._now()
        since = now - self.window
        with self._db.begin() as db:
            serialize(db, f"broker-outflow:{tenant_id}")
            db.execute(
                delete(BrokerOutflow).where(BrokerOutflow.tenant_id == tenant_id, BrokerOutflow.at <= since)
            )
            for asset, amount in outflow.amounts.items():
                if amount > 0:
                    self._check(db, tenant_id, asset, amount, since)
            rows = [
                BrokerOutflow(tenant_id=tenant_id, asset=asset.value, amount=str(amount), at=now)
                for asset, amount in outflow.amounts.items()
                if amount > 0
            ]
            db.add_all(rows)
            db.flush()
            return Spent(tuple(row.id for row in rows))

    def refund(self, spent: Spent) -> None:
        """Take back what `spend` recorded (nothing was signed after all)."""
        if spent.ids:
            with self._db.begin() as db:
                db.execute(delete(BrokerOutflow).where(BrokerOutflow.id.in_(spent.ids)))

    def used(self, tenant_id: str) -> dict[Asset, Decimal]:
        """Each asset's outflow inside the window, as it stands now."""
        since = self._now() - self.window
        with self._db() as db:
            rows = db.execute(
                select(BrokerOutflow.asset, BrokerOutflow.amount).where(
                    BrokerOutflow.tenant_id == tenant_id, BrokerOutflow.at > since
                )
            ).all()
        used: dict[Asset, Decimal] = {}
        for asset, amount in rows:
            used[Asset(asset)] = used.get(Asset(asset), Decimal(0)) + Decimal(amount)
        return used

    def _check(self, db: Session, tenant_id: str, asset: Asset, amount: Decimal, since: datetime) -> None:
        limit = self.budget.get(asset, Decimal(0))
        hours = f"{self.window.total_seconds() / 3600:g} h"
        if amount > limit:
            raise OverBudget(
                f"this would let {amount} {asset.value} flow out of the user's accounts, more than the "
                f"tenant's whole outflow budget of {limit} {asset.value} per {hours}",
                None,
            )
        rows = db.execute(
            select(BrokerOutflow.at, BrokerOutflow.amount)
            .where(BrokerOutflow.tenant_id == tenant_id, BrokerOutflow.asset == asset.value)
            .where(BrokerOutflow.at > since)
            .order_by(BrokerOutflow.at)
        ).all()
        used = sum((Decimal(a) for _, a in rows), Decimal(0))
        if used + amount <= limit:
            return
        # The soonest enough of the window's outflow has aged out for this one to fit.
        freed, retry_at = Decimal(0), self._now()
        for at, counted in rows:
            freed += Decimal(counted)
            if used - freed + amount <= limit:
                retry_at = as_utc(at) + self.window
                break
        wait = max(1, int((retry_at - self._now()).total_seconds()) + 1)
        raise OverBudget(
            f"this would let {amount} {asset.value} flow out of the user's accounts, after {used} "
            f"{asset.value} in the last {hours}: more than the tenant's outflow budget of {limit} "
            f"{asset.value} (it frees up in {wait} s)",
            wait,
        )
