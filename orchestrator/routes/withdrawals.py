"""The signed-in user's withdrawal addresses (the only addresses besides their own accounts and the
venues that the signing broker sends their money to; `orchestrator/withdrawals.py`).

    GET    /api/v1/withdrawals               both chains' addresses, and when each becomes usable
    PUT    /api/v1/withdrawals/{chain}        {address} → registered, usable after the delay (CSRF)
    DELETE /api/v1/withdrawals/{chain}        no address on that chain any more, at once (CSRF)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from orchestrator.auth.router import CurrentUser
from orchestrator.context import WithdrawalsDep
from orchestrator.errors import ErrorBody
from orchestrator.withdrawals import Chain

# What is personal must not outlive a sign-out in a shared browser.
PRIVATE = {"Cache-Control": "no-store"}


class AddressBody(BaseModel):
    address: str = Field(min_length=1, max_length=100)


class Registered(BaseModel):
    address: str
    registered_at: str
    usable_at: str
    usable: bool


class Withdrawals(BaseModel):
    delay_seconds: float
    solana: Registered | None
    evm: Registered | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not signed in."},
    403: {"model": ErrorBody, "description": "A state change without the CSRF token."},
    422: {"model": ErrorBody, "description": "The address is not one of that chain's, and why."},
}

router = APIRouter(prefix="/api/v1/withdrawals", tags=["withdrawals"], responses=ERRORS)


@router.get("", response_model=Withdrawals, summary="The user's withdrawal addresses")
async def show(user_id: CurrentUser, book: WithdrawalsDep) -> Response:
    return JSONResponse(book.view(user_id), headers=PRIVATE)


@router.put(
    "/{chain}",
    response_model=Withdrawals,
    summary="Register the user's withdrawal address on one chain (usable after the delay)",
)
async def register(chain: Chain, body: AddressBody, user_id: CurrentUser, book: WithdrawalsDep) -> Response:
    book.register(user_id, chain, body.address)  # InvalidAddress: 422, NoSuchUser: 401 (errors.py)
    return JSONResponse(book.view(user_id), headers=PRIVATE)


@router.delete(
    "/{chain}",
    response_model=Withdrawals,
    summary="Remove the user's withdrawal address on one chain (at once)",
)
async def remove(chain: Chain, user_id: CurrentUser, book: WithdrawalsDep) -> Response:
    book.remove(user_id, chain)
    return JSONResponse(book.view(user_id), headers=PRIVATE)
