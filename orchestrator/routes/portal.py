"""The portal: the page at `/` (sign-in, deposit, the user's dashboard) and the small API it needs.

    GET  /                                 the portal page (orchestrator/web/index.html)
    GET  /static/{path}                    its scripts and styles
    GET  /api/v1/portal/me                 the signed-in user: email, both addresses, their bot's progress
    GET  /api/v1/portal/balance            whether the user's bot sees any funds: empty | funded | unknown
    GET  /api/v1/portal/qr/{chain}.svg     a QR code of the user's Solana or EVM address, made here
    POST /api/v1/portal/bot/start          start the user's bot again after a failure (CSRF; not
                                           one an operator stopped)
    POST /api/v1/portal/test-funds         on the devnet: test money to the user's own wallets (CSRF)
    GET  /api/v1/tenant                    the signed-in user's bot: desired state, status, last error
    GET  /app                              → /app/, the user's dashboard

The dashboard itself is the user's bot page, proxied at `/app/` (`orchestrator/proxy.py`); the portal
shows it in an iframe under its own header, so the bot page's relative URLs resolve below `/app/` and
the session cookie (same origin) goes with every request the bot page makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from orchestrator.auth.router import CurrentUser, SignInDep
from orchestrator.context import FaucetDep, TenantsDep, UsersDep
from orchestrator.database.models import Tenant, User
from orchestrator.devnet_faucet import TestFundsRefused, deposit_minimums
from orchestrator.portal import bot_balance, qr_svg, tenant_progress
from orchestrator.tenants import TenantService, tenant_view
from orchestrator.users import Users
from shared.logging import get_logger
from shared.web_files import file_below

log = get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
STATIC_ROOT = (WEB_DIR / "static").resolve()
# Where the signed-in user's own bot is served: its page asks for `api/v1/...` and `static/...`
# relative to it, which the browser turns into `/app/api/v1/...`, forwarded as `/api/v1/...`.
BOT_PREFIX = "/app"
# The page and its assets change with each release and hold nothing personal: revalidate each load.
NO_CACHE = {"Cache-Control": "no-cache"}
# What is personal (addresses, QR codes, balances) must not outlive a sign-out in a shared browser.
PRIVATE = {"Cache-Control": "no-store"}
# The portal loads nothing from elsewhere (Privy's SDK is bundled and served from here); the
# dashboard iframe is our own origin (`/app/`). Its scripts talk to this origin and to Privy's auth
# API only (`connect-src`, added per app: see `security_headers`).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def security_headers(privy_auth_url: str) -> dict[str, str]:
    """The page's headers: SECURITY_HEADERS with Privy's auth API allowed as a `connect-src`."""
    parts = urlsplit(privy_auth_url)
    privy_origin = f"{parts.scheme}://{parts.netloc}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": f"{CSP}; connect-src 'self' {privy_origin}"}


Chain = Literal["solana", "evm"]

page = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api/v1/portal", tags=["portal"])
tenant = APIRouter(prefix="/api/v1")


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=PRIVATE)


def _user(users: Users, user_id: str) -> User:
    user = users.get(user_id)
    if user is None:
        raise HTTPException(401, "Sign in first.")
    return user


def _own_tenant(tenants: TenantService, user_id: str) -> Tenant:
    found = tenants.of_user(user_id)
    if found is None:
        raise HTTPException(404, "You have no bot yet; sign in again to set one up.")
    return found


# ---------------------------------------------------------------------- the page
@page.get("/")
async def index(sign_in: SignInDep) -> FileResponse:
    index = WEB_DIR / "index.html"
    if not index.is_file():
        raise HTTPException(404, "The portal page is not installed in this build (orchestrator/web).")
    headers = {**NO_CACHE, **security_headers(sign_in.privy.auth_url)}
    return FileResponse(index, media_type="text/html", headers=headers)


@page.get("/static/{path:path}")
async def asset(path: str) -> FileResponse:
    target = file_below(STATIC_ROOT, path)
    if target is None:
        raise HTTPException(404, f"No asset {path!r}.")
    return FileResponse(target, headers=NO_CACHE)


@page.get(BOT_PREFIX)
async def bot_root(request: Request) -> RedirectResponse:
    # A relative redirect, never one built from the request's Host.
    query = request.url.query
    return RedirectResponse(BOT_PREFIX + "/" + (f"?{query}" if query else ""), status_code=307)


# ---------------------------------------------------------------------- the portal's API
@router.get("/me", summary="The signed-in user: email, addresses, and their bot's start progress")
async def me(user_id: CurrentUser, users: UsersDep, tenants: TenantsDep, faucet: FaucetDep) -> Response:
    user = _user(users, user_id)
    found = tenants.of_user(user_id)
    body = {
        "user_id": user.id,
        "email": user.email,
        "solana_address": user.solana_address,
        "evm_address": user.evm_address,
        "tenant": tenant_progress(found) if found is not None else None,
        "deposit_minimums": deposit_minimums(),
        # Whether "Get test funds" is offered: the devnet only.
        "test_funds": faucet is not None,
    }
    return _json(body)


@router.get("/balance", summary="Whether the user's bot sees funds in their wallets")
async def balance(user_id: CurrentUser, tenants: TenantsDep) -> Response:
    own = _own_tenant(tenants, user_id)
    upstream = tenants.upstream(own.id)
    if upstream is None:
        return _json({"state": "unknown", "detail": "Your bot is not running yet."})
    state, detail = await bot_balance(upstream, own.id)
    return _json({"state": state, "detail": detail})


@router.get(
    "/qr/{chain}.svg",
    summary="A QR code of the user's address on one chain (solana or evm)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def qr(chain: Chain, user_id: CurrentUser, users: UsersDep) -> Response:
    user = _user(users, user_id)
    address = user.solana_address if chain == "solana" else user.evm_address
    if not address:
        raise HTTPException(404, "Your wallet is still being created; try again in a moment.")
    return Response(qr_svg(address), media_type="image/svg+xml", headers=PRIVATE)


@router.post("/bot/start", status_code=202, summary="Start the user's bot again (after a failure)")
async def start(user_id: CurrentUser, tenants: TenantsDep) -> Response:
    own = _own_tenant(tenants, user_id)
    if own.status in ("running", "starting"):
        return _json(tenant_progress(own), status=202)
    if own.desired_state == "stopped":
        # An operator's stop (`basis tenants stop`) is not the user's to undo from the portal.
        raise HTTPException(409, "Your bot was stopped by an operator; it cannot be started from here.")
    await tenants.start(own.id, wait=False)  # a refusal is a TenantError: 409 (orchestrator/errors.py)
    # Waiting for /health happens in the background; the page polls /me for the outcome.
    tenants.settle_in_background(own.id)
    log.info("bot start requested from the portal", tenant_id=own.id)
    return _json(tenant_progress(tenants.get(own.id)), status=202)


@router.post("/test-funds", summary="On the devnet: test USDC, SOL and ETH to the user's own wallets")
async def send_test_funds(user_id: CurrentUser, users: UsersDep, faucet: FaucetDep) -> Response:
    if faucet is None:
        raise HTTPException(404, "Test funds exist on the devnet only; deposit real funds to your addresses.")
    user = _user(users, user_id)
    try:
        sent = await faucet.send(user.id, user.solana_address, user.evm_address)
    except TestFundsRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    log.info("test funds sent", user_id=user.id)
    return _json({"sent": sent})


# ---------------------------------------------------------------------- the user's bot
@tenant.get("/tenant", summary="The signed-in user's bot: desired state, status, last error")
async def my_tenant(user_id: CurrentUser, tenants: TenantsDep) -> dict[str, Any]:
    found = tenants.of_user(user_id)
    if found is None:
        raise HTTPException(404, "You have no bot yet.")
    view = tenant_view(found)
    view.pop("pid", None)
    view.pop("port", None)
    return view
