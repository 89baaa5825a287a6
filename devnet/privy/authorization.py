"""Authorization signatures: who may act on a wallet with an owner or additional signers.

The client signs (ECDSA P-256 / SHA-256, DER, base64; several comma-separated in one
`privy-authorization-signature` header) the RFC 8785 canonical JSON of

    {"version": 1, "method": "POST", "url": "<absolute URL, no trailing slash>",
     "body": <the JSON body; an empty object or array is "">,
     "headers": {"privy-app-id": ..., ["privy-idempotency-key": ...], ["privy-request-expiry": ...]}}

(docs.privy.io "Implementing signing directly"; node-sdk lib/authorization.ts). The URL is the one
the client addressed, which on the devnet is the devnet's. A request is authorized when the valid
signatures satisfy one of the allowed quorums: the wallet's owner, or (for signing requests) one of
its additional signers. A quorum is satisfied when at least its threshold of members signed: a key
by a valid signature, a nested quorum by being satisfied itself. User members sign with keys from
`/v1/wallets/authenticate`, which the devnet does not offer, so they never count here.
Errors are the wallet API's: 401 `missing_or_empty_authorization_header`,
`zero_correct_authorization_signatures`, `insufficient_correct_authorization_signatures`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from devnet.privy.canonical import canonical_json
from devnet.privy.errors import (
    INSUFFICIENT_SIGNATURES,
    MISSING_SIGNATURE,
    ZERO_SIGNATURES,
    PrivyError,
    invalid_data,
)
from devnet.privy.key_quorums import KeyQuorum

SIGNATURE_HEADER = "privy-authorization-signature"
EXPIRY_HEADER = "privy-request-expiry"
IDEMPOTENCY_HEADER = "privy-idempotency-key"
MAX_SIGNATURES = 20


def signature_payload(
    method: str, url: str, body: Any, app_id: str, idempotency_key: str | None, expiry: str | None
) -> bytes:
    """The exact bytes a client signs for this request."""
    headers = {"privy-app-id": app_id}
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    if expiry is not None:
        headers[EXPIRY_HEADER] = expiry
    if isinstance(body, dict | list) and not body:
        body = ""
    return canonical_json(
        {"version": 1, "method": method.upper(), "url": url.rstrip("/"), "body": body, "headers": headers}
    )


def check_expiry(expiry: str | None, now_ms: int) -> None:
    """Honour `privy-request-expiry` (unix ms): a request past it is refused."""
    if expiry is None:
        return
    try:
        deadline = int(expiry)
    except ValueError:
        raise invalid_data("privy-request-expiry must be a unix timestamp in milliseconds") from None
    if now_ms > deadline:
        raise PrivyError(401, "The request has expired (privy-request-expiry has passed).", "request_expired")


def _signatures(header: str | None) -> list[bytes]:
    parts = [p.strip() for p in (header or "").split(",") if p.strip()]
    if not parts:
        raise PrivyError(401, MISSING_SIGNATURE, "missing_or_empty_authorization_header")
    if len(parts) > MAX_SIGNATURES:
        raise invalid_data(f"at most {MAX_SIGNATURES} authorization signatures")
    out = []
    for part in parts:
        try:
            out.append(base64.b64decode(part, validate=True))
        except (binascii.Error, ValueError):
            out.append(b"")  # malformed: counts as an invalid signature
    return out


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, payload: bytes) -> bool:
    if not signature:
        return False
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def authorize(
    header: str | None,
    payload: bytes,
    allowed: list[KeyQuorum],
    lookup: Callable[[str], KeyQuorum | None],
) -> None:
    """Raise 401 unless the header's signatures over `payload` satisfy one `allowed` quorum."""
    signatures = _signatures(header)

    def signed_keys(quorum: KeyQuorum) -> int:
        return sum(1 for key in quorum.keys if any(_verifies(key, s, payload) for s in signatures))

    def satisfied_members(quorum: KeyQuorum) -> int:
        count = signed_keys(quorum)
        for nested_id in quorum.key_quorum_ids:
            nested = lookup(nested_id)
            if nested is not None and signed_keys(nested) >= nested.required:
                count += 1
        return count

    best = 0
    for quorum in allowed:
        members = satisfied_members(quorum)
        if members >= quorum.required:
            return
        best = max(best, members)
    if best == 0:
        raise PrivyError(401, ZERO_SIGNATURES, "zero_correct_authorization_signatures")
    raise PrivyError(401, INSUFFICIENT_SIGNATURES, "insufficient_correct_authorization_signatures")
