"""Alembic environments, one per database: `tenant/` (each bot's SQLite) and, later, `control_plane/`."""
