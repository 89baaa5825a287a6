"""The app factory: routes, the token, error handling and request metrics around one running bot.

Errors are sentences, mapped by type: the bot's refusal is 409, a missing thing 404, a bad request
400 (FastAPI's own 422 for a body or query that does not validate, one entry per field), a venue,
chain or database that cannot be reached 503. The page (`tenant_bot/web/`) and its assets are
served under the same prefix as the API, behind the same token.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenant_bot.api.auth import require_token
from tenant_bot.api.context import ApiContext
from tenant_bot.api.routes import (
    backtest,
    balances,
    candles,
    control,
    events,
    health,
    pages,
    positions,
    rates,
    settings,
    transfers,
)
from tenant_bot.errors import BotError, InvalidRequest, NotFound, Refused, Unavailable
from tenant_bot.venues.outages import UNREACHABLE

log = structlog.get_logger("basis.api")

# The status of each of the bot's errors; the most specific class that matches wins.
STATUS_OF: dict[type[BotError], int] = {
    Refused: 409,
    InvalidRequest: 400,
    NotFound: 404,
    Unavailable: 503,
    BotError: 409,
}


def status_of(exc: BotError) -> int:
    return next(STATUS_OF[cls] for cls in type(exc).__mro__ if cls in STATUS_OF)


class RequestMetrics:
    """Counts answers by route template and status (pure ASGI: streams pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            state = scope["app"].state if "app" in scope else None
            if state is not None and hasattr(state, "ctx"):
                state.ctx.metrics.record_request(template, status)
            log.debug(
                "request", route=template, status=status, ms=round((time.perf_counter() - t0) * 1000, 2)
            )


async def _bot_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BotError)
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's shape, without echoing the input (it may hold a webhook token).
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _venue_down(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"a venue could not be reached ({type(exc).__name__}); try again shortly"}, status_code=503
    )


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Basis bot",
        version="1",
        description="One user's bot: rates, settings, positions, jobs, control, balances, events, backtests.",
        openapi_url=None,  # served below, behind the token
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = context
    guarded = [Depends(require_token)]
    app.include_router(health.public)
    app.include_router(health.router, dependencies=guarded)
    for module in (rates, candles, settings, positions, control, balances, events, transfers, backtest):
        app.include_router(module.router, dependencies=guarded)
    app.include_router(pages.router, dependencies=guarded)

    @app.get("/openapi.json", include_in_schema=False, dependencies=guarded)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    app.add_exception_handler(BotError, _bot_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    for error in UNREACHABLE:
        app.add_exception_handler(error, _venue_down)
    app.add_middleware(RequestMetrics)
    return app
