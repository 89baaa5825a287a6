"""Pause, resume, emergency stop, and the trading status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from tenant_bot.api.app import ApiContext, ctx
from tenant_bot.risk.states import TradingState

router = APIRouter(prefix="/api/v1", tags=["control"])

# Who acts through the API: the user, through the control plane's proxy.
BY = "dashboard"


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=200)


def status(c: ApiContext) -> dict[str, Any]:
    bot = c.bot
    decision = bot.last_decision
    now = datetime.now(UTC)
    # Pauses, halt and kill switch as they are now; breaker trips as the last tick saw them.
    blockers: list[str] = []
    if bot.risk.halt_reason:
        blockers.append(f"trading is halted: {bot.risk.halt_reason}")
    elif decision is not None:
        blockers.extend(
            f"{t.action.value}: {t.reason}"
            for t in decision.trips
            if t.action.implied_state is TradingState.REDUCING
        )
    blockers.extend(f"paused by {r.by}: {r.reason}" for r in bot.pause.reasons)
    if bot.kill_switch.engaged:
        blockers.append(f"the kill switch file {bot.kill_switch.path} is present")
    return {
        "trading_state": bot.state.value,
        "halt_reason": bot.risk.halt_reason,
        "paused": bot.pause.paused,
        "pause_reasons": [
            {"key": r.key, "reason": r.reason, "by": r.by, "at": r.at.isoformat()} for r in bot.pause.reasons
        ],
        "kill_switch": bot.kill_switch.engaged,
        "breakers": [
            {
                "breaker": t.breaker,
                "reason": t.reason,
                "action": t.action.value,
                "position_id": t.position_id,
                "at": t.at.isoformat(),
            }
            for t in (decision.trips if decision else ())
        ],
        "outages": [
            {"source": o.source, "reason": o.reason, "since": o.since.isoformat()}
            for o in bot.outages.outages(now).values()
        ],
        "entry_blockers": blockers,
        "shadow": bot.settings.shadow,
        "auto_entry": bot.settings.auto_entry,
        # Who signs ("local" keys or the control plane's "broker") and for which addresses.
        "wallets": {
            "signer": bot.settings.signer,
            "solana": bot.wallet_signer.solana_address,
            "evm": bot.wallet_signer.evm_address,
        },
        "jobs": c.jobs.unfinished(),
        "last_tick_at": bot.last_tick_at.isoformat() if bot.last_tick_at else None,
    }


@router.get("/status", summary="Trading state, pauses, breakers, outages, jobs")
async def get_status(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    return status(c)


@router.post("/control/pause", summary="Stop new entries (open positions stay watched)")
async def pause(body: PauseBody | None = Body(default=None), c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    reason = (body.reason if body else None) or "paused from the dashboard"
    c.bot.pause_entries(reason.strip() or "paused from the dashboard", BY)
    return status(c)


@router.post("/control/resume", summary="Lift every pause and clear a halt")
async def resume(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    c.bot.resume_all(BY)
    return status(c)


@router.post("/control/emergency-stop", summary="Pause, and close every open position (as jobs)")
async def emergency_stop(c: ApiContext = Depends(ctx)) -> dict[str, Any]:
    bot = c.bot
    bot.pause_entries("emergency stop", BY)
    busy = {j["position_id"] for j in c.jobs.unfinished() if j["kind"] == "close"}
    started = []
    for position in bot.journal.positions("open"):
        if position.id not in busy:
            started.append(c.jobs.close(position.id, requested_by="emergency", reason="emergency stop")["id"])
    bot.events.emit(
        "control.emergency_stop",
        f"Emergency stop by {BY}: entries paused, closing {len(started)} position(s)",
        severity="critical",
        by=BY,
        jobs=started,
    )
    return status(c)
