"""Connecting to the database and bringing its schema up to date.

SQLite runs in WAL mode with `synchronous=FULL` (NORMAL can lose committed transactions on
power loss) and a busy timeout; PostgreSQL is used as configured (fsync on), with a connect
timeout so a server that does not answer is an error, not a hang.

A database URL may carry a password: `redacted()` is the only form of a URL we ever print,
and `scrub()` takes it out of any message a driver gives us."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.pool import QueuePool

from hotline.errors import HotlineError, StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT = 5  # seconds for a database server to accept a connection
IDLE_PING = 2.0  # seconds a server's connection may sit in the pool and be lent untried
# connections a process keeps to its database at most, each kept once opened: a thread
# that finds them all lent waits for one. (SQLAlchemy's default lends as many, but keeps
# only 5 and closes the others as they come back: 7,000 agents logging in at once opened
# about 4,000, each a server process on PostgreSQL; docs/benchmarks.md)
POOL = 15
# seconds a thread waits for one of them, then its request answers 503 ("try again
# shortly"): a caller's webhook that reads the store gets the line's answer, not the
# carrier's error, within the 15 s a carrier waits for it, even on a node, where it may wait
# twice (the requests' placement, then its line's own pool)
POOL_WAIT = 5.0
_SECRET_KEYS = re.compile(r"pass|secret|token|key", re.IGNORECASE)


class DatabaseMissing(HotlineError):
    error_id = "database-missing"


class SchemaAhead(HotlineError):
    """The database was migrated by a newer Hotline than this one: its schema is a
    revision this code does not know, so nothing here may read or write it."""

    error_id = "schema-ahead"


Schema = Literal["current", "old", "newer"]


def _secrets_in(url: str) -> list[str]:
    """Every secret a URL may carry: the password (all between the user's `:` and the last
    `@`, so a malformed URL over-hides rather than leaks; with no `@`, a "port" that is not
    a number), and query values like ?password=."""
    found: list[str] = []
    rest = url.split("://", 1)[1] if "://" in url else url
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    else:
        netloc = rest.split("/", 1)[0].split("?", 1)[0]
        if ":" in netloc and not netloc.rsplit(":", 1)[1].isdigit():
            found.append(netloc.split(":", 1)[1])
    query = url.split("?", 1)[1] if "?" in url else ""
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if _SECRET_KEYS.search(k)]
    found += [unquote(s) for s in found]
    return [s for s in found if s]


def redacted(url: str) -> str:
    """`url` fit to print: its password and secret query values replaced by ***, even
    when the URL is malformed."""
    out = url
    for s in sorted(_secrets_in(url), key=len, reverse=True):
        out = out.replace(s, "***")
    return out


def scrub(message: str, url: str) -> str:
    """A driver's message with every secret of `url` (and the URL itself) taken out."""
    for s in sorted(_secrets_in(url), key=len, reverse=True):
        message = message.replace(s, "***")
    return message


def reason(e: BaseException, url: str) -> str:
    """The database's own reason for a failure, on one line and without secrets."""
    orig = getattr(e, "orig", None) or e
    text = " ".join(str(orig).split()) or type(orig).__name__
    return scrub(f"{type(orig).__name__}: {text}"[:300], url)


def never_succeeds(e: SQLAlchemyError) -> bool:
    """A write the database refused for what it is (a value too long, a duplicate key, a
    character it cannot store), or one that never reached it because its values could not
    be sent (a value JSON cannot write), as opposed to the database being unreachable or
    locked: trying it again can never succeed. (Taken for a failing database, such a
    write would be tried again and again, and every write after it would wait behind it.)"""
    return isinstance(e, DataError | IntegrityError) or (
        isinstance(e, StatementError) and not isinstance(e, DBAPIError)
    )


@dataclass(frozen=True, slots=True)
class DatabaseFile:
    """An SQLite database's file as it was when we opened it, to notice it deleted or
    replaced under a running server."""

    path: Path
    identity: tuple[int, int] | None

    @classmethod
    def of(cls, engine: Engine) -> DatabaseFile | None:
        name = engine.url.database
        if engine.dialect.name != "sqlite" or not name or name == ":memory:":
            return None
        return cls(Path(name), _identity(Path(name)))

    def problem(self) -> str | None:
        """None while the file is the one we opened; else what happened to it."""
        now = _identity(self.path)
        if now is None:
            return f"the database file {self.path} was deleted"
        if self.identity is not None and now != self.identity:
            return f"the database file {self.path} was replaced by another file"
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def sqlite_path(url: str) -> Path | None:
    """The file of an sqlite:/// URL (None for other databases and :memory:)."""
    if not url.startswith("sqlite:"):
        return None
    path = urlsplit(url).path if url.startswith("sqlite://") else ""
    path = path[1:] if path.startswith("/") else path
    return None if not path or path == ":memory:" else Path(path)


