"""The bot's SQLite: durable settings, migrations, exact Decimals and UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from tenant_bot.storage.database import migrate, open_database, open_engine
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Position


def test_wal_synchronous_full_and_foreign_keys(tmp_path: Path) -> None:
    db = open_database(tmp_path / "bot.sqlite3")
    with db() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_reach_head_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    open_database(path)
    engine = open_engine(path)
    migrate(engine)  # a second run changes nothing
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert version == "0002"
    assert {"executions", "steps", "positions", "events", "state", "samples", "jobs"} <= tables


def test_decimals_and_times_come_back_exactly(tmp_path: Path) -> None:
    db = open_database(tmp_path / "bot.sqlite3")
    size = Decimal("7.582283354000000000001")
    at = datetime(2026, 12, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with db() as s:
        s.add(
            Position(
                id="p1",
                status="open",
                asset="SOL",
                protocol="kamino",
                leverage=Decimal(3),
                long_token_size=size,
                opened_at=at,
            )
        )
        s.commit()
    with db() as s:
        p = s.get(Position, "p1")
        assert p is not None
        assert p.long_token_size == size and str(p.long_token_size) == str(size)
        assert p.opened_at == at and p.opened_at.tzinfo is not None


def test_events_are_persisted_in_order_and_replayable(tmp_path: Path) -> None:
    db = open_database(tmp_path / "bot.sqlite3")
    log = EventLog(db)
    seen: list[str] = []
    log.subscribe(lambda e: seen.append(e.kind))
    first = log.emit("a.one", "first", amount=Decimal("1.50"))
    log.emit("a.two", "second", severity="warning")
    assert seen == ["a.one", "a.two"]
    assert [e.kind for e in log.since(0)] == ["a.one", "a.two"]
    assert [e.kind for e in log.since(first.id)] == ["a.two"]
    assert log.since(0)[0].data == {"amount": "1.50"}
