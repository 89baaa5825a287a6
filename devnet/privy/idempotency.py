"""`privy-idempotency-key`: a request repeated with the same key within 24 hours gets the first answer.

Privy executes a keyed request once in a 24-hour window. Reusing a key for a different request
(other path or body) is an error rather than a silent replay of an unrelated answer.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from devnet.privy.canonical import canonical_json
from devnet.privy.errors import invalid_data

WINDOW_MS = 24 * 3600 * 1000


@dataclass
class _Entry:
    fingerprint: bytes
    response: dict[str, Any]
    stored_ms: int


class IdempotencyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    @staticmethod
    def fingerprint(path: str, body: Any) -> bytes:
        return hashlib.sha256(path.encode() + b"\0" + canonical_json(body)).digest()

    def replay(self, key: str, fingerprint: bytes, now_ms: int) -> dict[str, Any] | None:
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items() if now_ms - e.stored_ms < WINDOW_MS}
            entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.fingerprint != fingerprint:
            raise invalid_data("privy-idempotency-key was already used for a different request")
        return entry.response

    def store(self, key: str, fingerprint: bytes, response: dict[str, Any], now_ms: int) -> None:
        with self._lock:
            self._entries.setdefault(key, _Entry(fingerprint, response, now_ms))
