"""Solana wallet RPC methods: `signTransaction` and `signMessage`.

signTransaction fills *only the wallet's own* signature slot among the message's required signers
and keeps every other signature as it came, because transactions reach Privy partially signed by
another party (Asgard's custody key signs close transactions before the user does). A transaction
whose required signers do not include the wallet is refused: Privy would sign nothing useful.
Legacy and v0 transactions alike are read as solders `VersionedTransaction`s and written back in
the wire format they came in.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from devnet.privy.errors import invalid_data


def _base64_param(params: dict[str, Any], name: str) -> bytes:
    encoding = params.get("encoding", "base64")
    if encoding != "base64":
        raise invalid_data(f"params.encoding must be 'base64', got {encoding!r}")
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_data(f"params.{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_data(f"params.{name} is not valid base64") from None


def sign_transaction(keypair: Keypair, params: dict[str, Any]) -> dict[str, Any]:
    raw = _base64_param(params, "transaction")
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception:  # solders raises its own error types for every malformed byte string
        raise invalid_data("params.transaction is not a serialized Solana transaction") from None
    message = tx.message
    required = message.header.num_required_signatures
    signers = list(message.account_keys)[:required]
    pubkey = keypair.pubkey()
    if pubkey not in signers:
        raise invalid_data(
            f"wallet {pubkey} is not a required signer of this transaction "
            f"(signers: {', '.join(str(s) for s in signers)})"
        )
    signatures = list(tx.signatures)
    if len(signatures) != required:
        # Some clients serialise an empty signature list; give every signer a slot.
        signatures = (signatures + [Signature.default()] * required)[:required]
    signatures[signers.index(pubkey)] = keypair.sign_message(to_bytes_versioned(message))
    signed = VersionedTransaction.populate(message, signatures)
    return {"signed_transaction": base64.b64encode(bytes(signed)).decode(), "encoding": "base64"}


def sign_message(keypair: Keypair, params: dict[str, Any]) -> dict[str, Any]:
    message = _base64_param(params, "message")
    signature = keypair.sign_message(message)
    return {"signature": base64.b64encode(bytes(signature)).decode(), "encoding": "base64"}
