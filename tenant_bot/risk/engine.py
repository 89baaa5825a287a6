"""The risk engine: breakers' trips → one trading state and the actions execution should take.

Each tick the caller hands `evaluate` fresh snapshots and gets a `RiskDecision`:
- `state`: the worst state the current trips imply (REBALANCE and ALERT keep ACTIVE; PAUSE_ENTRIES,
  REDUCE and CLOSE mean REDUCING), combined with a sticky HALTED. REDUCING lasts exactly as long as
  its causes; HALTED, once entered (a HALT trip such as repeated execution failures, or `halt(reason)`
  called by execution on an unexplained mismatch), stays until `resume(operator)`.
- `closes`, `reductions`, `rebalances`: what to do per position. A trip about everything
  (`position_id=None`, e.g. funding) applies to every position. A position being closed is not also
  reduced or rebalanced. Reductions are not idempotent, so a position is asked to reduce at most once
  per `reduce_cooldown_seconds` while its breaker stays tripped. When HALTED, all three are empty:
  nothing automatic happens; a manual close still works (it does not ask the engine).
- `entries_allowed`: ACTIVE, not paused (`PauseController`) and no kill switch file.
- Data older than `max_market_data_age_s` / `max_account_data_age_s` (`MarketRisk`'s ages) trips
  `DataAgeBreaker`: entries pause with the reason ("market data is 34 s old (the limit is 20 s)") and
  no rebalance is decided on it; closes and reductions are never held back by age. `too_old` says
  the same of an observation made outside the tick (a manual open's).

Events are emitted on change only: a trip that appears (TRIPPED), changes action (CHANGED) or goes
away (CLEARED), the state changing, a halt, a resume, the kill switch file appearing or going. A trip
that persists is not repeated every tick. Events reach the `on_event` callback as they happen and are
also returned in `RiskDecision.events` (those since the previous `evaluate`); use one or the other.

After a resume the execution-failure count at that moment is acknowledged: the bot halts again only
after `halt_after_consecutive_failures` more failures (or when the caller's count restarts from zero
and reaches it again).

The engine owns the trading state: the halt, the pauses (its `PauseController`) and the config its
breakers use. With a `store` it persists the halt (key `halted`) and the pauses (key `pause`) as
they change and restores both when built, quietly (their events were written when they happened),
so a restart keeps them. `reconfigure` swaps the thresholds; nobody assigns them from outside.

"Why can't a position be opened now?" is answered here and nowhere else: `entry_blockers()` (every
reason, for an automatic entry and the dashboard) and `manual_refusal()` (the sentence that refuses
an open asked for by hand). Both ask the same blockers: a manual open is refused whenever an
automatic one would be (reducing, a price divergence, a venue outage, a negative forecast, as well as
a halt, a pause or the kill switch); the operator's own causes are named first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from shared.logging import get_logger
from tenant_bot.risk.circuit_breakers import (
    CircuitBreaker,
    DataAgeBreaker,
    HyperliquidMarginBreaker,
    MarketRisk,
    PositionRisk,
    Trip,
    default_breakers,
)
from tenant_bot.risk.config import RiskConfig
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.pause import PauseController, PauseReason
from tenant_bot.risk.states import Action, TradingState

log = get_logger(__name__)


class EventKind(StrEnum):
    TRIPPED = "risk.tripped"
    CHANGED = "risk.changed"  # same breaker and position, another action
    CLEARED = "risk.cleared"
    STATE_CHANGED = "risk.state_changed"
    HALTED = "risk.halted"
    RESUMED = "risk.resumed"
    KILL_SWITCH = "risk.kill_switch"


@dataclass(frozen=True, slots=True)
class RiskEvent:
    kind: EventKind
    message: str
    at: datetime
    trip: Trip | None = None  # the trip now (TRIPPED, CHANGED) or the one that went away (CLEARED)
    previous: Trip | None = None  # CHANGED: the trip before
    state: TradingState | None = None  # STATE_CHANGED, HALTED, RESUMED: the state now


@dataclass(frozen=True, slots=True)
class RiskDecision:
    state: TradingState
    trips: tuple[Trip, ...]
    closes: set[str]
    reductions: dict[str, Decimal]  # position id → fraction of the position to remove
    rebalances: set[str]
    entries_allowed: bool
    events: tuple[RiskEvent, ...] = ()
    entry_blockers: tuple[str, ...] = ()  # why entries are not allowed, one sentence each
    halt_reason: str | None = None


class StateStore(Protocol):
    """Where the engine keeps its trading state across restarts (`storage.state.KeyValueStore`)."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


