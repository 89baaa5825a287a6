"""Sign-in limits: guessing a code stays slow, and nobody can lock another person out from elsewhere.

Everything is counted in the database (table `auth_attempts`), so limits survive restarts and hold
across workers. A client is counted by its network (`client_network`: IPv4 /24, IPv6 /64), so one
machine cannot multiply a limit by using many addresses of one allocation; behind a reverse proxy the
client is what a trusted proxy reports (orchestrator/request_origin.py). Windows slide over 15 minutes.

Sign-in flows. Each code request (initiate) opens a flow for that email and binds it to the browser
that asked, in an HttpOnly cookie (`basis_signin`, 15 minutes) holding a random token; the database
keeps only the token's hash, next to the email. The flow that asked for an email's newest code is
that email's current flow (Privy honours only the newest code, so an older flow's code is dead anyway).

Codes (verify). A wrong code is counted before Privy is asked, so parallel guesses cannot slip
through, and taken back when the code was right:
- in the email's current flow: 5 wrong codes per flow; then "send a new code" (a new flow). Only the
  browser that asked for the code holds its flow, so nobody else's guesses spend it: the owner's
  right code passes however many wrong ones others sent from other networks;
- outside it (no flow cookie, a flow for another email, an older flow): 3 wrong codes per email per
  15 minutes, all networks together. This is the per-email back-off, and it touches only attempts
  made outside the flow that asked for the code: an attacker who never asked for a code gets three
  guesses per quarter hour at anyone's code (fewer than the five Privy allows per code, so the
  owner's code survives them), and the owner, in their own flow, never meets this limit;
- per network: 8 wrong codes per 15 minutes, whatever the email (guessing at many people's codes
  from one network; also fewer than the 10 checks per email Privy allows in 10 minutes, so one
  network cannot spend an owner's checks at Privy).
A guess in a flow needs a code sent to the owner's inbox first, so guessing at scale announces
itself, and is bounded by the initiate limits: at most 6 flows × 5 + 3 = 33 guesses per email per
15 minutes, no more than 8 of them from one network, against a 6-digit code that dies after 5 wrong
tries. What these limits cannot tell apart is an attacker on the owner's own network: sharing a /24
(or one NAT address) shares its network limits.

Code requests (initiate), so nobody can flood an inbox, Privy's own per-address limits, or use these
limits to keep an owner from getting a code:
- 3 per email per network: one network cannot spend the per-email budget alone;
- 6 per email, all networks together;
- 20 per network, whatever the email.

`acquire` checks and records in one transaction, holding a lock per counter (PostgreSQL: an advisory
lock; SQLite: its single write lock), so requests racing on one counter cannot all slip under a
limit; `refund` takes a recorded attempt back (the code was right after all).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.clock import Clock, as_utc, utc_now
from orchestrator.auth.models import AuthAttempt
from orchestrator.database.session import serialize
from shared.network_addresses import client_network

WINDOW = timedelta(minutes=15)
FLOW_TTL = WINDOW
FLOW = "signin_flow"  # the kind of the row that records an opened flow: a record, not a counter


@dataclass(frozen=True)
class Limit:
    """At most `limit` events of `kind` per subject in any `window`; `advice` tells the person what to do."""

    kind: str
    limit: int
    window: timedelta
    advice: str


_WAIT = "Too many attempts; try again in {wait}."
WRONG_CODE_PER_FLOW = Limit("wrong_code:flow", 5, FLOW_TTL, "Too many wrong codes; send a new code.")
WRONG_CODE_OUTSIDE_FLOW = Limit(
    "wrong_code:email",
    3,
    WINDOW,
    "Too many attempts for this address; send a new code from this page and enter it here, "
    "or try again in {wait}.",
)
WRONG_CODE_PER_NETWORK = Limit("wrong_code:network", 8, WINDOW, _WAIT)
INITIATE_PER_EMAIL_NETWORK = Limit("initiate:email_network", 3, WINDOW, _WAIT)
INITIATE_PER_EMAIL = Limit("initiate:email", 6, WINDOW, _WAIT)
INITIATE_PER_NETWORK = Limit("initiate:network", 20, WINDOW, _WAIT)


class Limited(Exception):
    """A limit is reached: another attempt is allowed in `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int, limit: Limit | None = None) -> None:
        super().__init__(f"rate limited for {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.limit = limit


@dataclass(frozen=True)
class Attempt:
    """The events one request recorded, one per limit, so they can be refunded."""

    ids: tuple[int, ...]


def flow_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def flow_subject(email: str, token: str) -> str:
    """One flow's subject: the email and the hash of its cookie token (a space never occurs in an email)."""
    return f"{email} {flow_hash(token)}"


def email_network(email: str, client: str) -> str:
    return f"{email} {client_network(client)}"


def initiate_checks(email: str, client: str) -> list[tuple[Limit, str]]:
    """The limits one code request counts under."""
    return [
        (INITIATE_PER_EMAIL_NETWORK, email_network(email, client)),
        (INITIATE_PER_EMAIL, email),
        (INITIATE_PER_NETWORK, client_network(client)),
    ]


def verify_checks(email: str, client: str, flow: str | None) -> list[tuple[Limit, str]]:
    """The limits one code attempt counts under; `flow` is the email's current flow's subject, if the
    attempt was made in it (`RateLimiter.current_flow`)."""
    own = (WRONG_CODE_PER_FLOW, flow) if flow is not None else (WRONG_CODE_OUTSIDE_FLOW, email)
    return [own, (WRONG_CODE_PER_NETWORK, client_network(client))]


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
            waits = [(w, limit) for limit, subject in checks if (w := self._wait(db, limit, subject, now))]
            if waits:
                wait, limit = max(waits, key=lambda pair: pair[0])
                raise Limited(wait, limit)
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

    # ------------------------------------------------------------------ flows
    def open_flow(self, email: str) -> str:
        """Open a sign-in flow for `email` (a code was just sent); returns the token for its cookie.
        It becomes the email's current flow."""
        token = secrets.token_urlsafe(32)
        with self._db.begin() as db:
            db.add(AuthAttempt(kind=FLOW, subject=flow_subject(email, token), at=self._now()))
        return token

    def current_flow(self, email: str, token: str | None) -> str | None:
        """The flow's subject when `token` is the cookie of `email`'s current flow (the newest opened
        for it within `FLOW_TTL`), else None."""
        if not token or len(token) > 100:
            return None
        now = self._now()
        with self._db.begin() as db:
            newest = db.scalars(
                select(AuthAttempt.subject)
                .where(
                    AuthAttempt.kind == FLOW,
                    AuthAttempt.subject.startswith(f"{email} ", autoescape=True),
                    AuthAttempt.at > now - FLOW_TTL,
                )
                .order_by(AuthAttempt.at.desc(), AuthAttempt.id.desc())
                .limit(1)
            ).first()
        subject = flow_subject(email, token)
        return subject if newest == subject else None

    def close_flow(self, email: str, token: str | None) -> None:
        """The flow signed someone in: its cookie opens nothing any more."""
        if token:
            with self._db.begin() as db:
                db.execute(
                    delete(AuthAttempt).where(
                        AuthAttempt.kind == FLOW, AuthAttempt.subject == flow_subject(email, token)
                    )
                )
