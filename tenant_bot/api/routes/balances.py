"""Wallet balances on Solana, Arbitrum and Hyperliquid, and whether they allow an open."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tenant_bot.api.context import StatusDep

router = APIRouter(prefix="/api/v1", tags=["balances"])


@router.get("/balances", summary="Balances per chain and venue; a venue that cannot be read shows an error")
async def balances(status: StatusDep) -> dict[str, Any]:
    return await status.balances()