def connect(url: str, *, create: bool = True) -> Engine:
    """An engine for `url` (sqlite:///file.sqlite3 or postgresql+psycopg://...). With
    `create=False`, a missing SQLite file is an error instead of a new empty database."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    file = sqlite_path(url)
    if not create and file is not None and not file.exists():
        raise DatabaseMissing(
            f"no database at {file}: start `hotline serve` once to create it, or set "
            "HOTLINE_DATABASE_URL to the database the server uses"
        )
    malformed = StoreUnavailable(
        f"cannot use database URL {redacted(url)}: it is malformed (a password with any of "
        "@ / : ? # in it must be percent-encoded; the form is "
        "postgresql://user:password@host:5432/database or sqlite:///path/to/file.sqlite3)"
    )
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise malformed from None  # the parser's words may quote the password
    if (
        parsed.password is not None
        and _secrets_in(url)
        and (unquote(str(parsed.password)) not in _secrets_in(url))
    ):
        raise malformed  # read otherwise than written: its error messages could leak it
    args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # a server that does not answer, or a connection that goes silent, is an error
        args |= {"connect_timeout": CONNECT_TIMEOUT, "keepalives": 1, "keepalives_idle": 5,
                 "keepalives_interval": 2, "keepalives_count": 2}  # fmt: skip
    try:
        # (an in-memory SQLite database, however named, is one connection a thread: no
        # pool to size)
        dialect = parsed.get_dialect()
        pool = dialect.get_pool_class(parsed) if issubclass(dialect, DefaultDialect) else None
        queued = pool is not None and issubclass(pool, QueuePool)
        pooled: dict[str, Any] = (
            {"pool_size": POOL, "max_overflow": 0, "pool_timeout": POOL_WAIT} if queued else {}
        )
        engine = create_engine(parsed, connect_args=args, **pooled)
    except (ArgumentError, SQLAlchemyError, TypeError, ValueError, ImportError) as e:
        raise StoreUnavailable(
            f"cannot use database URL {redacted(url)}: {scrub(str(e), url)}"
        ) from None
    if engine.dialect.name != "sqlite":
        _ping_when_idle(engine)
    else:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """A server's connection can die in the pool (a restart, a failover): one that sat
    there IDLE_PING seconds or more is tried (`SELECT 1`, one round trip) before it is
    lent, and replaced if it fails. One given back since is lent as it is: under load the
    line's writer and the reads take and give back connections many times a second, and a
    ping each was a round trip more in every transaction, each costing the writer's thread
    a wait to win the GIL back from the event loop (docs/benchmarks.md). A connection that
    dies in those seconds fails the transaction that uses it (the writer tries it again; a
    read answers that the database failed) and is replaced (docs/operations.md). SQLite's
    connections are files opened in this process, which nothing closes (its `SELECT 1`
    would touch no file: a file deleted or replaced is /healthz's to find): they are never
    pinged."""

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _try(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)  # (None: opened for this checkout)
        if since is None or time.monotonic() - since < IDLE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # noqa: BLE001 - whatever failed, this connection is not lent
            raise DisconnectionError(type(e).__name__) from None  # (the pool opens another)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, *, to: str = "head") -> list[str]:
    """Apply every migration the database lacks (up to `to`); return those applied."""
    cfg = _config()
    url = engine.url.render_as_string(hide_password=False)
    script = ScriptDirectory.from_config(cfg)
    try:
        with engine.begin() as conn:
            before = _revision(conn)
            if _state(before, script) == "newer":
                raise _ahead(before, script, url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)
            after = _revision(conn)
    except SQLAlchemyError as e:
        raise StoreUnavailable(
            f"cannot reach or migrate the database {redacted(url)}: {reason(e, url)}"
        ) from None
    if before == after:
        return []
    return [r.revision for r in script.iterate_revisions(after, before)][::-1]


def schema(engine: Engine) -> Schema:
    """The database's schema against this Hotline's: the one it migrates to ("current"),
    an earlier one ("old": `migrate` brings it up to date), or one a newer Hotline migrated
    it to ("newer")."""
    with engine.connect() as conn:
        found = _revision(conn)
    return _state(found, ScriptDirectory.from_config(_config()))


def require_current(engine: Engine, url: str) -> None:
    """For a command that reads the database without migrating it: the database answers
    and has this Hotline's schema, or the error says what to do."""
    try:
        with engine.connect() as conn:
            found = _revision(conn)
    except SQLAlchemyError as e:
        raise StoreUnavailable(
            f"cannot read the database {redacted(url)}: {reason(e, url)}"
        ) from None
    script = ScriptDirectory.from_config(_config())
    state = _state(found, script)
    if state == "newer":
        raise _ahead(found, script, url)
    if state == "old":
        raise HotlineError(
            f"the database {redacted(url)} is not migrated to this version of Hotline "
            "(fix: start `hotline serve` once, which migrates it)"
        )


def _revision(conn: Connection) -> str | None:
    """The database's schema revision (None: never migrated); several at once (a newer
    Hotline's branches: ours has one line of migrations) as one, which we do not know."""
    heads = MigrationContext.configure(conn).get_current_heads()
    return "+".join(heads) if heads else None


def _state(found: str | None, script: ScriptDirectory) -> Schema:
    if found == script.get_current_head():
        return "current"
    known = {r.revision for r in script.walk_revisions()}
    return "old" if found is None or found in known else "newer"


def _ahead(found: str | None, script: ScriptDirectory, url: str) -> SchemaAhead:
    return SchemaAhead(
        f"the database {redacted(url)} was migrated by a newer Hotline: its schema is "
        f"{found}, and this Hotline knows schemas up to {script.get_current_head()} (fix: "
        "run a Hotline at least as new as the one that migrated it; a node left on this "
        "version in a rolling upgrade is upgraded before it starts again: "
        "docs/operations.md)"
    )
