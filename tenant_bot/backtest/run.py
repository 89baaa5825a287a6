"""The backtest: the bot's own decisions, hour by hour, over recorded history, on simulated venues.

Each hourly step, in order:
1. the SOL price: on the day's candle path open → first extreme → second extreme → close (the low
   first on an up day, the high first on a down day), reached at hours 0, 8, 16 and 24, so every
   day's high and low are visited (the worst case within the day) and the bot sees the move coming
   as it would at an hourly tick; `static` holds the first open all along (no price path);
2. a day's interest on the Asgard long at each UTC midnight (at the rates recorded for the day
   that ended);
3. the hour's recorded funding on the short;
4. each venue liquidates what its rules say is due at that price;
5. an `Observation` is built from the simulated venues exactly as the live observer builds it, and
   `tenant_bot.decision.decide` (the live bot's function, with a `RiskEngine` and its breakers)
   says what to do; the sizing of an entry is `tenant_bot.decision.plan_open`, the live trader's;
6. the decision is carried out at that price: closes, reductions, rebalances, an entry.

What the live bot leaves to its operator is done here as a stated policy: a halt (the venues no
longer hold what the journal says, after a liquidation) has the operator close what is left and
resume at once; before an entry, capital is levelled between the venues by one bridge transfer
($3, and the entry waits `bridge_hours`) when they differ by more than 1 %. Executions fill at the
step's price in full (Hyperliquid's SOL book was flat to $200k: no slippage), with no failure.

`static` is the ceiling the study calls static carry: all the capital deployed at the first hour
(the bot's sizing with no buffer), held to the end at a constant price, then closed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.assets import Asset, Protocol
from shared.market_history import DAY, History, candle_price
from tenant_bot.backtest.venues import SOL_PERP_MAX_LEVERAGE, Ledger, SimAsgard, SimHyperliquid
from tenant_bot.config import BotSettings
from tenant_bot.decision import Decision, EntryRules, Holdings, decide, plan_open
from tenant_bot.execution.states import PositionStatus
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.observer import Observation
from tenant_bot.risk.config import RiskConfig, load_risk_config
from tenant_bot.risk.engine import RiskEngine
from tenant_bot.risk.states import TradingState
from tenant_bot.storage.models import Position
from tenant_bot.strategy.lst import LstMonitor
from tenant_bot.strategy.opportunity import FeeModel
from tenant_bot.strategy.rates import LendingRate, RatesSnapshot
from tenant_bot.strategy.sizing import PositionPlan, PriceLevel, SizingConfig, hedge_leverage
from tenant_bot.venues.asgard_models import AsgardPosition
from tenant_bot.venues.hyperliquid_models import PerpPosition, UserState

# The study's fee schedule (data README): Asgard 0.15 % of notional on open, nothing on close;
# Hyperliquid taker 0.035 % (a discounted tier: the base tier is 0.045 %, venues.md §1.10).
STUDY_FEES = FeeModel(
    hl_taker_fee=Decimal("0.00035"), asgard_open_fee=Decimal("0.0015"), slippage_bps=Decimal(0)
)
SZ_DECIMALS = 2  # Hyperliquid SOL-PERP
DEEP_BOOK_SOL = Decimal(1_000_000)  # one level at the mark: the book never limits the size
POSITION_ID = "backtest-position"
ASGARD_ID = "backtest-asgard"
LEVEL_ABOVE = Decimal("0.01")  # venues further apart than this share of capital are levelled
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BacktestConfig:
    """One run: the leverage and capital, and the costs the venues' schedules do not give."""

    leverage: Decimal
    capital_usd: Decimal = Decimal(10_000)
    static: bool = False
    # The bot's own default minimum net APY for an automatic entry.
    min_entry_net_apy: Decimal = field(
        default_factory=lambda: BotSettings.model_fields["min_entry_net_apy"].default
    )
    fees: FeeModel = STUDY_FEES
    bridge_fee_usd: Decimal = Decimal(3)  # per transfer between Solana and Hyperliquid (the study's)
    bridge_hours: int = 1  # CCTP Solana → Arbitrum, then Bridge2 (< 1 min)
    solana_gas_usd: Decimal = Decimal("0.01")  # per Asgard transaction: fee, priority fee and tip
    risk: RiskConfig = field(default_factory=load_risk_config)

    def rules(self) -> EntryRules:
        return EntryRules(
            leverage=self.leverage,
            auto_entry=True,
            entry_capital_usd=self.capital_usd,
            min_entry_net_apy=self.min_entry_net_apy,
            max_position_usd=self.capital_usd * self.leverage,
            allowed_protocols=None,
            allowed_assets=None,
        )


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # open, close, reduce, rebalance, liquidation, halt, bridge, end
    text: str


