"""Deciding: one observation and what the journal holds → what the bot should do this tick.

`decide` does no I/O: it reads its arguments and asks the risk engine (whose state it advances,
and which halts on a mismatch between the venues and the journal). Its result says which
positions to close, reduce or rebalance (and by how much), and whether to open one automatically
(or why not, in one sentence). The trader carries it out; a backtest can call it on recorded
observations with an engine of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from shared.assets import Asset, Protocol
from tenant_bot.execution.states import LIVE_POSITIONS, PositionStatus
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.observer import Observation, market_risk, position_risk
from tenant_bot.preferences import ALL_ASSETS, ALL_PROTOCOLS, Settings
from tenant_bot.risk.circuit_breakers import PositionRisk
from tenant_bot.risk.engine import RiskDecision, RiskEngine
from tenant_bot.risk.states import TradingState
from tenant_bot.storage.models import Execution, Position
from tenant_bot.strategy.lst import LstMonitor
from tenant_bot.strategy.opportunity import FeeModel, NetApy, best_opportunity
from tenant_bot.strategy.rates import RatesSnapshot
from tenant_bot.strategy.sizing import (
    PositionPlan,
    PositionSizer,
    PriceLevel,
    SizingConfig,
    SizingInputs,
    SizingRejected,
    round_size,
)

# Asgard modifies positions (a reduction deleverages) on these lending protocols only; elsewhere
# reducing means closing.
PARTIAL_CLOSE_PROTOCOLS = frozenset({"kamino", "drift"})
# Hyperliquid's minimum order value (reduce-only orders are exempt): smaller drifts wait.
MIN_ORDER_USD = Decimal(10)


@dataclass(frozen=True)
class Holdings:
    """What the journal says the bot holds and is doing, read once per tick."""

    positions: tuple[Position, ...]  # the positions that may hold something (`LIVE_POSITIONS`), or more
    unfinished: tuple[Execution, ...]  # executions still running
    consecutive_failures: int  # opens in a row that did not complete
    moved: bool = False  # the journal changed while the venues were read

    @property
    def open(self) -> list[Position]:
        """Real (not shadow) open positions: what the venues must hold."""
        return [p for p in self.positions if p.status == PositionStatus.OPEN and not p.shadow]

    @property
    def running(self) -> frozenset[str]:
        """Positions with an execution under way."""
        return frozenset(ex.position_id for ex in self.unfinished)

    @property
    def live(self) -> bool:
        """A position is open or on its way in or out (shadow ones too)."""
        return any(p.status in LIVE_POSITIONS for p in self.positions)


@dataclass(frozen=True)
class EntryRules:
    """The user's settings that decide an automatic entry and size a new position."""

    leverage: Decimal
    auto_entry: bool
    entry_capital_usd: Decimal
    min_entry_net_apy: Decimal
    max_position_usd: Decimal
    allowed_protocols: tuple[Protocol, ...] | None  # None: every protocol
    allowed_assets: tuple[Asset, ...] | None  # None: every collateral

    @classmethod
    def from_settings(cls, settings: Settings) -> EntryRules:
        protocols = assets = None
        if set(settings.allowed_protocols) != set(ALL_PROTOCOLS):
            protocols = tuple(Protocol.parse(p) for p in settings.allowed_protocols)
        if set(settings.allowed_assets) != set(ALL_ASSETS):
            assets = tuple(Asset.parse_collateral(a) for a in settings.allowed_assets)
        return cls(
            leverage=settings.leverage,
            auto_entry=settings.auto_entry,
            entry_capital_usd=settings.entry_capital_usd,
            min_entry_net_apy=settings.min_entry_net_apy,
            max_position_usd=settings.max_position_usd,
            allowed_protocols=protocols,
            allowed_assets=assets,
        )

    def sizing(self) -> SizingConfig:
        floor = min(SizingConfig().min_position_usd, self.max_position_usd)
        return SizingConfig(min_position_usd=floor, max_position_usd=self.max_position_usd)

    def best(self, obs: Observation, fees: FeeModel, leverage: Decimal | None = None) -> NetApy | None:
        """The best market these rules allow in `obs`, at `leverage` (the rules' by default)."""
        if obs.snapshot is None:
            return None
        return best_opportunity(
            obs.snapshot,
            leverage or self.leverage,
            fees,
            allowed_protocols=self.allowed_protocols,
            allowed_assets=self.allowed_assets,
        )


