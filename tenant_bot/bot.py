"""The bot: wires the clients, strategy, risk and execution together, and runs the loop.

One tick: refresh rates and positions from the venues (concurrently), reconcile what the venues
hold against the journal, run the risk engine, then act: exits the breakers ask for, unfinished
executions resumed, and an automatic entry only when enabled and every entry criterion holds.
Start-up recovery runs unfinished executions through the same engine as normal operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

import httpx
import structlog
from sqlalchemy import select

from shared.assets import Asset, Protocol
from shared.rates import Apy, FundingRate
from shared.retry import RetriesExhausted
from tenant_bot.chain.arbitrum import ArbitrumClient
from tenant_bot.chain.solana import SolanaClient
from tenant_bot.config import BotSettings
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.engine import ExecutionEngine
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.requests import OpenRequest
from tenant_bot.execution.shadow import ShadowExecutor
from tenant_bot.execution.venues import Venues
from tenant_bot.preferences import ALL_ASSETS, ALL_PROTOCOLS, Preferences, Settings, risk_settings_from
from tenant_bot.risk.circuit_breakers import MarketRisk, PositionRisk, default_breakers
from tenant_bot.risk.config import RiskConfigError, load_risk_config
from tenant_bot.risk.engine import EventKind, RiskDecision, RiskEngine, RiskEvent
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.pause import PauseController
from tenant_bot.risk.states import TradingState
from tenant_bot.risk.transaction_validator import TransactionPolicy, TransactionValidator, ValidatingSigner
from tenant_bot.signing.signer import Signer
from tenant_bot.storage.database import open_database
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Execution, KeyValue, Position
from tenant_bot.strategy.lst import LstMonitor, LstReference
from tenant_bot.strategy.opportunity import FeeModel, NetApy, best_opportunity
from tenant_bot.strategy.prices import price_consensus
from tenant_bot.strategy.rates import LendingRate, RatesSnapshot
from tenant_bot.strategy.sizing import (
    PositionPlan,
    PositionSizer,
    SizingConfig,
    SizingInputs,
    SizingRejected,
    price_levels,
    round_size,
)
from tenant_bot.venues.asgard import AsgardClient, AsgardPosition
from tenant_bot.venues.hyperliquid import HyperliquidClient, UserState
from tenant_bot.venues.outages import OutageDetector

log = structlog.get_logger("basis.bot")

T = TypeVar("T")
# Asgard offers partial closes on these lending protocols only.
PARTIAL_CLOSE_PROTOCOLS = frozenset({"kamino", "drift"})
# Hyperliquid's minimum order value (reduce-only orders are exempt).
MIN_ORDER_USD = Decimal(10)
VENUE_ERRORS = (httpx.HTTPError, RetriesExhausted, OSError)
# Position statuses that hold nothing on the venues; any other status keeps the fast cadence.
SETTLED_POSITIONS = ("closed", "unwound", "failed")


class BotError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Observation:
    """What the venues said in one tick."""

    at: datetime
    snapshot: RatesSnapshot | None = None
    hl_state: UserState | None = None
    asgard_positions: dict[str, AsgardPosition] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    # The journal's write count when the venues were asked; None when unknown (built by hand).
    journal_writes: int | None = None


@dataclass(frozen=True)
class PreparedOpen:
    """An open checked and sized, nothing sent yet: what `start_open` executes (or a preview shows)."""

    request: OpenRequest
    best: NetApy
    plan: PositionPlan


TickHook = Callable[["Observation", "TickReport"], None]


@dataclass
class TickReport:
    at: datetime
    state: TradingState
    decision_ms: float
    total_ms: float
    best: NetApy | None = None
    actions: list[str] = field(default_factory=list)


def idle_blocker(
    *,
    live_positions: bool,
    executions: bool,
    auto_entry: bool,
    state: TradingState,
    ticked_clean: bool,
    viewers: int,
) -> str | None:
    """Why the bot must keep its normal cadence, or None when it may tick at the idle cadence.

    `ticked_clean`: the last tick happened, raised nothing and saw no venue error.
    """
    if live_positions:
        return "a position is not closed"
    if executions:
        return "an execution is in flight or being recovered"
    if auto_entry:
        return "auto-entry is on"
    if state != TradingState.ACTIVE:
        return f"trading state is {state.value}"
    if not ticked_clean:
        return "the last tick failed or saw a venue error"
    if viewers > 0:
        return "someone is watching the live feed"
    return None


class Bot:
    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self._tasks: dict[str, asyncio.Task[Execution]] = {}
        self.state = TradingState.ACTIVE
        self.last_observation: Observation | None = None
        self.last_decision: RiskDecision | None = None
        self._started = False
        self._failed_ticks = 0
        self._last_risks: dict[str, PositionRisk] = {}
        # For the dashboard's metrics and status.
        self.ticks_total = 0
        self.tick_seconds_total = 0.0
        self.last_tick_at: datetime | None = None
        # Called (synchronously, must not block) after every tick; the API hangs its live feed here.
        self.tick_hooks: list[TickHook] = []
        self.allowed_protocols: list[Protocol] | None = None
        self.allowed_assets: list[Asset] | None = None
        # Open live-feed streams (the dashboard); any viewer keeps the normal cadence.
        self.viewers = 0
        # Set by whatever may end idleness, so an idle wait ends at once rather than after minutes.
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.db = open_database(s.database_path)
        except Exception as exc:
            raise BotError(f"cannot open the bot's database at {s.database_path}: {exc}", 3) from exc
        self.journal = Journal(self.db)
        self.events = EventLog(self.db)
        self.wallet_signer = self._make_signer()
        try:
            self.risk_config = load_risk_config(s.risk_file)
        except RiskConfigError as exc:
            raise BotError(str(exc), 2) from None
        self.validator = TransactionValidator(TransactionPolicy.from_config(self.risk_config))
        # Defence in depth: the bot checks every payload even when the broker checks it again.
        self.signer = ValidatingSigner(self.wallet_signer, self.validator)
        self.hl = HyperliquidClient(s.hyperliquid_url, self.signer, mainnet=s.hyperliquid_mainnet)
        self.asgard = AsgardClient(
            s.asgard_url,
            s.asgard_key_value(),
            allowed_programs=frozenset(self.risk_config.transactions.solana_programs),
        )
        self.solana = SolanaClient(s.solana_rpc_url)
        self.arbitrum = ArbitrumClient(s.arbitrum_rpc_url)
        self.venues = Venues(self.hl, self.asgard, self.solana, self.signer)
        self.outages = OutageDetector()
        self.pause = PauseController.from_json(self._kv("pause")) if self._kv("pause") else PauseController()
        self.kill_switch = KillSwitch(s.kill_switch_path)
        self.risk = RiskEngine(self.risk_config, pause=self.pause, kill_switch=self.kill_switch)
        self.fees = FeeModel()
        self.sizer = PositionSizer()
        self.lst_monitor = LstMonitor(self._lst_references(), depeg_threshold=self._depeg_threshold())
        config = ExecutionConfig(
            hedge_timeout_seconds=s.hedge_timeout_seconds, slippage_bps=s.hedge_slippage_bps
        )
        self.engine = ExecutionEngine(
            self.journal, self.venues, self.events, config, CrashPoints(s.crash_at), on_halt=self.halt
        )
        self.shadow = ShadowExecutor(self.journal, self.venues, self.events, config) if s.shadow else None
        halted = self._kv("halted")
        if halted:  # restored quietly: the event was written when it happened
            self.risk.halt(halted["reason"], by=halted.get("by", "execution"))
            self.state = TradingState.HALTED
        self.risk.on_event = self._risk_event
        # Settings saved from the dashboard override the environment's, from the first tick.
        self.base_risk_config = self.risk_config
        self.preferences = Preferences(
            self.db, self._default_preferences(), self.base_risk_config, on_change=self.apply_preferences
        )
        self.apply_preferences(self.preferences.current)
        self._attach_notifier()
        self._started = True
        self.events.emit(
            "bot.started",
            "Bot started" + (" in shadow mode: nothing will be signed or sent" if s.shadow else ""),
            solana=self.wallet_signer.solana_address,
            evm=self.wallet_signer.evm_address,
            signer=s.signer,
            shadow=s.shadow,
        )
        await self.recover()

    def _make_signer(self) -> Signer:
        """The key holder `BASIS_SIGNER` names: the control plane's broker, or keys of our own."""
        s = self.settings
        if s.signer == "broker":
            from tenant_bot.signing.broker import BrokerSigner

            token = s.api_token_value()
            if token is None or not (s.broker_url and s.solana_address and s.evm_address):
                raise BotError(
                    "BASIS_SIGNER=broker needs BASIS_BROKER_URL, the addresses and BASIS_API_TOKEN", 2
                )
            return BrokerSigner(s.broker_url, s.tenant_id, token, s.solana_address, s.evm_address)
        from tenant_bot.signing.local import LocalSigner

        return LocalSigner.load_or_create(s.keystore_path, s.tenant_id, s.server_secret_value())

    @property
    def local_signer(self) -> Signer:
        """The former name of `wallet_signer`, from before the broker (kept for existing callers)."""
        return self.wallet_signer

    def _attach_notifier(self) -> None:
        """Webhook notifications as the settings configure them (nothing is sent until a URL is set)."""
        from tenant_bot.notifications import NotificationConfig, Notifier

        def config() -> NotificationConfig | None:
            return NotificationConfig.from_settings(self.preferences.current.model_dump(mode="json"))

        self.notifier: Notifier | None = Notifier.for_bot(self, config)
        self.notifier.attach(self.events)

    async def aclose(self) -> None:
        for task in self._tasks.values():
            if not task.done():
                await asyncio.wait({task}, timeout=30)
        notifier = getattr(self, "notifier", None)
        if notifier is not None:
            await notifier.aclose()
            self.notifier = None
        if self._started:
            for client in (self.hl, self.asgard, self.solana, self.arbitrum):
                await client.aclose()
        close_signer = getattr(getattr(self, "wallet_signer", None), "aclose", None)
        if close_signer is not None:  # the broker signer's HTTP client
            await close_signer()

    async def recover(self) -> None:
        """Finish or unwind what a previous run left unfinished, before anything new starts."""
        try:
            await self.engine.recover()
        except VENUE_ERRORS as exc:
            self.events.emit(
                "execution.recovery_deferred",
                f"Recovery could not reach a venue ({type(exc).__name__}); retrying every tick",
                severity="warning",
            )

    async def run(self, stop: asyncio.Event, *, max_ticks: int | None = None) -> None:
        ticks = 0
        while not stop.is_set():
            # This tick sees everything up to now: a wake-up from before it is spent.
            self._wake.clear()
            try:
                await self.tick()
                self._failed_ticks = 0
            except Exception as exc:  # one bad tick must not stop the bot; it is logged and told
                log.exception("tick failed")
                self._failed_ticks += 1
                if self._failed_ticks == 1:
                    self.events.emit(
                        "bot.tick_failed",
                        f"A tick failed ({type(exc).__name__}); the bot keeps ticking",
                        severity="warning",
                    )
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            # A bounded run (`run --ticks N`) asks for its ticks now: no idle cadence there.
            if max_ticks is None and self.idle_reason() is None:
                await self._sleep(stop, self.settings.idle_tick_seconds, wake=True)
            else:
                await self._sleep(stop, self.settings.tick_seconds, wake=False)
        # Graceful stop: let an execution in flight reach a safe, journaled point.
        self.events.emit("bot.stopping", "Stopping: waiting for executions in flight")
        await self.aclose_tasks()

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, wake: bool) -> None:
        """Wait `seconds`, or until `stop`; also until a wake-up when `wake` (the idle wait)."""
        waits = [asyncio.ensure_future(stop.wait())]
        if wake:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def wake(self) -> None:
        """Something may have ended idleness: tick now (no effect on the normal cadence)."""
        self._wake.set()

    def viewer_joined(self) -> None:
        self.viewers += 1
        self.wake()

    def viewer_left(self) -> None:
        self.viewers = max(0, self.viewers - 1)

    def idle_reason(self) -> str | None:
        """Why the bot is not idle now (see `idle_blocker`), or None when it is."""
        try:
            with self.db() as s:
                live = s.scalar(select(Position.id).where(Position.status.not_in(SETTLED_POSITIONS)).limit(1))
            executions = bool(self.journal.unfinished()) or any(not t.done() for t in self._tasks.values())
        except Exception:  # cannot tell: keep the safe, normal cadence
            log.exception("idle check failed")
            return "the journal could not be read"
        obs = self.last_observation
        return idle_blocker(
            live_positions=live is not None,
            executions=executions,
            auto_entry=self.settings.auto_entry,
            state=self.state,
            ticked_clean=obs is not None and not obs.errors and self._failed_ticks == 0,
            viewers=self.viewers,
        )

    async def aclose_tasks(self) -> None:
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=60)

    # ------------------------------------------------------------------ one tick
    async def tick(self) -> TickReport:
        t0 = time.perf_counter()
        obs = await self.observe()
        t1 = time.perf_counter()
        decision, best = self.decide(obs)
        t2 = time.perf_counter()
        report = TickReport(obs.at, decision.state, (t2 - t1) * 1000, 0.0, best)
        await self.act(obs, decision, best, report)
        report.total_ms = (time.perf_counter() - t0) * 1000
        self.ticks_total += 1
        self.tick_seconds_total += report.total_ms / 1000
        self.last_tick_at = obs.at
        for hook in list(self.tick_hooks):
            try:
                hook(obs, report)
            except Exception:  # the dashboard's feed must never stop trading
                log.exception("tick hook failed")
        return report

    async def observe(self) -> Observation:
        now = datetime.now(UTC)
        obs = Observation(at=now, journal_writes=self.journal.writes)
        snap, state, asg = await asyncio.gather(
            self._guard("hyperliquid", self._snapshot(now), obs),
            self._guard("hyperliquid", self.hl.user_state(), obs),
            self._guard("asgard", self.asgard.refresh(self.wallet_signer.solana_address), obs),
        )
        # A chain whose height stops moving is down even if its RPC still answers.
        slot, block = await asyncio.gather(
            self._guard("solana", self.solana.slot(), obs),
            self._guard("arbitrum", self.arbitrum.block_number(), obs),
        )
        if slot is not None:
            self.outages.record_slot("solana", slot, now)
        if block is not None:
            self.outages.record_slot("arbitrum", block, now)
        obs.snapshot, obs.hl_state = snap, state
        if asg is not None:
            obs.asgard_positions = {p.position_id: p for p in asg if p.is_open}
        self.last_observation = obs
        return obs

    async def _guard(self, source: str, call: Awaitable[T], obs: Observation) -> T | None:
        try:
            result = await call
        except VENUE_ERRORS as exc:
            reason = f"{type(exc).__name__}: {exc}"[:200]
            self.outages.record_failure(source, obs.at, reason)
            obs.errors[source] = reason
            return None
        self.outages.record_success(source, obs.at)
        return result

    async def _snapshot(self, now: datetime) -> RatesSnapshot:
        start_ms = int((now - timedelta(hours=24)).timestamp() * 1000)
        ctxs, predicted, history, markets = await asyncio.gather(
            self.hl.asset_contexts(),
            self.hl.predicted_funding("SOL"),
            self.hl.funding_history("SOL", start_ms),
            self.asgard.markets(),
        )
        sol = ctxs["SOL"]
        lending = tuple(
            LendingRate(
                protocol=m.protocol,
                asset=m.asset,
                supply=m.supply_apy,
                borrow=m.borrow_apy,
                capacity_usd=m.capacity_usd,
                max_leverage=m.max_leverage,
                active=m.is_active,
            )
            for m in markets
        )
        staking: dict[Asset, Apy] = {}
        usd: dict[Asset, Decimal] = {}
        for m in markets:
            if m.staking_apy is not None:
                staking[m.asset] = m.staking_apy
            if m.price_usd is not None:
                usd.setdefault(m.asset, m.price_usd)
        asgard_sol_px = usd.get(Asset.SOL)
        # SOL per LST token as Asgard's oracles price them: what the long is worth in SOL.
        lst_rates = {a: px / asgard_sol_px for a, px in usd.items() if a.is_lst and asgard_sol_px}
        prices = {"hyperliquid_mark": sol.mark_px, "hyperliquid_oracle": sol.oracle_px}
        if asgard_sol_px is not None:
            prices["asgard"] = asgard_sol_px
        return RatesSnapshot(
            at=now,
            funding=sol.funding,
            predicted_funding=predicted,
            funding_history=tuple(rate for _, rate in history),
            lending=lending,
            staking=staking,
            lst_sol_rates=lst_rates,
            prices=prices,
        )

    def decide(self, obs: Observation) -> tuple[RiskDecision, NetApy | None]:
        """Pure decision from one observation: risk state and the best entry, no I/O."""
        open_positions = [p for p in self.journal.positions("open") if not p.shadow]
        market = self._market_risk(obs)
        risks = [self._position_risk(p, obs) for p in open_positions]
        self._last_risks = {r.position_id: r for r in risks}
        # Compare the venues with the journal only if nothing was executing and the journal did not
        # move while the venues were read: a reading taken mid-open shows a short the journal has
        # not recorded yet (or the reverse), which is no mismatch.
        moved = obs.journal_writes is not None and obs.journal_writes != self.journal.writes
        if not moved and not self._busy():
            self._reconcile(open_positions, obs)
        decision = self.risk.evaluate(market, risks, obs.at)
        self.state = decision.state
        self.last_decision = decision
        best = None
        if obs.snapshot is not None:
            best = best_opportunity(
                obs.snapshot,
                self.settings.leverage,
                self.fees,
                allowed_protocols=self.allowed_protocols,
                allowed_assets=self.allowed_assets,
            )
        return decision, best

    async def act(
        self, obs: Observation, decision: RiskDecision, best: NetApy | None, report: TickReport
    ) -> None:
        def reasons(position_id: str) -> str:
            return "; ".join(t.reason for t in decision.trips if t.position_id in (position_id, None))

        closes = set(decision.closes)
        reductions: dict[str, Decimal] = {}
        for position_id, fraction in decision.reductions.items():
            # Asgard offers partial closes on Kamino and Drift only; elsewhere reducing means closing.
            if self.journal.position(position_id).protocol in PARTIAL_CLOSE_PROTOCOLS:
                reductions[position_id] = fraction
            else:
                closes.add(position_id)
        for position_id in closes:
            if self._has_execution(position_id):
                continue
            ex_id = self.engine.begin_close(position_id, requested_by="risk", reason=reasons(position_id))
            report.actions.append(f"close {position_id}")
            self._spawn(ex_id)
        for position_id, fraction in reductions.items():
            if position_id in closes or self._has_execution(position_id):
                continue
            ex_id = self.engine.begin_reduce(position_id, fraction, reason=reasons(position_id))
            report.actions.append(f"reduce {position_id} by {fraction}")
            self._spawn(ex_id)
        for position_id in decision.rebalances:
            risk = self._last_risks.get(position_id)
            if risk is None or position_id in closes or self._has_execution(position_id):
                continue
            sz_decimals = (await self.hl.markets())["SOL"].sz_decimals
            change = round_size(abs(risk.long_sol_equivalent - risk.short_sol), sz_decimals)
            mark = obs.snapshot.prices.get("hyperliquid_mark") if obs.snapshot else None
            # Hyperliquid refuses orders under $10 that add to a position; smaller drifts wait.
            if change <= 0 or mark is None or change * mark < MIN_ORDER_USD:
                continue
            if risk.short_sol > risk.long_sol_equivalent:
                change = -change
            ex_id = self.engine.begin_rebalance(position_id, change, reason=reasons(position_id))
            report.actions.append(f"rebalance {position_id} by {change} SOL")
            self._spawn(ex_id)
        for ex in self.journal.unfinished():
            if ex.id not in self._tasks or self._tasks[ex.id].done():
                self._spawn(ex.id)
        if self.shadow is not None and obs.snapshot is not None:
            await self.shadow.accrue(obs.snapshot)
        if self._may_enter(decision, best, report):
            assert best is not None
            try:
                ex = await self._open(self.settings.entry_capital_usd, best, requested_by="auto", wait=False)
                report.actions.append(f"open {ex}")
            except BotError as exc:
                report.actions.append(f"no entry: {exc}")

    def _may_enter(self, decision: RiskDecision, best: NetApy | None, report: TickReport) -> bool:
        if not self.settings.auto_entry or best is None:
            return False
        why = None
        if not decision.entries_allowed or decision.state != TradingState.ACTIVE:
            why = f"trading state is {decision.state.value}"
        elif self.pause.paused:
            why = "paused"
        elif self.kill_switch.engaged:
            why = "kill switch engaged"
        elif self._busy() or self.journal.positions("open", "opening", "closing"):
            why = "a position is already open or in flight"
        elif best.net_apy < self.settings.min_entry_net_apy:
            why = f"best net APY {best.net_apy:.4f} is below {self.settings.min_entry_net_apy}"
        if why:
            report.actions.append(f"no entry: {why}")
            return False
        return True

    # ------------------------------------------------------------------ risk inputs
    def _market_risk(self, obs: Observation) -> MarketRisk:
        history: tuple[FundingRate, ...] = obs.snapshot.funding_history if obs.snapshot else ()
        divergence = None
        if obs.snapshot is not None and len(obs.snapshot.prices) >= 2:
            consensus = price_consensus(
                {k: v for k, v in obs.snapshot.prices.items() if k != "hyperliquid_mark"}
                or obs.snapshot.prices,
                max_divergence_bps=Decimal(10_000),
            )
            divergence = consensus.divergence_bps
        outages = {name: o.since for name, o in self.outages.outages(obs.at).items()}
        return MarketRisk(
            funding_history=history,
            price_divergence_bps=divergence,
            outages=outages,
            consecutive_failures=self._consecutive_failures(),
        )

    def _position_risk(self, position: Position, obs: Observation) -> PositionRisk:
        asset = Asset(position.asset)
        lst_rate = Decimal(1)
        discount = None
        if asset.is_lst and obs.snapshot is not None and asset in obs.snapshot.lst_sol_rates:
            lst_rate = obs.snapshot.lst_sol_rates[asset]
            self._ensure_lst_reference(asset, lst_rate, obs)
            discount = self.lst_monitor.check(asset, lst_rate, at=obs.at).discount
        health = margin_ratio = liq_distance = None
        long_tokens = position.long_token_size or Decimal(0)
        if obs.asgard_positions is not None and position.asgard_position_id in obs.asgard_positions:
            venue = obs.asgard_positions[position.asgard_position_id]
            health = venue.health_factor
            long_tokens = venue.token_size
        short = position.short_size or Decimal(0)
        if obs.hl_state is not None:
            if obs.hl_state.account_value > 0:
                margin_ratio = obs.hl_state.maintenance_margin / obs.hl_state.account_value
            perp = obs.hl_state.positions.get("SOL")
            mark = obs.snapshot.prices.get("hyperliquid_mark") if obs.snapshot else None
            if perp is not None and perp.liquidation_px is not None and mark:
                liq_distance = (perp.liquidation_px - mark) / mark
        return PositionRisk(
            position_id=position.id,
            asset=asset,
            asgard_health_factor=health,
            hl_margin_ratio=margin_ratio,
            hl_liquidation_distance=liq_distance,
            long_sol_equivalent=long_tokens * lst_rate,
            short_sol=short,
            lst_discount=discount,
        )

    def _reconcile(self, positions: list[Position], obs: Observation) -> None:
        """The venues must hold what the journal says; anything unexplained halts the bot."""
        if self.state == TradingState.HALTED:
            return
        if obs.hl_state is not None:
            expected = sum((p.short_size or Decimal(0) for p in positions), Decimal(0))
            perp = obs.hl_state.positions.get("SOL")
            actual = -perp.size if perp is not None else Decimal(0)
            tolerance = max(Decimal("0.02"), expected * Decimal("0.01"))
            if abs(actual - expected) > tolerance:
                self.halt(
                    f"Hyperliquid holds a SOL short of {actual}, the journal expects {expected} "
                    "(closed or changed outside the bot?)"
                )
                return
        if obs.asgard_positions is not None:
            for p in positions:
                if p.asgard_position_id not in obs.asgard_positions:
                    self.halt(
                        f"Asgard position {p.asgard_position_id} of position {p.id[:8]} is no longer open "
                        "(closed outside the bot, or liquidated)"
                    )
                    return

    def halt(self, reason: str, by: str = "execution") -> None:
        """Stop everything automatic until an operator resumes; the risk engine writes the event."""
        if self.state != TradingState.HALTED:
            self._set_kv("halted", {"reason": reason, "by": by, "at": datetime.now(UTC).isoformat()})
        self.risk.halt(reason, by=by)
        self.state = TradingState.HALTED
        self.wake()

    def _risk_event(self, event: RiskEvent) -> None:
        severity = "info"
        if event.kind == EventKind.HALTED:
            severity = "critical"
        elif event.kind in (EventKind.TRIPPED, EventKind.CHANGED, EventKind.KILL_SWITCH):
            severity = "warning"
        data: dict[str, Any] = {"state": event.state.value if event.state else None}
        if event.trip is not None:
            data.update(
                breaker=event.trip.breaker, action=event.trip.action.value, position_id=event.trip.position_id
            )
        self.events.emit(str(event.kind.value), event.message, severity=severity, **data)

    def resume_from_halt(self, by: str) -> None:
        self.risk.resume(by)
        self.state = self.risk.state
        self._set_kv("halted", None)
        self.wake()

    # ------------------------------------------------------------------ manual operations
    def entry_refusal(self) -> str | None:
        """Why a new position cannot be opened now (halted, paused, kill switch), or None."""
        if self.state == TradingState.HALTED:
            return "trading is halted; resume it before opening"
        if self.pause.paused:
            return "the bot is paused; resume it before opening"
        if self.kill_switch.engaged:
            return f"the kill switch is engaged ({self.settings.kill_switch_path} exists)"
        return None

    async def prepare_open(
        self,
        capital: Decimal,
        *,
        asset: str | None = None,
        protocol: str | None = None,
        leverage: Decimal | None = None,
        check_state: bool = True,
    ) -> PreparedOpen:
        """Every check and the sizing of a manual open, with nothing sent: BotError says why not."""
        why = self.entry_refusal() if check_state else None
        if why:
            raise BotError(why)
        lev = leverage or self.settings.leverage
        try:
            allowed_assets = [_asset(asset)] if asset else None
            allowed_protocols = [_protocol(protocol)] if protocol else None
        except ValueError as exc:
            raise BotError(str(exc), 2) from exc
        if not Decimal(2) <= lev <= Decimal(4):
            raise BotError(f"leverage must be between 2 and 4, got {lev}", 2)
        obs = await self.observe()
        if obs.snapshot is None:
            raise BotError(f"cannot read rates: {obs.errors}", 3)
        best = best_opportunity(
            obs.snapshot, lev, self.fees, allowed_protocols=allowed_protocols, allowed_assets=allowed_assets
        )
        if best is None:
            raise BotError("no Asgard market matches the request")
        return await self._prepare(capital, best, obs)

    async def open_position(
        self,
        capital: Decimal,
        *,
        asset: str | None = None,
        protocol: str | None = None,
        leverage: Decimal | None = None,
    ) -> Execution:
        prepared = await self.prepare_open(capital, asset=asset, protocol=protocol, leverage=leverage)
        ex_id = await self.start_open(prepared, requested_by="manual")
        task = self._tasks.get(ex_id)
        if task is not None:
            await task
        return self.journal.execution(ex_id)

    async def _prepare(self, capital: Decimal, best: NetApy, obs: Observation) -> PreparedOpen:
        assert obs.snapshot is not None
        book = await self.hl.book("SOL")
        markets = await self.hl.markets()
        balances = await self.solana.balances(self.wallet_signer.solana_address)
        hl_free = obs.hl_state.withdrawable if obs.hl_state else Decimal(0)
        sol_usdc = balances.tokens.get(Asset.USDC, Decimal(0))
        half = capital / 2
        lst_rate = obs.snapshot.lst_sol_rates.get(best.asset) if best.asset.is_lst else None
        lending = obs.snapshot.lending_for(best.protocol, best.asset)
        plan = self.sizer.plan(
            SizingInputs(
                leverage=best.leverage,
                solana_usdc=min(sol_usdc, half),
                hyperliquid_usdc=min(hl_free, half),
                sol_price=obs.snapshot.prices["hyperliquid_mark"],
                asset=best.asset,
                lst_sol_rate=lst_rate,
                capacity_usd=lending.capacity_usd if lending else None,
                bids=price_levels(book.bids),
                sz_decimals=markets["SOL"].sz_decimals,
            )
        )
        if isinstance(plan, SizingRejected):
            raise BotError(f"cannot size a position: {plan.reason}")
        request = OpenRequest(
            asset=best.asset,
            protocol=best.protocol,
            leverage=best.leverage,
            # USDC has 6 decimals; never ask for more than the plan allows.
            collateral_usdc=plan.collateral_usdc.quantize(Decimal("0.000001"), rounding=ROUND_DOWN),
            lst_sol_rate=lst_rate or Decimal(1),
        )
        return PreparedOpen(request, best, plan)

    async def start_open(self, prepared: PreparedOpen, *, requested_by: str) -> str:
        """Write the execution and start driving it as a task of the bot; returns its id at once."""
        request = prepared.request
        if self.shadow is not None:
            ex_id = await self.shadow.open(request, requested_by=requested_by)
            self.wake()  # once journaled: a shadow position is watched like a real one
            return ex_id
        await self.hl.update_leverage("SOL", int(request.leverage), cross=True)
        ex_id = self.engine.begin_open(request, requested_by=requested_by)
        self._spawn(ex_id)
        return ex_id

    async def _open(
        self,
        capital: Decimal,
        best: NetApy,
        *,
        requested_by: str,
        wait: bool,
        obs: Observation | None = None,
    ) -> str:
        obs = obs or self.last_observation
        assert obs is not None and obs.snapshot is not None
        ex_id = await self.start_open(await self._prepare(capital, best, obs), requested_by=requested_by)
        task = self._tasks.get(ex_id)
        if wait and task is not None:
            await task
        return ex_id

    async def start_close(self, position_id: str, *, requested_by: str = "manual", reason: str = "") -> str:
        """Start closing a position (whatever the pause state); returns the execution id at once."""
        try:
            position = self.journal.position(position_id)
        except KeyError:
            raise BotError(f"no position {position_id}", 2) from None
        if position.shadow and self.shadow is not None:
            ex_id = await self.shadow.close(position_id)
            self.wake()
            return ex_id
        try:
            ex_id = self.engine.begin_close(position_id, requested_by=requested_by, reason=reason)
        except ValueError as exc:
            raise BotError(str(exc)) from exc
        self._spawn(ex_id)
        return ex_id

    async def close_position(self, position_id: str) -> Execution:
        ex_id = await self.start_close(position_id)
        task = self._tasks.get(ex_id)
        if task is not None:
            await task
        return self.journal.execution(ex_id)

    def spawn(self, execution_id: str) -> asyncio.Task[Execution]:
        """Drive an execution as a task of the bot (or return the task already driving it)."""
        return self._spawn(execution_id)

    # ------------------------------------------------------------------ control
    def pause_entries(self, reason: str, by: str) -> None:
        """Stop new positions (open ones stay watched and closable); persisted across restarts."""
        self.pause.pause(reason, by)
        self.save_pause()
        self.wake()
        self.events.emit("control.paused", f"New entries paused by {by}: {reason}", by=by, reason=reason)

    def resume_all(self, by: str) -> None:
        """Lift every pause and clear a halt (an operator action, recorded with who)."""
        lifted = self.pause.resume("all", by)
        self.save_pause()
        self.wake()
        was_halted = self.state == TradingState.HALTED
        if was_halted:
            self.resume_from_halt(by)
        self.events.emit(
            "control.resumed",
            f"Trading resumed by {by}"
            + (f" ({len(lifted)} pause(s) lifted)" if lifted else "")
            + (", halt cleared" if was_halted else ""),
            by=by,
            lifted=[r.reason for r in lifted],
            halt_cleared=was_halted,
        )

    # ------------------------------------------------------------------ preferences
    def _default_preferences(self) -> Settings:
        s = self.settings
        return Settings(
            leverage=s.leverage,
            auto_entry=s.auto_entry,
            entry_capital_usd=s.entry_capital_usd,
            min_entry_net_apy=s.min_entry_net_apy,
            max_position_usd=SizingConfig().max_position_usd,
            allowed_protocols=list(ALL_PROTOCOLS),
            allowed_assets=list(ALL_ASSETS),
            risk=risk_settings_from(self.base_risk_config),
        )

    def apply_preferences(self, prefs: Settings) -> None:
        """Make the running bot follow `prefs` from its next decision on."""
        self.settings = self.settings.model_copy(
            update={
                "leverage": prefs.leverage,
                "auto_entry": prefs.auto_entry,
                "entry_capital_usd": prefs.entry_capital_usd,
                "min_entry_net_apy": prefs.min_entry_net_apy,
            }
        )
        self.risk_config = self.preferences.risk_config(prefs)
        self.risk.config = self.risk_config
        self.risk.breakers = default_breakers(self.risk_config)
        self.lst_monitor.depeg_threshold = self._depeg_threshold()
        floor = min(SizingConfig().min_position_usd, prefs.max_position_usd)
        self.sizer = PositionSizer(
            SizingConfig(min_position_usd=floor, max_position_usd=prefs.max_position_usd)
        )
        all_protocols, all_assets = set(ALL_PROTOCOLS), set(ALL_ASSETS)
        self.allowed_protocols = (
            None
            if set(prefs.allowed_protocols) == all_protocols
            else [_protocol(p) for p in prefs.allowed_protocols]
        )
        self.allowed_assets = (
            None if set(prefs.allowed_assets) == all_assets else [_asset(a) for a in prefs.allowed_assets]
        )
        self.wake()  # e.g. auto-entry turned on: decide with the new settings now

    # ------------------------------------------------------------------ internals
    def _spawn(self, execution_id: str) -> asyncio.Task[Execution]:
        task = self._tasks.get(execution_id)
        if task is None or task.done():
            task = asyncio.create_task(self.engine.run(execution_id), name=f"execution-{execution_id[:8]}")
            self._tasks[execution_id] = task
            self.wake()  # a position is (or may soon be) at stake: back to the normal cadence now
        return task

    def _busy(self) -> bool:
        return bool(self.journal.unfinished())

    def _has_execution(self, position_id: str) -> bool:
        return any(ex.position_id == position_id for ex in self.journal.unfinished())

    def _consecutive_failures(self) -> int:
        with self.db() as s:
            rows = s.scalars(
                select(Execution.outcome)
                .where(Execution.outcome.is_not(None), Execution.kind == "open")
                .order_by(Execution.finished_at.desc())
                .limit(20)
            )
            count = 0
            for outcome in rows:
                if outcome == "completed":
                    break
                count += 1
            return count

    def _kv(self, key: str) -> Any:
        with self.db() as s:
            row = s.get(KeyValue, key)
            return None if row is None else row.value

    def _set_kv(self, key: str, value: Any) -> None:
        with self.db() as s:
            row = s.get(KeyValue, key)
            if row is None:
                s.add(KeyValue(key=key, value=value))
            else:
                row.value = value
            s.commit()

    def _depeg_threshold(self) -> Decimal:
        return Decimal(str(self.risk_config.lst_depeg.close_above))

    def _lst_references(self) -> dict[Asset, LstReference]:
        saved = self._kv("lst_references") or {}
        return {
            Asset(name): LstReference(
                rate=Decimal(v["rate"]),
                at=datetime.fromisoformat(v["at"]),
                staking_apy=Apy(Decimal(v["apy"])),
            )
            for name, v in saved.items()
        }

    def _ensure_lst_reference(self, asset: Asset, rate: Decimal, obs: Observation) -> None:
        if asset in self.lst_monitor.references or obs.snapshot is None:
            return
        apy = obs.snapshot.staking_for(asset)
        self.lst_monitor.update_reference(asset, LstReference(rate=rate, at=obs.at, staking_apy=apy))
        saved = self._kv("lst_references") or {}
        saved[asset.value] = {"rate": str(rate), "at": obs.at.isoformat(), "apy": str(apy.value)}
        self._set_kv("lst_references", saved)

    def save_pause(self) -> None:
        self._set_kv("pause", self.pause.to_json())


