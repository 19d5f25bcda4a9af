"""Connecting to the database and bringing its schema up to date.

SQLite runs in WAL mode with `synchronous=FULL` (NORMAL can lose committed transactions on
power loss) and a busy timeout; PostgreSQL is used as configured (fsync on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from hotline.errors import HotlineError

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreUnavailable(HotlineError):
    error_id = "store-unavailable"


def connect(url: str) -> Engine:
    """An engine for `url` (sqlite:///file.sqlite3 or postgresql+psycopg://...)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError) as e:
        raise StoreUnavailable(f"cannot use database URL {url!r}: {e}") from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> list[str]:
    """Apply every migration the database lacks; return the revisions applied."""
    cfg = _config()
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            after = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as e:
        raise StoreUnavailable(
            f"cannot migrate the database: {e.__class__.__name__}: {e}"
        ) from None
    if before == after:
        return []
    script = ScriptDirectory.from_config(cfg)
    return [r.revision for r in script.iterate_revisions(after, before)][::-1]


def is_current(engine: Engine) -> bool:
    script = ScriptDirectory.from_config(_config())
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == script.get_current_head()
