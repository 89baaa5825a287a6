"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from tenant_bot.api.context import Context, StatusDep
from tenant_bot.api.metrics import CONTENT_TYPE

public = APIRouter(tags=["health"])
router = APIRouter(tags=["health"])


@public.get("/health", summary="Liveness (no token)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Database and venues", responses={503: {"description": "database down"}})
async def ready(status: StatusDep) -> JSONResponse:
    ok, body = status.ready()
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(c: Context) -> PlainTextResponse:
    return PlainTextResponse(c.metrics.render(), media_type=CONTENT_TYPE)
