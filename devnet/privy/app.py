"""The HTTP front of the Privy emulator: both of Privy's hosts on one port.

Their paths do not collide, so one ASGI app serves
- the auth API of https://auth.privy.io under `/api/v1/...` (header `privy-app-id`), and
- the REST API of https://api.privy.io under `/v1/...` (Basic app id:app secret + `privy-app-id`).
A client points both base URLs at the devnet; nothing else changes. Every refusal is
`{"error", "code"}` with a 4xx status (429 with Retry-After); 500 only for a bug.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from devnet.privy.authorization import EXPIRY_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER
from devnet.privy.errors import PrivyError, invalid_data
from devnet.privy.origins import cors_middleware
from devnet.privy.service import PrivyService, SignedRequest
from shared.logging import get_logger

log = get_logger("devnet.privy")

MAX_BODY = 256 * 1024


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PrivyError(413, "Request body too large", "invalid_data")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_no_constant)
        # Lone surrogates parse but cannot be signed over or echoed back as UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeError, NaN, huge ints
        raise invalid_data("the request body is not valid JSON") from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _signed(request: Request) -> SignedRequest:
    headers = request.headers
    return SignedRequest(
        method=request.method,
        url=str(request.url),
        body=await _json(request),
        signature=headers.get(SIGNATURE_HEADER),
        idempotency_key=headers.get(IDEMPOTENCY_HEADER),
        expiry=headers.get(EXPIRY_HEADER),
    )


def _service(request: Request) -> PrivyService:
    return request.app.state.svc  # type: ignore[no-any-return]


Svc = Annotated[PrivyService, Depends(_service)]


def create_app(svc: PrivyService) -> FastAPI:
    """Both of Privy's APIs over `svc`."""
    app = FastAPI(
        title="Privy (Basis devnet)",
        version="1",
        description="Privy's auth API (/api/v1) and REST API (/v1), emulated on loopback.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.svc = svc
    app.add_exception_handler(PrivyError, _privy)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _bug)
    # The client API answers only the app's allowed origins, preflight included (origins.py).
    app.middleware("http")(cors_middleware(svc.origins))
    for router in (auth, auth_checked, public, rest):
        app.include_router(router)
    return app


# ---------------------------------------------------------------------- errors, as Privy answers them
async def _privy(_request: Request, exc: PrivyError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return _error(exc.status, exc.message, exc.code, headers)


async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"]) or "request"
    return _error(400, f"{where}: {first['msg']}", "invalid_data")


async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return _error(404, "Not found", "not_found")
    if exc.status_code == 405:
        return _error(405, "Method not allowed", "invalid_request")
    return _error(exc.status_code, str(exc.detail), "invalid_request")


async def _bug(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("privy emulator error")
    return _error(500, f"Internal error ({type(exc).__name__})", "internal_error")


# ------------------------------------------------------------------ auth API (auth.privy.io)
# One thin route per endpoint of Privy's two APIs, each one call to the service: alike by design (the
# list is the APIs' surface; the work, and what differs, is in PrivyService).
async def app_header(svc: Svc, request: Request) -> None:
    svc.check_app_header(request.headers.get("privy-app-id"))


auth = APIRouter(prefix="/api/v1")
auth_checked = APIRouter(prefix="/api/v1", dependencies=[Depends(app_header)])


@auth.get("/apps/{app_id}/jwks.json")
async def auth_jwks(svc: Svc, app_id: str) -> dict[str, Any]:
    return svc.jwks(app_id)


@auth_checked.get("/apps/{app_id}")
async def app_config(svc: Svc, app_id: str) -> dict[str, Any]:
    # The SDK reads the app's public settings first (login methods, wallet creation on login).
    return svc.app_settings(app_id)


@auth_checked.post("/analytics_events")
async def analytics_events(request: Request) -> dict[str, Any]:
    # The SDK reports its start-up here; the devnet keeps nothing of it.
    await _json(request)
    return {}


@auth_checked.post("/passwordless/init")
async def passwordless_init(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.passwordless_init(await _json(request))


@auth_checked.post("/passwordless/authenticate")
async def passwordless_authenticate(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.passwordless_authenticate(await _json(request))


@auth_checked.post("/sessions")
async def refresh_session(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.refresh_session(await _json(request), request.headers.get("authorization"))


@auth_checked.post("/sessions/logout")
async def logout(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.logout(await _json(request), request.headers.get("authorization"))


@auth_checked.get("/users/me")
async def users_me(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.me(request.headers.get("authorization"))


# ------------------------------------------------------------------ REST API (api.privy.io)
async def app_credentials(svc: Svc, request: Request) -> None:
    svc.check_app_credentials(request.headers.get("authorization"), request.headers.get("privy-app-id"))


public = APIRouter(prefix="/v1")
rest = APIRouter(prefix="/v1", dependencies=[Depends(app_credentials)])


@public.get("/apps/{app_id}/jwks.json")
async def jwks(svc: Svc, app_id: str) -> dict[str, Any]:
    return svc.jwks(app_id)


@rest.get("/apps/{app_id}")
async def app_settings(svc: Svc, app_id: str) -> dict[str, Any]:
    return svc.app_settings(app_id)


@rest.post("/users")
async def create_user(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.create_user(await _json(request))


@rest.get("/users")
async def list_users(svc: Svc, cursor: str | None = None, limit: int | None = Query(None)) -> dict[str, Any]:
    return svc.list_users(cursor, limit)


@rest.post("/users/email/address")
async def user_by_email(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.user_by_email(await _json(request))


@rest.get("/users/{user_id}")
async def get_user(svc: Svc, user_id: str) -> dict[str, Any]:
    return svc.get_user(user_id)


@rest.delete("/users/{user_id}", status_code=204)
async def delete_user(svc: Svc, user_id: str) -> Response:
    svc.delete_user(user_id)
    return Response(status_code=204)


@rest.post("/users/{user_id}/wallets")
async def pregenerate_wallets(svc: Svc, user_id: str, request: Request) -> dict[str, Any]:
    return svc.pregenerate_wallets(user_id, await _json(request))


@rest.post("/wallets")
async def create_wallet(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.create_wallet(await _json(request), request.headers.get(IDEMPOTENCY_HEADER))


@rest.get("/wallets")
async def list_wallets(
    svc: Svc,
    cursor: str | None = None,
    limit: int | None = Query(None),
    chain_type: str | None = None,
    user_id: str | None = None,
    address: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    filters = {
        "chain_type": chain_type,
        "user_id": user_id,
        "address": address,
        "external_id": external_id,
    }
    return svc.list_wallets(filters, cursor, limit)


@rest.get("/wallets/{wallet_id}")
async def get_wallet(svc: Svc, wallet_id: str) -> dict[str, Any]:
    return svc.get_wallet(wallet_id)


@rest.patch("/wallets/{wallet_id}")
async def update_wallet(svc: Svc, wallet_id: str, request: Request) -> dict[str, Any]:
    return svc.update_wallet(wallet_id, await _signed(request))


@rest.post("/wallets/{wallet_id}/rpc")
async def wallet_rpc(svc: Svc, wallet_id: str, request: Request) -> dict[str, Any]:
    return svc.wallet_rpc(wallet_id, await _signed(request))


@rest.post("/key_quorums")
async def create_key_quorum(svc: Svc, request: Request) -> dict[str, Any]:
    return svc.create_key_quorum(await _json(request))


@rest.get("/key_quorums/{key_quorum_id}")
async def get_key_quorum(svc: Svc, key_quorum_id: str) -> dict[str, Any]:
    return svc.get_key_quorum(key_quorum_id)
