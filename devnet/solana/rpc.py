"""The Solana JSON-RPC front of the devnet: an ASGI app that answers like an agave validator.

Requests and answers follow the official RPC docs (solana-foundation/developer-content, docs/rpc/http):
`{"context":{"slot","apiVersion"},"value":…}` envelopes where the validator uses them, the
validator's error codes (-32002 preflight, -32003 signature, -32005 unhealthy, -32016 min context
slot, -32602 with "Invalid param: …" messages), batches, notifications, 415 for a body that is not
JSON. The chain itself (slots, blockhash expiry, execution) is `devnet.solana.chain.SolanaChain`.

Commitment: `processed` reads the newest slot, `confirmed` the one before, `finalized` the slot 32
back; that is the slot reported in `context` and the blockhash `getLatestBlockhash` hands out.
Account data has no history in LiteSVM, so every commitment reads the newest account state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.message import Message, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionStatus

from devnet.jsonrpc import Handler, JsonRpcNode, read_body, reply
from devnet.solana.chain import (
    FINALIZED_AFTER,
    GENESIS_SLOT,
    SLOTS_PER_EPOCH,
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    RpcError,
    SolanaChain,
)

# What `getVersion` and every `context.apiVersion` report: a recent agave release.
SOLANA_CORE_VERSION = "2.2.20"
FEATURE_SET = 3294202862
LAMPORTS_PER_SIGNATURE = 5_000
U64_MAX = 2**64 - 1
# Limits of the validator (agave rpc.rs and rpc-client-api request.rs).
MAX_REQUEST_BODY = 50 * 1024
PACKET_DATA_SIZE = 1232
MAX_BASE58_TX = 1683
MAX_BASE64_TX = 1644
MAX_SIGNATURE_STATUS_ITEMS = 256
MAX_MULTIPLE_ACCOUNTS = 100
MAX_BASE58_ACCOUNT_BYTES = 128
# The status cache answers for this many slots; older signatures need searchTransactionHistory.
STATUS_CACHE_SLOTS = 300
MAX_AIRDROP_LAMPORTS = 1_000_000 * 10**9
TOKEN_ACCOUNT_LEN = 165  # SPL Token account state, bytes
MINT_LEN = 82  # SPL Token mint state, bytes
COMMITMENT_LAG = {"processed": 0, "confirmed": 1, "finalized": FINALIZED_AFTER}
TX_TYPE = "solana_transaction::versioned::VersionedTransaction"
COMPUTE_BUDGET_PROGRAM = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
DEFAULT_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000


# ---------------------------------------------------------------------------------------------- errors
def _invalid_params(message: str) -> RpcError:
    return RpcError(-32602, message)


def _serde_kind(value: Any) -> str:
    """How serde names an unexpected JSON value in 'invalid type: …' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _wrong_type(value: Any, expected: str) -> RpcError:
    return _invalid_params(f"Invalid params: invalid type: {_serde_kind(value)}, expected {expected}.")


# ---------------------------------------------------------------------------------------------- base58
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58decode(text: str) -> bytes:
    """Bitcoin-alphabet base58 (what Solana uses for keys, signatures and legacy tx encoding)."""
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            raise ValueError(f"InvalidCharacter {{ character: {char!r}, index: {text.index(char)} }}")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_B58[digit])
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + "".join(reversed(out))


# ---------------------------------------------------------------------------------------------- params
def _arg(params: list[Any], index: int, required: int) -> Any:
    if len(params) < required:
        raise _invalid_params(f"`params` should have at least {required} argument(s)")
    return params[index] if index < len(params) else None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(value, "a string")
    return value


def _parse_key(value: Any, max_len: int, size: int) -> bytes:
    # Pubkey / Hash / Signature `from_str` in the validator: WrongSize or Invalid.
    text = _string(value)
    if len(text) > max_len:
        raise _invalid_params("Invalid param: WrongSize")
    try:
        raw = b58decode(text)
    except ValueError:
        raise _invalid_params("Invalid param: Invalid") from None
    if len(raw) != size:
        raise _invalid_params("Invalid param: WrongSize")
    return raw


def _pubkey(value: Any) -> Pubkey:
    return Pubkey.from_bytes(_parse_key(value, 44, 32))


def _hash(value: Any) -> Hash:
    return Hash(_parse_key(value, 44, 32))


def _signature(value: Any) -> Signature:
    return Signature.from_bytes(_parse_key(value, 88, 64))


