"""A position's PnL split into funding, interest, staking, fees and price: the one place it is done.

Every part is computed on its own from what happened, and the total on its own from the cash that
moved, so "the parts add up to the total" is a check that can fail, not a definition:
- funding: Hyperliquid's `userFunding` payments since the open, attributed to this position by its
  share of the SOL short at each payment.
- interest: the long's lending interest, net: the token A it earned by supply interest, valued at
  the price that ended each stretch it was earned over, less the growth of the USDC debt. A debt
  repaid by a deleverage or a partial close is not interest.
- staking: for an LST, the growth of its SOL rate on the tokens held (0 for SOL).
- fees: Hyperliquid's fees on every fill of the position (hedge, rebalances, reductions,
  buy-backs), Asgard's fees, and the swap's price impact of the open, each modification and the close.
- price: the token A held over each stretch between open, modifications and close, times the
  change of its oracle price over it (less staking), plus Hyperliquid's realised PnL of every fill.
- total: (USDC paid out at close + equity withdrawn by partial closes − margin put in)
  + Hyperliquid realised PnL − Hyperliquid fees + funding.
The long's stretches come from Asgard's record (entry and exit amounts, prices, swaps and fees) and
the bot's journal of its modifications (each one's `updateRecordData`: amounts before and after,
the swap and the price). `long_leg` does the arithmetic on plain numbers; `realised_split` (at
close) and the dashboard's estimate (`tenant_bot/api/valuation.py`, the live amounts as the end)
fill it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from shared.assets import STAKE_POOLS, Asset
from tenant_bot.chain.solana import SolanaRpcError
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import PERP_STEPS, Flow, StepName, StepStatus
from tenant_bot.execution.venues import HEDGE_COIN, Venues
from tenant_bot.storage.models import Execution, Position, Step
from tenant_bot.venues.hyperliquid_models import Fill, FundingPayment
from tenant_bot.venues.outages import UNREACHABLE

ZERO = Decimal(0)
# The parts every split has, as the ledger and the API name them.
PNL_PARTS = ("funding", "interest", "staking", "fees", "price", "total")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else ZERO


@dataclass(frozen=True)
class PnlSplit:
    """Each part in USDC; `total` computed apart from them (see the module doc)."""

    funding: Decimal
    interest: Decimal
    staking: Decimal
    fees: Decimal  # negative: paid
    price: Decimal
    total: Decimal
    # The fees by venue, recorded at close only.
    hl_fees: Decimal | None = None
    asgard_fees: Decimal | None = None
    # The long's equity lost when it left without the bot's close (negative), within `fees`.
    long_lost: Decimal | None = None

    @property
    def unexplained(self) -> Decimal:
        """The total less the sum of the parts: 0 (to rounding) when every flow is counted once."""
        return self.total - (self.funding + self.interest + self.staking + self.fees + self.price)

    def parts(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in PNL_PARTS}

    def as_ledger(self) -> dict[str, Decimal]:
        by_venue = {"hl_fees": self.hl_fees, "asgard_fees": self.asgard_fees, "long_lost": self.long_lost}
        return {**self.parts(), **{k: v for k, v in by_venue.items() if v is not None}}


@dataclass(frozen=True)
class LongState:
    """The long at one instant: token A held, USDC owed, token A's oracle price (USD)."""

    tokens: Decimal
    debt: Decimal
    price: Decimal


@dataclass(frozen=True)
class LongChange:
    """The open, a modification or the close: the long before and after it, and what it cost or
    paid. `sold` token A went through the swap for `swapped_usdc` at `before.price` (a negative
    `sold` buys token A with `-swapped_usdc`, as an open does)."""

    before: LongState
    after: LongState
    sold: Decimal
    swapped_usdc: Decimal
    fee_usd: Decimal
    paid_out_usdc: Decimal  # to the wallet (a close's or partial close's proceeds)
    put_in_usdc: Decimal = ZERO  # from the wallet (an open's margin)

    @property
    def impact_usd(self) -> Decimal:
        """What the swap lost against the oracle price."""
        return self.sold * self.before.price - self.swapped_usdc


