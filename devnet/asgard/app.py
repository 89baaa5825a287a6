"""The HTTP front of the Asgard emulator: Asgard's public margin-trading API under /margin-trading.

Errors always come in Asgard's body `{"error": {"name", "code", "message", "details"}}`: 422 for a
broken rule or an invalid body, 404 for an unknown path, 429 for the public rate limit, 503 when
Solana is down, 500 only for a bug.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from devnet.asgard.bodies import (
    CloseRequest,
    DeleverageRequest,
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


def _venue(request: Request) -> AsgardVenue:
    return request.app.state.venue  # type: ignore[no-any-return]


Venue = Annotated[AsgardVenue, Depends(_venue)]
router = APIRouter(prefix=PREFIX)


def create_app(venue: AsgardVenue) -> Any:
    """The API over `venue`, behind Asgard's public rate limit."""
    app = FastAPI(
        title="Asgard margin trading (Basis devnet)",
        version="1",
        description="Asgard Finance's public margin-trading API, emulated on loopback.",
        docs_url=f"{PREFIX}/docs",
        openapi_url=f"{PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.venue = venue
    app.add_exception_handler(AsgardError, _asgard)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _bug)
    app.include_router(router)
    return PublicRateLimit(app)


# ---------------------------------------------------------------------- errors, in Asgard's body
async def _asgard(_request: Request, exc: AsgardError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]} for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": "body", "message": "invalid"}
    return _error(
        422, "ValidationError", "INVALID_REQUEST", f"{first['field']}: {first['message']}", problems
    )


async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return _error(exc.status_code, "HttpError", code, str(exc.detail))


async def _bug(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("asgard emulator error")
    return _error(500, "InternalServerError", "INTERNAL", f"internal error: {type(exc).__name__}")


# ---------------------------------------------------------------------- the routes
# One thin route per endpoint of Asgard's API, each one call to the venue: alike by design (the list is
# the API's surface; the work, and what differs, is in AsgardVenue).
@router.get("/markets")
async def markets(venue: Venue) -> dict[str, Any]:
    return venue.markets()


@router.get("/token-metadata")
async def token_metadata(venue: Venue) -> dict[str, Any]:
    return venue.tokens()


@router.get("/token-metadata/{mint}")
async def token_by_mint(mint: str, venue: Venue) -> dict[str, Any]:
    return venue.token(mint)


@router.post("/create-position-simulate")
async def create_simulate(body: TradeRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_open(body, simulate=True)


@router.post("/create-position")
async def create(body: TradeRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_open(body)


@router.post("/submit-create-position-tx")
async def submit_create(request: Request, venue: Venue) -> dict[str, Any]:
    return venue.submit_open(await _object(request))


@router.post("/close-position-simulate")
async def close_simulate(body: CloseRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_close(body, simulate=True)


@router.post("/close-position")
async def close(body: CloseRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_close(body)


@router.post("/submit-close-position-tx")
async def submit_close(request: Request, venue: Venue) -> dict[str, Any]:
    return venue.submit_close(await _object(request))


@router.post("/position/partial-close")
async def partial_close(body: PartialCloseRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_partial_close(body)


@router.post("/position/deleverage")
async def deleverage(body: DeleverageRequest, venue: Venue) -> dict[str, Any]:
    return venue.build_deleverage(body)


@router.post("/submit-position-update-tx")
async def submit_update(body: UpdateSubmitRequest, venue: Venue) -> dict[str, Any]:
    return venue.submit_update(body.model_dump(mode="json", exclude_none=True))


@router.post("/positions")
async def positions(body: WalletRequest, venue: Venue) -> list[dict[str, Any]]:
    return venue.wallet_positions(body.walletPubkey, "all")


@router.post("/positions/open")
async def positions_open(body: WalletRequest, venue: Venue) -> list[dict[str, Any]]:
    return venue.wallet_positions(body.walletPubkey, "open")


@router.post("/positions/closed")
async def positions_closed(body: WalletRequest, venue: Venue) -> list[dict[str, Any]]:
    return venue.wallet_positions(body.walletPubkey, "closed")


@router.post("/positions/by-pda")
async def position_by_pda(venue: Venue, pda: str = Query(min_length=1)) -> dict[str, Any]:
    return venue.position_by_pda(pda)


@router.post("/refresh-positions")
async def refresh(body: RefreshRequest, venue: Venue) -> dict[str, Any]:
    return venue.refresh(body)


@router.api_route("/all-liquidation-events", methods=["GET", "POST"])
async def liquidation_events(venue: Venue) -> list[dict[str, Any]]:
    return venue.all_liquidation_events()
