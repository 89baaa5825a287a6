"""Shadow mode: the same decisions on live data, with hypothetical fills and funding.

The shadow executor has no signer at all, so it cannot sign or send anything: a long is priced
by Asgard's simulate endpoint, a short by walking Hyperliquid's live book, and each tick accrues
funding at the live hourly rate on the hypothetical short and net lending interest at the live
supply and borrow APYs on the hypothetical long and its debt. Staking is the growth of an LST's SOL
rate from the open to the close, taken out of the price part. Positions and executions are
written to the same tables, marked `shadow`, so the dashboard shows them the same way.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from shared.assets import Asset, Protocol
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.pnl import ZERO, PnlSplit
from tenant_bot.execution.requests import OpenRequest
from tenant_bot.execution.states import Flow, Outcome, PositionStatus, State
from tenant_bot.execution.venues import HEDGE_COIN, Venues
from tenant_bot.storage.events import EventLog
from tenant_bot.strategy.rates import RatesSnapshot
from tenant_bot.strategy.sizing import book_fill, hedge_size_for, price_levels

# Hyperliquid's base taker fee, charged on the hypothetical short's notional.
TAKER_FEE = Decimal("0.00045")


class ShadowExecutor:
    def __init__(self, journal: Journal, venues: Venues, events: EventLog, config: ExecutionConfig) -> None:
        self.journal = journal
        # Read-only use: simulate, book, mids. The signer is deliberately not kept.
        self.hl = venues.hyperliquid
        self.asgard = venues.asgard
        self.owner = venues.owner
        self.events = events
        self.config = config

    async def open(self, request: OpenRequest, *, requested_by: str) -> str:
        quote = await self.asgard.simulate_open(
            self.owner, request.asset, request.protocol, request.collateral_usdc, request.leverage
        )
        sz_decimals = (await self.hl.markets())[HEDGE_COIN].sz_decimals
        short = hedge_size_for(quote.token_size, request.asset, request.lst_sol_rate, sz_decimals)
        book = await self.hl.book(HEDGE_COIN)
        fill = book_fill(price_levels(book.bids), short)
        avg_px = fill.avg_px
        hl_fee = fill.filled * avg_px * TAKER_FEE
        now = datetime.now(UTC)
        position = request.new_position(
            PositionStatus.OPEN,
            shadow=True,
            long_token_size=quote.token_size,
            long_entry_price=quote.price_usd,
            debt_usdc=quote.debt_usdc,
            short_size=fill.filled,
            short_entry_px=avg_px,
            opened_at=now,
            ledger={
                "funding": "0",
                "interest": "0",
                "fees": str(-(quote.fees_usd + hl_fee)),
                "lst_sol_rate": str(request.lst_sol_rate),
                "accrued_at": now.isoformat(),
            },
        )
        plan = {"shadow": True, "asset": request.asset.value, "protocol": request.protocol.name}
        execution_id = self.journal.begin(
            position, Flow.OPEN, State.DONE, plan, requested_by=requested_by, outcome=Outcome.COMPLETED
        )
        self.events.emit(
            "position.opened",
            f"Shadow position: long {quote.token_size} {request.asset.value} at {quote.price_usd}, "
            f"short {fill.filled} SOL at {avg_px} (hypothetical; nothing was sent)",
            position_id=position.id,
            execution_id=execution_id,
            shadow=True,
        )
        return execution_id

    async def accrue(self, snapshot: RatesSnapshot) -> None:
        """Hypothetical funding and lending interest on each shadow position since the last tick."""
        price = snapshot.prices.get("hyperliquid_oracle") or snapshot.prices.get("hyperliquid_mark")
        if price is None:
            return
        sol_usd = snapshot.prices.get("asgard") or price
        for p in self.journal.positions(PositionStatus.OPEN):
            if not p.shadow or not p.short_size:
                continue
            last = datetime.fromisoformat(p.ledger.get("accrued_at", snapshot.at.isoformat()))
            elapsed = snapshot.at - last
            if elapsed.total_seconds() <= 0:
                continue
            hours = Decimal(str(elapsed.total_seconds())) / 3600
            # Positive funding: longs pay shorts, so the short receives it.
            earned = p.short_size * price * snapshot.funding.per_hour * hours
            funding = Decimal(p.ledger.get("funding", "0")) + earned
            interest = Decimal(p.ledger.get("interest", "0"))
            asset = Asset(p.asset)
            lending = snapshot.lending_for(Protocol[p.protocol.upper()], asset)
            if lending is not None:
                rate = snapshot.lst_sol_rates.get(asset, Decimal(1)) if asset.is_lst else Decimal(1)
                value = (p.long_token_size or ZERO) * sol_usd * rate
                interest += value * (lending.supply.growth(elapsed) - 1)
                interest -= (p.debt_usdc or ZERO) * (lending.borrow.growth(elapsed) - 1)
            self.journal.update_position(
                p.id,
                ledger={
                    "funding": str(funding),
                    "interest": str(interest),
                    "accrued_at": snapshot.at.isoformat(),
                },
            )

    async def close(self, position_id: str) -> str:
        p = self.journal.position(position_id)
        book = await self.hl.book(HEDGE_COIN)
        buy = book_fill(price_levels(book.asks), p.short_size or ZERO)
        quote = await self.asgard.simulate_open(
            self.owner, Asset(p.asset), Protocol[p.protocol.upper()], Decimal(10), Decimal(2)
        )
        long_px = quote.price_usd
        long_pnl = (p.long_token_size or ZERO) * (long_px - (p.long_entry_price or long_px))
        short_pnl = (p.short_size or ZERO) * ((p.short_entry_px or buy.avg_px) - buy.avg_px)
        fee = buy.filled * buy.avg_px * TAKER_FEE
        funding = Decimal(p.ledger.get("funding", "0"))
        interest = Decimal(p.ledger.get("interest", "0"))
        fees = Decimal(p.ledger.get("fees", "0")) - fee
        staking = ZERO
        sol_mid = (await self.hl.mids()).get(HEDGE_COIN, ZERO)
        if Asset(p.asset).is_lst and sol_mid > 0:
            # Asgard prices the LST in USD: its SOL rate's growth since the open is staking, not price.
            rate_open = Decimal(p.ledger.get("lst_sol_rate", "1"))
            staking = (p.long_token_size or ZERO) * sol_mid * (long_px / sol_mid - rate_open)
        split = PnlSplit(
            funding=funding,
            interest=interest,
            staking=staking,
            fees=fees,
            price=long_pnl + short_pnl - staking,
            total=long_pnl + short_pnl + funding + interest + fees,
        )
        execution_id = self.journal.begin(
            p,
            Flow.CLOSE,
            State.DONE,
            {"shadow": True, "closed_at": time.time()},
            requested_by="manual",
            outcome=Outcome.COMPLETED,
        )
        self.journal.update_position(
            position_id, status=PositionStatus.CLOSED, closed_at=datetime.now(UTC), ledger=split.as_ledger()
        )
        self.events.emit(
            "position.closed",
            f"Shadow position closed; hypothetical PnL {split.total:.2f} USDC",
            position_id=position_id,
            shadow=True,
        )
        return execution_id