HALT_KEY = "halted"
PAUSE_KEY = "pause"


@dataclass(frozen=True)
class Halt:
    reason: str
    by: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "by": self.by, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Halt:
        at = data.get("at")
        return cls(str(data["reason"]), str(data.get("by", "execution")), _when(at))


def _when(text: Any) -> datetime:
    return datetime.fromisoformat(text) if isinstance(text, str) else datetime.now(UTC)


class Cause(StrEnum):
    """Why entries are blocked (every cause stops automatic and manual opens alike)."""

    HALTED = "halted"
    REDUCING = "reducing"
    PAUSED = "paused"
    KILL_SWITCH = "kill_switch"


@dataclass(frozen=True)
class EntryBlocker:
    cause: Cause
    reason: str  # one sentence, as the dashboard shows it

    def refusal(self, kill_switch: KillSwitch | None) -> str:
        """The sentence that refuses a manual open."""
        if self.cause is Cause.HALTED:
            return "trading is halted; resume it before opening"
        if self.cause is Cause.PAUSED:
            return "the bot is paused; resume it before opening"
        if self.cause is Cause.REDUCING:
            return f"the risk engine blocks new entries ({self.reason})"
        path = kill_switch.path if kill_switch is not None else "the kill switch file"
        return f"the kill switch is engaged ({path} exists)"


