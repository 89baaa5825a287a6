"""Sliding-window limits on sign-in, counted in the database so they survive restarts and workers.

Code attempts: at most 5 wrong codes per 15 minutes per email and per client address; the sixth
try is refused before Privy is asked. Initiations (codes sent): 5 per email and 20 per client
address per 15 minutes, so nobody can flood an inbox or Privy's own per-IP limit.

`acquire` checks and records in one transaction, holding a lock per counter (PostgreSQL: an
advisory lock; SQLite: its single write lock), so requests racing on one email or client cannot
all slip under a limit; `refund` takes a recorded attempt back (the code was right after all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.auth.models import AuthAttempt
from orchestrator.database.session import serialize


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


class Limited(Exception):
    """A limit is reached: another attempt is allowed in `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limited for {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Attempt:
    """The events one request recorded, one per limit, so they can be refunded."""

    ids: tuple[int, ...]


class RateLimiter:
    def __init__(self, db: sessionmaker[Session], *, clock: Clock = utc_now) -> None:
        self._db = db
        self._now = clock

    def retry_after_s(self, limit: Limit, subject: str) -> int | None:
        """None when another event is allowed now, else the seconds until one is."""
        with self._db.begin() as db:
            return self._wait(db, limit, subject, self._now())

    @staticmethod
    def _wait(db: Session, limit: Limit, subject: str, now: datetime) -> int | None:
        count, oldest = db.execute(
            select(func.count(AuthAttempt.id), func.min(AuthAttempt.at)).where(
                AuthAttempt.kind == limit.kind,
                AuthAttempt.subject == subject,
                AuthAttempt.at > now - limit.window,
            )
        ).one()
        if count < limit.limit or oldest is None:
            return None
        # Only the count matters for allowing; this is the soonest the oldest event leaves the window.
        wait = as_utc(oldest) + limit.window - now
        return max(1, int(wait.total_seconds()) + 1)

    def acquire(self, checks: Sequence[tuple[Limit, str]]) -> Attempt:
        """Record one event under every limit if all of them allow it now, else raise `Limited`.

        Check and record are one transaction under a lock per counter: of two requests racing on
        the last free attempt, one gets it and the other waits, then is refused.
        """
        now = self._now()
        with self._db.begin() as db:
            # Sorted, so two requests locking the same counters never wait for each other in a cycle.
            for kind, subject in sorted({(limit.kind, subject) for limit, subject in checks}):
                serialize(db, f"rate-limit:{kind}:{subject}")
            self._prune(db, now)
            waits = [w for limit, subject in checks if (w := self._wait(db, limit, subject, now)) is not None]
            if waits:
                raise Limited(max(waits))
            rows = [AuthAttempt(kind=limit.kind, subject=subject, at=now) for limit, subject in checks]
            db.add_all(rows)
            db.flush()
            return Attempt(tuple(row.id for row in rows))

    def refund(self, attempt: Attempt) -> None:
        """Take back the events `acquire` recorded (the attempt turned out not to count)."""
        if attempt.ids:
            with self._db.begin() as db:
                db.execute(delete(AuthAttempt).where(AuthAttempt.id.in_(attempt.ids)))

    @staticmethod
    def _prune(db: Session, now: datetime) -> None:
        # Old rows count for nothing; drop them on the way so the table stays small.
        db.execute(delete(AuthAttempt).where(AuthAttempt.at <= now - 2 * WINDOW))

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