@dataclass(frozen=True)
class LongSplit:
    price: Decimal
    supply: Decimal
    borrow: Decimal  # negative: paid
    fees: Decimal  # negative: Asgard's fees and the swaps' impact
    cash: Decimal  # paid out − put in


def long_leg(changes: Sequence[LongChange], end: LongState) -> LongSplit:
    """The long's parts over the stretches between `changes` (open first), up to `end` (the state after
    the close, or the live one). Each stretch from S to E: price a_S·(p_E − p_S), supply
    (a_E − a_S)·p_E, borrow −(d_E − d_S)."""
    price = supply = borrow = fees = cash = ZERO
    for i, change in enumerate(changes):
        start = change.after
        stop = changes[i + 1].before if i + 1 < len(changes) else end
        price += start.tokens * (stop.price - start.price)
        supply += (stop.tokens - start.tokens) * stop.price
        borrow -= stop.debt - start.debt
        fees -= change.fee_usd + change.impact_usd
        cash += change.paid_out_usdc - change.put_in_usdc
    return LongSplit(price, supply, borrow, fees, cash)


def opening(record: dict[str, Any]) -> LongChange:
    """The open from Asgard's record: USDC margin swapped (less Asgard's fee) into token A."""
    swap = (record.get("entryMarketMetadata") or {}).get("onChainExecutedMetadata") or {}
    tokens = _dec(record.get("tokenAAmountUIEntry"))
    entry_price = _dec(record.get("tokenAEntryPriceUSD"))
    # Asgard fills the swap's metadata up to a minute after the open: until then, no impact.
    bought_with = _dec(swap.get("inputAmount")) if swap else tokens * entry_price
    return LongChange(
        before=LongState(ZERO, ZERO, entry_price),
        after=LongState(tokens, _dec(record.get("tokenBAmountUIEntry")), entry_price),
        sold=-tokens,
        swapped_usdc=-bought_with,
        fee_usd=_dec((record.get("openFeesMetadata") or {}).get("asgardFeeUsd")),
        paid_out_usdc=ZERO,
        put_in_usdc=_dec(record.get("collateralAmountUI")),
    )


def modification(update: dict[str, Any], fees: dict[str, Any] | None) -> LongChange:
    """A deleverage or partial close from the `updateRecordData` its build answered (and its fees)."""
    price = _dec(update.get("tokenAPriceUSD"))
    before = LongState(_dec(update.get("preTokenAAmountUI")), _dec(update.get("preTokenBAmountUI")), price)
    after = LongState(_dec(update.get("postTokenAAmountUI")), _dec(update.get("postTokenBAmountUI")), price)
    swapped = _dec(update.get("swapOutAmount"))
    fee = _dec((fees or {}).get("asgardFeeUsd"))
    repaid = before.debt - after.debt
    return LongChange(before, after, _dec(update.get("swapInAmount")), swapped, fee, swapped - fee - repaid)


def closing(record: dict[str, Any]) -> tuple[LongChange, LongState]:
    """The close from Asgard's record, and the (empty) long after it."""
    meta = record.get("closeFeesMetadata") or {}
    swap = (record.get("exitMarketMetadata") or {}).get("onChainExecutedMetadata") or {}
    price = _dec(record.get("tokenAExitPriceUSD"))
    sold, swapped = _dec(swap.get("inputAmount")), _dec(swap.get("outputAmount"))
    fee = _dec(meta.get("asgardFeeUsd"))
    usdc, token_a = _dec(meta.get("receivedUsdcUI")), _dec(meta.get("receivedTokenAUI"))
    debt = swapped - fee - usdc  # what the close repaid: all of the debt
    before = LongState(sold + token_a, debt, price)
    after = LongState(ZERO, ZERO, price)
    return LongChange(before, after, sold, swapped, fee, usdc + token_a * price), after


