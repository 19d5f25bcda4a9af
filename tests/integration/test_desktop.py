"""What an agent's desktop hears on its socket: the offer with the line and the wait, its
state as it changes, the call again after a reconnect; presence kept by the server (a
desktop gone past the grace period sets the agent not ready, never while on a call)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hotline.web.runtime import PRESENCE_GRACE
from hotline.web.sockets import TAKEN_OVER

from .live_fixtures import Live, call_form, queue_public_caller, sqlite_url

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
        assert offer["language_name"] == "English"  # as the flow's menu names it
        assert offer["attributes"] == {"caller_type": "public"}
        assert states[-1] == {"type": "state", "agent_id": "en-day-1", "state": "reserved",
                              "reason": None, "call_sid": SID}  # fmt: skip
        live.http.post(f"/api/agent/calls/{SID}/accept", headers=bot)
        assert up_to(ws, "state")[-1]["state"] == "on_call"
    # the tab closed mid-call: the call goes on, and a new one sees it again
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        hello = ws.receive_json()
        assert (hello["state"], hello["call_sid"]) == ("on_call", SID)
        context = hello["context"]  # everything the offer said, for the page to show again
        assert (context["line"], context["language"], context["queue"]) == (
            "National hotline (US)", "en", "en")  # fmt: skip
        assert (context["caller"], context["attributes"]) == (
            "+12025550101", {"caller_type": "public"})  # fmt: skip


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
    with live.running() as http:
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


def test_a_desktop_gone_during_a_call_sets_the_agent_not_ready_once_the_call_is_over(live):
    secret = token(live, "en-day-4")
    bot = {"Authorization": f"Bearer {secret}"}
    with live.running() as http:
        queue_public_caller(live, SID, "+12025550101")
        http.post("/api/agent/login", headers=bot)
        http.post("/api/agent/ready", headers=bot)
        http.post(f"/api/agent/calls/{SID}/accept", headers=bot)
        leg = call_form("CA" + "9" * 32, CallStatus="in-progress")
        live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", leg)
        with http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
            ws.receive_json()  # (the tab is closed mid-call)
        live.wall.now += PRESENCE_GRACE + 1
        live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))

        def state() -> dict[str, Any]:
            answer: dict[str, Any] = http.get("/api/agent/me", headers=bot).json()
            return answer

        assert state()["state"] == "wrap_up"  # the call went on to its end
        live.wall.now += 31  # wrap-up over: not offered the next caller with no desktop
        wait_for(lambda: state()["state"] == "not_ready")
        assert state()["reason"] == "connection-lost"


def test_an_agent_who_logs_off_without_leaving_the_lines_is_set_not_ready(live):
    from hotline.service.accounts import Accounts
    from hotline.store.accounts import AccountStore

    from .test_sessions import PASSWORD, log_on

    accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                        key=live.settings.sealing_key())  # fmt: skip
    new = accounts.add("ann", "agent", password=PASSWORD, agent_id="en-day-3")
    with live.running() as http:
        page = log_on(live, "ann", new.totp_secret)
        http.post("/api/agent/login", headers=page)
        http.post("/api/agent/ready", headers=page)
        with http.websocket_connect("/api/agent/ws", headers=page) as ws:
            ws.receive_json()
            http.delete("/api/session", headers=page)
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()  # the session's socket is closed
        live.wall.now += PRESENCE_GRACE + 1
        bot = live.agent("en-day-3")
        wait_for(lambda: http.get("/api/agent/me", headers=bot).json()["state"] == "not_ready")


def test_presence_of_an_agent_no_line_knows_is_settled_without_an_error(live):
    assert live.line.presence_lost("nobody-1") is True


def test_an_agent_closes_the_call_with_a_code_and_notes_kept_with_the_call(live):
    _, bot = in_wrap_up(live, "en-day-5")
    for refused, status in (({"code": "sold-insurance"}, 409),  # not one of the line's codes
                            ({"code": "resolved", "notes": "bell\x07"}, 400),
                            ({"code": "resolved", "notes": "x" * 2001}, 400)):  # fmt: skip
        r = live.http.post("/api/agent/wrap-up", json=refused, headers=bot)
        assert r.status_code == status, r.text
    notes = "Caller was given the shelter's number.\nWill call back tomorrow."
    body: dict[str, Any] = {"code": "information-given", "notes": notes, "ready": False,
                            "reason": "lunch"}  # fmt: skip
    watcher = live.agent("supervisor")["Authorization"].removeprefix("Bearer ")
    with live.http.websocket_connect(f"/api/events?token={watcher}") as ws:
        assert ws.receive_json()["type"] == "hello"
        r = live.http.post("/api/agent/wrap-up", headers=bot, json=body)
        assert (r.status_code, r.json()["state"], r.json()["reason"]) == (200, "not_ready", "lunch")
        seen = ws.receive_json()
        while seen["kind"] != "wrapped-up":
            seen = ws.receive_json()
    # the wallboards' stream says the call was closed, and how, not what the agent wrote
    assert seen["data"] == {"agent_id": "en-day-5", "code": "information-given"}
    live.line.flush()
    (closed,) = [d for k, d in live.store.events(SID) if k == "wrapped-up"]
    assert closed == {"agent_id": "en-day-5", "code": "information-given", "notes": notes}
    r = live.http.post("/api/agent/wrap-up", json={"code": "resolved"}, headers=bot)
    assert r.status_code == 409  # closed already


def in_wrap_up(live: Live, agent_id: str) -> tuple[str, dict[str, str]]:
    """The agent answered SID and the caller hung up after a minute: in wrap-up."""
    secret = token(live, agent_id)
    bot = {"Authorization": f"Bearer {secret}"}
    queue_public_caller(live, SID, "+12025550101")
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    live.http.post(f"/api/agent/calls/{SID}/accept", headers=bot)
    leg = call_form("CA" + "9" * 32, CallStatus="in-progress")
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", leg)
    live.wall.now += 60
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    return secret, bot


def test_a_desktop_opened_during_wrap_up_gets_the_wrap_up_form_again(live):
    secret, _ = in_wrap_up(live, "en-day-6")
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        hello = ws.receive_json()
    assert (hello["state"], hello["call_sid"]) == ("wrap_up", None)
    assert hello["context"]["call_sid"] == SID
    assert hello["context"]["dispositions"][0] == "resolved"
    assert hello["context"]["wrap_up_seconds"] == 30.0


def test_notes_keep_lines_and_refuse_other_control_characters(live):
    _, bot = in_wrap_up(live, "en-day-7")
    for notes in ("a\u0085b", "right\u202eto left", "bell\x07"):
        body = {"code": "resolved", "notes": notes}
        assert live.http.post("/api/agent/wrap-up", json=body, headers=bot).status_code == 400
    body = {"code": "resolved", "notes": "line one\r\nline two\ttabbed"}
    assert live.http.post("/api/agent/wrap-up", json=body, headers=bot).status_code == 200
    live.line.flush()
    (closed,) = [d for k, d in live.store.events(SID) if k == "wrapped-up"]
    assert closed["notes"] == "line one\nline two\ttabbed"
