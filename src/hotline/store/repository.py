"""What the live driver reads and writes: the unit of work's SQLAlchemy adapter (one
transaction per command) and the reads around it, one short transaction each.

Sensitive values are sealed at rest (service.sealing, AES-256-GCM under
HOTLINE_SECRET_KEY): a call's `attributes` (the IVR's collected answers, a verified
agency's name) and the `data` of the event kinds in `SEALED_EVENTS` (free text: the
wrap-up's notes), each bound to its column and row (a sealed value copied to another row
does not open). Reads open them; a row written in clear before this still reads, and
`rekey` seals it (and seals again under the current key what an older key sealed). A store
without a key reads what is in clear and refuses to write a sensitive value."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from psycopg.rows import namedtuple_row
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolExhausted
from sqlalchemy.pool import QueuePool

from hotline.domain.events import CallArrived
from hotline.errors import StoreUnavailable, WriteRefused
from hotline.ivr.model import LOCKOUT_MINUTES_MAX
from hotline.records.audit import Detail, Entry, append
from hotline.service.sealing import SEALED, Keyring, is_sealed_value, open_without_key
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveAgent,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.store import lines as line_rows
from hotline.store import revisions
from hotline.store.db import never_succeeds, reason

if TYPE_CHECKING:  # (leases uses this module's transaction)
    from hotline.store.leases import Fence
from hotline.store.tables import (
    FAILURES_KEPT_FOR,
    KNOWN_FOR,
    KNOWN_PREFIX,
    agent_states,
    agent_tokens,
    call_events,
    calls,
    flow_versions,
    logon_guard,
    lookup_guard,
    webhook_replies,
)
from hotline.switchboard.events import WrappedUp
from hotline.switchboard.records import CallRow

log = logging.getLogger("hotline.store")


def token_digest(token: str) -> str:
    """What the store keeps of a bearer token or a session's cookie (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def translated(engine: Engine) -> Iterator[None]:
    """The database's errors raised in the block translated into ours (never its URL)."""
    try:
        yield
    except SQLAlchemyError as e:
        if isinstance(e, PoolExhausted) and isinstance(pool := engine.pool, QueuePool):
            raise StoreUnavailable(
                f"the database failed: all {pool.size()} connections of the pool were in use "
                f"for {pool.timeout():g} s (the database is slow to answer, or a lock holds "
                "them)"
            ) from None
        why = reason(e, engine.url.render_as_string(hide_password=False))
        if never_succeeds(e):
            raise WriteRefused(why) from None
        raise StoreUnavailable(f"the database failed: {why}") from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction, the database's errors translated into ours (never its URL)."""
    with translated(engine), engine.begin() as conn:
        yield conn


def insert_for(c: Connection) -> Callable[[Table], Any]:
    """The connection's database's own INSERT (with ON CONFLICT: PostgreSQL's or SQLite's)."""
    return postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert


# how `pipelined`'s `first` reads rows it needs at once (before the writes are sent)
Read = Callable[[Select[Any]], Sequence[Any]]


