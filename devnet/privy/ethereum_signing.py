"""Ethereum wallet RPC methods: `eth_signTypedData_v4`, `personal_sign`, `eth_signTransaction`.

Typed data arrives as Privy takes it: `{domain, types, message, primary_type}` (snake case;
`primaryType` is accepted too), `EIP712Domain` in `types` optional, `chainId` a number or a hex
string, `bytes32` values as 0x-hex. Signatures are 65 bytes r‖s‖v with v 27/28, as hex with 0x —
what Hyperliquid's `recover_agent_or_user_from_l1_action` and eth_account's `recover_message`
expect after splitting.
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

from devnet.privy.errors import invalid_data

# EIP-712 domain fields, in the order EIP712Domain lists them.
DOMAIN_FIELDS = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)


def _hex_signature(signature: bytes) -> str:
    return "0x" + bytes(signature).hex()


def _quantity(value: Any, name: str) -> int:
    """A JSON number or a 0x-hex / decimal string, as Privy's `Quantity`."""
    if isinstance(value, bool):
        raise invalid_data(f"{name} must be a number or a hex string")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise invalid_data(f"{name} must be a number or a hex string") from None
    else:
        raise invalid_data(f"{name} must be a number or a hex string")
    if number < 0:
        raise invalid_data(f"{name} must not be negative")
    return number


def _full_typed_data(typed: Any) -> dict[str, Any]:
    if not isinstance(typed, dict):
        raise invalid_data("params.typed_data must be an object with domain, types, message, primary_type")
    domain = typed.get("domain")
    types = typed.get("types")
    message = typed.get("message")
    primary = typed.get("primary_type", typed.get("primaryType"))
    if not isinstance(domain, dict) or not isinstance(types, dict) or not isinstance(message, dict):
        raise invalid_data("params.typed_data needs domain, types and message objects")
    if not isinstance(primary, str) or not primary:
        raise invalid_data("params.typed_data.primary_type is required")
    if primary not in types:
        raise invalid_data(f"params.typed_data.types has no {primary!r}")
    domain = dict(domain)
    if "chainId" in domain:
        domain["chainId"] = _quantity(domain["chainId"], "domain.chainId")
    types = dict(types)
    if "EIP712Domain" not in types:
        types["EIP712Domain"] = [{"name": n, "type": t} for n, t in DOMAIN_FIELDS if n in domain]
    return {"types": types, "domain": domain, "primaryType": primary, "message": message}


def sign_typed_data(account: LocalAccount, params: dict[str, Any]) -> dict[str, Any]:
    full = _full_typed_data(params.get("typed_data"))
    try:
        signable = encode_typed_data(full_message=full)
    except Exception as exc:  # eth_account raises many types (ValueError, TypeError, KeyError, ...)
        raise invalid_data(f"params.typed_data cannot be encoded as EIP-712: {exc}") from None
    signed = account.sign_message(signable)
    return {"signature": _hex_signature(signed.signature), "encoding": "hex"}


def personal_sign(account: LocalAccount, params: dict[str, Any]) -> dict[str, Any]:
    message = params.get("message")
    encoding = params.get("encoding", "utf-8")
    if not isinstance(message, str):
        raise invalid_data("params.message must be a string")
    if encoding == "utf-8":
        data = message.encode("utf-8")
    elif encoding == "hex":
        try:
            data = bytes.fromhex(message[2:] if message.lower().startswith("0x") else message)
        except ValueError:
            raise invalid_data("params.message is not valid hex") from None
    else:
        raise invalid_data(f"params.encoding must be 'utf-8' or 'hex', got {encoding!r}")
    signed = account.sign_message(encode_defunct(primitive=data))
    return {"signature": _hex_signature(signed.signature), "encoding": "hex"}


# Privy's snake-case transaction fields → eth_account's.
_TX_QUANTITIES = {
    "chain_id": "chainId",
    "nonce": "nonce",
    "gas_limit": "gas",
    "gas_price": "gasPrice",
    "max_fee_per_gas": "maxFeePerGas",
    "max_priority_fee_per_gas": "maxPriorityFeePerGas",
    "value": "value",
}


def sign_transaction(account: LocalAccount, params: dict[str, Any]) -> dict[str, Any]:
    tx = params.get("transaction")
    if not isinstance(tx, dict):
        raise invalid_data("params.transaction must be an object")
    if tx.get("from") is not None and str(tx["from"]).lower() != account.address.lower():
        raise invalid_data("params.transaction.from is not this wallet's address")
    fields: dict[str, Any] = {}
    for name, key in _TX_QUANTITIES.items():
        if tx.get(name) is not None:
            fields[key] = _quantity(tx[name], f"transaction.{name}")
    for name in ("chain_id", "nonce", "gas_limit"):
        if name not in tx:
            raise invalid_data(
                f"params.transaction.{name} is required on the devnet (no gas or nonce lookup)"
            )
    if tx.get("to") is not None:
        fields["to"] = tx["to"]
    fields["data"] = tx.get("data") or "0x"
    fields.setdefault("value", 0)
    tx_type = tx.get("type")
    if tx_type == 2 or (tx_type is None and "gasPrice" not in fields):
        fields.setdefault("maxPriorityFeePerGas", 0)
        fields.setdefault("maxFeePerGas", fields["maxPriorityFeePerGas"])
        fields["type"] = 2
    elif tx_type in (0, None):
        if "gasPrice" not in fields:
            raise invalid_data("params.transaction.gas_price is required for a legacy transaction")
    else:
        raise invalid_data(f"transaction type {tx_type!r} is not supported on the devnet (0 or 2)")
    try:
        signed = account.sign_transaction(fields)
    except Exception as exc:  # eth_account validates fields with several error types
        raise invalid_data(f"params.transaction cannot be signed: {exc}") from None
    return {"signed_transaction": "0x" + bytes(signed.raw_transaction).hex(), "encoding": "rlp"}