def _config(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type(value, "a map")
    return value


def _bool(config: dict[str, Any], key: str, default: bool = False) -> bool:
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong_type(value, "a boolean")
    return value


def _u64(value: Any, what: str = "u64") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(value, what)
    if not 0 <= value <= U64_MAX:
        raise _invalid_params(f"Invalid params: invalid value: integer `{value}`, expected {what}.")
    return value


def _commitment(config: dict[str, Any], key: str = "commitment") -> str:
    value = config.get(key)
    if value is None:
        return "finalized"
    if not isinstance(value, str):
        raise _wrong_type(value, "variant identifier")
    # Agave 2.x knows only these three (recent/single/root/max were removed).
    if value not in COMMITMENT_LAG:
        variants = "`processed`, `confirmed`, `finalized`"
        raise _invalid_params(f"Invalid params: unknown variant `{value}`, expected one of {variants}.")
    return value


# The validator's two encoding enums: for account data and for transactions.
ACCOUNT_ENCODINGS = ("binary", "base58", "base64", "jsonParsed", "base64+zstd")
TX_ENCODINGS = ("binary", "base64", "base58", "json", "jsonParsed")


def _encoding(config: dict[str, Any], variants: tuple[str, ...], default: str) -> str:
    value = config.get("encoding")
    if value is None:
        return default
    if not isinstance(value, str):
        raise _wrong_type(value, "a string")
    if value not in variants:
        names = ", ".join(f"`{k}`" for k in variants)
        raise _invalid_params(f"Invalid params: unknown variant `{value}`, expected one of {names}.")
    return value


def _binary_tx_encoding(config: dict[str, Any]) -> str:
    """sendTransaction / simulateTransaction take base58 (the default) or base64 only."""
    encoding = _encoding(config, TX_ENCODINGS, "base58")
    encoding = "base58" if encoding == "binary" else encoding
    if encoding not in ("base58", "base64"):
        raise _invalid_params(f"unsupported encoding: {encoding}. Supported encodings: base58, base64")
    return encoding


def _b64decode(text: str) -> bytes:
    """Standard padded base64, failing with the Rust base64 crate's error names."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    for index, char in enumerate(body):
        if char not in alphabet:
            raise ValueError(f"InvalidByte({index}, {ord(char)})")
    if len(body) % 4 == 1:
        raise ValueError(f"InvalidLength({len(body)})")
    if len(text) % 4:
        raise ValueError("InvalidPadding")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("InvalidPadding") from None


# ---------------------------------------------------------------------------------------------- shapes
def ui_amount_string(amount: int, decimals: int) -> str:
    """The validator's `uiAmountString`: the decimal amount without trailing zeros."""
    if decimals == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**decimals)
    frac_text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def token_amount(amount: int, decimals: int) -> dict[str, Any]:
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": ui_amount_string(amount, decimals),
    }


def transaction_error_json(err: Any) -> Any:
    """A solders TransactionError (or fieldless name) as the validator serialises it."""
    if err is None:
        return None
    if isinstance(err, str):
        return err
    status = TransactionStatus(0, None, None, err, None)
    return json.loads(status.to_json())["err"]


