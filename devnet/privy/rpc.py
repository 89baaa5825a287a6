"""`POST /v1/wallets/{wallet_id}/rpc`: pick the signing method for the wallet's chain.

Body `{"method", "params", ["chain_type"], ["address"], ...}`; answer `{"method", "data"}`
(privy.md §3.4). A method of the other chain, or a `chain_type`/`address` that does not match the
wallet, is a 400. Privy methods that need a chain behind them (signAndSendTransaction,
eth_sendTransaction) or key material the devnet does not model are refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devnet.privy import ethereum_signing, solana_signing
from devnet.privy.errors import invalid_data
from devnet.privy.wallets import Wallet, WalletKey

Method = Callable[[Any, dict[str, Any]], dict[str, Any]]

METHODS: dict[str, dict[str, Method]] = {
    "solana": {
        "signTransaction": solana_signing.sign_transaction,
        "signMessage": solana_signing.sign_message,
    },
    "ethereum": {
        "eth_signTypedData_v4": ethereum_signing.sign_typed_data,
        "personal_sign": ethereum_signing.personal_sign,
        "eth_signTransaction": ethereum_signing.sign_transaction,
    },
}
NOT_ON_DEVNET = {
    "signAndSendTransaction",
    "eth_sendTransaction",
    "secp256k1_sign",
    "eth_sign7702Authorization",
    "eth_signUserOperation",
    "exportPrivateKey",
}


def execute(wallet: Wallet, key: WalletKey, body: dict[str, Any]) -> dict[str, Any]:
    method = body.get("method")
    params = body.get("params")
    if not isinstance(method, str) or not method:
        raise invalid_data("method is required")
    if not isinstance(params, dict):
        raise invalid_data("params must be an object")
    chain_type = body.get("chain_type")
    if chain_type is not None and chain_type != wallet.chain_type:
        raise invalid_data(f"chain_type {chain_type!r} does not match the wallet's ({wallet.chain_type})")
    address = body.get("address")
    if address is not None and str(address).lower() != wallet.address.lower():
        raise invalid_data("address does not match the wallet's address")
    handler = METHODS[wallet.chain_type].get(method)
    if handler is None:
        other = next((c for c, m in METHODS.items() if method in m), None)
        if other is not None:
            raise invalid_data(
                f"{method} is a {other} method; wallet {wallet.id} is a {wallet.chain_type} wallet"
            )
        if method in NOT_ON_DEVNET:
            raise invalid_data(f"{method} is not supported by the devnet's Privy")
        raise invalid_data(f"Unsupported method {method!r}")
    return {"method": method, "data": handler(key, params)}
