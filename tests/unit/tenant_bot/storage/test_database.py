"""The bot's SQLite: durable settings, migrations, exact Decimals and UTC times."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

from tenant_bot.storage.database import MIGRATIONS, head_revision, migrate, open_database, open_engine
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
    assert version == "0003"
    assert {"executions", "steps", "positions", "events", "state", "samples", "jobs"} <= tables


def _schema(engine: Engine) -> dict[str, Any]:
    insp = inspect(engine)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"], c.get("primary_key"))
                for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table),
            "fks": insp.get_foreign_keys(table),
            "indexes": sorted(insp.get_indexes(table), key=lambda i: str(i["name"])),
            "unique": insp.get_unique_constraints(table),
            "checks": insp.get_check_constraints(table),
        }
        for table in sorted(insp.get_table_names())
    }


def test_a_new_database_made_from_the_models_matches_the_migrations(tmp_path: Path) -> None:
    migrated = open_engine(tmp_path / "migrated.sqlite3")
    migrate(migrated)  # Alembic, from nothing
    open_database(tmp_path / "new.sqlite3")  # the fast path: models, stamped at the head
    created = open_engine(tmp_path / "new.sqlite3")
    assert _schema(created) == _schema(migrated)
    with created.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_an_older_database_is_upgraded_by_alembic(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "old.sqlite3"
    engine = open_engine(path)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        # A position the older bot held open: kept, with no long known lost.
        conn.execute(
            text(
                "INSERT INTO positions (id, status, asset, protocol, leverage, shadow, short_size, ledger,"
                " created_at) VALUES ('p1', 'open', 'SOL', 'kamino', '3', 0, '10', '{}', '2026-12-01')"
            )
        )
    db = open_database(path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"samples", "jobs"} <= tables
    with db() as s:
        kept = s.get(Position, "p1")
        assert kept is not None and kept.short_size == Decimal(10) and kept.long_lost_at is None


def test_openers_racing_on_a_new_file_make_one_schema(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: open_database(path), range(4)))
    engine = open_engine(path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]
    assert _schema(engine) == _schema(_migrated(tmp_path))


def _migrated(tmp_path: Path) -> Engine:
    engine = open_engine(tmp_path / "migrated.sqlite3")
    migrate(engine)
    return engine


def test_new_and_current_databases_open_without_importing_alembic(tmp_path: Path) -> None:
    # Alembic is most of a new bot's start-up time: only an upgrade may need it.
    code = (
        "import sys; from pathlib import Path; from tenant_bot.storage.database import open_database; "
        f"open_database(Path({str(tmp_path / 'bot.sqlite3')!r})); "
        f"open_database(Path({str(tmp_path / 'bot.sqlite3')!r})); "
        "assert 'alembic' not in sys.modules, 'alembic was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


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
