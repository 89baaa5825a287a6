"""Sliding-window limits on sign-in, counted in the database so they survive restarts and workers.

Code attempts: at most 5 wrong codes per 15 minutes per email and per client address; the sixth
try is refused before Privy is asked. Initiations (codes sent): 5 per email and 20 per client
address per 15 minutes, so nobody can flood an inbox or Privy's own per-IP limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.auth.models import AuthAttempt


@dataclass(frozen=True)
class Limit:
    kind: str
    limit: int
    window: timedelta


WINDOW = timedelta(minutes=15)
WRONG_CODE_PER_EMAIL = Limit("wrong_code:email", 5, WINDOW)
WRONG_CODE_PER_CLIENT = Limit("wrong_code:client", 5, WINDOW)
INITIATE_PER_EMAIL = Limit("initiate:email", 5, WINDOW)
INITIATE_PER_CLIENT = Limit("initiate:client", 20, WINDOW)


class RateLimiter:
    def __init__(self, db: sessionmaker[Session], *, clock: Clock = utc_now) -> None:
        self._db = db
        self._now = clock

    def retry_after_s(self, limit: Limit, subject: str) -> int | None:
        """None when another event is allowed now, else the seconds until one is."""
        since = self._now() - limit.window
        with self._db.begin() as db:
            count, oldest = db.execute(
                select(func.count(AuthAttempt.id), func.min(AuthAttempt.at)).where(
                    AuthAttempt.kind == limit.kind, AuthAttempt.subject == subject, AuthAttempt.at > since
                )
            ).one()
        if count < limit.limit or oldest is None:
            return None
        # Only the count matters for allowing; this is the soonest the oldest event leaves the window.
        wait = as_utc(oldest) + limit.window - self._now()
        return max(1, int(wait.total_seconds()) + 1)

    def record(self, limit: Limit, subject: str) -> None:
        now = self._now()
        with self._db.begin() as db:
            db.add(AuthAttempt(kind=limit.kind, subject=subject, at=now))
            # Old rows count for nothing; drop them on the way so the table stays small.
            db.execute(delete(AuthAttempt).where(AuthAttempt.at <= now - limit.window - WINDOW))

    def clear(self, limit: Limit, subject: str) -> None:
        with self._db.begin() as db:
            db.execute(
                delete(AuthAttempt).where(AuthAttempt.kind == limit.kind, AuthAttempt.subject == subject)
            )
