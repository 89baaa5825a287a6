"""Trading states and the actions a breaker can ask for, each ordered by severity.

The three states follow nautilus_trader's risk engine: ACTIVE (anything goes), REDUCING (only what
shrinks risk), HALTED (nothing automatic). Actions are ordered so the engine can take the worst one
when several breakers speak about the same position.
"""

from __future__ import annotations

from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "active"  # new entries allowed
    REDUCING = "reducing"  # no new entries; exits, reductions and rebalances only
    HALTED = "halted"  # nothing automatic; manual close and operator action only

    @property
    def severity(self) -> int:
        return _STATE_SEVERITY[self]

    def worst(self, other: TradingState) -> TradingState:
        return self if self.severity >= other.severity else other


_STATE_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class Action(StrEnum):
    ALERT = "alert"  # tell the user; change nothing
    PAUSE_ENTRIES = "pause_entries"  # no new positions while it lasts
    REBALANCE = "rebalance"  # bring the two legs back to equal size
    REDUCE = "reduce"  # shrink both legs by a fraction
    CLOSE = "close"  # close the position (both legs)
    HALT = "halt"  # stop all automatic trading until an operator resumes

    @property
    def severity(self) -> int:
        return _ACTION_ORDER.index(self)

    @property
    def implied_state(self) -> TradingState:
        """The trading state this action puts the bot in while its trip lasts.

        A rebalance restores the hedge without adding risk, so entries stay allowed; pausing entries,
        reducing and closing all mean "no new risk now".
        """
        if self is Action.HALT:
            return TradingState.HALTED
        if self in (Action.PAUSE_ENTRIES, Action.REDUCE, Action.CLOSE):
            return TradingState.REDUCING
        return TradingState.ACTIVE


_ACTION_ORDER = [
    Action.ALERT,
    Action.PAUSE_ENTRIES,
    Action.REBALANCE,
    Action.REDUCE,
    Action.CLOSE,
    Action.HALT,
]
