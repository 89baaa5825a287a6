"""The Arbitrum One chain the devnet runs: accounts, native USDC, the Hyperliquid bridge, blocks.

- Validation of a raw transaction follows geth's transaction pool, with its error wording: chain id,
  replay protection, intrinsic gas (which on Arbitrum includes the L1 data cost), fee cap against the
  base fee, nonce, balance for gas × price + value.
- Accepted transactions are mined at once, one per block, as Arbitrum's sequencer does in a quiet
  moment. Between them the block number advances on the real clock (a block per 250 ms) with empty
  blocks, so a client waiting for confirmations sees them come.
- Gas is paid at the base fee (Arbitrum ignores priority fees). A failed call is mined with status 0:
  the fee is charged and the nonce used, nothing else changes.
- A USDC transfer to the Hyperliquid Bridge2 address of at least 5 USDC calls `bridge_handler` with
  the sender; a smaller one stays in the bridge and is never credited, as on mainnet.
- A transaction the fault book drops gets its hash back and is never mined.
- Balances have no history: every block tag reads the current state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import is_address, keccak, to_checksum_address

from devnet.arbitrum.transactions import SignedTx, TxDecodeError, decode_raw_transaction
from devnet.arbitrum.usdc import USDC_ADDRESS, CallResult, Log, UsdcToken
from devnet.config import DevnetConfig
from devnet.faults import FaultBook
from devnet.jsonrpc import NodeError
from shared.assets import ARBITRUM_CHAIN_ID, HYPERLIQUID_BRIDGE, HYPERLIQUID_MIN_DEPOSIT_USDC
from shared.logging import get_logger

log = get_logger("devnet.arbitrum")

BRIDGE_ADDRESS = to_checksum_address(HYPERLIQUID_BRIDGE)
MIN_DEPOSIT_RAW = HYPERLIQUID_MIN_DEPOSIT_USDC * 10**6
# Arbitrum One's floor base fee (0.01 gwei), which is what it charges outside congestion.
BASE_FEE_WEI = 10_000_000
BLOCK_MS = 250
GENESIS_BLOCK = 300_000_000
L1_GENESIS_BLOCK = 21_000_000
L1_BLOCK_S = 12
# Arbitrum's block gas limit as reported in headers, and the most one transaction may use.
HEADER_GAS_LIMIT = 0x4000000000000
MAX_TX_GAS = 32_000_000
MAX_TX_SIZE = 128 * 1024
TX_GAS = 21_000
# L1 data cost, expressed in L2 gas per byte of the signed transaction (Arbitrum adds it to intrinsic gas).
L1_GAS_PER_BYTE = 16
# eth_estimateGas has no signature yet: it assumes the envelope adds this many bytes to the calldata.
ESTIMATE_ENVELOPE_BYTES = 140
SEQUENCER = "0xA4b000000000000000000073657175656e636572"
# Contracts that exist on mainnet and matter here (stand-in bytecode: eth_getCode only shows there is code).
# Any call into the bridge reverts: it has no entry point a plain call or transfer could reach.
CODE = {
    USDC_ADDRESS: bytes.fromhex("60806040526004361061004e5760003560e01c80633659cfe6146100"),
    BRIDGE_ADDRESS: bytes.fromhex("608060405234801561001057600080fd5b50600436106100"),
}


class ChainError(NodeError):
    """A JSON-RPC error as geth (Arbitrum Nitro) answers it: -32000 and a sentence, or 3 for a revert."""

    def __init__(self, message: str, code: int = -32000, data: str | None = None) -> None:
        super().__init__(code, message, data)


@dataclass
class Receipt:
    tx: SignedTx
    block_number: int
    status: int
    gas_used: int
    gas_used_for_l1: int
    effective_gas_price: int
    logs: list[Log]
    contract_address: str | None = None


@dataclass
class Block:
    number: int
    timestamp: int
    l1_block_number: int
    receipts: list[Receipt] = field(default_factory=list)

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.receipts)


@dataclass
class BridgeTotals:
    deposits: int = 0
    credited_raw: int = 0
    lost: int = 0
    lost_raw: int = 0


def block_hash(seed: int, number: int) -> bytes:
    return keccak(text=f"basis-devnet:{seed}:arbitrum-block:{number}")


def intrinsic_gas(data: bytes, access_list: tuple[Any, ...], envelope_size: int) -> int:
    """21000 + calldata (16 per non-zero byte, 4 per zero) + access list + Arbitrum's L1 data cost."""
    zeros = data.count(0)
    gas = TX_GAS + 16 * (len(data) - zeros) + 4 * zeros
    for entry in access_list:
        gas += 2_400 + 1_900 * len(entry.storage_keys)
    return gas + L1_GAS_PER_BYTE * envelope_size


