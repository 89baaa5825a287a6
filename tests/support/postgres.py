"""A fresh PostgreSQL database per test, on the server `BASIS_TEST_POSTGRES_URL` points at.

`.ci/run` installs and starts Debian's PostgreSQL and sets the URL (a role that may CREATE
DATABASE, e.g. `postgresql+psycopg://basis:basis@127.0.0.1:5432/postgres`). Without it the
PostgreSQL variants skip, unless `BASIS_REQUIRE_POSTGRES=1`, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

URL_ENV = "BASIS_TEST_POSTGRES_URL"
REQUIRE_ENV = "BASIS_REQUIRE_POSTGRES"
# Databases this module creates; a crashed run's leftovers are recognisable by the prefix.
PREFIX = "basis_test_"


def server_url() -> str | None:
    return os.environ.get(URL_ENV) or None


def require_postgres() -> bool:
    return os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason, or fail with it when PostgreSQL is required (CI)."""
    if require_postgres():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def _admin_engine(url: str) -> Engine:
    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction. NullPool: nothing lingers.
    return create_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 10}
    )


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """Create a database with a random name, yield its URL, drop it afterwards (even if still in use)."""
    url = server_url()
    if url is None:
        skip_or_fail(
            f"PostgreSQL tests need {URL_ENV}, e.g. postgresql+psycopg://basis:basis@127.0.0.1/postgres"
        )
    server = make_url(url)
    name = f"{PREFIX}{secrets.token_hex(6)}"
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        skip_or_fail(f"cannot create a database on the PostgreSQL server at {URL_ENV}: {type(exc).__name__}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            # FORCE (PostgreSQL 13+) ends the sessions a test's engine or bot subprocess left open.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The ids the control-plane fixtures are parametrized with.
BACKENDS = ("sqlite", "postgres")


@contextlib.contextmanager
def database_url_for(backend: str, sqlite_path: os.PathLike[str] | str) -> Iterator[str]:
    """The database URL for a backend: a SQLite file at `sqlite_path`, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_path}"
    elif backend == "postgres":
        with fresh_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database backend {backend!r}")
