"""Sessions, rate limits and sign-in flows on a real database (SQLite and PostgreSQL), test clock."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth.models import WebSession
from orchestrator.auth.rate_limit import (
    FLOW_TTL,
    INITIATE_PER_EMAIL,
    INITIATE_PER_EMAIL_NETWORK,
    INITIATE_PER_NETWORK,
    WRONG_CODE_OUTSIDE_FLOW,
    WRONG_CODE_PER_FLOW,
    WRONG_CODE_PER_NETWORK,
    Attempt,
    Limited,
    RateLimiter,
    flow_subject,
    initiate_checks,
    verify_checks,
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
        assert limits.retry_after_s(WRONG_CODE_PER_FLOW, "a@example.com") is None
        limits.record(WRONG_CODE_PER_FLOW, "a@example.com")
        clock.now += timedelta(minutes=1)
    wait = limits.retry_after_s(WRONG_CODE_PER_FLOW, "a@example.com")
    assert wait is not None and 10 * 60 <= wait <= 11 * 60 + 1
    # Other subjects and other kinds are counted apart.
    assert limits.retry_after_s(WRONG_CODE_PER_FLOW, "b@example.com") is None
    assert limits.retry_after_s(WRONG_CODE_PER_NETWORK, "a@example.com") is None
    # The oldest failure leaves the window: one more try is allowed.
    clock.now += timedelta(seconds=wait)
    assert limits.retry_after_s(WRONG_CODE_PER_FLOW, "a@example.com") is None
    limits.clear(WRONG_CODE_PER_FLOW, "a@example.com")
    assert limits.retry_after_s(WRONG_CODE_PER_FLOW, "a@example.com") is None


def test_racing_attempts_cannot_all_slip_under_the_limit(db: sessionmaker[Session]) -> None:
    """20 requests at once on one flow and network: exactly 5 get an attempt, the rest a 429."""
    limits = RateLimiter(db)
    checks = [(WRONG_CODE_PER_FLOW, "race@example.com f10w"), (WRONG_CODE_PER_NETWORK, "127.0.0.0/24")]

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


def test_only_the_newest_flow_of_an_email_is_current(db: sessionmaker[Session]) -> None:
    clock = Clock()
    limits = RateLimiter(db, clock=clock)
    owner = limits.open_flow("owner@example.com")
    assert limits.current_flow("owner@example.com", owner) == flow_subject("owner@example.com", owner)
    # Another email's flow, a forged token, no token: not in this email's flow.
    other = limits.open_flow("other@example.com")
    assert limits.current_flow("owner@example.com", other) is None
    assert limits.current_flow("owner@example.com", "made-up") is None
    assert limits.current_flow("owner@example.com", None) is None
    # A newer code request for the email (from anywhere) makes the older flow stale.
    clock.now += timedelta(seconds=1)
    newer = limits.open_flow("owner@example.com")
    assert limits.current_flow("owner@example.com", owner) is None
    assert limits.current_flow("owner@example.com", newer) is not None
    # An email with LIKE wildcards does not match another's flows.
    wild = limits.open_flow("o_ner@example.com")
    assert limits.current_flow("o_ner@example.com", wild) is not None
    clock.now += timedelta(seconds=2)
    limits.open_flow("oxner@example.com")
    assert limits.current_flow("o_ner@example.com", wild) is not None
    # A flow expires with its code's window, and a closed flow opens nothing.
    clock.now += FLOW_TTL
    assert limits.current_flow("owner@example.com", newer) is None
    fresh = limits.open_flow("owner@example.com")
    limits.close_flow("owner@example.com", fresh)
    assert limits.current_flow("owner@example.com", fresh) is None


def test_attempts_are_counted_per_flow_or_per_email_and_per_network() -> None:
    in_flow = verify_checks("a@example.com", "203.0.113.7", "a@example.com f")
    assert in_flow == [(WRONG_CODE_PER_FLOW, "a@example.com f"), (WRONG_CODE_PER_NETWORK, "203.0.113.0/24")]
    outside = verify_checks("a@example.com", "::ffff:203.0.113.9", None)
    assert outside == [(WRONG_CODE_OUTSIDE_FLOW, "a@example.com"), (WRONG_CODE_PER_NETWORK, "203.0.113.0/24")]
    assert initiate_checks("a@example.com", "2001:db8:1:2::77") == [
        (INITIATE_PER_EMAIL_NETWORK, "a@example.com 2001:db8:1:2::/64"),
        (INITIATE_PER_EMAIL, "a@example.com"),
        (INITIATE_PER_NETWORK, "2001:db8:1:2::/64"),
    ]
    # One network cannot spend an email's code requests alone, nor Privy's checks for one email.
    assert INITIATE_PER_EMAIL_NETWORK.limit * 2 <= INITIATE_PER_EMAIL.limit
    assert WRONG_CODE_OUTSIDE_FLOW.limit < 5 and WRONG_CODE_PER_NETWORK.limit < 10


def test_the_owners_flow_is_not_spent_by_guesses_outside_it(db: sessionmaker[Session]) -> None:
    limits = RateLimiter(db)
    owner = limits.open_flow("victim@example.com")
    flow = limits.current_flow("victim@example.com", owner)
    for i in range(WRONG_CODE_OUTSIDE_FLOW.limit):
        limits.acquire(verify_checks("victim@example.com", f"198.51.{i}.1", None))
    with pytest.raises(Limited) as info:
        limits.acquire(verify_checks("victim@example.com", "198.51.200.1", None))
    assert info.value.limit is WRONG_CODE_OUTSIDE_FLOW and "send a new code" in info.value.limit.advice
    assert isinstance(limits.acquire(verify_checks("victim@example.com", "192.0.2.10", flow)), Attempt)
