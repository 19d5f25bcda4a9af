"""A database behind the connector port: each operation one fixed SELECT, its parameters
bound by name (never spliced into the text), on a connection that cannot write.

SQLite is opened `mode=ro` with `PRAGMA query_only`; PostgreSQL sessions are read-only
(`default_transaction_read_only`) and every look-up's transaction says `SET TRANSACTION READ
ONLY` first. A statement running past `statement_timeout` is stopped (PostgreSQL's own
`statement_timeout`; SQLite's progress handler). Errors become an "error" answer naming the
exception's type only: a driver's message may quote the URL or the parameters."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from hotline.errors import HotlineError
from hotline.ivr.interpreter import LookupResult
from hotline.records.port import LookupRequest, error
from hotline.records.sql.settings import SqlSettings

PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between looks at the clock


class SqlConnector:
    def __init__(self, *, settings: SqlSettings, url: str) -> None:
        """`url`: the database's (from the environment variable `settings.url_env`); a URL
        that is wrong raises HotlineError naming the variable, never the URL."""
        self.settings = settings
        self.engine, self.dialect = _engine(settings, url)

    def close(self) -> None:
        self.engine.dispose()

    def lookup(self, request: LookupRequest) -> LookupResult:
        op = self.settings.operations.get(request.operation)
        if op is None:
            return error(f"unknown operation {request.operation[:60]!r}")
        missing = sorted(set(op.params) - set(request.params))
        if missing:
            return error(f"the look-up lacks the parameter {missing[0]!r}")
        params = {name: request.params[name] for name in op.params}
        nul = sorted(name for name, value in params.items() if "\x00" in value)
        if nul:  # PostgreSQL text cannot hold one: no record can match it, on any database
            return error(f"the parameter {nul[0]!r} holds a NUL character")
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                with self._stopped_in_time(conn.connection.dbapi_connection):
                    rows = conn.execute(text(op.sql), params).mappings().fetchmany(2)
                conn.rollback()
        except DBAPIError as e:
            if _timed_out(e):
                return error(f"the query took longer than {self.settings.statement_timeout:g} s")
            return error(f"the database failed the look-up ({type(e.orig).__name__})")
        except SQLAlchemyError as e:
            return error(f"the database failed the look-up ({type(e).__name__})")
        if not rows:
            return LookupResult("not_found")
        if len(rows) > 1:
            return error("more than one record answers the look-up")
        return LookupResult("found", {k: _text(v) for k, v in rows[0].items() if v is not None})

    @contextlib.contextmanager
    def _stopped_in_time(self, raw: Any) -> Iterator[None]:
        """SQLite: interrupt the statement past the timeout (PostgreSQL does it itself)."""
        if self.dialect != "sqlite":
            yield
            return
        deadline = time.monotonic() + self.settings.statement_timeout
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)


def _timed_out(e: DBAPIError) -> bool:
    name = type(e.orig).__name__
    return name == "QueryCanceled" or (
        isinstance(e.orig, sqlite3.OperationalError) and str(e.orig) == "interrupted"
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _engine(settings: SqlSettings, url: str) -> tuple[Engine, str]:
    var = settings.url_env
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HotlineError(f"{var} is not a database URL (fix: sqlite:///path/to/records."
                           "sqlite3 or postgresql://user@host/db)") from None  # fmt: skip
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise HotlineError(f"{var} names no SQLite database file")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            raise HotlineError(f"{var} names an SQLite database file that does not exist")
        uri = path.as_uri() + "?mode=ro"
        timeout = settings.connect_timeout

        def opened() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            return conn

        return create_engine("sqlite://", creator=opened, hide_parameters=True), "sqlite"
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(
            parsed,
            hide_parameters=True,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, math.ceil(settings.connect_timeout))},
        )
        ms = max(1, round(settings.statement_timeout * 1000))

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                cursor.execute(f"SET statement_timeout = {ms:d}")
            dbapi_connection.autocommit = autocommit

        return engine, "postgresql"
    raise HotlineError(f"{var} names a database the SQL connector does not support "
                       "(fix: sqlite:/// or postgresql://)")  # fmt: skip
