"""The writer's transactions on PostgreSQL: how many times each waits for the server (each
wait is one for the writer's thread to win the GIL back from the event loop), what a
refused write and a lost connection do in a pipelined transaction, and the pool's ping of
a connection that sat idle (no skipping: CI has PostgreSQL)."""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from psycopg.pq import Trace
from sqlalchemy import Connection, Engine, event, text

from hotline.errors import Fenced, StoreUnavailable, WriteRefused
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveAgent,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.store import db
from hotline.store.db import connect, migrate
from hotline.store.leases import Fence, Leases
from hotline.store.repository import Read, Store, transaction
from hotline.switchboard.records import CallRow

from .live_fixtures import PG, keyring, pg_url, waiting_on_a_lock  # noqa: F401


def _waits(lines: list[str]) -> list[str]:
    """Each time the client sent and then read the server's answer: the last message it
    sent before reading (one per round trip)."""
    waits, sent = [], None
    for line in lines:
        side, _, rest = line.partition("\t")
        if side == "F":
            sent = rest.split("\t")[1].split()[0]
        elif side == "B" and sent is not None:
            waits.append(sent)
            sent = None
    return waits


def _call(sid: str, at: float) -> AddCall:
    return AddCall(CallRow(sid, "national", "+1", "+1", "es", "es", 0, "queued",
                           {"reason": "a"}, None, at), at)  # fmt: skip


def _unit(sid: str, at: float) -> list[Write]:
    return [
        AppendEvent(sid, at, "queued", {"queue": "es"}),
        UpdateCall(sid, at, {"state": "ringing"}),
        SaveReply(sid, f"wait:{at}", "<Response/>", at),
        SaveAgent("es-1", "ringing", None, sid, "es", at, "national", False),
    ]


