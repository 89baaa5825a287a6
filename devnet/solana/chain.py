"""The Solana chain the devnet runs: LiteSVM executes transactions; this module adds what LiteSVM
lacks to behave like a cluster seen through RPC.

- Slots advance on the real clock (`slot_ms`, 400 ms by default). Every slot has a blockhash; a
  blockhash stays usable until the block height passes its `lastValidBlockHeight` (issued height +
  150), exactly as on mainnet. LiteSVM's own check (only the newest hash) is switched off.
- A landed transaction's status moves processed → confirmed (next slot) → finalized (32 slots).
- SPL mints live at their real mainnet addresses (USDC, jitoSOL, mSOL, jupSOL, INF) with their real
  decimals; the faucet mints into associated token accounts.
- Transactions the fault book drops are acknowledged and never land, as on a congested cluster.
- `send` runs preflight (signatures, node health, simulation) only without `skip_preflight`, as a
  validator's RPC does; what the leader would then refuse (bad signature, stale blockhash, a fee
  payer that cannot pay) is acknowledged and never lands. A landed transaction keeps what
  `getTransaction` shows: the transaction, balances and token balances before and after.
- Airdrops are transactions too: each has its own signature and status.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from devnet.jsonrpc import NodeError
from shared.assets import SLOTS_PER_EPOCH, TOKENS, Chain

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")

BLOCKHASH_VALIDITY = 150  # blocks
FINALIZED_AFTER = 32  # slots
GENESIS_SLOT = 380_000_000
GENESIS_HEIGHT = 358_000_000
KEEP_SLOTS = 400  # blockhashes remembered (older ones are long expired)
TOKEN_ACCOUNT_LAMPORTS = 2_039_280
MINT_LAMPORTS = 1_461_600

# Faucet mint authority: a fixed devnet key so minted supply is consistent.
_MINT_AUTHORITY = Pubkey.from_string("BasisDevnetMintAuthority1111111111111111111")


class RpcError(NodeError):
    """A JSON-RPC error as the validator would return it."""


@dataclass
class TokenBalance:
    """A token account's balance before or after a transaction (what `getTransaction` meta lists)."""

    account_index: int
    mint: Pubkey
    owner: Pubkey
    program: Pubkey
    amount: int
    decimals: int


@dataclass
class LandedTx:
    signature: str
    slot: int
    err: Any  # solders TransactionError or None
    logs: list[str]
    fee: int
    units: int
    # What `getTransaction` shows; absent for the faucet's airdrops.
    tx: VersionedTransaction | None = None
    block_time: int | None = None
    pre_balances: list[int] = field(default_factory=list)
    post_balances: list[int] = field(default_factory=list)
    pre_token_balances: list[TokenBalance] = field(default_factory=list)
    post_token_balances: list[TokenBalance] = field(default_factory=list)


@dataclass
class SimResult:
    err: Any
    logs: list[str]
    units: int
    # States after the run of the accounts asked for (None: the account does not exist).
    accounts: list[Account | None] = field(default_factory=list)
    # {"programId", "data": [base64, "base64"]} when a program set return data, as RPC shows it.
    return_data: dict[str, Any] | None = None


def _blockhash_for(seed: int, slot: int) -> Hash:
    return Hash(hashlib.sha256(f"basis-devnet:{seed}:slot:{slot}".encode()).digest())


