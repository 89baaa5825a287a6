"""Identifiers shaped like Privy's, and the app's credentials derived from the devnet seed.

- app id: a 25-character cuid starting with "c" (e.g. `cm3np4u9j001rc8b73seqmqqk`);
- user id: `did:privy:` + a cuid;
- wallet and key quorum ids: 24-character cuid2s (e.g. `tb54eps4z44ed0jepousxi4n`);
- app secret: `privy_app_secret_` + base58 of 64 bytes (88 characters or so).

The app id and secret come from the seed, so a control plane configured for a devnet keeps working
across restarts with the same seed. Everything else is random.
"""

from __future__ import annotations

import hashlib
import secrets

from devnet.solana.rpc import b58encode

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
APP_SECRET_PREFIX = "privy_app_secret_"
DID_PREFIX = "did:privy:"


def _base36(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        out.append(_BASE36[digit])
    return "".join(out)


def _seeded(seed: int, purpose: str, size: int = 64) -> bytes:
    return hashlib.shake_256(f"basis-devnet:{seed}:privy:{purpose}".encode()).digest(size)


def app_id_from_seed(seed: int) -> str:
    return "cm" + _base36(_seeded(seed, "app-id"), 23)


def app_secret_from_seed(seed: int) -> str:
    return APP_SECRET_PREFIX + b58encode(_seeded(seed, "app-secret", 64))


def signing_key_scalar(seed: int, order: int) -> int:
    """The private scalar of the app's first token-signing key: in 1 .. order-1."""
    return int.from_bytes(_seeded(seed, "signing-key:0", 48), "big") % (order - 1) + 1


def new_user_id() -> str:
    return DID_PREFIX + "c" + _base36(secrets.token_bytes(24), 24)


def new_cuid2() -> str:
    # cuid2 starts with a letter.
    return secrets.choice(_BASE36[10:]) + _base36(secrets.token_bytes(24), 23)