@dataclass(frozen=True)
class Point:
    """The accounts at one instant, USD."""

    at: datetime
    price: Decimal
    solana: Decimal  # wallet USDC and the Asgard long's equity
    hyperliquid: Decimal  # account value

    @property
    def total(self) -> Decimal:
        return self.solana + self.hyperliquid


@dataclass(frozen=True)
class Result:
    config: BacktestConfig
    start: datetime
    end: datetime
    hours: int
    final_equity: Decimal
    ledger: Ledger
    max_drawdown: Decimal  # fraction of the peak total equity
    hours_out: int  # steps ending with no position open
    events: tuple[Event, ...]
    series: tuple[Point, ...]  # one point a day (and the last hour)
    seconds: float  # wall time of the run

    @property
    def days(self) -> Decimal:
        return Decimal(self.hours) / 24

    @property
    def net_usd(self) -> Decimal:
        return self.final_equity - self.config.capital_usd

    @property
    def annualised(self) -> Decimal:
        """Net return per year on the capital, simple (×365 / days)."""
        return self.net_usd / self.config.capital_usd * 365 / self.days

    def waterfall(self) -> dict[str, Decimal]:
        """USD by cause; they sum to the net result."""
        led = self.ledger
        return {
            "funding": led.funding,
            "supply": led.supply,
            "borrow": led.borrow,
            "fees": led.fees,
            "bridge_and_gas": led.bridge_and_gas,
            "liquidation": led.liquidation,
            "price": self.net_usd - led.explained(),
        }

    def count(self, what: str) -> int:
        return self.ledger.counts.get(what, 0)

    @property
    def liquidations(self) -> int:
        return self.count("hyperliquid_liquidations") + self.count("asgard_liquidations")


