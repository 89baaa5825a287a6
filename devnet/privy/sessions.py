"""Sign-in sessions and their rotating refresh tokens.

A session (its id is the access token's `sid`) lives until logout, user deletion or the refresh
token's expiry (30 days, Privy's default). Each refresh hands out a new refresh token and retires
the old one; presenting a retired token again is treated as theft (as OAuth 2.0 Security BCP
§4.14 recommends): the whole session is revoked and the answer is 401 `token_already_used`.
Refresh tokens are stored only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field

from devnet.privy.errors import PrivyError, invalid_token
from devnet.privy.ids import new_cuid2

REFRESH_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000


@dataclass
class Session:
    id: str
    user_id: str
    created_ms: int
    refresh_digest: bytes
    refresh_expires_ms: int
    revoked: bool = False
    retired_digests: set[bytes] = field(default_factory=set)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self._by_refresh: dict[bytes, str] = {}  # current and retired digests → session id

    def open(self, user_id: str, now_ms: int) -> tuple[Session, str]:
        token = secrets.token_urlsafe(48)
        session = Session(new_cuid2(), user_id, now_ms, _digest(token), now_ms + REFRESH_TOKEN_TTL_MS)
        with self._lock:
            self._by_id[session.id] = session
            self._by_refresh[session.refresh_digest] = session.id
        return session, token

    def refresh(
        self, refresh_token: str, now_ms: int, expected_session_id: str | None = None
    ) -> tuple[Session, str]:
        """Rotate the refresh token; `expected_session_id`: the sid of an access token sent along."""
        digest = _digest(refresh_token)
        with self._lock:
            session = self._by_id.get(self._by_refresh.get(digest, ""))
            if session is None or session.revoked:
                raise invalid_token("Invalid refresh token.")
            if expected_session_id is not None and expected_session_id != session.id:
                raise invalid_token("The refresh token does not belong to this access token's session.")
            if digest in session.retired_digests:
                self._revoke(session)
                raise PrivyError(401, "Refresh token re-use detected.", "token_already_used")
            if now_ms >= session.refresh_expires_ms:
                self._revoke(session)
                raise invalid_token("Invalid refresh token.")
            token = secrets.token_urlsafe(48)
            session.retired_digests.add(session.refresh_digest)
            session.refresh_digest = _digest(token)
            session.refresh_expires_ms = now_ms + REFRESH_TOKEN_TTL_MS
            self._by_refresh[session.refresh_digest] = session.id
            return session, token

    def session_of(self, refresh_token: str) -> str | None:
        """The id of the session a current (not retired) refresh token belongs to."""
        digest = _digest(refresh_token)
        with self._lock:
            session = self._by_id.get(self._by_refresh.get(digest, ""))
            if session is None or session.revoked or session.refresh_digest != digest:
                return None
            return session.id

    def get_active(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._by_id.get(session_id)
            return session if session is not None and not session.revoked else None

    def revoke(self, session_id: str) -> bool:
        """End a session; False if it was already ended (or never existed)."""
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or session.revoked:
                return False
            self._revoke(session)
            return True

    def revoke_user(self, user_id: str) -> None:
        with self._lock:
            for session in self._by_id.values():
                if session.user_id == user_id and not session.revoked:
                    self._revoke(session)

    def _revoke(self, session: Session) -> None:
        session.revoked = True
        for digest in (session.refresh_digest, *session.retired_digests):
            self._by_refresh.pop(digest, None)
        session.retired_digests.clear()

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for s in self._by_id.values() if not s.revoked)