class SolanaRpc(JsonRpcNode):
    """The method table over one `SolanaChain`, behind the devnet's JSON-RPC envelope in agave's words."""

    def __init__(self, chain: SolanaChain) -> None:
        self.chain = chain
        # A devnet of its own: its genesis hash and node identity are not mainnet's, so a tool can tell.
        self.genesis_hash = b58encode(hashlib.sha256(f"basis-devnet-genesis:{chain.seed}".encode()).digest())
        self.identity = b58encode(hashlib.sha256(f"basis-devnet-identity:{chain.seed}".encode()).digest())
        self.methods: dict[str, Handler] = {
            "getAccountInfo": self.get_account_info,
            "getBalance": self.get_balance,
            "getBlockHeight": self.get_block_height,
            "getEpochInfo": self.get_epoch_info,
            "getFeeForMessage": self.get_fee_for_message,
            "getGenesisHash": self.get_genesis_hash,
            "getHealth": self.get_health,
            "getLatestBlockhash": self.get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getSignatureStatuses": self.get_signature_statuses,
            "getSlot": self.get_slot,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTransaction": self.get_transaction,
            "getTransactionCount": self.get_transaction_count,
            "getTokenSupply": self.get_token_supply,
            "getIdentity": self.get_identity,
            "getEpochSchedule": self.get_epoch_schedule,
            "getVersion": self.get_version,
            "isBlockhashValid": self.is_blockhash_valid,
            "requestAirdrop": self.request_airdrop,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
        }

    # ------------------------------------------------------------------ envelope (devnet/jsonrpc.py)
    def refuse(self, request: dict[str, Any]) -> dict[str, Any] | None:
        has_id = "id" in request
        request_id = request.get("id")
        if (
            not isinstance(request.get("method"), str)
            or request.get("jsonrpc", "2.0") != "2.0"
            or (has_id and not _valid_id(request_id))
        ):
            return self.error(
                request_id if has_id and _valid_id(request_id) else None, -32600, self.invalid_request
            )
        return None

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id, params = request.get("id"), request.get("params", [])
        handler = self.methods.get(request["method"])
        if handler is None:
            return self.error(request_id, -32601, "Method not found")
        if params is None:
            params = []
        if not isinstance(params, list):
            return self.error(
                request_id, -32602, f"Invalid params: invalid type: {_serde_kind(params)}, expected a tuple."
            )
        return self.run(request_id, handler, params)

    # ------------------------------------------------------------------ helpers
    def _slot(self, commitment: str) -> int:
        return max(GENESIS_SLOT, self.chain.slot - COMMITMENT_LAG[commitment])

    def _context_slot(self, config: dict[str, Any]) -> int:
        slot = self._slot(_commitment(config))
        min_slot = config.get("minContextSlot")
        if min_slot is not None and _u64(min_slot) > slot:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": slot})
        return slot

    @staticmethod
    def _ctx(slot: int, value: Any) -> dict[str, Any]:
        return {"context": {"apiVersion": SOLANA_CORE_VERSION, "slot": slot}, "value": value}

    def _ui_account(
        self, address: Pubkey, account: Account, encoding: str, data_slice: dict[str, Any] | None
    ) -> dict[str, Any]:
        data = bytes(account.data)
        if data_slice is not None and encoding != "jsonParsed":
            offset, length = data_slice["offset"], data_slice["length"]
            data = data[offset : offset + length]
        encoded: Any
        if encoding == "jsonParsed":
            encoded = self._parsed_data(account) or [base64.b64encode(data).decode(), "base64"]
        elif encoding == "binary":
            encoded = b58encode(data)
        elif encoding == "base58":
            encoded = [b58encode(data), "base58"]
        elif encoding == "base64+zstd":
            encoded = [base64.b64encode(zstd_frame(data)).decode(), "base64+zstd"]
        else:
            encoded = [base64.b64encode(data).decode(), "base64"]
        return {
            "data": encoded,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            "rentEpoch": U64_MAX,
            "space": len(bytes(account.data)),
        }

    def _parsed_data(self, account: Account) -> dict[str, Any] | None:
        """jsonParsed for SPL token accounts and mints (others fall back to base64, as on mainnet)."""
        if account.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            return None
        data = bytes(account.data)
        program = "spl-token" if account.owner == TOKEN_PROGRAM else "spl-token-2022"
        if len(data) >= TOKEN_ACCOUNT_LEN and (
            len(data) == TOKEN_ACCOUNT_LEN or data[TOKEN_ACCOUNT_LEN] == 2
        ):
            try:
                ta = TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
            except Exception:
                return None
            return {
                "program": program,
                "parsed": {"info": self._token_info(ta), "type": "account"},
                "space": len(data),
            }
        if len(data) >= MINT_LEN:
            try:
                mint = Mint.from_bytes(data[:MINT_LEN])
            except Exception:
                return None
            info = {
                "decimals": mint.decimals,
                "freezeAuthority": str(mint.freeze_authority) if mint.freeze_authority else None,
                "isInitialized": mint.is_initialized,
                "mintAuthority": str(mint.mint_authority) if mint.mint_authority else None,
                "supply": str(mint.supply),
            }
            return {"program": program, "parsed": {"info": info, "type": "mint"}, "space": len(data)}
        return None

    def _token_info(self, ta: TokenAccount) -> dict[str, Any]:
        try:
            decimals = self.chain.mint_decimals(ta.mint)
        except ValueError:
            decimals = 0
        if ta.state == TokenAccountState.Initialized:
            state = "initialized"
        elif ta.state == TokenAccountState.Frozen:
            state = "frozen"
        else:
            state = "uninitialized"
        info: dict[str, Any] = {
            "isNative": ta.is_native is not None,
            "mint": str(ta.mint),
            "owner": str(ta.owner),
            "state": state,
            "tokenAmount": token_amount(ta.amount, decimals),
        }
        if ta.delegate is not None:
            info["delegate"] = str(ta.delegate)
            info["delegatedAmount"] = token_amount(ta.delegated_amount, decimals)
        if ta.is_native is not None:
            info["rentExemptReserve"] = token_amount(ta.is_native, 9)
        if ta.close_authority is not None:
            info["closeAuthority"] = str(ta.close_authority)
        return info

    def _account_config(self, config: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        encoding = _encoding(config, ACCOUNT_ENCODINGS, "binary")
        data_slice = config.get("dataSlice")
        if data_slice is not None:
            if not isinstance(data_slice, dict) or "offset" not in data_slice or "length" not in data_slice:
                raise _wrong_type(data_slice, "struct UiDataSliceConfig")
            data_slice = {
                "offset": _u64(data_slice["offset"], "usize"),
                "length": _u64(data_slice["length"], "usize"),
            }
        return encoding, data_slice

    def _check_base58_size(self, encoding: str, account: Account, data_slice: dict[str, Any] | None) -> None:
        if encoding not in ("binary", "base58"):
            return
        size = len(bytes(account.data))
        if data_slice is not None:
            size = max(0, min(size - data_slice["offset"], data_slice["length"]))
        if size > MAX_BASE58_ACCOUNT_BYTES:
            raise _invalid_params(
                f"Encoded binary (base 58) data should be less than {MAX_BASE58_ACCOUNT_BYTES} bytes, "
                "please use Base64 encoding."
            )

    # ------------------------------------------------------------------ accounts
    def get_balance(self, params: list[Any]) -> Any:
        owner = _pubkey(_arg(params, 0, 1))
        slot = self._context_slot(_config(_arg(params, 1, 1)))
        return self._ctx(slot, self.chain.balance(owner))

    def get_account_info(self, params: list[Any]) -> Any:
        address = _pubkey(_arg(params, 0, 1))
        config = _config(_arg(params, 1, 1))
        encoding, data_slice = self._account_config(config)
        slot = self._context_slot(config)
        account = self.chain.account(address)
        if account is None:
            return self._ctx(slot, None)
        self._check_base58_size(encoding, account, data_slice)
        return self._ctx(slot, self._ui_account(address, account, encoding, data_slice))

    def get_multiple_accounts(self, params: list[Any]) -> Any:
        keys = _arg(params, 0, 1)
        if not isinstance(keys, list):
            raise _wrong_type(keys, "a sequence")
        if len(keys) > MAX_MULTIPLE_ACCOUNTS:
            raise _invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        addresses = [_pubkey(k) for k in keys]
        config = _config(_arg(params, 1, 1))
        encoding, data_slice = self._account_config(config)
        slot = self._context_slot(config)
        values = []
        for address in addresses:
            account = self.chain.account(address)
            if account is None:
                values.append(None)
                continue
            self._check_base58_size(encoding, account, data_slice)
            values.append(self._ui_account(address, account, encoding, data_slice))
        return self._ctx(slot, values)

    def get_token_accounts_by_owner(self, params: list[Any]) -> Any:
        owner = _pubkey(_arg(params, 0, 2))
        flt = _arg(params, 1, 2)
        config = _config(_arg(params, 2, 2))
        if not isinstance(flt, dict):
            raise _wrong_type(flt, "enum RpcTokenAccountsFilter")
        if len(flt) != 1 or not ({"mint", "programId"} & set(flt)):
            key = next(iter(flt), "")
            raise _invalid_params(f"Invalid params: unknown variant `{key}`, expected `mint` or `programId`.")
        encoding, data_slice = self._account_config(config)
        slot = self._context_slot(config)
        mint: Pubkey | None = None
        if "mint" in flt:
            mint = _pubkey(flt["mint"])
            mint_account = self.chain.account(mint)
            if mint_account is None or mint_account.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                raise _invalid_params("Invalid param: could not find mint")
            program = mint_account.owner
        else:
            program = _pubkey(flt["programId"])
            if program not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                raise _invalid_params("Invalid param: unrecognized Token program id")
        values = []
        for address, _ta, account in self.chain.token_accounts(owner, mint, program):
            self._check_base58_size(encoding, account, data_slice)
            values.append(
                {"account": self._ui_account(address, account, encoding, data_slice), "pubkey": str(address)}
            )
        return self._ctx(slot, values)

    def get_token_account_balance(self, params: list[Any]) -> Any:
        address = _pubkey(_arg(params, 0, 1))
        slot = self._context_slot(_config(_arg(params, 1, 1)))
        account = self.chain.account(address)
        if account is None:
            raise _invalid_params("Invalid param: could not find account")
        data = bytes(account.data)
        if account.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) or len(data) < TOKEN_ACCOUNT_LEN:
            raise _invalid_params("Invalid param: not a Token account")
        try:
            ta = TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
            decimals = self.chain.mint_decimals(ta.mint)
        except Exception:
            raise _invalid_params("Invalid param: not a Token account") from None
        return self._ctx(slot, token_amount(ta.amount, decimals))

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> Any:
        size = _u64(_arg(params, 0, 1), "usize")
        _commitment(_config(_arg(params, 1, 1)))
        # Rent: (128 bytes of overhead + data) × 3480 lamports per byte-year × 2 years.
        return (128 + size) * 3480 * 2

    # ------------------------------------------------------------------ cluster
    def get_slot(self, params: list[Any]) -> Any:
        return self._context_slot(_config(_arg(params, 0, 0)))

    def get_block_height(self, params: list[Any]) -> Any:
        return self.chain.height_at(self._context_slot(_config(_arg(params, 0, 0))))

    def get_epoch_info(self, params: list[Any]) -> Any:
        slot = self._context_slot(_config(_arg(params, 0, 0)))
        return {
            "absoluteSlot": slot,
            "blockHeight": self.chain.height_at(slot),
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": self.chain.transaction_count(),
        }

    def get_latest_blockhash(self, params: list[Any]) -> Any:
        slot = self._context_slot(_config(_arg(params, 0, 0)))
        blockhash, last_valid = self.chain.blockhash_at(slot)
        return self._ctx(slot, {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid})

    def is_blockhash_valid(self, params: list[Any]) -> Any:
        blockhash = _hash(_arg(params, 0, 1))
        slot = self._context_slot(_config(_arg(params, 1, 1)))
        return self._ctx(slot, self.chain.blockhash_valid(blockhash))

    def get_health(self, params: list[Any]) -> Any:
        if self.chain.halted:
            raise RpcError(-32005, "Node is unhealthy", {"numSlotsBehind": None})
        return "ok"

    def get_version(self, params: list[Any]) -> Any:
        return {"feature-set": FEATURE_SET, "solana-core": SOLANA_CORE_VERSION}

    def get_genesis_hash(self, params: list[Any]) -> Any:
        return self.genesis_hash

    def get_recent_prioritization_fees(self, params: list[Any]) -> Any:
        keys = _arg(params, 0, 0)
        if keys is not None:
            if not isinstance(keys, list):
                raise _wrong_type(keys, "a sequence")
            if len(keys) > 128:
                raise _invalid_params("Too many inputs provided; max 128")
            for k in keys:
                _pubkey(k)
        # A quiet cluster: no one paid a priority fee in the recent slots.
        slot = self.chain.slot
        return [{"prioritizationFee": 0, "slot": s} for s in range(max(0, slot - 149), slot + 1)]

    def get_fee_for_message(self, params: list[Any]) -> Any:
        encoded = _string(_arg(params, 0, 1))
        slot = self._context_slot(_config(_arg(params, 1, 1)))
        try:
            raw = _b64decode(encoded)
        except ValueError as exc:
            raise _invalid_params(f"invalid base64 encoding: {exc}") from None
        try:
            message = from_bytes_versioned(raw)
        except Exception:
            message_type = "solana_message::versioned::VersionedMessage"
            raise _invalid_params(
                f"failed to deserialize {message_type}: io error: unexpected end of file"
            ) from None
        if not self.chain.blockhash_valid(message.recent_blockhash):
            return self._ctx(slot, None)
        return self._ctx(slot, message_fee(message))

    # ------------------------------------------------------------------ transactions
    def _decode_tx(self, encoded_value: Any, encoding: str) -> VersionedTransaction:
        encoded = _string(encoded_value)
        limit = MAX_BASE58_TX if encoding == "base58" else MAX_BASE64_TX
        if len(encoded) > limit:
            raise _invalid_params(
                f"{encoding} encoded {TX_TYPE} too large: {len(encoded)} bytes "
                f"(max: encoded/raw {limit}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = b58decode(encoded) if encoding == "base58" else _b64decode(encoded)
        except ValueError as exc:
            raise _invalid_params(f"invalid {encoding} encoding: {exc}") from None
        if len(raw) > PACKET_DATA_SIZE:
            raise _invalid_params(
                f"decoded {TX_TYPE} too large: {len(raw)} bytes (max: {PACKET_DATA_SIZE} bytes)"
            )
        try:
            tx = VersionedTransaction.from_bytes(raw)
        except Exception:
            # bincode's wording for the usual cause (a truncated or garbled buffer).
            raise _invalid_params(
                f"failed to deserialize {TX_TYPE}: io error: unexpected end of file"
            ) from None
        try:
            tx.sanitize()
        except Exception:
            raise _invalid_params(
                "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
            ) from None
        return tx

    def send_transaction(self, params: list[Any]) -> Any:
        config = _config(_arg(params, 1, 1))
        encoding = _binary_tx_encoding(config)
        tx = self._decode_tx(params[0], encoding)
        skip = _bool(config, "skipPreflight")
        _commitment(config, "preflightCommitment")
        if "maxRetries" in config and config["maxRetries"] is not None:
            _u64(config["maxRetries"], "usize")
        self._context_slot({"minContextSlot": config.get("minContextSlot"), "commitment": "processed"})
        return str(self.chain.send(tx, skip_preflight=skip))

    def simulate_transaction(self, params: list[Any]) -> Any:
        config = _config(_arg(params, 1, 1))
        encoding = _binary_tx_encoding(config)
        tx = self._decode_tx(params[0], encoding)
        sig_verify = _bool(config, "sigVerify")
        replace = _bool(config, "replaceRecentBlockhash")
        if sig_verify and replace:
            raise _invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        slot = self._context_slot(config)
        wanted: list[Pubkey] = []
        accounts_cfg = config.get("accounts")
        if accounts_cfg is not None:
            if not isinstance(accounts_cfg, dict) or not isinstance(accounts_cfg.get("addresses"), list):
                raise _wrong_type(accounts_cfg, "struct RpcSimulateTransactionAccountsConfig")
            account_encoding = _encoding(accounts_cfg, ACCOUNT_ENCODINGS, "base64")
            if account_encoding in ("base58", "binary"):
                raise _invalid_params("base58 encoding not supported")
            wanted = [_pubkey(a) for a in accounts_cfg["addresses"]]
            if len(wanted) > len(tx.message.account_keys):
                raise _invalid_params(f"Too many accounts provided; max {len(tx.message.account_keys)}")
        replacement = None
        if replace:
            blockhash, last_valid = self.chain.blockhash_at(self.chain.slot)
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        sim = self.chain.simulate(
            tx, verify_signatures=sig_verify, replace_blockhash=replace, accounts=wanted
        )
        accounts = None
        if accounts_cfg is not None and sim.err is not None:
            accounts = [None] * len(wanted)  # the validator shows no account states for a failed run
        elif accounts_cfg is not None:
            accounts = [
                None if acc is None else self._ui_account(key, acc, account_encoding, None)
                for key, acc in zip(wanted, sim.accounts, strict=True)
            ]
        value: dict[str, Any] = {
            "accounts": accounts,
            "err": transaction_error_json(sim.err),
            "innerInstructions": None,
            "loadedAccountsDataSize": None,
            "logs": sim.logs,
            "replacementBlockhash": replacement,
            "returnData": sim.return_data,
            "unitsConsumed": sim.units,
        }
        return self._ctx(slot, value)

    def get_signature_statuses(self, params: list[Any]) -> Any:
        sigs = _arg(params, 0, 1)
        if not isinstance(sigs, list):
            raise _wrong_type(sigs, "a sequence")
        if len(sigs) > MAX_SIGNATURE_STATUS_ITEMS:
            raise _invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUS_ITEMS}")
        signatures = [str(_signature(s)) for s in sigs]
        config = _config(_arg(params, 1, 1))
        history = _bool(config, "searchTransactionHistory")
        slot = self.chain.slot
        values = []
        for sig in signatures:
            found = self.chain.status(sig)
            if found is None:
                values.append(None)
                continue
            landed, confirmations = found
            if not history and confirmations > STATUS_CACHE_SLOTS:
                values.append(None)
                continue
            err = transaction_error_json(landed.err)
            finalized = confirmations >= FINALIZED_AFTER
            values.append(
                {
                    "confirmationStatus": "finalized"
                    if finalized
                    else "confirmed"
                    if confirmations
                    else "processed",
                    "confirmations": None if finalized else confirmations,
                    "err": err,
                    "slot": landed.slot,
                    "status": {"Ok": None} if err is None else {"Err": err},
                }
            )
        return self._ctx(slot, values)

    def get_transaction(self, params: list[Any]) -> Any:
        signature = str(_signature(_arg(params, 0, 1)))
        config = params[1] if len(params) > 1 else None
        if isinstance(config, str):  # the old form: the encoding alone
            config = {"encoding": config}
        config = _config(config)
        encoding = _encoding(config, TX_ENCODINGS, "json")
        encoding = "base58" if encoding == "binary" else encoding
        commitment = _commitment(config)
        if commitment == "processed":
            raise _invalid_params("Method does not support commitment below `confirmed`")
        max_version = config.get("maxSupportedTransactionVersion")
        if max_version is not None:
            _u64(max_version, "u8")
        found = self.chain.status(signature)
        if found is None or found[0].tx is None:
            return None
        landed, confirmations = found
        if confirmations < COMMITMENT_LAG[commitment]:
            return None
        tx = landed.tx
        version: Any = "legacy" if isinstance(tx.message, Message) else 0
        if version == 0 and max_version is None:
            raise RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try the request "
                'again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
            )
        if encoding in ("base58", "base64"):
            raw = bytes(tx)
            encoded: Any = [
                b58encode(raw) if encoding == "base58" else base64.b64encode(raw).decode(),
                encoding,
            ]
        else:
            encoded = {
                "message": self._ui_message(tx.message, parsed=encoding == "jsonParsed"),
                "signatures": [str(sig) for sig in tx.signatures],
            }
        err = transaction_error_json(landed.err)
        meta = {
            "computeUnitsConsumed": landed.units,
            "err": err,
            "fee": landed.fee,
            "innerInstructions": [],
            "loadedAddresses": {"readonly": [], "writable": []},
            "logMessages": landed.logs,
            "postBalances": landed.post_balances,
            "postTokenBalances": [self._ui_token_balance(b) for b in landed.post_token_balances],
            "preBalances": landed.pre_balances,
            "preTokenBalances": [self._ui_token_balance(b) for b in landed.pre_token_balances],
            "rewards": [],
            "status": {"Ok": None} if err is None else {"Err": err},
        }
        out: dict[str, Any] = {
            "blockTime": landed.block_time,
            "meta": meta,
            "slot": landed.slot,
            "transaction": encoded,
        }
        if max_version is not None:
            out["version"] = version
        return out

    @staticmethod
    def _ui_token_balance(balance: Any) -> dict[str, Any]:
        return {
            "accountIndex": balance.account_index,
            "mint": str(balance.mint),
            "owner": str(balance.owner),
            "programId": str(balance.program),
            "uiTokenAmount": token_amount(balance.amount, balance.decimals),
        }

    def _ui_message(self, message: Any, parsed: bool) -> dict[str, Any]:
        keys = list(message.account_keys)
        header = message.header
        n_signed = header.num_required_signatures
        out: dict[str, Any]
        if parsed:
            out = {
                "accountKeys": [
                    {
                        "pubkey": str(k),
                        "signer": i < n_signed,
                        "source": "transaction",
                        "writable": _is_writable(header, i, len(keys)),
                    }
                    for i, k in enumerate(keys)
                ],
                "instructions": [_parsed_instruction(keys, ix) for ix in message.instructions],
                "recentBlockhash": str(message.recent_blockhash),
            }
        else:
            out = {
                "accountKeys": [str(k) for k in keys],
                "header": {
                    "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                    "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                    "numRequiredSignatures": n_signed,
                },
                "instructions": [
                    {
                        "accounts": list(bytes(ix.accounts)),
                        "data": b58encode(bytes(ix.data)),
                        "programIdIndex": ix.program_id_index,
                        "stackHeight": None,
                    }
                    for ix in message.instructions
                ],
                "recentBlockhash": str(message.recent_blockhash),
            }
        if not isinstance(message, Message):
            out["addressTableLookups"] = [
                {
                    "accountKey": str(lookup.account_key),
                    "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
                    "writableIndexes": list(bytes(lookup.writable_indexes)),
                }
                for lookup in message.address_table_lookups
            ]
        return out

    def get_transaction_count(self, params: list[Any]) -> Any:
        self._context_slot(_config(_arg(params, 0, 0)))
        return self.chain.transaction_count()

    def get_token_supply(self, params: list[Any]) -> Any:
        mint = _pubkey(_arg(params, 0, 1))
        slot = self._context_slot(_config(_arg(params, 1, 1)))
        account = self.chain.account(mint)
        data = bytes(account.data) if account is not None else b""
        if (
            account is None
            or account.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
            or len(data) < MINT_LEN
        ):
            raise _invalid_params("Invalid param: not a Token mint")
        try:
            state = Mint.from_bytes(data[:MINT_LEN])
        except Exception:
            raise _invalid_params("Invalid param: not a Token mint") from None
        return self._ctx(slot, token_amount(state.supply, state.decimals))

    def get_identity(self, params: list[Any]) -> Any:
        return {"identity": self.identity}

    def get_epoch_schedule(self, params: list[Any]) -> Any:
        return {
            "firstNormalEpoch": 0,
            "firstNormalSlot": 0,
            "leaderScheduleSlotOffset": SLOTS_PER_EPOCH,
            "slotsPerEpoch": SLOTS_PER_EPOCH,
            "warmup": False,
        }

    def request_airdrop(self, params: list[Any]) -> Any:
        owner = _pubkey(_arg(params, 0, 2))
        lamports = _u64(params[1])
        _commitment(_config(_arg(params, 2, 2)))
        if lamports == 0 or lamports > MAX_AIRDROP_LAMPORTS:
            raise RpcError(-32603, "Internal error")  # what the validator says when its faucet refuses
        return str(self.chain.airdrop(owner, lamports))