class SolanaChain:
    def __init__(self, seed: int, slot_ms: int = 400, real: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.slot_ms = slot_ms
        self._real = real
        self._lock = threading.RLock()
        # Signatures and blockhashes are checked here (`_check`, `blockhash_valid`) with mainnet's rules;
        # LiteSVM only executes. Its `with_*` builders change the instance in place.
        self.svm = LiteSVM().with_blockhash_check(False).with_sigverify(False)
        self._start_real_ms = int(real() * 1000)
        self._slot_offset = 0  # slots added by `skip_slots`
        self._halted_at: int | None = None  # real ms when production stopped (outage)
        self._halted_total_ms = 0
        self._synced_slot = GENESIS_SLOT - 1
        self._hashes: OrderedDict[str, tuple[int, int]] = (
            OrderedDict()
        )  # blockhash → (slot, last valid height)
        self._landed: dict[str, LandedTx] = {}
        self.drop_hook: Callable[[], bool] = lambda: False
        self._create_mints()
        self._sync()

    # ------------------------------------------------------------------ slots and blockhashes
    def _current_slot(self) -> int:
        now = int(self._real() * 1000)
        halted = self._halted_total_ms + (now - self._halted_at if self._halted_at is not None else 0)
        return GENESIS_SLOT + max(0, now - self._start_real_ms - halted) // self.slot_ms + self._slot_offset

    def _sync(self) -> int:
        with self._lock:
            slot = self._current_slot()
            if slot > self._synced_slot:
                first = max(self._synced_slot + 1, slot - KEEP_SLOTS)
                for s in range(first, slot + 1):
                    height = self.height_at(s)
                    self._hashes[str(_blockhash_for(self.seed, s))] = (s, height + BLOCKHASH_VALIDITY)
                while len(self._hashes) > KEEP_SLOTS:
                    self._hashes.popitem(last=False)
                self._synced_slot = slot
            return slot

    @staticmethod
    def height_at(slot: int) -> int:
        return GENESIS_HEIGHT + (slot - GENESIS_SLOT)

    @property
    def slot(self) -> int:
        return self._sync()

    @property
    def block_height(self) -> int:
        return self.height_at(self._sync())

    def latest_blockhash(self) -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight) of the newest slot."""
        slot = self._sync()
        return _blockhash_for(self.seed, slot), self.height_at(slot) + BLOCKHASH_VALIDITY

    def blockhash_at(self, slot: int) -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight) of an earlier slot: what `finalized` commitment hands out."""
        slot = max(GENESIS_SLOT, min(slot, self._sync()))
        return _blockhash_for(self.seed, slot), self.height_at(slot) + BLOCKHASH_VALIDITY

    def blockhash_valid(self, blockhash: Hash | str) -> bool:
        self._sync()
        entry = self._hashes.get(str(blockhash))
        return entry is not None and self.block_height <= entry[1]

    def skip_slots(self, n: int) -> None:
        """Jump the cluster forward `n` slots at once (tests: expire a blockhash without waiting)."""
        if n < 0:
            raise ValueError("slots only move forward")
        with self._lock:
            self._slot_offset += n
            self._sync()

    def halt(self, halted: bool) -> None:
        """Stop (or restart) block production: the slot goes stale, as in a cluster outage."""
        with self._lock:
            now = int(self._real() * 1000)
            if halted and self._halted_at is None:
                self._halted_at = now
            elif not halted and self._halted_at is not None:
                self._halted_total_ms += now - self._halted_at
                self._halted_at = None

    @property
    def halted(self) -> bool:
        return self._halted_at is not None

    # ------------------------------------------------------------------ accounts
    def _create_mints(self) -> None:
        for (_asset, chain), tok in TOKENS.items():
            if chain is not Chain.SOLANA or tok.address is None:
                continue
            mint = Mint(
                mint_authority=_MINT_AUTHORITY,
                supply=0,
                decimals=tok.decimals,
                is_initialized=True,
                freeze_authority=None,
            )
            self.svm.set_account(
                Pubkey.from_string(tok.address),
                Account(lamports=MINT_LAMPORTS, data=bytes(mint), owner=TOKEN_PROGRAM, executable=False),
            )

    def balance(self, owner: Pubkey) -> int:
        """Lamports held by `owner` (0 for an account that does not exist)."""
        with self._lock:
            return self.svm.get_balance(owner) or 0

    def airdrop(self, owner: Pubkey, lamports: int) -> Signature:
        """Send lamports from the faucet; the transfer lands like any transaction, with a status."""
        if lamports <= 0:
            raise ValueError("airdrop amount must be positive")
        with self._lock:
            self._sync()
            # A fresh LiteSVM blockhash per airdrop, so two equal airdrops are two transactions.
            self.svm.expire_blockhash()
            result = self.svm.airdrop(owner, lamports)
            if isinstance(result, FailedTransactionMetadata):
                raise RpcError(-32603, f"airdrop failed: {describe_error(result.err())}")
            signature = result.signature()
            self._landed[str(signature)] = LandedTx(
                str(signature),
                self._synced_slot,
                None,
                list(result.logs()),
                result.fee(),
                result.compute_units_consumed(),
                block_time=int(self._real()),
            )
            return signature

    def mint_to(self, owner: Pubkey, mint: Pubkey, amount: int) -> Pubkey:
        """Credit `amount` raw units of `mint` to `owner`'s associated token account (created if missing)."""
        if amount <= 0:
            raise ValueError("mint amount must be positive")
        with self._lock:
            mint_acc = self.svm.get_account(mint)
            if mint_acc is None:
                raise ValueError(f"unknown mint {mint}")
            ata = get_associated_token_address(owner, mint)
            existing = self.svm.get_account(ata)
            held = TokenAccount.from_bytes(bytes(existing.data)).amount if existing is not None else 0
            account = TokenAccount(
                mint=mint,
                owner=owner,
                amount=held + amount,
                delegate=None,
                state=TokenAccountState.Initialized,
                is_native=None,
                delegated_amount=0,
                close_authority=None,
            )
            self.svm.set_account(
                ata,
                Account(
                    lamports=TOKEN_ACCOUNT_LAMPORTS,
                    data=bytes(account),
                    owner=TOKEN_PROGRAM,
                    executable=False,
                ),
            )
            m = Mint.from_bytes(bytes(mint_acc.data))
            new_mint = Mint(
                mint_authority=m.mint_authority,
                supply=m.supply + amount,
                decimals=m.decimals,
                is_initialized=True,
                freeze_authority=m.freeze_authority,
            )
            self.svm.set_account(
                mint,
                Account(
                    lamports=mint_acc.lamports, data=bytes(new_mint), owner=TOKEN_PROGRAM, executable=False
                ),
            )
            return ata

    def token_accounts(
        self, owner: Pubkey, mint: Pubkey | None = None, program: Pubkey = TOKEN_PROGRAM
    ) -> list[tuple[Pubkey, TokenAccount, Account]]:
        """Token accounts owned by `owner`, optionally of one mint."""
        with self._lock:
            out = []
            for address, acc in self.svm.get_program_accounts(program):
                try:
                    ta = TokenAccount.from_bytes(bytes(acc.data))
                except Exception:  # mints and multisigs share the program
                    continue
                if ta.owner == owner and (mint is None or ta.mint == mint):
                    out.append((address, ta, acc))
            return out

    def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        return sum(ta.amount for _, ta, _ in self.token_accounts(owner, mint))

    def account(self, address: Pubkey) -> Account | None:
        with self._lock:
            return self.svm.get_account(address)

    def put_account(self, address: Pubkey, account: Account) -> None:
        """Write an account a program the devnet does not run would own (a stake pool's state)."""
        with self._lock:
            self.svm.set_account(address, account)

    def mint_decimals(self, mint: Pubkey) -> int:
        acc = self.account(mint)
        if acc is None:
            raise ValueError(f"unknown mint {mint}")
        return Mint.from_bytes(bytes(acc.data)).decimals

    # ------------------------------------------------------------------ transactions
    def _check(self, tx: VersionedTransaction, verify_signatures: bool = True) -> None:
        message = tx.message
        n_required = message.header.num_required_signatures
        if len(tx.signatures) != n_required:
            raise RpcError(
                -32013,
                f"Transaction signature length mismatch: expected {n_required}, got {len(tx.signatures)}",
            )
        if verify_signatures and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")

    def send(self, tx: VersionedTransaction, *, skip_preflight: bool = False) -> Signature:
        """Submit like `sendTransaction`: verify, check the blockhash, execute, remember the status.

        As on a validator, preflight (signature check, node health, simulation) happens only without
        `skip_preflight`; a skipped transaction that would fail those checks is acknowledged and
        never lands, because the leader drops it.
        """
        signature = tx.signatures[0]
        sig_str = str(signature)
        if not skip_preflight:
            self._check(tx)
        with self._lock:
            self._sync()
            if not skip_preflight and self.halted:
                raise RpcError(-32005, "Node is unhealthy", {"numSlotsBehind": None})
            if sig_str in self._landed:
                if skip_preflight:
                    return signature
                raise _preflight_error("AlreadyProcessed", [], 0)
            if not self.blockhash_valid(message_blockhash(tx)):
                if skip_preflight:
                    return signature  # accepted by the RPC node, never lands
                raise _preflight_error("BlockhashNotFound", [], 0)
            if skip_preflight and (self.halted or not all(tx.verify_with_results())):
                return signature  # the leader's signature check (or a stalled cluster) drops it
            # Preflight runs on the RPC node, before the transaction travels (and may be lost) to the leader.
            if not skip_preflight:
                sim = self.simulate(tx, verify_signatures=False)
                if sim.err is not None:
                    raise _preflight_error(sim.err, sim.logs, sim.units)
            if self.drop_hook():
                return signature  # dropped on the way to the leader
            self._sync_svm_clock()
            keys = list(tx.message.account_keys)
            pre_balances = [self.svm.get_balance(k) or 0 for k in keys]
            pre_tokens = self._token_balances(keys)
            result = self.svm.send_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                meta = result.meta()
                err = result.err()
                if _never_lands(err):
                    return signature  # the leader cannot charge a fee for it: it is not in any block
            else:
                meta, err = result, None
            self._landed[sig_str] = LandedTx(
                sig_str,
                self._synced_slot,
                err,
                list(meta.logs()),
                meta.fee(),
                meta.compute_units_consumed(),
                tx=tx,
                block_time=int(self._real()),
                pre_balances=pre_balances,
                post_balances=[self.svm.get_balance(k) or 0 for k in keys],
                pre_token_balances=pre_tokens,
                post_token_balances=self._token_balances(keys),
            )
            return signature

    def _token_balances(self, keys: list[Pubkey]) -> list[TokenBalance]:
        out = []
        for index, key in enumerate(keys):
            acc = self.svm.get_account(key)
            if acc is None or acc.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) or len(acc.data) < 165:
                continue
            try:
                ta = TokenAccount.from_bytes(bytes(acc.data)[:165])
                mint_acc = self.svm.get_account(ta.mint)
                decimals = Mint.from_bytes(bytes(mint_acc.data)[:82]).decimals if mint_acc else 0
            except Exception:  # not a token account (a mint, a multisig)
                continue
            out.append(TokenBalance(index, ta.mint, ta.owner, acc.owner, ta.amount, decimals))
        return out

    def simulate(
        self,
        tx: VersionedTransaction,
        *,
        verify_signatures: bool = False,
        replace_blockhash: bool = False,
        accounts: list[Pubkey] | None = None,
    ) -> SimResult:
        """Run without committing, like `simulateTransaction`; `accounts`: states wanted after the run."""
        if verify_signatures:
            self._check(tx)
        wanted = accounts or []
        with self._lock:
            if not replace_blockhash and not self.blockhash_valid(message_blockhash(tx)):
                return SimResult("BlockhashNotFound", [], 0, [None] * len(wanted))
            self._sync_svm_clock()
            result = self.svm.simulate_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                meta = result.meta()
                # A failed run changes nothing: report the accounts as they stand.
                states = [self.svm.get_account(k) for k in wanted]
                return SimResult(
                    result.err(), list(meta.logs()), meta.compute_units_consumed(), states, _return_data(meta)
                )
            meta = result.meta()
            post = dict(result.post_accounts())
            states = [post[k] if k in post else self.svm.get_account(k) for k in wanted]
            return SimResult(
                None, list(meta.logs()), meta.compute_units_consumed(), states, _return_data(meta)
            )

    def transaction_count(self) -> int:
        """Transactions that landed (successful or not), like `getTransactionCount`."""
        with self._lock:
            return len(self._landed)

    def status(self, signature: str) -> tuple[LandedTx, int] | None:
        """(landed transaction, confirmations) or None if it never landed."""
        with self._lock:
            landed = self._landed.get(signature)
            if landed is None:
                return None
            return landed, self._sync() - landed.slot

    def _sync_svm_clock(self) -> None:
        # Programs that read the Clock sysvar see the cluster's slot and the wall clock.
        slot = self._synced_slot
        now = int(self._real())
        clock = self.svm.get_clock()
        if clock.slot != slot or clock.unix_timestamp != now:
            epoch, index = divmod(slot, SLOTS_PER_EPOCH)
            epoch_start = now - index * self.slot_ms // 1000
            self.svm.set_clock(Clock(slot, epoch_start, epoch, epoch + 1, now))


