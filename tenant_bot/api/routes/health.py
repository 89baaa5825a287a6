"""Liveness, readiness and metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from tenant_bot.api.app import ApiContext, ctx
from tenant_bot.api.metrics import CONTENT_TYPE
from tenant_bot.venues.outages import SOURCES

public = APIRouter(tags=["health"])
router = APIRouter(tags=["health"])


@public.get("/health", summary="Liveness (no token)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Database and venues", responses={503: {"description": "database down"}})
async def ready(c: ApiContext = Depends(ctx)) -> JSONResponse:
    bot = c.bot
    database = "ok"
    try:
        with bot.db() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        database = f"down: {type(exc).__name__}"
    now = datetime.now(UTC)
    outages = bot.outages.outages(now)
    errors = bot.last_observation.errors if bot.last_observation else {}
    venues: dict[str, Any] = {}
    for source in SOURCES:
        if source in outages:
            venues[source] = f"down: {outages[source].reason}"
        elif source in errors:
            venues[source] = f"down: {errors[source]}"
        else:
            venues[source] = "ok"
    body = {"database": database, "venues": venues}
    return JSONResponse(body, status_code=200 if database == "ok" else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(c: ApiContext = Depends(ctx)) -> PlainTextResponse:
    return PlainTextResponse(c.metrics.render(), media_type=CONTENT_TYPE)
