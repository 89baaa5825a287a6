"""Where withdrawals may go: the EVM address the user registered, and whether it is usable yet.

With the broker signer the control plane keeps it (the user registers it from the portal; it becomes
usable after a delay) and the bot reads it from `GET /internal/withdrawal-address`; the broker checks
every withdrawal's signature against the same book, so what the bot reads is for showing, not trust.
With local keys (self-custody) it is `BASIS_WITHDRAWAL_EVM_ADDRESS`, usable at once: whoever sets
the bot's environment holds its keys anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RegisteredAddress:
    address: str
    usable: bool
    usable_at: str | None = None  # ISO time; None when usable from the start


class WithdrawalAddressSource(Protocol):
    async def registered_withdrawal_address(self) -> RegisteredAddress | None:
        """The user's registered EVM withdrawal address, or None when there is none."""
        ...


class ConfiguredWithdrawalAddress:
    """The address from the bot's own settings (local keys), or none."""

    def __init__(self, address: str | None) -> None:
        self._address = address

    async def registered_withdrawal_address(self) -> RegisteredAddress | None:
        return RegisteredAddress(self._address, usable=True) if self._address else None