class RiskEngine:
    def __init__(
        self,
        config: RiskConfig,
        *,
        pause: PauseController | None = None,
        kill_switch: KillSwitch | None = None,
        on_event: Callable[[RiskEvent], None] | None = None,
        breakers: list[CircuitBreaker] | None = None,
        store: StateStore | None = None,
        log_events: bool = True,
    ) -> None:
        self._config = config
        # False for the backtest's engines: thousands of hours of events belong in its results,
        # not in the log of the bot whose API ran it.
        self._log_events = log_events
        self.breakers = breakers or default_breakers(config)
        self.kill_switch = kill_switch
        self.on_event = on_event
        self._store = store
        saved_pause = store.get(PAUSE_KEY) if store is not None else None
        if pause is None:
            pause = PauseController.from_json(saved_pause) if saved_pause else PauseController()
        self.pause = pause
        self._halt: Halt | None = self.saved_halt(store) if store is not None else None
        self._state = TradingState.HALTED if self._halt else TradingState.ACTIVE
        self._active: dict[tuple[str, str | None], Trip] = {}
        self._acknowledged_failures = 0
        self._last_failures = 0
        self._last_reduction: dict[str, datetime] = {}
        self._kill_engaged = False
        self._pending: list[RiskEvent] = []

    @staticmethod
    def saved_halt(store: StateStore) -> Halt | None:
        """The halt a store keeps, read without building an engine (the CLI's report)."""
        saved = store.get(HALT_KEY)
        return Halt.from_json(saved) if saved else None

    # ------------------------------------------------------------------ the trading state
    @property
    def config(self) -> RiskConfig:
        return self._config

    def reconfigure(self, config: RiskConfig) -> None:
        """Use `config`'s thresholds from the next `evaluate` on (the breakers are rebuilt)."""
        self._config = config
        self.breakers = default_breakers(config)

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def halt_reason(self) -> str | None:
        return self._halt.reason if self._halt else None

    @property
    def halted(self) -> Halt | None:
        return self._halt

    @property
    def trips(self) -> tuple[Trip, ...]:
        """The trips of the last `evaluate`."""
        return tuple(self._active.values())

    def halt(self, reason: str, *, by: str = "execution", now: datetime | None = None) -> None:
        """Stop everything automatic until an operator resumes (e.g. a position mismatch nobody explains)."""
        now = now or datetime.now(UTC)
        if self._halt is not None:
            return
        self._halt = Halt(reason, by, now)
        self._save(HALT_KEY, self._halt.to_json())
        self._state = TradingState.HALTED
        self._emit(
            RiskEvent(EventKind.HALTED, f"trading halted by {by}: {reason}", now, state=TradingState.HALTED)
        )

    def resume(self, operator: str, *, now: datetime | None = None) -> None:
        """Clear a halt. The next `evaluate` recomputes the state from the trips still active."""
        now = now or datetime.now(UTC)
        if self._halt is None:
            return
        was = self._halt
        self._halt = None
        self._save(HALT_KEY, None)
        self._acknowledged_failures = self._last_failures
        self._state = self._implied(self._active.values())
        self._emit(
            RiskEvent(
                EventKind.RESUMED,
                f"trading resumed by {operator} (halted by {was.by}: {was.reason})",
                now,
                state=self._state,
            )
        )

    def pause_entries(self, reason: str, by: str, *, key: str | None = None) -> None:
        """Stop new entries (see `PauseController.pause`), kept across restarts."""
        self.pause.pause(reason, by, key=key)
        self._save(PAUSE_KEY, self.pause.to_json())

    def resume_entries(self, key: str, by: str) -> list[PauseReason]:
        """Lift one pause, or every pause with `"all"`; returns what was lifted."""
        lifted = self.pause.resume(key, by)
        self._save(PAUSE_KEY, self.pause.to_json())
        return lifted

    def entry_blockers(self) -> tuple[EntryBlocker, ...]:
        """Every reason a new position may not be opened now: the halt, the trips of the last
        `evaluate` that mean REDUCING, each pause, and the kill switch."""
        blockers: list[EntryBlocker] = []
        if self._halt is not None:
            blockers.append(EntryBlocker(Cause.HALTED, f"trading is halted: {self._halt.reason}"))
        else:
            blockers.extend(
                EntryBlocker(Cause.REDUCING, f"{t.action.value}: {t.reason}")
                for t in self._active.values()
                if t.action.implied_state is TradingState.REDUCING
            )
        blockers.extend(
            EntryBlocker(Cause.PAUSED, f"paused by {r.by}: {r.reason}") for r in self.pause.reasons
        )
        if self.kill_switch is not None and self.kill_switch.engaged:
            text = f"the kill switch file {self.kill_switch.path} is present"
            blockers.append(EntryBlocker(Cause.KILL_SWITCH, text))
        return tuple(blockers)

    def manual_refusal(self) -> str | None:
        """Why an open asked for by hand is refused now, or None: the same blockers as an automatic
        entry, the operator's own (halt, pause, kill switch) named before the breakers'."""
        blockers = sorted(self.entry_blockers(), key=lambda b: b.cause is Cause.REDUCING)
        return blockers[0].refusal(self.kill_switch) if blockers else None

    def too_old(self, market_age_s: Decimal | None, account_age_s: Decimal | None) -> str | None:
        """Why data of these ages may not be entered on (the tick's `DataAgeBreaker` sentence), or None."""
        reasons = DataAgeBreaker(self._config).too_old(market_age_s, account_age_s)
        return "; ".join(reason for _, reason in reasons) or None

    # ------------------------------------------------------------------ the tick
    def evaluate(self, market: MarketRisk, positions: Sequence[PositionRisk], now: datetime) -> RiskDecision:
        failures = market.consecutive_failures
        if failures < self._acknowledged_failures:
            self._acknowledged_failures = 0  # the caller's count restarted
        self._last_failures = failures
        seen = dataclasses.replace(market, consecutive_failures=failures - self._acknowledged_failures)

        trips: list[Trip] = []
        for breaker in self.breakers:
            trips.extend(breaker.evaluate(seen, positions, now))
        current = {t.key: t for t in trips}
        self._diff(current, now)
        self._active = current

        for trip in trips:
            if trip.action is Action.HALT and self._halt is None:
                self.halt(trip.reason, by=trip.breaker, now=now)

        state = TradingState.HALTED if self._halt else self._implied(trips)
        if state is not self._state:
            self._emit(
                RiskEvent(
                    EventKind.STATE_CHANGED,
                    f"trading state {self._state.value} → {state.value}",
                    now,
                    state=state,
                )
            )
            self._state = state

        ids = [p.position_id for p in positions]
        closes, reductions, rebalances = (
            self._actions(trips, ids, now) if state is not TradingState.HALTED else (set(), {}, set())
        )
        for pid in list(self._last_reduction):
            if pid not in ids:
                del self._last_reduction[pid]

        self._watch_kill_switch(state, now)
        blockers = [b.reason for b in self.entry_blockers()]
        events, self._pending = tuple(self._pending), []
        return RiskDecision(
            state=state,
            trips=tuple(trips),
            closes=closes,
            reductions=reductions,
            rebalances=rebalances,
            entries_allowed=not blockers,
            events=events,
            entry_blockers=tuple(blockers),
            halt_reason=self.halt_reason,
        )

    # ------------------------------------------------------------------ internals
    def _actions(
        self, trips: Sequence[Trip], ids: Sequence[str], now: datetime
    ) -> tuple[set[str], dict[str, Decimal], set[str]]:
        """The closes, reductions and rebalances `trips` ask of the positions `ids` (not halted)."""
        closes: set[str] = set()
        reductions: dict[str, Decimal] = {}
        rebalances: set[str] = set()
        for trip in trips:
            targets = ids if trip.position_id is None else [trip.position_id]
            if trip.action is Action.CLOSE:
                closes.update(targets)
            elif trip.action is Action.REDUCE:
                for pid in targets:
                    reductions[pid] = max(reductions.get(pid, Decimal(0)), self._reduce_fraction(trip))
            elif trip.action is Action.REBALANCE:
                rebalances.update(targets)
        reductions = {
            pid: f for pid, f in reductions.items() if pid not in closes and self._may_reduce(pid, now)
        }
        for pid in reductions:
            self._last_reduction[pid] = now
        rebalances -= closes
        if any(t.breaker in DataAgeBreaker.names for t in trips):
            rebalances = set()  # a rebalance adds to a leg: never on data past its age
        return closes, reductions, rebalances

    @staticmethod
    def _implied(trips: Iterable[Trip]) -> TradingState:
        state = TradingState.ACTIVE
        for trip in trips:
            if trip.action is not Action.HALT:  # HALTED is sticky state, entered through halt()
                state = state.worst(trip.action.implied_state)
        return state

    def _reduce_fraction(self, trip: Trip) -> Decimal:
        if trip.breaker in (HyperliquidMarginBreaker.distance_name, HyperliquidMarginBreaker.ratio_name):
            return self.config.hyperliquid_margin.reduce_fraction
        return self.config.asgard_health.reduce_fraction

    def _may_reduce(self, position_id: str, now: datetime) -> bool:
        last = self._last_reduction.get(position_id)
        cooldown = timedelta(seconds=float(self.config.reduce_cooldown_seconds))
        return last is None or now - last >= cooldown

    def _diff(self, current: dict[tuple[str, str | None], Trip], now: datetime) -> None:
        for key, trip in current.items():
            before = self._active.get(key)
            if before is None:
                self._emit(
                    RiskEvent(EventKind.TRIPPED, f"{trip.action.value}: {trip.reason}", now, trip=trip)
                )
            elif before.action is not trip.action:
                self._emit(
                    RiskEvent(
                        EventKind.CHANGED,
                        f"{before.action.value} → {trip.action.value}: {trip.reason}",
                        now,
                        trip=trip,
                        previous=before,
                    )
                )
        for key, before in self._active.items():
            if key not in current:
                where = f" (position {before.position_id})" if before.position_id else ""
                self._emit(
                    RiskEvent(
                        EventKind.CLEARED,
                        f"{before.breaker}{where} cleared (was {before.action.value})",
                        now,
                        trip=before,
                    )
                )

    def _watch_kill_switch(self, state: TradingState, now: datetime) -> None:
        if self.kill_switch is None:
            return
        engaged = self.kill_switch.engaged
        if engaged != self._kill_engaged:
            self._kill_engaged = engaged
            word = "engaged" if engaged else "released"
            text = f"kill switch {word} ({self.kill_switch.path})"
            self._emit(RiskEvent(EventKind.KILL_SWITCH, text, now, state=state))

    def _save(self, key: str, value: Any) -> None:
        if self._store is not None:
            self._store.set(key, value)

    def _emit(self, event: RiskEvent) -> None:
        if self._log_events:
            log.info("risk_event", kind=event.kind.value, message=event.message)
        self._pending.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not stop the risk engine
                log.exception("risk_event_listener_failed", kind=event.kind.value)
