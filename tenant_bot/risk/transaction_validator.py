"""The bot's side of transaction policy: `ValidatingSigner`, through which every signature the bot
makes goes, and the policy's defaults from the bot's risk config.

The rules themselves (`TransactionPolicy`, `TransactionValidator`, `TransactionRejected`) live in
`shared.transaction_policy`, because the control plane's signing broker enforces them too. Here they
gain defaults: with no config, the policy is the `transactions` section of the packaged risk config
(`shared/transaction_defaults.yaml`, the defaults the signing broker starts from too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.logging import get_logger
from shared.transaction_config import TransactionsConfig
from shared.transaction_policy import (
    ATA_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    HYPERLIQUID_L1_CHAIN_ID,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    USDC_ARBITRUM,
    USDC_MINT,
    TransactionRejected,
    WithdrawalAddresses,
)
from shared.transaction_policy import TransactionPolicy as _SharedPolicy
from shared.transaction_policy import TransactionValidator as _SharedValidator
from tenant_bot.risk.config import RiskConfig, load_risk_config
from tenant_bot.signing.signer import Signer

log = get_logger(__name__)

__all__ = [
    "ATA_PROGRAM",
    "COMPUTE_BUDGET_PROGRAM",
    "HYPERLIQUID_L1_CHAIN_ID",
    "SYSTEM_PROGRAM",
    "TOKEN_PROGRAM",
    "USDC_ARBITRUM",
    "USDC_MINT",
    "TransactionPolicy",
    "TransactionRejected",
    "TransactionValidator",
    "ValidatingSigner",
]


@dataclass(frozen=True)
class TransactionPolicy(_SharedPolicy):
    """The shared policy, built from the bot's risk config (the packaged defaults when none is given)."""

    @classmethod
    def from_config(
        cls, config: RiskConfig | TransactionsConfig | None = None, *, network: str | None = None
    ) -> TransactionPolicy:
        return super().from_config(config if config is not None else load_risk_config(), network=network)


class TransactionValidator(_SharedValidator):
    """The shared validator; without a policy, the packaged defaults'."""

    def __init__(self, policy: _SharedPolicy | None = None) -> None:
        super().__init__(policy or TransactionPolicy.from_config())


class ValidatingSigner:
    """A `Signer` that validates every payload with `validator` before `inner` signs it.

    `withdrawal`: the user's registered withdrawal addresses, as the control plane says they are usable
    now (none by default: the bot's everyday signer sends money nowhere but its own accounts and the
    venues; the withdrawal desk makes one with the address for a confirmed withdrawal)."""

    def __init__(
        self,
        inner: Signer,
        validator: _SharedValidator,
        owner: str | None = None,
        withdrawal: WithdrawalAddresses | None = None,
    ) -> None:
        self.inner = inner
        self.validator = validator
        self._owner = owner
        self._withdrawal = withdrawal

    @property
    def owner(self) -> str:
        return self._owner or self.inner.solana_address

    @property
    def solana_address(self) -> str:
        return self.inner.solana_address

    @property
    def evm_address(self) -> str:
        return self.inner.evm_address

    async def sign_solana_message(self, message: bytes) -> bytes:
        self._guard(lambda: self.validator.check_solana_message(message, owner=self.owner), "solana")
        return await self.inner.sign_solana_message(message)

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        self._guard(
            lambda: self.validator.check_typed_data(
                typed_data, owner_evm=self.inner.evm_address, withdrawal=self._withdrawal
            ),
            "typed_data",
        )
        return await self.inner.sign_typed_data(typed_data)

    async def sign_hyperliquid_l1(
        self, action: dict[str, Any], nonce: int, *, mainnet: bool, expires_after: int | None = None
    ) -> dict[str, Any]:
        self._guard(
            lambda: self.validator.check_hyperliquid_l1(action, nonce=nonce, expires_after=expires_after),
            "hyperliquid_l1",
        )
        return await self.inner.sign_hyperliquid_l1(
            action, nonce, mainnet=mainnet, expires_after=expires_after
        )

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        self._guard(lambda: self.validator.check_evm_transaction(tx), "evm")
        return await self.inner.sign_evm_transaction(tx)

    @staticmethod
    def _guard(check: Callable[[], object], kind: str) -> None:
        try:
            check()
        except TransactionRejected as exc:
            log.warning("signature_refused", kind=kind, reason=exc.reason)
            raise