def checksum(address: str) -> str:
    if not isinstance(address, str) or not is_address(address):
        raise ValueError(f"{address!r} is not an EVM address (0x and 40 hex digits)")
    return to_checksum_address(address)


class ArbitrumChain:
    def __init__(
        self, config: DevnetConfig, faults: FaultBook, real: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.faults = faults
        self.chain_id = ARBITRUM_CHAIN_ID
        self.base_fee = BASE_FEE_WEI
        self.bridge_handler: Callable[[str, int], None] | None = None
        self.usdc = UsdcToken()
        self._real = real
        self._start_s = real()
        self._lock = threading.RLock()
        self._eth: dict[str, int] = {}
        self._nonces: dict[str, int] = {}
        self._blocks: dict[int, Block] = {}  # blocks with a transaction; the others are empty
        self._receipts: dict[bytes, Receipt] = {}
        self._hash_to_number: dict[bytes, int] = {}
        self._last_mined = GENESIS_BLOCK
        self._dropped: list[str] = []
        self.bridge = BridgeTotals()

    # ------------------------------------------------------------------ faucet (admin)
    def credit_eth(self, address: str, wei: int) -> None:
        if wei < 0:
            raise ValueError("amount must not be negative")
        with self._lock:
            key = checksum(address)
            self._eth[key] = self._eth.get(key, 0) + wei

    def credit_usdc(self, address: str, raw: int) -> None:
        if raw < 0:
            raise ValueError("amount must not be negative")
        with self._lock:
            self.usdc.mint(checksum(address), raw)

    # ------------------------------------------------------------------ reads
    def _time_block(self) -> int:
        return GENESIS_BLOCK + int((self._real() - self._start_s) * 1000) // BLOCK_MS

    @property
    def block_number(self) -> int:
        with self._lock:
            return max(self._last_mined, self._time_block())

    def eth_balance(self, address: str) -> int:
        with self._lock:
            return self._eth.get(checksum(address), 0)

    def usdc_balance(self, address: str) -> int:
        with self._lock:
            return self.usdc.balance_of(checksum(address))

    def nonce(self, address: str) -> int:
        with self._lock:
            return self._nonces.get(checksum(address), 0)

    def code(self, address: str) -> bytes:
        return CODE.get(checksum(address), b"")

    def block(self, number: int) -> Block | None:
        """Block `number` (mined or empty), or None beyond the head."""
        with self._lock:
            if number > self.block_number or number < 0:
                return None
            mined = self._blocks.get(number)
            if mined is not None:
                return mined
            elapsed_s = max(0, number - GENESIS_BLOCK) * BLOCK_MS / 1000
            return Block(number, int(self._start_s + elapsed_s), self._l1_block(self._start_s + elapsed_s))

    def block_hash(self, number: int) -> bytes:
        digest = block_hash(self.config.seed, number)
        self._hash_to_number[digest] = number
        return digest

    def block_number_of(self, digest: bytes) -> int | None:
        """The number of a block by hash; every hash a client can know was handed out by `block_hash`."""
        return self._hash_to_number.get(digest)

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        with self._lock:
            return self._receipts.get(tx_hash)

    def mined_blocks(self, first: int, last: int) -> list[Block]:
        with self._lock:
            return [self._blocks[n] for n in sorted(self._blocks) if first <= n <= last]

    def _l1_block(self, at_s: float) -> int:
        return L1_GENESIS_BLOCK + int(at_s - self._start_s) // L1_BLOCK_S

    # ------------------------------------------------------------------ calls
    def call(self, sender: str, to: str | None, data: bytes, value: int) -> CallResult:
        """Run a call without committing (eth_call)."""
        with self._lock:
            if to == USDC_ADDRESS:
                return self.usdc.execute(sender, data, value, commit=False)
            if to == BRIDGE_ADDRESS:
                return CallResult(False, b"", 0)
            return CallResult(True, b"", 0)

    def estimate_gas(
        self, sender: str, to: str | None, data: bytes, value: int, access_list: tuple = ()
    ) -> int:
        """Gas a transaction with these fields would use, L1 data cost included (eth_estimateGas)."""
        with self._lock:
            if value and self._eth.get(sender, 0) < value:
                raise ChainError("insufficient funds for transfer")
            result = self.call(sender, to, data, value)
            if not result.success:
                raise revert_error(result)
            return intrinsic_gas(data, access_list, len(data) + ESTIMATE_ENVELOPE_BYTES) + result.gas

    # ------------------------------------------------------------------ transactions
    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Validate like geth's pool, then mine at once (or lose it, if the fault book says so)."""
        try:
            tx = decode_raw_transaction(raw)
        except TxDecodeError as exc:
            raise ChainError(str(exc)) from None
        credit: tuple[str, int] | None = None
        with self._lock:
            self._validate(tx)
            if self.faults.should_drop("arbitrum"):
                self._dropped.append("0x" + tx.hash.hex())
                log.info("arbitrum tx dropped (fault)", tx="0x" + tx.hash.hex())
                return tx.hash
            receipt = self._mine(tx)
            credit = self._bridge_credit(receipt)
        if credit is not None and self.bridge_handler is not None:
            try:
                self.bridge_handler(*credit)
            except Exception:  # the deposit is on-chain either way; a failing listener must not undo it
                log.exception("bridge handler failed", sender=credit[0], raw=credit[1])
        return tx.hash

    def _validate(self, tx: SignedTx) -> None:
        if tx.chain_id is None:
            raise ChainError("only replay-protected (EIP-155) transactions allowed over RPC")
        if tx.chain_id != self.chain_id:
            raise ChainError(f"invalid chain id for signer: have {tx.chain_id} want {self.chain_id}")
        if len(tx.raw) > MAX_TX_SIZE:
            raise ChainError(f"oversized data: transaction size {len(tx.raw)}, limit {MAX_TX_SIZE}")
        if tx.to is None:
            raise ChainError("contract creation is not supported on this devnet")
        if tx.gas > MAX_TX_GAS:
            raise ChainError("exceeds block gas limit")
        if tx.type == 2 and tx.tip_cap > tx.fee_cap:
            raise ChainError(
                f"max priority fee per gas higher than max fee per gas: address {tx.sender}, "
                f"maxPriorityFeePerGas: {tx.tip_cap}, maxFeePerGas: {tx.fee_cap}"
            )
        needed = intrinsic_gas(tx.data, tx.access_list, len(tx.raw))
        if tx.gas < needed:
            raise ChainError(f"intrinsic gas too low: gas {tx.gas}, minimum needed {needed}")
        if tx.fee_cap < self.base_fee:
            raise ChainError(
                f"max fee per gas less than block base fee: address {tx.sender}, "
                f"maxFeePerGas: {tx.fee_cap}, baseFee: {self.base_fee}"
            )
        state_nonce = self._nonces.get(tx.sender, 0)
        if tx.nonce < state_nonce:
            raise ChainError(f"nonce too low: address {tx.sender}, tx: {tx.nonce} state: {state_nonce}")
        if tx.nonce > state_nonce:
            raise ChainError(f"nonce too high: address {tx.sender}, tx: {tx.nonce} state: {state_nonce}")
        have = self._eth.get(tx.sender, 0)
        want = tx.gas * tx.fee_cap + tx.value
        if have < want:
            raise ChainError(
                f"insufficient funds for gas * price + value: address {tx.sender} have {have} want {want}"
            )

    def _mine(self, tx: SignedTx) -> Receipt:
        number = max(self._last_mined, self._time_block()) + 1
        now = self._real()
        l1_gas = L1_GAS_PER_BYTE * len(tx.raw)
        intrinsic = intrinsic_gas(tx.data, tx.access_list, len(tx.raw))
        sender, to = tx.sender, tx.to
        assert to is not None  # contract creation is refused in _validate
        # Execution: dry-run first, commit only if the gas limit covers it.
        if to == USDC_ADDRESS:
            result = self.usdc.execute(sender, tx.data, tx.value, commit=False)
        elif to == BRIDGE_ADDRESS:
            result = CallResult(False, b"", 0)
        else:
            result = CallResult(True, b"", 0)
        gas_used = intrinsic + result.gas
        status = 1 if result.success else 0
        if gas_used > tx.gas:
            status, gas_used = 0, tx.gas  # out of gas: all of it is spent
        logs: list[Log] = []
        if status == 1:
            if to == USDC_ADDRESS:
                result = self.usdc.execute(sender, tx.data, tx.value, commit=True)
                logs = result.logs
            if tx.value:
                self._eth[sender] = self._eth.get(sender, 0) - tx.value
                self._eth[to] = self._eth.get(to, 0) + tx.value
        self._eth[sender] = self._eth.get(sender, 0) - gas_used * self.base_fee
        self._nonces[sender] = tx.nonce + 1
        block = Block(number, int(now), self._l1_block(now))
        receipt = Receipt(tx, number, status, gas_used, min(l1_gas, gas_used), self.base_fee, logs)
        block.receipts.append(receipt)
        self._blocks[number] = block
        self._receipts[tx.hash] = receipt
        self._last_mined = number
        return receipt

    def _bridge_credit(self, receipt: Receipt) -> tuple[str, int] | None:
        """A successful USDC transfer into Bridge2: count it, and name who Hyperliquid credits."""
        for entry in receipt.logs:
            if entry.address != USDC_ADDRESS or len(entry.topics) != 3:
                continue
            recipient = to_checksum_address(entry.topics[2][12:])
            if recipient != BRIDGE_ADDRESS:
                continue
            sender = to_checksum_address(entry.topics[1][12:])
            amount = int.from_bytes(entry.data, "big")
            if amount >= MIN_DEPOSIT_RAW:
                self.bridge.deposits += 1
                self.bridge.credited_raw += amount
                log.info("bridge deposit", sender=sender, raw=amount)
                return sender.lower(), amount
            self.bridge.lost += 1
            self.bridge.lost_raw += amount
            log.info("bridge deposit below the minimum: lost", sender=sender, raw=amount)
        return None

    # ------------------------------------------------------------------ admin
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            addresses = sorted(set(self._eth) | set(self.usdc.balances) | set(self._nonces))
            return {
                "chain_id": self.chain_id,
                "block_number": self.block_number,
                "base_fee_wei": self.base_fee,
                "transactions": len(self._receipts),
                "accounts": {
                    a: {
                        "eth_wei": str(self._eth.get(a, 0)),
                        "usdc_raw": self.usdc.balance_of(a),
                        "nonce": self._nonces.get(a, 0),
                    }
                    for a in addresses
                },
                # Transactions are mined as they arrive: nothing waits; dropped ones are never mined.
                "pending": [],
                "dropped": list(self._dropped),
                "bridge": {
                    "address": BRIDGE_ADDRESS,
                    "deposits": self.bridge.deposits,
                    "credited_raw": self.bridge.credited_raw,
                    "lost": self.bridge.lost,
                    "lost_raw": self.bridge.lost_raw,
                    "held_raw": self.usdc.balance_of(BRIDGE_ADDRESS),
                },
                "usdc_total_supply_raw": self.usdc.total_supply,
            }


def revert_error(result: CallResult) -> ChainError:
    reason = result.revert_reason
    if reason is None and not result.output:
        return ChainError("execution reverted")
    message = f"execution reverted: {reason}" if reason is not None else "execution reverted"
    return ChainError(message, code=3, data="0x" + result.output.hex())
