"""The `Signer` interface: every signature the bot makes goes through one of these.

A signer holds (or can reach) one Solana key and one EVM key. It never exposes key material:
callers hand it a payload and get a signature back. `LocalSigner` keeps keys in the bot,
encrypted at rest (self-custody); `BrokerSigner` reaches the user's Privy wallets through the
control plane's signing broker and holds no key at all. `BASIS_SIGNER` picks one.

Payloads are plain JSON values (byte strings as 0x-hex), so that a remote signer receives exactly
what a local one signs; callers such as the Hyperliquid client build them that way.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Signer(Protocol):
    @property
    def solana_address(self) -> str:
        """The Solana wallet's public key, base58."""
        ...

    @property
    def evm_address(self) -> str:
        """The EVM wallet's address, 0x-prefixed and checksummed."""
        ...

    async def sign_solana_message(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of a serialized Solana transaction message."""
        ...

    async def sign_typed_data(self, typed_data: dict[str, Any]) -> dict[str, Any]:
        """An EIP-712 signature of `typed_data` (eth_signTypedData_v4 shape: types, primaryType,
        domain, message) as `{"r": "0x…", "s": "0x…", "v": 27|28}`. Not for Hyperliquid L1 actions:
        their phantom agent is refused here (see `sign_hyperliquid_l1`)."""
        ...

    async def sign_hyperliquid_l1(
        self, action: dict[str, Any], nonce: int, *, mainnet: bool, expires_after: int | None = None
    ) -> dict[str, Any]:
        """The signature of a Hyperliquid L1 action (order, cancel, leverage) under `nonce`, for no
        vault, as `sign_typed_data` answers. The signer computes what it signs from the action
        (`shared.hyperliquid_l1.l1_typed_data`): `mainnet` picks source "a" over "b" for a local key;
        the control plane's broker takes it from its own network setting instead."""
        ...

    async def sign_evm_transaction(self, tx: dict[str, Any]) -> bytes:
        """The raw signed bytes of an EVM transaction dict (chainId, nonce, to, data, gas, fees)."""
        ...
