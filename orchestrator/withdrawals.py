"""Withdrawal addresses: where a user lets the signing broker send their money besides their own
accounts and the venues. One per chain, set only by the signed-in user (session + CSRF, through the
routes of orchestrator/routes/withdrawals.py); a bot cannot set one (it has no session).

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


class InvalidAddress(ValueError):
    """Not an address of that chain, or the user's own wallet; the message says which and why."""


class NoSuchUser(LookupError):
    """The session's user is gone (deleted meanwhile)."""


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
        """Set the user's address on `chain` (replacing any), usable after the delay. `InvalidAddress` for
        an address that is not one of that chain's, or the user's own wallet."""
        address = normalise(chain, address)
        now = self._now()
        with self._db.begin() as db:
            user = db.get(User, user_id)
            if user is None:
                raise NoSuchUser(user_id)
            own = user.solana_address if chain == "solana" else user.evm_address
            if own is not None and address.lower() == own.lower():
                raise InvalidAddress(
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
            raise InvalidAddress(f"{text!r} is not a Solana address (base58, 32 bytes).")
        return text
    if not (text.startswith("0x") and is_evm_address(text)):
        raise InvalidAddress(f"{text!r} is not an EVM address (0x and 40 hex digits).")
    return to_checksum_address(text)


def _entry(row: WithdrawalAddress, now: datetime) -> dict[str, Any]:
    usable_at = as_utc(row.usable_at)
    return {
        "address": row.address,
        "registered_at": as_utc(row.registered_at).isoformat(),
        "usable_at": usable_at.isoformat(),
        "usable": usable_at <= now,
    }
