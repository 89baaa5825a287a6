"""Opening the bot's SQLite: WAL, synchronous=FULL, foreign keys, and migrations to the newest schema.

WAL lets the dashboard read while the engine writes; `synchronous=FULL` makes every committed
journal row survive a power cut, which is what crash-safe execution rests on.

A new bot's database is created straight from the models and stamped with the newest revision,
and a database already at the newest revision is left alone, both without importing Alembic
(slow to import and to run: most of a new bot's start-up). Every other database is upgraded by
Alembic. `tests/unit/tenant_bot/storage/test_database.py` checks that both ways give one schema.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.sqlite import apply_pragmas

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "tenant"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    apply_pragmas(dbapi_connection, synchronous="FULL")


def open_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    return engine


@functools.cache
def head_revision() -> str:
    """The newest revision in migrations/tenant/versions, read from the files (no Alembic import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        text = script.read_text()
        found = _REVISION.search(text)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down is not None and down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the bot's migrations must have one head, found {sorted(heads)}")
    return heads.pop()


def _schema_ddl() -> list[str]:
    """CREATE statements for every table and index of the models, then the Alembic stamp table."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from tenant_bot.storage.models import Base

    dialect = sqlite.dialect()
    ddl: list[str] = []
    for table in Base.metadata.sorted_tables:
        ddl.append(str(CreateTable(table).compile(dialect=dialect)))
        ddl.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    # As Alembic creates it, so Alembic takes over the file for later upgrades.
    ddl.append(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    return ddl


def _at_head(conn: sqlite3.Connection, tables: set[str]) -> bool:
    if "alembic_version" not in tables:
        return False
    return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")] == [head_revision()]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# How long openers racing on one new file may wait for each other before "database is locked".
CREATE_WAIT_SECONDS = 30.0


def _create_or_check(path: Path) -> bool:
    """Create a new database at the head revision; True when the file is now at the head revision.

    An existing file is only read. A new one is made in one write transaction (BEGIN IMMEDIATE,
    emptiness checked again inside it) holding the schema and its stamp, so a crash or another
    process opening the same file at once never sees a half-made schema.

    Switching a new file to WAL may answer "database is locked" at once, without waiting, while
    another opener holds it; the attempt is repeated (it is idempotent) until CREATE_WAIT_SECONDS.
    """
    deadline = time.monotonic() + CREATE_WAIT_SECONDS
    while True:
        try:
            return _create_or_check_once(path)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_or_check_once(path: Path) -> bool:
    conn = sqlite3.connect(path, isolation_level=None, timeout=CREATE_WAIT_SECONDS)
    try:
        tables = _tables(conn)
        if tables:
            return _at_head(conn, tables)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = _tables(conn)
            if tables:  # another process made it meanwhile
                at_head = _at_head(conn, tables)
                conn.execute("ROLLBACK")
                return at_head
            for statement in _schema_ddl():
                conn.execute(statement)
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (head_revision(),))
            conn.execute("COMMIT")
            return True
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    # Alembic narrates every plugin it loads at INFO (at import); the bot's log has no use for it.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(path: Path) -> sessionmaker[Session]:
    engine = open_engine(path)
    if not _create_or_check(path):
        migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
