"""Positions (with PnL split, delta and health), opens and closes as jobs, and the jobs themselves."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from tenant_bot.api.context import JobsDep, StatusDep, TraderDep, ValuerDep
from tenant_bot.errors import BotError, Unavailable
from tenant_bot.execution.states import PositionStatus
from tenant_bot.preferences import AssetName, ProtocolName

router = APIRouter(prefix="/api/v1", tags=["positions"])

Id = Annotated[str, Path(min_length=1, max_length=64)]


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capital_usd: Decimal = Field(gt=0, le=10**12, allow_inf_nan=False, max_digits=30, decimal_places=6)
    asset: AssetName | None = None
    protocol: ProtocolName | None = None
    leverage: Decimal | None = Field(default=None, ge=2, le=4, allow_inf_nan=False, max_digits=20)


@router.get(
    "/positions", summary="Open positions first, then the 50 latest closed; the lifetime PnL of all of them"
)
async def positions(status: StatusDep, valuer: ValuerDep) -> dict[str, Any]:
    if status.positions(PositionStatus.OPEN) and valuer.cache.fetched_at == 0:
        await valuer.refresh()
    return valuer.listing()


@router.post("/positions/preview", summary="Both legs of an open, and whether it is blocked; no side effect")
async def preview(body: OpenBody, trader: TraderDep) -> dict[str, Any]:
    try:
        prepared = await trader.prepare_open(
            body.capital_usd,
            asset=body.asset,
            protocol=body.protocol,
            leverage=body.leverage,
            check_state=False,
        )
    except Unavailable:
        raise
    except BotError as exc:
        return {"long": None, "short": None, "net_apy": None, "limited_by": None, "blocked": str(exc)}
    plan, request = prepared.plan, prepared.request
    return {
        "long": {
            "protocol": request.protocol.name.lower(),
            "asset": request.asset.value,
            "collateral_usdc": str(request.collateral_usdc),
            "notional_usd": str(plan.asgard_notional_usd),
            "token_size": str(plan.expected_long_tokens),
        },
        "short": {
            "size_sol": str(plan.short_size),
            "notional_usd": str(plan.short_notional_usd),
            "margin_usd": str(plan.hl_margin_usd),
        },
        "leverage": str(plan.leverage),
        "net_apy": str(prepared.best.net_apy),
        "limited_by": plan.limited_by,
        "blocked": trader.manual_refusal(),
    }


@router.post("/positions/open", status_code=202, summary="Open a position (a job)")
async def open_position(body: OpenBody, trader: TraderDep, jobs: JobsDep) -> dict[str, Any]:
    prepared = await trader.prepare_open(
        body.capital_usd, asset=body.asset, protocol=body.protocol, leverage=body.leverage
    )
    return jobs.open(prepared)


@router.post("/positions/{position_id}/close", status_code=202, summary="Close a position (a job)")
async def close_position(position_id: Id, status: StatusDep, jobs: JobsDep) -> dict[str, Any]:
    position = status.position(position_id)
    if position.status != PositionStatus.OPEN:
        raise HTTPException(409, f"position {position_id} is {position.status}, not open")
    return jobs.close(position_id)


@router.get("/jobs/{job_id}", summary="One job")
async def job(job_id: Id, jobs: JobsDep) -> dict[str, Any]:
    found = jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return found
