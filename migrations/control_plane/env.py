"""Alembic environment of the control plane's database; orchestrator/database/session.py runs it."""

from __future__ import annotations

from alembic import context

import orchestrator.auth.models
import orchestrator.database.models  # noqa: F401  (registers the tables on Base.metadata)
from orchestrator.database.base import Base
from orchestrator.database.session import open_engine

config = context.config
target_metadata = Base.metadata


# Deliberately the same steps as the other env.py (migrations/tenant/env.py): Alembic runs each
# file as its own script for its own database, and the bot's wheel carries only this one.
def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    # `alembic -x url=sqlite:///path upgrade head` (or a postgresql+psycopg:// URL) from a shell.
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///var/control/control.sqlite3 ...")
    engine = open_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
