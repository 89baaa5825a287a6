"""What the portal shows (its routes are orchestrator/routes/portal.py): a bot's start progress,
whether the user's bot sees funds, and QR codes of the user's addresses, made here.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from orchestrator.database.models import Tenant
from orchestrator.proxy import Upstream
from orchestrator.tenants import as_utc
from shared.logging import get_logger

log = get_logger(__name__)

# The balance check is one call to the user's own bot; a slow venue must not hold the sign-in.
BALANCE_TIMEOUT_S = 8.0


def tenant_progress(tenant: Tenant, now: float | None = None) -> dict[str, Any]:
    """What the portal shows while a bot starts: status, seconds since the start began, last error."""
    now = time.time() if now is None else now
    since = as_utc(tenant.started_at) if tenant.status == "starting" else None
    if tenant.status == "provisioned":
        since = as_utc(tenant.created_at)
    retry_at = as_utc(tenant.next_attempt_at)
    return {
        "id": tenant.id,
        "status": tenant.status,
        "desired_state": tenant.desired_state,
        "last_error": tenant.last_error,
        "elapsed_s": round(max(0.0, now - since.timestamp()), 1) if since is not None else None,
        "failures": tenant.failures,
        "retry_in_s": (
            round(max(0.0, retry_at.timestamp() - now), 1)
            if retry_at is not None and tenant.status == "failed" and tenant.desired_state == "running"
            else None
        ),
    }


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def balance_state(balances: dict[str, Any]) -> tuple[str, str | None]:
    """`funded` if any amount the bot reports is above zero; `empty` if every part read zero.

    A part the bot could not read (it carries `error`) makes an otherwise empty answer `unknown`:
    a venue outage must not send a funded user to the deposit dialog.
    """
    unreadable: list[str] = []
    for part in ("solana", "arbitrum", "hyperliquid"):
        section = balances.get(part)
        if not isinstance(section, dict):
            unreadable.append(part)
            continue
        if "error" in section:
            unreadable.append(part)
            continue
        for key, value in section.items():
            if key in ("address", "margin_used", "withdrawable"):
                continue
            amount = _decimal(value)
            if amount is not None and amount > 0:
                return "funded", None
    if unreadable:
        return "unknown", f"Your bot cannot read {', '.join(unreadable)} just now."
    return "empty", None


def qr_svg(data: str) -> bytes:
    """A QR code as SVG, made locally with segno: dark on white with the standard 4-module quiet zone."""
    import segno  # only the portal's QR route needs it

    out = io.BytesIO()
    # Error correction M: a screen shot or a phone camera at an angle still reads it.
    segno.make_qr(data, error="m").save(
        out,
        kind="svg",
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgclass="qr",
        omitsize=True,
    )
    return out.getvalue()


async def bot_balance(upstream: Upstream, tenant_id: str) -> tuple[str, str | None]:
    """`balance_state` of what the user's running bot reports (`unknown` when it does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=BALANCE_TIMEOUT_S) as client:
            r = await client.get(
                f"{upstream.base_url}/api/v1/balances",
                headers={"X-Basis-Token": upstream.token.get_secret_value()},
            )
        r.raise_for_status()
        return balance_state(r.json())
    except (httpx.HTTPError, ValueError) as exc:
        log.info("balance check failed", tenant_id=tenant_id, error=type(exc).__name__)
        return "unknown", "Your bot did not answer the balance check."
