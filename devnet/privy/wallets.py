"""Wallets: Solana (ed25519, a solders Keypair) and Ethereum (secp256k1, an eth_account key).

Each wallet's key is generated at random when the wallet is created and lives only in this
process's memory, in `Wallets._keys`, apart from the `Wallet` records, so that no record, answer,
snapshot or log line can carry it. The JSON shapes are Privy's: the `Wallet` object of the REST API
(`created_at` in ms) and the embedded-wallet entry of a user's `linked_accounts` (times in s).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from solders.keypair import Keypair

from devnet.privy.ids import new_cuid2

CHAIN_TYPES = ("solana", "ethereum")
# CAIP-2 ids Privy reports for embedded wallets.
CHAIN_IDS = {"ethereum": "eip155:1", "solana": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"}

WalletKey = Keypair | LocalAccount


@dataclass
class Wallet:
    id: str
    chain_type: str
    address: str
    public_key: str
    created_ms: int
    owner_id: str | None = None
    additional_signers: list[dict[str, Any]] = field(default_factory=list)
    policy_ids: list[str] = field(default_factory=list)
    display_name: str | None = None
    external_id: str | None = None
    user_id: str | None = None  # the user whose embedded wallet this is, if any

    @property
    def delegated(self) -> bool:
        return bool(self.additional_signers)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "address": self.address,
            "chain_type": self.chain_type,
            "public_key": self.public_key,
            "owner_id": self.owner_id,
            "additional_signers": [dict(s) for s in self.additional_signers],
            "policy_ids": list(self.policy_ids),
            "created_at": self.created_ms,
            "exported_at": None,
            "imported_at": None,
            "archived_at": None,
        }
        if self.display_name is not None:
            body["display_name"] = self.display_name
        if self.external_id is not None:
            body["external_id"] = self.external_id
        return body

    def linked_account(self, wallet_index: int) -> dict[str, Any]:
        verified_s = self.created_ms // 1000
        return {
            "type": "wallet",
            "id": self.id,
            "address": self.address,
            "public_key": self.public_key,
            "chain_type": self.chain_type,
            "chain_id": CHAIN_IDS[self.chain_type],
            "connector_type": "embedded",
            "wallet_client": "privy",
            "wallet_client_type": "privy",
            "wallet_index": wallet_index,
            "delegated": self.delegated,
            "imported": False,
            "recovery_method": "privy-v2",
            "verified_at": verified_s,
            "first_verified_at": verified_s,
            "latest_verified_at": verified_s,
        }


def _new_key(chain_type: str) -> tuple[WalletKey, str, str]:
    """A fresh key, its address and its public key as Privy shows it."""
    if chain_type == "solana":
        keypair = Keypair()
        address = str(keypair.pubkey())
        return keypair, address, address
    account = Account.create()
    public = eth_keys.PrivateKey(bytes(account.key)).public_key.to_compressed_bytes().hex()
    return account, account.address, "0x" + public


class Wallets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Wallet] = {}
        self._keys: dict[str, WalletKey] = {}

    def create(
        self,
        chain_type: str,
        now_ms: int,
        *,
        owner_id: str | None = None,
        additional_signers: list[dict[str, Any]] | None = None,
        policy_ids: list[str] | None = None,
        display_name: str | None = None,
        external_id: str | None = None,
        user_id: str | None = None,
    ) -> Wallet:
        key, address, public_key = _new_key(chain_type)
        wallet = Wallet(
            id=new_cuid2(),
            chain_type=chain_type,
            address=address,
            public_key=public_key,
            created_ms=now_ms,
            owner_id=owner_id,
            additional_signers=list(additional_signers or []),
            policy_ids=list(policy_ids or []),
            display_name=display_name,
            external_id=external_id,
            user_id=user_id,
        )
        with self._lock:
            self._by_id[wallet.id] = wallet
            self._keys[wallet.id] = key
        return wallet

    def get(self, wallet_id: str) -> Wallet | None:
        with self._lock:
            return self._by_id.get(wallet_id)

    def key(self, wallet_id: str) -> WalletKey:
        with self._lock:
            return self._keys[wallet_id]

    def all(self) -> list[Wallet]:
        """Oldest first."""
        with self._lock:
            return list(self._by_id.values())

    def of_user(self, user_id: str) -> list[Wallet]:
        return [w for w in self.all() if w.user_id == user_id]

    def by_external_id(self, external_id: str) -> Wallet | None:
        return next((w for w in self.all() if w.external_id == external_id), None)

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)


def linked_accounts(wallets: list[Wallet]) -> list[dict[str, Any]]:
    """The embedded-wallet entries of a user, `wallet_index` counted per chain type."""
    counts: dict[str, int] = {}
    out = []
    for wallet in wallets:
        index = counts.get(wallet.chain_type, 0)
        counts[wallet.chain_type] = index + 1
        out.append(wallet.linked_account(index))
    return out
