"""Email one-time codes: issue, check, expire, and the per-email limits around them.

Rules (Privy publishes none; these follow NIST SP 800-63B §5.2.2 and common practice, see
shared/research/privy.md §6.4):
- a code is 6 digits from the OS CSPRNG, unrelated to the devnet seed (the seed is public);
- it lives `code_ttl_ms` of real time (10 min), is single-use, and only the newest code sent to an
  address is valid;
- after `max_wrong_per_code` wrong tries (5) the code is dead, even for the right digits;
- at most `sends_per_window` codes (5) and `checks_per_window` checks (10) per address per
  `window_ms` (10 min): beyond that, 429 `too_many_requests` with Retry-After.
Codes are kept only as an HMAC under a per-process key and compared in constant time. Wrong,
expired, reused and dead codes all get the same answer, so a guesser learns nothing from it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass

from devnet.privy.errors import INVALID_EMAIL_CODE, PrivyError, too_many_requests

CODE_DIGITS = 6


@dataclass(frozen=True)
class CodePolicy:
    code_ttl_ms: int = 10 * 60_000
    max_wrong_per_code: int = 5
    window_ms: int = 10 * 60_000
    sends_per_window: int = 5
    checks_per_window: int = 10


@dataclass
class _PendingCode:
    digest: bytes
    expires_ms: int
    wrong: int = 0


class SlidingWindow:
    """At most `limit` events per key in any `window_ms`."""

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self._events: dict[str, deque[int]] = {}

    def take(self, key: str, now_ms: int) -> int | None:
        """Record an event; None if allowed, else the ms until one is allowed again."""
        events = self._events.setdefault(key, deque())
        while events and now_ms - events[0] >= self.window_ms:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window_ms - now_ms
        events.append(now_ms)
        return None


def invalid_code() -> PrivyError:
    # Privy answers a wrong code with 422 and this sentence (LegacyInvalidInputError).
    return PrivyError(422, INVALID_EMAIL_CODE, "invalid_credentials")


class OneTimeCodes:
    def __init__(self, policy: CodePolicy) -> None:
        self.policy = policy
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._pending: dict[str, _PendingCode] = {}
        self._sends = SlidingWindow(policy.sends_per_window, policy.window_ms)
        self._checks = SlidingWindow(policy.checks_per_window, policy.window_ms)

    def _digest(self, email: str, code: str) -> bytes:
        return hmac.new(self._key, f"{email}\0{code}".encode(), hashlib.sha256).digest()

    def issue(self, email: str, now_ms: int) -> str:
        """A fresh code for `email` (which must be normalised); the previous one stops working."""
        with self._lock:
            wait_ms = self._sends.take(email, now_ms)
            if wait_ms is not None:
                raise too_many_requests(-(-wait_ms // 1000))
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            self._pending[email] = _PendingCode(self._digest(email, code), now_ms + self.policy.code_ttl_ms)
            return code

    def check(self, email: str, code: str, now_ms: int) -> None:
        """Consume the code if it is right; raise 422 if not, 429 past the check limit."""
        with self._lock:
            wait_ms = self._checks.take(email, now_ms)
            if wait_ms is not None:
                raise too_many_requests(-(-wait_ms // 1000))
            pending = self._pending.get(email)
            if pending is None:
                raise invalid_code()
            if now_ms >= pending.expires_ms:
                del self._pending[email]
                raise invalid_code()
            if not hmac.compare_digest(pending.digest, self._digest(email, code)):
                pending.wrong += 1
                if pending.wrong >= self.policy.max_wrong_per_code:
                    del self._pending[email]
                raise invalid_code()
            del self._pending[email]

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)
