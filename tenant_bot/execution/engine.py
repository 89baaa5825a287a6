"""The two-leg execution engine: open = long on Asgard, then the hedge on Hyperliquid; close = reverse.

Every execution is a state machine persisted in the bot's SQLite. Each side effect has a journal
row written *before* it happens (status "intent", with its idempotency key: the Solana signature
of the signed transaction, or the Hyperliquid cloid and the signed order body), and its outcome
written after. Running an execution means calling the handler of its current state until it
reaches a terminal state or must wait ("parks"); re-entering any handler is safe, because a
handler that finds an intent row asks the venue what happened to it (the signature's status, the
order by cloid) before doing anything else. Start-up recovery is just `run` on every unfinished
execution: the same code path as normal operation.

Open:  planned → long_sent → long_open → hedged → done
                      ↘ (long failed: retried, then) failed     ↘ (hedge timed out) unwinding → unwound
Close: close_planned → short_closed → long_close_sent → closed → done
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from shared.assets import Asset, Protocol
from shared.retry import OutcomeUnknown
from tenant_bot.chain.solana import ConfirmResult, SignatureState, SolanaClient
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.journal import TERMINAL, Journal
from tenant_bot.risk.transaction_validator import TransactionRejected
from tenant_bot.signing.signer import Signer
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Execution, Position, Step
from tenant_bot.strategy.fills import hedge_delta
from tenant_bot.strategy.sizing import hedge_size_for, marketable_limit, round_size
from tenant_bot.venues.asgard import AsgardClient, AsgardError, BuiltTransaction, SignedTransaction
from tenant_bot.venues.hyperliquid import HyperliquidClient, OrderOutcome, OrderState, cloid_for

log = structlog.get_logger("basis.bot.execution")

HEDGE_COIN = "SOL"
LANDED = (SignatureState.CONFIRMED, SignatureState.FINALIZED)
# Hyperliquid refusals that the same order would meet again: stop instead of retrying.
# (No liquidity inside the band, or margin that may still arrive, are worth another attempt.)
PERMANENT_REFUSALS = ("minimum value", "invalid price", "invalid size", "invalid asset", "Trading is halted")


@dataclass(frozen=True)
class ExecutionConfig:
    # Seconds the hedge may take after the long confirms; then the long is unwound.
    hedge_timeout_seconds: float = 30.0
    # Slippage band of the hedge's marketable IOC orders, basis points from the mid.
    slippage_bps: int = 50
    # Wider band for orders that reduce risk (closing the short, unwinding): getting out matters more.
    exit_slippage_bps: int = 150
    # How many times a long transaction is rebuilt after it failed or its blockhash expired.
    tx_attempts: int = 3
    # Pause between two order attempts on the same leg.
    retry_delay_seconds: float = 0.3
    # How long one run waits for a signature before parking (the next tick resumes).
    confirm_timeout_seconds: float = 90.0


@dataclass(frozen=True)
class OpenRequest:
    asset: Asset
    protocol: Protocol
    leverage: Decimal
    # USDC the Asgard leg puts up as margin (its notional is leverage × this).
    collateral_usdc: Decimal
    # LST/SOL exchange rate at planning time (1 for SOL), to size the hedge in SOL.
    lst_sol_rate: Decimal = Decimal(1)


@dataclass
class Venues:
    hyperliquid: HyperliquidClient
    asgard: AsgardClient
    solana: SolanaClient
    # Every signature goes through this signer (a ValidatingSigner in the bot).
    signer: Signer

    @property
    def owner(self) -> str:
        return self.signer.solana_address


class Parked(Exception):
    """The execution cannot progress now (a venue is unreachable, an outcome is still unknown)."""


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
        self._handlers: dict[str, Callable[[Execution], Awaitable[None]]] = {
            "planned": self._open_send_long,
            "long_sent": self._open_confirm_long,
            "long_open": self._open_hedge,
            "hedged": self._open_finish,
            "unwinding": self._unwind,
            "close_planned": self._close_short,
            "short_closed": self._close_send_long,
            "long_close_sent": self._close_confirm_long,
            "closed": self._close_finish,
            "rebalance_planned": self._rebalance,
            "reduce_planned": self._reduce_short,
            "reduce_short_done": self._reduce_send_long,
            "reduce_long_sent": self._reduce_confirm_long,
        }
        self._running: set[str] = set()

    # ------------------------------------------------------------------ entry points
    def begin_open(self, request: OpenRequest, *, requested_by: str = "manual") -> str:
        """Write the execution and its position (nothing is sent yet); `run` drives it."""
        position_id, execution_id = str(uuid.uuid4()), str(uuid.uuid4())
        position = Position(
            id=position_id,
            status="opening",
            asset=request.asset.value,
            protocol=request.protocol.name.lower(),
            leverage=request.leverage,
            collateral_usdc=request.collateral_usdc,
        )
        plan = {
            "asset": request.asset.value,
            "protocol": request.protocol.name,
            "leverage": str(request.leverage),
            "collateral_usdc": str(request.collateral_usdc),
            "lst_sol_rate": str(request.lst_sol_rate),
            "long_attempt": 1,
        }
        execution = Execution(
            id=execution_id,
            kind="open",
            state="planned",
            position_id=position_id,
            plan=plan,
            requested_by=requested_by,
        )
        self.journal.create(position, execution)
        self.events.emit(
            "execution.started",
            f"Opening a {request.leverage}x {request.asset.value} position on "
            f"{request.protocol.name.title()} with {request.collateral_usdc} USDC of margin per leg",
            execution_id=execution_id,
            position_id=position_id,
            execution_kind="open",
        )
        self.crash.reached("open.planned")
        return execution_id

    def begin_close(self, position_id: str, *, requested_by: str = "manual", reason: str = "") -> str:
        """Start closing an open position, or return the close already under way."""
        position = self.journal.position(position_id)
        for ex in self.journal.unfinished():
            if ex.position_id == position_id:
                return ex.id
        if position.status != "open":
            raise ValueError(f"position {position_id} is {position.status}, not open")
        execution_id = str(uuid.uuid4())
        execution = Execution(
            id=execution_id,
            kind="close",
            state="close_planned",
            position_id=position_id,
            plan={"asset": position.asset, "close_long_attempt": 1, "reason": reason},
            requested_by=requested_by,
        )
        self.journal.create(position, execution)
        self.journal.update_position(position_id, status="closing")
        self.events.emit(
            "execution.started",
            f"Closing position {position_id[:8]}" + (f": {reason}" if reason else ""),
            execution_id=execution_id,
            position_id=position_id,
            execution_kind="close",
            requested_by=requested_by,
        )
        return execution_id

    def begin_adjust(
        self,
        position_id: str,
        kind: str,
        *,
        fraction: Decimal | None = None,
        short_change: Decimal | None = None,
        requested_by: str = "risk",
        reason: str = "",
    ) -> str:
        """Start a reduction (both legs by `fraction`) or a rebalance (the short by `short_change`
        SOL: positive sells more, negative buys back) of an open position."""
        position = self.journal.position(position_id)
        for ex in self.journal.unfinished():
            if ex.position_id == position_id:
                return ex.id
        if position.status != "open":
            raise ValueError(f"position {position_id} is {position.status}, not open")
        if kind == "reduce":
            assert fraction is not None and Decimal(0) < fraction < Decimal(1)
            plan: dict[str, Any] = {"fraction": str(fraction), "reduce_long_attempt": 1}
            state = "reduce_planned"
        elif kind == "rebalance":
            assert short_change is not None and short_change != 0
            plan = {"short_change": str(short_change)}
            state = "rebalance_planned"
        else:
            raise ValueError(f"unknown adjustment {kind!r}")
        execution_id = str(uuid.uuid4())
        plan.update(asset=position.asset, reason=reason)
        self.journal.create(
            position,
            Execution(
                id=execution_id,
                kind=kind,
                state=state,
                position_id=position_id,
                plan=plan,
                requested_by=requested_by,
            ),
        )
        self.events.emit(
            "execution.started",
            f"{kind.title()} of position {position_id[:8]}" + (f": {reason}" if reason else ""),
            execution_id=execution_id,
            position_id=position_id,
            execution_kind=kind,
        )
        return execution_id

    async def run(self, execution_id: str) -> Execution:
        """Drive one execution until it finishes or parks. Safe to call again at any time."""
        if execution_id in self._running:  # one driver per execution
            return self.journal.execution(execution_id)
        self._running.add(execution_id)
        try:
            while True:
                ex = self.journal.execution(execution_id)
                if ex.state in TERMINAL:
                    return ex
                try:
                    await self._handlers[ex.state](ex)
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
    async def _open_send_long(self, ex: Execution) -> None:
        plan = ex.plan
        attempt = int(plan["long_attempt"])

        async def build() -> BuiltTransaction:
            return await self.venues.asgard.build_open(
                self.venues.owner,
                Asset(plan["asset"]),
                Protocol[plan["protocol"]],
                _dec(plan["collateral_usdc"]),
                _dec(plan["leverage"]),
                slippage_bps=self.config.slippage_bps,
            )

        try:
            sent = await self._send_tx(ex, "long", attempt, build, "open.long")
        except (AsgardError, TransactionRejected) as exc:
            await self._fail_open(ex, f"the Asgard leg could not be built: {exc}")
            return
        if sent == "landed_or_sent":
            self.journal.set_state(ex.id, "long_sent")
            self.crash.reached("open.long.sent")
        else:  # refused at submit: nothing landed
            await self._retry_or_fail_long(ex, attempt, sent)

    async def _open_confirm_long(self, ex: Execution) -> None:
        attempt = int(ex.plan["long_attempt"])
        step = self._step(ex, "long", attempt)
        result = await self._confirm_tx(step)
        if result != ConfirmResult.CONFIRMED:
            await self._retry_or_fail_long(ex, attempt, f"the long transaction {result.value.lower()}")
            return
        pda = step.request["position_id"]
        found = await self._asgard_position(pda)
        if found is None:
            raise Parked(f"Asgard does not list position {pda} yet")
        self.journal.update_position(
            ex.position_id,
            asgard_position_id=pda,
            long_token_size=found.token_size,
            long_entry_price=found.entry_price,
            debt_usdc=found.debt_usdc,
        )
        self.journal.finish(step.id, "done", {"token_size": found.token_size})
        self.journal.set_state(ex.id, "long_open", plan_update={"long_confirmed_at": time.time()})
        self.events.emit(
            "execution.long_confirmed",
            f"Asgard long confirmed: {found.token_size} {ex.plan['asset']}",
            execution_id=ex.id,
            position_id=ex.position_id,
            signature=step.key,
        )
        self.crash.reached("open.long.confirmed")

    async def _retry_or_fail_long(self, ex: Execution, attempt: int, why: str) -> None:
        if attempt < self.config.tx_attempts:
            self.events.emit(
                "execution.retry",
                f"Asgard long attempt {attempt} did not land ({why}); building it again",
                severity="warning",
                execution_id=ex.id,
            )
            self.journal.set_state(ex.id, "planned", plan_update={"long_attempt": attempt + 1})
        else:
            await self._fail_open(ex, f"the Asgard long did not land after {attempt} attempts ({why})")

    async def _fail_open(self, ex: Execution, why: str) -> None:
        # Nothing landed on either venue: the position never existed.
        self.journal.update_position(ex.position_id, status="failed", closed_at=_now())
        self.journal.set_state(ex.id, "failed", outcome="failed", error=why)
        self.events.emit(
            "execution.failed",
            f"Open failed, nothing is open: {why}",
            severity="warning",
            execution_id=ex.id,
            position_id=ex.position_id,
        )

    async def _open_hedge(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        sz_decimals = await self._sz_decimals()
        target = hedge_size_for(
            position.long_token_size or Decimal(0),
            Asset(ex.plan["asset"]),
            _dec(ex.plan["lst_sol_rate"]),
            sz_decimals,
        )
        deadline = float(ex.plan["long_confirmed_at"]) + self.config.hedge_timeout_seconds
        outcome = await self._order_leg(
            ex,
            "hedge",
            is_buy=False,
            target=target,
            reduce_only=False,
            slippage_bps=self.config.slippage_bps,
            crash_prefix="open.hedge",
            deadline=deadline,
        )
        if outcome == "filled":
            self.journal.set_state(ex.id, "hedged", plan_update={"hedged_at": time.time()})
        else:
            filled, _ = self._filled(ex.id, "hedge")
            self.journal.set_state(ex.id, "unwinding", error=f"hedge incomplete: {outcome}")
            self.events.emit(
                "execution.hedge_failed",
                f"The Hyperliquid hedge did not complete ({outcome}; {filled} of {target} SOL filled): "
                "unwinding the Asgard long",
                severity="critical",
                execution_id=ex.id,
                position_id=ex.position_id,
            )

    async def _open_finish(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        filled, avg_px = self._filled(ex.id, "hedge")
        self.journal.update_position(
            ex.position_id,
            status="open",
            short_size=filled,
            short_entry_px=avg_px,
            opened_at=_now(),
        )
        self.journal.set_state(ex.id, "done", outcome="completed")
        gap_ms = (float(ex.plan["hedged_at"]) - float(ex.plan["long_confirmed_at"])) * 1000
        delta = hedge_delta(
            position.long_token_size or Decimal(0),
            Asset(position.asset),
            _dec(ex.plan["lst_sol_rate"]),
            filled,
            sz_decimals=await self._sz_decimals(),
        )
        if not delta.ok:  # the risk engine's delta-drift breaker rebalances it on the next tick
            self.events.emit(
                "execution.delta",
                f"Hedge off by {delta.drift_fraction:.2%}: long {delta.long_sol_equivalent} SOL-equivalent, "
                f"short {delta.short_sol} SOL",
                severity="warning",
                position_id=ex.position_id,
            )
        self.events.emit(
            "position.opened",
            f"Position open: long {position.long_token_size} {position.asset} on Asgard, "
            f"short {filled} SOL on Hyperliquid at {avg_px}",
            position_id=ex.position_id,
            execution_id=ex.id,
            hedge_gap_ms=round(gap_ms, 1),
        )

    # ------------------------------------------------------------------ unwind
    async def _unwind(self, ex: Execution) -> None:
        await self._resolve_pending_orders(ex.id, "hedge")
        hedged, _ = self._filled(ex.id, "hedge")
        await self._buy_back(ex, "unwind_short", hedged, "unwind.short")
        position = self.journal.position(ex.position_id)
        if position.asgard_position_id and await self._asgard_position(position.asgard_position_id):
            await self._close_long_fully(ex, "unwind_long", position.asgard_position_id, "unwind.long")
        self.journal.update_position(ex.position_id, status="unwound", closed_at=_now())
        self.journal.set_state(ex.id, "unwound", outcome="unwound")
        self.events.emit(
            "position.unwound",
            "The long was unwound after the hedge failed; nothing is left open",
            severity="warning",
            position_id=ex.position_id,
            execution_id=ex.id,
        )

    async def _close_long_fully(self, ex: Execution, name: str, pda: str, crash_prefix: str) -> None:
        """Send and confirm an Asgard close (used by unwinding), retrying expired transactions."""
        for attempt in range(1, 100):
            step = self.journal.step(ex.id, name, attempt)
            if step is not None and step.status == "failed":
                continue
            if step is None or step.status == "intent":
                sent = await self._send_tx(
                    ex,
                    name,
                    attempt,
                    lambda: self.venues.asgard.build_close(self.venues.owner, pda),
                    crash_prefix,
                )
                if sent != "landed_or_sent":
                    continue
                step = self._step(ex, name, attempt)
            if step.status == "intent":
                result = await self._confirm_tx(step)
                if result != ConfirmResult.CONFIRMED:
                    self.journal.finish(step.id, "failed", {"result": result.value})
                    continue
                self.journal.finish(step.id, "done", {"result": result.value})
            return
        raise Parked("the Asgard close keeps failing")

    async def _buy_back(self, ex: Execution, name: str, target: Decimal, crash_prefix: str) -> None:
        """Buy back `target` SOL of the short, reduce-only with the wide exit band; park until done."""
        if target <= 0:
            return
        result = await self._order_leg(
            ex,
            name,
            is_buy=True,
            target=target,
            reduce_only=True,
            slippage_bps=self.config.exit_slippage_bps,
            crash_prefix=crash_prefix,
            deadline=None,
        )
        if result != "filled":
            raise Parked(f"{name.replace('_', ' ')}: {result}")

    # ------------------------------------------------------------------ close
    async def _close_short(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        target = position.short_size or Decimal(0)
        await self._buy_back(ex, "close_short", target, "close.short")
        self.journal.set_state(ex.id, "short_closed")

    async def _close_send_long(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        attempt = int(ex.plan["close_long_attempt"])
        pda = position.asgard_position_id
        assert pda is not None
        try:
            sent = await self._send_tx(
                ex,
                "close_long",
                attempt,
                lambda: self.venues.asgard.build_close(self.venues.owner, pda),
                "close.long",
            )
        except (AsgardError, TransactionRejected) as exc:
            if await self._asgard_position(pda) is None:
                self._mismatch(
                    ex, f"the Asgard position {pda} is no longer open, but the bot did not close it"
                )
                raise Parked("Asgard position missing") from exc
            raise Parked(f"the Asgard close could not be built: {exc}") from exc
        if sent == "landed_or_sent":
            self.journal.set_state(ex.id, "long_close_sent")
        else:
            self.journal.set_state(ex.id, "short_closed", plan_update={"close_long_attempt": attempt + 1})

    async def _close_confirm_long(self, ex: Execution) -> None:
        attempt = int(ex.plan["close_long_attempt"])
        step = self._step(ex, "close_long", attempt)
        result = await self._confirm_tx(step)
        if result != ConfirmResult.CONFIRMED:
            self.journal.finish(step.id, "failed", {"result": result.value})
            self.journal.set_state(ex.id, "short_closed", plan_update={"close_long_attempt": attempt + 1})
            return
        self.journal.finish(step.id, "done", {"result": result.value})
        self.journal.set_state(ex.id, "closed")
        self.crash.reached("close.long.confirmed")

    async def _close_finish(self, ex: Execution) -> None:
        from tenant_bot.execution.pnl import realised_split  # only needed at the end of a close

        position = self.journal.position(ex.position_id)
        open_ex = [e for e in self._executions_of(position.id) if e.kind == "open"]
        rate = _dec(open_ex[0].plan.get("lst_sol_rate", "1")) if open_ex else Decimal(1)
        split = await realised_split(self.journal, self.venues, position, rate)
        self.journal.update_position(ex.position_id, status="closed", closed_at=_now(), ledger=split)
        self.journal.set_state(ex.id, "done", outcome="completed")
        self.events.emit(
            "position.closed",
            f"Position closed; PnL {split.get('total', '?')} USDC",
            position_id=ex.position_id,
            execution_id=ex.id,
            pnl=split,
        )

    # ------------------------------------------------------------------ rebalance and reduce
    async def _rebalance(self, ex: Execution) -> None:
        change = _dec(ex.plan["short_change"])
        result = await self._order_leg(
            ex,
            "rebalance",
            is_buy=change < 0,
            target=abs(change),
            reduce_only=change < 0,
            slippage_bps=self.config.slippage_bps,
            crash_prefix="rebalance",
            deadline=time.time() + self.config.hedge_timeout_seconds,
        )
        filled, _ = self._filled(ex.id, "rebalance")
        position = self.journal.position(ex.position_id)
        signed = filled if change > 0 else -filled
        short = (position.short_size or Decimal(0)) + signed
        self.journal.update_position(ex.position_id, short_size=short)
        outcome = "completed" if result == "filled" else "failed"
        self.journal.set_state(ex.id, "done" if outcome == "completed" else "failed", outcome=outcome)
        self.events.emit(
            "position.rebalanced",
            f"Short adjusted by {signed} SOL to {short} SOL"
            + ("" if outcome == "completed" else f" ({result})"),
            severity="info" if outcome == "completed" else "warning",
            position_id=ex.position_id,
            execution_id=ex.id,
        )

    async def _reduce_short(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        sz_decimals = await self._sz_decimals()
        target = round_size((position.short_size or Decimal(0)) * _dec(ex.plan["fraction"]), sz_decimals)
        await self._buy_back(ex, "reduce_short", target, "reduce.short")
        self.journal.set_state(ex.id, "reduce_short_done")

    async def _reduce_send_long(self, ex: Execution) -> None:
        position = self.journal.position(ex.position_id)
        attempt = int(ex.plan["reduce_long_attempt"])
        pda = position.asgard_position_id
        assert pda is not None
        fraction = _dec(ex.plan["fraction"])
        try:
            sent = await self._send_tx(
                ex,
                "reduce_long",
                attempt,
                lambda: self.venues.asgard.build_partial_close(self.venues.owner, pda, fraction),
                "reduce.long",
            )
        except (AsgardError, TransactionRejected) as exc:
            raise Parked(f"the Asgard partial close could not be built: {exc}") from exc
        if sent == "landed_or_sent":
            self.journal.set_state(ex.id, "reduce_long_sent")
        else:
            self.journal.set_state(
                ex.id, "reduce_short_done", plan_update={"reduce_long_attempt": attempt + 1}
            )

    async def _reduce_confirm_long(self, ex: Execution) -> None:
        attempt = int(ex.plan["reduce_long_attempt"])
        step = self._step(ex, "reduce_long", attempt)
        result = await self._confirm_tx(step)
        if result != ConfirmResult.CONFIRMED:
            self.journal.set_state(
                ex.id, "reduce_short_done", plan_update={"reduce_long_attempt": attempt + 1}
            )
            return
        self.journal.finish(step.id, "done", {"result": result.value})
        position = self.journal.position(ex.position_id)
        venue = await self._asgard_position(position.asgard_position_id or "")
        bought, _ = self._filled(ex.id, "reduce_short")
        self.journal.update_position(
            ex.position_id,
            short_size=(position.short_size or Decimal(0)) - bought,
            long_token_size=venue.token_size if venue is not None else position.long_token_size,
            debt_usdc=venue.debt_usdc if venue is not None else position.debt_usdc,
        )
        self.journal.set_state(ex.id, "done", outcome="completed")
        self.events.emit(
            "position.reduced",
            f"Position reduced by {_dec(ex.plan['fraction']):.0%} on both legs",
            position_id=ex.position_id,
            execution_id=ex.id,
        )

    # ------------------------------------------------------------------ Solana transactions
    async def _send_tx(
        self,
        ex: Execution,
        name: str,
        attempt: int,
        build: Callable[[], Awaitable[BuiltTransaction]],
        crash_prefix: str,
    ) -> str:
        """Build, sign, journal and submit one Asgard transaction. Returns "landed_or_sent" or why not.

        The signature is the transaction's id and is known before sending, so the journal row
        written before the submit is enough to find out later whether it landed.
        """
        step = self.journal.step(ex.id, name, attempt)
        if step is None:
            built = await build()
            signed = await self.venues.asgard.sign(built, self.venues.signer)
            step = self.journal.intent(
                ex.id,
                name,
                attempt,
                key=signed.signature,
                request={
                    "kind": built.kind,
                    "payload": built.payload,
                    "raw": base64.b64encode(signed.raw).decode(),
                    "blockhash": built.blockhash,
                    "last_valid_block_height": built.last_valid_block_height,
                    "position_id": built.payload.get("positionPda") or built.payload.get("positionPDA"),
                },
            )
            self.crash.reached(f"{crash_prefix}.intent")
        elif step.status != "intent":
            return "landed_or_sent" if step.status == "done" else "failed before"
        else:
            status = await self.venues.solana.signature_status(step.key or "")
            if status.state in LANDED:
                return "landed_or_sent"
        try:
            await self.venues.asgard.submit(self._signed(step))
        except OutcomeUnknown:
            log.warning("submit outcome unknown; the signature's status will tell", signature=step.key)
        except AsgardError as exc:
            # Asgard refused it (for example an expired blockhash): it did not land.
            self.journal.finish(step.id, "failed", {"error": str(exc)})
            return f"refused: {exc}"
        self.crash.reached(f"{crash_prefix}.sent")
        return "landed_or_sent"

    async def _confirm_tx(self, step: Step) -> ConfirmResult:
        try:
            result, status = await asyncio.wait_for(
                self.venues.solana.wait_for_signature(
                    step.key or "", step.request.get("last_valid_block_height")
                ),
                timeout=self.config.confirm_timeout_seconds,
            )
        except TimeoutError as exc:
            raise Parked(f"signature {step.key} not yet confirmed") from exc
        if result != ConfirmResult.CONFIRMED:
            self.journal.finish(step.id, "failed", {"result": result.value, "error": status.error})
        return result

    @staticmethod
    def _signed(step: Step) -> SignedTransaction:
        req = step.request
        built = BuiltTransaction(
            kind=req["kind"],
            payload=req["payload"],
            message=b"",
            blockhash=req["blockhash"],
            last_valid_block_height=req["last_valid_block_height"],
        )
        return SignedTransaction(built=built, signature=step.key or "", raw=base64.b64decode(req["raw"]))

    async def _asgard_position(self, pda: str) -> Any:
        for p in await self.venues.asgard.positions(self.venues.owner):
            if p.position_id == pda and p.is_open:
                return p
        return None

    # ------------------------------------------------------------------ Hyperliquid orders
    async def _sz_decimals(self) -> int:
        return (await self.venues.hyperliquid.markets())[HEDGE_COIN].sz_decimals

    def _filled(self, execution_id: str, name: str) -> tuple[Decimal, Decimal | None]:
        size, cost = Decimal(0), Decimal(0)
        for step in self.journal.steps(execution_id, name):
            if step.status == "done" and step.result:
                filled = _dec(step.result.get("filled_size", "0"))
                if filled > 0:
                    size += filled
                    cost += filled * _dec(step.result["avg_px"])
        return size, (cost / size if size > 0 else None)

    async def _resolve(self, step: Step) -> OrderOutcome:
        """What happened to a journaled order: ask the venue by cloid; never guess."""
        hl = self.venues.hyperliquid
        outcome = await hl.order_status(step.key or "")
        if outcome.state == OrderState.NOT_FOUND:
            # Not on the venue: it never arrived. Re-send the very same signed body: if it had
            # arrived after all, the venue refuses the duplicate nonce and nothing is doubled.
            outcome = await hl.send_order(step.request["body"], step.key or "")
        return outcome

    async def _resolve_pending_orders(self, execution_id: str, name: str) -> None:
        for step in self.journal.steps(execution_id, name):
            if step.status == "intent":
                try:
                    outcome = await self._resolve(step)
                except OutcomeUnknown as exc:
                    raise Parked(f"order {step.key} outcome unknown") from exc
                self._record_order(step, outcome)

    def _record_order(self, step: Step, outcome: OrderOutcome) -> None:
        self.journal.finish(
            step.id,
            "done",
            {
                "state": outcome.state.value,
                "oid": outcome.oid,
                "filled_size": outcome.filled_size,
                "avg_px": outcome.avg_px,
                "error": outcome.error,
            },
        )

    async def _order_leg(
        self,
        ex: Execution,
        name: str,
        *,
        is_buy: bool,
        target: Decimal,
        reduce_only: bool,
        slippage_bps: int,
        crash_prefix: str,
        deadline: float | None,
        max_attempts: int = 20,
    ) -> str:
        """Fill `target` SOL with marketable IOC orders, one journaled attempt at a time."""
        hl = self.venues.hyperliquid
        sz_decimals = await self._sz_decimals()
        await self._resolve_pending_orders(ex.id, name)
        while True:
            filled, _ = self._filled(ex.id, name)
            remaining = round_size(target - filled, sz_decimals)
            if remaining <= 0:
                return "filled"
            attempt = len(self.journal.steps(ex.id, name)) + 1
            if deadline is not None and time.time() > deadline:
                return f"timed out with {remaining} SOL unfilled"
            if attempt > max_attempts:
                return f"{max_attempts} attempts left {remaining} SOL unfilled"
            mid = (await hl.mids())[HEDGE_COIN]
            limit = marketable_limit(mid, is_buy, slippage_bps, sz_decimals)
            cloid = cloid_for(ex.id, name, attempt)
            body = await hl.sign_order(
                HEDGE_COIN, is_buy, remaining, limit, cloid=cloid, reduce_only=reduce_only
            )
            step = self.journal.intent(
                ex.id,
                name,
                attempt,
                key=cloid,
                request={"size": remaining, "limit_px": limit, "is_buy": is_buy, "body": body},
            )
            self.crash.reached(f"{crash_prefix}.intent")
            try:
                outcome = await hl.send_order(body, cloid)
            except OutcomeUnknown as exc:
                raise Parked(f"order {cloid} outcome unknown") from exc
            self.crash.reached(f"{crash_prefix}.sent")
            self._record_order(step, outcome)
            self.crash.reached(f"{crash_prefix}.filled")
            if outcome.filled_size <= 0:
                log.info("order did not fill", cloid=cloid, state=outcome.state.value, error=outcome.error)
                if outcome.error and any(text in outcome.error for text in PERMANENT_REFUSALS):
                    return f"refused by the venue: {outcome.error}"
                await asyncio.sleep(self.config.retry_delay_seconds)

    # ------------------------------------------------------------------ helpers
    def _executions_of(self, position_id: str) -> list[Execution]:
        from sqlalchemy import select

        with self.journal.db() as s:
            return list(s.scalars(select(Execution).where(Execution.position_id == position_id)))

    def _step(self, ex: Execution, name: str, attempt: int) -> Step:
        step = self.journal.step(ex.id, name, attempt)
        if step is None:
            raise RuntimeError(f"execution {ex.id} is in {ex.state} without its {name} step")
        return step

    def _mismatch(self, ex: Execution, why: str) -> None:
        self.events.emit(
            "risk.mismatch",
            f"Venue state does not match the journal: {why}. Trading halted until an operator looks.",
            severity="critical",
            execution_id=ex.id,
            position_id=ex.position_id,
        )
        self.on_halt(why)
