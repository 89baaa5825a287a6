"""The per-tenant outflow budget on a real database (SQLite and PostgreSQL), with a clock the tests
move: within the budget, over it (with when it frees up), refunds, the sliding window, a restart
(a new `OutflowBudget` on the same database), and signing requests racing for the last of it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.database.session import open_database
from orchestrator.outflow import OutflowBudget, OverBudget
from shared.assets import Asset
from shared.transaction_policy import Outflow

BUDGET = {Asset.USDC: Decimal(1000), Asset.SOL: Decimal("0.05")}
DAY = timedelta(hours=24)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(control_plane_db_url: str) -> Iterator[sessionmaker[Session]]:
    sessions = open_database(control_plane_db_url)
    yield sessions
    sessions.kw["bind"].dispose()


def usdc(amount: str) -> Outflow:
    return Outflow({Asset.USDC: Decimal(amount)})


def test_outflow_is_summed_per_asset_until_the_budget(db: sessionmaker[Session]) -> None:
    clock = Clock()
    budget = OutflowBudget(db, BUDGET, DAY, clock=clock)
    budget.spend("t-a", usdc("600"))
    budget.spend("t-a", Outflow({Asset.USDC: Decimal("400"), Asset.SOL: Decimal("0.01")}))
    assert budget.used("t-a") == {Asset.USDC: Decimal(1000), Asset.SOL: Decimal("0.01")}
    clock.now += timedelta(hours=1)
    with pytest.raises(OverBudget) as err:
        budget.spend("t-a", usdc("0.000001"))
    # It frees up when the first 600 leave the window, 23 hours from now.
    assert err.value.retry_after_s == 23 * 3600 + 1
    assert "after 1000 USDC in the last 24 h" in err.value.reason and "1000 USDC" in err.value.reason
    # Refused whole: the SOL part of a refused outflow was not recorded either.
    with pytest.raises(OverBudget):
        budget.spend("t-a", Outflow({Asset.SOL: Decimal("0.01"), Asset.USDC: Decimal(1)}))
    assert budget.used("t-a")[Asset.SOL] == Decimal("0.01")
    # Another tenant has a budget of its own; nothing at all for an asset without one.
    budget.spend("t-b", usdc("1000"))
    with pytest.raises(OverBudget) as err:
        budget.spend("t-b", Outflow({Asset.JITOSOL: Decimal("0.1")}))
    assert err.value.retry_after_s is None and "whole outflow budget of 0 jitoSOL" in err.value.reason


def test_the_window_slides_and_a_restart_does_not_reset_it(db: sessionmaker[Session]) -> None:
    clock = Clock()
    OutflowBudget(db, BUDGET, DAY, clock=clock).spend("t-a", usdc("900"))
    clock.now += timedelta(hours=12)
    restarted = OutflowBudget(db, BUDGET, DAY, clock=clock)  # a new process on the same database
    with pytest.raises(OverBudget):
        restarted.spend("t-a", usdc("200"))
    restarted.spend("t-a", usdc("100"))
    clock.now += timedelta(hours=12)  # the 900 have left the window; the 100 have not
    restarted.spend("t-a", usdc("900"))
    assert restarted.used("t-a") == {Asset.USDC: Decimal(1000)}


def test_a_refund_gives_the_budget_back_and_no_outflow_costs_nothing(db: sessionmaker[Session]) -> None:
    budget = OutflowBudget(db, BUDGET, DAY, clock=Clock())
    spent = budget.spend("t-a", usdc("1000"))
    assert spent.ids
    budget.refund(spent)
    assert budget.used("t-a") == {}
    assert budget.spend("t-a", Outflow({})).ids == ()
    budget.spend("t-a", usdc("1000"))


def test_racing_requests_cannot_all_slip_under_the_budget(db: sessionmaker[Session]) -> None:
    budget = OutflowBudget(db, BUDGET, DAY)

    def one(_: int) -> bool:
        try:
            budget.spend("t-race", usdc("100"))
        except OverBudget:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(20)))
    assert sum(results) == 10
    assert budget.used("t-race") == {Asset.USDC: Decimal(1000)}
