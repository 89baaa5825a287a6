"""The Arbitrum JSON-RPC front of the devnet: an ASGI app that answers like an Arbitrum Nitro (geth) node.

Quantities are 0x-hex without leading zeros, data is 0x-hex, errors use geth's codes and wording:
-32700 "parse error", -32600 "invalid request", -32601 "the method X does not exist/is not available",
-32602 "invalid argument N: …", -32000 for rejected transactions, 3 "execution reverted: …" with the
revert data. Batches and notifications follow JSON-RPC 2.0; a body that is not JSON gets geth's 415.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from eth_utils import keccak, to_checksum_address

from devnet.arbitrum.chain import (
    HEADER_GAS_LIMIT,
    MAX_TX_GAS,
    SEQUENCER,
    ArbitrumChain,
    Block,
    ChainError,
    Receipt,
    revert_error,
)
from devnet.arbitrum.transactions import AccessListEntry, SignedTx
from devnet.arbitrum.usdc import Log
from devnet.jsonrpc import Handler, JsonRpcNode, NodeError, read_body, reply

CLIENT_VERSION = "nitro/v3.6.5-89cef87"
MAX_BODY = 5 * 1024 * 1024
MAX_BATCH = 1000
MAX_FEE_HISTORY = 1024
BLOCK_TAGS = ("latest", "pending", "earliest", "safe", "finalized")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
ZERO_HASH = "0x" + "00" * 32


class InvalidParams(NodeError):
    """-32602 with geth's "invalid argument N: …" message."""

    def __init__(self, message: str) -> None:
        super().__init__(-32602, message)


def _missing(index: int) -> InvalidParams:
    return InvalidParams(f"missing value for required argument {index}")


def _bad(index: int, message: str) -> InvalidParams:
    return InvalidParams(f"invalid argument {index}: {message}")


# ---------------------------------------------------------------------------------------------- hex
def hex_int(value: int) -> str:
    return hex(value)


def hex_bytes(value: bytes) -> str:
    return "0x" + value.hex()


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def parse_quantity(value: Any, index: int, go_type: str = "hexutil.Big", bits: int = 256) -> int:
    """A JSON quantity: "0x" + hex digits, no leading zeros (geth's hexutil rules)."""
    if not isinstance(value, str):
        raise _bad(index, f"json: cannot unmarshal {_go_type(value)} into Go value of type {go_type}")
    if not value.startswith(("0x", "0X")):
        raise _bad(index, "hex string without 0x prefix")
    digits = value[2:]
    if not digits:
        raise _bad(index, 'hex string "0x"')
    if len(digits) > 1 and digits[0] == "0":
        raise _bad(index, "hex number with leading zero digits")
    try:
        number = int(digits, 16)
    except ValueError:
        raise _bad(index, "invalid hex string") from None
    if number.bit_length() > bits:
        raise _bad(index, f"hex number > {bits} bits")
    return number


def parse_data(value: Any, index: int) -> bytes:
    if not isinstance(value, str):
        raise _bad(index, f"json: cannot unmarshal {_go_type(value)} into Go value of type hexutil.Bytes")
    if not value.startswith(("0x", "0X")):
        raise _bad(index, "hex string without 0x prefix")
    if len(value) % 2:
        raise _bad(index, "hex string of odd length")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _bad(index, "invalid hex string") from None


def parse_address(value: Any, index: int) -> str:
    raw = _fixed_hex(value, index, 20, "common.Address")
    return to_checksum_address(raw)


def parse_hash(value: Any, index: int) -> bytes:
    return _fixed_hex(value, index, 32, "common.Hash")


