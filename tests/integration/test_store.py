"""The same store tests on SQLite and on the machine's PostgreSQL (no skipping: CI has it)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hotline.store.db import connect, is_current, migrate
from hotline.store.repository import CallRow, Store, WriteRefused

from .live_fixtures import pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    assert not is_current(engine)
    assert migrate(engine) == ["0001"]
    assert migrate(engine) == []  # an up-to-date database is left alone
    assert is_current(engine)
    yield Store(engine=engine)
    engine.dispose()


def test_calls_round_trip_and_open_calls(store):
    row = CallRow(
        "CA1", "national", "+12025550143", "+18005550100", "es", None, 0, "in_ivr", {}, None, 10.0
    )
    store.add_call(row, 10.0)
    store.update_call("CA1", 12.0, state="queued", queue="es", attributes={"caller_type": "public"})
    store.add_call(
        CallRow("CA2", "national", "+1", "+1", "en", "en", 0, "completed", {}, None, 11.0), 11.0
    )
    got = store.call("CA1")
    assert got.queue == "es"
    assert got.attributes == {"caller_type": "public"}
    assert [c.sid for c in store.open_calls()] == ["CA1"]
    assert store.call("CA404") is None


def test_events_are_appended_in_order(store):
    for i, kind in enumerate(("CallQueued", "CallOffered", "CallAnswered")):
        store.append_event("CA1", float(i), kind, {"n": i})
    assert store.events("CA1") == [
        ("CallQueued", {"n": 0}),
        ("CallOffered", {"n": 1}),
        ("CallAnswered", {"n": 2}),
    ]


def test_a_webhook_reply_is_kept_once(store):
    assert store.reply_for("CA1", "incoming") is None
    store.save_reply("CA1", "incoming", "<Response/>", 1.0)
    assert store.reply_for("CA1", "incoming") == "<Response/>"
    with pytest.raises(WriteRefused):
        store.save_reply("CA1", "incoming", "<Response><Hangup/></Response>", 2.0)


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
