"""Opening the control-plane database: engine (SQLite in WAL mode, or PostgreSQL), migrations, sessions."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.sqlite import apply_pragmas

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "control_plane"

# PostgreSQL pool: a handful of connections per process (the API answers from a thread pool), a
# dead connection found before use rather than as a 500, and none kept past what a server or a
# load balancer in between may silently drop.
PG_POOL = {
    "pool_pre_ping": True,
    "pool_size": 5,
    "max_overflow": 10,
    "pool_timeout": 30,
    "pool_recycle": 1800,
}
# Seconds to wait for the PostgreSQL server before a request fails with a clear error.
PG_CONNECT_TIMEOUT_S = 10


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the CLI and `basis serve` read and write the same file at the same time.
    apply_pragmas(dbapi_connection, synchronous="NORMAL")


def normalise_url(url: str) -> URL:
    """The URL to open; `postgres://` and `postgresql://` (what hosting providers hand out) use psycopg 3."""
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def private_sqlite(path: Path) -> None:
    """The database file exists and it, its WAL and its shared-memory file are this user's only (0600).

    A new file is created 0600 before SQLite opens it: SQLite gives the WAL and shared-memory files the
    database's own mode, whatever the umask. Files an older version left 0644 are tightened (chmod:
    an existing file is never opened here, since closing any descriptor of it would drop the POSIX
    locks this process's SQLite connections hold on it)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(f"{path}{suffix}").st_mode
            if mode & 0o077:
                os.chmod(f"{path}{suffix}", stat.S_IMODE(mode) & ~0o077)


def open_engine(url: str) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite(Path(parsed.database))
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        connect_args["application_name"] = "basis-control-plane"
    return create_engine(parsed, connect_args=connect_args, **PG_POOL)


def serialize(conn: Connection | Session, name: str) -> None:
    """Hold a lock named `name` until the current transaction ends, so racing writers take turns.

    PostgreSQL: a transaction-scoped advisory lock (two workers or the CLI allocating a port, or
    counting the same rate limit, wait for each other instead of both reading the same state).
    SQLite has one lock for the whole file: the transaction takes its write lock now (BEGIN
    IMMEDIATE) rather than at its first write, so what it reads next is not stale. Call this
    before the reads it protects.
    """
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name == "postgresql":
        # crc32 fits the signed bigint the lock takes; a collision only makes two names share a lock.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})
    elif bind.dialect.name == "sqlite":
        connection = conn.connection() if isinstance(conn, Session) else conn
        dbapi = connection.connection.dbapi_connection
        # pysqlite starts its transaction only at the first write; reads before that see no lock.
        if dbapi is not None and not dbapi.in_transaction:
            dbapi.execute("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        # Two processes starting at once (`basis serve` and the CLI) migrate one after the other.
        serialize(conn, "basis:migrate")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str) -> sessionmaker[Session]:
    engine = open_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
