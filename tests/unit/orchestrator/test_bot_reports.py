"""What the control plane keeps of a bot's positions when it stops: bounded text, whatever the bot says."""

from __future__ import annotations

from orchestrator.bot_reports import SNAPSHOT_FIELD_CHARS, position_summary


def test_a_position_is_cut_to_the_fields_shown_as_short_text() -> None:
    answer = {
        "id": "p1",
        "status": "open",
        "asset": "SOL",
        "protocol": "kamino",
        "leverage": "3",
        "long": {"token_size": "20.5", "health_factor": "0.2"},
        "short": {"size": "20.4"},
        "pnl": {"total": "-1.25", "funding": "0.3"},
        "opened_at": "2026-12-07T10:00:00+00:00",
        "ledger": {"anything": "else"},
    }
    assert position_summary(answer) == {
        "id": "p1",
        "status": "open",
        "asset": "SOL",
        "protocol": "kamino",
        "leverage": "3",
        "long_size": "20.5",
        "short_size": "20.4",
        "pnl_total": "-1.25",
        "opened_at": "2026-12-07T10:00:00+00:00",
    }


def test_what_a_hostile_bot_answers_is_kept_bounded() -> None:
    huge = "<script>" + "x" * 100_000
    kept = position_summary(
        {"id": huge, "asset": {"nested": huge}, "long": "not a dict", "pnl": {"total": [1]}}
    )
    assert kept["id"] is not None and len(kept["id"]) == SNAPSHOT_FIELD_CHARS
    assert kept["asset"] is None and kept["long_size"] is None and kept["pnl_total"] is None
    assert set(kept) == {
        "id",
        "status",
        "asset",
        "protocol",
        "leverage",
        "long_size",
        "short_size",
        "pnl_total",
        "opened_at",
    }
