"""Fill the hedge: one routine for every Hyperliquid step (hedge, buy-backs, reductions, rebalances).

A step fills a target size of SOL-PERP with marketable IOC orders, one journaled attempt at a
time: each order is signed, journaled as an intent row keyed by its cloid (with the signed body),
sent, and its answer recorded. What has filled is always read back from the journal, so a resumed
step continues where it stopped: an intent row left by a crash is first resolved by asking the
venue by cloid, and re-sent as the very same signed body if the venue never saw it (a duplicate
nonce is refused, so nothing is doubled).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal

import structlog

from shared.retry import OutcomeUnknown
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import Moment, StepName, StepStatus
from tenant_bot.execution.venues import HEDGE_COIN, Parked, Venues
from tenant_bot.storage.models import Execution, Step
from tenant_bot.strategy.sizing import marketable_limit, round_size
from tenant_bot.venues.hyperliquid import OrderOutcome, OrderState, cloid_for

log = structlog.get_logger("basis.bot.execution")

# Hyperliquid refusals that the same order would meet again: stop instead of retrying.
# (No liquidity inside the band, or margin that may still arrive, are worth another attempt.)
PERMANENT_REFUSALS = ("minimum value", "invalid price", "invalid size", "invalid asset", "Trading is halted")


@dataclass(frozen=True)
class Fill:
    """What a step's orders filled in all, from the journal."""

    size: Decimal
    avg_px: Decimal | None  # None when nothing filled


@dataclass(frozen=True)
class Order:
    """One perp step's target: which side, how much, within which band, until when."""

    is_buy: bool
    target: Decimal  # SOL, positive
    reduce_only: bool
    slippage_bps: int
    deadline: float | None = None  # wall-clock seconds; None: no deadline


class PerpLeg:
    def __init__(self, journal: Journal, venues: Venues, config: ExecutionConfig, crash: CrashPoints) -> None:
        self.journal = journal
        self.venues = venues
        self.config = config
        self.crash = crash

    def filled(self, execution_id: str, name: StepName) -> Fill:
        size, cost = Decimal(0), Decimal(0)
        for step in self.journal.steps(execution_id, name):
            if step.status == StepStatus.DONE and step.result:
                filled = Decimal(str(step.result.get("filled_size", "0")))
                if filled > 0:
                    size += filled
                    cost += filled * Decimal(str(step.result["avg_px"]))
        return Fill(size, cost / size if size > 0 else None)

    async def fill(self, ex: Execution, name: StepName, order: Order) -> str | None:
        """Fill `order.target` SOL; None once filled, else why not (deadline, attempts, a refusal).

        Raises `Parked` when an order's outcome cannot be learnt now.
        """
        sz_decimals = await self.venues.sz_decimals()
        await self.resolve_pending(ex.id, name)
        while True:
            remaining = round_size(order.target - self.filled(ex.id, name).size, sz_decimals)
            if remaining <= 0:
                return None
            attempt = len(self.journal.steps(ex.id, name)) + 1
            if order.deadline is not None and time.time() > order.deadline:
                return f"timed out with {remaining} SOL unfilled"
            if attempt > self.config.order_attempts:
                return f"{self.config.order_attempts} attempts left {remaining} SOL unfilled"
            outcome = await self._send(ex, name, attempt, order, remaining, sz_decimals)
            if outcome.filled_size <= 0:
                log.info(
                    "order did not fill", step=name.value, state=outcome.state.value, error=outcome.error
                )
                if outcome.error and any(text in outcome.error for text in PERMANENT_REFUSALS):
                    return f"refused by the venue: {outcome.error}"
                await asyncio.sleep(self.config.retry_delay_seconds)

    async def resolve_pending(self, execution_id: str, name: StepName) -> None:
        """Record the outcome of every order of the step still journaled as an intent."""
        for step in self.journal.steps(execution_id, name):
            if step.status == StepStatus.INTENT:
                try:
                    outcome = await self._resolve(step)
                except OutcomeUnknown as exc:
                    raise Parked(f"order {step.key} outcome unknown") from exc
                self._record(step, outcome)

    async def _send(
        self, ex: Execution, name: StepName, attempt: int, order: Order, size: Decimal, sz_decimals: int
    ) -> OrderOutcome:
        hl = self.venues.hyperliquid
        mid = (await hl.mids())[HEDGE_COIN]
        limit = marketable_limit(mid, order.is_buy, order.slippage_bps, sz_decimals)
        cloid = cloid_for(ex.id, name, attempt)
        body = await hl.sign_order(
            HEDGE_COIN, order.is_buy, size, limit, cloid=cloid, reduce_only=order.reduce_only
        )
        step = self.journal.intent(
            ex.id,
            name,
            attempt,
            key=cloid,
            request={"size": size, "limit_px": limit, "is_buy": order.is_buy, "body": body},
        )
        self.crash.step(name, Moment.INTENT)
        try:
            outcome = await hl.send_order(body, cloid)
        except OutcomeUnknown as exc:
            raise Parked(f"order {cloid} outcome unknown") from exc
        self.crash.step(name, Moment.SENT)
        self._record(step, outcome)
        self.crash.step(name, Moment.FILLED)
        return outcome

    async def _resolve(self, step: Step) -> OrderOutcome:
        """What happened to a journaled order: ask the venue by cloid; never guess."""
        hl = self.venues.hyperliquid
        outcome = await hl.order_status(step.key or "")
        if outcome.state == OrderState.NOT_FOUND:
            # Not on the venue: it never arrived. Re-send the very same signed body: if it had
            # arrived after all, the venue refuses the duplicate nonce and nothing is doubled.
            outcome = await hl.send_order(step.request["body"], step.key or "")
        return outcome

    def _record(self, step: Step, outcome: OrderOutcome) -> None:
        self.journal.finish(
            step.id,
            StepStatus.DONE,
            {
                "state": outcome.state.value,
                "oid": outcome.oid,
                "filled_size": outcome.filled_size,
                "avg_px": outcome.avg_px,
                "error": outcome.error,
            },
        )
