"""Sessions and rate limits on a real SQLite file, with a clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.models import WebSession
from orchestrator.auth.rate_limit import WRONG_CODE_PER_CLIENT, WRONG_CODE_PER_EMAIL, RateLimiter
from orchestrator.auth.sessions import REMEMBER_TTL, SESSION_TTL, SessionStore, session_id_of
from orchestrator.database.base import Base


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> sessionmaker[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    Base.metadata.create_all(engine)
    return sessionmaker(engine)


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
