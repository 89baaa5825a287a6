"""Withdrawals from Hyperliquid to the user's registered EVM address, in two steps.

`request(amount)` checks and quotes without signing anything: the amount leaving Hyperliquid, the
venue's fee (1 USDC), what arrives on Arbitrum, and where (the registered address, read from the
control plane, or the self-custody setting). `confirm(id)` carries out that quote, once, within
`QUOTE_SECONDS`: it reads the registered address again (a replaced address voids the quote) and
signs withdraw3 with a signer whose policy allows that one address; the control plane's broker
checks the same address again before it signs (`shared.transaction_policy.check_typed_data`).

Refusals are sentences: nothing above the fee (`InvalidRequest`), more than Hyperliquid says is
withdrawable (`InvalidRequest`), no registered address or one still in its waiting period
(`Refused`), an unknown or expired quote (`NotFound`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.assets import HYPERLIQUID_WITHDRAW_FEE_USDC
from shared.money import wire
from shared.transaction_policy import TransactionRejected, WithdrawalAddresses
from tenant_bot.errors import InvalidRequest, NotFound, Refused
from tenant_bot.risk.transaction_validator import ValidatingSigner
from tenant_bot.signing.withdrawal_address import RegisteredAddress, WithdrawalAddressSource
from tenant_bot.storage.events import EventLog
from tenant_bot.venues.hyperliquid import HyperliquidClient
from tenant_bot.venues.hyperliquid_models import HyperliquidError

FEE = Decimal(HYPERLIQUID_WITHDRAW_FEE_USDC)
# How long a quote may wait for its confirmation: long enough to read it, short enough that the
# withdrawable balance it was checked against still holds.
QUOTE_SECONDS = 120.0


@dataclass(frozen=True)
class Quote:
    id: str
    amount: Decimal  # leaves the Hyperliquid perp balance, USDC
    destination: str  # the registered EVM address, on Arbitrum One
    expires_at: float  # monotonic seconds

    @property
    def receive(self) -> Decimal:
        return self.amount - FEE

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount_usdc": wire(self.amount),
            "fee_usdc": wire(FEE),
            "receive_usdc": wire(self.receive),
            "destination": self.destination,
            "chain": "Arbitrum One",
            "expires_in_seconds": max(0, round(self.expires_at - time.monotonic())),
        }


class WithdrawalDesk:
    def __init__(
        self,
        hl: HyperliquidClient,
        addresses: WithdrawalAddressSource,
        signer: ValidatingSigner,
        events: EventLog,
    ) -> None:
        self._hl = hl
        self._addresses = addresses
        self._signer = signer
        self._events = events
        self._quotes: dict[str, Quote] = {}

    async def request(self, amount: Decimal) -> Quote:
        """Check a withdrawal of `amount` USDC and quote it; nothing is signed or sent."""
        if amount <= FEE:
            raise InvalidRequest(
                f"A withdrawal must be more than Hyperliquid's {wire(FEE)} USDC fee: {wire(amount)} USDC "
                "would leave nothing to receive."
            )
        destination = await self._usable_address()
        withdrawable = (await self._hl.user_state()).withdrawable
        if amount > withdrawable:
            raise InvalidRequest(
                f"{wire(amount)} USDC is more than the {wire(withdrawable)} USDC withdrawable on "
                "Hyperliquid now (margin held by open positions cannot leave)."
            )
        self._forget_expired()
        quote = Quote(str(uuid.uuid4()), amount, destination, time.monotonic() + QUOTE_SECONDS)
        self._quotes[quote.id] = quote
        return quote

    async def confirm(self, quote_id: str) -> dict[str, Any]:
        """Carry out a quote (once): withdraw3 signed for its destination only."""
        self._forget_expired()
        quote = self._quotes.pop(quote_id, None)
        if quote is None:
            raise NotFound(
                f"No withdrawal request {quote_id} is waiting (a request expires after "
                f"{QUOTE_SECONDS:.0f} s and is confirmed once): request it again."
            )
        if (await self._usable_address()).lower() != quote.destination.lower():
            raise Refused("Your registered withdrawal address changed since the request: request it again.")
        signer = ValidatingSigner(
            self._signer.inner,
            self._signer.validator,
            withdrawal=WithdrawalAddresses(evm=quote.destination),
        )
        try:
            nonce = await self._hl.withdraw(quote.destination, quote.amount, signer=signer)
        except TransactionRejected as exc:
            raise Refused(f"The withdrawal was not signed: {exc.reason}") from None
        except HyperliquidError as exc:
            raise Refused(f"Hyperliquid refused the withdrawal: {exc}") from None
        self._events.emit(
            "withdrawal.sent",
            f"Withdrawal of {wire(quote.amount)} USDC sent: {wire(quote.receive)} USDC to "
            f"{quote.destination} on Arbitrum after Hyperliquid's {wire(FEE)} USDC fee",
            amount_usdc=quote.amount,
            destination=quote.destination,
            nonce=nonce,
        )
        return {**quote.json(), "state": "sent", "nonce": nonce}

    async def _usable_address(self) -> str:
        registered: RegisteredAddress | None = await self._addresses.registered_withdrawal_address()
        if registered is None:
            raise Refused(
                "No withdrawal address is registered: register your own EVM address (Arbitrum) in the "
                "portal's Withdrawals section first."
            )
        if not registered.usable:
            raise Refused(
                f"Your withdrawal address {registered.address} is still in its waiting period (usable "
                f"from {registered.usable_at}); a new address waits so a stolen session cannot redirect "
                "funds at once."
            )
        if registered.address.lower() == self._signer.evm_address.lower():
            raise Refused(
                "The registered withdrawal address is the bot's own: the deposit bridge would send it "
                "straight back to Hyperliquid."
            )
        return registered.address

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, q in self._quotes.items() if q.expires_at <= now]:
            del self._quotes[key]