def message_blockhash(tx: VersionedTransaction) -> Hash:
    return tx.message.recent_blockhash


# Failures a leader rejects before charging the fee: such a transaction is in no block and has no status.
_UNCHARGEABLE = {
    "AccountNotFound",
    "InsufficientFundsForFee",
    "InvalidAccountForFee",
    "AlreadyProcessed",
    "BlockhashNotFound",
    "SignatureFailure",
    "SanitizeFailure",
    "AccountLoadedTwice",
    "AccountInUse",
    "TooManyAccountLocks",
    "MissingSignatureForFee",
}


def _never_lands(err: Any) -> bool:
    return str(err).rsplit(".", 1)[-1] in _UNCHARGEABLE


def _return_data(meta: Any) -> dict[str, Any] | None:
    data = meta.return_data()
    if data is None or not bytes(data.data):
        return None
    import base64

    return {
        "programId": str(data.program_id),
        "data": [base64.b64encode(bytes(data.data)).decode(), "base64"],
    }


def _preflight_error(err: Any, logs: list[str], units: int) -> RpcError:
    """-32002 'Transaction simulation failed', with the simulation result as data."""
    from solders.rpc.responses import RpcSimulateTransactionResult
    from solders.transaction_status import TransactionErrorFieldless

    if isinstance(err, str):
        err_obj = getattr(TransactionErrorFieldless, err)
        text = {
            "BlockhashNotFound": "Blockhash not found",
            "AlreadyProcessed": "This transaction has already been processed",
        }.get(err, err)
    else:
        err_obj = err
        text = describe_error(err)
    result = RpcSimulateTransactionResult(
        err=err_obj, logs=logs, accounts=None, units_consumed=units, return_data=None
    )
    import json

    return RpcError(-32002, f"Transaction simulation failed: {text}", json.loads(result.to_json()))


