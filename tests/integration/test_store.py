"""The same store tests on SQLite and on the machine's PostgreSQL (no skipping: CI has it)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from hotline.errors import WriteRefused
from hotline.service.unit_of_work import AddCall, AppendEvent, SaveReply, UpdateCall
from hotline.store import repository
from hotline.store.db import connect, migrate, schema
from hotline.store.repository import Store
from hotline.switchboard.records import CallRow

from .live_fixtures import keyring, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    assert schema(engine) == "old"
    assert migrate(engine) == [f"{n:04d}" for n in range(1, 13)]
    assert migrate(engine) == []  # an up-to-date database is left alone
    assert schema(engine) == "current"
    yield Store(engine=engine, key=keyring())
    engine.dispose()


def test_open_calls_are_those_not_ended_by_when_they_arrived(store):
    store.commit([
        AddCall(CallRow("CA1", "national", "+1", "+1", "es", "es", 0, "queued", {}, None, 12.0),
                12.0),
        AddCall(CallRow("CA2", "national", "+1", "+1", "en", "en", 0, "completed", {}, None,
                        11.0), 11.0),
        AddCall(CallRow("CA3", "national", "+1", "+1", "en", None, 0, "in_ivr", {}, None, 10.0),
                10.0),
    ])  # fmt: skip
    assert [c.sid for c in store.open_calls()] == ["CA3", "CA1"]
    assert store.count_calls() == {"queued": 1, "completed": 1, "in_ivr": 1}


def test_an_update_of_a_column_calls_has_not_is_refused_whole(store):
    store.commit([AddCall(CallRow("CA1", "national", "+1", "+1", "es", None, 0, "in_ivr", {},
                                  None, 1.0), 1.0)])  # fmt: skip
    with pytest.raises(WriteRefused, match="no column colour"):
        store.commit([UpdateCall("CA1", 2.0, {"state": "queued", "colour": "red"})])
    assert store.call("CA1").state == "in_ivr"


def test_a_value_that_cannot_be_written_is_refused_not_taken_for_a_failing_database(store):
    # (a failing database's writes are tried again later, and every write after them waits:
    # this one would have held them all back for good)
    with pytest.raises(WriteRefused, match="not JSON serializable"):
        store.commit([
            AddCall(CallRow("CA1", "national", "+1", "+1", "es", None, 0, "in_ivr", {}, None,
                            1.0), 1.0),
            AppendEvent("CA1", 1.0, "queued", {"odd": object()}),
        ])  # fmt: skip
    assert store.call("CA1") is None
    store.commit([SaveReply("CA1", "incoming", "<a/>", 1.0)])  # the next unit lands
    assert store.reply_for("CA1", "incoming") == "<a/>"


def test_values_not_of_a_writes_shape_are_refused_alike_on_both_stores(store):
    # (a call's attributes must be a mapping: a write whose values cannot be made into
    # its statement can never land; PostgreSQL refused it, SQLite raised a bare TypeError
    # past the writer's handling)
    store.commit([AddCall(CallRow("CA1", "national", "+1", "+1", "es", None, 0, "in_ivr", {},
                                  None, 1.0), 1.0)])  # fmt: skip
    with pytest.raises(WriteRefused, match="TypeError"):
        store.commit([UpdateCall("CA1", 2.0, {"state": "queued", "attributes": 5})])
    assert store.call("CA1").state == "in_ivr"


def test_replies_of_calls_are_read_back_together(store):
    store.commit([SaveReply("CA1", "incoming", "<a/>", 1.0),
                  SaveReply("CA1", "wait:1", "<b/>", 2.0),
                  SaveReply("CA2", "incoming", "<c/>", 1.0)])  # fmt: skip
    assert store.replies(["CA1"]) == {("CA1", "incoming"): "<a/>", ("CA1", "wait:1"): "<b/>"}
    assert store.replies([]) == {}


def test_the_histories_of_calls_are_read_together_in_order(store, monkeypatch):
    # (a takeover reads every open call's: a query a call put hundreds of round trips
    # before its first answer)
    monkeypatch.setattr(repository, "HISTORIES_AT_ONCE", 2)
    store.commit([
        AddCall(CallRow("CA1", "national", "+1", "+1", "es", None, 0, "in_ivr", {}, None, 1.0),
                1.0),
        AppendEvent("CA1", 1.0, "CallArrived", {"caller": "+12025550143"}),  # (sealed)
        AppendEvent("CA2", 2.0, "CallQueued", {"queue": "es"}),
        AppendEvent("CA1", 3.0, "CallQueued", {"queue": "es"}),
        AppendEvent("CA3", 4.0, "CallQueued", {"queue": "en"}),
        AppendEvent("CA1", 2.5, "CallAnswered", {"agent": "es-day-1"}),
    ])  # fmt: skip
    selects: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: selects.append(statement))  # fmt: skip
    got = store.histories(["CA1", "CA2", "CA3", "CA4", "CA5"])
    assert [(e.kind, e.at, e.data) for e in got["CA1"]] == [
        ("CallArrived", 1.0, {"caller": "+12025550143"}),  # opened with the key
        ("CallQueued", 3.0, {"queue": "es"}),
        ("CallAnswered", 2.5, {"agent": "es-day-1"}),  # (in the order they were written)
    ]
    assert [e.kind for e in got["CA2"]] == ["CallQueued"]
    assert [e.kind for e in got["CA3"]] == ["CallQueued"]
    assert got["CA4"] == got["CA5"] == []
    assert len([s for s in selects if "call_events" in s]) == 3  # five calls, two a query
    assert store.histories([]) == {}


def test_agent_tokens_are_stored_hashed_and_replaced(store):
    first = store.issue_token("es-day-1", 1.0)
    assert store.agent_for_token(first) == "es-day-1"
    second = store.issue_token("es-day-1", 2.0)
    assert store.agent_for_token(first) is None
    assert store.agent_for_token(second) == "es-day-1"
    with store.engine.connect() as c:
        assert second not in str(c.execute(text("SELECT * FROM agent_tokens")).all())


def test_flow_versions_are_kept_once(store):
    store.record_flow("national", 1, "flow: national", 1.0)
    store.record_flow("national", 1, "flow: national", 2.0)
    store.record_flow("national", 2, "flow: national v2", 3.0)
    with store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM flow_versions")).scalar_one() == 2


def test_sqlite_runs_in_wal_with_full_sync(tmp_path):
    engine = connect(sqlite_url(tmp_path))
    with engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL


def test_a_sqlite_transaction_runs_its_own_statements_only(tmp_path):
    # each statement gives the GIL up and has to win it back from the event loop: a ping
    # before each transaction (which a file opened in this process never needs) was one
    # more in every commit and every read
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    engine.dispose()
    traced: list[str] = []
    event.listen(engine, "connect", lambda conn, _record: conn.set_trace_callback(traced.append))
    store = Store(engine=engine, key=keyring())
    store.commit([SaveReply("CA1", "incoming", "<a/>", 1.0)])
    store.commit([SaveReply("CA1", "wait:1", "<b/>", 2.0)])
    assert store.reply_for("CA1", "wait:1") == "<b/>"
    engine.dispose()
    kinds = [t.split()[0].upper() for t in traced]
    assert kinds == ["BEGIN", "INSERT", "COMMIT", "BEGIN", "INSERT", "COMMIT", "SELECT"]