def _fixed_hex(value: Any, index: int, size: int, go_type: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(index, f"json: cannot unmarshal {_go_type(value)} into Go value of type {go_type}")
    if not value.startswith(("0x", "0X")):
        raise _bad(index, "hex string without 0x prefix")
    digits = value[2:]
    if len(digits) != 2 * size:
        raise _bad(index, f"hex string has length {len(digits)}, want {2 * size} for {go_type}")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise _bad(index, "invalid hex string") from None


class EthRpc(JsonRpcNode):
    """The method table over one `ArbitrumChain`, behind the devnet's JSON-RPC envelope in geth's words
    (a notification runs, as geth executes it, but gets no answer)."""

    parse_error = "parse error"
    invalid_request = "invalid request"
    empty_batch = "empty batch"
    internal_error = "internal error"
    max_batch = MAX_BATCH
    id_first = True

    def __init__(self, chain: ArbitrumChain) -> None:
        self.chain = chain
        self.methods: dict[str, Handler] = {
            "eth_chainId": self.eth_chain_id,
            "net_version": self.net_version,
            "net_listening": lambda params: True,
            "web3_clientVersion": lambda params: CLIENT_VERSION,
            "eth_syncing": lambda params: False,
            "eth_accounts": lambda params: [],
            "eth_blockNumber": self.eth_block_number,
            "eth_getBalance": self.eth_get_balance,
            "eth_getTransactionCount": self.eth_get_transaction_count,
            "eth_getCode": self.eth_get_code,
            "eth_call": self.eth_call,
            "eth_estimateGas": self.eth_estimate_gas,
            "eth_gasPrice": self.eth_gas_price,
            "eth_maxPriorityFeePerGas": lambda params: "0x0",
            "eth_feeHistory": self.eth_fee_history,
            "eth_sendRawTransaction": self.eth_send_raw_transaction,
            "eth_sendTransaction": self.eth_send_transaction,
            "eth_getTransactionByHash": self.eth_get_transaction_by_hash,
            "eth_getTransactionReceipt": self.eth_get_transaction_receipt,
            "eth_getBlockByNumber": self.eth_get_block_by_number,
            "eth_getBlockByHash": self.eth_get_block_by_hash,
            "eth_getLogs": self.eth_get_logs,
        }

    # ------------------------------------------------------------------ envelope (devnet/jsonrpc.py)
    def refuse(self, request: dict[str, Any]) -> dict[str, Any] | None:
        request_id = request.get("id")
        if not _valid_id(request_id):
            return self.error(None, -32600, self.invalid_request)
        method = request.get("method")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method:
            return self.error(request_id, -32600, self.invalid_request)
        return None

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id, method = request.get("id"), request["method"]
        params = request.get("params")
        if params is None:
            params = []
        if not isinstance(params, list):
            return self.error(request_id, -32602, "non-array args")
        handler = self.methods.get(method)
        if handler is None:
            return self.error(request_id, -32601, f"the method {method} does not exist/is not available")
        return self.run(request_id, handler, params)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _args(params: list[Any], required: int, most: int) -> list[Any]:
        if len(params) > most:
            raise InvalidParams(f"too many arguments, want at most {most}")
        for i in range(required):
            if i >= len(params) or params[i] is None:
                raise _missing(i)
        return params + [None] * (most - len(params))

    def _block_number(self, value: Any, index: int, required: bool = True) -> int:
        """A block tag, number or EIP-1898 object → a block number at or below the head."""
        head = self.chain.block_number
        if value is None:
            if required:
                raise _missing(index)
            return head
        if isinstance(value, dict):
            if "blockHash" in value:
                number = self.chain.block_number_of(parse_hash(value["blockHash"], index))
                if number is None:
                    raise ChainError(f"header for hash {value['blockHash']} not found")
                return number
            if "blockNumber" in value:
                return self._block_number(value["blockNumber"], index)
            raise _bad(index, "types BlockNumber or BlockHash are required")
        if isinstance(value, str) and value in BLOCK_TAGS:
            return 0 if value == "earliest" else head
        if isinstance(value, str) and len(value) == 66:
            number = self.chain.block_number_of(parse_hash(value, index))
            if number is None:
                raise ChainError(f"header for hash {value} not found")
            return number
        number = parse_quantity(value, index, "BlockNumber", 63)
        if number > head:
            raise ChainError("header not found")
        return number

    def _tx_args(self, value: Any, index: int) -> dict[str, Any]:
        """A TransactionArgs object (eth_call, eth_estimateGas)."""
        if not isinstance(value, dict):
            raise _bad(
                index,
                f"json: cannot unmarshal {_go_type(value)} into Go value of type ethapi.TransactionArgs",
            )
        sender = parse_address(value["from"], index) if value.get("from") is not None else ZERO_ADDRESS
        to = parse_address(value["to"], index) if value.get("to") is not None else None
        data = parse_data(value["data"], index) if value.get("data") is not None else None
        given_input = parse_data(value["input"], index) if value.get("input") is not None else None
        if data is not None and given_input is not None and data != given_input:
            raise _bad(
                index,
                'both "data" and "input" are set and not equal. '
                'Please use "input" to pass transaction call data',
            )
        out = {
            "from": sender,
            "to": to,
            "data": given_input if given_input is not None else (data or b""),
            "value": parse_quantity(value["value"], index) if value.get("value") is not None else 0,
            "gas": parse_quantity(value["gas"], index, "hexutil.Uint64", 64)
            if value.get("gas") is not None
            else None,
            "access_list": (),
        }
        if value.get("accessList"):
            entries = value["accessList"]
            if not isinstance(entries, list):
                raise _bad(index, "json: cannot unmarshal into Go struct field TransactionArgs.accessList")
            out["access_list"] = tuple(
                AccessListEntry(
                    parse_address(e.get("address"), index),
                    tuple(parse_hash(k, index) for k in e.get("storageKeys") or []),
                )
                for e in entries
                if isinstance(e, dict)
            )
        for name in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"):
            if value.get(name) is not None:
                parse_quantity(value[name], index)
        return out

    # ------------------------------------------------------------------ chain
    def eth_chain_id(self, params: list[Any]) -> Any:
        return hex_int(self.chain.chain_id)

    def net_version(self, params: list[Any]) -> Any:
        return str(self.chain.chain_id)

    def eth_block_number(self, params: list[Any]) -> Any:
        return hex_int(self.chain.block_number)

    def eth_gas_price(self, params: list[Any]) -> Any:
        return hex_int(self.chain.base_fee)

    def eth_get_balance(self, params: list[Any]) -> Any:
        address, block = self._args(params, 2, 2)
        checksum = parse_address(address, 0)
        self._block_number(block, 1)
        return hex_int(self.chain.eth_balance(checksum))

    def eth_get_transaction_count(self, params: list[Any]) -> Any:
        address, block = self._args(params, 2, 2)
        checksum = parse_address(address, 0)
        self._block_number(block, 1)
        return hex_int(self.chain.nonce(checksum))

    def eth_get_code(self, params: list[Any]) -> Any:
        address, block = self._args(params, 2, 2)
        checksum = parse_address(address, 0)
        self._block_number(block, 1)
        return hex_bytes(self.chain.code(checksum))

    def eth_call(self, params: list[Any]) -> Any:
        args, block, _state, _block_overrides = self._args(params, 1, 4)
        call = self._tx_args(args, 0)
        self._block_number(block, 1, required=False)
        result = self.chain.call(call["from"], call["to"], call["data"], call["value"])
        if not result.success:
            raise revert_error(result)
        return hex_bytes(result.output)

    def eth_estimate_gas(self, params: list[Any]) -> Any:
        args, block, _state = self._args(params, 1, 3)
        call = self._tx_args(args, 0)
        self._block_number(block, 1, required=False)
        if call["to"] is None:
            raise ChainError("contract creation is not supported on this devnet")
        gas = self.chain.estimate_gas(
            call["from"], call["to"], call["data"], call["value"], call["access_list"]
        )
        cap = call["gas"] if call["gas"] is not None else MAX_TX_GAS
        if gas > cap:
            raise ChainError(f"gas required exceeds allowance ({cap})")
        return hex_int(gas)

    def eth_fee_history(self, params: list[Any]) -> Any:
        count_value, newest_value, percentiles = self._args(params, 2, 3)
        if isinstance(count_value, int) and not isinstance(count_value, bool):
            count = count_value
        elif isinstance(count_value, str) and count_value.isdigit():
            count = int(count_value)
        else:
            count = parse_quantity(count_value, 0, "math.HexOrDecimal64", 64)
        newest = self._block_number(newest_value, 1)
        if percentiles is not None:
            if not isinstance(percentiles, list) or not all(
                isinstance(p, (int, float)) and not isinstance(p, bool) for p in percentiles
            ):
                raise _bad(2, "json: cannot unmarshal into Go value of type []float64")
            for i, p in enumerate(percentiles):
                if not 0 <= p <= 100 or (i and p < percentiles[i - 1]):
                    raise ChainError(f"invalid reward percentile: #{i}:{p}")
        count = min(count, MAX_FEE_HISTORY, newest + 1)
        if count == 0:
            return {"oldestBlock": "0x0", "baseFeePerGas": [], "gasUsedRatio": []}
        oldest = newest - count + 1
        used = {b.number: b.gas_used for b in self.chain.mined_blocks(oldest, newest)}
        fee = hex_int(self.chain.base_fee)
        out: dict[str, Any] = {
            "oldestBlock": hex_int(oldest),
            "baseFeePerGas": [fee] * (count + 1),
            "gasUsedRatio": [used.get(n, 0) / MAX_TX_GAS for n in range(oldest, newest + 1)],
            "baseFeePerBlobGas": ["0x0"] * (count + 1),
            "blobGasUsedRatio": [0.0] * count,
        }
        if percentiles:
            # Arbitrum ignores priority fees: every percentile of every block is zero.
            out["reward"] = [["0x0"] * len(percentiles) for _ in range(count)]
        return out

    # ------------------------------------------------------------------ transactions
    def eth_send_raw_transaction(self, params: list[Any]) -> Any:
        (raw,) = self._args(params, 1, 1)
        return hex_bytes(self.chain.send_raw_transaction(parse_data(raw, 0)))

    def eth_send_transaction(self, params: list[Any]) -> Any:
        self._args(params, 1, 1)
        raise ChainError("unknown account")  # the node holds no keys: sign locally, send raw

    def eth_get_transaction_by_hash(self, params: list[Any]) -> Any:
        (tx_hash,) = self._args(params, 1, 1)
        receipt = self.chain.receipt(parse_hash(tx_hash, 0))
        return None if receipt is None else self._tx_json(receipt)

    def eth_get_transaction_receipt(self, params: list[Any]) -> Any:
        (tx_hash,) = self._args(params, 1, 1)
        receipt = self.chain.receipt(parse_hash(tx_hash, 0))
        return None if receipt is None else self._receipt_json(receipt)

    # ------------------------------------------------------------------ blocks and logs
    def eth_get_block_by_number(self, params: list[Any]) -> Any:
        number_value, full = self._args(params, 2, 2)
        if not isinstance(full, bool):
            raise _bad(1, f"json: cannot unmarshal {_go_type(full)} into Go value of type bool")
        try:
            number = self._block_number(number_value, 0)
        except ChainError:
            return None  # beyond the head: geth answers null
        block = self.chain.block(number)
        return None if block is None else self._block_json(block, full)

    def eth_get_block_by_hash(self, params: list[Any]) -> Any:
        digest, full = self._args(params, 2, 2)
        if not isinstance(full, bool):
            raise _bad(1, f"json: cannot unmarshal {_go_type(full)} into Go value of type bool")
        number = self.chain.block_number_of(parse_hash(digest, 0))
        block = None if number is None else self.chain.block(number)
        return None if block is None else self._block_json(block, full)

    def eth_get_logs(self, params: list[Any]) -> Any:
        (criteria,) = self._args(params, 1, 1)
        if not isinstance(criteria, dict):
            raise _bad(
                0, f"json: cannot unmarshal {_go_type(criteria)} into Go value of type filters.FilterCriteria"
            )
        first, last = self._log_range(criteria)
        addresses, topics = _log_filter(criteria)
        out = []
        for block in self.chain.mined_blocks(first, last):
            for receipt in block.receipts:
                for index, entry in enumerate(receipt.logs):
                    if addresses is not None and entry.address not in addresses:
                        continue
                    if len(topics) > len(entry.topics):
                        continue
                    if any(want is not None and entry.topics[i] not in want for i, want in enumerate(topics)):
                        continue
                    out.append(self._log_json(receipt, entry, index))
        return out

    def _log_range(self, criteria: dict[str, Any]) -> tuple[int, int]:
        """The first and last block a log filter reads: its block hash's, or from/to (tags allowed)."""
        if criteria.get("blockHash") is not None:
            if criteria.get("fromBlock") is not None or criteria.get("toBlock") is not None:
                raise _bad(0, "cannot specify both BlockHash and FromBlock/Choose either")
            number = self.chain.block_number_of(parse_hash(criteria["blockHash"], 0))
            if number is None:
                raise ChainError("unknown block")
            return number, number
        head = self.chain.block_number
        first = self._log_bound(criteria.get("fromBlock"), head)
        last = self._log_bound(criteria.get("toBlock"), head)
        if first > last:
            raise ChainError("invalid block range params")
        return first, last

    def _log_bound(self, value: Any, head: int) -> int:
        if value is None or value in BLOCK_TAGS:
            return 0 if value == "earliest" else head
        return parse_quantity(value, 0, "BlockNumber", 63)

    # ------------------------------------------------------------------ shapes
    def _block_json(self, block: Block, full: bool) -> dict[str, Any]:
        digest = hex_bytes(self.chain.block_hash(block.number))
        txs: list[Any] = [self._tx_json(r) if full else hex_bytes(r.tx.hash) for r in block.receipts]
        bloom = logs_bloom([entry for r in block.receipts for entry in r.logs])
        return {
            "baseFeePerGas": hex_int(self.chain.base_fee),
            "difficulty": "0x1",
            "extraData": ZERO_HASH,
            "gasLimit": hex_int(HEADER_GAS_LIMIT),
            "gasUsed": hex_int(block.gas_used),
            "hash": digest,
            "l1BlockNumber": hex_int(block.l1_block_number),
            "logsBloom": hex_bytes(bloom),
            "miner": SEQUENCER.lower(),
            "mixHash": ZERO_HASH,
            "nonce": "0x0000000000000000",
            "number": hex_int(block.number),
            "parentHash": hex_bytes(self.chain.block_hash(block.number - 1)),
            "receiptsRoot": EMPTY_ROOT if not block.receipts else hex_bytes(_root(b"receipts", block)),
            "sendCount": "0x0",
            "sendRoot": ZERO_HASH,
            "sha3Uncles": EMPTY_UNCLES,
            "size": hex_int(600 + sum(len(r.tx.raw) for r in block.receipts)),
            "stateRoot": hex_bytes(_root(b"state", block)),
            "timestamp": hex_int(block.timestamp),
            "totalDifficulty": hex_int(block.number + 1),
            "transactions": txs,
            "transactionsRoot": EMPTY_ROOT if not block.receipts else hex_bytes(_root(b"txs", block)),
            "uncles": [],
        }

    def _tx_json(self, receipt: Receipt) -> dict[str, Any]:
        tx = receipt.tx
        out: dict[str, Any] = {
            "blockHash": hex_bytes(self.chain.block_hash(receipt.block_number)),
            "blockNumber": hex_int(receipt.block_number),
            "from": tx.sender.lower(),
            "gas": hex_int(tx.gas),
            "gasPrice": hex_int(receipt.effective_gas_price if tx.type == 2 else tx.gas_price or 0),
            "hash": hex_bytes(tx.hash),
            "input": hex_bytes(tx.data),
            "nonce": hex_int(tx.nonce),
            "to": tx.to.lower() if tx.to else None,
            "transactionIndex": "0x0",
            "value": hex_int(tx.value),
            "type": hex_int(tx.type),
            "v": hex_int(tx.v),
            "r": hex_int(tx.r),
            "s": hex_int(tx.s),
        }
        if tx.chain_id is not None:
            out["chainId"] = hex_int(tx.chain_id)
        if tx.type:
            out["accessList"] = _access_list_json(tx)
            out["yParity"] = hex_int(tx.y_parity)
        if tx.type == 2:
            out["maxFeePerGas"] = hex_int(tx.max_fee_per_gas or 0)
            out["maxPriorityFeePerGas"] = hex_int(tx.max_priority_fee_per_gas or 0)
        return out

    def _receipt_json(self, receipt: Receipt) -> dict[str, Any]:
        tx = receipt.tx
        return {
            "blockHash": hex_bytes(self.chain.block_hash(receipt.block_number)),
            "blockNumber": hex_int(receipt.block_number),
            "contractAddress": receipt.contract_address,
            "cumulativeGasUsed": hex_int(receipt.gas_used),
            "effectiveGasPrice": hex_int(receipt.effective_gas_price),
            "from": tx.sender.lower(),
            "gasUsed": hex_int(receipt.gas_used),
            "gasUsedForL1": hex_int(receipt.gas_used_for_l1),
            "l1BlockNumber": hex_int(self.chain.block(receipt.block_number).l1_block_number),  # type: ignore[union-attr]
            "logs": [self._log_json(receipt, entry, i) for i, entry in enumerate(receipt.logs)],
            "logsBloom": hex_bytes(logs_bloom(receipt.logs)),
            "status": hex_int(receipt.status),
            "to": tx.to.lower() if tx.to else None,
            "transactionHash": hex_bytes(tx.hash),
            "transactionIndex": "0x0",
            "type": hex_int(tx.type),
        }

    def _log_json(self, receipt: Receipt, entry: Log, index: int) -> dict[str, Any]:
        return {
            "address": entry.address.lower(),
            "topics": [hex_bytes(t) for t in entry.topics],
            "data": hex_bytes(entry.data),
            "blockNumber": hex_int(receipt.block_number),
            "transactionHash": hex_bytes(receipt.tx.hash),
            "transactionIndex": "0x0",
            "blockHash": hex_bytes(self.chain.block_hash(receipt.block_number)),
            "logIndex": hex_int(index),
            "removed": False,
        }


def bloom(items: Iterable[bytes]) -> bytes:
    """The 2048-bit bloom filter of `items`: three bits from each item's keccak (yellow paper, eq. 26-29)."""
    bits = 0
    for item in items:
        digest = keccak(item)
        for i in (0, 2, 4):
            bits |= 1 << (int.from_bytes(digest[i : i + 2], "big") & 2047)
    return bits.to_bytes(256, "big")


def logs_bloom(logs: list[Log]) -> bytes:
    """A receipt's or block's bloom: every log's address and topics."""
    return bloom(item for entry in logs for item in (bytes.fromhex(entry.address[2:]), *entry.topics))


def _access_list_json(tx: SignedTx) -> list[dict[str, Any]]:
    return [
        {"address": e.address.lower(), "storageKeys": [hex_bytes(k) for k in e.storage_keys]}
        for e in tx.access_list
    ]


def _root(kind: bytes, block: Block) -> bytes:
    # Stand-in trie roots: stable per block and contents, not Merkle-Patricia roots.
    return keccak(kind + block.number.to_bytes(8, "big") + b"".join(r.tx.hash for r in block.receipts))


def _log_filter(criteria: dict[str, Any]) -> tuple[set[str] | None, list[set[bytes] | None]]:
    """A log filter's addresses (None: any) and topics by position (None at a position: any there)."""
    addresses_value = criteria.get("address")
    if addresses_value is None:
        addresses: set[str] | None = None
    elif isinstance(addresses_value, list):
        addresses = {parse_address(a, 0) for a in addresses_value}
    else:
        addresses = {parse_address(addresses_value, 0)}
    topics_value = criteria.get("topics") or []
    if not isinstance(topics_value, list) or len(topics_value) > 4:
        raise _bad(0, "invalid topic(s)" if isinstance(topics_value, list) else "invalid topics")
    topics: list[set[bytes] | None] = []
    for position in topics_value:
        if position is None:
            topics.append(None)
        elif isinstance(position, list):
            topics.append({parse_hash(t, 0) for t in position if t is not None} or None)
        else:
            topics.append({parse_hash(position, 0)})
    return addresses, topics


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


# ---------------------------------------------------------------------------------------------- ASGI
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ACCEPTED_TYPES = (b"application/json", b"application/json-rpc", b"application/jsonrequest")


def create_app(chain: ArbitrumChain) -> ASGIApp:
    """The JSON-RPC endpoint: POST on any path; an empty GET answers 200 (geth's health probe)."""
    rpc = EthRpc(chain)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        headers = dict(scope["headers"])
        if method == "OPTIONS":
            await reply(send, 200, b"", b"text/plain", cors_methods=b"POST, GET, OPTIONS")
            return
        if method == "GET" and not scope.get("query_string") and headers.get(b"content-length", b"0") == b"0":
            await reply(send, 200, b"", b"text/plain")
            return
        if method != "POST":
            await reply(send, 405, b"method not allowed\n", b"text/plain; charset=utf-8")
            return
        body = await read_body(receive, MAX_BODY)
        if len(body) > MAX_BODY:
            text = f"content length too large ({len(body)}>{MAX_BODY})\n".encode()
            await reply(send, 413, text, b"text/plain; charset=utf-8")
            return
        content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if content_type not in ACCEPTED_TYPES:
            text = b"invalid content type, only application/json is supported\n"
            await reply(send, 415, text, b"text/plain; charset=utf-8")
            return
        await reply(send, 200, rpc.answer_body(body), b"application/json")

    return app
