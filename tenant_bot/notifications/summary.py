"""The daily summary: positions, each one's PnL split from the database, funding of the last 24 h, state.

PnL parts come from each position's ledger as the engine recorded it (a closed position's split is
settled from venue records at close; an open one shows what is recorded so far). Funding of the
last 24 h is what Hyperliquid paid the bot's SOL short, from its `userFunding` record (shadow
positions: their hypothetical funding ledger). A venue that does not answer leaves that figure
out ("not available") rather than delaying or failing the summary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from tenant_bot.execution.pnl import PNL_PARTS as PNL_KEYS
from tenant_bot.execution.states import LIVE_POSITIONS, PositionStatus
from tenant_bot.notifications.messages import DAILY_KIND, Notification
from tenant_bot.storage.models import Position

if TYPE_CHECKING:  # the running bot's view; importing it here would load the whole bot
    from tenant_bot.status import StatusView

log = structlog.get_logger("basis.bot.notifications")

VENUE_TIMEOUT_SECONDS = 5.0
# What the summary says of the trading state, as the status view names it.
STATE_KEYS = ("trading_state", "halt_reason", "paused", "kill_switch")
WINDOW = timedelta(hours=24)

SummarySource = Callable[[], Awaitable[dict[str, Any]]]


def _pnl(ledger: dict[str, Any]) -> dict[str, str]:
    return {k: str(ledger[k]) for k in PNL_KEYS if ledger.get(k) is not None}


def position_summary(p: Position) -> dict[str, Any]:
    return {**p.header(), "pnl": _pnl(p.ledger or {})}


def summarise_positions(positions: list[Position], now: datetime) -> dict[str, Any]:
    """The part of the summary that comes from the database alone (pure; unit-tested)."""
    since = now - WINDOW
    shown = [
        p
        for p in positions
        if p.status in LIVE_POSITIONS
        or (p.closed_at is not None and p.closed_at >= since and p.status == PositionStatus.CLOSED)
    ]
    realised = sum(
        (
            Decimal(str(p.ledger["total"]))
            for p in shown
            if p.status == PositionStatus.CLOSED and (p.ledger or {}).get("total") is not None
        ),
        Decimal(0),
    )
    return {
        "open_positions": sum(1 for p in shown if p.status == PositionStatus.OPEN),
        "realised_pnl_24h": str(realised),
        "positions": [position_summary(p) for p in shown],
    }


async def _funding_24h(view: StatusView, now: datetime) -> Decimal | None:
    start_ms = int((now - WINDOW).timestamp() * 1000)
    try:
        return await view.funding_paid(start_ms, VENUE_TIMEOUT_SECONDS)
    except Exception as exc:  # the summary goes out without this figure
        log.warning("daily summary: funding history unavailable", error=type(exc).__name__)
        return None


async def bot_summary(view: StatusView, now: datetime | None = None) -> dict[str, Any]:
    """The daily summary's data for a running bot."""
    now = now or datetime.now(UTC)
    trading = view.trading()
    data: dict[str, Any] = {key: trading[key] for key in STATE_KEYS}
    data.update(summarise_positions(view.positions(), now))
    funding = await _funding_24h(view, now)
    data["funding_24h"] = str(funding) if funding is not None else None
    return data


def summary_message(data: dict[str, Any]) -> str:
    funding = data.get("funding_24h")
    return (
        f"Trading {data.get('trading_state', 'unknown')}; {data.get('open_positions', 0)} open position(s); "
        f"funding last 24 h {funding + ' USDC' if funding is not None else 'not available'}; "
        f"realised PnL last 24 h {data.get('realised_pnl_24h', '0')} USDC"
    )


def summary_notification(data: dict[str, Any], *, bot: str, at: datetime) -> Notification:
    severity = "warning" if data.get("trading_state") not in (None, "active") else "info"
    return Notification(
        kind=DAILY_KIND, severity=severity, message=summary_message(data), at=at, data=data, bot=bot
    )
