"""Who signed an action: both of Hyperliquid's signing schemes, recovered as the venue recovers them.

- L1 actions (order, cancel, updateLeverage, ...): keccak of the msgpack of the action (in the
  venue's own field order), the nonce, the vault flag and expiresAfter, wrapped in a "phantom
  agent" {source: "a" mainnet | "b" testnet, connectionId: hash} and signed as EIP-712 under the
  "Exchange" domain (chain id 1337).
- User-signed actions (withdraw3, usdClassTransfer, usdSend, approveAgent): the action itself as
  EIP-712 typed data under the "HyperliquidSignTransaction" domain, with the chain id the client
  chose (`signatureChainId`) and `hyperliquidChain` set to the venue's network.

Recovery uses the official SDK's own functions (hyperliquid.utils.signing). A signature made for
another network or over other bytes does not fail: it recovers to a different address, which the
venue then does not know. That is the "User or API Wallet … does not exist." answer.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from eth_utils import keccak
from hyperliquid.utils import signing

from devnet.hyperliquid import errors
from devnet.hyperliquid.wire import is_uint

_HEX = re.compile(r"^0x[0-9a-fA-F]{1,64}$")

AGENT_SIGN_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]

# type → (EIP-712 fields, primary type, the action field that must equal the envelope nonce)
USER_SIGNED: dict[str, tuple[list[dict[str, str]], str, str]] = {
    "usdClassTransfer": (
        signing.USD_CLASS_TRANSFER_SIGN_TYPES,
        "HyperliquidTransaction:UsdClassTransfer",
        "nonce",
    ),
    "withdraw3": (signing.WITHDRAW_SIGN_TYPES, "HyperliquidTransaction:Withdraw", "time"),
    "usdSend": (signing.USD_SEND_SIGN_TYPES, "HyperliquidTransaction:UsdSend", "time"),
    "approveAgent": (AGENT_SIGN_TYPES, "HyperliquidTransaction:ApproveAgent", "nonce"),
}


def check_signature(signature: object) -> dict[str, Any]:
    """The envelope's {r, s, v}; a malformed one is a body the venue cannot read."""
    if not isinstance(signature, dict):
        raise errors.Undeserializable()
    r, s, v = signature.get("r"), signature.get("s"), signature.get("v")
    if not (isinstance(r, str) and _HEX.match(r) and isinstance(s, str) and _HEX.match(s) and is_uint(v)):
        raise errors.Undeserializable()
    return {"r": r, "s": s, "v": v}


def action_hash(action: dict[str, Any], vault: str | None, nonce: int, expires_after: int | None) -> bytes:
    return signing.action_hash(action, vault, nonce, expires_after)


def recover_l1(
    action: dict[str, Any],
    signature: dict[str, Any],
    vault: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> str:
    """The lowercase address that signed an L1 action (the action must be in canonical form)."""
    try:
        address = signing.recover_agent_or_user_from_l1_action(
            copy.deepcopy(action), signature, vault, nonce, expires_after, is_mainnet
        )
    except Exception:  # an invalid curve point, an out-of-range v: nothing recoverable
        raise errors.ActionError(errors.UNRECOVERABLE) from None
    return str(address).lower()


def recover_user_signed(action: dict[str, Any], signature: dict[str, Any], is_mainnet: bool) -> str:
    """The lowercase address that signed a user-signed action (fields already validated)."""
    sign_types, primary_type, _ = USER_SIGNED[action["type"]]
    message = copy.deepcopy(action)
    if action["type"] == "approveAgent":
        # The SDK signs an unnamed agent with agentName "" and then drops the field.
        message.setdefault("agentName", "")
    try:
        address = signing.recover_user_from_user_signed_action(
            message, signature, sign_types, primary_type, is_mainnet
        )
    except Exception:
        raise errors.ActionError(errors.UNRECOVERABLE) from None
    return str(address).lower()


def tx_hash(data: bytes) -> str:
    """A transaction hash for fills and ledger entries, derived from what was signed."""
    return "0x" + keccak(data).hex()