@contextmanager
def pipelined(
    engine: Engine, first: Callable[[Connection, Read], None] | None = None
) -> Iterator[Connection]:
    """One transaction for statements whose results nobody reads (an INSERT's generated
    key, an UPDATE's row count), after `first` (given the connection, and `Read` for the
    reads whose rows it needs). On PostgreSQL the statements are sent without waiting for
    each one's answer, in psycopg's pipeline mode, with the BEGIN and the COMMIT, and
    the answers are read together as the block ends: the statements are one round trip,
    where each was one and BEGIN and COMMIT one each, and so one wait, not one each, for
    the writer's thread to win the GIL back from the event loop (docs/benchmarks.md).
    `first`'s reads go with the BEGIN, one round trip more (the rows are needed before
    the writes). If the block
    raises, or the database refuses a statement, COMMIT is never run (the server skips
    what follows a failed statement) and the transaction is rolled back; a statement's
    error is raised as the block ends, as SQLAlchemy raises it (a duplicate key is still
    a refused write), and a connection lost there is not lent again. Elsewhere (SQLite,
    in this process; a PostgreSQL driver other than psycopg) a plain transaction."""
    if engine.dialect.driver != "psycopg":
        with transaction(engine) as c, _sendable():
            if first is not None:
                first(c, reads(c))
            yield c
        return
    with translated(engine), engine.connect() as c, _sendable():
        dbapi = c.dialect.loaded_dbapi
        raw: Any = None
        committed = False
        try:
            c.execution_options(isolation_level="AUTOCOMMIT")  # (no BEGIN of psycopg's
            raw = c.connection.driver_connection  # own: in a pipeline it waits its answer)
            with raw.pipeline() as pipe:
                c.exec_driver_sql("BEGIN")
                if first is not None:
                    first(c, functools.partial(_read_now, c, raw, pipe))
                yield c
                c.exec_driver_sql("COMMIT")
            committed = True
        except dbapi.Error as e:  # (raised by psycopg itself, as the pipeline ended)
            raise DBAPIError.instance(
                None, None, e, dbapi.Error, hide_parameters=True,
                connection_invalidated=c.dialect.is_disconnect(e, raw, None), dialect=c.dialect,
            ) from None  # fmt: skip
        finally:
            if not committed and not c.invalidated:
                _roll_back(c)


def reads(c: Connection) -> Read:
    """`Read` in a transaction that is not pipelined: each statement run as usual on `c`."""
    return lambda statement: c.execute(statement).all()


def _read_now(c: Connection, raw: Any, pipe: Any, statement: Select[Any]) -> list[Any]:
    """A read in the pipeline, answered now, with all sent before it (one round trip),
    its rows as named tuples. Through psycopg's own cursor: SQLAlchemy, given a statement
    in a pipeline, finds no description of its result yet and takes it for one without
    rows."""
    sql, params = _compiled(statement, c.dialect)
    with raw.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, params)
        pipe.sync()
        return list(cursor.fetchall())