# The validator's wording (Display of TransactionError / InstructionError) for the errors bots meet.
_TX_ERROR_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "ClusterMaintenance": "Transactions are currently disabled due to cluster maintenance",
    "WouldExceedMaxBlockCostLimit": "Transaction would exceed max Block Cost Limit",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidWritableAccount": "Transaction loads a writable account that cannot be written",
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "InvalidRentPayingAccount": "Transaction leaves an account with a lower balance than rent-exempt minimum",
}
_IX_ERROR_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountNotExecutable": "instruction expected an executable account",
    "ExternalAccountLamportSpend": "instruction spent from the balance of an account it does not own",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "ProgramFailedToComplete": "Program failed to complete",
    "InvalidAccountOwner": "Invalid account owner",
    "ArithmeticOverflow": "Program arithmetic overflowed",
    "IncorrectAuthority": "Incorrect authority provided",
    "PrivilegeEscalation": "Cross-program invocation with unauthorized signer or writable account",
    "MissingAccount": "An account required by the instruction is missing",
    "UnsupportedProgramId": "Unsupported program id",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "IllegalOwner": "Provided owner is not allowed",
    "Immutable": "Account is immutable",
}


def describe_error(err: Any) -> str:
    """A TransactionError as the validator prints it (e.g. in "Transaction simulation failed: …")."""
    import json

    from solders.transaction_status import TransactionStatus

    value = (
        err
        if isinstance(err, str)
        else json.loads(TransactionStatus(0, None, None, err, None).to_json())["err"]
    )
    if isinstance(value, str):
        return _TX_ERROR_TEXT.get(value, value)
    name, detail = next(iter(value.items()))
    if name == "InstructionError":
        index, ix_err = detail
        if isinstance(ix_err, dict):
            ix_name, ix_detail = next(iter(ix_err.items()))
            text = (
                f"custom program error: {ix_detail:#x}" if ix_name == "Custom" else f"{ix_name}: {ix_detail}"
            )
        else:
            text = _IX_ERROR_TEXT.get(ix_err, ix_err)
        return f"Error processing Instruction {index}: {text}"
    if name == "InsufficientFundsForRent":
        return (
            f"Transaction results in an account ({detail['account_index']}) with insufficient funds for rent"
        )
    if name == "DuplicateInstruction":
        return f"Transaction contains a duplicate instruction ({detail}) that is not allowed"
    return f"{name}: {detail}"
