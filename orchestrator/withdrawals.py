"""Withdrawal addresses: where a user lets the signing broker send their money besides their own
accounts and the venues. One per chain, set only by the signed-in user (session + CSRF); a bot
cannot set one (it has no session).

    GET    /api/v1/withdrawals               both chains' addresses, and when each becomes usable
    PUT    /api/v1/withdrawals/{chain}        {address} → registered, usable after the delay (CSRF)
    DELETE /api/v1/withdrawals/{chain}        no address on that chain any more, at once (CSRF)

`chain` is `solana` (a wallet address: tokens go to its associated token accounts) or `evm` (an
address on Arbitrum, and the destination of Hyperliquid withdrawals). A new address becomes usable
`withdrawal_delay_seconds` after it was registered (default a day): someone who stole a session
cannot redirect a withdrawal at once, and the user sees the pending address in the meantime.
Replacing an address makes the old one unusable at once. Transfers to it still pass the
per-transaction caps and count against the outflow budget (`shared.transaction_policy`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.database.models import User, WithdrawalAddress
from shared.addresses import is_evm_address, is_solana_address, to_checksum_address
from shared.logging import get_logger
from shared.transaction_policy import WithdrawalAddresses

log = get_logger(__name__)

Chain = Literal["solana", "evm"]
CHAINS: tuple[Chain, ...] = ("solana", "evm")
# What is personal must not outlive a sign-out in a shared browser.
PRIVATE = {"Cache-Control": "no-store"}


class WithdrawalBook:
    """The registered addresses in the control-plane database, and which of them are usable now."""

    def __init__(self, db: sessionmaker[Session], delay: timedelta, *, clock: Clock = utc_now) -> None:
        self._db = db
        self.delay = delay
        self._now = clock

    def usable(self, user_id: str | None) -> WithdrawalAddresses:
        """The user's addresses whose delay has passed (what the broker may send to)."""
        if user_id is None:
            return WithdrawalAddresses()
        now = self._now()
        found = {row.chain: row.address for row in self._rows(user_id) if as_utc(row.usable_at) <= now}
        return WithdrawalAddresses(solana=found.get("solana"), evm=found.get("evm"))

    def view(self, user_id: str) -> dict[str, Any]:
        now = self._now()
        rows = {row.chain: row for row in self._rows(user_id)}
        return {
            "delay_seconds": self.delay.total_seconds(),
            **{chain: _entry(rows[chain], now) if chain in rows else None for chain in CHAINS},
        }

    def register(self, user_id: str, chain: Chain, address: str) -> None:
        """Set the user's address on `chain` (replacing any), usable after the delay. ValueError for an
        address that is not one of that chain's, or the user's own wallet."""
        address = normalise(chain, address)
        now = self._now()
        with self._db.begin() as db:
            user = db.get(User, user_id)
            if user is None:
                raise LookupError(user_id)
            own = user.solana_address if chain == "solana" else user.evm_address
            if own is not None and address.lower() == own.lower():
                raise ValueError(
                    f"{address} is your bot's own {chain} wallet; register an address of yours elsewhere."
                )
            row = db.get(WithdrawalAddress, (user_id, chain))
            if row is not None and row.address == address:
                return  # the same address again: its delay keeps running
            if row is None:
                row = WithdrawalAddress(user_id=user_id, chain=chain)
                db.add(row)
            row.address, row.registered_at, row.usable_at = address, now, now + self.delay
        log.info("withdrawal address registered", user_id=user_id, chain=chain, address=address)

    def remove(self, user_id: str, chain: Chain) -> None:
        with self._db.begin() as db:
            db.execute(
                delete(WithdrawalAddress).where(
                    WithdrawalAddress.user_id == user_id, WithdrawalAddress.chain == chain
                )
            )
        log.info("withdrawal address removed", user_id=user_id, chain=chain)

    def _rows(self, user_id: str) -> list[WithdrawalAddress]:
        with self._db() as db:
            return list(db.scalars(select(WithdrawalAddress).where(WithdrawalAddress.user_id == user_id)))


def normalise(chain: Chain, address: str) -> str:
    """The address as stored: base58 for Solana, EIP-55 checksummed 0x-hex for EVM."""
    text = address.strip()
    if chain == "solana":
        if not is_solana_address(text):
            raise ValueError(f"{text!r} is not a Solana address (base58, 32 bytes).")
        return text
    if not (text.startswith("0x") and is_evm_address(text)):
        raise ValueError(f"{text!r} is not an EVM address (0x and 40 hex digits).")
    return to_checksum_address(text)


def _entry(row: WithdrawalAddress, now: datetime) -> dict[str, Any]:
    usable_at = as_utc(row.usable_at)
    return {
        "address": row.address,
        "registered_at": as_utc(row.registered_at).isoformat(),
        "usable_at": usable_at.isoformat(),
        "usable": usable_at <= now,
    }


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


class ErrorBody(BaseModel):
    detail: str | list[dict[str, Any]]


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not signed in."},
    403: {"model": ErrorBody, "description": "A state change without the CSRF token."},
    422: {"model": ErrorBody, "description": "The address is not one of that chain's, and why."},
}


def make_withdrawals_router(book: WithdrawalBook) -> APIRouter:
    from orchestrator.auth.router import current_user

    router = APIRouter(prefix="/api/v1/withdrawals", tags=["withdrawals"])

    @router.get("", response_model=Withdrawals, responses=ERRORS, summary="The user's withdrawal addresses")
    async def show(user_id: str = Depends(current_user)) -> Response:
        return JSONResponse(book.view(user_id), headers=PRIVATE)

    @router.put(
        "/{chain}",
        response_model=Withdrawals,
        responses=ERRORS,
        summary="Register the user's withdrawal address on one chain (usable after the delay)",
    )
    async def register(chain: Chain, body: AddressBody, user_id: str = Depends(current_user)) -> Response:
        try:
            book.register(user_id, chain, body.address)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        except LookupError:
            raise HTTPException(401, "Sign in first.") from None
        return JSONResponse(book.view(user_id), headers=PRIVATE)

    @router.delete(
        "/{chain}",
        response_model=Withdrawals,
        responses=ERRORS,
        summary="Remove the user's withdrawal address on one chain (at once)",
    )
    async def remove(chain: Chain, user_id: str = Depends(current_user)) -> Response:
        book.remove(user_id, chain)
        return JSONResponse(book.view(user_id), headers=PRIVATE)

    return router


def install_withdrawals(app: FastAPI) -> None:
    """The withdrawal-address API, on the app's database and settings (after the auth routes)."""
    settings = app.state.settings
    book = WithdrawalBook(app.state.db, timedelta(seconds=settings.withdrawal_delay_seconds))
    app.include_router(make_withdrawals_router(book))