def lost(last: LongState, price: Decimal) -> tuple[LongChange, LongState]:
    """A long that left without the bot's close (liquidated, or closed outside the bot), last holding
    `last`, gone at `price`: it paid out nothing the bot can attribute, so its equity at `price` is
    lost (counted with the fees). What a liquidation returns to the wallet shows in the wallet's
    balance, not in the position's PnL: Asgard documents no field that says how much it was."""
    before = LongState(last.tokens, last.debt, price)
    after = LongState(ZERO, ZERO, price)
    equity = last.tokens * price - last.debt
    return LongChange(before, after, ZERO, ZERO, equity, ZERO), after


def staking_gain(tokens: Decimal, sol_price: Decimal, rate_open: Decimal, rate_now: Decimal) -> Decimal:
    """What staking earned `tokens` of an LST since the open: the growth of its SOL value (the stake
    pool's rate, which only grows) at SOL's price now. Never negative: a market discount that widens
    is price, not staking. The same sum while open (the dashboard) and at close (the ledger)."""
    return max(ZERO, tokens * sol_price * (rate_now - rate_open))


def modifications(journal: Journal, position_id: str) -> list[LongChange]:
    """The position's landed modifications of its long, oldest first, from the journal."""
    out = []
    for ex in journal.executions_of(position_id, Flow.REDUCE):
        for step in journal.steps(ex.id, StepName.REDUCE_LONG):
            payload = (step.request or {}).get("payload") or {}
            if step.status == StepStatus.DONE and payload.get("updateRecordData"):
                out.append(modification(payload["updateRecordData"], payload.get("feesMetadata")))
    return out


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
    kept = [opening(record), *modifications(journal, position.id)]
    lost_usd = ZERO  # the equity of a long that left without the bot's close
    if position.long_lost_at is not None:
        # The record's exit price, where Asgard gives one; else the last price the bot knew.
        price = _dec(record.get("tokenAExitPriceUSD")) or kept[-1].after.price
        close, end = lost(kept[-1].after, price)
        lost_usd = close.fee_usd
    else:
        close, end = closing(record)
    changes = [*kept, close]
    long = long_leg(changes, end)
    asgard_fees = sum((c.fee_usd for c in changes), ZERO) - lost_usd
    staking = ZERO
    if position.asset != "SOL" and lst_rate_open > 0:
        # The LST's SOL value grew from lst_rate_open (its pool's, at the open) to its pool's rate at
        # close: that growth of the entry tokens' price is staking, not price. An LST whose pool the
        # bot does not read is valued at the market's rate, the exit price over SOL's.
        sol_px = (await hl.mids()).get(HEDGE_COIN, ZERO)
        rate_close = await _pool_rate(venues, Asset(position.asset))
        if rate_close is None and sol_px > 0:
            rate_close = close.before.price / sol_px
        if sol_px > 0 and rate_close:
            staking = staking_gain(changes[0].after.tokens, sol_px, lst_rate_open, rate_close)
    return PnlSplit(
        funding=funding,
        interest=long.supply + long.borrow,
        staking=staking,
        fees=long.fees - hl_fees,
        price=long.price - staking + hl_realised,
        total=long.cash + hl_realised - hl_fees + funding,
        hl_fees=-hl_fees,
        asgard_fees=-asgard_fees,
        long_lost=-lost_usd if position.long_lost_at is not None else None,
    )


async def _pool_rate(venues: Venues, asset: Asset) -> Decimal | None:
    """SOL per token of `asset` from its stake pool now, or None (no pool read for it, or Solana
    could not say)."""
    pool = STAKE_POOLS.get(asset)
    if pool is None:
        return None
    try:
        rates = await venues.solana.stake_pool_rates([pool])
    except (*UNREACHABLE, SolanaRpcError):
        return None
    rate = rates.get(asset)
    return rate.sol_per_token if rate is not None else None
