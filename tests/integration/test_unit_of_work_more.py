"""The unit of work's writes, on SQLite and PostgreSQL, land as the writes one by one in
their order would: columns that vary between calls, None against a value, a call updated
in the transaction that adds it, a call added twice, an agent saved twice, many rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.errors import WriteRefused
from hotline.service.unit_of_work import AddCall, AppendEvent, SaveAgent, UpdateCall
from hotline.store.repository import Store
from hotline.store.tables import call_events, calls
from hotline.switchboard.records import CallRow

from .live_fixtures import pg_url  # noqa: F401 (a fixture)
from .test_store import store  # noqa: F401 (a fixture: SQLite and PostgreSQL)


def test_updates_with_varying_columns_set_only_theirs(store):  # noqa: F811
    store.commit([
        AddCall(CallRow("CA1", "l", "+1", "+1", "es", None, 0, "in_ivr", {}, None, 1.0), 1.0),
        AddCall(CallRow("CA2", "l", "+1", "+1", "es", "es", 3, "queued", {"a": "1"}, "+2", 1.0),
                1.5),
    ])  # fmt: skip
    store.commit([
        UpdateCall("CA1", 2.0, {"state": "queued", "queue": "es"}),
        UpdateCall("CA2", 2.0, {"queue": None}),
        UpdateCall("CA1", 3.0, {}),
        UpdateCall("CA2", 3.5, {"callback_number": None, "priority": 7}),
        UpdateCall("CA1", 4.0, {"attributes": {"x": None}}),
        AppendEvent("CA1", 4.0, "call_queued", {"queue": "es"}),
        AppendEvent(None, 4.1, "line_note", {}),
        AppendEvent("CA1", 4.2, "call_offered", {"agent_id": "a1"}),
    ])  # fmt: skip
    one, two = store.call("CA1"), store.call("CA2")
    assert (one.state, one.queue, one.priority, one.callback_number, dict(one.attributes)) \
        == ("queued", "es", 0, None, {"x": None})  # fmt: skip
    assert (two.state, two.queue, two.priority, two.callback_number, dict(two.attributes)) \
        == ("queued", None, 7, None, {"a": "1"})  # fmt: skip
    with store.engine.connect() as c:
        kinds = c.execute(select(call_events.c.call_sid, call_events.c.kind)
                          .order_by(call_events.c.id)).all()  # fmt: skip
    assert [tuple(k) for k in kinds] == [("CA1", "call_queued"), (None, "line_note"),
                                         ("CA1", "call_offered")]  # fmt: skip


def test_an_agent_saved_again_with_none_where_it_had_values(store):  # noqa: F811
    store.commit([SaveAgent("a1", "on_call", None, "CA1", "es", 6.0, "l", True)])
    store.commit([SaveAgent("a1", "wrap_up", "x", None, None, 7.0, "l", False),
                  SaveAgent("a2", "not_ready", "break", None, None, 7.0, "l", False)])  # fmt: skip
    assert store.agent_states() == {
        "a1": SaveAgent("a1", "wrap_up", "x", None, None, 7.0, "l", False),
        "a2": SaveAgent("a2", "not_ready", "break", None, None, 7.0, "l", False),
    }


def row(sid: str, state: str = "in_ivr", attributes: dict[str, str] | None = None) -> CallRow:
    return CallRow(sid, "l", "+1", "+1", "es", None, 0, state, attributes or {}, None, 1.0)


def updated_at(store: Store, sid: str) -> float:  # noqa: F811
    with store.engine.connect() as c:
        return float(c.execute(select(calls.c.updated_at).where(calls.c.sid == sid)).scalar_one())


def test_a_call_updated_in_the_transaction_that_adds_it_has_its_last_values(store):  # noqa: F811
    store.commit([
        AddCall(row("CA1", attributes={"caller_type": "public"}), 1.0),
        AppendEvent("CA1", 1.0, "CallArrived", {"language": "es"}),
        UpdateCall("CA1", 2.0, {"state": "queued", "queue": "es", "attributes": {"k": "v"}}),
        UpdateCall("CA1", 3.0, {"state": "answered"}),
        UpdateCall("CA2", 3.0, {"state": "answered"}),  # (no such call: changes nothing)
    ])  # fmt: skip
    one = store.call("CA1")
    assert (one.state, one.queue, dict(one.attributes)) == ("answered", "es", {"k": "v"})
    assert updated_at(store, "CA1") == 3.0
    assert store.call("CA2") is None
    assert store.events("CA1") == [("CallArrived", {"language": "es"})]


def test_updates_of_a_call_in_one_transaction_merge_in_their_order(store):  # noqa: F811
    store.commit([AddCall(row("CA1"), 1.0)])
    store.commit([
        UpdateCall("CA1", 2.0, {"state": "queued", "queue": "es", "priority": 2}),
        UpdateCall("CA1", 3.0, {"queue": "en", "attributes": {"a": 1}}),
        UpdateCall("CA1", 4.0, {"priority": 0, "attributes": {"b": 2}}),
    ])  # fmt: skip
    one = store.call("CA1")
    assert (one.state, one.queue, one.priority, dict(one.attributes)) == ("queued", "en", 0,
                                                                          {"b": 2})  # fmt: skip
    assert updated_at(store, "CA1") == 4.0


def test_an_update_before_the_call_is_added_changes_nothing_as_in_order(store):  # noqa: F811
    store.commit([UpdateCall("CA1", 1.0, {"state": "queued"}), AddCall(row("CA1"), 2.0)])
    assert store.call("CA1").state == "in_ivr"
    assert updated_at(store, "CA1") == 2.0


def test_a_call_added_twice_in_one_transaction_lands_nothing(store):  # noqa: F811
    with pytest.raises(WriteRefused):
        store.commit([AddCall(row("CA1"), 1.0), AppendEvent("CA1", 1.0, "x", {}),
                      AddCall(row("CA1", "queued"), 2.0)])  # fmt: skip
    assert store.call("CA1") is None
    assert store.events("CA1") == []


def test_an_agent_saved_twice_in_one_transaction_keeps_the_last(store):  # noqa: F811
    store.commit([SaveAgent("a1", "available", None, None, None, 1.0, "l")])
    store.commit([
        SaveAgent("a1", "reserved", None, "CA1", "es", 2.0, "l"),
        SaveAgent("a2", "on_call", None, "CA2", "en", 2.0, "l"),
        SaveAgent("a1", "on_call", None, "CA1", "es", 3.0, "l", True),
    ])  # fmt: skip
    assert store.agent_states() == {
        "a1": SaveAgent("a1", "on_call", None, "CA1", "es", 3.0, "l", True),
        "a2": SaveAgent("a2", "on_call", None, "CA2", "en", 2.0, "l"),
    }


def test_a_thousand_rows_of_each_kind_land_in_one_transaction_in_order(store):  # noqa: F811
    n = 1007
    store.commit(
        [AddCall(row(f"CA{i}"), float(i)) for i in range(n)]
        + [AppendEvent(f"CA{i % 3}", float(i), f"e{i}", {"i": i}) for i in range(n)]
        + [SaveAgent(f"a{i}", "available", None, None, None, float(i), "l") for i in range(n)]
    )
    assert store.count_calls() == {"in_ivr": n}
    assert store.events("CA1") == [(f"e{i}", {"i": i}) for i in range(1, n, 3)]
    assert len(store.agent_states()) == n
