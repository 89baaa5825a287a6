"""Money in and out: deposits bridged from Arbitrum to Hyperliquid, and withdrawals to the address
the user registered (a request that shows what will happen, then its confirmation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tenant_bot.api.context import StatusDep

router = APIRouter(prefix="/api/v1", tags=["transfers"])


@router.get("/deposits", summary="Deposits bridged to Hyperliquid: waiting, in flight, credited or not")
async def deposits(status: StatusDep) -> dict[str, Any]:
    return status.deposits()
