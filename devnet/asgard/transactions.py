"""The Solana side of Asgard: the transactions it builds, the accounts they touch, and the checks a
submit passes before anything is sent.

Every transaction is a real v0 `VersionedTransaction` with the user as fee payer and signer, a
recent blockhash from the chain, two ComputeBudget instructions, the token movements as real SPL
Token / System instructions, an optional Jito tip (a System transfer to one of Jito's real tip
accounts), one instruction for the lending protocol's real mainnet program id, one for the swap router
(Jupiter v6 or DFlow, at their real ids) and one for Asgard's own program (a devnet stand-in id:
`asgard_program_id`). Opens on Kamino and Drift come as two transactions, the first setting up the
protocol's account (an obligation, a Drift user), sent together as one bundle: both land or neither.

The lending, swap and Asgard programs themselves do not exist on the devnet. At their program ids
the devnet loads the SPL Memo program (v2) executable: the protocol instruction then really
executes, checks that every account it names has signed, and logs its UTF-8 data, a readable account
of the operation (`asgard:open-position ...`). The borrowing and swapping it stands for happen in
the emulator's books, not on chain; the tokens a user sees move for real.

Custody: the user's collateral goes to an Asgard custody wallet (a devnet keypair derived from a
fixed string, `custody_keypair`), and proceeds come back from it. A close or partial close
therefore needs two signatures: the custody key signs first, in the emulator, and the client fills
only its own slot (see `devnet.asgard` for the client recipe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from devnet.asgard.errors import AsgardError, invalid
from devnet.solana.chain import MEMO_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM, SolanaChain
from shared.transaction_policy import DFLOW_AGGREGATOR_PROGRAM, JUPITER_V6_PROGRAM

COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
# The swap routers Asgard routes through (its API doc: `swapPlatform: "dflow" | "jupiter"`); ids and
# their sources in shared/transaction_policy.py.
SWAP_PROGRAMS = {
    "jupiter": Pubkey.from_string(JUPITER_V6_PROGRAM),
    "dflow": Pubkey.from_string(DFLOW_AGGREGATOR_PROGRAM),
}
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
# Jito's eight mainnet tip accounts.
JITO_TIP_ACCOUNTS = tuple(
    Pubkey.from_string(a)
    for a in (
        "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5",
        "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
        "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY",
        "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
        "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh",
        "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
        "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL",
        "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT",
    )
)
COMPUTE_UNIT_LIMIT = 400_000
COMPUTE_UNIT_PRICE = 10_000  # micro-lamports per unit: a 4,000-lamport priority fee
LAMPORTS_PER_SIGNATURE = 5_000
TRANSFER_CHECKED = 12  # SPL Token instruction index
CREATE_IDEMPOTENT = 1  # Associated Token Account instruction index


def derived_keypair(seed: int, purpose: str) -> Keypair:
    """A devnet key that is the same for every run with the same seed."""
    return Keypair.from_seed(hashlib.sha256(f"basis-devnet:{seed}:asgard:{purpose}".encode()).digest())


def asgard_program_id() -> Pubkey:
    """Asgard's own program on the devnet: a stand-in id derived from a public string, the same for
    every seed (`shared.transaction_policy.DEVNET_ASGARD_PROGRAM`, callable only on the devnet network).
    Asgard's real program id is not published."""
    return Keypair.from_seed(hashlib.sha256(b"basis-devnet:asgard:program").digest()).pubkey()


def custody_keypair() -> Keypair:
    """Asgard's custody key: the same for every seed, so a devnet's policy can name it as a venue
    (`shared.transaction_policy.DEVNET_ASGARD_CUSTODY`, trusted only on the devnet network)."""
    return Keypair.from_seed(hashlib.sha256(b"basis-devnet:asgard:custody").digest())


def install_program_stand_ins(chain: SolanaChain, program_ids: list[Pubkey]) -> None:
    """Load the SPL Memo v2 executable at each program id (see the module doc)."""
    memo = chain.account(MEMO_PROGRAM)
    if memo is None:
        raise RuntimeError("the SPL Memo program is missing from the chain")
    for program_id in program_ids:
        if chain.account(program_id) is None:
            chain.svm.set_account(
                program_id,
                Account(lamports=memo.lamports, data=bytes(memo.data), owner=memo.owner, executable=True),
            )


