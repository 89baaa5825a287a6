"""What gets notified: which event kinds belong to which category, and the message handed to a format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenant_bot.storage.models import Event

RISK_KINDS = frozenset(
    {
        "risk.tripped",
        "risk.changed",
        "risk.halted",
        "risk.resumed",
        "execution.hedge_failed",
        "position.unwound",
        "bot.tick_failed",
        "execution.failed",
        # Money that is not where the user expects it (tenant_bot/execution/deposits.py).
        "deposit.no_gas",
        "deposit.not_credited",
        "deposit.failed",
    }
)
FILL_KINDS = frozenset({"position.opened", "position.closed", "position.reduced", "position.rebalanced"})
DAILY_KIND = "daily.summary"
# Written when a delivery fails; never notified itself, or a dead webhook would feed on its own failures.
FAILED_KIND = "notify.failed"

_CATEGORY = {**dict.fromkeys(RISK_KINDS, "risk"), **dict.fromkeys(FILL_KINDS, "fills"), DAILY_KIND: "daily"}


def category_of(kind: str) -> str | None:
    """The settings category (`risk`, `fills`, `daily`) an event kind belongs to; None: never notified."""
    return _CATEGORY.get(kind)


@dataclass(frozen=True)
class Notification:
    kind: str
    severity: str
    message: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    bot: str = ""
    event_id: int | None = None

    @property
    def category(self) -> str | None:
        return category_of(self.kind)

    @property
    def title(self) -> str:
        if self.kind == DAILY_KIND:
            return "Daily summary"
        return {
            "risk.tripped": "Circuit breaker tripped",
            "risk.changed": "Risk state changed",
            "risk.halted": "Trading halted",
            "risk.resumed": "Trading resumed",
            "execution.hedge_failed": "Hedge failed",
            "execution.failed": "Execution failed",
            "position.unwound": "Long unwound",
            "bot.tick_failed": "Tick failed",
            "deposit.no_gas": "Deposit waiting: no ETH for gas",
            "deposit.not_credited": "Deposit not credited",
            "deposit.failed": "Deposit transfer failed",
            "position.opened": "Position opened",
            "position.closed": "Position closed",
            "position.reduced": "Position reduced",
            "position.rebalanced": "Position rebalanced",
        }.get(self.kind, self.kind)

    @classmethod
    def from_event(cls, event: Event, bot: str) -> Notification:
        at = event.at if event.at is not None else datetime.now(UTC)
        return cls(
            kind=event.kind,
            severity=event.severity or "info",
            message=event.message,
            at=at if at.tzinfo is not None else at.replace(tzinfo=UTC),
            data=dict(event.data or {}),
            bot=bot,
            event_id=event.id,
        )
