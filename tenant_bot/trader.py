"""Acting: what each tick's decision asks for, and what an operator asks for, through execution.

Each tick `act` starts the closes, reductions and rebalances a `Decision` names, drives again any
execution that parked, accrues the shadow positions' funding, and opens a position automatically
when the decision says so. An operator opens and closes positions, pauses, resumes and halts
through the same object; every open goes through `prepare_open` (the refusal, the market and the
sizing) and `start_open`, whoever asked. Refusals are `BotError`s that say why in a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from shared.assets import Asset, Protocol
from tenant_bot.decision import Decision, EntryRules, Holdings, plan_open
from tenant_bot.errors import BotError, InvalidRequest, NotFound, Refused, Unavailable
from tenant_bot.execution.requests import OpenRequest
from tenant_bot.execution.states import LIVE_POSITIONS
from tenant_bot.execution.tasks import ExecutionTasks
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.observer import Observation, Observer
from tenant_bot.services import Services
from tenant_bot.storage.models import Execution
from tenant_bot.strategy.opportunity import MAX_LEVERAGE, MIN_LEVERAGE, NetApy, best_opportunity
from tenant_bot.strategy.sizing import PositionPlan, SizingRejected, hedge_leverage, price_levels
from tenant_bot.venues.asgard import AsgardError
from tenant_bot.venues.outages import UNREACHABLE

# USDC has 6 decimals; an open never asks for more than its plan allows.
USDC_STEP = Decimal("0.000001")


@dataclass(frozen=True)
class PreparedOpen:
    """An open checked and sized, nothing sent yet: what `start_open` executes (or a preview shows)."""

    request: OpenRequest
    best: NetApy
    plan: PositionPlan


class Trader:
    def __init__(self, services: Services, observer: Observer) -> None:
        self._s = services
        self._observer = observer
        self.tasks = ExecutionTasks(services.engine, on_start=services.wakeup.set)

    @property
    def rules(self) -> EntryRules:
        """The user's settings in force, as the decisions read them."""
        return EntryRules.from_settings(self._s.preferences.current)

    def holdings(self, obs: Observation) -> Holdings:
        """What the journal holds now; `moved` when it changed since `obs` was read. Only the positions
        that may hold something are read: the settled ones (a bot's whole history, growing) are not
        what a tick decides on."""
        journal = self._s.journal
        moved = obs.journal_writes is not None and obs.journal_writes != journal.writes
        return Holdings(
            positions=tuple(journal.positions(*LIVE_POSITIONS)),
            unfinished=tuple(journal.unfinished()),
            consecutive_failures=journal.consecutive_failures(),
            moved=moved,
        )

    # ------------------------------------------------------------------ each tick
    async def act(self, decision: Decision, obs: Observation, holdings: Holdings) -> list[str]:
        """Carry out `decision`, made with `holdings`; returns what was done (and why no entry), one
        line each."""
        engine, actions = self._s.engine, []
        lost = [p for p in decision.missing_longs if await self._long_gone(p)]
        actions += [f"close {p} (its long is gone)" for p in lost]
        decision = decision.without(lost)
        for e in decision.closes:
            self.tasks.drive(engine.begin_close(e.position_id, requested_by="risk", reason=e.reason))
            actions.append(f"close {e.position_id}")
        for e in decision.reductions:
            assert e.fraction is not None
            self.tasks.drive(engine.begin_reduce(e.position_id, e.fraction, reason=e.reason))
            actions.append(f"reduce {e.position_id} by {e.fraction}")
        for e in decision.rebalances:
            assert e.short_change is not None
            self.tasks.drive(engine.begin_rebalance(e.position_id, e.short_change, reason=e.reason))
            actions.append(f"rebalance {e.position_id} by {e.short_change} SOL")
        # Parked executions driven again: those of `holdings`, read this tick with nothing awaited
        # since (the ones begun just above are driven already; one parked later waits a tick).
        self.tasks.drive_all(holdings.unfinished)
        if self._s.shadow is not None and obs.snapshot is not None:
            await self._s.shadow.accrue(obs.snapshot)
        if decision.enter and decision.best is not None:
            try:
                rules = self.rules
                prepared = await self._prepare(rules.entry_capital_usd, decision.best, obs, rules)
                actions.append(f"open {await self.start_open(prepared, requested_by='auto')}")
            except BotError as exc:
                actions.append(f"no entry: {exc}")
        elif decision.no_entry:
            actions.append(f"no entry: {decision.no_entry}")
        return actions

    async def _long_gone(self, position_id: str) -> bool:
        """Ask Asgard whether the long of a position it no longer lists is gone; if so, record it, say
        so once, and start buying back the short that is left. False while Asgard cannot answer, or
        says the long is still active (the reconciliation's halt then stands)."""
        s = self._s
        position = s.journal.position(position_id)
        try:
            gone = await s.venues.asgard_gone(position.asgard_position_id or "")
        except (*UNREACHABLE, AsgardError):
            return False  # asked again next tick
        if not gone:
            return False
        s.journal.update_position(position_id, long_lost_at=datetime.now(UTC))
        s.events.emit(
            "position.long_lost",
            f"The Asgard long of position {position_id[:8]} is gone (liquidated, or closed outside the "
            f"bot): its short of {position.short_size or 0} SOL is unhedged and is being bought back. "
            "Trading stays halted until an operator looks.",
            severity="critical",
            position_id=position_id,
            asgard_position_id=position.asgard_position_id,
        )
        self.halt(f"the Asgard long of position {position_id[:8]} is gone", by="reconciliation")
        self.tasks.drive(
            s.engine.begin_close(position_id, requested_by="risk", reason="its Asgard long is gone")
        )
        return True

    async def recover(self) -> None:
        """Finish or unwind what a previous run left unfinished, before anything new starts."""
        try:
            await self._s.engine.recover()
        except UNREACHABLE as exc:
            self._s.events.emit(
                "execution.recovery_deferred",
                f"Recovery could not reach a venue ({type(exc).__name__}); retrying every tick",
                severity="warning",
            )

    # ------------------------------------------------------------------ opening
    def manual_refusal(self) -> str | None:
        """Why an open asked for by hand is refused now (the risk engine's entry blockers), or None."""
        return self._s.risk.manual_refusal()

    async def prepare_open(
        self,
        capital: Decimal,
        *,
        asset: str | None = None,
        protocol: str | None = None,
        leverage: Decimal | None = None,
        check_state: bool = True,
    ) -> PreparedOpen:
        """Every check and the sizing of a manual open, with nothing sent: a `BotError` says why not."""
        why = self.manual_refusal() if check_state else None
        if why:
            raise Refused(why)
        rules = self.rules
        lev = leverage or rules.leverage
        try:
            assets = [Asset.parse_collateral(asset)] if asset else None
            protocols = [Protocol.parse(protocol)] if protocol else None
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        if not MIN_LEVERAGE <= lev <= MAX_LEVERAGE:
            raise InvalidRequest(f"leverage must be between 2 and 4, got {lev}")
        obs = await self._observer.observe()
        if obs.snapshot is None:
            raise Unavailable(f"cannot read rates: {obs.errors}")
        best = best_opportunity(
            obs.snapshot, lev, self._s.fees.model, allowed_protocols=protocols, allowed_assets=assets
        )
        if best is None:
            raise Refused("no Asgard market matches the request")
        return await self._prepare(capital, best, obs, rules)

    async def _prepare(
        self, capital: Decimal, best: NetApy, obs: Observation, rules: EntryRules
    ) -> PreparedOpen:
        s = self._s
        assert obs.snapshot is not None
        stale = s.risk.too_old(obs.market_data_age_s, obs.account_data_age_s)
        if stale:
            raise Refused(f"the risk engine blocks new entries ({stale})")
        book = await s.hl.book(HEDGE_COIN)
        sz_decimals = await s.venues.sz_decimals()
        balances = await s.solana.balances(s.wallet_signer.solana_address)
        hl_free = obs.hl_state.withdrawable if obs.hl_state else Decimal(0)
        lst_rate = obs.snapshot.sol_per_token(best.asset) if best.asset.is_lst else None
        plan = plan_open(
            rules,
            capital,
            best,
            obs.snapshot,
            solana_usdc=balances.tokens.get(Asset.USDC, Decimal(0)),
            hyperliquid_usdc=hl_free,
            bids=price_levels(book.bids),
            sz_decimals=sz_decimals,
        )
        if isinstance(plan, SizingRejected):
            raise Refused(f"cannot size a position: {plan.reason}")
        request = OpenRequest(
            asset=best.asset,
            protocol=best.protocol,
            leverage=best.leverage,
            collateral_usdc=plan.collateral_usdc.quantize(USDC_STEP, rounding=ROUND_DOWN),
            lst_sol_rate=lst_rate or Decimal(1),
        )
        return PreparedOpen(request, best, plan)

    async def start_open(self, prepared: PreparedOpen, *, requested_by: str) -> str:
        """Write the execution and start driving it as a task of the bot; returns its id at once."""
        request = prepared.request
        if self._s.shadow is not None:
            ex_id = await self._s.shadow.open(request, requested_by=requested_by)
            self._s.wakeup.set()  # once journaled: a shadow position is watched like a real one
            return ex_id
        perp = (await self._s.hl.markets())[HEDGE_COIN]
        try:
            leverage = hedge_leverage(request.leverage, perp.max_leverage)
        except ValueError as exc:
            raise Refused(str(exc)) from exc
        await self._s.hl.update_leverage(HEDGE_COIN, leverage, cross=True)
        ex_id = self._s.engine.begin_open(request, requested_by=requested_by)
        self.tasks.drive(ex_id)
        return ex_id

    async def open_position(
        self,
        capital: Decimal,
        *,
        asset: str | None = None,
        protocol: str | None = None,
        leverage: Decimal | None = None,
    ) -> Execution:
        """Open one position now and wait until its execution finishes or parks."""
        prepared = await self.prepare_open(capital, asset=asset, protocol=protocol, leverage=leverage)
        ex_id = await self.start_open(prepared, requested_by="manual")
        await self.tasks.wait(ex_id)
        return self._s.journal.execution(ex_id)

    # ------------------------------------------------------------------ closing
    async def start_close(self, position_id: str, *, requested_by: str = "manual", reason: str = "") -> str:
        """Start closing a position (whatever the pause state); returns the execution id at once."""
        try:
            position = self._s.journal.position(position_id)
        except KeyError:
            raise NotFound(f"no position {position_id}") from None
        if position.shadow and self._s.shadow is not None:
            ex_id = await self._s.shadow.close(position_id)
            self._s.wakeup.set()
            return ex_id
        try:
            ex_id = self._s.engine.begin_close(position_id, requested_by=requested_by, reason=reason)
        except ValueError as exc:  # not open (and no close under way)
            raise Refused(str(exc)) from exc
        self.tasks.drive(ex_id)
        return ex_id

    async def close_position(self, position_id: str) -> Execution:
        """Close one position and wait until its execution finishes or parks."""
        ex_id = await self.start_close(position_id)
        await self.tasks.wait(ex_id)
        return self._s.journal.execution(ex_id)

    # ------------------------------------------------------------------ control
    def pause_entries(self, reason: str, by: str) -> None:
        """Stop new positions (open ones stay watched and closable); kept across restarts."""
        self._s.risk.pause_entries(reason, by)
        self._s.wakeup.set()
        self._s.events.emit("control.paused", f"New entries paused by {by}: {reason}", by=by, reason=reason)

    def resume_all(self, by: str) -> None:
        """Lift every pause and clear a halt (an operator action, recorded with who)."""
        risk = self._s.risk
        lifted = risk.resume_entries("all", by)
        self._s.wakeup.set()
        was_halted = risk.halted is not None
        risk.resume(by)
        self._s.events.emit(
            "control.resumed",
            f"Trading resumed by {by}"
            + (f" ({len(lifted)} pause(s) lifted)" if lifted else "")
            + (", halt cleared" if was_halted else ""),
            by=by,
            lifted=[r.reason for r in lifted],
            halt_cleared=was_halted,
        )

    def halt(self, reason: str, by: str = "execution") -> None:
        """Stop everything automatic until an operator resumes; the risk engine writes the event."""
        self._s.risk.halt(reason, by=by)

    def resume_from_halt(self, by: str) -> None:
        self._s.risk.resume(by)
