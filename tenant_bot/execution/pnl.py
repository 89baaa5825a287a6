"""A position's PnL split into funding, interest, staking, fees and price: the one place it is done.

`PnlSplit` is the split; `price` is always what is left of the total after the other parts, so the
parts add up to it. Two callers fill it:
- `realised_split`, at close, from what the venues recorded (not the bot's own estimates):
  funding from Hyperliquid's `userFunding` payments since the open, attributed to this position by
  its share of the SOL short at each payment; fees from Hyperliquid's fills of this position's
  orders (found by their cloids, of every perp step: hedge, rebalances, reductions, buy-backs)
  plus Asgard's open and close fees; interest from the growth of the USDC debt; staking from the
  growth of an LST's SOL rate (0 for SOL). Total = (USDC Asgard paid out at close − margin put in)
  + Hyperliquid realised PnL − Hyperliquid fees + funding.
- the dashboard's estimate of an open position (`tenant_bot/api/valuation.py`), with the same
  attribution rules on cached venue records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import PERP_STEPS
from tenant_bot.execution.venues import HEDGE_COIN, Venues
from tenant_bot.storage.models import Execution, Position, Step
from tenant_bot.venues.hyperliquid_models import Fill, FundingPayment

ZERO = Decimal(0)
# The parts every split has, as the ledger and the API name them.
PNL_PARTS = ("funding", "interest", "staking", "fees", "price", "total")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else ZERO


@dataclass(frozen=True)
class PnlSplit:
    funding: Decimal
    interest: Decimal
    staking: Decimal
    fees: Decimal  # negative: paid
    total: Decimal
    # The fees by venue, recorded at close only.
    hl_fees: Decimal | None = None
    asgard_fees: Decimal | None = None

    @property
    def price(self) -> Decimal:
        return self.total - self.funding - self.interest - self.staking - self.fees

    def parts(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in PNL_PARTS}

    def as_ledger(self) -> dict[str, Decimal]:
        by_venue = {"hl_fees": self.hl_fees, "asgard_fees": self.asgard_fees}
        return {**self.parts(), **{k: v for k, v in by_venue.items() if v is not None}}


def position_cloids(journal: Journal, position_id: str) -> set[str]:
    """The cloids of every Hyperliquid order any execution of the position sent."""
    with journal.db() as s:
        q = (
            select(Step.key)
            .join(Execution, Execution.id == Step.execution_id)
            .where(Execution.position_id == position_id, Step.name.in_(PERP_STEPS))
        )
        return {k for k in s.scalars(q) if k}


def fees_of(fills: Iterable[Fill], cloids: set[str]) -> Decimal:
    """Hyperliquid fees paid on the fills of these orders (positive)."""
    return sum((f.fee for f in fills if f.cloid in cloids), ZERO)


def attributed_funding(payments: Iterable[FundingPayment], short: Decimal, since_ms: int = 0) -> Decimal:
    """The position's share of SOL funding payments since `since_ms`: its short over the account's."""
    total = ZERO
    for p in payments:
        if p.coin == HEDGE_COIN and p.size != 0 and p.time_ms >= since_ms:
            total += p.usdc * min(Decimal(1), short / abs(p.size))
    return total


def opened_ms(position: Position) -> int:
    return int(position.opened_at.timestamp() * 1000) if position.opened_at else 0


async def realised_split(
    journal: Journal, venues: Venues, position: Position, lst_rate_open: Decimal = Decimal(1)
) -> PnlSplit:
    hl = venues.hyperliquid
    cloids = position_cloids(journal, position.id)
    fills = [f for f in await hl.user_fills() if f.cloid in cloids]
    hl_fees = fees_of(fills, cloids)
    hl_realised = sum((f.closed_pnl for f in fills), ZERO)
    since = opened_ms(position)
    funding = attributed_funding(await hl.user_funding(since), position.short_size or ZERO, since)

    record = await venues.asgard.position_record(position.asgard_position_id or "")
    open_fee = _dec((record.get("openFeesMetadata") or {}).get("asgardFeeUsd"))
    close_meta = record.get("closeFeesMetadata") or {}
    close_fee = _dec(close_meta.get("asgardFeeUsd"))
    debt_entry = _dec(record.get("tokenBAmountUIEntry"))
    debt_close = _dec(record.get("tokenBAmountUICurrent") or record.get("tokenBAmountUIEntry"))
    exit_price = _dec(record.get("tokenAExitPriceUSD"))
    paid_out = _dec(close_meta.get("receivedUsdcUI")) + _dec(close_meta.get("receivedTokenAUI")) * exit_price
    staking = ZERO
    if position.asset != "SOL" and position.long_token_size and lst_rate_open > 0:
        # The LST's SOL value grew from lst_rate_open to its rate at close; that growth is staking.
        sol_px = (await hl.mids()).get(HEDGE_COIN, ZERO)
        if sol_px > 0 and exit_price > 0:
            rate_close = exit_price / sol_px
            staking = position.long_token_size * exit_price * (1 - lst_rate_open / rate_close)
    return PnlSplit(
        funding=funding,
        interest=-(debt_close - debt_entry),
        staking=staking,
        fees=-(hl_fees + open_fee + close_fee),
        total=(paid_out - (position.collateral_usdc or ZERO)) + hl_realised - hl_fees + funding,
        hl_fees=-hl_fees,
        asgard_fees=-(open_fee + close_fee),
    )