def zstd_frame(data: bytes) -> bytes:
    """`data` as a valid zstd frame of raw (stored) blocks: any zstd decoder reads it, no codec needed."""
    frame = bytearray((0xFD2FB528).to_bytes(4, "little"))
    frame.append(0xE0)  # single segment, 8-byte content size, no checksum, no dictionary
    frame += len(data).to_bytes(8, "little")
    block_max = 128 * 1024
    chunks = [data[i : i + block_max] for i in range(0, len(data), block_max)] or [b""]
    for index, chunk in enumerate(chunks):
        last = 1 if index == len(chunks) - 1 else 0
        frame += (last | len(chunk) << 3).to_bytes(3, "little")  # block type 0: raw
        frame += chunk
    return bytes(frame)


def message_fee(message: Any) -> int:
    """Base fee (5000 lamports per signature) plus the priority fee the compute-budget instructions ask."""
    keys = list(message.account_keys)
    n_sigs = message.header.num_required_signatures
    price = 0
    limit = None
    other = 0
    for ix in message.instructions:
        program = keys[ix.program_id_index] if ix.program_id_index < len(keys) else None
        data = bytes(ix.data)
        if program == COMPUTE_BUDGET_PROGRAM and data:
            if data[0] == 2 and len(data) >= 5:
                limit = int.from_bytes(data[1:5], "little")
            elif data[0] == 3 and len(data) >= 9:
                price = int.from_bytes(data[1:9], "little")
        else:
            other += 1
    if limit is None:
        limit = min(MAX_COMPUTE_UNITS, DEFAULT_UNITS_PER_INSTRUCTION * other)
    limit = min(limit, MAX_COMPUTE_UNITS)
    return LAMPORTS_PER_SIGNATURE * n_sigs + math.ceil(price * limit / 1_000_000)


