"""The unit-of-work contract, run against SQLite, PostgreSQL and the in-memory fake: one
command's writes land all together, in order, or not at all, with our own errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline.errors import StoreUnavailable, WriteRefused
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveReply,
    UnitOfWork,
    UpdateCall,
)
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.switchboard.records import CallRow
from hotline.testing.store import InMemoryStore

from ..integration.live_fixtures import keyring, pg_url, sqlite_url  # noqa: F401 (a fixture)


@dataclass
class Adapter:
    store: UnitOfWork
    break_it: Callable[[], None]  # the database goes away (a table is gone)
    mend: Callable[[], None]


def _renamer(store: Store, table: str) -> tuple[Callable[[], None], Callable[[], None]]:
    def run(sql: str) -> None:
        with store.engine.begin() as c:
            c.execute(text(sql))

    return (
        lambda: run(f"ALTER TABLE {table} RENAME TO {table}_away"),
        lambda: run(f"ALTER TABLE {table}_away RENAME TO {table}"),
    )


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    if request.param == "memory":
        mem = InMemoryStore()

        def down(flag: bool) -> Callable[[], None]:
            return lambda: setattr(mem, "down", flag)

        yield Adapter(mem, down(True), down(False))
        return
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    migrate(engine)
    store = Store(engine=engine, key=keyring())
    yield Adapter(store, *_renamer(store, "call_events"))
    engine.dispose()


def row(sid: str, state: str = "in_ivr") -> CallRow:
    return CallRow(sid, "national", "+12025550143", "+18005550100", "es", None, 0, state, {},
                   None, 10.0)  # fmt: skip


def test_a_unit_lands_whole_and_in_order(adapter):
    s = adapter.store
    s.commit([
        AddCall(row("CA1"), 10.0),
        AppendEvent("CA1", 10.0, "ivr-started", {"flow": "national"}),
        UpdateCall("CA1", 12.0, {"state": "queued", "queue": "es",
                                 "attributes": {"caller_type": "public"}}),
        AppendEvent("CA1", 12.0, "CallQueued", {"queue": "es"}),
        SaveReply("CA1", "gather:1:1", "<Response/>", 12.0),
    ])  # fmt: skip
    got = s.call("CA1")
    assert (got.state, got.queue, dict(got.attributes)) == ("queued", "es",
                                                           {"caller_type": "public"})  # fmt: skip
    assert s.events("CA1") == [("ivr-started", {"flow": "national"}),
                               ("CallQueued", {"queue": "es"})]  # fmt: skip
    assert s.reply_for("CA1", "gather:1:1") == "<Response/>"
    assert s.call("CA404") is None
    assert s.reply_for("CA1", "incoming") is None


def test_a_unit_with_one_refused_write_lands_nothing(adapter):
    s = adapter.store
    s.commit([SaveReply("CA1", "incoming", "<Response/>", 1.0)])
    with pytest.raises(WriteRefused):
        s.commit([
            AddCall(row("CA2"), 2.0),
            AppendEvent("CA2", 2.0, "ivr-started", {}),
            SaveReply("CA1", "incoming", "<Response><Hangup/></Response>", 2.0),  # a duplicate
        ])  # fmt: skip
    assert s.call("CA2") is None
    assert s.events("CA2") == []
    assert s.reply_for("CA1", "incoming") == "<Response/>"  # the first answer stays


def test_a_call_is_added_once(adapter):
    adapter.store.commit([AddCall(row("CA1"), 1.0)])
    with pytest.raises(WriteRefused):
        adapter.store.commit([AddCall(row("CA1", "queued"), 2.0)])
    assert adapter.store.call("CA1").state == "in_ivr"


def test_updating_a_call_the_store_does_not_have_changes_nothing(adapter):
    adapter.store.commit([UpdateCall("CA9", 1.0, {"state": "queued"})])
    assert adapter.store.call("CA9") is None


def test_a_store_that_is_down_raises_unavailable_and_keeps_nothing_half_done(adapter):
    s = adapter.store
    adapter.break_it()
    with pytest.raises(StoreUnavailable):
        s.commit([AddCall(row("CA3"), 1.0), AppendEvent("CA3", 1.0, "ivr-started", {})])
    adapter.mend()
    assert s.call("CA3") is None  # the call's row did not land without its event
    s.commit([AddCall(row("CA3"), 1.0), AppendEvent("CA3", 1.0, "ivr-started", {})])
    assert s.events("CA3") == [("ivr-started", {})]
