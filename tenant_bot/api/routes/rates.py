"""Net APY per protocol and collateral, decomposed, at a leverage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from tenant_bot.api.context import Context
from tenant_bot.api.valuation import rate_row
from tenant_bot.strategy.opportunity import table

router = APIRouter(prefix="/api/v1", tags=["rates"])


@router.get("/rates", summary="Net APY per protocol and collateral, best first")
async def rates(
    c: Context,
    leverage: Decimal | None = Query(default=None, ge=2, le=4, allow_inf_nan=False, max_digits=20),
) -> dict[str, Any]:
    obs = await c.observer.latest_or_observe()
    snap = obs.snapshot
    if snap is None:
        raise HTTPException(503, f"rates cannot be read now: {', '.join(sorted(obs.errors)) or 'no data'}")
    lev = leverage if leverage is not None else c.services.preferences.current.leverage
    rows = table(snap, lev, c.services.fees.model)
    predicted = snap.predicted_funding
    return {
        "at": snap.at.isoformat(),
        "leverage": str(lev),
        "funding": {
            "rate": str(snap.funding.per_hour),
            "interval_hours": 1,
            "apr": str(snap.funding.apr),
            "planning_apr": str(snap.planning_funding().apr),
            "predicted": None
            if predicted is None
            else {"rate": str(predicted.per_hour), "interval_hours": 1, "apr": str(predicted.apr)},
        },
        "rows": [rate_row(r) for r in rows],
        "best": rate_row(rows[0]) if rows else None,
    }
