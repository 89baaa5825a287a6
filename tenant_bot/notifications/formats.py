"""Request bodies for the three webhook formats: generic JSON, Discord and Telegram.

Each body is built within the receiving API's documented limits, so a long message is cut (and
says so with "…") rather than refused by the receiver:
- Discord execute-webhook: `content` ≤ 2000 characters; an embed's title ≤ 256, description
  ≤ 4096, ≤ 25 fields with name ≤ 256 and value ≤ 1024, footer ≤ 2048, and all of an embed's
  text together ≤ 6000.
- Telegram `sendMessage`: `text` ≤ 4096 characters, here in MarkdownV2 with every reserved
  character escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tenant_bot.notifications.config import NotificationConfig
from tenant_bot.notifications.messages import DAILY_KIND, Notification

ELLIPSIS = "…"

DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_FIELDS_MAX = 25
DISCORD_FIELD_NAME_MAX = 256
DISCORD_FIELD_VALUE_MAX = 1024
DISCORD_FOOTER_MAX = 2048
DISCORD_EMBED_TOTAL_MAX = 6000
TELEGRAM_TEXT_MAX = 4096

# Discord embed colours (24-bit RGB) by severity.
SEVERITY_COLOURS = {"info": 0x3498DB, "warning": 0xF39C12, "critical": 0xE74C3C}
SEVERITY_MARKS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}

# MarkdownV2 reserves these characters everywhere outside code; each must be preceded by "\".
_MD_RESERVED = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_PNL_PARTS = ("funding", "interest", "staking", "fees", "price")


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""


def escape_markdown_v2(text: str) -> str:
    return _MD_RESERVED.sub(r"\\\1", text)


def _escaped_within(text: str, limit: int) -> str:
    """`text` escaped for MarkdownV2, cut before `limit` characters without splitting an escape."""
    escaped = escape_markdown_v2(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for ch in text:
        piece = escape_markdown_v2(ch)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


# ---------------------------------------------------------------------- what a message shows
def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_display(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_display(v) for v in value) or "—"
    return str(value)


def _pnl_text(pnl: dict[str, Any]) -> str:
    if not pnl or pnl.get("total") is None:
        return "PnL not settled yet"
    parts = ", ".join(f"{k} {pnl[k]}" for k in _PNL_PARTS if pnl.get(k) is not None)
    return f"PnL {pnl['total']} USDC" + (f" ({parts})" if parts else "")


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def fields_of(n: Notification) -> list[tuple[str, str]]:
    """The message's details as (name, value) pairs, most important first."""
    if n.kind == DAILY_KIND:
        return _daily_fields(n.data)
    out: list[tuple[str, str]] = []
    for key, value in n.data.items():
        if key == "pnl" and isinstance(value, dict):
            out.append(("PnL", _pnl_text(value)))
        else:
            out.append((_label(key), _display(value)))
    return out


def _daily_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    state = str(data.get("trading_state", "unknown"))
    if data.get("halt_reason"):
        state += f": {data['halt_reason']}"
    if data.get("paused"):
        state += " (paused)"
    if data.get("kill_switch"):
        state += " (kill switch engaged)"
    funding = data.get("funding_24h")
    out = [
        ("Trading state", state),
        ("Open positions", _display(data.get("open_positions", 0))),
        ("Funding, last 24 h", f"{funding} USDC" if funding is not None else "not available"),
        ("Realised PnL, last 24 h", f"{data.get('realised_pnl_24h', '0')} USDC"),
    ]
    for p in data.get("positions", []):
        name = f"{p.get('asset')} on {p.get('protocol')}, {p.get('leverage')}x ({str(p.get('id', ''))[:8]})"
        out.append((name, f"{p.get('status')}; {_pnl_text(p.get('pnl') or {})}"))
    return out


def plain_text(n: Notification) -> str:
    lines = [n.message]
    fields = fields_of(n)
    if fields:
        lines.append("")
        lines.extend(f"{name}: {value}" for name, value in fields)
    return "\n".join(lines)


# ---------------------------------------------------------------------- the three bodies
def json_body(n: Notification) -> dict[str, Any]:
    return {
        "kind": n.kind,
        "severity": n.severity,
        "message": n.message,
        "at": n.at.isoformat(),
        "data": n.data,
        "bot": n.bot,
    }


def discord_body(n: Notification) -> dict[str, Any]:
    title = truncate(n.title, DISCORD_TITLE_MAX)
    footer = truncate(f"Basis bot {n.bot} · {n.kind}", DISCORD_FOOTER_MAX)
    description = truncate(n.message, DISCORD_DESCRIPTION_MAX)
    fields: list[dict[str, Any]] = []
    total = len(title) + len(footer) + len(description)
    all_fields = fields_of(n)
    for name, value in all_fields[:DISCORD_FIELDS_MAX]:
        name = truncate(name, DISCORD_FIELD_NAME_MAX) or "—"
        value = truncate(value, DISCORD_FIELD_VALUE_MAX) or "—"
        if total + len(name) + len(value) > DISCORD_EMBED_TOTAL_MAX:
            break  # Discord refuses an embed over 6000 characters in all: drop the least important
        fields.append({"name": name, "value": value, "inline": len(value) <= 40})
        total += len(name) + len(value)
    if len(fields) < len(all_fields):
        # Say that something was left out, in the description's room to spare if any.
        note = f"\n({len(all_fields) - len(fields)} more details not shown)"
        if len(description) + len(note) <= DISCORD_DESCRIPTION_MAX and total + len(note) <= (
            DISCORD_EMBED_TOTAL_MAX
        ):
            description += note
    mark = SEVERITY_MARKS.get(n.severity, "")
    content = truncate(f"{mark} **{title}** ({n.bot})".strip(), DISCORD_CONTENT_MAX)
    return {
        "content": content,
        "embeds": [
            {
                "title": title,
                "description": description,
                "color": SEVERITY_COLOURS.get(n.severity, SEVERITY_COLOURS["info"]),
                "timestamp": n.at.isoformat(),
                "fields": fields,
                "footer": {"text": footer},
            }
        ],
        # Event text is not ours to trust: never let it ping @everyone or a role.
        "allowed_mentions": {"parse": []},
    }


def telegram_body(n: Notification, chat_id: str) -> dict[str, Any]:
    mark = SEVERITY_MARKS.get(n.severity, "")
    bot = escape_markdown_v2(truncate(n.bot, 64))
    head = f"{mark} *{escape_markdown_v2(n.title)}* \\({bot}\\)\n".lstrip()
    # Telegram counts UTF-16 code units; the emoji in the head takes two.
    body = _escaped_within(plain_text(n), TELEGRAM_TEXT_MAX - _utf16_len(head))
    return {
        # A numeric chat id is sent as a number; "@channel" names stay strings (both are valid).
        "chat_id": int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id,
        "text": head + body,
        "parse_mode": "MarkdownV2",
        "disable_web_page_preview": True,
    }


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render(config: NotificationConfig, n: Notification) -> dict[str, Any]:
    if config.format == "discord":
        return discord_body(n)
    if config.format == "telegram":
        return telegram_body(n, config.telegram_chat_id or "")
    return json_body(n)


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
