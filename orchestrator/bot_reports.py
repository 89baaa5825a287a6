"""What the operator reads from a tenant's running bot, and the one thing the operator asks of it.

The CLI (`basis tenants list / show / resume / stop`, `basis doctor`) asks the bot's own API, on
loopback with the token the control plane holds for it, as the proxy does for the user: the trading
state and why it is not trading, the open positions, the balances and the last events. A bot that
does not answer is reported as such, never guessed about.

`attention` is the one rule for "an operator must look": a bot that should run but does not, or does
not answer, a halt (which only an operator lifts, after a review: `basis tenants resume`), or the kill
switch. A pause is the user's own choice and is shown, not flagged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestrator.database.models import Tenant
from orchestrator.proxy import Upstream

# Each read of a bot: a bot that takes longer is busy or stuck, and the operator is told so.
READ_TIMEOUT_S = 3.0
# How many of the bot's last events `tenants show` prints.
LAST_EVENTS = 10
# Positions that hold something on the venues, or may, as the bot's API names their statuses.
LIVE_STATUSES = ("opening", "open", "closing")
# What is kept of a bot's positions when it is stopped, for its user's read-only view: the live ones,
# at most this many, each cut to the few fields shown (`position_summary`). What a bot answers is its
# own claim, kept as bounded text and shown to its own user only.
SNAPSHOT_POSITIONS = 20
SNAPSHOT_FIELD_CHARS = 64


class BotUnreachable(Exception):
    """The bot did not answer, or answered with an error: the sentence says which."""


@dataclass(frozen=True)
class BotReport:
    """One read of a bot; `error` is set (and the rest empty) when it could not be read."""

    status: dict[str, Any] | None = None
    positions: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def live_positions(self) -> list[dict[str, Any]]:
        """Positions that hold something on the venues, or may (the bot API's statuses)."""
        return [p for p in self.positions if p.get("status") in LIVE_STATUSES]


def trading_label(status: dict[str, Any] | None) -> str:
    """`active`, `paused`, `reducing` or `halted` (what the bot says), `-` when it was not read."""
    if status is None:
        return "-"
    state = str(status.get("trading_state") or "-")
    if state == "active" and (status.get("paused") or status.get("kill_switch")):
        return "paused"
    return state


def attention(tenant: Tenant, report: BotReport | None) -> str | None:
    """Why an operator must look at this tenant, in a sentence; None when nothing needs them."""
    if tenant.desired_state != "running":
        return None
    if tenant.status == "failed":
        return f"its bot does not start: {tenant.last_error or 'no reason recorded'}"
    if tenant.status != "running":
        return f"its bot should run and is {tenant.status}"
    if report is None:
        return None
    if report.error is not None:
        return report.error
    status = report.status or {}
    if status.get("trading_state") == "halted":
        why = status.get("halt_reason") or "no reason recorded"
        return f"halted: {why} (basis tenants resume after a review)"
    if status.get("kill_switch"):
        return "the kill switch is engaged (its KILL file in the bot's data): no new positions"
    return None


async def _get(client: httpx.AsyncClient, upstream: Upstream, path: str) -> Any:
    try:
        r = await client.get(upstream.base_url + path, headers=_auth(upstream))
    except httpx.HTTPError as exc:
        raise BotUnreachable(f"its bot does not answer ({type(exc).__name__})") from None
    if r.status_code != 200:
        raise BotUnreachable(f"its bot answered {path} with HTTP {r.status_code}")
    try:
        return r.json()
    except ValueError:
        raise BotUnreachable(f"its bot answered {path} with something that is not JSON") from None


def _auth(upstream: Upstream) -> dict[str, str]:
    return {"X-Basis-Token": upstream.token.get_secret_value()}


async def read_status(upstream: Upstream) -> BotReport:
    """The trading state only (for `tenants list` and `doctor`: one request per bot)."""
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_S) as client:
        try:
            return BotReport(status=await _get(client, upstream, "/api/v1/status"))
        except BotUnreachable as exc:
            return BotReport(error=str(exc))


async def read_report(upstream: Upstream) -> BotReport:
    """Everything `tenants show` prints, read at once."""
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_S) as client:
        try:
            status, positions, balances, events = await asyncio.gather(
                _get(client, upstream, "/api/v1/status"),
                _get(client, upstream, "/api/v1/positions"),
                _get(client, upstream, "/api/v1/balances"),
                _get(client, upstream, f"/api/v1/events?last={LAST_EVENTS}"),
            )
        except BotUnreachable as exc:
            return BotReport(error=str(exc))
    return BotReport(
        status=status,
        positions=list(positions.get("positions") or []),
        balances=balances,
        events=list(events.get("events") or []),
    )


def position_summary(position: dict[str, Any]) -> dict[str, str | None]:
    """The fields of one position (as the bot's `GET /api/v1/positions` gives it) that its user's
    read-only view shows, each as text of at most `SNAPSHOT_FIELD_CHARS` characters."""

    def text(value: Any) -> str | None:
        return None if value is None or isinstance(value, dict | list) else str(value)[:SNAPSHOT_FIELD_CHARS]

    def part(name: str, key: str) -> str | None:
        found = position.get(name)
        return text(found.get(key)) if isinstance(found, dict) else None

    return {
        "id": text(position.get("id")),
        "status": text(position.get("status")),
        "asset": text(position.get("asset")),
        "protocol": text(position.get("protocol")),
        "leverage": text(position.get("leverage")),
        "long_size": part("long", "token_size"),
        "short_size": part("short", "size"),
        "pnl_total": part("pnl", "total"),
        "opened_at": text(position.get("opened_at")),
    }


async def read_positions(upstream: Upstream) -> list[dict[str, str | None]] | None:
    """The bot's live positions, summarised (`position_summary`); None when it cannot say."""
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_S) as client:
        try:
            answer = await _get(client, upstream, "/api/v1/positions")
        except BotUnreachable:
            return None
    listed = answer.get("positions") if isinstance(answer, dict) else None
    if not isinstance(listed, list):
        return None
    live = [p for p in listed if isinstance(p, dict) and p.get("status") in LIVE_STATUSES]
    return [position_summary(p) for p in live[:SNAPSHOT_POSITIONS]]


async def resume(upstream: Upstream) -> dict[str, Any]:
    """Ask the bot to lift its pauses and clear its halt; its status after. (The bot records it as
    resumed from the dashboard: its API has one caller, the control plane, for user and operator.)"""
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_S) as client:
        try:
            r = await client.post(upstream.base_url + "/api/v1/control/resume", headers=_auth(upstream))
        except httpx.HTTPError as exc:
            raise BotUnreachable(f"its bot does not answer ({type(exc).__name__})") from None
    if r.status_code != 200:
        raise BotUnreachable(f"its bot refused the resume with HTTP {r.status_code}")
    return dict(r.json())
