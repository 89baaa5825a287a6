"""Key quorums: the owners and additional signers of wallets.

A quorum is a set of P-256 authorization keys, user ids and (one level deep) other quorums, with a
threshold: how many members must sign. `POST /v1/key_quorums` takes `public_keys` as base64 DER
SPKI (line breaks allowed, as Privy's own examples carry them) or PEM, and echoes them as given.
A wallet created with `owner: {public_key}` or `owner: {user_id}` gets a quorum of its own, as on
Privy, and its `owner_id` names it.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from devnet.privy.errors import invalid_data
from devnet.privy.ids import new_cuid2

MAX_KEYS = 10
MAX_NESTED = 5


@dataclass
class KeyQuorum:
    id: str
    public_keys: list[str]  # as the client gave them
    keys: list[ec.EllipticCurvePublicKey] = field(repr=False)
    threshold: int | None
    display_name: str | None = None
    user_ids: list[str] = field(default_factory=list)
    key_quorum_ids: list[str] = field(default_factory=list)

    @property
    def member_count(self) -> int:
        return len(self.keys) + len(self.user_ids) + len(self.key_quorum_ids)

    @property
    def required(self) -> int:
        # No threshold given: any one member may act.
        return self.threshold or 1

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "display_name": self.display_name,
            "authorization_threshold": self.threshold,
            "authorization_keys": [{"public_key": k, "display_name": None} for k in self.public_keys],
            "user_ids": list(self.user_ids) or None,
        }
        if self.key_quorum_ids:
            body["key_quorum_ids"] = list(self.key_quorum_ids)
        return body


def parse_public_key(text: Any) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from base64 DER SPKI or PEM; 400 otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise invalid_data("public key must be a base64-encoded DER (SPKI) or PEM P-256 public key")
    try:
        if "-----BEGIN" in text:
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise invalid_data("public key must be a base64-encoded DER (SPKI) or PEM P-256 public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise invalid_data("public key must be a P-256 (secp256r1) key")
    return key


class KeyQuorums:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, KeyQuorum] = {}

    def create(
        self,
        public_keys: list[str],
        threshold: int | None = None,
        display_name: str | None = None,
        user_ids: list[str] | None = None,
        key_quorum_ids: list[str] | None = None,
    ) -> KeyQuorum:
        user_ids = list(dict.fromkeys(user_ids or []))
        key_quorum_ids = list(dict.fromkeys(key_quorum_ids or []))
        if len(public_keys) > MAX_KEYS:
            raise invalid_data(f"a key quorum holds at most {MAX_KEYS} public keys")
        if len(key_quorum_ids) > MAX_NESTED:
            raise invalid_data(f"a key quorum holds at most {MAX_NESTED} key quorums")
        keys = [parse_public_key(k) for k in public_keys]
        for nested in key_quorum_ids:
            inner = self.get(nested)
            if inner is None:
                raise invalid_data(f"key quorum {nested} does not exist")
            if inner.key_quorum_ids:
                raise invalid_data("key quorums can only be nested one level deep")
        quorum = KeyQuorum(
            new_cuid2(), list(public_keys), keys, threshold, display_name, user_ids, key_quorum_ids
        )
        if quorum.member_count == 0:
            raise invalid_data("at least one of public_keys, user_ids or key_quorum_ids is required")
        if threshold is not None and not 1 <= threshold <= quorum.member_count:
            raise invalid_data("authorization_threshold must be between 1 and the number of members")
        with self._lock:
            self._by_id[quorum.id] = quorum
        return quorum

    def get(self, quorum_id: str) -> KeyQuorum | None:
        with self._lock:
            return self._by_id.get(quorum_id)

    def count(self) -> int:
        with self._lock:
            return len(self._by_id)
