"""What an agent's desktop hears on its socket: the offer with the line and the wait, its
state as it changes, the call again after a reconnect; presence kept by the server (a
desktop gone past the grace period sets the agent not ready, never while on a call)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hotline.web.runtime import PRESENCE_GRACE
from hotline.web.sockets import TAKEN_OVER

from .live_fixtures import PUBLIC, Live, call_form, queue_public_caller, sqlite_url

SID = "CA" + "1" * 32


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


def token(live: Live, agent_id: str) -> str:
    return live.agent(agent_id)["Authorization"].removeprefix("Bearer ")


def up_to(ws: WebSocketTestSession, kind: str) -> list[dict[str, Any]]:
    """The messages up to the next one of a kind, that one last (the socket also hears
    the agent's state after each change)."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        assert len(seen) < 20, seen
        seen.append(ws.receive_json())
    return seen


def test_the_offer_names_the_line_and_the_wait_and_the_state_follows(live):
    queue_public_caller(live, SID, "+12025550101")
    live.wall.now += 12  # the caller waits 12 s before an agent is free
    secret = token(live, "en-day-1")
    bot = {"Authorization": f"Bearer {secret}"}
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        assert ws.receive_json()["state"] == "offline"
        live.http.post("/api/agent/login", headers=bot)
        assert ws.receive_json()["state"] == "not_ready"
        live.http.post("/api/agent/ready", headers=bot)
        *states, offer = up_to(ws, "offer")
        assert (offer["call_sid"], offer["line"], offer["line_number"]) == (
            SID, "National hotline (US)", "+18005550100")  # fmt: skip
        assert (offer["waited_seconds"], offer["language"]) == (12.0, "en")
        assert offer["attributes"] == {"caller_type": "public"}
        assert states[-1] == {"type": "state", "agent_id": "en-day-1", "state": "reserved",
                              "reason": None, "call_sid": SID}  # fmt: skip
        live.http.post(f"/api/agent/calls/{SID}/accept", headers=bot)
        assert up_to(ws, "state")[-1]["state"] == "on_call"
    # the tab closed mid-call: the call goes on, and a new one sees it again
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        hello = ws.receive_json()
        assert (hello["state"], hello["call_sid"]) == ("on_call", SID)
        assert hello["context"]["line"] == "National hotline (US)"


def test_a_second_window_takes_the_agents_socket_over(live):
    url = f"/api/agent/ws?token={token(live, 'en-day-2')}"
    with live.http.websocket_connect(url) as first:
        first.receive_json()
        with live.http.websocket_connect(url) as second:
            assert second.receive_json()["type"] == "hello"
            with pytest.raises(WebSocketDisconnect) as gone:
                first.receive_json()
            assert gone.value.code == TAKEN_OVER


def wait_for(condition: Any) -> None:
    """Until the server's ticker (every 0.2 s) has done it; bounded."""
    tick = threading.Event()
    for _ in range(200):
        if condition():
            return
        tick.wait(0.05)
    raise AssertionError("the ticker never did it")


def test_an_agent_whose_desktop_is_gone_past_the_grace_period_is_set_not_ready(live):
    secrets = {a: token(live, a) for a in ("en-day-3", "en-day-4")}
    bot, busy = ({"Authorization": f"Bearer {secrets[a]}"} for a in ("en-day-3", "en-day-4"))
    with TestClient(live.app, base_url=PUBLIC) as http:  # (running: its ticker too)
        queue_public_caller(live, SID, "+12025550101")
        for headers in (bot, busy):
            http.post("/api/agent/login", headers=headers)
        http.post("/api/agent/ready", headers=busy)  # offered the caller at once
        http.post(f"/api/agent/calls/{SID}/accept", headers=busy)
        http.post("/api/agent/ready", headers=bot)
        for agent_id in ("en-day-3", "en-day-4"):
            with http.websocket_connect(f"/api/agent/ws?token={secrets[agent_id]}") as ws:
                ws.receive_json()
        live.wall.now += PRESENCE_GRACE + 1  # both desktops gone longer than the grace

        def me(headers: dict[str, str]) -> dict[str, Any]:
            answer: dict[str, Any] = http.get("/api/agent/me", headers=headers).json()
            return answer

        wait_for(lambda: me(bot)["state"] == "not_ready")
        assert me(bot)["reason"] == "connection-lost"
        assert (me(busy)["state"], me(busy)["call_sid"]) == ("on_call", SID)  # the call goes on


def test_an_agents_own_figures_for_the_day(live):
    bot = live.agent("en-day-5")
    nothing = {"answered": 0, "completed": 0, "talk_seconds": 0.0, "average_talk_seconds": None}
    assert live.http.get("/api/agent/today", headers=bot).json() == nothing
    queue_public_caller(live, SID, "+12025550101")
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    live.http.post(f"/api/agent/calls/{SID}/accept", headers=bot)
    leg = call_form("CA" + "9" * 32, CallStatus="in-progress")  # the agent's phone answers
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", leg)
    live.wall.now += 95  # they talk for 95 s
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    one = {"answered": 1, "completed": 1, "talk_seconds": 95.0, "average_talk_seconds": 95.0}
    assert live.http.get("/api/agent/today", headers=bot).json() == one
    other = live.agent("en-day-6")  # someone else's figures are their own
    assert live.http.get("/api/agent/today", headers=other).json()["answered"] == 0
