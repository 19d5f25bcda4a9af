"""On a call through the HTTP API, with the carrier's call control recorded: the agent
holds, brings in an interpreter, transfers warm to a second agent who takes the call; a
supervisor listens and whispers; each is an event of the call, a participant operation
on its conference, and a message on the agents' desktops. Bad input gets a 4xx with a
reason: a hold on a call the caller just left, a transfer to an agent who went not
ready, a supervisor on a call that just ended."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from hotline.records.audit import rows
from hotline.switchboard.board import AGENT_GONE_AFTER

from .live_fixtures import Live, call_form, queue_public_caller, sqlite_url

SID = "CA" + "5" * 32
LEG = "CA" + "6" * 32
INTERPRETERS = "+18005550199"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """The app running on one event loop for the whole test: the carrier requests the
    line makes in background tasks go on while the test waits for them."""
    running = Live(sqlite_url(tmp_path), interpreter_number=INTERPRETERS)
    with running.running():
        yield running


def on_a_call(live: Live, agent_id: str = "en-day-1") -> dict[str, str]:
    """A public caller queued, answered by `agent_id`, whose leg answered."""
    queue_public_caller(live, SID, "+12025550101")
    agent = live.agent(agent_id)
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == SID
    assert live.http.post(f"/api/agent/calls/{SID}/accept", headers=agent).status_code == 200
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", call_form(LEG, CallStatus="in-progress"))
    return agent


def kinds(live: Live, *wanted: str) -> list[tuple[str, dict[str, Any]]]:
    return [(k, d) for k, d in live.store.events(SID) if k in wanted]


def test_hold_interpreter_and_a_warm_transfer_are_conference_operations_and_events(live):
    first = on_a_call(live)
    assert live.http.post("/api/agent/hold", json={"hold": True}, headers=first).status_code == 200
    live.control.until(lambda: (SID, "caller", "hold", "talk", "") in live.control.legs)
    r = live.http.post("/api/agent/hold", json={"hold": True}, headers=first)
    assert (r.status_code, r.json()["error_id"]) == (409, "invalid-transition")
    live.http.post("/api/agent/hold", json={"hold": False}, headers=first)
    assert (
        live.http.post("/api/agent/interpreter", json={"on": True}, headers=first).status_code
        == 200
    )
    live.control.until(lambda: (SID, "interpreter", "join", "talk", "") in live.control.legs)

    second = live.agent("en-day-2")
    live.http.post("/api/agent/login", headers=second)
    live.http.post("/api/agent/ready", headers=second)
    targets = live.http.get("/api/agent/transfer-targets", headers=first).json()
    assert {"agent_id": "en-day-2", "name": "en-day 2"} in targets["agents"]
    assert "en" in targets["queues"]
    r = live.http.post(
        "/api/agent/transfer", json={"agent": "en-day-2", "warm": True}, headers=first
    )
    assert r.status_code == 200
    assert live.http.get("/api/agent/me", headers=second).json()["reason"] == "consult"
    r = live.http.post("/api/agent/transfer/finish", json={"complete": True}, headers=first)
    assert (r.status_code, r.json()["message"]) == (
        409, "en-day-2 has not answered yet: wait, or cancel the transfer")  # fmt: skip
    consulted = f"/voice/leg?sid={SID}&label=agent:en-day-2"
    live.carrier.post(consulted, call_form("CA" + "7" * 32, CallStatus="in-progress"))
    r = live.http.post("/api/agent/transfer/finish", json={"complete": True}, headers=first)
    assert r.json()["state"] == "wrap_up"
    assert live.http.get("/api/agent/me", headers=second).json()["call_sid"] == SID
    live.control.until(lambda: len(live.control.legs) == 7)  # (each after the one before)
    assert [(c, label, action) for c, label, action, _, _ in live.control.legs] == [
        (SID, "caller", "hold"), (SID, "caller", "resume"), (SID, "interpreter", "join"),
        (SID, "caller", "hold"), (SID, "agent:en-day-2", "join"),
        (SID, "agent:en-day-1", "drop"), (SID, "caller", "resume"),
    ]  # fmt: skip
    assert kinds(live, "hold", "interpreter", "consult", "transferred") == [
        ("hold", {"agent_id": "en-day-1", "held": True}),
        ("hold", {"agent_id": "en-day-1", "held": False}),
        ("interpreter", {"agent_id": "en-day-1", "language": "en", "stage": "added"}),
        ("consult", {"agent_id": "en-day-1", "to_agent": "en-day-2", "stage": "started"}),
        ("transferred", {"agent_id": "en-day-1", "to_queue": "", "to_agent": "en-day-2",
                         "warm": True}),
    ]  # fmt: skip


def test_a_transfer_to_an_agent_who_went_not_ready_is_refused_and_the_call_stays(live):
    first = on_a_call(live)
    second = live.agent("en-day-2")
    live.http.post("/api/agent/login", headers=second)  # logged in, not ready
    r = live.http.post("/api/agent/transfer", json={"agent": "en-day-2"}, headers=first)
    assert r.status_code == 409
    assert "en-day-2 is not ready: a call passes only to an available agent" in r.json()["message"]
    r = live.http.post("/api/agent/transfer", json={"agent": "no-such"}, headers=first)
    assert (r.status_code, r.json()["error_id"]) == (404, "unknown-agent")
    r = live.http.post("/api/agent/transfer", json={"queue": "x y"}, headers=first)
    assert r.status_code == 400  # not a queue's name at all
    assert live.http.get("/api/agent/me", headers=first).json()["call_sid"] == SID


def test_a_transfer_to_a_queue_parks_the_caller_in_the_hold_loop(live):
    first = on_a_call(live)
    r = live.http.post("/api/agent/transfer", json={"queue": "agency-en"}, headers=first)
    assert r.json()["state"] == "wrap_up"
    live.control.until(lambda: live.control.parked == [(SID, 1)])
    r = live.carrier.post(f"/voice/wait?sid={SID}&n=1&a=1", call_form(SID))
    assert "in line" in r.text  # back in the hold loop, waiting in its new queue


def test_a_hold_on_a_call_the_caller_just_left_is_refused(live):
    first = on_a_call(live)
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    r = live.http.post("/api/agent/hold", json={"hold": True}, headers=first)
    assert (r.status_code, r.json()["error_id"]) == (409, "invalid-transition")
    assert "not on a call" in r.json()["message"]


def test_a_supervisor_listens_then_whispers_and_the_agent_is_told(live):
    on_a_call(live)
    secret = live.agent("en-day-1")["Authorization"].removeprefix("Bearer ")
    supervisor = live.agent("supervisor")
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        assert ws.receive_json()["legs"] == {"connected": True, "held": False, "consult": None,
                                             "interpreter": False, "supervisors": {},
                                             "calling_back": False}  # fmt: skip
        r = live.http.post(f"/api/supervisor/calls/{SID}/listen", headers=supervisor)
        assert r.status_code == 200
        told = ws.receive_json()
        assert (told["type"], told["kind"], told["data"]["mode"]) == (
            "call",
            "supervised",
            "listen",
        )
        live.http.post(f"/api/supervisor/calls/{SID}/whisper", headers=supervisor)
        told = ws.receive_json()
        assert told["legs"]["supervisors"] == {told["data"]["supervisor"]: "whisper"}
    name = told["data"]["supervisor"]
    live.control.until(lambda: len(live.control.legs) == 2)
    assert live.control.legs == [
        (SID, f"supervisor:{name}", "join", "listen", ""),
        (SID, f"supervisor:{name}", "mode", "whisper", "agent:en-day-1"),
    ]
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    r = live.http.post(f"/api/supervisor/calls/{SID}/barge", headers=supervisor)
    assert r.status_code == 409  # the call just ended
    r = live.http.post(f"/api/supervisor/calls/{SID}/shout", headers=supervisor)
    assert r.status_code == 400
    # each asked for is in the audit trail, before it was done; the barge, then refused
    # (its call had ended by then)
    with live.store.engine.connect() as c:
        asked = [(e.actor, e.object, e.outcome, json.loads(e.details)) for e in rows(c)
                 if e.action == "call.supervise"]  # fmt: skip
    assert asked == [
        *((name, f"call:{SID}", "ok", {"mode": m}) for m in ("listen", "whisper", "barge")),
        (name, f"call:{SID}", "refused", {"mode": "barge", "error_id": "unknown-call"}),
    ]


def test_a_supervisor_is_not_on_a_call_the_audit_trail_cannot_record(live):
    """Listening in is audited first: with the trail not written, a 503, and nobody
    joins the call."""
    on_a_call(live)
    with live.store.engine.begin() as c:
        c.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"))  # fmt: skip
    r = live.http.post(f"/api/supervisor/calls/{SID}/listen", headers=live.agent("supervisor"))
    assert (r.status_code, r.json()["error_id"]) == (503, "not-audited")
    live.line.flush()
    assert live.control.legs == []
    assert "supervised" not in live.events(SID)


def test_the_agent_is_told_when_their_phone_answered_and_controls_wait_for_it(live):
    queue_public_caller(live, SID, "+12025550101")
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    secret = agent["Authorization"].removeprefix("Bearer ")
    with live.http.websocket_connect(f"/api/agent/ws?token={secret}") as ws:
        assert ws.receive_json()["type"] == "hello"
        taken = live.http.post(f"/api/agent/calls/{SID}/accept", headers=agent).json()
        assert (taken["state"], taken["legs"]["connected"]) == ("on_call", False)
        r = live.http.post("/api/agent/hold", json={"hold": True}, headers=agent)
        assert (r.status_code, r.json()["message"]) == (
            409, f"call {SID} is not connected to agent en-day-1 yet")  # fmt: skip
        live.carrier.post(
            f"/voice/agent-leg?sid={SID}&a=1", call_form(LEG, CallStatus="in-progress")
        )
        told = ws.receive_json()
        while told["type"] != "call":  # (the state messages of the accept come first)
            told = ws.receive_json()
        assert (told["kind"], told["data"]["agent_id"], told["legs"]["connected"]) == (
            "agent-leg-answered", "en-day-1", True)  # fmt: skip


def test_the_browser_phone_token_is_refused_until_an_api_key_is_set(live):
    agent = live.agent("en-day-1")
    r = live.http.post("/api/agent/voice-token", headers=agent)
    assert (r.status_code, r.json()["error_id"]) == (404, "no-browser-phone")
    r = live.http.post("/api/supervisor/voice-token", headers=live.agent("supervisor"))
    assert (r.status_code, r.json()["error_id"]) == (404, "no-browser-phone")
    assert live.http.post("/api/supervisor/voice-token", headers=agent).status_code == 403


def test_a_browser_phone_token_is_a_voice_grant_for_the_agent(tmp_path):
    live = Live(
        sqlite_url(tmp_path),
        twilio_api=("SK" + "1" * 32, "not-a-real-secret-but-long-enough-for-hs256"),
    )
    r = live.http.post("/api/agent/voice-token", headers=live.agent("en-day-1"))
    claims = jwt.decode(
        r.json()["token"], "not-a-real-secret-but-long-enough-for-hs256", algorithms=["HS256"]
    )
    assert claims["iss"] == "SK" + "1" * 32
    assert claims["grants"]["identity"] == "en-day-1"
    assert claims["grants"]["voice"]["incoming"] == {"allow": True}
    assert claims["exp"] - claims["nbf"] == 3600
    assert "signal_url" not in r.json()  # the SDK signals where it does by default
    # the pages with a browser phone may connect to the carrier's signalling and insights
    for page in ("/desktop", "/wallboard"):
        csp = live.http.get(page).headers["Content-Security-Policy"]
        assert "connect-src 'self' wss://*.twilio.com https://*.twilio.com;" in csp
    assert "connect-src 'self';" in live.http.get("/admin").headers["Content-Security-Policy"]


def test_with_a_signal_url_the_token_names_it_and_the_pages_may_reach_it_alone(tmp_path):
    live = Live(
        sqlite_url(tmp_path),
        twilio_api=("SK" + "1" * 32, "not-a-real-secret-but-long-enough-for-hs256"),
        signal_url="wss://127.0.0.1:8443/signal",
    )
    r = live.http.post("/api/supervisor/voice-token", headers=live.agent("supervisor"))
    assert (r.status_code, r.json()["identity"]) == (200, "_supervisor_supervisor")
    assert r.json()["signal_url"] == "wss://127.0.0.1:8443/signal"
    csp = live.http.get("/desktop").headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://127.0.0.1:8443;" in csp
    assert "twilio.com" not in csp


def test_an_agent_reached_at_a_phone_number_gets_no_browser_phone(tmp_path):
    live = Live(
        sqlite_url(tmp_path),
        twilio_api=("SK" + "1" * 32, "not-a-real-secret-but-long-enough-for-hs256"),
    )
    live.settings.agent_phones = {"en-day-1": "+12025550143"}
    r = live.http.post("/api/agent/voice-token", headers=live.agent("en-day-1"))
    assert (r.status_code, r.json()["error_id"]) == (404, "no-browser-phone")
    assert "HOTLINE_AGENT_PHONES" in r.json()["message"]
    r = live.http.post("/api/agent/voice-token", headers=live.agent("en-day-2"))
    assert r.status_code == 200


def test_without_a_browser_phone_the_pages_connect_to_their_own_origin_only(live):
    for page in ("/desktop", "/wallboard"):
        csp = live.http.get(page).headers["Content-Security-Policy"]
        assert "connect-src 'self';" in csp


def test_the_agent_hanging_up_their_phone_ends_the_call(live):
    first = on_a_call(live)
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", call_form(LEG, CallStatus="completed"))
    live.wall.now += AGENT_GONE_AFTER  # (and the caller's own end did not come meanwhile)
    assert live.http.get("/api/agent/me", headers=first).json()["state"] == "on_call"
    live.control.until(lambda: (SID, "caller", "hangup", "talk", "") in live.control.legs)
    # (the carrier's requests go in order, the refused actions' first: they asked for none)
    assert live.control.legs == [(SID, "caller", "hangup", "talk", "")]
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    assert live.http.get("/api/agent/me", headers=first).json()["state"] == "wrap_up"


def test_the_agent_ends_the_call_from_the_desktop(live):
    first = on_a_call(live)
    assert live.http.post("/api/agent/hang-up", headers=first).json()["state"] == "on_call"
    live.control.until(lambda: (SID, "caller", "hangup", "talk", "") in live.control.legs)
    # (the carrier's requests go in order, the refused actions' first: they asked for none)
    assert live.control.legs == [(SID, "caller", "hangup", "talk", "")]
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    assert live.http.get("/api/agent/me", headers=first).json()["state"] == "wrap_up"
    r = live.http.post("/api/agent/hang-up", headers=first)  # (a second click, too late)
    assert (r.status_code, r.json()["error_id"]) == (409, "invalid-transition")
    assert "not on a call" in r.json()["message"]


def test_the_on_call_switches_are_strict_booleans(live):
    first = on_a_call(live)
    for body in ({"hold": "yes"}, {"hold": 1}, {"hold": None}, {}):
        r = live.http.post("/api/agent/hold", json=body, headers=first)
        assert r.status_code == 400, body


def test_a_restart_takes_a_held_caller_off_hold_and_ends_a_consultation(tmp_path):
    a = Live(sqlite_url(tmp_path))
    first = on_a_call(a)
    second = a.agent("en-day-2")
    a.http.post("/api/agent/login", headers=second)
    a.http.post("/api/agent/ready", headers=second)
    a.http.post("/api/agent/transfer", json={"agent": "en-day-2", "warm": True}, headers=first)
    a.line.flush()
    b = Live(sqlite_url(tmp_path))  # the server restarts: its line is rebuilt from the store
    assert b.line.recover({SID: "in-progress"}) == {"on a call": 1}
    with b.running():  # (one loop: the second request to the carrier follows the first)
        b.http.get("/api/agent/me", headers=b.agent("en-day-1"))  # (the first command sends)
        b.control.until(lambda: len(b.control.legs) == 2)
    assert b.control.legs == [(SID, "agent:en-day-2", "drop", "talk", ""),
                              (SID, "caller", "resume", "talk", "")]  # fmt: skip
    assert kinds(b, "consult")[-1] == ("consult", {"agent_id": "", "to_agent": "en-day-2",
                                                   "stage": "restart"})  # fmt: skip


def test_a_wrap_up_that_runs_out_applies_the_next_state_the_agent_chose(live):
    first = on_a_call(live)
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    r = live.http.post("/api/agent/after-wrap-up", json={"ready": False, "reason": "lunch"},
                       headers=first)  # fmt: skip
    assert r.json()["state"] == "wrap_up"
    live.wall.now += 120  # past the wrap-up's limit, the form never sent
    me = live.http.get("/api/agent/me", headers=first).json()
    assert (me["state"], me["reason"]) == ("not_ready", "lunch")
    closed = {"agent_id": "en-day-1", "code": "timeout", "notes": ""}
    assert kinds(live, "wrapped-up") == [("wrapped-up", closed)]
    r = live.http.post("/api/agent/after-wrap-up", json={"ready": True}, headers=first)
    assert r.status_code == 409  # no longer wrapping up


def test_an_agents_leg_that_answers_for_a_call_already_over_is_hung_up(live):
    """The caller hung up as the line dialled their agent: the agent's phone answers into a
    room nobody else will join, so the line hangs that leg up (by its own id)."""
    queue_public_caller(live, SID, "+12025550101")
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    assert live.http.post(f"/api/agent/calls/{SID}/accept", headers=agent).status_code == 200
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", call_form(LEG, CallStatus="in-progress"))
    live.control.until(lambda: live.control.hung_up == [LEG])
    assert live.store.call(SID).state == "abandoned"


def test_an_action_meant_for_another_call_is_refused_and_changes_nothing(live):
    """The desktop names the call an action is for; sent again after a takeover, when the
    agent's call is another by then, it is refused (409), never taken for that call."""
    agent = on_a_call(live)
    other = "CA" + "9" * 32
    for path, body in (("hang-up", None), ("hold", {"hold": True}),
                       ("interpreter", {"on": True}), ("transfer", {"queue": "en"}),
                       ("transfer/finish", {"complete": True})):  # fmt: skip
        r = live.http.post(f"/api/agent/{path}?call={other}", json=body, headers=agent)
        assert (r.status_code, r.json()["error_id"]) == (409, "not-this-call"), path
    bad = live.http.post("/api/agent/hang-up?call=CA1%3Cb%3E", headers=agent)
    assert (bad.status_code, bad.json()["error_id"]) == (400, "bad-request")
    me = live.http.get("/api/agent/me", headers=agent).json()
    assert (me["state"], me["call_sid"]) == ("on_call", SID)
    assert live.http.post(f"/api/agent/hang-up?call={SID}", headers=agent).status_code == 200
    live.control.until(lambda: (SID, "caller", "hangup", "talk", "") in live.control.legs)
    # (the carrier's requests go in order, the refused actions' first: they asked for none)
    assert live.control.legs == [(SID, "caller", "hangup", "talk", "")]
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    # the wrap-up names the call too (the agent's call is the one they wrap up)
    wrapping: list[tuple[str, dict[str, object]]] = [
        ("after-wrap-up", {"ready": False, "reason": "lunch"}),
        ("wrap-up", {"code": "information-given"}),
    ]
    for path, then in wrapping:
        r = live.http.post(f"/api/agent/{path}?call={other}", json=then, headers=agent)
        assert (r.status_code, r.json()["error_id"]) == (409, "not-this-call"), path
    r = live.http.post(f"/api/agent/wrap-up?call={SID}", json={"code": "information-given"},
                       headers=agent)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "available"  # (not the refused after-wrap-up's lunch)
    live.line.flush()  # (the refused ones wrote nothing before the wrap-up that was taken)
    done = kinds(live, "hold", "transferred", "interpreter", "consult", "wrapped-up")
    assert [k for k, _ in done] == ["wrapped-up"]