def _asset(text: str) -> Asset:
    for a in Asset:
        if a.value.lower() == text.lower() and a is not Asset.USDC:
            return a
    raise ValueError(f"unknown collateral {text!r}; use SOL, jitoSOL, mSOL, jupSOL or INF")


def _protocol(text: str) -> Protocol:
    for p in Protocol:
        if p.name.lower() == text.lower():
            return p
    raise ValueError(f"unknown protocol {text!r}; use kamino, marginfi, solend or drift")


def read_status(settings: BotSettings) -> dict[str, Any]:
    """The bot's state from its database alone (no venue calls), for `basis-bot status`."""
    db = open_database(settings.database_path)
    with db() as s:
        positions = list(s.scalars(select(Position).order_by(Position.created_at)))
        executions = list(s.scalars(select(Execution).order_by(Execution.created_at)))
        halted = s.get(KeyValue, "halted")
    journal = Journal(db)
    events = EventLog(db).since(0, limit=10_000)
    return {
        "halted": halted.value if halted is not None else None,
        "positions": [
            {
                "id": p.id,
                "status": p.status,
                "asset": p.asset,
                "protocol": p.protocol,
                "leverage": str(p.leverage),
                "shadow": p.shadow,
                "asgard_position_id": p.asgard_position_id,
                "long_token_size": str(p.long_token_size) if p.long_token_size is not None else None,
                "short_size": str(p.short_size) if p.short_size is not None else None,
                "ledger": p.ledger,
            }
            for p in positions
        ],
        "executions": [
            {
                "id": e.id,
                "kind": e.kind,
                "state": e.state,
                "outcome": e.outcome,
                "position_id": e.position_id,
                "error": e.error,
                "plan": e.plan,
                "steps": [
                    {
                        "name": st.name,
                        "attempt": st.attempt,
                        "status": st.status,
                        "key": st.key,
                        "result": st.result,
                    }
                    for st in journal.steps(e.id)
                ],
            }
            for e in executions
        ],
        "events": [
            {
                "id": ev.id,
                "at": ev.at.isoformat(),
                "kind": ev.kind,
                "severity": ev.severity,
                "message": ev.message,
            }
            for ev in events[-200:]
        ],
    }