def _is_writable(header: Any, index: int, n_keys: int) -> bool:
    n_signed = header.num_required_signatures
    if index < n_signed:
        return index < n_signed - header.num_readonly_signed_accounts
    return index < n_keys - header.num_readonly_unsigned_accounts


def _parsed_instruction(keys: list[Pubkey], ix: Any) -> dict[str, Any]:
    """jsonParsed form of one instruction: SOL and SPL token transfers parsed, others partially decoded."""
    program = keys[ix.program_id_index]
    accounts = [str(keys[i]) for i in bytes(ix.accounts)]
    data = bytes(ix.data)
    parsed: dict[str, Any] | None = None
    name = ""
    if program == SYSTEM_PROGRAM and len(data) == 12 and data[:4] == (2).to_bytes(4, "little"):
        name = "system"
        lamports = int.from_bytes(data[4:12], "little")
        parsed = {
            "info": {"destination": accounts[1], "lamports": lamports, "source": accounts[0]},
            "type": "transfer",
        }
    elif program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) and data:
        name = "spl-token"
        if data[0] == 3 and len(data) == 9 and len(accounts) >= 3:
            info = {
                "amount": str(int.from_bytes(data[1:9], "little")),
                "authority": accounts[2],
                "destination": accounts[1],
                "source": accounts[0],
            }
            parsed = {"info": info, "type": "transfer"}
        elif data[0] == 12 and len(data) == 10 and len(accounts) >= 4:
            info = {
                "authority": accounts[3],
                "destination": accounts[2],
                "mint": accounts[1],
                "source": accounts[0],
                "tokenAmount": token_amount(int.from_bytes(data[1:9], "little"), data[9]),
            }
            parsed = {"info": info, "type": "transferChecked"}
    if parsed is not None:
        return {"parsed": parsed, "program": name, "programId": str(program), "stackHeight": None}
    return {"accounts": accounts, "data": b58encode(data), "programId": str(program), "stackHeight": None}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int)) and not isinstance(value, bool))


# ---------------------------------------------------------------------------------------------- ASGI
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


def create_app(chain: SolanaChain) -> ASGIApp:
    """The JSON-RPC endpoint (POST on any path, as the validator) plus `GET /health`."""
    rpc = SolanaRpc(chain)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method == "GET" and scope["path"] == "/health":
            await reply(send, 200, b"behind" if chain.halted else b"ok", b"text/plain; charset=utf-8")
            return
        if method == "OPTIONS":
            await reply(send, 200, b"", b"text/plain", cors_methods=b"POST, OPTIONS")
            return
        if method != "POST":
            await reply(
                send, 405, b"Used HTTP Method is not allowed. POST or OPTIONS is required", b"text/plain"
            )
            return
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.split(b";", 1)[0].strip().lower()
        body = await read_body(receive, MAX_REQUEST_BODY)
        if len(body) > MAX_REQUEST_BODY:
            await reply(send, 413, b"Payload Too Large", b"text/plain")
            return
        if content_type != b"application/json":
            await reply(
                send,
                415,
                b"Supplied content type is not allowed. Content-Type: application/json is required",
                b"text/plain",
            )
            return
        await reply(send, 200, rpc.answer_body(body), b"application/json")

    return app
