"""The store: SQLAlchemy tables, the Alembic migrations, and the repository the live
driver writes through (SQLite by default, PostgreSQL by URL)."""