def plan_open(
    rules: EntryRules,
    capital: Decimal,
    best: NetApy,
    snapshot: RatesSnapshot,
    *,
    solana_usdc: Decimal,
    hyperliquid_usdc: Decimal,
    bids: tuple[PriceLevel, ...],
    sz_decimals: int,
    sizing: SizingConfig | None = None,
) -> PositionPlan | SizingRejected:
    """The size of an open of `capital` (half on each venue) into `best`, from the free USDC on each
    venue and the SOL-PERP bids: no I/O (the trader reads the balances and the book). `sizing`
    replaces the rules' limits (the backtest's static mode deploys all of the capital)."""
    half = capital / 2
    lst_rate = snapshot.sol_per_token(best.asset) if best.asset.is_lst else None
    lending = snapshot.lending_for(best.protocol, best.asset)
    return PositionSizer(sizing or rules.sizing()).plan(
        SizingInputs(
            leverage=best.leverage,
            solana_usdc=min(solana_usdc, half),
            hyperliquid_usdc=min(hyperliquid_usdc, half),
            sol_price=snapshot.prices["hyperliquid_mark"],
            asset=best.asset,
            lst_sol_rate=lst_rate,
            capacity_usd=lending.capacity_usd if lending else None,
            bids=bids,
            sz_decimals=sz_decimals,
        )
    )


@dataclass(frozen=True)
class Exit:
    """One position to close, reduce (by `fraction`) or rebalance (the short by `short_change` SOL)."""

    position_id: str
    reason: str
    fraction: Decimal | None = None
    short_change: Decimal | None = None


@dataclass(frozen=True)
class Decision:
    risk: RiskDecision
    best: NetApy | None
    closes: tuple[Exit, ...] = ()
    reductions: tuple[Exit, ...] = ()
    rebalances: tuple[Exit, ...] = ()
    enter: bool = False  # open `best` automatically now
    no_entry: str | None = None  # why not, when auto-entry is on and there is a market
    # Open positions whose Asgard long the venue no longer lists, though the bot did not close it:
    # the trader asks Asgard whether it is gone (liquidated, or closed outside the bot).
    missing_longs: tuple[str, ...] = ()

    @property
    def state(self) -> TradingState:
        return self.risk.state

    def without(self, position_ids: Sequence[str]) -> Decision:
        """This decision with no exit for `position_ids` (the trader closes them already)."""
        if not position_ids:
            return self

        def keep(exits: tuple[Exit, ...]) -> tuple[Exit, ...]:
            return tuple(e for e in exits if e.position_id not in position_ids)

        return replace(
            self,
            closes=keep(self.closes),
            reductions=keep(self.reductions),
            rebalances=keep(self.rebalances),
            missing_longs=tuple(p for p in self.missing_longs if p not in position_ids),
        )


def decide(
    obs: Observation,
    holdings: Holdings,
    rules: EntryRules,
    risk: RiskEngine,
    lst_monitor: LstMonitor,
    fees: FeeModel,
) -> Decision:
    """The risk state and what to do, from one observation: no I/O."""
    open_positions = holdings.open
    risks = {p.id: position_risk(p, obs, lst_monitor) for p in open_positions}
    # Compare the venues with the journal only if nothing was executing, the journal did not move
    # while the venues were read, and the account was read for this tick: a reading taken mid-open
    # shows a short the journal has not recorded yet (or the reverse), and one carried from an
    # earlier tick (the gateway down) predates what the journal did since; neither is a mismatch.
    fresh = obs.account_fresh and not holdings.moved
    if fresh and not holdings.unfinished and risk.state is not TradingState.HALTED:
        mismatch = reconcile(open_positions, obs)
        if mismatch is not None:
            risk.halt(mismatch)
    verdict = risk.evaluate(market_risk(obs, holdings.consecutive_failures), list(risks.values()), obs.at)
    best = rules.best(obs, fees)
    decision = Decision(verdict, best, *_exits(verdict, open_positions, risks, holdings.running, obs))
    if fresh:
        decision = replace(decision, missing_longs=missing_longs(open_positions, obs, holdings.running))
    return _with_entry(decision, holdings, rules)