class Backtest:
    """One run over `history`; `run()` once."""

    def __init__(self, history: History, config: BacktestConfig, progress: Progress | None = None) -> None:
        self.history = history
        self.config = config
        self.progress = progress
        self.ledger = Ledger()
        self.hl = SimHyperliquid(self.ledger, config.fees.hl_taker_fee)
        self.asgard = SimAsgard(self.ledger, config.fees.asgard_open_fee, config.solana_gas_usd)
        self.rules = config.rules()
        self.risk = RiskEngine(config.risk, log_events=False)
        self.lst_monitor = LstMonitor(depeg_threshold=config.risk.lst_depeg.close_above)
        self.position: Position | None = None
        self.events: list[Event] = []
        self._ready_at: datetime | None = None  # a bridge transfer lands then

    # ------------------------------------------------------------------ the run
    def run(self) -> Result:
        began = time.perf_counter()
        hours = self.history.funding
        half = self.config.capital_usd / 2
        self.asgard.wallet, self.hl.balance = half, half
        static_px = self.history.candles[hours[0].at.date()].open
        # The settled rates the live bot would see in the venue's history, the window's lead-in first.
        recent: deque[Any] = deque((f.rate for f in self.history.before[-24:]), maxlen=24)
        series: list[Point] = []
        peak = drawdown = Decimal(0)
        out = 0
        px = static_px
        for i, hour in enumerate(hours):
            t = hour.at
            px = static_px if self.config.static else candle_price(self.history.candles[t.date()], t.hour)
            if i and t.date() != hours[i - 1].at.date():
                self.asgard.accrue_day(self.history.supply_at(t), self.history.borrow_at(t), px)
            self.hl.settle_funding(hour.rate, px)
            recent.append(hour.rate)
            self._liquidate(t, px)
            obs = self.observe(t, px, tuple(recent))
            if self.config.static:
                if i == 0:
                    self._open_static(obs, t, px)
            else:
                self.act(
                    decide(obs, self.holdings(), self.rules, self.risk, self.lst_monitor, self.config.fees),
                    obs,
                )
            point = Point(t, px, self.asgard.wallet + self.asgard.equity(px), self.hl.account_value(px))
            peak = max(peak, point.total)
            drawdown = max(drawdown, (peak - point.total) / peak)
            out += self.position is None
            if t.hour == 0 or i == len(hours) - 1:
                series.append(point)
            if self.progress is not None and (i % 100 == 0 or i == len(hours) - 1):
                self.progress(i + 1, len(hours))
        self._close(hours[-1].at, px, "end of the window", kind="end")
        final = self.asgard.wallet + self.hl.balance
        return Result(
            config=self.config,
            start=hours[0].at,
            end=hours[-1].at,
            hours=len(hours),
            final_equity=final,
            ledger=self.ledger,
            max_drawdown=drawdown,
            hours_out=out,
            events=tuple(self.events),
            series=tuple(series),
            seconds=time.perf_counter() - began,
        )

    # ------------------------------------------------------------------ what the bot sees
    def holdings(self) -> Holdings:
        return Holdings(
            positions=(self.position,) if self.position else (), unfinished=(), consecutive_failures=0
        )

    def observe(self, t: datetime, px: Decimal, recent: tuple[Any, ...]) -> Observation:
        """The observation the live observer would build from venues in this state (its shapes)."""
        h = self.history
        lending = (
            LendingRate(Protocol.KAMINO, Asset.SOL, h.supply_at(t), h.borrow_at(t), capacity_usd=None),
        )
        snapshot = RatesSnapshot(
            at=t,
            funding=recent[-1],
            predicted_funding=recent[-1],  # the recorded data has no forecast: the hour just settled
            funding_history=recent,
            lending=lending,
            prices={"hyperliquid_mark": px, "hyperliquid_oracle": px, "asgard": px},
        )
        return Observation(
            at=t,
            snapshot=snapshot,
            hl_state=self._hl_state(t, px),
            asgard_positions=self._asgard_positions(px),
            sz_decimals=SZ_DECIMALS,
        )

    def _hl_state(self, t: datetime, px: Decimal) -> UserState:
        hl = self.hl
        value = hl.account_value(px)
        leverage = hedge_leverage(self.config.leverage, SOL_PERP_MAX_LEVERAGE)
        margin = hl.size * px / leverage
        positions = {}
        if hl.size:
            positions[HEDGE_COIN] = PerpPosition(
                coin=HEDGE_COIN,
                size=-hl.size,
                entry_px=hl.entry_px,
                position_value=hl.size * px,
                unrealized_pnl=hl.unrealised(px),
                liquidation_px=hl.liquidation_px(),
                margin_used=margin,
                leverage=leverage,
                is_cross=True,
                funding_since_open=Decimal(0),
            )
        return UserState(
            account_value=value,
            total_margin_used=margin,
            maintenance_margin=hl.maintenance_margin(px),
            withdrawable=max(value - margin, Decimal(0)),
            positions=positions,
            time_ms=int(t.timestamp() * 1000),
        )

    def _asgard_positions(self, px: Decimal) -> dict[str, AsgardPosition]:
        a = self.asgard
        if not a.is_open:
            return {}
        return {
            ASGARD_ID: AsgardPosition(
                position_id=ASGARD_ID,
                protocol=Protocol.KAMINO,
                asset=Asset.SOL,
                token_size=a.tokens,
                collateral_usdc=a.deposit,
                debt_usdc=a.debt,
                entry_price=a.entry_px,
                health_factor=a.health_factor(px),
                liquidation_price=a.liquidation_px(),
                opened_at_ms=None,
                is_open=True,
                raw={},
            )
        }

    # ------------------------------------------------------------------ acting
    def act(self, decision: Decision, obs: Observation) -> None:
        """Carry out `decision` as the trader would, at the step's price."""
        t, px = obs.at, obs.mark
        assert px is not None
        if decision.state is TradingState.HALTED:
            self._event(t, "halt", f"halted: {self.risk.halt_reason}; the operator closes what is left")
            self._close(t, px, "operator after a halt")
            self.risk.resume("backtest operator", now=t)
            return
        for e in decision.closes:
            self._close(t, px, e.reason)
        for e in decision.reductions:
            assert e.fraction is not None and self.position is not None
            self.asgard.reduce(e.fraction, px)
            self.hl.buy(self.hl.size * e.fraction, px)
            self._journal()
            self.ledger.count("reductions")
            self._event(t, "reduce", f"reduce by {e.fraction}: {e.reason}")
        for e in decision.rebalances:
            assert e.short_change is not None
            if e.short_change > 0:
                self.hl.sell(e.short_change, px)
            else:
                self.hl.buy(-e.short_change, px)
            self._journal()
            self.ledger.count("rebalances")
            self._event(t, "rebalance", f"short by {e.short_change} SOL: {e.reason}")
        if decision.enter and decision.best is not None:
            self._enter(decision, obs, t, px)

    def _enter(self, decision: Decision, obs: Observation, t: datetime, px: Decimal) -> None:
        assert decision.best is not None and obs.snapshot is not None
        if self._ready_at is not None and t < self._ready_at:
            return  # a transfer is on its way
        self._ready_at = None
        if self._level(t):
            return
        plan = plan_open(
            self.rules,
            self.rules.entry_capital_usd,
            decision.best,
            obs.snapshot,
            solana_usdc=self.asgard.wallet,
            hyperliquid_usdc=self.hl.balance,
            bids=(PriceLevel(px, DEEP_BOOK_SOL),),
            sz_decimals=SZ_DECIMALS,
        )
        if isinstance(plan, PositionPlan):
            self._open(plan, t, px, f"net APY {decision.best.net_apy:.4f}")

    def _open_static(self, obs: Observation, t: datetime, px: Decimal) -> None:
        assert obs.snapshot is not None
        best = self.rules.best(obs, self.config.fees)
        assert best is not None
        plan = plan_open(
            self.rules,
            self.config.capital_usd,
            best,
            obs.snapshot,
            solana_usdc=self.asgard.wallet,
            hyperliquid_usdc=self.hl.balance,
            bids=(PriceLevel(px, DEEP_BOOK_SOL),),
            sz_decimals=SZ_DECIMALS,
            sizing=SizingConfig(hedge_buffer=Decimal(0), max_position_usd=self.rules.max_position_usd),
        )
        if not isinstance(plan, PositionPlan):
            raise ValueError(f"cannot size the static position: {plan.reason}")
        self._open(plan, t, px, "static carry")

    def _open(self, plan: PositionPlan, t: datetime, px: Decimal, why: str) -> None:
        self.asgard.open(plan.collateral_usdc, plan.expected_long_tokens, px)
        self.hl.sell(plan.short_size, px)
        self.position = Position(
            id=POSITION_ID,
            status=PositionStatus.OPEN.value,
            asset=Asset.SOL.value,
            protocol=Protocol.KAMINO.name.lower(),
            leverage=plan.leverage,
            shadow=False,
            asgard_position_id=ASGARD_ID,
        )
        self._journal()
        self.ledger.count("opens")
        self._event(t, "open", f"open {plan.short_size} SOL a leg at ${px:.2f} ({why})")

    def _level(self, t: datetime) -> bool:
        """Level the two venues' USDC by one bridge transfer when they differ by more than 1 %."""
        a, h = self.asgard.wallet, self.hl.balance
        if abs(a - h) <= LEVEL_ABOVE * (a + h):
            return False
        amount = abs(a - h) / 2
        if a > h:
            self.asgard.wallet -= amount
            self.hl.deposit(amount - self.config.bridge_fee_usd)
        else:
            self.hl.withdraw(amount)
            self.asgard.wallet += amount - self.config.bridge_fee_usd
        self.ledger.bridge_and_gas -= self.config.bridge_fee_usd
        self.ledger.count("bridge_transfers")
        self._ready_at = t + self.config.bridge_hours * (DAY / 24)
        self._event(t, "bridge", f"move ${amount:.2f} {'to Hyperliquid' if a > h else 'to Solana'}")
        return True

    def _close(self, t: datetime, px: Decimal, reason: str, *, kind: str = "close") -> None:
        if self.position is None and not self.asgard.is_open and not self.hl.size:
            return
        if self.asgard.is_open:
            self.asgard.close(px)
        self.hl.buy(self.hl.size, px)
        self.position = None
        if kind == "close":
            self.ledger.count("closes")
        self._event(t, kind, f"close at ${px:.2f}: {reason}")

    def _liquidate(self, t: datetime, px: Decimal) -> None:
        if self.hl.liquidate_if_due(px):
            self._event(t, "liquidation", f"Hyperliquid short liquidated at ${px:.2f} (maintenance margin)")
        if self.asgard.liquidate_if_due(px):
            self._event(t, "liquidation", f"Asgard long liquidated at ${px:.2f} (health factor at 0)")

    def _journal(self) -> None:
        """What the journal records after each fill: the legs' sizes."""
        if self.position is not None:
            self.position.long_token_size = self.asgard.tokens
            self.position.short_size = self.hl.size

    def _event(self, t: datetime, kind: str, text: str) -> None:
        self.events.append(Event(t, kind, text))
