"""The PnL split: parts always add up, and every perp step of a position counts in its fees."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from shared.rates import FundingRate
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.pnl import PnlSplit, attributed_funding, fees_of, position_cloids
from tenant_bot.execution.states import PERP_STEPS, Flow, State, StepName
from tenant_bot.storage.database import open_database
from tenant_bot.storage.models import Position
from tenant_bot.venues.hyperliquid_models import Fill, FundingPayment


def test_price_is_what_is_left_so_the_parts_add_up() -> None:
    split = PnlSplit(funding=D("3.5"), interest=D("-0.4"), staking=D("0.2"), fees=D("-1.1"), total=D("7"))
    assert split.price == D("4.8")
    parts = split.parts()
    assert list(parts) == ["funding", "interest", "staking", "fees", "price", "total"]
    assert sum(v for k, v in parts.items() if k != "total") == parts["total"]
    assert "hl_fees" not in split.as_ledger()
    assert PnlSplit(D(0), D(0), D(0), D(-1), D(-1), hl_fees=D(-1)).as_ledger()["hl_fees"] == D(-1)


def test_every_perp_step_of_every_flow_counts_in_a_positions_fees(tmp_path: Path) -> None:
    """The copy of this list in pnl.py missed the rebalance and reduce fills: their fees went uncounted."""
    journal = Journal(open_database(tmp_path / "bot.sqlite3"))
    position = Position(id="p1", status="open", asset="SOL", protocol="kamino", leverage=D(3))
    flows = {
        StepName.HEDGE: Flow.OPEN,
        StepName.UNWIND_SHORT: Flow.OPEN,
        StepName.CLOSE_SHORT: Flow.CLOSE,
        StepName.REDUCE_SHORT: Flow.REDUCE,
        StepName.REBALANCE: Flow.REBALANCE,
    }
    assert set(flows) == set(PERP_STEPS)
    cloids = {}
    for step, flow in flows.items():
        ex = journal.begin(position, flow, State.DONE, {}, requested_by="test")
        cloids[step] = f"0x{len(cloids):032x}"
        journal.intent(ex, step, 1, key=cloids[step], request={})
    ex = journal.begin(position, Flow.OPEN, State.DONE, {}, requested_by="test")
    journal.intent(ex, StepName.LONG, 1, key="a-solana-signature", request={})
    assert position_cloids(journal, "p1") == set(cloids.values())

    fills = [_fill(cloid, fee=D("0.5")) for cloid in cloids.values()] + [_fill("0x" + "f" * 32, fee=D(9))]
    assert fees_of(fills, position_cloids(journal, "p1")) == D("2.5")


def test_funding_is_attributed_by_the_positions_share_of_the_short() -> None:
    rate = FundingRate.hourly(D("0.0001"))
    payments = [
        FundingPayment("SOL", 1_000, D(2), D(-10), rate),  # the account was short 10; the position 5
        FundingPayment("SOL", 2_000, D(1), D(-4), rate),  # smaller than the position: all of it
        FundingPayment("BTC", 3_000, D(7), D(-1), rate),  # another coin
        FundingPayment("SOL", 500, D(100), D(-10), rate),  # before the open
    ]
    assert attributed_funding(payments, D(5), since_ms=1_000) == D(2)


def _fill(cloid: str, fee: D) -> Fill:
    return Fill("SOL", D(150), D(1), True, 1_000, 1, cloid, fee, D(0), True)
