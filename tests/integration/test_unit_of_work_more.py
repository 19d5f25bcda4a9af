"""The unit of work's statements built once, values passed alone:
writes of one table whose columns vary between calls, None against a value, on SQLite
and PostgreSQL, land as the statements built per write landed them."""

from __future__ import annotations

from sqlalchemy import select

from hotline.service.unit_of_work import AddCall, AppendEvent, SaveAgent, UpdateCall
from hotline.store.tables import call_events
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
