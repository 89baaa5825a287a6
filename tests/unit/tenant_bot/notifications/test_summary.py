"""The database part of the daily summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tenant_bot.notifications.summary import summarise_positions, summary_notification
from tenant_bot.storage.models import Position

NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def _p(pid: str, status: str, closed_hours_ago: float | None = None, **ledger: str) -> Position:
    return Position(
        id=pid,
        status=status,
        asset="SOL",
        protocol="kamino",
        leverage=Decimal(3),
        shadow=False,
        opened_at=NOW - timedelta(days=3),
        closed_at=NOW - timedelta(hours=closed_hours_ago) if closed_hours_ago is not None else None,
        ledger=ledger,
    )


def test_open_and_recently_closed_positions_with_their_pnl_split() -> None:
    data = summarise_positions(
        [
            _p("open-1", "open"),
            _p("closed-recent", "closed", 3, total="10.5", funding="12", fees="-1.5", hl_fees="-1"),
            _p("closed-old", "closed", 30, total="99"),
            _p("unwound", "unwound", 1),
            _p("failed", "failed"),
        ],
        NOW,
    )
    assert [p["id"] for p in data["positions"]] == ["open-1", "closed-recent"]
    assert data["open_positions"] == 1
    assert data["realised_pnl_24h"] == "10.5"
    recent = data["positions"][1]
    assert recent["pnl"] == {"funding": "12", "fees": "-1.5", "total": "10.5"}
    assert recent["closed_at"] == (NOW - timedelta(hours=3)).isoformat()


def test_a_bad_state_is_a_warning() -> None:
    data = {"trading_state": "halted", "halt_reason": "mismatch", "open_positions": 0, "funding_24h": None}
    n = summary_notification(data, bot="t", at=NOW)
    assert n.severity == "warning" and "funding last 24 h not available" in n.message
