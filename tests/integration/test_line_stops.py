"""A line that stops (the server stops, or its node hands it to another) finishes what is
under way first: a carrier request in flight lands its outcome in the store, and a
socket opened as it stops is closed 1012 (its page connects again, to wherever the line
is served), never left open on a line that tells it nothing more. A request that reaches
it after it stopped is refused 503 (try again: the line's next leader answers it), never
run with writes nothing would land."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from hotline.errors import LineStopped, StoreUnavailable
from hotline.service.live import STOPPED
from hotline.service.unit_of_work import Write
from hotline.store.db import connect
from hotline.store.repository import Store
from hotline.telephony.control import CarrierError
from hotline.testing.control import RecordingCallControl
from hotline.web.sockets import MOVED, AgentSocket, AgentSockets

from .live_fixtures import LINE, PG, Live, call_form, pg_url, sqlite_url  # noqa: F401
from .test_hardening import accepted, to_hold

SLOW = 0.5  # seconds the carrier takes to refuse a connect (the line stops meanwhile)


class SlowCarrier(RecordingCallControl):
    """A carrier whose API takes a while to refuse to put a call through."""

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        time.sleep(SLOW)  # (its latency: the request is under way as the line stops)
        raise CarrierError(f"the carrier refused to update call {call_sid}")


def test_a_carrier_request_under_way_as_the_line_stops_lands_its_outcome(tmp_path):
    live = Live(sqlite_url(tmp_path), control=SlowCarrier())
    sid = "CA" + "f" * 32
    with live.http:  # (one event loop: the connect runs in the background)
        to_hold(live, sid)
        accepted(live, sid, "en-day-1")  # the connect goes out; the line stops at once
    # the carrier's refusal came back to the line before it stopped: the caller queued
    row = live.store.call(sid)
    assert row is not None
    assert row.state == "queued"
    kept = live.store.agent_states()["en-day-1"]
    assert (kept.state, kept.reason) == ("not_ready", "agent-failed")


class Failing(Store):
    """The store, whose database fails every commit while `down` (a restart, a failover)."""

    down = False

    def commit(self, writes: Sequence[Write]) -> None:
        if self.down:
            raise StoreUnavailable("the database failed: connection reset")
        super().commit(writes)


def test_writes_waiting_after_a_moment_the_database_failed_land_as_the_line_stops(tmp_path):
    """A group handed over just after the database failed: its writes wait out a back-off
    that ends after the line stops. The stop lands them (the node that takes the line
    over recovers it from the store); it used to skip them, and they were lost."""
    live = Live(sqlite_url(tmp_path), store_class=Failing, commit_wait=0.3)
    assert isinstance(live.store, Failing)
    sid = "CA" + "e" * 32
    with live.http:
        live.store.down = True
        to_hold(live, sid)  # (answered from memory; its writes wait)
        assert live.line.writer.waiting() > 0
        live.store.down = False  # back, long before the back-off's retry time (a fake wall)
        assert not live.line.writer.health.may_try()
    row = live.store.call(sid)
    assert row is not None
    assert row.state == "queued"
    assert live.line.writer.waiting() == 0


def test_a_line_that_stops_keeps_no_connection_to_its_database_open(pg_url):  # noqa: F811
    """A group handed to another node (or a server that stops) closes its pool: its
    connections, a server process each, do not stay open until the collector finds it."""
    name = f"line-stops-{uuid.uuid4().hex[:8]}"
    watcher = connect(PG)

    def open_here() -> int:
        asked = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n")
        with watcher.connect() as c:
            return int(c.execute(asked, {"n": name}).scalar_one())

    live = Live(f"{pg_url}&application_name={name}")
    with live.http:
        to_hold(live, "CA" + "d" * 32)
        assert open_here() > 0
    assert open_here() == 0
    watcher.dispose()


def test_a_socket_opened_as_the_line_stops_is_closed_1012():
    sockets = AgentSockets(still_valid=lambda tokens: dict.fromkeys(tokens, math.inf))

    async def desktop(ws: WebSocket) -> None:
        await ws.accept()
        await sockets.serve(AgentSocket("en-day-1", "t1", ws), {"type": "hello"}, only=True)

    sockets.close_all()  # the line stops (moves to another node)
    app = Starlette(routes=[WebSocketRoute("/ws", desktop)])
    with TestClient(app).websocket_connect("/ws") as ws, pytest.raises(WebSocketDisconnect) as e:
        ws.receive_json()
    assert e.value.code == MOVED
    assert not sockets.has("en-day-1")


def test_a_webhook_that_reaches_a_stopped_line_is_refused_503_and_changes_nothing(tmp_path):
    """A carrier webhook still under way as the line stops (its node handed the line over,
    or the server stops) runs its command after the writer's last writes: it used to be
    answered as done while its writes sat where nothing would land them. It is refused
    before it changes anything, 503 with a reason and a Retry-After (the carrier tries it
    again at its fallback URL: the line's next leader)."""
    live = Live(sqlite_url(tmp_path))
    sid = "CA" + "c" * 32
    with live.http:
        pass  # the line starts, then stops
    r = live.carrier.post("/voice/incoming", call_form(sid, From="+12025550143", To=LINE))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    assert r.json() == {"error_id": LineStopped.error_id, "message": STOPPED}
    assert not live.line.knows(sid)  # (refused before it changed anything)
    assert live.store.call(sid) is None
    assert live.line.writer.waiting() == 0
    assert live.line.health.snapshot(0).lost == 0  # (nothing was written to be lost)


def test_an_agents_request_that_reaches_a_stopped_line_is_refused_503(tmp_path):
    live = Live(sqlite_url(tmp_path))
    agent = live.agent("en-day-1")
    with live.http:
        assert live.http.post("/api/agent/login", headers=agent).status_code == 200
    r = live.http.post("/api/agent/ready", headers=agent)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    assert r.json()["error_id"] == LineStopped.error_id
    kept = live.store.agent_states()["en-day-1"]
    assert (kept.state, kept.reason) == ("not_ready", "login")  # as the line left them
