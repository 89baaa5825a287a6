"""Alembic environment of the bot's database; the bot runs it in-process (tenant_bot/storage/database.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tenant_bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


# Deliberately the same steps as the other env.py (migrations/control_plane/env.py): Alembic runs each
# file as its own script for its own database, and the bot's wheel carries only this one.
def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    # `alembic -x url=sqlite:///path upgrade head` from a shell.
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path/bot.sqlite3 ...")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