@pytest.fixture
def engine(pg_url):  # noqa: F811
    engine = connect(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _written() -> None:
    """What libpq's trace holds in its C stream's buffer, written out (it is not Python's
    file: `flush` on ours does not reach it)."""
    ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def _traced(engine: Engine, path: Path) -> Iterator[None]:
    """Every connection the engine opens in the block writes its protocol to `path`."""
    engine.dispose()
    traced: list[Any] = []
    with path.open("w") as out:

        def trace(dbapi_conn: Any, _record: object) -> None:
            dbapi_conn.pgconn.trace(out.fileno())
            dbapi_conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            traced.append(dbapi_conn)

        event.listen(engine, "connect", trace)
        try:
            yield
        finally:  # (nothing left in libpq's buffer to write to this file once it is closed)
            event.remove(engine, "connect", trace)
            for conn in traced:
                if not conn.closed:
                    conn.pgconn.untrace()
            _written()
            engine.dispose()


def _fenced(engine: Engine) -> Store:
    """A store whose writes are fenced by a lease of the national line, taken here."""
    node = Leases(engine=engine, node="a", ttl=60.0)
    fence = Fence(node.instance)
    lease = node.claim("national")
    assert lease is not None
    fence.lead(lease)
    return Store(engine=engine, key=keyring(), fence=fence)


def _kill_all() -> None:
    """The server ends every connection named 'round-trips' (and waits until each is
    gone)."""
    admin = connect(PG)
    with admin.begin() as c:
        c.execute(text("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                       "WHERE datname = 'test' AND pid <> pg_backend_pid() "
                       "AND application_name = 'round-trips'"))  # fmt: skip
    admin.dispose()


def test_a_unit_of_work_waits_for_the_server_once_whatever_its_writes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING", 3600.0)  # (however slow the machine: no ping)
    store = Store(engine=engine, key=keyring())
    with _traced(engine, tmp_path / "trace"):
        store.commit([_call("CA1", 1.0)])  # (opens the connection)
        _written()
        before = (tmp_path / "trace").read_text().count("\n")
        store.commit(_unit("CA1", 2.0) + _unit("CA1", 3.0))  # eight writes, a busy second
        _written()
        lines = (tmp_path / "trace").read_text().splitlines()[before:]
    # BEGIN, the statements and COMMIT in one pipeline, ended by one Sync: no ping of a
    # connection given back a moment ago, no round trip a statement
    assert len(_waits(lines)) == 1, "\n".join(lines)
    assert (row := store.call("CA1")) is not None
    assert row.state == "ringing"
    assert [k for k, _ in store.events("CA1")] == ["queued", "queued"]
    assert store.replies(["CA1"]) == {("CA1", "wait:2.0"): "<Response/>",
                                      ("CA1", "wait:3.0"): "<Response/>"}  # fmt: skip
    assert store.agent_states()["es-1"].since == 3.0  # (saved twice: the last kept)


def test_a_write_the_server_refuses_in_a_pipeline_is_refused_and_lands_nothing(engine):
    store = Store(engine=engine, key=keyring())
    store.commit([_call("CA1", 1.0)])
    with pytest.raises(WriteRefused, match="UniqueViolation"):
        store.commit([_call("CA2", 2.0), SaveReply("CA2", "incoming", "<a/>", 2.0),
                      _call("CA1", 2.0)])  # fmt: skip
    assert store.call("CA2") is None
    assert store.replies(["CA2"]) == {}
    store.commit([_call("CA2", 3.0)])  # (the connection is fine: the next unit lands)
    assert (row := store.call("CA2")) is not None
    assert row.arrived_at == 3.0


def test_an_agents_state_is_added_then_replaced(engine):
    store = Store(engine=engine, key=keyring())
    store.commit([SaveAgent("es-1", "ready", None, None, None, 1.0, "national", False)])
    store.commit([SaveAgent("es-1", "not_ready", "break", None, None, 2.0, "national", True)])
    assert store.agent_states() == {
        "es-1": SaveAgent("es-1", "not_ready", "break", None, None, 2.0, "national", True)
    }


def _named(url: str) -> str:
    return url + "&application_name=round-trips"


@pytest.mark.parametrize("fenced", [False, True])
def test_a_connection_lost_while_in_use_fails_one_unit_and_the_next_lands(pg_url, fenced):  # noqa: F811
    """Fenced, the lease's read is the first statement the unit's connection sends (with
    its BEGIN, through psycopg's own cursor): lost there, as the database's failure too."""
    engine = connect(_named(pg_url))
    migrate(engine)
    store = _fenced(engine) if fenced else Store(engine=engine, key=keyring())
    store.commit([_call("CA1", 1.0)])
    _kill_all()  # (given back a moment ago: lent again untried)
    with pytest.raises(StoreUnavailable, match="the database failed"):
        store.commit([_call("CA2", 2.0)])
    store.commit([_call("CA3", 3.0)])  # the pool replaced the dead connection
    assert store.call("CA2") is None
    assert store.call("CA3") is not None
    engine.dispose()


def test_a_connection_that_sat_idle_is_tried_before_it_is_lent(pg_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(db, "IDLE_PING", 0.0)  # (every connection given back counts as idle)
    engine = connect(_named(pg_url))
    migrate(engine)
    store = Store(engine=engine, key=keyring())
    store.commit([_call("CA1", 1.0)])
    opened: list[object] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    _kill_all()
    store.commit([_call("CA2", 2.0)])  # the ping found it dead: another was opened
    assert len(opened) == 1
    assert store.call("CA2") is not None
    engine.dispose()


def test_a_fenced_unit_waits_once_more_for_its_lease(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_PING", 3600.0)
    store = _fenced(engine)
    with _traced(engine, tmp_path / "trace"):
        store.commit([_call("CA1", 1.0)])
        _written()
        before = (tmp_path / "trace").read_text().count("\n")
        store.commit([AppendEvent("CA1", 2.0, "queued", {}, "national"),
                      UpdateCall("CA1", 2.0, {"state": "ringing"}, "national")])  # fmt: skip
        _written()
        lines = (tmp_path / "trace").read_text().splitlines()[before:]
    # BEGIN with the lease's row (its epoch read, in the transaction, before anything is
    # written), then the writes and COMMIT
    assert len(_waits(lines)) == 2, "\n".join(lines)
    assert (row := store.call("CA1")) is not None
    assert row.state == "ringing"


def test_a_takeover_waits_for_a_fenced_unit_under_way(pg_url):  # noqa: F811
    """The lease's row, read FOR SHARE before the writes, stays held until the
    pipeline's COMMIT: a successor's claim waits for the unit, then finds it landed."""
    engine = connect(pg_url)
    migrate(engine)
    old = Leases(engine=engine, node="a", ttl=0.0)
    lease = old.claim("national")
    assert lease is not None
    checked, go_on = threading.Event(), threading.Event()

    class Paused(Fence):  # the unit pauses once its lease is checked, before its writes
        def check(self, c: Connection, lines: set[str], read: Read) -> None:
            super().check(c, lines, read)
            checked.set()
            assert go_on.wait(30)

    fence = Paused(old.instance)
    fence.lead(lease)
    store = Store(engine=engine, key=keyring(), fence=fence)
    claimer = connect(f"{pg_url}&application_name=pipeline-claimer")
    new = Leases(engine=claimer, node="b", ttl=60.0)
    with ThreadPoolExecutor(2) as pool, engine.connect() as watcher:
        unit = pool.submit(store.commit, [_call("CA1", 1.0)])
        assert checked.wait(30)
        claim = pool.submit(new.claim, "national")
        assert waiting_on_a_lock(watcher, "pipeline-claimer", claim.done) == 1
        assert not claim.done()
        go_on.set()
        unit.result(timeout=30)
        taken = claim.result(timeout=30)
    assert taken is not None
    assert taken.epoch == 2
    assert store.call("CA1") is not None  # the unit under way landed before the takeover
    with pytest.raises(Fenced):
        store.commit([_call("CA2", 2.0)])
    assert store.call("CA2") is None
    claimer.dispose()
    engine.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_connections_lent_at_once_are_kept_not_opened_again(kind, request, tmp_path):
    """Threads that take every connection at once, three times over: the pool opens each
    once and keeps it (it used to keep 5 and close the rest as they came back, so that
    7,000 agents logging in opened thousands, each a server process on PostgreSQL)."""
    url = (request.getfixturevalue("pg_url") if kind == "postgresql"
           else f"sqlite:///{tmp_path / 'pool.sqlite3'}")  # fmt: skip
    engine = connect(url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    together = threading.Barrier(db.POOL)

    def hold() -> int:
        with engine.connect() as c:
            together.wait(timeout=30)  # (every connection lent at this moment)
            return int(c.execute(text("SELECT 1")).scalar_one())

    with ThreadPoolExecutor(db.POOL) as pool:
        for _ in range(3):
            assert list(pool.map(lambda _: hold(), range(db.POOL))) == [1] * db.POOL
    assert len(opened) == db.POOL
    engine.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_thread_that_finds_every_connection_lent_is_told_so_in_time(
    kind, request, tmp_path, monkeypatch
):
    """It waits `POOL_WAIT` (5 s: twice that is under the carrier's 15 s for a webhook's
    answer; here less), then its request fails as a store that did not answer, saying why:
    it used to wait 30 s, past the carrier's time-out, and then told only SQLAlchemy's
    words."""
    monkeypatch.setattr(db, "POOL_WAIT", 0.2)
    url = (request.getfixturevalue("pg_url") if kind == "postgresql"
           else f"sqlite:///{tmp_path / 'pool.sqlite3'}")  # fmt: skip
    engine = connect(url)
    lent, back = threading.Barrier(db.POOL + 1), threading.Event()

    def hold() -> None:
        with engine.connect():
            lent.wait(timeout=30)
            back.wait(timeout=30)

    with ThreadPoolExecutor(db.POOL) as pool:
        held = [pool.submit(hold) for _ in range(db.POOL)]
        try:
            lent.wait(timeout=30)  # (every connection lent)
            with pytest.raises(StoreUnavailable) as refused, transaction(engine) as c:
                c.execute(text("SELECT 1"))
        finally:
            back.set()
        for h in held:
            h.result(timeout=30)
    assert refused.value.message == (
        f"the database failed: all {db.POOL} connections of the pool were in use for 0.2 s "
        "(the database is slow to answer, or a lock holds them)"
    )
    with transaction(engine) as c:  # given back, they are lent again
        assert c.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:pooled?mode=memory&uri=true"]
)
# (SQLAlchemy warns that it will pool the last one in a later release: then it gets a size)
@pytest.mark.filterwarnings("ignore:Selection of the SingletonThreadPool pool class")
def test_an_in_memory_database_however_named_has_no_pool_to_size(url):
    engine = connect(url)  # (the last was refused at start with a bare TypeError)
    with engine.connect() as c:
        assert c.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
