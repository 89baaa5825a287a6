"""The HTTP front of the Asgard emulator: Asgard's public margin-trading API under /margin-trading.

Errors always come in Asgard's body `{"error": {"name", "code", "message", "details"}}`: 422 for a
broken rule or an invalid body, 404 for an unknown path, 429 for the public rate limit, 503 when
Solana is down, 500 only for a bug.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from devnet.asgard.bodies import (
    CloseRequest,
    PartialCloseRequest,
    RefreshRequest,
    TradeRequest,
    UpdateSubmitRequest,
    WalletRequest,
)
from devnet.asgard.errors import AsgardError, error_body, invalid
from devnet.asgard.rate_limit import PublicRateLimit
from devnet.asgard.venue import AsgardVenue
from shared.logging import get_logger

log = get_logger("devnet.asgard")

PREFIX = "/margin-trading"


def _error(status: int, name: str, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": error_body(name, code, message, details)}, status_code=status)


async def _object(request: Request) -> dict[str, Any]:
    """A submit body: the build's answer echoed back, any JSON object."""
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object: the build's answer with signedTxs signed")
    return body


def create_app(venue: AsgardVenue) -> Any:
    app = FastAPI(
        title="Asgard margin trading (Basis devnet)",
        version="1",
        description="Asgard Finance's public margin-trading API, emulated on loopback.",
        docs_url=f"{PREFIX}/docs",
        openapi_url=f"{PREFIX}/openapi.json",
        redoc_url=None,
    )

    @app.exception_handler(AsgardError)
    async def _asgard(_request: Request, exc: AsgardError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return _error(
            422, "ValidationError", "INVALID_REQUEST", f"{first['field']}: {first['message']}", problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return _error(exc.status_code, "HttpError", code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("asgard emulator error")
        return _error(500, "InternalServerError", "INTERNAL", f"internal error: {type(exc).__name__}")

    api = APIRouter(prefix=PREFIX)

    @api.get("/markets")
    async def markets() -> dict[str, Any]:
        return venue.markets()

    @api.get("/token-metadata")
    async def token_metadata() -> dict[str, Any]:
        return venue.tokens()

    @api.get("/token-metadata/{mint}")
    async def token_by_mint(mint: str) -> dict[str, Any]:
        return venue.token(mint)

    @api.post("/create-position-simulate")
    async def create_simulate(body: TradeRequest) -> dict[str, Any]:
        return venue.build_open(body, simulate=True)

    @api.post("/create-position")
    async def create(body: TradeRequest) -> dict[str, Any]:
        return venue.build_open(body)

    @api.post("/submit-create-position-tx")
    async def submit_create(request: Request) -> dict[str, Any]:
        return venue.submit_open(await _object(request))

    @api.post("/close-position-simulate")
    async def close_simulate(body: CloseRequest) -> dict[str, Any]:
        return venue.build_close(body, simulate=True)

    @api.post("/close-position")
    async def close(body: CloseRequest) -> dict[str, Any]:
        return venue.build_close(body)

    @api.post("/submit-close-position-tx")
    async def submit_close(request: Request) -> dict[str, Any]:
        return venue.submit_close(await _object(request))

    @api.post("/position/partial-close")
    async def partial_close(body: PartialCloseRequest) -> dict[str, Any]:
        return venue.build_partial_close(body)

    @api.post("/submit-position-update-tx")
    async def submit_update(body: UpdateSubmitRequest) -> dict[str, Any]:
        return venue.submit_update(body.model_dump(mode="json", exclude_none=True))

    @api.post("/positions")
    async def positions(body: WalletRequest) -> list[dict[str, Any]]:
        return venue.wallet_positions(body.walletPubkey, "all")

    @api.post("/positions/open")
    async def positions_open(body: WalletRequest) -> list[dict[str, Any]]:
        return venue.wallet_positions(body.walletPubkey, "open")

    @api.post("/positions/closed")
    async def positions_closed(body: WalletRequest) -> list[dict[str, Any]]:
        return venue.wallet_positions(body.walletPubkey, "closed")

    @api.post("/positions/by-pda")
    async def position_by_pda(pda: str = Query(min_length=1)) -> dict[str, Any]:
        return venue.position_by_pda(pda)

    @api.post("/refresh-positions")
    async def refresh(body: RefreshRequest) -> dict[str, Any]:
        return venue.refresh(body)

    @api.api_route("/all-liquidation-events", methods=["GET", "POST"])
    async def liquidation_events() -> list[dict[str, Any]]:
        return venue.all_liquidation_events()

    app.include_router(api)
    return PublicRateLimit(app)
