"""The app's ES256 token-signing keys: the current one, and retired ones still served in the JWKS.

The first key comes from the devnet seed (a restarted devnet verifies the tokens it issued before);
keys made by `rotate` are random. A retired key stays in the JWKS for `grace_ms` after rotation,
which is at least a token's lifetime, so every token it signed expires before its key disappears.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devnet.privy.ids import signing_key_scalar

# Order of the P-256 group.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    retired_ms: int | None = None  # real ms it stopped signing (None: the current key)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def _kid(key: ec.EllipticCurvePrivateKey) -> str:
    # RFC 7638-style thumbprint: stable for a key, different for every key.
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64url(hashlib.sha256(spki).digest())[:32]


class SigningKeyRing:
    def __init__(self, seed: int, now_ms: Callable[[], int], grace_ms: int) -> None:
        self._now_ms = now_ms
        self.grace_ms = grace_ms
        self._lock = threading.Lock()
        first = ec.derive_private_key(signing_key_scalar(seed, P256_ORDER), ec.SECP256R1())
        self._current = SigningKey(_kid(first), first)
        self._retired: list[SigningKey] = []

    @property
    def current(self) -> SigningKey:
        return self._current

    def rotate(self) -> str:
        """Sign with a new random key from now on; the old one stays verifiable for the grace period."""
        fresh = ec.generate_private_key(ec.SECP256R1())
        with self._lock:
            old = self._current
            old.retired_ms = self._now_ms()
            self._retired.append(old)
            self._current = SigningKey(_kid(fresh), fresh)
            return self._current.kid

    def _live(self) -> list[SigningKey]:
        now = self._now_ms()
        with self._lock:
            self._retired = [
                k for k in self._retired if k.retired_ms is not None and now - k.retired_ms < self.grace_ms
            ]
            return [self._current, *reversed(self._retired)]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self._live()]}

    def kids(self) -> list[str]:
        return [k.kid for k in self._live()]

    def find(self, kid: str | None) -> SigningKey | None:
        live = self._live()
        if kid is None:
            return live[0] if len(live) == 1 else None
        return next((k for k in live if k.kid == kid), None)
