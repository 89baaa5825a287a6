"""Sessions and rate limits on a real database (SQLite and PostgreSQL), with a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.models import WebSession
from orchestrator.auth.rate_limit import (
    WRONG_CODE_PER_CLIENT,
    WRONG_CODE_PER_EMAIL,
    Attempt,
    Limited,
    RateLimiter,
)
from orchestrator.auth.sessions import REMEMBER_TTL, SESSION_TTL, SessionStore, session_id_of
from orchestrator.database.session import open_database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(control_plane_db_url: str) -> Iterator[sessionmaker[Session]]:
    """The migrated control-plane database, on SQLite and on PostgreSQL."""
    sessions = open_database(control_plane_db_url)
    yield sessions
    sessions.kw["bind"].dispose()


def test_sessions_expire_after_24_hours_or_7_days(db: sessionmaker[Session]) -> None:
    clock = Clock()
    store = SessionStore(db, clock=clock)
    short = store.create("u1", remember=False)
    long = store.create("u1", remember=True)
    assert short.max_age_s == SESSION_TTL.total_seconds() and long.max_age_s == REMEMBER_TTL.total_seconds()
    assert short.cookie_value != long.cookie_value and short.csrf_token != short.cookie_value
    with db() as s:
        stored = set(s.scalars(select(WebSession.id)))
    assert stored == {session_id_of(short.cookie_value), session_id_of(long.cookie_value)}
    active = store.get(short.cookie_value)
    assert active is not None and active.user_id == "u1" and active.csrf_token == short.csrf_token
    clock.now += SESSION_TTL
    assert store.get(short.cookie_value) is None
    assert store.get(long.cookie_value) is not None
    clock.now += REMEMBER_TTL
    assert store.purge_expired() == 1
    assert store.get(long.cookie_value) is None


def test_unknown_and_deleted_sessions(db: sessionmaker[Session]) -> None:
    store = SessionStore(db)
    assert store.get(None) is None and store.get("") is None and store.get("x" * 1000) is None
    new = store.create("u2", remember=False)
    assert store.delete(new.cookie_value) is True
    assert store.get(new.cookie_value) is None and store.delete(new.cookie_value) is False
    store.create("u2", remember=False)
    store.create("u2", remember=True)
    assert store.delete_user_sessions("u2") == 2 and store.count("u2") == 0


def test_five_failures_per_subject_per_window(db: sessionmaker[Session]) -> None:
    clock = Clock()
    limits = RateLimiter(db, clock=clock)
    for _ in range(5):
        assert limits.retry_after_s(WRONG_CODE_PER_EMAIL, "a@example.com") is None
        limits.record(WRONG_CODE_PER_EMAIL, "a@example.com")
        clock.now += timedelta(minutes=1)
    wait = limits.retry_after_s(WRONG_CODE_PER_EMAIL, "a@example.com")
    assert wait is not None and 10 * 60 <= wait <= 11 * 60 + 1
    # Other subjects and other kinds are counted apart.
    assert limits.retry_after_s(WRONG_CODE_PER_EMAIL, "b@example.com") is None
    assert limits.retry_after_s(WRONG_CODE_PER_CLIENT, "a@example.com") is None
    # The oldest failure leaves the window: one more try is allowed.
    clock.now += timedelta(seconds=wait)
    assert limits.retry_after_s(WRONG_CODE_PER_EMAIL, "a@example.com") is None
    limits.clear(WRONG_CODE_PER_EMAIL, "a@example.com")
    assert limits.retry_after_s(WRONG_CODE_PER_EMAIL, "a@example.com") is None


def test_racing_attempts_cannot_all_slip_under_the_limit(db: sessionmaker[Session]) -> None:
    """20 requests at once on one email and client: exactly 5 get an attempt, the rest a 429."""
    limits = RateLimiter(db)
    checks = [(WRONG_CODE_PER_EMAIL, "race@example.com"), (WRONG_CODE_PER_CLIENT, "127.0.0.9")]

    def one(_: int) -> Attempt | int:
        try:
            return limits.acquire(checks)
        except Limited as exc:
            return exc.retry_after_s

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(20)))
    granted = [r for r in results if isinstance(r, Attempt)]
    assert len(granted) == 5, results
    assert all(isinstance(r, int) and 0 < r <= 15 * 60 + 1 for r in results if not isinstance(r, Attempt))
    # A refunded attempt (the code was right) frees its place again, under both limits.
    limits.refund(granted[0])
    assert isinstance(limits.acquire(checks), Attempt)
    with pytest.raises(Limited):
        limits.acquire(checks)
