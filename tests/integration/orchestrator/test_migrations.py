"""The control plane's Alembic migrations on both backends: up, down, up again, and the models match."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import orchestrator.auth.models
import orchestrator.database.models  # noqa: F401  (registers every table on Base.metadata)
from orchestrator.database.base import Base
from orchestrator.database.session import MIGRATIONS, open_database, open_engine

TABLES = {
    "users",
    "tenants",
    "web_sessions",
    "auth_attempts",
    "retained_data",
    "withdrawal_addresses",
    "broker_outflows",
}


def _alembic(engine: Engine, verb: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, revision)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_downgrade_upgrade(control_plane_db_url: str) -> None:
    engine = open_engine(control_plane_db_url)
    try:
        _alembic(engine, "upgrade", "head")
        assert TABLES | {"alembic_version"} <= _tables(engine)
        _alembic(engine, "downgrade", "base")
        assert not TABLES & _tables(engine), "downgrade base left tables behind"
        _alembic(engine, "upgrade", "head")
        assert _tables(engine) >= TABLES
        # open_database migrates too: on an up-to-date schema that is a no-op.
        open_database(control_plane_db_url).kw["bind"].dispose()
    finally:
        engine.dispose()


def test_models_match_the_migrations(control_plane_db_url: str) -> None:
    db = open_database(control_plane_db_url)
    engine = db.kw["bind"]
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"a model differs from the migrations (write a new revision): {diff}"
    finally:
        engine.dispose()