def transfer_checked(
    source: Pubkey, mint: Pubkey, destination: Pubkey, authority: Pubkey, amount: int, decimals: int
) -> Instruction:
    data = bytes([TRANSFER_CHECKED]) + struct.pack("<QB", amount, decimals)
    return Instruction(
        TOKEN_PROGRAM,
        data,
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
        ],
    )


def create_ata_idempotent(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    """Create `owner`'s associated token account for `mint` if it does not exist yet."""
    return Instruction(
        ATA_PROGRAM,
        bytes([CREATE_IDEMPOTENT]),
        [
            AccountMeta(payer, is_signer=True, is_writable=True),
            AccountMeta(get_associated_token_address(owner, mint), is_signer=False, is_writable=True),
            AccountMeta(owner, is_signer=False, is_writable=False),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False),
            AccountMeta(TOKEN_PROGRAM, is_signer=False, is_writable=False),
        ],
    )


def sol_transfer(source: Pubkey, destination: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=source, to_pubkey=destination, lamports=lamports))


def record_instruction(program_id: Pubkey, signers: list[Pubkey], text: str) -> Instruction:
    """The lending protocol's instruction (Memo v2 semantics: every account must sign)."""
    return Instruction(
        program_id,
        text.encode(),
        [AccountMeta(s, is_signer=True, is_writable=False) for s in signers],
    )


def jito_tip_account(nonce: int) -> Pubkey:
    return JITO_TIP_ACCOUNTS[nonce % len(JITO_TIP_ACCOUNTS)]


def compute_budget() -> list[Instruction]:
    return [set_compute_unit_limit(COMPUTE_UNIT_LIMIT), set_compute_unit_price(COMPUTE_UNIT_PRICE)]


def build(
    payer: Pubkey, instructions: list[Instruction], blockhash: Hash, cosigners: list[Keypair] | None = None
) -> VersionedTransaction:
    """A v0 transaction signed by `cosigners` only; every other signature slot is left empty."""
    message = MessageV0.try_compile(payer, instructions, [], blockhash)
    signed_by = {kp.pubkey(): kp for kp in cosigners or []}
    payload = to_bytes_versioned(message)
    n = message.header.num_required_signatures
    signatures = [
        signed_by[key].sign_message(payload) if key in signed_by else Signature.default()
        for key in message.account_keys[:n]
    ]
    return VersionedTransaction.populate(message, signatures)


def encode(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def decode(text: object) -> VersionedTransaction:
    if not isinstance(text, str) or not text:
        raise invalid(
            "each entry of signedTxs must be a base64-encoded transaction", code="INVALID_TRANSACTION"
        )
    try:
        return VersionedTransaction.from_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise invalid(
            f"signedTxs holds something that is not a base64 VersionedTransaction: {exc}",
            code="INVALID_TRANSACTION",
        ) from None


def message_key(txs: list[VersionedTransaction]) -> str:
    """Identity of a build: the hash of its transactions' messages, in order (signatures excluded)."""
    digest = hashlib.sha256()
    for tx in txs:
        digest.update(hashlib.sha256(bytes(tx.message)).digest())
    return digest.hexdigest()


def unsigned_signers(tx: VersionedTransaction) -> list[str]:
    """Signers whose signature is missing or does not verify over the message."""
    keys = tx.message.account_keys[: tx.message.header.num_required_signatures]
    if len(tx.signatures) != len(keys):
        return [str(k) for k in keys]
    return [str(key) for key, ok in zip(keys, tx.verify_with_results(), strict=True) if not ok]


def check_signed(bundle: list[VersionedTransaction]) -> None:
    for tx in bundle:
        _check_signed(tx)


def _check_signed(tx: VersionedTransaction) -> None:
    missing = unsigned_signers(tx)
    if missing:
        raise AsgardError(
            "SIGNATURE_VERIFICATION_FAILED",
            "transaction signature verification failed: sign the message of each transaction in "
            "signedTxs with the wallet and fill the wallet's own signature slot",
            name="TransactionSignatureError",
            details={"unsignedOrInvalid": missing, "signature": str(tx.signatures[0])},
        )