@functools.lru_cache(maxsize=64)
def _compiled(statement: Select[Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """A statement's SQL and parameters, as psycopg takes them; made once for the same
    statement (the fence's, one per set of lines: a compile costs about 0.3 ms of the
    writer's CPU, docs/benchmarks.md)."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


@contextmanager
def _sendable() -> Iterator[None]:
    """A value that could not be made into a statement's (JSON cannot write it, psycopg
    cannot adapt it, a write's values are not of the shape it needs): as SQLAlchemy says
    it for a value it cannot bind, a write that can never succeed, on either store."""
    try:
        yield
    except (TypeError, ValueError) as e:
        raise StatementError(f"a value could not be sent: {e}", None, None, e) from None


def _roll_back(c: Connection) -> None:
    """The pipelined transaction failed: end it. Through SQLAlchemy, so that a connection
    found lost here is dropped with every other the pool opened before it; an error here
    is logged, and the first one is what the caller hears."""
    try:
        c.exec_driver_sql("ROLLBACK")
    except SQLAlchemyError as e:
        log.warning("a failed transaction could not be rolled back (%s): its connection "
                    "is dropped", type(getattr(e, "orig", None) or e).__name__)  # fmt: skip
        if not c.invalidated:
            c.invalidate()


# The unit of work's statements, built once: each write passes only its values (a
# statement built per write, with its values, cost more than running it). An UPDATE sets
# the columns its values name; the row it changes is named by a parameter of its own.
# None reads a result (see `pipelined`): an event's generated id is not asked for
# (`inline`: no RETURNING, no sequence read first), and an agent's state is one upsert,
# not an UPDATE whose row count decides an INSERT.
_SID = "row_sid"
_ADD_EVENT = insert(call_events).inline()
_ADD_CALL = insert(calls)
_ADD_REPLY = insert(webhook_replies)
_UPDATE_CALL = update(calls).where(calls.c.sid == bindparam(_SID))


def _save_agent(dialect: Any) -> Any:
    statement = dialect.insert(agent_states)
    kept = {c.name: statement.excluded[c.name] for c in agent_states.c if not c.primary_key}
    return statement.on_conflict_do_update(index_elements=[agent_states.c.agent_id], set_=kept)


_SAVE_AGENT = {"postgresql": _save_agent(postgresql), "sqlite": _save_agent(sqlite)}
HISTORIES_AT_ONCE = 500  # calls whose events one query reads (SQLite before 3.32 binds 999)


class Happened(NamedTuple):
    """One event of a call's, as the store keeps it."""

    kind: str
    at: float
    data: dict[str, Any]


class Store:
    def __init__(
        self, *, engine: Engine, key: Keyring | None = None, fence: Fence | None = None
    ) -> None:
        """`key`: what seals the sensitive values (`Settings.keyring()`); without it the
        store reads what is in clear and refuses to write a sensitive value. `fence`: the
        lines this node leads, with their epochs (several nodes on one database): a
        write of any other line, or of a line at an older epoch, is refused (Fenced)."""
        self.engine = engine
        self.key = key
        self.fence = fence
        name = engine.dialect.name
        if name not in _SAVE_AGENT:
            raise StoreUnavailable(f"Hotline's store runs on SQLite or PostgreSQL, not {name}")
        self._save_agent = _SAVE_AGENT[name]

    def close(self) -> None:
        """Its connections closed (a line that stops here keeps none open: a group handed
        to another node, say); used again, it opens new ones. An in-memory SQLite database
        lives in its connections: kept."""
        if isinstance(self.engine.pool, QueuePool):
            self.engine.dispose()

    # -- sealing at rest

    def _seal(self, value: Any, column: str, row: str) -> Any:
        if self.key is None:
            raise WriteRefused(
                f"{column} is sealed at rest and this store has no key: set "
                "HOTLINE_SECRET_KEY (`hotline secret-key` makes one)"
            )
        return self.key.seal_value(value, column=column, row=row)

    def _open(self, stored: Any, column: str, row: str) -> Any:
        if self.key is None:
            return open_without_key(stored, column=column, row=row)
        return self.key.open_value(stored, column=column, row=row)

    def _row(self, r: Any) -> CallRow:
        attributes = self._open(r["attributes"], ATTRIBUTES, r["sid"])
        return _row(r, attributes)

    def _event_data(self, sid: str | None, kind: str, data: Any) -> dict[str, Any]:
        if kind in SEALED_EVENTS:
            return dict(self._open(data, EVENT_DATA, _event_row(sid, kind)))
        return dict(data)

    def _tx(self) -> contextlib.AbstractContextManager[Connection]:
        return transaction(self.engine)

    def rekey_total(self) -> int:
        """How many rows `rekey` looks at: every call, every event of a sealed kind."""
        with self._tx() as c:
            n = c.execute(select(func.count()).select_from(calls)).scalar_one()
            m = c.execute(select(func.count()).select_from(call_events)
                          .where(call_events.c.kind.in_(SEALED_EVENTS))).scalar_one()  # fmt: skip
        return int(n) + int(m)

    def rekey(self, *, batch: int = 500) -> Generator[tuple[int, int]]:
        """Seal under the current key every sensitive value that is not: in clear (written
        before values were sealed) or sealed by a previous key (a rotation). One
        transaction per batch of rows, yielding (rows looked at, rows sealed anew) after
        each: safe to interrupt and run again (what is sealed under the current key is
        left as it is). A value no key given opens is a `SealedValueUnreadable`."""
        if self.key is None:
            raise WriteRefused("rekey needs the key: set HOTLINE_SECRET_KEY")
        after = ""
        while True:
            with self._tx() as c:
                rows = c.execute(select(calls.c.sid, calls.c.attributes)
                                 .where(calls.c.sid > after).order_by(calls.c.sid)
                                 .limit(batch).with_for_update()).all()  # fmt: skip
                done = 0
                for sid, stored in rows:
                    if not self._is_current(stored):
                        value = self._open(stored, ATTRIBUTES, sid)
                        sealed = self._seal(value, ATTRIBUTES, sid)
                        c.execute(update(calls).where(calls.c.sid == sid)
                                  .values(attributes=sealed))  # fmt: skip
                        done += 1
            if not rows:
                break
            after = rows[-1][0]
            yield len(rows), done
        last = -1
        while True:
            with self._tx() as c:
                events = c.execute(
                    select(call_events.c.id, call_events.c.call_sid, call_events.c.kind,
                           call_events.c.data)
                    .where(call_events.c.id > last, call_events.c.kind.in_(SEALED_EVENTS))
                    .order_by(call_events.c.id).limit(batch)
                ).all()  # fmt: skip
                done = 0
                for id_, sid, kind, stored in events:
                    if not self._is_current(stored):
                        row = _event_row(sid, kind)
                        value = self._open(stored, EVENT_DATA, row)
                        c.execute(update(call_events).where(call_events.c.id == id_)
                                  .values(data=self._seal(value, EVENT_DATA, row)))  # fmt: skip
                        done += 1
            if not events:
                break
            last = events[-1][0]
            yield len(events), done

    def _is_current(self, stored: Any) -> bool:
        return (self.key is not None and is_sealed_value(stored)
                and self.key.is_current(stored[SEALED]))  # fmt: skip

    # -- the unit of work

    def commit(self, writes: Sequence[Write]) -> None:
        """Every write of one command, in order, in one transaction (or none of them)."""
        fence = self.fence
        check = None if fence is None else (
            lambda c, read: fence.check(c, {w.line for w in writes}, read)
        )  # fmt: skip
        with pipelined(self.engine, first=check) as c:
            for w in writes:
                if isinstance(w, AppendEvent):
                    data: Any = dict(w.data)
                    if w.kind in SEALED_EVENTS:
                        data = self._seal(data, EVENT_DATA, _event_row(w.sid, w.kind))
                    c.execute(_ADD_EVENT, {"call_sid": w.sid, "at": w.at, "kind": w.kind,
                                           "data": data})  # fmt: skip
                elif isinstance(w, UpdateCall):
                    values = dict(w.values)
                    if unknown := values.keys() - calls.c.keys():  # (not silently left out)
                        raise WriteRefused(f"calls has no column {', '.join(sorted(unknown))}")
                    if "attributes" in values:
                        values["attributes"] = self._seal(
                            dict(values["attributes"]), ATTRIBUTES, w.sid
                        )
                    c.execute(_UPDATE_CALL, {**values, "updated_at": w.at, _SID: w.sid})
                elif isinstance(w, AddCall):
                    values = _call_values(w.row)
                    values["attributes"] = self._seal(values["attributes"], ATTRIBUTES, w.row.sid)
                    c.execute(_ADD_CALL, {**values, "updated_at": w.at})
                elif isinstance(w, SaveReply):
                    c.execute(_ADD_REPLY, {"call_sid": w.sid, "step": w.step, "twiml": w.twiml,
                                           "at": w.at})  # fmt: skip
                elif isinstance(w, SaveAgent):
                    values = {"state": w.state, "reason": w.reason, "call_sid": w.call_sid,
                              "queue": w.queue, "since": w.since, "line": w.line,
                              "leaving": w.leaving}  # fmt: skip
                    c.execute(self._save_agent, {**values, "agent_id": w.agent_id})

    def agent_states(self) -> dict[str, SaveAgent]:
        """Each agent's state as the line last had it."""
        with self._tx() as c:
            rows = c.execute(select(agent_states)).mappings().all()
        return {r["agent_id"]: SaveAgent(r["agent_id"], r["state"], r["reason"], r["call_sid"],
                                         r["queue"], r["since"], r["line"], bool(r["leaving"]))
                for r in rows}  # fmt: skip

    # -- webhooks

    def reply_for(self, call_sid: str, step: str) -> str | None:
        """The TwiML already given for this callback, if the carrier is retrying it."""
        with self._tx() as c:
            return c.execute(
                select(webhook_replies.c.twiml).where(
                    webhook_replies.c.call_sid == call_sid, webhook_replies.c.step == step
                )
            ).scalar_one_or_none()

    def replies(self, call_sids: Collection[str]) -> dict[tuple[str, str], str]:
        """Every reply given to these calls' callbacks, by (call, step)."""
        if not call_sids:
            return {}
        with self._tx() as c:
            rows = c.execute(
                select(
                    webhook_replies.c.call_sid, webhook_replies.c.step, webhook_replies.c.twiml
                ).where(webhook_replies.c.call_sid.in_(list(call_sids)))
            )
            return {(sid, step): twiml for sid, step, twiml in rows}

    # -- calls and their events

    def call(self, sid: str) -> CallRow | None:
        with self._tx() as c:
            r = c.execute(select(calls).where(calls.c.sid == sid)).mappings().first()
        return self._row(r) if r else None

    def call_placed(self, sid: str) -> tuple[str, str] | None:
        """The line a call is on and the number it called (no sealed value read)."""
        with self._tx() as c:
            r = c.execute(select(calls.c.line, calls.c.called).where(calls.c.sid == sid)).first()
        return None if r is None else (r.line, r.called)

    def open_calls(self) -> list[CallRow]:
        with self._tx() as c:
            rows = c.execute(
                select(calls).where(calls.c.state.not_in(ENDED)).order_by(calls.c.arrived_at)
            ).mappings()
            return [self._row(r) for r in rows]

    def purge(self, now: float, keep: Mapping[str, float], *, actor: str,
              dry_run: bool = False) -> dict[str, int]:  # fmt: skip
        """Delete what is older than its class's retention (`keep`: class -> days): `calls`
        (ended calls with their events), `replies` (the answers kept for retried webhooks,
        of ended calls); a call still open is never touched. One transaction, with an
        audit entry per class saying how many went (the audit trail itself is never
        purged: its proofs stay whole). Returns the counts; `dry_run` counts only."""
        unknown = sorted(set(keep) - set(RETENTION_CLASSES))
        if unknown:
            raise WriteRefused(f"no data class {', '.join(unknown)} to keep for a time (the "
                               f"classes: {', '.join(RETENTION_CLASSES)})")  # fmt: skip
        counts: dict[str, int] = {}
        with self._tx() as c:
            for name in RETENTION_CLASSES:
                if name not in keep:
                    continue
                before = now - keep[name] * 86400
                old = select(calls.c.sid).where(calls.c.state.in_(ENDED),
                                                calls.c.updated_at < before)  # fmt: skip
                details: dict[str, Detail] = {}
                if name == "calls":
                    n = c.execute(select(func.count()).select_from(old.subquery())).scalar_one()
                    # agents' own events (log-ins, states: no call) of that age go with them
                    agents = call_events.c.call_sid.is_(None) & (call_events.c.at < before)
                    details["agent_events"] = int(c.execute(
                        select(func.count()).select_from(call_events).where(agents)
                    ).scalar_one())  # fmt: skip
                    if not dry_run:
                        c.execute(delete(call_events).where(agents))
                        c.execute(delete(call_events).where(call_events.c.call_sid.in_(old)))
                        c.execute(delete(webhook_replies)
                                  .where(webhook_replies.c.call_sid.in_(old)))  # fmt: skip
                        c.execute(delete(calls).where(calls.c.sid.in_(old)))
                else:
                    ended = webhook_replies.c.call_sid.in_(select(calls.c.sid).where(
                        calls.c.state.in_(ENDED)))  # fmt: skip
                    gone = webhook_replies.c.call_sid.not_in(select(calls.c.sid))
                    which = (webhook_replies.c.at < before) & (ended | gone)
                    n = c.execute(select(func.count()).select_from(webhook_replies)
                                  .where(which)).scalar_one()  # fmt: skip
                    if not dry_run:
                        c.execute(delete(webhook_replies).where(which))
                counts[name] = int(n)
                if not dry_run:
                    append(c, Entry(at=now, actor=actor, role="system", action="data.purge",
                                    object=name, details={"count": int(n), **details,
                                    "status": f"older than {keep[name]:g} days"}))  # fmt: skip
            if not dry_run:  # the counters of failed attempts that can no longer matter:
                # an IVR lockout's keys with no attempt within the longest window, and the
                # names tried at log-on (any name may be) with no lock and no failure for a
                # day; one statement each, its condition checked on the row it deletes
                c.execute(
                    delete(lookup_guard).where(
                        lookup_guard.c.last_at <= now - LOCKOUT_MINUTES_MAX * 60
                    )
                )
                known = logon_guard.c.username.startswith(KNOWN_PREFIX, autoescape=True)
                c.execute(
                    delete(logon_guard).where(
                        logon_guard.c.locked_at.is_(None),
                        logon_guard.c.last_at.is_(None)
                        | (~known & (logon_guard.c.last_at <= now - FAILURES_KEPT_FOR))
                        | (known & (logon_guard.c.last_at <= now - KNOWN_FOR)),
                    )
                )
        return counts

    def arrivals(self, line: str) -> list[tuple[float, str]]:
        """When each call of a line arrived (seconds since the epoch) and its language, in
        no particular order: the line's call history, for forecasts."""
        with self._tx() as c:
            rows = c.execute(select(calls.c.arrived_at, calls.c.language)
                             .where(calls.c.line == line))  # fmt: skip
            return [(float(at), str(language)) for at, language in rows]

    def calls_by_line(self) -> dict[str, int]:
        """How many calls the store holds for each line."""
        with self._tx() as c:
            rows = c.execute(select(calls.c.line, func.count()).group_by(calls.c.line))
            return {str(line): int(n) for line, n in rows}

    def count_calls(self) -> dict[str, int]:
        """Calls by state."""
        with self._tx() as c:
            rows = c.execute(select(calls.c.state, func.count()).group_by(calls.c.state))
            return {state: int(n) for state, n in rows}

    def histories(self, call_sids: Sequence[str]) -> dict[str, list[Happened]]:
        """Each call's events in the order they were written (every call named has a
        list), HISTORIES_AT_ONCE calls a query: a takeover reads every open call's, and a
        query each (three, as it was) put hundreds of round trips between a dead leader and
        its successor's first answer."""
        out: dict[str, list[Happened]] = {sid: [] for sid in call_sids}
        sids = list(out)
        with self._tx() as c:
            for i in range(0, len(sids), HISTORIES_AT_ONCE):
                rows = c.execute(
                    select(call_events.c.call_sid, call_events.c.kind, call_events.c.at,
                           call_events.c.data)
                    .where(call_events.c.call_sid.in_(sids[i : i + HISTORIES_AT_ONCE]))
                    .order_by(call_events.c.id)
                )  # fmt: skip
                for sid, kind, at, data in rows:
                    out[sid].append(Happened(kind, at, self._event_data(sid, kind, data)))
        return out

    def events(self, call_sid: str) -> list[tuple[str, dict[str, Any]]]:
        with self._tx() as c:
            rows = c.execute(
                select(call_events.c.kind, call_events.c.data)
                .where(call_events.c.call_sid == call_sid)
                .order_by(call_events.c.id)
            )
            return [(k, self._event_data(call_sid, k, d)) for k, d in rows]

    # -- agents' tokens (for bots and scripts; people log on with accounts)

    def issue_token(self, agent_id: str, at: float) -> str:
        """A new token for the agent (the old one stops working); only its hash is kept."""
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        with self._tx() as c:
            old = c.execute(agent_tokens.delete().where(agent_tokens.c.agent_id == agent_id))
            if old.rowcount:
                revisions.bump(c, revisions.ACCESS)
            c.execute(
                insert(agent_tokens).values(agent_id=agent_id, token_sha256=digest, created_at=at)
            )
        return token

    def revoke_token(self, agent_id: str) -> bool:
        """The agent's token stops working (open sockets close); False if they had none."""
        with self._tx() as c:
            gone = c.execute(agent_tokens.delete().where(agent_tokens.c.agent_id == agent_id))
            if gone.rowcount:
                revisions.bump(c, revisions.ACCESS)
            return bool(gone.rowcount)

    def valid_tokens(self, tokens: Collection[str]) -> set[str]:
        """Those of `tokens` that are still issued (one query for them all)."""
        by_digest = {token_digest(t): t for t in tokens}
        with self._tx() as c:
            rows = c.execute(
                select(agent_tokens.c.token_sha256).where(
                    agent_tokens.c.token_sha256.in_(list(by_digest))
                )
            )
            return {by_digest[d] for (d,) in rows}

    def agent_for_token(self, token: str) -> str | None:
        digest = token_digest(token)
        with self._tx() as c:
            return c.execute(
                select(agent_tokens.c.agent_id).where(agent_tokens.c.token_sha256 == digest)
            ).scalar_one_or_none()

    # -- flows

    def record_flow(self, flow: str, version: int, source: str, at: float) -> None:
        """Keep each version of a line's flow once."""
        with self._tx() as c:
            _keep_flow(c, flow, version, source, at)

    def flow_source(self, flow: str, version: int) -> str | None:
        """The text of a version of a flow, as kept (None: not kept)."""
        with self._tx() as c:
            return c.execute(
                select(flow_versions.c.source).where(
                    flow_versions.c.flow == flow, flow_versions.c.version == version
                )
            ).scalar_one_or_none()

    def flow_versions(self, flow: str) -> list[dict[str, Any]]:
        """The versions of a flow kept, newest first: version, loaded_at, size."""
        with self._tx() as c:
            rows = c.execute(
                select(flow_versions.c.version, flow_versions.c.loaded_at,
                       func.length(flow_versions.c.source))
                .where(flow_versions.c.flow == flow)
                .order_by(flow_versions.c.version.desc())
            ).all()  # fmt: skip
        return [{"version": v, "loaded_at": at, "size": n} for v, at, n in rows]

    # -- lines

    def save_line(
        self,
        doc: Mapping[str, Any],
        agent_ids: Sequence[Sequence[str]],
        *,
        number: str,
        timezone: str,
        flow: tuple[str, int, str, str] | None,
        at: float,
        expect: float | None = None,
        audit: Entry | None = None,
    ) -> None:
        """A line (replacing the one of that name) and, with `flow` (name, version, source,
        path), its active flow version, in one transaction; with `expect`, only if the line
        is still at that revision (ChangedMeanwhile). `audit`: the change's audit entry,
        in the same transaction (here and below)."""
        with self._tx() as c:
            _audit(c, audit)
            if expect is not None:
                line_rows.claim(c, {doc["name"]: expect}, at)
            if flow is not None:
                _keep_flow(c, *flow[:3], at)
            active = None if flow is None else (flow[0], flow[1], flow[3])
            line_rows.save_line(c, doc, agent_ids, number=number, timezone=timezone,
                                flow=active, at=at)  # fmt: skip

    def line_revisions(self, names: Collection[str]) -> dict[str, float]:
        """Each line's revision: a change made on what was read names it (`expect`), and is
        refused (ChangedMeanwhile) if the line changed since."""
        with self._tx() as c:
            return line_rows.revisions(c, names)

    def set_skills(
        self, agent_id: str, skills: Mapping[str, int], at: float, *,
        expect: Mapping[str, float], audit: Entry | None = None,
    ) -> None:  # fmt: skip
        """An agent's skills, on every line they work on (`expect`: those lines' revisions)."""
        with self._tx() as c:
            _audit(c, audit)
            line_rows.claim(c, expect, at)
            line_rows.set_skills(c, agent_id, skills)

    def set_line(
        self, name: str, at: float, *, expect: float, audit: Entry | None = None, **values: Any
    ) -> None:
        """Some of a line's own values (`mode`, `flow_version`)."""
        with self._tx() as c:
            _audit(c, audit)
            line_rows.claim(c, {name: expect}, at, **values)

    def keep_flow(
        self,
        flow: str,
        version: int,
        source: str,
        at: float,
        *,
        activate: tuple[str, float] | None = None,
        audit: Entry | None = None,
    ) -> bool:
        """Keep a version of a flow (and with `activate`, a line and its revision, make it
        that line's active one), in one transaction; False (nothing written) if another
        text is kept under that version."""  # fmt: skip
        with self._tx() as c:
            kept = c.execute(select(flow_versions.c.source).where(
                flow_versions.c.flow == flow, flow_versions.c.version == version)
            ).scalar_one_or_none()  # fmt: skip
            if kept is not None and kept != source:
                return False
            _audit(c, audit)
            if kept is None:
                c.execute(insert(flow_versions).values(flow=flow, version=version, source=source,
                                                       loaded_at=at))  # fmt: skip
            if activate is not None:
                line_rows.claim(c, {activate[0]: activate[1]}, at, flow_version=version)
            return True

    def lines_revision(self) -> int:
        """Grows when a line is imported or changed (store.revisions)."""
        with self._tx() as c:
            return revisions.read(c, revisions.LINES)

    def access_revision(self) -> int:
        """Grows when a token or session ends or a user is disabled (store.revisions)."""
        with self._tx() as c:
            return revisions.read(c, revisions.ACCESS)

    def lines(self) -> list[dict[str, Any]]:
        with self._tx() as c:
            return line_rows.line_names(c)

    def agents_lines(self) -> dict[str, list[str]]:
        """The lines each agent works on."""
        with self._tx() as c:
            return line_rows.agents_lines(c)

    def lines_of_agent(self, agent_id: str) -> list[str]:
        """The lines one agent works on (sorted)."""
        with self._tx() as c:
            return line_rows.lines_of_agent(c, agent_id)

    def agent_skills(self, agent_ids: Collection[str]) -> dict[str, dict[str, int]]:
        """The skills the store holds for these agents (those it has)."""
        with self._tx() as c:
            return line_rows.skills_of(c, agent_ids)

    def line_of_number(self, number: str) -> str | None:
        with self._tx() as c:
            return line_rows.number_owner(c, number)

    def line_document(self, name: str) -> dict[str, Any] | None:
        with self._tx() as c:
            return line_rows.line_document(c, name)


def _keep_flow(c: Connection, flow: str, version: int, source: str, at: float) -> None:
    seen = c.execute(
        select(flow_versions.c.version).where(
            flow_versions.c.flow == flow, flow_versions.c.version == version
        )
    ).first()
    if seen is None:
        c.execute(insert(flow_versions).values(flow=flow, version=version, source=source,
                                               loaded_at=at))  # fmt: skip


def _call_values(row: CallRow) -> dict[str, Any]:
    return {
        "sid": row.sid, "line": row.line, "caller": row.caller, "called": row.called,
        "language": row.language, "queue": row.queue, "priority": row.priority,
        "state": row.state, "attributes": dict(row.attributes),
        "callback_number": row.callback_number, "arrived_at": row.arrived_at,
    }  # fmt: skip


def _row(r: Any, attributes: Mapping[str, Any]) -> CallRow:
    return CallRow(
        r["sid"], r["line"], r["caller"], r["called"], r["language"], r["queue"],
        r["priority"], r["state"], dict(attributes), r["callback_number"], r["arrived_at"],
    )  # fmt: skip


def _event_row(sid: str | None, kind: str) -> str:
    """An event's sealed data is bound to its call and kind (its id is not known before
    the insert; a copy onto another event of the same call and kind would open)."""
    return f"{sid or ''}/{kind}"


ATTRIBUTES = "calls.attributes"
EVENT_DATA = "call_events.data"
# the event kinds whose data is sealed: those that carry free text an agent typed (the
# wrap-up's notes) or an answer the caller gave the IVR (CallArrived's caller type, which
# a line's flow may ask as "are you a victim?"). The others hold codes, ids, states,
# languages, queues and times, kept as they are.
SEALED_EVENTS = frozenset({WrappedUp.kind, CallArrived.__name__})


ENDED = ("abandoned", "completed", "overflowed")  # a call in these states is over
RETENTION_CLASSES = ("calls", "replies")  # what `purge` may delete, each after its time


def _audit(c: Connection, entry: Entry | None) -> None:
    if entry is not None:
        append(c, entry)
