"""The PnL split: parts always add up, and every perp step of a position counts in its fees."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from shared.rates import FundingRate
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.pnl import (
    LongState,
    PnlSplit,
    attributed_funding,
    fees_of,
    long_leg,
    lost,
    opening,
    position_cloids,
    realised_split,
    staking_gain,
)
from tenant_bot.execution.states import PERP_STEPS, Flow, State, StepName, StepStatus
from tenant_bot.storage.database import open_database
from tenant_bot.storage.models import Position
from tenant_bot.venues.hyperliquid_models import Fill, FundingPayment


def test_the_split_keeps_its_parts_and_says_what_they_leave_unexplained() -> None:
    split = PnlSplit(D("3.5"), D("-0.4"), D("0.2"), D("-1.1"), D("4.8"), total=D("7"))
    parts = split.parts()
    assert list(parts) == ["funding", "interest", "staking", "fees", "price", "total"]
    assert split.unexplained == 0
    assert PnlSplit(D("3.5"), D("-0.4"), D("0.2"), D("-1.1"), D("4"), total=D("7")).unexplained == D("0.8")
    assert "hl_fees" not in split.as_ledger()
    assert PnlSplit(D(0), D(0), D(0), D(-1), D(0), D(-1), hl_fees=D(-1)).as_ledger()["hl_fees"] == D(-1)


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


# ------------------------------------------------------------------------------------------------
# A 3x SOL position with 1000 USDC of margin, deleveraged once and closed; every figure worked by hand.
#
# Open at $100: notional 3000, Asgard fee 4.5, 2995.5 USDC swapped for 29.9 SOL (impact 5.5), debt 2000.
# By the deleverage (SOL $110) supply interest made it 29.95 SOL and the debt grew to 2001. The
# deleverage sold 7 SOL for 767 USDC (impact 3, no fee), all of it repaying debt: 22.95 SOL, 1234 owed.
# By the close (SOL $120): 22.96 SOL, 1234.5 owed; all sold for 2750.2 USDC (impact 5), 1515.7 paid out.
# Hyperliquid: short 29.9 at 100 (fee 1.35), bought back 7 at 110 by the reduction (closed PnL -70,
# fee 0.35), 0.05 sold at 110 by a rebalance (fee 0.0025), 22.95 bought back at 120 by the close
# (closed PnL -458.5 against the average entry 2295.5 / 22.95, fee 1). Funding received: 12.3.
#
# Long: price 29.9 x 10 + 22.95 x 10 = 528.5; supply 0.05 x 110 + 0.01 x 120 = 6.7; borrow -1 - 0.5
# = -1.5; fees -(4.5 + 5.5 + 3 + 5) = -18; cash 1515.7 - 1000 = 515.7 (= 528.5 + 6.7 - 1.5 - 18).
# Short: realised -528.5; fees -2.7025. Total 515.7 - 528.5 - 2.7025 + 12.3 = -3.2025.
# Parts: funding 12.3, interest 5.2, staking 0, fees -20.7025, price 528.5 - 528.5 = 0.
RECORD = {
    "positionPda": "PDA1",
    "protocol": 1,
    "collateralType": 1,
    "collateralAmountUI": "1000",
    "tokenAEntryPriceUSD": "100",
    "tokenAAmountUIEntry": "29.9",
    "tokenBAmountUIEntry": "2000",
    "tokenAAmountUICurrent": "22.95",  # after the deleverage (the last modification)
    "tokenBAmountUICurrent": "1234",
    "entryMarketMetadata": {"onChainExecutedMetadata": {"inputAmount": 2995.5, "outputAmount": 29.9}},
    "openFeesMetadata": {"asgardFeeUsd": 4.5},
    "tokenAExitPriceUSD": "120",
    "exitMarketMetadata": {"onChainExecutedMetadata": {"inputAmount": 22.96, "outputAmount": 2750.2}},
    "closeFeesMetadata": {"asgardFeeUsd": 0, "receivedUsdcUI": 1515.7, "receivedTokenAUI": 0},
}
DELEVERAGE = {
    "updateType": 1,
    "preTokenAAmountUI": 29.95,
    "preTokenBAmountUI": 2001,
    "swapInAmount": 7,
    "swapOutAmount": 767,
    "postTokenAAmountUI": 22.95,
    "postTokenBAmountUI": 1234,
    "tokenAPriceUSD": 110,
}
CLOIDS = {
    "hedge": "0x" + "1" * 32,
    "reduce": "0x" + "2" * 32,
    "rebalance": "0x" + "3" * 32,
    "close": "0x" + "4" * 32,
}


class FakeHyperliquid:
    """Hyperliquid's recorded answers for this position (an external venue, not one of ours)."""

    async def user_fills(self) -> list[Fill]:
        return [
            Fill("SOL", D(100), D("29.9"), False, 1, 1, CLOIDS["hedge"], D("1.35"), D(0), True),
            Fill("SOL", D(110), D(7), True, 2, 2, CLOIDS["reduce"], D("0.35"), D(-70), True),
            Fill("SOL", D(110), D("0.05"), False, 3, 3, CLOIDS["rebalance"], D("0.0025"), D(0), True),
            Fill("SOL", D(120), D("22.95"), True, 4, 4, CLOIDS["close"], D(1), D("-458.5"), True),
            Fill("SOL", D(120), D(5), True, 5, 5, "0x" + "9" * 32, D(9), D(99), True),  # another position's
        ]

    async def user_funding(self, since_ms: int) -> list[FundingPayment]:
        rate = FundingRate.hourly(D("0.0001"))
        return [FundingPayment("SOL", 10, D("12.3"), D("-22.95"), rate)]

    async def mids(self) -> dict[str, D]:
        return {"SOL": D(120)}


