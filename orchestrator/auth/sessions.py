"""Server-side web sessions: an opaque cookie value, stored only as its SHA-256.

A session lasts 24 hours, or 7 days when the person asked to stay signed in. Each has its own
CSRF token, which the browser echoes in `X-CSRF-Token` on state-changing requests.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.auth.models import WebSession

SESSION_TTL = timedelta(hours=24)
REMEMBER_TTL = timedelta(days=7)


def session_id_of(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    user_id: str
    expires_at: datetime
    max_age_s: int


@dataclass(frozen=True)
class ActiveSession:
    id: str
    user_id: str
    csrf_token: str
    expires_at: datetime
    remember: bool


class SessionStore:
    def __init__(self, db: sessionmaker[Session], *, clock: Clock = utc_now) -> None:
        self._db = db
        self._now = clock

    @property
    def db(self) -> sessionmaker[Session]:
        return self._db

    def create(self, user_id: str, *, remember: bool) -> NewSession:
        cookie_value = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        ttl = REMEMBER_TTL if remember else SESSION_TTL
        now = self._now()
        row = WebSession(
            id=session_id_of(cookie_value),
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=now + ttl,
            remember=remember,
        )
        with self._db.begin() as db:
            db.add(row)
        return NewSession(cookie_value, csrf_token, user_id, now + ttl, int(ttl.total_seconds()))

    def get(self, cookie_value: str | None) -> ActiveSession | None:
        """The live session for a cookie value; an expired one is deleted and counts as none."""
        if not cookie_value or len(cookie_value) > 256:
            return None
        sid = session_id_of(cookie_value)
        with self._db.begin() as db:
            row = db.get(WebSession, sid)
            if row is None:
                return None
            expires_at = as_utc(row.expires_at)
            if expires_at <= self._now():
                # A statement, not db.delete(row): two requests may find the same expired row.
                db.execute(delete(WebSession).where(WebSession.id == sid))
                return None
            return ActiveSession(sid, row.user_id, row.csrf_token, expires_at, row.remember)

    def delete(self, cookie_value: str | None) -> bool:
        if not cookie_value:
            return False
        with self._db.begin() as db:
            result = db.execute(delete(WebSession).where(WebSession.id == session_id_of(cookie_value)))
            return bool(result.rowcount)

    def delete_user_sessions(self, user_id: str) -> int:
        """Sign a user out everywhere (e.g. when the operator deletes them)."""
        with self._db.begin() as db:
            return int(db.execute(delete(WebSession).where(WebSession.user_id == user_id)).rowcount or 0)

    def purge_expired(self) -> int:
        with self._db.begin() as db:
            return int(
                db.execute(delete(WebSession).where(WebSession.expires_at <= self._now())).rowcount or 0
            )

    def count(self, user_id: str) -> int:
        with self._db.begin() as db:
            return len(db.scalars(select(WebSession.id).where(WebSession.user_id == user_id)).all())
