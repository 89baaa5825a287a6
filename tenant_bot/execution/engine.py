"""The two-leg execution engine: open = long on Asgard, then the hedge on Hyperliquid; close = reverse.

Every execution is a state machine persisted in the bot's SQLite (its states in `states.py`). Each
side effect has a journal row written *before* it happens (status "intent", with its idempotency
key: the Solana signature of the signed transaction, or the Hyperliquid cloid and the signed order
body), and its outcome written after. Running an execution means calling the handler of its
current state until it reaches a terminal state or must wait ("parks"); re-entering any handler is
safe, because the two leg routines every flow uses (`SolanaLeg` for Asgard transactions, `PerpLeg`
for Hyperliquid orders) resume from the journal: they ask the venue what happened to an intent
before doing anything else. Start-up recovery is just `run` on every unfinished execution: the
same code path as normal operation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from shared.assets import Asset, Protocol
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.perp_leg import Order, PerpLeg
from tenant_bot.execution.requests import OpenRequest
from tenant_bot.execution.solana_leg import Build, SolanaLeg
from tenant_bot.execution.states import Flow, Outcome, PositionStatus, State, StepName
from tenant_bot.execution.venues import Parked, Venues
from tenant_bot.risk.transaction_validator import TransactionRejected
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Execution
from tenant_bot.strategy.exposure import deleverage_target
from tenant_bot.strategy.fills import hedge_delta
from tenant_bot.strategy.sizing import hedge_size_for, round_size
from tenant_bot.venues.asgard import AsgardError

log = structlog.get_logger("basis.bot.execution")

# Why a transaction could not be built or signed: Asgard refused to build it, or the validator
# refused to sign what Asgard built.
BUILD_ERRORS = (AsgardError, TransactionRejected)


def _now() -> datetime:
    return datetime.now(UTC)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


class ExecutionEngine:
    def __init__(
        self,
        journal: Journal,
        venues: Venues,
        events: EventLog,
        config: ExecutionConfig | None = None,
        crash: CrashPoints | None = None,
        on_halt: Callable[[str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.venues = venues
        self.events = events
        self.config = config or ExecutionConfig()
        self.crash = crash or CrashPoints(None)
        self.on_halt = on_halt or (lambda reason: None)
        self.solana = SolanaLeg(journal, venues, events, self.config, self.crash)
        self.perp = PerpLeg(journal, venues, self.config, self.crash)
        self._handlers: dict[State, Callable[[Execution], Awaitable[None]]] = {
            State.PLANNED: self._open_long,
            State.LONG_SENT: self._open_long,
            State.LONG_OPEN: self._open_hedge,
            State.HEDGED: self._open_finish,
            State.UNWINDING: self._unwind,
            State.CLOSE_PLANNED: self._close_short,
            State.SHORT_CLOSED: self._close_long,
            State.LONG_CLOSE_SENT: self._close_long,
            State.CLOSED: self._close_finish,
            State.REBALANCE_PLANNED: self._rebalance,
            State.REDUCE_PLANNED: self._reduce_short,
            State.REDUCE_SHORT_DONE: self._reduce_long,
            State.REDUCE_LONG_SENT: self._reduce_long,
        }
        self._running: set[str] = set()

    # ------------------------------------------------------------------ entry points
    def begin_open(self, request: OpenRequest, *, requested_by: str = "manual") -> str:
        """Write the execution and its position (nothing is sent yet); `run` drives it."""
        position = request.new_position(PositionStatus.OPENING)
        plan = {
            "asset": request.asset.value,
            "protocol": request.protocol.name,
            "leverage": str(request.leverage),
            "collateral_usdc": str(request.collateral_usdc),
            "lst_sol_rate": str(request.lst_sol_rate),
        }
        execution_id = self.journal.begin(position, Flow.OPEN, State.PLANNED, plan, requested_by=requested_by)
        self._started(
            execution_id,
            position.id,
            Flow.OPEN,
            f"Opening a {request.leverage}x {request.asset.value} position on "
            f"{request.protocol.name.title()} with {request.collateral_usdc} USDC of margin per leg",
        )
        self.crash.reached(f"{Flow.OPEN.value}.{State.PLANNED.value}")
        return execution_id

    def begin_close(self, position_id: str, *, requested_by: str = "manual", reason: str = "") -> str:
        """Start closing an open position, or return the close already under way."""
        return self._begin(
            position_id, Flow.CLOSE, State.CLOSE_PLANNED, {}, requested_by, reason, title="Closing position"
        )

    def begin_reduce(
        self, position_id: str, fraction: Decimal, *, requested_by: str = "risk", reason: str = ""
    ) -> str:
        """Start shrinking both legs of an open position by `fraction` (0 < fraction < 1)."""
        if not Decimal(0) < fraction < Decimal(1):
            raise ValueError(f"a reduction takes a fraction between 0 and 1, got {fraction}")
        plan = {"fraction": str(fraction)}
        return self._begin(position_id, Flow.REDUCE, State.REDUCE_PLANNED, plan, requested_by, reason)

    def begin_rebalance(
        self, position_id: str, short_change: Decimal, *, requested_by: str = "risk", reason: str = ""
    ) -> str:
        """Start changing the short by `short_change` SOL (positive sells more, negative buys back)."""
        if short_change == 0:
            raise ValueError("a rebalance needs a non-zero change of the short")
        plan = {"short_change": str(short_change)}
        return self._begin(position_id, Flow.REBALANCE, State.REBALANCE_PLANNED, plan, requested_by, reason)

    def _begin(
        self,
        position_id: str,
        flow: Flow,
        state: State,
        plan: dict[str, Any],
        requested_by: str,
        reason: str,
        *,
        title: str | None = None,
    ) -> str:
        position = self.journal.position(position_id)
        running = self.journal.unfinished_for(position_id)
        if running is not None:
            return running.id
        if position.status != PositionStatus.OPEN:
            raise ValueError(f"position {position_id} is {position.status}, not open")
        plan = {**plan, "asset": position.asset, "reason": reason}
        execution_id = self.journal.begin(position, flow, state, plan, requested_by=requested_by)
        if flow is Flow.CLOSE:
            self.journal.update_position(position_id, status=PositionStatus.CLOSING)
        title = title or f"{flow.value.title()} of position"
        self._started(
            execution_id,
            position_id,
            flow,
            f"{title} {position_id[:8]}" + (f": {reason}" if reason else ""),
            requested_by=requested_by,
        )
        return execution_id

    def _started(self, execution_id: str, position_id: str, flow: Flow, message: str, **data: Any) -> None:
        self.events.emit(
            "execution.started",
            message,
            execution_id=execution_id,
            position_id=position_id,
            execution_kind=flow.value,
            **data,
        )

    async def run(self, execution_id: str) -> Execution:
        """Drive one execution until it finishes or parks. Safe to call again at any time."""
        if execution_id in self._running:  # one driver per execution
            return self.journal.execution(execution_id)
        self._running.add(execution_id)
        try:
            while True:
                ex = self.journal.execution(execution_id)
                state = State(ex.state)
                if state.terminal:
                    return ex
                try:
                    await self._handlers[state](ex)
                except Parked as parked:
                    log.info("execution parked", execution=ex.id, state=ex.state, why=str(parked))
                    return self.journal.execution(execution_id)
        finally:
            self._running.discard(execution_id)

    async def recover(self) -> list[Execution]:
        """Finish or unwind every execution a previous run left unfinished."""
        done = []
        for ex in self.journal.unfinished():
            self.events.emit(
                "execution.recovering",
                f"Resuming {ex.kind} execution {ex.id[:8]} from state {ex.state}",
                execution_id=ex.id,
                state=ex.state,
            )
            done.append(await self.run(ex.id))
        return done

    # ------------------------------------------------------------------ open
    async def _open_long(self, ex: Execution) -> None:
        plan = ex.plan

        async def build() -> Any:
            return await self.venues.asgard.build_open(
                self.venues.owner,
                Asset(plan["asset"]),
                Protocol[plan["protocol"]],
                _dec(plan["collateral_usdc"]),
                _dec(plan["leverage"]),
                slippage_bps=self.config.slippage_bps,
            )

        try:
            leg = await self.solana.run(
                ex, StepName.LONG, build, attempts=self.config.tx_attempts, sent_state=State.LONG_SENT
            )
        except BUILD_ERRORS as exc:
            await self._fail_open(ex, f"the Asgard leg could not be built: {exc}")
            return
        if not leg.landed:
            await self._fail_open(ex, f"the Asgard long {leg.why}")
            return
        signatures = tuple(leg.step.request.get("signatures") or [leg.step.key or ""])
        found = await self.venues.asgard.opened_by(self.venues.owner, signatures)
        if found is None:
            raise Parked(f"Asgard does not list the position opened by {signatures[0]} yet")
        self.journal.update_position(
            ex.position_id,
            asgard_position_id=found.position_id,
            long_token_size=found.token_size,
            long_entry_price=found.entry_price,
            debt_usdc=found.debt_usdc,
        )
        self.journal.set_state(ex.id, State.LONG_OPEN, plan_update={"long_confirmed_at": time.time()})
        self._emit(
            ex,
            "execution.long_confirmed",
            f"Asgard long confirmed: {found.token_size} {ex.plan['asset']}",
            signature=leg.step.key,
        )

    async def _fail_open(self, ex: Execution, why: str) -> None:
        # Nothing landed on either venue: the position never existed.
        self.journal.update_position(ex.position_id, status=PositionStatus.FAILED, closed_at=_now())
        self.journal.set_state(ex.id, State.FAILED, outcome=Outcome.FAILED, error=why)
        self._emit(
            ex,
            "execution.failed",
            f"Open failed, nothing is open: {why}",
            severity="warning",
        )

    async def _open_hedge(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        target = hedge_size_for(
            position.long_token_size or Decimal(0),
            Asset(ex.plan["asset"]),
            _dec(ex.plan["lst_sol_rate"]),
            await self.venues.sz_decimals(),
        )
        deadline = float(ex.plan["long_confirmed_at"]) + self.config.hedge_timeout_seconds
        order = Order(
            False, target, reduce_only=False, slippage_bps=self.config.slippage_bps, deadline=deadline
        )
        why = await self.perp.fill(ex, StepName.HEDGE, order)
        if why is None:
            self.journal.set_state(ex.id, State.HEDGED, plan_update={"hedged_at": time.time()})
            return
        filled = self.perp.filled(ex.id, StepName.HEDGE).size
        self.journal.set_state(ex.id, State.UNWINDING, error=f"hedge incomplete: {why}")
        self._emit(
            ex,
            "execution.hedge_failed",
            f"The Hyperliquid hedge did not complete ({why}; {filled} of {target} SOL filled): "
            "unwinding the Asgard long",
            severity="critical",
        )

    async def _open_finish(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        hedge = self.perp.filled(ex.id, StepName.HEDGE)
        self.journal.update_position(
            ex.position_id,
            status=PositionStatus.OPEN,
            short_size=hedge.size,
            short_entry_px=hedge.avg_px,
            opened_at=_now(),
        )
        self.journal.set_state(ex.id, State.DONE, outcome=Outcome.COMPLETED)
        gap_ms = (float(ex.plan["hedged_at"]) - float(ex.plan["long_confirmed_at"])) * 1000
        delta = hedge_delta(
            position.long_token_size or Decimal(0),
            Asset(position.asset),
            _dec(ex.plan["lst_sol_rate"]),
            hedge.size,
            sz_decimals=await self.venues.sz_decimals(),
        )
        if not delta.ok:  # the risk engine's delta-drift breaker rebalances it on the next tick
            self.events.emit(
                "execution.delta",
                f"Hedge off by {delta.drift_fraction:.2%}: long {delta.long_sol_equivalent} SOL-equivalent, "
                f"short {delta.short_sol} SOL",
                severity="warning",
                position_id=ex.position_id,
            )
        self._emit(
            ex,
            "position.opened",
            f"Position open: long {position.long_token_size} {position.asset} on Asgard, "
            f"short {hedge.size} SOL on Hyperliquid at {hedge.avg_px}",
            hedge_gap_ms=round(gap_ms, 1),
        )

    # ------------------------------------------------------------------ unwind
    async def _unwind(self, ex: Execution) -> None:
        await self.perp.resolve_pending(ex.id, StepName.HEDGE)
        hedged = self.perp.filled(ex.id, StepName.HEDGE).size
        await self._buy_back(ex, StepName.UNWIND_SHORT, hedged)
        position = self.journal.position(ex.position_id)
        pda = position.asgard_position_id
        if pda and await self.venues.asgard_position(pda):
            leg = await self.solana.run(ex, StepName.UNWIND_LONG, self._build_close(pda), attempts=None)
            if not leg.landed:
                raise Parked(f"the Asgard close {leg.why}")
        self.journal.update_position(ex.position_id, status=PositionStatus.UNWOUND, closed_at=_now())
        self.journal.set_state(ex.id, State.UNWOUND, outcome=Outcome.UNWOUND)
        self._emit(
            ex,
            "position.unwound",
            "The long was unwound after the hedge failed; nothing is left open",
            severity="warning",
        )

    async def _buy_back(self, ex: Execution, name: StepName, target: Decimal) -> None:
        """Buy back `target` SOL of the short, reduce-only with the wide exit band; park until done."""
        if target <= 0:
            return
        order = Order(True, target, reduce_only=True, slippage_bps=self.config.exit_slippage_bps)
        why = await self.perp.fill(ex, name, order)
        if why is not None:
            raise Parked(f"{name.value.replace('_', ' ')}: {why}")

    def _build_close(self, pda: str) -> Build:
        return lambda: self.venues.asgard.build_close(self.venues.owner, pda)

    # ------------------------------------------------------------------ close
    async def _close_short(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        await self._buy_back(ex, StepName.CLOSE_SHORT, position.short_size or Decimal(0))
        self.journal.set_state(ex.id, State.SHORT_CLOSED)

    async def _close_long(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        pda = position.asgard_position_id
        assert pda is not None
        if position.long_lost_at is not None:  # nothing left to close on Asgard
            self.journal.set_state(ex.id, State.CLOSED)
            return
        try:
            leg = await self.solana.run(
                ex,
                StepName.CLOSE_LONG,
                self._build_close(pda),
                attempts=None,
                sent_state=State.LONG_CLOSE_SENT,
            )
        except BUILD_ERRORS as exc:
            if await self.venues.asgard_gone(pda):  # liquidated, or closed outside the bot, meanwhile
                self.journal.update_position(ex.position_id, long_lost_at=_now())
                self.journal.set_state(ex.id, State.CLOSED)
                self._emit(
                    ex,
                    "position.long_lost",
                    f"The Asgard long of position {ex.position_id[:8]} was gone when the close reached "
                    f"it (liquidated, or closed outside the bot); its short of {position.short_size or 0} "
                    "SOL was bought back",
                    severity="critical",
                )
                return
            if await self.venues.asgard_position(pda) is None:
                self._mismatch(
                    ex, f"the Asgard position {pda} is no longer open, but the bot did not close it"
                )
                raise Parked("Asgard position missing") from exc
            raise Parked(f"the Asgard close could not be built: {exc}") from exc
        assert leg.landed  # no attempt limit: run returns only once it landed
        self.journal.set_state(ex.id, State.CLOSED)

    async def _close_finish(self, ex: Execution) -> None:
        from tenant_bot.execution.pnl import realised_split  # only needed at the end of a close

        position = self.journal.position(ex.position_id)
        opens = self.journal.executions_of(position.id, Flow.OPEN)
        rate = _dec(opens[0].plan.get("lst_sol_rate", "1")) if opens else Decimal(1)
        split = await realised_split(self.journal, self.venues, position, rate)
        self.journal.update_position(
            ex.position_id, status=PositionStatus.CLOSED, closed_at=_now(), ledger=split.as_ledger()
        )
        self.journal.set_state(ex.id, State.DONE, outcome=Outcome.COMPLETED)
        self._emit(
            ex,
            "position.closed",
            f"Position closed; PnL {split.total} USDC",
            pnl=split.as_ledger(),
        )

    # ------------------------------------------------------------------ rebalance and reduce
    async def _rebalance(self, ex: Execution) -> None:
        change = _dec(ex.plan["short_change"])
        order = Order(
            change < 0,
            abs(change),
            reduce_only=change < 0,
            slippage_bps=self.config.slippage_bps,
            deadline=time.time() + self.config.hedge_timeout_seconds,
        )
        why = await self.perp.fill(ex, StepName.REBALANCE, order)
        filled = self.perp.filled(ex.id, StepName.REBALANCE).size
        position = self.journal.position(ex.position_id)
        signed = filled if change > 0 else -filled
        short = (position.short_size or Decimal(0)) + signed
        self.journal.update_position(ex.position_id, short_size=short)
        if why is None:
            self.journal.set_state(ex.id, State.DONE, outcome=Outcome.COMPLETED)
        else:
            self.journal.set_state(ex.id, State.FAILED, outcome=Outcome.FAILED)
        self._emit(
            ex,
            "position.rebalanced",
            f"Short adjusted by {signed} SOL to {short} SOL" + ("" if why is None else f" ({why})"),
            severity="info" if why is None else "warning",
        )

    async def _reduce_short(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        sz_decimals = await self.venues.sz_decimals()
        target = round_size((position.short_size or Decimal(0)) * _dec(ex.plan["fraction"]), sz_decimals)
        await self._buy_back(ex, StepName.REDUCE_SHORT, target)
        self.journal.set_state(ex.id, State.REDUCE_SHORT_DONE)

    async def _reduce_long(self, ex: Execution) -> None:
        """Deleverage the long so it sells `fraction` of its tokens and repays debt with them: the
        equity stays in it and the debt per token falls, so its health factor rises (a proportional
        partial close would leave leverage and health where they were). A long with no debt left
        is partly closed instead. What to send is fixed in the plan before the first build, so a
        retry builds the same modification."""
        position = self.journal.position(ex.position_id)
        pda = position.asgard_position_id
        assert pda is not None
        fraction = _dec(ex.plan["fraction"])
        if "target_leverage" not in ex.plan:
            venue = await self.venues.asgard_position(pda)
            price = (await self.venues.asgard.prices()).get(Asset(position.asset))
            if venue is None or price is None:
                raise Parked("the Asgard position or its price cannot be read to plan the reduction")
            target = deleverage_target(venue.token_size, venue.debt_usdc, price, fraction)
            plan = {"target_leverage": "" if target is None else str(target)}
            ex = self.journal.set_state(ex.id, ex.state, plan_update=plan)
        target = _dec(ex.plan["target_leverage"]) if ex.plan["target_leverage"] else None
        owner, asgard = self.venues.owner, self.venues.asgard

        def build() -> Any:
            if target is None:
                return asgard.build_partial_close(owner, pda, fraction)
            return asgard.build_deleverage(owner, pda, target)

        try:
            await self.solana.run(
                ex, StepName.REDUCE_LONG, build, attempts=None, sent_state=State.REDUCE_LONG_SENT
            )
        except BUILD_ERRORS as exc:
            raise Parked(f"the Asgard reduction could not be built: {exc}") from exc
        venue = await self.venues.asgard_position(pda)
        bought = self.perp.filled(ex.id, StepName.REDUCE_SHORT).size
        self.journal.update_position(
            ex.position_id,
            short_size=(position.short_size or Decimal(0)) - bought,
            long_token_size=venue.token_size if venue is not None else position.long_token_size,
            debt_usdc=venue.debt_usdc if venue is not None else position.debt_usdc,
        )
        self.journal.set_state(ex.id, State.DONE, outcome=Outcome.COMPLETED)
        self._emit(
            ex,
            "position.reduced",
            f"Position reduced by {fraction:.0%} on both legs "
            + (f"(Asgard deleveraged to {target}x)" if target is not None else "(Asgard partly closed)"),
        )

    # ------------------------------------------------------------------ helpers
    def _emit(self, ex: Execution, kind: str, message: str, **data: Any) -> None:
        """An event about `ex`, carrying its execution and position ids."""
        self.events.emit(kind, message, execution_id=ex.id, position_id=ex.position_id, **data)

    def _mismatch(self, ex: Execution, why: str) -> None:
        self._emit(
            ex,
            "risk.mismatch",
            f"Venue state does not match the journal: {why}. Trading halted until an operator looks.",
            severity="critical",
        )
        self.on_halt(why)
