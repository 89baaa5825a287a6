"""Shadow mode's hypothetical PnL: funding and lending interest accrued each tick, worked by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from shared.rates import FundingRate
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.shadow import ShadowExecutor
from tenant_bot.execution.states import Flow, State
from tenant_bot.storage.database import open_database
from tenant_bot.storage.models import Position
from tests.unit.tenant_bot.strategy.snapshots import AT, snapshot


class NoVenues:
    """Accruing reads no venue: any call would fail the test."""

    hyperliquid: Any = None
    asgard: Any = None
    owner = "shadow-owner"


async def test_a_shadow_position_accrues_supply_and_borrow_interest_as_well_as_funding(
    tmp_path: Path,
) -> None:
    """Issue 15: the shadow PnL had funding only; supply, borrow and staking were left out."""
    journal = Journal(open_database(tmp_path / "bot.sqlite3"))
    year_ago = AT - timedelta(days=365)
    position = Position(
        id="s1",
        status="open",
        asset="SOL",
        protocol="kamino",
        leverage=D(3),
        shadow=True,
        long_token_size=D(10),
        debt_usdc=D(1000),
        short_size=D(10),
        ledger={"funding": "0", "interest": "0", "fees": "-2", "accrued_at": year_ago.isoformat()},
    )
    journal.begin(position, Flow.OPEN, State.DONE, {"shadow": True}, requested_by="test")
    shadow = ShadowExecutor(journal, NoVenues(), None, ExecutionConfig())  # type: ignore[arg-type]
    # Kamino SOL: supply 5 % APY, borrow 7 % APY (the snapshot's); SOL at 149.98 on Asgard, 150.05
    # Hyperliquid's oracle; funding 0.00125 % an hour.
    snap = replace(snapshot(), funding=FundingRate.hourly("0.0000125"))
    await shadow.accrue(snap)
    ledger = journal.position("s1").ledger
    # One year: supply 10 x 149.98 x 5 % = 74.99; borrow 1000 x 7 % = 70; interest 4.99.
    assert abs(D(ledger["interest"]) - D("4.99")) < D("0.000001")
    # Funding: 10 SOL x 150.05 x 0.0000125 x 8760 hours = 164.30475.
    assert abs(D(ledger["funding"]) - D("164.30475")) < D("0.000001")
    assert ledger["fees"] == "-2" and ledger["accrued_at"] == AT.isoformat()
    await shadow.accrue(snap)  # nothing more within the same instant
    assert journal.position("s1").ledger["interest"] == ledger["interest"]
