"""The control plane database: users, tenants, sessions (SQLAlchemy 2; SQLite, or PostgreSQL by URL)."""
