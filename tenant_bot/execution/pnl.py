"""A closed position's PnL, split into funding, interest, staking, fees and price, from venue records.

Each part comes from what the venues recorded, not from the bot's own estimates:
- funding: Hyperliquid's `userFunding` payments between open and close, attributed to this
  position by its share of the SOL short at each payment;
- fees: Hyperliquid's fees on this position's fills (found by their cloids) plus Asgard's open
  and close fees from its position record;
- interest: the growth of the USDC debt on Asgard (entry vs. at close);
- staking: for an LST, the growth of its SOL exchange rate from open to close (0 for SOL);
- price: the rest of the total, so the parts always add up to it.
Total = (USDC Asgard paid out at close − margin put in) + Hyperliquid realised PnL − Hyperliquid
fees + funding.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tenant_bot.storage.models import Execution, Position, Step

if TYPE_CHECKING:
    from tenant_bot.execution.engine import Venues

ORDER_STEPS = ("hedge", "unwind_short", "close_short")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def position_cloids(journal: Any, position_id: str) -> set[str]:
    with journal.db() as s:
        q = (
            select(Step.key)
            .join(Execution, Execution.id == Step.execution_id)
            .where(Execution.position_id == position_id, Step.name.in_(ORDER_STEPS))
        )
        return {k for k in s.scalars(q) if k}


async def realised_split(
    journal: Any, venues: Venues, position: Position, lst_rate_open: Decimal = Decimal(1)
) -> dict[str, Decimal]:
    hl = venues.hyperliquid
    cloids = position_cloids(journal, position.id)
    fills = [f for f in await hl.user_fills() if f.cloid in cloids]
    hl_fees = sum((f.fee for f in fills), Decimal(0))
    hl_realised = sum((f.closed_pnl for f in fills), Decimal(0))

    opened_ms = int(position.opened_at.timestamp() * 1000) if position.opened_at else 0
    funding = Decimal(0)
    short = position.short_size or Decimal(0)
    for p in await hl.user_funding(opened_ms):
        if p.coin == "SOL" and p.size != 0:
            share = min(Decimal(1), short / abs(p.size))
            funding += p.usdc * share

    record = await venues.asgard.position_record(position.asgard_position_id or "")
    open_fee = _dec((record.get("openFeesMetadata") or {}).get("asgardFeeUsd"))
    close_fee = _dec((record.get("closeFeesMetadata") or {}).get("asgardFeeUsd"))
    debt_entry = _dec(record.get("tokenBAmountUIEntry"))
    debt_close = _dec(record.get("tokenBAmountUICurrent") or record.get("tokenBAmountUIEntry"))
    interest = -(debt_close - debt_entry)
    close_meta = record.get("closeFeesMetadata") or {}
    exit_price = _dec(record.get("tokenAExitPriceUSD"))
    paid_out = _dec(close_meta.get("receivedUsdcUI")) + _dec(close_meta.get("receivedTokenAUI")) * exit_price
    margin = position.collateral_usdc or Decimal(0)
    staking = Decimal(0)
    if position.asset != "SOL" and position.long_token_size and lst_rate_open > 0:
        # The LST's SOL value grew from lst_rate_open to its rate at close; that growth is staking.
        sol_px = (await hl.mids()).get("SOL", Decimal(0))
        if sol_px > 0 and exit_price > 0:
            rate_close = exit_price / sol_px
            staking = position.long_token_size * exit_price * (1 - lst_rate_open / rate_close)

    fees = -(hl_fees + open_fee + close_fee)
    total = (paid_out - margin) + hl_realised - hl_fees + funding
    price = total - funding - interest - staking - fees
    return {
        "funding": funding,
        "interest": interest,
        "staking": staking,
        "fees": fees,
        "price": price,
        "total": total,
        "hl_fees": -hl_fees,
        "asgard_fees": -(open_fee + close_fee),
    }
