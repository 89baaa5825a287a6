"""Asgard's built transactions: read them, check them, fill the owner's signature slot.

A build answer carries `signedTxs: [base64 VersionedTransaction, ...]`, unsigned by the owner (close
and partial-close transactions are already signed by Asgard's custody key, which pays the proceeds).
Several transactions are sent together (Asgard lands them through Jito, as one bundle). Before the
owner signs, every message is checked: the owner pays the fee and is a required signer, and every
instruction calls a program on the allow-list. If one transaction fails a check, none is signed.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from shared.transaction_policy import (
    ATA_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    DFLOW_AGGREGATOR_PROGRAM,
    JUPITER_V6_PROGRAM,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
)
from tenant_bot.signing.signer import Signer
from tenant_bot.venues.asgard_models import (
    AsgardError,
    BuiltTransaction,
    SignedTransaction,
    UnsafeTransaction,
)

# solders is imported where a transaction is handled: slow to import and about 10 MB, and an idle
# bot (a tick reads positions and markets) never needs it.
if TYPE_CHECKING:
    from solders.transaction import VersionedTransaction

# Programs an Asgard position transaction may call when the client is given no list (the bot passes
# its transaction policy's `solana_programs`, tenant_bot/risk/defaults.yaml, where each id is cited).
DEFAULT_ALLOWED_PROGRAMS = frozenset(
    {
        SYSTEM_PROGRAM,
        COMPUTE_BUDGET_PROGRAM,
        TOKEN_PROGRAM,
        ATA_PROGRAM,
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",  # Memo v2
        "KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD",  # Kamino Lend
        "MFv2hWf31Z9kbCa1snEPYctwafyhdvnV7FZnsebVacA",  # marginfi v2
        "So1endDq2YkqhipRh3WViPa8hdiSpxWy6z3Z6tMCpAo",  # Solend
        "dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH",  # Drift v2
        JUPITER_V6_PROGRAM,
        DFLOW_AGGREGATOR_PROGRAM,
    }
)


def decode_built(kind: str, payload: dict[str, Any]) -> BuiltTransaction:
    """A build answer (or, for a partial close, the submit body made from it) as a `BuiltTransaction`."""
    from solders.message import to_bytes_versioned

    messages = tuple(to_bytes_versioned(tx.message) for tx in transactions_of(payload))
    return BuiltTransaction(kind=kind, payload=payload, messages=messages)


def transactions_of(payload: dict[str, Any]) -> list[VersionedTransaction]:
    """The transactions of `signedTxs`, in order (at least one)."""
    from solders.transaction import VersionedTransaction

    txs = payload.get("signedTxs")
    if not isinstance(txs, list) or not txs or not all(isinstance(t, str) for t in txs):
        count = len(txs) if isinstance(txs, list) else 0
        raise AsgardError(
            f"expected base64 transactions in signedTxs, got {count} entries",
            code="UNEXPECTED_ANSWER",
            status=200,
        )
    out = []
    for text in txs:
        try:
            out.append(VersionedTransaction.from_bytes(base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise AsgardError(
                f"signedTxs holds something that is not a transaction: {exc}",
                code="UNEXPECTED_ANSWER",
                status=200,
            ) from None
    return out


def check(tx: VersionedTransaction, owner: str, allowed_programs: frozenset[str]) -> None:
    """Refuse a transaction the owner should not sign."""
    message = tx.message
    keys = [str(k) for k in message.account_keys]
    n_signers = message.header.num_required_signatures
    if not keys or keys[0] != owner:
        raise UnsafeTransaction(
            f"the fee payer is {keys[0] if keys else 'missing'}, not the owner {owner}",
            details={"feePayer": keys[0] if keys else None},
        )
    if owner not in keys[:n_signers]:
        raise UnsafeTransaction(f"the owner {owner} is not a signer of this transaction")
    foreign = sorted({keys[ix.program_id_index] for ix in message.instructions} - allowed_programs)
    if foreign:
        raise UnsafeTransaction(
            f"the transaction calls program(s) outside the allow-list: {', '.join(foreign)}",
            details={"programs": foreign},
        )


async def sign(
    built: BuiltTransaction, signer: Signer, allowed_programs: frozenset[str]
) -> SignedTransaction:
    """Check every built transaction, then fill only the owner's signature slot of each."""
    from solders.message import to_bytes_versioned

    owner = signer.solana_address
    if built.owner is not None and built.owner != owner:
        raise UnsafeTransaction(f"this transaction was built for {built.owner}, not for the signer {owner}")
    txs = transactions_of(built.payload)
    if tuple(to_bytes_versioned(tx.message) for tx in txs) != built.messages:
        raise UnsafeTransaction("the payload's transactions differ from the messages recorded at build")
    for tx in txs:  # all checked before any is signed
        check(tx, owner, allowed_programs)
    signed = [await _sign_one(tx, message, signer) for tx, message in zip(txs, built.messages, strict=True)]
    return SignedTransaction(
        built=built,
        signatures=tuple(str(tx.signatures[0]) for tx in signed),
        raws=tuple(bytes(tx) for tx in signed),
    )


async def _sign_one(tx: VersionedTransaction, message_bytes: bytes, signer: Signer) -> VersionedTransaction:
    from solders.message import from_bytes_versioned
    from solders.pubkey import Pubkey
    from solders.signature import Signature
    from solders.transaction import VersionedTransaction

    owner = signer.solana_address
    message = from_bytes_versioned(message_bytes)
    slot = [str(k) for k in message.account_keys].index(owner)
    signature = Signature.from_bytes(await signer.sign_solana_message(message_bytes))
    if not signature.verify(Pubkey.from_string(owner), message_bytes):
        raise UnsafeTransaction("the signer's signature does not verify for the owner's key")
    signatures = list(tx.signatures)
    signatures[slot] = signature
    missing = [
        str(message.account_keys[i])
        for i, s in enumerate(signatures[: message.header.num_required_signatures])
        if s == Signature.default()
    ]
    if missing:
        raise UnsafeTransaction(
            f"signature slot(s) still empty after the owner signed: {', '.join(missing)}",
            details={"unsigned": missing},
        )
    return VersionedTransaction.populate(message, signatures)


def submit_body(signed: SignedTransaction) -> dict[str, Any]:
    """The payload with `signedTxs` replaced by the signed transactions, as Asgard's submits take it."""
    return {**signed.built.payload, "signedTxs": [base64.b64encode(raw).decode() for raw in signed.raws]}
