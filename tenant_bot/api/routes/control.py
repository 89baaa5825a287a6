"""Pause, resume, emergency stop, and the trading status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from tenant_bot.api.context import EventsDep, JobsDep, StatusDep, TraderDep
from tenant_bot.api.jobs import JobManager
from tenant_bot.execution.states import PositionStatus
from tenant_bot.status import StatusView

router = APIRouter(prefix="/api/v1", tags=["control"])

# Who acts through the API: the user, through the control plane's proxy.
BY = "dashboard"


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=200)


def _status(status: StatusView, jobs: JobManager) -> dict[str, Any]:
    return {**status.status(), "jobs": jobs.unfinished()}


@router.get("/status", summary="Trading state, pauses, breakers, outages, jobs")
async def get_status(status: StatusDep, jobs: JobsDep) -> dict[str, Any]:
    return _status(status, jobs)


@router.post("/control/pause", summary="Stop new entries (open positions stay watched)")
async def pause(
    trader: TraderDep, status: StatusDep, jobs: JobsDep, body: PauseBody | None = Body(default=None)
) -> dict[str, Any]:
    reason = (body.reason if body else None) or "paused from the dashboard"
    trader.pause_entries(reason.strip() or "paused from the dashboard", BY)
    return _status(status, jobs)


@router.post("/control/resume", summary="Lift every pause and clear a halt")
async def resume(trader: TraderDep, status: StatusDep, jobs: JobsDep) -> dict[str, Any]:
    trader.resume_all(BY)
    return _status(status, jobs)


@router.post("/control/emergency-stop", summary="Pause, and close every open position (as jobs)")
async def emergency_stop(
    trader: TraderDep, status: StatusDep, jobs: JobsDep, events: EventsDep
) -> dict[str, Any]:
    trader.pause_entries("emergency stop", BY)
    busy = {j["position_id"] for j in jobs.unfinished() if j["kind"] == "close"}
    started = [
        jobs.close(p.id, requested_by="emergency", reason="emergency stop")["id"]
        for p in status.positions(PositionStatus.OPEN)
        if p.id not in busy
    ]
    events.emit(
        "control.emergency_stop",
        f"Emergency stop by {BY}: entries paused, closing {len(started)} position(s)",
        severity="critical",
        by=BY,
        jobs=started,
    )
    return _status(status, jobs)
