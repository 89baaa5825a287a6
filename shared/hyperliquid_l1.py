"""What a Hyperliquid L1 action's signature signs, computed from the action itself.

Hyperliquid signs L1 actions (orders, cancels, leverage) as EIP-712 typed data of a "phantom agent":
`{source, connectionId}` under the "Exchange" domain, where connectionId is the keccak of the action
(msgpack), the nonce, the vault flag and expiresAfter, and source is "a" on mainnet, "b" elsewhere.
Whoever holds that typed data alone cannot tell which action it authorises, so the signers (the
bot's `LocalSigner`, the control plane's broker) build it here from the action they were shown, with
the official SDK's own functions, and sign nothing else in that domain.
"""

from __future__ import annotations

from typing import Any


def l1_typed_data(
    action: dict[str, Any],
    nonce: int,
    *,
    mainnet: bool,
    vault_address: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The EIP-712 typed data whose signature Hyperliquid accepts for `action` under `nonce`.

    The action is hashed exactly as given (its key order included), as the SDK and the venue hash it;
    connectionId is 0x-hex, so the typed data is plain JSON (a remote signer receives it as such).
    """
    # Imported here: the SDK pulls in eth_account, which a process that never signs does not need.
    from hyperliquid.utils.signing import action_hash, construct_phantom_agent, l1_payload

    digest = action_hash(action, vault_address, nonce, expires_after)
    return l1_payload(construct_phantom_agent("0x" + digest.hex(), mainnet))
