"""The event log: a live stream (SSE) with resume, a page of past events, and chart history."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from tenant_bot.api.context import Context, EventsDep
from tenant_bot.api.live import history
from tenant_bot.api.sse import HEADERS, event_json

router = APIRouter(prefix="/api/v1", tags=["events"])

MAX_ID = 2**62


@router.get(
    "/events/stream",
    summary="Server-sent events: replay after Last-Event-ID (or ?after=), then live, with heartbeats",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    c: Context,
    after: int | None = Query(default=None, ge=0, le=MAX_ID),
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID", max_length=30),
) -> StreamingResponse:
    resume = after
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or int(text) > MAX_ID:
            raise HTTPException(422, "Last-Event-ID must be an event id (a whole number)")
        resume = int(text)
    return StreamingResponse(c.hub.stream(resume), media_type="text/event-stream", headers=HEADERS)


@router.get("/events", summary="Past events after an id (or the last few), oldest first")
async def events(
    log: EventsDep,
    after: int = Query(default=0, ge=0, le=MAX_ID),
    limit: int = Query(default=100, ge=1, le=500),
    kind: str | None = Query(default=None, max_length=48),
    last: int | None = Query(default=None, ge=1, le=100, description="The last N events instead"),
) -> dict[str, Any]:
    if last is not None:
        return {"events": [event_json(e) for e in log.latest(last)]}
    return {"events": [event_json(e) for e in log.since(after, limit=limit, kind=kind)]}


@router.get("/history", summary="Chart points: funding APR, best net APY or total PnL over time")
async def get_history(
    c: Context,
    series: Literal["funding", "apy", "pnl"] = Query(),
    hours: int = Query(default=24, ge=1, le=720),
) -> dict[str, Any]:
    return {"series": series, "hours": hours, "points": history(c.services.db, series, hours)}