class FakeAsgard:
    async def position_record(self, pda: str) -> dict[str, object]:
        assert pda == "PDA1"
        return RECORD


class FakeVenues:
    hyperliquid = FakeHyperliquid()
    asgard = FakeAsgard()


async def test_a_closed_position_counts_every_fill_and_every_yield_once(tmp_path: Path) -> None:
    """Issue 15: the debt the deleverage repaid counted as interest, supply interest as price."""
    journal = Journal(open_database(tmp_path / "bot.sqlite3"))
    position = Position(
        id="p1",
        status="open",
        asset="SOL",
        protocol="kamino",
        leverage=D(3),
        asgard_position_id="PDA1",
        collateral_usdc=D(1000),
        short_size=D("22.95"),
    )
    for flow, step, key in (
        (Flow.OPEN, StepName.HEDGE, "hedge"),
        (Flow.REDUCE, StepName.REDUCE_SHORT, "reduce"),
        (Flow.REBALANCE, StepName.REBALANCE, "rebalance"),
        (Flow.CLOSE, StepName.CLOSE_SHORT, "close"),
    ):
        ex = journal.begin(position, flow, State.DONE, {}, requested_by="test")
        journal.intent(ex, step, 1, key=CLOIDS[key], request={})
    [reduce] = journal.executions_of("p1", Flow.REDUCE)
    payload = {"updateRecordData": DELEVERAGE, "feesMetadata": {"asgardFeeUsd": 0}}
    step = journal.intent(
        reduce.id, StepName.REDUCE_LONG, 1, key="sig-deleverage", request={"payload": payload}
    )
    journal.finish(step.id, StepStatus.DONE, {})
    # An attempt that never landed (its build was refused) counts for nothing.
    failed = journal.intent(
        reduce.id, StepName.REDUCE_LONG, 2, key="sig-refused", request={"payload": payload}
    )
    journal.finish(failed.id, StepStatus.FAILED, {})

    split = await realised_split(journal, FakeVenues(), journal.position("p1"))  # type: ignore[arg-type]
    assert split.funding == D("12.3")
    assert split.interest == D("5.2")  # supply 6.7, borrow -1.5; not the 766 of debt repaid
    assert split.staking == 0
    assert split.fees == D("-20.7025")
    assert split.price == 0  # the long's 528.5 against the short's -528.5
    assert split.total == D("-3.2025")
    assert split.hl_fees == D("-2.7025") and split.asgard_fees == D("-4.5")
    # The parts, each computed on its own, add up to the total computed from the cash.
    assert split.unexplained == 0


def test_a_long_lost_at_liquidation_loses_its_margin_and_its_parts_still_add_up() -> None:
    """A 4x long of 20 SOL at 200 (1,000 USDC margin, 3,000 owed) liquidated at 165: the price part
    is the fall, the equity left at 165 is lost, and together they are the margin."""
    record = {
        "tokenAAmountUIEntry": "20",
        "tokenBAmountUIEntry": "3000",
        "tokenAEntryPriceUSD": "200",
        "collateralAmountUI": "1000",
        "entryMarketMetadata": {"onChainExecutedMetadata": {"inputAmount": "4000"}},
        "openFeesMetadata": {"asgardFeeUsd": "0"},
    }
    opened = opening(record)
    change, end = lost(opened.after, D(165))
    assert end == LongState(D(0), D(0), D(165))
    assert change.fee_usd == 20 * 165 - 3000 and change.paid_out_usdc == 0
    leg = long_leg([opened, change], end)
    assert leg.price == 20 * (165 - 200)
    assert leg.fees == -(20 * 165 - 3000)
    assert leg.cash == -1000
    assert leg.price + leg.supply + leg.borrow + leg.fees == leg.cash
    split = PnlSplit(D(0), D(0), D(0), D(0), D(0), D(0), long_lost=D(-300))
    assert split.as_ledger()["long_lost"] == D(-300)
    assert "long_lost" not in PnlSplit(D(0), D(0), D(0), D(0), D(0), D(0)).as_ledger()


def test_staking_is_the_pools_growth_on_the_tokens_and_never_negative() -> None:
    # 10 jitoSOL, its pool from 1.2500 to 1.2512 SOL per token, SOL at 150: 10 × 150 × 0.0012 = 1.8.
    assert staking_gain(D(10), D(150), D("1.2500"), D("1.2512")) == D("1.8")
    # A rate below the open's (a market discount read where no pool is): price, not staking.
    assert staking_gain(D(10), D(150), D("1.2500"), D("1.2400")) == 0
