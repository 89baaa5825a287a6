"""Envelope encryption for secrets at rest (AES-256-GCM, data key wrapped by a per-tenant key).

Each sealed value gets a fresh random 32-byte data key; the data key encrypts the plaintext and is
itself encrypted ("wrapped") under a key-encryption key (KEK) derived from the server secret and
the tenant id. Rotating the server secret then means re-wrapping small data keys, and one
tenant's KEK opens nothing of another's.

The sealed blob is UTF-8 JSON, versioned and self-describing:
`{"v": 1, "alg": "A256GCM", "kw": "A256GCMKW", "wn": b64, "wk": b64, "n": b64, "ct": b64}`
(wrap nonce, wrapped data key + tag, data nonce, ciphertext + tag). The caller's `aad` is bound to
both the ciphertext and the wrapped key, so a blob moved to another context does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_KEK_LABEL = b"basis/kek/v1/"
# Domain separation between the two uses of AES-GCM in a blob.
_WRAP_AAD = b"basis/dek-wrap/v1|"
_DATA_AAD = b"basis/data/v1|"


class DecryptionError(Exception):
    """A sealed blob did not open: wrong key, wrong context (aad), or altered bytes."""


def derive_tenant_kek(tenant_id: str, server_secret: SecretStr | bytes) -> bytes:
    """HMAC-SHA256(server secret, "basis/kek/v1/" + tenant id): the tenant's 32-byte KEK."""
    if not tenant_id:
        raise ValueError("a tenant id is required to derive a key")
    secret = (
        server_secret.get_secret_value().encode("utf-8")
        if isinstance(server_secret, SecretStr)
        else bytes(server_secret)
    )
    if not secret:
        raise ValueError("the server secret is empty")
    return hmac.new(secret, _KEK_LABEL + tenant_id.encode("utf-8"), hashlib.sha256).digest()


def _check_key(kek: bytes) -> None:
    if not isinstance(kek, bytes | bytearray) or len(kek) != KEY_BYTES:
        raise ValueError("a key-encryption key is 32 bytes")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(plaintext: bytes, kek: bytes, *, aad: bytes) -> bytes:
    """Encrypt `plaintext` under a fresh data key wrapped by `kek`; `aad` must be given again to open."""
    _check_key(kek)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _DATA_AAD + aad)
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(bytes(kek)).encrypt(wrap_nonce, data_key, _WRAP_AAD + aad)
    blob = {
        "v": VERSION,
        "alg": "A256GCM",
        "kw": "A256GCMKW",
        "wn": _b64(wrap_nonce),
        "wk": _b64(wrapped),
        "n": _b64(nonce),
        "ct": _b64(ciphertext),
    }
    return json.dumps(blob, separators=(",", ":")).encode("utf-8")


def _field(blob: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = blob.get(name)
    if not isinstance(value, str):
        raise DecryptionError(f"sealed blob: field {name!r} is missing")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"sealed blob: field {name!r} is not base64") from None
    if size is not None and len(raw) != size:
        raise DecryptionError(f"sealed blob: field {name!r} has the wrong length")
    return raw


def open_sealed(blob: bytes, kek: bytes, *, aad: bytes) -> bytes:
    """The plaintext of a blob made by `seal`; raises DecryptionError if anything does not match."""
    _check_key(kek)
    try:
        parsed = json.loads(blob)
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError("sealed blob: not a Basis sealed value") from None
    if not isinstance(parsed, dict):
        raise DecryptionError("sealed blob: not a Basis sealed value")
    if parsed.get("v") != VERSION or parsed.get("alg") != "A256GCM" or parsed.get("kw") != "A256GCMKW":
        raise DecryptionError("sealed blob: unsupported version or algorithm")
    wrap_nonce = _field(parsed, "wn", NONCE_BYTES)
    wrapped = _field(parsed, "wk", KEY_BYTES + 16)
    nonce = _field(parsed, "n", NONCE_BYTES)
    ciphertext = _field(parsed, "ct")
    try:
        data_key = AESGCM(bytes(kek)).decrypt(wrap_nonce, wrapped, _WRAP_AAD + aad)
        return AESGCM(data_key).decrypt(nonce, ciphertext, _DATA_AAD + aad)
    except InvalidTag:
        raise DecryptionError("sealed blob did not open: wrong key, wrong context or altered data") from None
