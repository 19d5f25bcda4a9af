"""Supervisors' live view: /api/stats counted from the event hub by the simulator's KPI
code, /api/events streaming the events; both only for the supervisor's token."""

from __future__ import annotations

from typing import Any

import pytest

from .live_fixtures import Live, call_form, queue_public_caller, sqlite_url

SUPERVISOR = "supervisor"


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


def test_stats_and_events_need_the_supervisors_token_and_agents_routes_refuse_it(live):
    assert live.http.get("/api/stats").status_code == 401
    agent = live.agent("en-day-1")
    r = live.http.get("/api/stats", headers=agent)
    assert r.status_code == 403
    assert r.json()["error_id"] == "wrong-role"
    boss = live.agent(SUPERVISOR)
    assert live.http.get("/api/stats", headers=boss).status_code == 200
    r = live.http.get("/api/agent/me", headers=boss)
    assert r.status_code == 403
    assert r.json()["error_id"] == "wrong-role"


def national(stats: dict[str, Any]) -> dict[str, Any]:
    """The national line's figures (the only line these tests serve)."""
    (name,) = stats["lines"]
    assert name == "National hotline (US)"
    figures: dict[str, Any] = stats["lines"][name]
    return figures


def test_stats_count_what_happened_today_and_in_the_last_30_minutes(live):
    boss = live.agent(SUPERVISOR)
    first, second = "CA" + "1" * 32, "CA" + "2" * 32
    queue_public_caller(live, first, "+12025550101")
    queue_public_caller(live, second, "+12025550102")
    live.wall.now += 20
    s = national(live.http.get("/api/stats", headers=boss).json())
    assert s["now"]["waiting"] == 2
    assert s["now"]["queues"]["en"] == {"waiting": 2, "longest_wait_seconds": 20.0}
    assert s["now"]["languages"]["en"]["waiting"] == 2
    assert s["today"]["offered"] == 2
    assert s["today"]["answered"] == 0
    assert s["now"]["agents"] == {"offline": len(live.line.roster)}  # nobody logged in
    assert s["now"]["agents_by_queue"] == {}

    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)  # offered the first caller
    live.http.post(f"/api/agent/calls/{first}/accept", headers=agent)
    live.wall.now += 15
    live.carrier.post("/voice/status", call_form(second, CallStatus="completed"))  # gave up
    s = national(live.http.get("/api/stats", headers=boss).json())
    assert s["now"]["waiting"] == 0
    assert s["now"]["agents"]["on_call"] == 1
    assert s["now"]["agents"]["offline"] == len(live.line.roster) - 1
    assert s["now"]["agents_by_queue"]["en"] == {"on_call": 1}
    assert s["now"]["agents_by_language"] == {"en": {"on_call": 1}}  # en-day-1: English
    assert (s["service_target"], s["languages"][:3]) == (0.8, ["en", "es", "pt"])
    today = s["today"]
    # by half hour of the line's day: both calls came in the 14:00 one (New York time)
    ((half_hour),) = today["intervals"]
    assert (half_hour["from"], half_hour["offered"], half_hour["answered"]) == ("14:00", 2, 1)
    assert (today["offered"], today["answered"], today["abandoned"]) == (2, 1, 1)
    # answered after 20 s (within the scenario's 30 s), abandoned after 35 s
    assert today["service_level"] == 0.5
    assert today["queues"]["en"]["answered"] == 1
    assert today["languages"]["en"]["abandoned"] == 1
    assert today["caller_types"]["public"]["offered"] == 2
    assert s["last_30_minutes"]["answered"] == 1

    live.wall.now += 31 * 60  # half an hour later: still today, no longer recent
    s = national(live.http.get("/api/stats", headers=boss).json())
    assert s["today"]["answered"] == 1
    assert (s["last_30_minutes"]["offered"], s["last_30_minutes"]["answered"]) == (0, 0)


def test_the_event_stream_carries_each_event_once_in_order(live):
    token = live.agent(SUPERVISOR)["Authorization"].removeprefix("Bearer ")
    with live.http.websocket_connect(f"/api/events?token={token}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello"
        sid = "CA" + "3" * 32
        queue_public_caller(live, sid, "+12025550103")
        live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
        kinds, seqs = [], []
        while "CallAbandoned" not in kinds:
            m = ws.receive_json()
            assert m["call_sid"] == sid
            kinds.append(m["kind"])
            seqs.append(m["seq"])
    assert seqs == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(seqs)))
    assert kinds[0] == "ivr-started"
    assert kinds.index("CallArrived") < kinds.index("CallQueued") < kinds.index("CallAbandoned")
    assert kinds == [k for k in live.events(sid) if k in kinds]  # as the store has them


def test_an_agents_token_cannot_open_the_event_stream(live):
    from starlette.websockets import WebSocketDisconnect

    token = live.agent("en-day-1")["Authorization"].removeprefix("Bearer ")
    with (
        pytest.raises(WebSocketDisconnect) as gone,
        live.http.websocket_connect(f"/api/events?token={token}") as ws,
    ):
        ws.receive_json()
    assert gone.value.code == 4403  # known, but not a role that watches the floor
