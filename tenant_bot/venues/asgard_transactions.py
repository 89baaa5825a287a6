"""Asgard's built transactions: read them, check them, fill the owner's signature slot.

A build answer carries `signedTxs: [base64 VersionedTransaction]`, unsigned by the owner (close and
partial-close transactions are already signed by Asgard's custody key, which pays the proceeds). Before
the owner signs, the message is checked: the owner pays the fee and is a required signer, and every
instruction calls a program on the allow-list. A transaction that fails a check is never signed.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from shared.assets import Protocol
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

# Programs an Asgard position transaction may call. The lending programs are the protocols' mainnet
# ids; on mainnet Asgard's transactions also route swaps (Jupiter / DFlow) and may call Asgard's own
# program: add those ids through `AsgardClient(allowed_programs=...)` once verified against a real build.
SYSTEM_PROGRAMS = frozenset(
    {
        "11111111111111111111111111111111",  # System (SOL transfers, the Jito tip)
        "ComputeBudget111111111111111111111111111111",
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",  # SPL Token
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",  # SPL Token-2022
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",  # Associated token accounts
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",  # Memo v2
    }
)
LENDING_PROGRAMS: dict[Protocol, str] = {
    Protocol.KAMINO: "KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD",
    Protocol.MARGINFI: "MFv2hWf31Z9kbCa1snEPYctwafyhdvnV7FZnsebVacA",
    Protocol.SOLEND: "So1endDq2YkqhipRh3WViPa8hdiSpxWy6z3Z6tMCpAo",
    Protocol.DRIFT: "dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH",
}
DEFAULT_ALLOWED_PROGRAMS = SYSTEM_PROGRAMS | frozenset(LENDING_PROGRAMS.values())


def decode_built(kind: str, payload: dict[str, Any]) -> BuiltTransaction:
    """A build answer as a `BuiltTransaction` (one transaction per build, as Asgard returns today)."""
    from solders.message import to_bytes_versioned

    tx = transaction_of(payload)
    last_valid = payload.get("lastValidBlockHeight")
    return BuiltTransaction(
        kind=kind,
        payload=payload,
        message=to_bytes_versioned(tx.message),
        blockhash=str(payload.get("blockhash") or tx.message.recent_blockhash),
        last_valid_block_height=int(last_valid) if last_valid is not None else None,
    )


def transaction_of(payload: dict[str, Any]) -> VersionedTransaction:
    from solders.transaction import VersionedTransaction

    txs = payload.get("signedTxs")
    if not isinstance(txs, list) or len(txs) != 1 or not isinstance(txs[0], str):
        count = len(txs) if isinstance(txs, list) else 0
        raise AsgardError(
            f"expected one transaction in signedTxs, got {count}", code="UNEXPECTED_ANSWER", status=200
        )
    try:
        return VersionedTransaction.from_bytes(base64.b64decode(txs[0], validate=True))
    except (binascii.Error, ValueError) as exc:
        raise AsgardError(
            f"signedTxs holds something that is not a transaction: {exc}",
            code="UNEXPECTED_ANSWER",
            status=200,
        ) from None


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
    """Check the built transaction, then fill only the owner's signature slot."""
    from solders.message import from_bytes_versioned, to_bytes_versioned
    from solders.pubkey import Pubkey
    from solders.signature import Signature
    from solders.transaction import VersionedTransaction

    owner = signer.solana_address
    if built.owner is not None and built.owner != owner:
        raise UnsafeTransaction(f"this transaction was built for {built.owner}, not for the signer {owner}")
    tx = transaction_of(built.payload)
    if to_bytes_versioned(tx.message) != built.message:
        raise UnsafeTransaction("the payload's transaction differs from the message recorded at build")
    check(tx, owner, allowed_programs)
    message = from_bytes_versioned(built.message)
    slot = [str(k) for k in message.account_keys].index(owner)
    signature = Signature.from_bytes(await signer.sign_solana_message(built.message))
    if not signature.verify(Pubkey.from_string(owner), built.message):
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
    signed = VersionedTransaction.populate(message, signatures)
    return SignedTransaction(built=built, signature=str(signatures[0]), raw=bytes(signed))


def submit_body(signed: SignedTransaction) -> dict[str, Any]:
    """The build's answer echoed back with `signedTxs` replaced, as Asgard's submit endpoints take it."""
    return {**signed.built.payload, "signedTxs": [base64.b64encode(signed.raw).decode()]}
