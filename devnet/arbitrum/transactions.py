"""Signed Ethereum transactions as `eth_sendRawTransaction` receives them: decoding and sender recovery.

Legacy (EIP-155), EIP-2930 (type 1) and EIP-1559 (type 2) envelopes are accepted, as on Arbitrum One;
blob (type 3) and set-code (type 4) transactions are not. Errors carry geth's wording, because that is
what an Ethereum client shows its user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

# secp256k1 group order: signatures with s above half of it are malleable copies (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class TxDecodeError(ValueError):
    """The bytes are not a transaction this chain accepts; the message is geth's."""


@dataclass(frozen=True)
class AccessListEntry:
    address: str  # checksum
    storage_keys: tuple[bytes, ...]


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: bytes  # keccak of the raw envelope
    type: int  # 0 legacy, 1 EIP-2930, 2 EIP-1559
    chain_id: int | None  # None: a pre-EIP-155 legacy transaction (no replay protection)
    nonce: int
    gas: int
    gas_price: int | None  # legacy and type 1
    max_fee_per_gas: int | None  # type 2
    max_priority_fee_per_gas: int | None  # type 2
    to: str | None  # checksum; None creates a contract
    value: int
    data: bytes
    access_list: tuple[AccessListEntry, ...]
    v: int
    r: int
    s: int
    sender: str  # checksum, recovered from the signature

    @property
    def fee_cap(self) -> int:
        """The most the sender pays per gas: gasPrice, or maxFeePerGas."""
        return self.max_fee_per_gas if self.type == 2 else (self.gas_price or 0)

    @property
    def tip_cap(self) -> int:
        return self.max_priority_fee_per_gas if self.type == 2 else (self.gas_price or 0)

    @property
    def y_parity(self) -> int:
        if self.type:
            return self.v
        return (self.v - 35) % 2 if self.v >= 35 else self.v - 27


def _int(field: bytes) -> int:
    if len(field) > 32:
        raise TxDecodeError("rlp: input string too long for *big.Int")
    if field[:1] == b"\x00":
        raise TxDecodeError("rlp: non-canonical integer (leading zero bytes) for *big.Int")
    return int.from_bytes(field, "big")


def _to(field: bytes) -> str | None:
    if not field:
        return None
    if len(field) != 20:
        raise TxDecodeError(
            f"rlp: input string too {'short' if len(field) < 20 else 'long'} for common.Address"
        )
    return to_checksum_address(field)


def decode_raw_transaction(raw: bytes) -> SignedTx:
    """Decode an envelope and recover its sender; raises TxDecodeError with geth's message."""
    if not raw:
        raise TxDecodeError("typed transaction too short")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw)
    if first in (1, 2):
        return _decode_typed(raw)
    if first <= 0x7F:
        raise TxDecodeError("transaction type not supported")
    raise TxDecodeError("rlp: expected input list for types.LegacyTx")


def _decode_legacy(raw: bytes) -> SignedTx:
    try:
        fields = rlp.decode(raw)
    except Exception:
        raise TxDecodeError("rlp: expected input list for types.LegacyTx") from None
    if not isinstance(fields, list) or len(fields) != 9 or not all(isinstance(f, bytes) for f in fields):
        raise TxDecodeError(
            "rlp: too few elements for types.LegacyTx"
            if isinstance(fields, list) and len(fields) < 9
            else "rlp: input list has too many elements for types.LegacyTx"
        )
    nonce, gas_price, gas, to, value = (
        _int(fields[0]),
        _int(fields[1]),
        _int(fields[2]),
        _to(fields[3]),
        _int(fields[4]),
    )
    data = bytes(fields[5])
    v, r, s = _int(fields[6]), _int(fields[7]), _int(fields[8])
    if v in (27, 28):
        chain_id = None
    elif v >= 35:
        chain_id = (v - 35) // 2
    else:
        raise TxDecodeError("invalid transaction v, r, s values")
    _check_signature_values(r, s)
    return SignedTx(
        raw=raw,
        hash=keccak(raw),
        type=0,
        chain_id=chain_id,
        nonce=nonce,
        gas=gas,
        gas_price=gas_price,
        max_fee_per_gas=None,
        max_priority_fee_per_gas=None,
        to=to,
        value=value,
        data=data,
        access_list=(),
        v=v,
        r=r,
        s=s,
        sender=_recover(raw),
    )


def _decode_typed(raw: bytes) -> SignedTx:
    try:
        fields: dict[str, Any] = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    except Exception as exc:
        raise TxDecodeError(f"rlp: {exc}") from None
    v, r, s = int(fields["v"]), int(fields["r"]), int(fields["s"])
    if v not in (0, 1):
        raise TxDecodeError("invalid transaction v, r, s values")
    _check_signature_values(r, s)
    to_bytes = bytes(fields.get("to") or b"")
    access = tuple(
        AccessListEntry(
            to_checksum_address(entry["address"]),
            tuple(_storage_key(k) for k in entry.get("storageKeys", ())),
        )
        for entry in fields.get("accessList", ())
    )
    tx_type = int(fields["type"])
    return SignedTx(
        raw=raw,
        hash=keccak(raw),
        type=tx_type,
        chain_id=int(fields["chainId"]),
        nonce=int(fields["nonce"]),
        gas=int(fields["gas"]),
        gas_price=int(fields["gasPrice"]) if tx_type == 1 else None,
        max_fee_per_gas=int(fields["maxFeePerGas"]) if tx_type == 2 else None,
        max_priority_fee_per_gas=int(fields["maxPriorityFeePerGas"]) if tx_type == 2 else None,
        to=_to(to_bytes),
        value=int(fields["value"]),
        data=bytes(fields.get("data") or b""),
        access_list=access,
        v=v,
        r=r,
        s=s,
        sender=_recover(raw),
    )


def _storage_key(key: Any) -> bytes:
    # eth_account hands storage keys back as ints.
    return key.to_bytes(32, "big") if isinstance(key, int) else bytes(HexBytes(key)).rjust(32, b"\x00")


def _check_signature_values(r: int, s: int) -> None:
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2):
        raise TxDecodeError("invalid transaction v, r, s values")


def _recover(raw: bytes) -> str:
    try:
        return to_checksum_address(Account.recover_transaction(raw))
    except Exception:
        raise TxDecodeError("invalid sender") from None
