"""The app factory: routes, the token, error handling and request metrics around one running `Bot`.

Errors are sentences: a refusal is 409, a missing thing 404, bad input 422 (FastAPI's own shape,
one entry per field), a venue that cannot be reached 503. The page (`tenant_bot/web/`) and its
assets are served under the same prefix as the API, behind the same token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenant_bot.api.auth import require_token
from tenant_bot.api.jobs import JobManager
from tenant_bot.api.live import LiveFeed
from tenant_bot.api.metrics import Metrics
from tenant_bot.api.sse import EventHub
from tenant_bot.api.valuation import Valuer
from tenant_bot.bot import VENUE_ERRORS, Bot, BotError

log = structlog.get_logger("basis.api")

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


@dataclass
class ApiContext:
    bot: Bot
    token: bytes
    heartbeat_seconds: float
    web_dir: Path = WEB_DIR
    jobs: JobManager = field(init=False)
    valuer: Valuer = field(init=False)
    live: LiveFeed = field(init=False)
    metrics: Metrics = field(init=False)
    hub: EventHub = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobManager(self.bot)
        self.valuer = Valuer(self.bot)
        self.live = LiveFeed(self.bot, self.valuer)
        self.metrics = Metrics(self.bot)
        self.hub = EventHub(
            self.bot.events,
            self.heartbeat_seconds,
            on_join=self._viewer_joined,
            on_leave=self.bot.viewer_left,
        )

    def _viewer_joined(self) -> None:
        # The viewer's page may hold rates from a minute ago (idle cadence): tick now and tell it.
        self.live.refresh()
        self.bot.viewer_joined()

    def start(self) -> None:
        """Hook into the running bot: events counted, the live feed after each tick, jobs followed."""
        self.metrics.attach()
        self.live.attach()
        self.jobs.resume()

    async def aclose(self) -> None:
        self.hub.close()
        await self.live.aclose()
        await self.jobs.aclose()
        self.metrics.detach()


async def ctx(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


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


def create_app(context: ApiContext) -> FastAPI:
    from tenant_bot.api.routes import balances, control, events, health, pages, positions, rates, settings

    app = FastAPI(
        title="Basis bot",
        version="1",
        description="One user's bot: rates, settings, positions, jobs, control, balances and events.",
        openapi_url=None,  # served below, behind the token
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = context
    guarded = [Depends(require_token)]
    app.include_router(health.public)
    app.include_router(health.router, dependencies=guarded)
    for module in (rates, settings, positions, control, balances, events):
        app.include_router(module.router, dependencies=guarded)
    app.include_router(pages.router, dependencies=guarded)

    @app.get("/openapi.json", include_in_schema=False, dependencies=guarded)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.exception_handler(BotError)
    async def bot_error(_request: Request, exc: BotError) -> JSONResponse:
        status = 503 if exc.exit_code == 3 else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, without echoing the input (it may hold a webhook token).
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    for error in VENUE_ERRORS:

        @app.exception_handler(error)
        async def venue_down(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse(
                {"detail": f"a venue could not be reached ({type(exc).__name__}); try again shortly"},
                status_code=503,
            )

    app.add_middleware(RequestMetrics)
    return app
