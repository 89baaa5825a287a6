"""The execution state machine's vocabulary: flows, states, steps, outcomes and position statuses.

Execution owns these names; everything else (the API's jobs, the PnL split, the crash points, the
status report) reads them from here. They are `StrEnum`s because the journal stores their text:
a member compares equal to the string in a row, and a row's string converts back with `State(text)`.

Open:      planned → long_sent → long_open → hedged → done
                         ↘ (every long attempt failed) failed   ↘ (hedge incomplete) unwinding → unwound
Close:     close_planned → short_closed → long_close_sent → closed → done
Reduce:    reduce_planned → reduce_short_done → reduce_long_sent → done
Rebalance: rebalance_planned → done (or failed)
"""

from __future__ import annotations

from enum import StrEnum


class Flow(StrEnum):
    """What an execution does (the `kind` column of `executions`)."""

    OPEN = "open"
    CLOSE = "close"
    REDUCE = "reduce"
    REBALANCE = "rebalance"


class State(StrEnum):
    PLANNED = "planned"  # open: rows written, nothing sent
    LONG_SENT = "long_sent"  # open: the Asgard long submitted
    LONG_OPEN = "long_open"  # open: the long confirmed and recorded; the hedge goes next
    HEDGED = "hedged"  # open: the short filled
    UNWINDING = "unwinding"  # open: the hedge failed; both legs are being taken back
    CLOSE_PLANNED = "close_planned"
    SHORT_CLOSED = "short_closed"
    LONG_CLOSE_SENT = "long_close_sent"
    CLOSED = "closed"  # close: both legs gone; the PnL split is settled next
    REDUCE_PLANNED = "reduce_planned"
    REDUCE_SHORT_DONE = "reduce_short_done"
    REDUCE_LONG_SENT = "reduce_long_sent"
    REBALANCE_PLANNED = "rebalance_planned"
    DONE = "done"
    UNWOUND = "unwound"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[State] = frozenset({State.DONE, State.UNWOUND, State.FAILED})


class Outcome(StrEnum):
    """How a finished execution ended (None while it runs)."""

    COMPLETED = "completed"
    UNWOUND = "unwound"
    FAILED = "failed"


class Leg(StrEnum):
    """Where a step's side effect happens, which decides how it is sent and resumed."""

    SOLANA = "solana"  # an Asgard transaction: journaled by signature, confirmed on chain
    PERP = "perp"  # Hyperliquid IOC orders: journaled by cloid, resolved by asking the venue


class StepName(StrEnum):
    """One side effect of a flow, journaled as `steps` rows (one per attempt)."""

    LONG = "long"
    HEDGE = "hedge"
    UNWIND_SHORT = "unwind_short"
    UNWIND_LONG = "unwind_long"
    CLOSE_SHORT = "close_short"
    CLOSE_LONG = "close_long"
    REDUCE_SHORT = "reduce_short"
    REDUCE_LONG = "reduce_long"
    REBALANCE = "rebalance"

    @property
    def leg(self) -> Leg:
        return Leg.SOLANA if self in _SOLANA_STEPS else Leg.PERP

    @property
    def crash_prefix(self) -> str:
        """Where this step's crash points start: `open.long`, `unwind.short`, `rebalance.short`..."""
        return _CRASH_PREFIX[self]


_SOLANA_STEPS = frozenset({StepName.LONG, StepName.UNWIND_LONG, StepName.CLOSE_LONG, StepName.REDUCE_LONG})
_CRASH_PREFIX = {
    StepName.LONG: "open.long",
    StepName.HEDGE: "open.hedge",
    StepName.CLOSE_SHORT: "close.short",
    StepName.CLOSE_LONG: "close.long",
    StepName.UNWIND_SHORT: "unwind.short",
    StepName.UNWIND_LONG: "unwind.long",
    StepName.REDUCE_SHORT: "reduce.short",
    StepName.REDUCE_LONG: "reduce.long",
    StepName.REBALANCE: "rebalance.short",
}
# Steps whose fills move the position's short: every one of them counts in its fees and PnL.
PERP_STEPS: tuple[StepName, ...] = tuple(s for s in StepName if s.leg is Leg.PERP)


class Moment(StrEnum):
    """The instants inside a step at which a crash is worth testing (see `crash.py`)."""

    INTENT = "intent"  # the journal row is written, nothing sent
    SENT = "sent"  # the venue has it (or may have it), its answer not yet recorded
    CONFIRMED = "confirmed"  # Solana: the transaction confirmed and recorded
    FILLED = "filled"  # Hyperliquid: one order's fill recorded


def moments(leg: Leg) -> tuple[Moment, ...]:
    last = Moment.CONFIRMED if leg is Leg.SOLANA else Moment.FILLED
    return (Moment.INTENT, Moment.SENT, last)


class StepStatus(StrEnum):
    INTENT = "intent"
    DONE = "done"
    FAILED = "failed"


class PositionStatus(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    UNWOUND = "unwound"
    FAILED = "failed"


# Positions that hold something, or may, on the venues.
LIVE_POSITIONS: tuple[PositionStatus, ...] = (
    PositionStatus.OPENING,
    PositionStatus.OPEN,
    PositionStatus.CLOSING,
)
# Positions that hold nothing on the venues any more.
SETTLED_POSITIONS: tuple[PositionStatus, ...] = (
    PositionStatus.CLOSED,
    PositionStatus.UNWOUND,
    PositionStatus.FAILED,
)
