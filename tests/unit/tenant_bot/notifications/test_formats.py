"""The three webhook bodies: shapes, the receivers' limits, truncation, escaping, colour by severity."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.formats import (
    DISCORD_CONTENT_MAX,
    DISCORD_DESCRIPTION_MAX,
    DISCORD_EMBED_TOTAL_MAX,
    DISCORD_FIELD_NAME_MAX,
    DISCORD_FIELD_VALUE_MAX,
    DISCORD_FIELDS_MAX,
    ELLIPSIS,
    SEVERITY_COLOURS,
    TELEGRAM_TEXT_MAX,
    body_bytes,
    discord_body,
    escape_markdown_v2,
    json_body,
    render,
    telegram_body,
    truncate,
)
from tenant_bot.notifications.messages import Notification
from tenant_bot.notifications.summary import summary_notification

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RESERVED = "_*[]()~`>#+-=|{}.!"


def _n(
    message: str = "Breaker lst_depeg tripped: jitoSOL is 8.0% below its reference",
    severity: str = "warning",
    kind: str = "risk.tripped",
    **data: Any,
) -> Notification:
    data = data or {"breaker": "lst_depeg", "action": "close", "position_id": "abc", "state": "reducing"}
    return Notification(kind=kind, severity=severity, message=message, at=AT, data=data, bot="tenant-7")


def _embed_chars(embed: dict[str, Any]) -> int:
    return (
        len(embed["title"])
        + len(embed["description"])
        + len(embed["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    )


def test_truncate_marks_the_cut() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4) == "abc" + ELLIPSIS
    assert len(truncate("x" * 5000, 2000)) == 2000


def test_json_body_carries_the_event() -> None:
    body = json_body(_n())
    assert body == {
        "kind": "risk.tripped",
        "severity": "warning",
        "message": "Breaker lst_depeg tripped: jitoSOL is 8.0% below its reference",
        "at": "2026-03-01T12:00:00+00:00",
        "data": {"breaker": "lst_depeg", "action": "close", "position_id": "abc", "state": "reducing"},
        "bot": "tenant-7",
    }
    json.loads(body_bytes(body))


@pytest.mark.parametrize(
    ("severity", "colour"), [("info", 0x3498DB), ("warning", 0xF39C12), ("critical", 0xE74C3C)]
)
def test_discord_colour_follows_severity(severity: str, colour: int) -> None:
    [embed] = discord_body(_n(severity=severity))["embeds"]
    assert embed["color"] == colour == SEVERITY_COLOURS[severity]
    assert 0 <= embed["color"] <= 0xFFFFFF


def test_discord_shape() -> None:
    body = discord_body(_n())
    assert set(body) == {"content", "embeds", "allowed_mentions"}
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "Circuit breaker tripped"
    assert embed["description"].startswith("Breaker lst_depeg tripped")
    assert datetime.fromisoformat(embed["timestamp"]) == AT
    assert {"name": "Breaker", "value": "lst_depeg", "inline": True} in embed["fields"]
    assert "tenant-7" in body["content"]


def test_discord_respects_every_limit() -> None:
    data = {f"key_{i}_" + "k" * 300: "v" * 2000 for i in range(40)}
    body = discord_body(_n(message="m" * 10_000, severity="critical", **data))
    assert len(body["content"]) <= DISCORD_CONTENT_MAX
    [embed] = body["embeds"]
    assert len(embed["description"]) <= DISCORD_DESCRIPTION_MAX
    assert len(embed["fields"]) <= DISCORD_FIELDS_MAX
    for f in embed["fields"]:
        assert 0 < len(f["name"]) <= DISCORD_FIELD_NAME_MAX
        assert 0 < len(f["value"]) <= DISCORD_FIELD_VALUE_MAX
    assert _embed_chars(embed) <= DISCORD_EMBED_TOTAL_MAX
    assert embed["description"].endswith(ELLIPSIS)


def test_discord_caps_fields_at_25_and_says_so() -> None:
    data = {f"k{i}": i for i in range(30)}
    [embed] = discord_body(_n(message="short", **data))["embeds"]
    assert len(embed["fields"]) == 25
    assert "5 more details not shown" in embed["description"]


def test_discord_empty_values_are_not_sent_empty() -> None:
    [embed] = discord_body(_n(message="x", position_id=None, note=""))["embeds"]
    assert all(f["value"] for f in embed["fields"])


def test_markdown_v2_escapes_every_reserved_character() -> None:
    escaped = escape_markdown_v2(RESERVED + "\\ plain")
    assert escaped == "".join("\\" + c for c in RESERVED) + "\\\\ plain"


def _unescaped_reserved(text: str) -> list[str]:
    """Reserved characters not preceded by a backslash (outside the *bold* and \\(\\) markup)."""
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in RESERVED and text[i] != "*":
            out.append(text[i])
        i += 1
    return out


def test_telegram_shape_and_escaping() -> None:
    body = telegram_body(_n(message="PnL -12.5 USDC (fees_usd: 1.2) [x] #1 > 0!"), "-1001234567890")
    assert body["chat_id"] == -1001234567890
    assert body["parse_mode"] == "MarkdownV2"
    assert body["disable_web_page_preview"] is True
    text = body["text"]
    assert "*Circuit breaker tripped*" in text
    assert "PnL \\-12\\.5 USDC \\(fees\\_usd: 1\\.2\\) \\[x\\] \\#1 \\> 0\\!" in text
    assert _unescaped_reserved(text) == []


def test_telegram_channel_name_stays_text() -> None:
    assert telegram_body(_n(), "@basis_alerts")["chat_id"] == "@basis_alerts"


def test_telegram_truncates_without_breaking_an_escape() -> None:
    body = telegram_body(_n(message="a.b" * 5000), "42")
    text = body["text"]
    utf16 = len(text.encode("utf-16-le")) // 2
    assert utf16 <= TELEGRAM_TEXT_MAX
    assert text.endswith(ELLIPSIS)
    assert not re.search(r"(?<!\\)\\" + ELLIPSIS + "$", text), (
        "a dangling backslash would escape the ellipsis"
    )
    assert _unescaped_reserved(text) == []


def test_render_picks_the_configured_format() -> None:
    url = SecretStr("https://example.invalid/hook")
    n = _n()
    assert "embeds" in render(NotificationConfig(webhook_url=url, format="discord"), n)
    assert "chat_id" in render(
        NotificationConfig(webhook_url=url, format="telegram", telegram_chat_id="1"), n
    )
    assert render(NotificationConfig(webhook_url=url), n)["kind"] == "risk.tripped"


def test_closed_position_pnl_reads_as_a_sentence() -> None:
    n = _n(
        kind="position.closed",
        severity="info",
        message="Position closed; PnL 3.2 USDC",
        position_id="p1",
        pnl={
            "funding": "4",
            "interest": "-1",
            "staking": "0",
            "fees": "-0.5",
            "price": "0.7",
            "total": "3.2",
        },
    )
    [embed] = discord_body(n)["embeds"]
    pnl = next(f for f in embed["fields"] if f["name"] == "PnL")
    assert pnl["value"].startswith("PnL 3.2 USDC (funding 4, interest -1")


def test_daily_summary_fields() -> None:
    data = {
        "trading_state": "active",
        "halt_reason": None,
        "paused": False,
        "kill_switch": False,
        "open_positions": 1,
        "realised_pnl_24h": "5.5",
        "funding_24h": "1.25",
        "positions": [
            {
                "id": "0123456789",
                "asset": "SOL",
                "protocol": "kamino",
                "leverage": "3",
                "status": "open",
                "pnl": {},
            },
            {
                "id": "abcdef0123",
                "asset": "jitoSOL",
                "protocol": "drift",
                "leverage": "2",
                "status": "closed",
                "pnl": {"total": "5.5", "funding": "6"},
            },
        ],
    }
    n = summary_notification(data, bot="tenant-7", at=AT)
    assert n.kind == "daily.summary" and n.severity == "info"
    assert "funding last 24 h 1.25 USDC" in n.message
    [embed] = discord_body(n)["embeds"]
    names = [f["name"] for f in embed["fields"]]
    assert names[:4] == ["Trading state", "Open positions", "Funding, last 24 h", "Realised PnL, last 24 h"]
    assert "SOL on kamino, 3x (01234567)" in names
    closed = next(f for f in embed["fields"] if f["name"].startswith("jitoSOL"))
    assert closed["value"] == "closed; PnL 5.5 USDC (funding 6)"
    text = telegram_body(n, "1")["text"]
    assert "Funding, last 24 h: 1\\.25 USDC" in text