def missing_longs(
    positions: Sequence[Position], obs: Observation, running: frozenset[str]
) -> tuple[str, ...]:
    """The open positions, with no execution under way, whose Asgard long is neither listed open
    nor already known to be gone."""
    if obs.asgard_positions is None:
        return ()
    return tuple(
        p.id
        for p in positions
        if p.id not in running
        and p.long_lost_at is None
        and p.asgard_position_id
        and p.asgard_position_id not in obs.asgard_positions
    )


def reconcile(positions: Sequence[Position], obs: Observation) -> str | None:
    """Why the venues do not hold what the journal says (which halts the bot), or None."""
    if obs.hl_state is not None:
        expected = sum((p.short_size or Decimal(0) for p in positions), Decimal(0))
        perp = obs.hl_state.positions.get(HEDGE_COIN)
        actual = -perp.size if perp is not None else Decimal(0)
        tolerance = max(Decimal("0.02"), expected * Decimal("0.01"))
        if abs(actual - expected) > tolerance:
            return (
                f"Hyperliquid holds a SOL short of {actual}, the journal expects {expected} "
                "(closed or changed outside the bot?)"
            )
    if obs.asgard_positions is not None:
        for p in positions:
            if p.long_lost_at is None and p.asgard_position_id not in obs.asgard_positions:
                return (
                    f"Asgard position {p.asgard_position_id} of position {p.id[:8]} is no longer open "
                    "(closed outside the bot, or liquidated)"
                )
    return None


def _exits(
    verdict: RiskDecision,
    positions: Sequence[Position],
    risks: dict[str, PositionRisk],
    running: frozenset[str],
    obs: Observation,
) -> tuple[tuple[Exit, ...], tuple[Exit, ...], tuple[Exit, ...]]:
    def reasons(position_id: str) -> str:
        return "; ".join(t.reason for t in verdict.trips if t.position_id in (position_id, None))

    protocols = {p.id: p.protocol for p in positions}
    closes = set(verdict.closes)
    reductions: dict[str, Decimal] = {}
    for position_id, fraction in verdict.reductions.items():
        if protocols.get(position_id) in PARTIAL_CLOSE_PROTOCOLS:
            reductions[position_id] = fraction
        else:
            closes.add(position_id)
    closes -= running
    close_exits = tuple(Exit(pid, reasons(pid)) for pid in sorted(closes))
    reduce_exits = tuple(
        Exit(pid, reasons(pid), fraction=f)
        for pid, f in reductions.items()
        if pid not in closes and pid not in running
    )
    rebalance_exits = []
    for pid in sorted(verdict.rebalances):
        risk = risks.get(pid)
        if risk is None or pid in closes or pid in running:
            continue
        change = _rebalance_change(risk, obs)
        if change is not None:
            rebalance_exits.append(Exit(pid, reasons(pid), short_change=change))
    return close_exits, reduce_exits, tuple(rebalance_exits)


def _rebalance_change(risk: PositionRisk, obs: Observation) -> Decimal | None:
    """SOL to sell (positive) or buy back (negative) to level the legs; None when too small to send."""
    if obs.sz_decimals is None or obs.mark is None:
        return None
    change = round_size(abs(risk.long_sol_equivalent - risk.short_sol), obs.sz_decimals)
    # Hyperliquid refuses orders under $10 that add to a position; smaller drifts wait.
    if change <= 0 or change * obs.mark < MIN_ORDER_USD:
        return None
    return -change if risk.short_sol > risk.long_sol_equivalent else change


def _with_entry(decision: Decision, holdings: Holdings, rules: EntryRules) -> Decision:
    best = decision.best
    if not rules.auto_entry or best is None:
        return decision
    why = None
    if decision.risk.entry_blockers:
        why = "; ".join(decision.risk.entry_blockers)
    elif holdings.unfinished or holdings.live:
        why = "a position is already open or in flight"
    elif best.net_apy < rules.min_entry_net_apy:
        why = f"best net APY {best.net_apy:.4f} is below {rules.min_entry_net_apy}"
    return replace(decision, enter=why is None, no_entry=why)
