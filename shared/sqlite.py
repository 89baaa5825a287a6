"""The pragmas every SQLite connection of ours gets: the control plane's database and each bot's."""

from __future__ import annotations

from typing import Any, Literal


def apply_pragmas(dbapi_connection: Any, *, synchronous: Literal["NORMAL", "FULL"]) -> None:
    """WAL (readers never wait for the writer), foreign keys enforced, up to 5 s of waiting for a lock
    before "database is locked", and the durability the caller chose (`synchronous`)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
