"""Money in and out: deposits bridged from Arbitrum to Hyperliquid, and withdrawals to the address
the user registered (a request that shows what will happen, then its confirmation)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tenant_bot.api.context import StatusDep, WithdrawalsDep

router = APIRouter(prefix="/api/v1", tags=["transfers"])


class WithdrawalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # USDC leaving Hyperliquid; what arrives is this less the venue's fee.
    amount_usdc: Decimal = Field(gt=0, le=10**12, allow_inf_nan=False, max_digits=30, decimal_places=6)


@router.get("/deposits", summary="Deposits bridged to Hyperliquid: waiting, in flight, credited or not")
async def deposits(status: StatusDep) -> dict[str, Any]:
    return status.deposits()


@router.post(
    "/withdrawals",
    summary="Request a withdrawal to the registered address: the amount, fee and destination; nothing sent",
    responses={
        400: {"description": "at most the fee, or more than withdrawable"},
        409: {"description": "no usable address"},
    },
)
async def request_withdrawal(body: WithdrawalBody, desk: WithdrawalsDep) -> dict[str, Any]:
    return (await desk.request(body.amount_usdc)).json()


@router.post(
    "/withdrawals/{quote_id}/confirm",
    summary="Confirm a requested withdrawal: Hyperliquid sends it to the registered address",
    responses={404: {"description": "no such request waiting (expired or confirmed)"}},
)
async def confirm_withdrawal(
    quote_id: Annotated[str, Path(min_length=1, max_length=64)], desk: WithdrawalsDep
) -> dict[str, Any]:
    return await desk.confirm(quote_id)
