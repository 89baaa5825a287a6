"""The portal: the page at `/` (sign-in, deposit, the user's dashboard) and the small API it needs.

    GET  /                                 the portal page (orchestrator/web/index.html)
    GET  /static/{path}                    its scripts and styles
    GET  /api/v1/portal/me                 the signed-in user: email, both addresses, their bot's progress
    GET  /api/v1/portal/balance            whether the user's bot sees any funds: empty | funded | unknown
    GET  /api/v1/portal/qr/{chain}.svg     a QR code of the user's Solana or EVM address, made here
    POST /api/v1/portal/bot/start          start the user's bot again after a failure (CSRF; not
                                           one an operator stopped)

The dashboard itself is the user's bot page, proxied at `/app/`; the portal shows it in an iframe
under its own header, so the bot page's relative URLs resolve below `/app/` and the session cookie
(same origin) goes with every request the bot page makes.
"""

from __future__ import annotations

import asyncio
import io
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response

from orchestrator.database.models import Tenant
from orchestrator.tenants import TenantError, TenantService, as_utc
from orchestrator.users import Users
from shared.logging import get_logger

log = get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
# The page and its assets change with each release and hold nothing personal: revalidate each load.
NO_CACHE = {"Cache-Control": "no-cache"}
# What is personal (addresses, QR codes, balances) must not outlive a sign-out in a shared browser.
PRIVATE = {"Cache-Control": "no-store"}
# The balance check is one call to the user's own bot; a slow venue must not hold the sign-in.
BALANCE_TIMEOUT_S = 8.0

Chain = Literal["solana", "evm"]


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


def make_portal_router(app: FastAPI) -> APIRouter:
    """The portal's API, on the services the app keeps in `app.state` (tenants, users, sessions)."""
    from orchestrator.auth.router import current_user

    service: TenantService = app.state.tenants
    users: Users = app.state.users
    background: set[asyncio.Task[Any]] = set()
    router = APIRouter(prefix="/api/v1/portal", tags=["portal"])

    def own_tenant(user_id: str) -> Tenant:
        tenant = service.of_user(user_id)
        if tenant is None:
            raise HTTPException(404, "You have no bot yet; sign in again to set one up.")
        return tenant

    @router.get("/me", summary="The signed-in user: email, addresses, and their bot's start progress")
    async def me(user_id: str = Depends(current_user)) -> Response:
        user = users.get(user_id)
        if user is None:
            raise HTTPException(401, "Sign in first.")
        tenant = service.of_user(user_id)
        body = {
            "user_id": user.id,
            "email": user.email,
            "solana_address": user.solana_address,
            "evm_address": user.evm_address,
            "tenant": tenant_progress(tenant) if tenant is not None else None,
        }
        return _json(body)

    @router.get("/balance", summary="Whether the user's bot sees funds in their wallets")
    async def balance(user_id: str = Depends(current_user)) -> Response:
        tenant = own_tenant(user_id)
        upstream = service.upstream(tenant.id)
        if upstream is None:
            return _json({"state": "unknown", "detail": "Your bot is not running yet."})
        try:
            async with httpx.AsyncClient(timeout=BALANCE_TIMEOUT_S) as client:
                r = await client.get(
                    f"{upstream.base_url}/api/v1/balances",
                    headers={"X-Basis-Token": upstream.token.get_secret_value()},
                )
            r.raise_for_status()
            state, detail = balance_state(r.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.info("balance check failed", tenant_id=tenant.id, error=type(exc).__name__)
            state, detail = "unknown", "Your bot did not answer the balance check."
        return _json({"state": state, "detail": detail})

    @router.get(
        "/qr/{chain}.svg",
        summary="A QR code of the user's address on one chain (solana or evm)",
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def qr(chain: Chain, user_id: str = Depends(current_user)) -> Response:
        user = users.get(user_id)
        if user is None:
            raise HTTPException(401, "Sign in first.")
        address = user.solana_address if chain == "solana" else user.evm_address
        if not address:
            raise HTTPException(404, "Your wallet is still being created; try again in a moment.")
        return Response(qr_svg(address), media_type="image/svg+xml", headers=PRIVATE)

    @router.post("/bot/start", status_code=202, summary="Start the user's bot again (after a failure)")
    async def start(user_id: str = Depends(current_user)) -> Response:
        tenant = own_tenant(user_id)
        if tenant.status in ("running", "starting"):
            return _json(tenant_progress(tenant), status=202)
        if tenant.desired_state == "stopped":
            # An operator's stop (`basis tenants stop`) is not the user's to undo from the portal.
            raise HTTPException(409, "Your bot was stopped by an operator; it cannot be started from here.")
        try:
            await service.start(tenant.id, wait=False)
        except TenantError as exc:
            raise HTTPException(409, str(exc)) from None
        # Waiting for /health happens in the background; the page polls /me for the outcome.
        task = asyncio.get_running_loop().create_task(service.wait_until_settled(tenant.id))
        background.add(task)
        task.add_done_callback(background.discard)
        log.info("bot start requested from the portal", tenant_id=tenant.id)
        return _json(tenant_progress(service.get(tenant.id)), status=202)

    return router


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=PRIVATE)


def install_portal(app: FastAPI) -> None:
    """Mount the page at `/`, its assets at `/static/`, and the portal API."""
    app.include_router(make_portal_router(app))
    static_root = (WEB_DIR / "static").resolve()

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        index = WEB_DIR / "index.html"
        if not index.is_file():
            raise HTTPException(404, "The portal page is not installed in this build (orchestrator/web).")
        return FileResponse(index, media_type="text/html", headers={**NO_CACHE, **SECURITY_HEADERS})

    @app.get("/static/{path:path}", include_in_schema=False)
    async def asset(path: str) -> FileResponse:
        try:
            target = (static_root / path).resolve()
        except (OSError, ValueError):
            raise HTTPException(404, f"No asset {path!r}.") from None
        if not target.is_relative_to(static_root) or not target.is_file():
            raise HTTPException(404, f"No asset {path!r}.")
        return FileResponse(target, headers=NO_CACHE)


# The portal loads nothing from elsewhere; the dashboard iframe is our own origin (`/app/`).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
