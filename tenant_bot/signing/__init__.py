"""Who signs for the bot: the `Signer` interface and its implementations.

`LocalSigner` and `BrokerSigner` are imported on first use: the first pulls in eth_account and
solders, which a bot that signs through the control plane's broker does not need in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenant_bot.signing.signer import Signer

if TYPE_CHECKING:
    from tenant_bot.signing.broker import BrokerError, BrokerSigner, BrokerUnavailable
    from tenant_bot.signing.local import KeystoreError, LocalSigner

__all__ = ["BrokerError", "BrokerSigner", "BrokerUnavailable", "KeystoreError", "LocalSigner", "Signer"]


def __getattr__(name: str) -> Any:
    if name in ("LocalSigner", "KeystoreError"):
        from tenant_bot.signing import local

        return getattr(local, name)
    if name in ("BrokerSigner", "BrokerError", "BrokerUnavailable"):
        from tenant_bot.signing import broker

        return getattr(broker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
