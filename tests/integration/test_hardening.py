"""The live line tried as a hostile or unlucky world would (issue 9), over HTTP: forged and
malformed callbacks, values the store cannot hold, agents' phones that do not answer, a
store that goes away, a database file deleted under the server, refused requests."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from starlette.datastructures import ImmutableMultiDict
from starlette.websockets import WebSocketDisconnect

from hotline.errors import SettingsInvalid
from hotline.service.health import RETRY_MAX, STALLED
from hotline.switchboard.board import PENDING_FOR
from hotline.web.app import create_app

from .live_fixtures import (
    LINE,
    PUBLIC,
    Live,
    call_form,
    gather_url,
    keep_english,
    pg_url,  # noqa: F401 (a fixture)
    sqlite_url,
)

CALLER = "+12025550143"


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_live(request, tmp_path):
    if request.param == "sqlite":
        return Live(sqlite_url(tmp_path))
    return Live(request.getfixturevalue("pg_url"))


def to_hold(live: Live, sid: str) -> None:
    """A public caller in English who stays on the line."""
    r = live.carrier.post(keep_english(live, sid, CALLER), call_form(sid, Digits="2"))
    if "<Gather" in r.text:  # the callback offer: stay
        live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))


# -- 1. a blank webhook secret


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_auth_token_refuses_to_build_the_app(live, blank):
    settings = live.settings.model_copy(update={"twilio_auth_token": SecretStr(blank)})
    with pytest.raises(SettingsInvalid, match="HOTLINE_TWILIO_AUTH_TOKEN is empty"):
        create_app(settings=settings, line=live.line, control=live.control)


# -- 5. the whole form signed; no redirect from Host; docs served from here


def test_a_form_with_a_repeated_key_is_checked_over_every_value(live):
    sid = "CA" + "f" * 32
    pairs = [("CallSid", sid), ("From", CALLER), ("To", LINE), ("StirVerstat", "A"),
             ("StirVerstat", "B")]  # fmt: skip
    url = PUBLIC + "/voice/incoming"
    signed = live.carrier.validator.compute_signature(url, ImmutableMultiDict(pairs))
    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in pairs)
    headers = {"X-Twilio-Signature": signed, "Content-Type": "application/x-www-form-urlencoded"}
    assert live.http.post("/voice/incoming", content=body, headers=headers).status_code == 200
    # a value slipped in before a signed one is not covered by the signature: refused
    forged = [*pairs[:3], ("StirVerstat", "X"), *pairs[3:]]
    body = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in forged)
    headers["X-Twilio-Signature"] = live.carrier.validator.compute_signature(
        url, ImmutableMultiDict(pairs)
    )
    r = live.http.post("/voice/incoming", content=body, headers=headers)
    assert r.status_code == 403
    assert r.json()["error_id"] == "bad-signature"


def test_no_redirect_is_built_from_the_host_header(live):
    form = call_form("CA1", From=CALLER, To=LINE)
    r = live.http.post(
        "/voice/incoming/", data=form, headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert r.status_code == 404
    assert "location" not in r.headers
    assert r.json()["error_id"] == "not-found"


def test_the_api_docs_load_nothing_from_outside(live):
    r = live.http.get("/api/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' 'sha256-" in csp  # the one inline script, by its hash
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
    assert len(refs) >= 4
    for ref in refs:
        assert ref.startswith("/"), ref  # same origin only
        assert not ref.startswith("//"), ref
        assert live.http.get(ref).status_code == 200, ref
    assert "http" not in r.text.lower().replace("http-equiv", "")
    # the package's own demo pages (which fetch a petstore from the internet) are not served
    for page in ("index.html", "swagger-initializer.js", "oauth2-redirect.html"):
        assert live.http.get(f"/api/docs/assets/{page}").status_code == 404


# -- 6. values the store cannot hold are refused at the edge


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"CallSid": "CA-1", "From": CALLER, "To": LINE}, "not a call id"),
        ({"CallSid": "CA1'--", "From": CALLER, "To": LINE}, "not a call id"),
        ({"CallSid": "C" * 65, "From": CALLER, "To": LINE}, "longer than 64"),
        ({"CallSid": "CA1", "From": "+1" * 200, "To": LINE}, "From is longer than 256"),
        ({"CallSid": "CA1", "From": "+1202\x00555", "To": LINE}, "control character"),
        ({"CallSid": "CA1", "From": CALLER, "To": LINE, "X": "\x1b[31m"}, "control character"),
    ],
)
def test_values_the_store_cannot_hold_get_a_400_with_a_reason(live, form, reason):
    r = live.carrier.post("/voice/incoming", form)
    assert r.status_code == 400
    assert r.json()["error_id"] == "bad-body"
    assert reason in r.json()["message"]
    assert live.calls_rows() == 0


def test_bad_utf8_and_bad_statuses_are_refused(live):
    validator = live.carrier.validator
    body = "CallSid=CA1&From=%ff%fe&To=%2B18005550100"
    sig = validator.compute_signature(PUBLIC + "/voice/incoming", {"CallSid": "CA1"})
    r = live.http.post(
        "/voice/incoming",
        content=body,
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert "UTF-8" in r.json()["message"]
    r = live.carrier.post("/voice/status", call_form("CA1", CallStatus="x" * 20))
    assert r.status_code == 400
    assert "is not a call status" in r.json()["message"]


@pytest.mark.parametrize("query", ["sid=CA1%26n%3D9&n=1", "n=%C2%B2", "n=1&a=%C2%B9", "n=-1"])
def test_query_values_must_be_call_ids_and_ascii_numbers(live, query):
    sid = "CA" + "1" * 32
    to_hold(live, sid)
    query = query if query.startswith("sid=") else f"sid={sid}&{query}"
    r = live.carrier.post(f"/voice/wait?{query}", call_form(sid))
    assert r.status_code == 400
    assert r.json()["error_id"] == "bad-query"


@pytest.mark.parametrize("d", ["x", "-1", "%C2%B2", "1" * 16])
def test_a_dial_backs_number_must_be_an_ascii_whole_number(live, d):
    sid = "CA" + "1" * 32
    r = live.carrier.post(f"/voice/status?call={sid}&d={d}", call_form(sid, CallStatus="busy"))
    assert r.status_code == 400
    assert r.json()["error_id"] == "bad-query"


def test_a_not_ready_reason_with_control_characters_is_refused(live):
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    r = live.http.post("/api/agent/not-ready", params={"reason": "lunch\x1b[2J"}, headers=agent)
    assert r.status_code == 400
    assert live.http.get("/api/agent/me", headers=agent).json()["reason"] == "login"


def test_a_write_that_can_never_succeed_is_set_aside_and_the_rest_land(any_live):
    live = any_live
    sid = "CA" + "2" * 32
    live.line.incoming(sid, CALLER, LINE)  # the carrier's first try ...
    live.line.flush()
    # ... and the same call once more, as if every reply cache had missed: its row is
    # refused by the database (a duplicate), what follows must still land
    live.line.incoming(sid, CALLER, LINE)
    live.line.incoming("CA" + "3" * 32, CALLER, LINE)
    live.line.flush()
    assert live.line.writer.waiting() == 0
    assert live.store.call("CA" + "3" * 32) is not None
    health = live.http.get("/healthz").json()
    assert health["writes"]["set_aside"] == 1
    assert health["writes"]["waiting"] == 0
    assert re.search("unique", health["writes"]["last_error"], re.IGNORECASE)  # the reason


def test_on_postgresql_a_value_too_long_is_set_aside(request):
    live = Live(request.getfixturevalue("pg_url"))
    live.line.incoming("C" * 100, CALLER, LINE)  # longer than the sid column
    live.line.incoming("CA" + "4" * 32, CALLER, LINE)
    live.line.flush()
    assert live.line.writer.waiting() == 0
    assert live.store.call("CA" + "4" * 32) is not None
    assert live.http.get("/healthz").json()["writes"]["set_aside"] >= 1


# -- 7. an agent's phone that does not answer


def accepted(live: Live, sid: str, agent_id: str) -> dict[str, str]:
    agent = live.agent(agent_id)
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    return agent


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_an_unanswered_agent_leg_puts_the_caller_back_at_the_head(live, status):
    first, second = "CA" + "5" * 32, "CA" + "6" * 32
    to_hold(live, first)
    live.wall.now += 10
    to_hold(live, second)
    agent = accepted(live, first, "en-day-1")
    r = live.carrier.post(
        "/voice/dial-done?sid=" + first + "&a=1", call_form(first, DialCallStatus=status)
    )
    assert "/voice/wait?sid=" + first in r.text  # back to the hold loop
    assert "Goodbye" not in r.text
    me = live.http.get("/api/agent/me", headers=agent).json()
    assert (me["state"], me["reason"]) == ("not_ready", f"agent-{status}")
    assert live.store.call(first).state == "queued"
    # the caller keeps their place: the next agent gets them before the later caller
    accepted(live, first, "en-day-2")
    assert "agent-leg-failed" in live.events(first)
    live.carrier.post("/voice/agent-leg?sid=" + first + "&a=2",
                      call_form("CA" + "7" * 32, CallStatus="in-progress"))  # fmt: skip
    live.carrier.post(
        "/voice/dial-done?sid=" + first + "&a=2", call_form(first, DialCallStatus="completed")
    )
    live.carrier.post("/voice/status", call_form(first, CallStatus="completed"))
    assert live.store.call(first).state == "completed"  # the second agent talked to them


def restarted_while_ringing(tmp_path: Path, sid: str) -> Live:
    """A caller accepted by en-day-1; the server dies while the agent's phone rings."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    to_hold(a, sid)
    accepted(a, sid, "en-day-1")
    b = Live(db)
    b.wall.now = a.wall.now + 30
    assert b.line.recover({sid: "in-progress"}) == {"connecting": 1}
    return b


def test_a_dial_in_flight_at_a_restart_that_fails_puts_the_caller_back(tmp_path):
    sid = "CA" + "8" * 32
    b = restarted_while_ringing(tmp_path, sid)
    r = b.carrier.post(
        f"/voice/dial-done?sid={sid}&a=1", call_form(sid, DialCallStatus="no-answer")
    )
    assert f"/voice/wait?sid={sid}" in r.text  # back to the hold loop, in their place
    agent = accepted(b, sid, "en-day-2")
    assert b.control.connected == [(sid, "en-day-2")]
    # this connect is the call's second: its callbacks are not taken for the first one's
    r = b.carrier.post(f"/voice/dial-done?sid={sid}&a=2", call_form(sid, DialCallStatus="busy"))
    assert f"/voice/wait?sid={sid}" in r.text
    assert b.http.get("/api/agent/me", headers=agent).json()["reason"] == "agent-busy"
    assert (row := b.store.call(sid)) is not None
    assert row.state == "queued"


def test_a_dial_in_flight_at_a_restart_that_is_answered_is_not_offered_again(tmp_path):
    sid = "CA" + "9" * 32
    b = restarted_while_ringing(tmp_path, sid)
    other = b.agent("en-day-2")
    b.http.post("/api/agent/login", headers=other)
    assert b.http.post("/api/agent/ready", headers=other).json()["call_sid"] is None
    b.carrier.post(f"/voice/agent-leg?sid={sid}&a=1",
                   call_form("CB" + "9" * 32, CallStatus="in-progress"))  # fmt: skip
    r = b.carrier.post(
        f"/voice/dial-done?sid={sid}&a=1", call_form(sid, DialCallStatus="completed")
    )
    assert "Goodbye" in r.text
    b.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert (row := b.store.call(sid)) is not None
    assert row.state == "completed"  # they talked to the first agent
    assert b.http.get("/api/agent/me", headers=other).json()["call_sid"] is None


def test_a_dial_in_flight_at_a_restart_that_never_reports_puts_the_caller_back(tmp_path):
    sid = "CA" + "7" * 32
    b = restarted_while_ringing(tmp_path, sid)
    b.wall.now += PENDING_FOR + 1
    accepted(b, sid, "en-day-2")  # the carrier said nothing for a minute: back in place


def test_a_timer_that_fires_inside_a_refused_command_is_kept(live):
    sid = "CA" + "6" * 32
    first = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=first)
    live.http.post("/api/agent/ready", headers=first)
    to_hold(live, sid)  # offered to en-day-1 at once
    second = live.agent("en-day-2")
    live.http.post("/api/agent/login", headers=second)
    live.http.post("/api/agent/ready", headers=second)
    live.wall.now += 16  # past the ring timeout: the accept below comes too late
    r = live.http.post(f"/api/agent/calls/{sid}/accept", headers=first)
    assert r.status_code == 409
    # the ring-no-answer that fired first is kept: the call rings en-day-2 now
    assert live.http.get("/api/agent/me", headers=second).json()["call_sid"] == sid
    assert "OfferWithdrawn" in live.events(sid)
    assert live.store.call(sid).state == "offered"


def test_a_caller_who_hangs_up_while_the_agents_phone_rings_abandoned(live):
    sid = "CA" + "e" * 32
    to_hold(live, sid)
    agent = accepted(live, sid, "en-day-1")
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert live.store.call(sid).state == "abandoned"  # nobody talked to them
    assert "CallCompleted" not in live.events(sid)
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "available"


def connect_refused(live: Live, sid: str) -> dict[str, Any]:
    """(the app running) en-day-1 accepts the call, whose connect the carrier refuses: the
    agent's state once the refusal came back (the connect runs in a thread; its failure
    comes back as a command)."""
    to_hold(live, sid)
    agent = accepted(live, sid, "en-day-1")
    deadline = time.monotonic() + 10
    while True:
        me: dict[str, Any] = live.http.get("/api/agent/me", headers=agent).json()
        if me["state"] != "on_call" or time.monotonic() > deadline:
            return me
        time.sleep(0.01)


def test_a_connect_the_carrier_refuses_puts_the_caller_back(live):
    sid = "CA" + "f" * 32
    live.control.refuse.add(sid)
    with live.http:  # one event loop for the app, so the connect runs in the background
        me = connect_refused(live, sid)
    assert (me["state"], me["reason"]) == ("not_ready", "agent-failed")
    assert live.store.call(sid).state == "queued"


def test_an_agents_leg_that_answers_for_a_connect_the_carrier_refused_is_hung_up(live):
    """The carrier refused the connect, so the line gave it up (the caller waits again),
    but it had dialled the agent after all: that leg's answer is hung up (by its own id),
    not taken for the call's, and the call is offered on."""
    sid, leg = "CA" + "e" * 32, "CA" + "d" * 32
    live.control.refuse.add(sid)
    with live.http:
        assert connect_refused(live, sid)["call_sid"] is None
        live.carrier.post(f"/voice/agent-leg?sid={sid}&a=1",
                          call_form(leg, CallStatus="in-progress"))  # fmt: skip
        live.control.until(lambda: live.control.hung_up == [leg])
        other = live.agent("en-day-2")
        live.http.post("/api/agent/login", headers=other)
        assert live.http.post("/api/agent/ready", headers=other).json()["call_sid"] == sid


def test_a_connect_refused_because_the_caller_just_hung_up_ends_the_call(live):
    """The carrier no longer has the call (its caller hung up as the agent accepted, and
    their hang-up's own word has not come yet): the call ends as abandoned, and the agent
    is free again, not set not ready as for a phone that failed (nor is the call offered
    to agent after agent, each connect refused again)."""
    sid = "CA" + "d" * 32
    live.control.gone.add(sid)
    with live.http:  # one event loop for the app, so the connect runs in the background
        assert connect_refused(live, sid)["state"] == "available"
        assert live.store.call(sid).state == "abandoned"
        live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))  # (late)
        assert live.store.call(sid).state == "abandoned"


def test_no_per_call_state_outlives_the_call(live):
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    for i in range(6):
        sid = f"CA{i:032d}"
        to_hold(live, sid)  # offered a callback (the wait is long), kept on the line
        if i % 2:  # half are answered and end; half hang up while waiting
            live.http.post("/api/agent/ready", headers=agent)
            live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
            live.carrier.post(f"/voice/agent-leg?sid={sid}&a=1",
                              call_form(f"CB{i:032d}", CallStatus="in-progress"))  # fmt: skip
        live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
        live.wall.now += 600
        live.http.post("/api/agent/not-ready", headers=agent)
    assert live.line.held() == {}


# -- 8. a voicemail's recording is never lost


def test_a_voicemail_left_while_the_store_is_down_is_kept(live):
    sid = "CA" + "9" * 32
    url = gather_url(
        live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text
    )
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="2")).text)
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="9")).text)
    live.carrier.post(url, call_form(sid, Digits="5"))  # the interpreter path, then voicemail
    live.wall.now += 700
    assert "<Record" in live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid)).text
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events RENAME TO call_events_away"))
    recording = "https://recordings.example/RE123"
    r = live.carrier.post(f"/voice/voicemail?sid={sid}", call_form(sid, RecordingUrl=recording))
    assert r.status_code == 200
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events_away RENAME TO call_events"))
    live.wall.now += RETRY_MAX  # past the back-off: the next use case writes what waits
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert ("voicemail", {"recording": recording}) in live.store.events(sid)


# -- 10, 11. /healthz: the database file, and writes that do not land


def test_healthz_turns_unhealthy_when_the_database_file_is_deleted(live, tmp_path, caplog):
    assert live.http.get("/healthz").status_code == 200
    db = tmp_path / "hotline.sqlite3"
    for f in tmp_path.glob("hotline.sqlite3*"):
        f.unlink()
    with caplog.at_level(logging.ERROR, logger="hotline.web"):
        r = live.http.get("/healthz")
    assert r.status_code == 503
    assert r.json()["database"] == f"the database file {db} was deleted"
    assert any("was deleted" in m for m in caplog.messages)


def test_healthz_turns_unhealthy_when_the_database_file_is_replaced(live, tmp_path):
    db = tmp_path / "hotline.sqlite3"
    other = tmp_path / "other.sqlite3"
    other.write_bytes(db.read_bytes())
    os.replace(other, db)
    r = live.http.get("/healthz")
    assert r.status_code == 503
    assert "was replaced" in r.json()["database"]


def test_healthz_reports_writes_waiting_and_turns_503_when_they_stall(live):
    sid = "CA" + "a" * 32
    url = keep_english(live, sid, CALLER)
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events RENAME TO call_events_away"))
    r = live.carrier.post(url, call_form(sid, Digits="2"))  # public: the callback offer
    live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # stays: queued, events
    health = live.http.get("/healthz")
    assert health.status_code == 200  # callers are served; a blip is not yet unhealthy
    writes = health.json()["writes"]
    assert writes["waiting"] > 0
    assert "no such table: call_events" in writes["last_error"]
    live.wall.now += STALLED + 1
    health = live.http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["writes"]["waiting_seconds"] > STALLED
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events_away RENAME TO call_events"))
    live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))  # any use case flushes
    health = live.http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["writes"]["waiting"] == 0


# -- 12. logs


def test_a_refused_signature_is_logged_once_with_the_url_checked(live, caplog):
    form = call_form("CA1", From=CALLER, To=LINE)
    with caplog.at_level(logging.WARNING, logger="hotline.web"):
        for _ in range(3):
            assert (
                live.carrier.post("/voice/incoming", form, signature="bm9wZQ==").status_code == 403
            )
    refused = [m for m in caplog.messages if "refused a webhook" in m]
    assert len(refused) == 1
    assert f"{PUBLIC}/voice/incoming" in refused[0]
    assert "HOTLINE_PUBLIC_URL" in refused[0]


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(live, caplog):
    sid = "CA" + "b" * 32
    to_hold(live, sid)
    with caplog.at_level(logging.WARNING, logger="hotline.store"):
        with live.store.engine.begin() as c:
            c.execute(text("ALTER TABLE webhook_replies RENAME TO replies_away"))
        for n in range(1, 6):  # five hold turns, each a write the store cannot take
            live.wall.now += RETRY_MAX
            live.carrier.post(f"/voice/wait?sid={sid}&n={n}", call_form(sid))
        with live.store.engine.begin() as c:
            c.execute(text("ALTER TABLE replies_away RENAME TO webhook_replies"))
        live.wall.now += RETRY_MAX
        live.carrier.post(f"/voice/wait?sid={sid}&n=6", call_form(sid))
    started = [m for m in caplog.messages if m.startswith("store unavailable")]
    reminders = [m for m in caplog.messages if m.startswith("store still unavailable")]
    ended = [m for m in caplog.messages if m.startswith("store available again")]
    assert len(started) == 1
    assert "no such table: webhook_replies" in started[0]  # the database's own reason
    assert len(reminders) == 1  # the first at once, then at most one per 30 s (20 s here)
    assert len(ended) == 1


# -- 14. every refusal in one shape; the OpenAPI document says so


def test_refusals_are_error_bodies_and_the_signature_comes_first(live):
    r = live.http.post("/voice/gather?sid=CA1&step=abc", data={"Digits": "1"})
    assert r.status_code == 403  # not a 422 echoing the query: the signature is checked first
    assert r.json()["error_id"] == "bad-signature"
    r = live.carrier.post("/voice/gather?sid=CA1&step=abc", call_form("CA1", Digits="1"))
    assert r.status_code == 400
    assert r.json()["error_id"] == "bad-query"
    assert live.http.get("/voice/incoming").json()["error_id"] == "method-not-allowed"
    assert live.http.get("/nope").json() == {"error_id": "not-found", "message": "no such page"}
    agent = live.agent("en-day-1")
    r = live.http.post(f"/api/agent/calls/{'x' * 500}/accept", headers=agent)
    assert r.status_code == 400
    assert len(r.json()["message"]) < 100  # the id is cut, not echoed whole


def test_openapi_declares_the_ways_in_and_error_responses(live):
    spec = live.http.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    ways = sorted((s["type"], s.get("scheme") or s.get("in")) for s in schemes.values())
    assert ways == [("apiKey", "cookie"), ("http", "bearer")]
    me = spec["paths"]["/api/agent/me"]["get"]
    assert me["security"]
    for status in ("401", "404", "409", "503"):
        ref = me["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody")
    assert set(spec["paths"]["/voice/incoming"]["post"]["responses"]) >= {"403", "400", "413"}
    # malformed requests get our 400: the framework's 422 is declared nowhere
    statuses = {s for ops in spec["paths"].values() for op in ops.values() for s in op["responses"]}
    assert "422" not in statuses
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    accept = spec["paths"]["/api/agent/calls/{call_sid}/accept"]["post"]["responses"]
    assert "400" in accept


# -- 9. calls the carrier could not tell about after a restart


def test_a_call_the_carrier_could_not_tell_about_keeps_its_place_until_it_can(tmp_path):
    db = sqlite_url(tmp_path)
    a = Live(db)
    waiting, gone = "CA" + "c" * 32, "CA" + "d" * 32
    to_hold(a, waiting)
    a.wall.now += 5
    to_hold(a, gone)
    b = Live(db)
    b.wall.now = a.wall.now + 30
    assert b.line.recover({}) == {"queued": 2}  # the carrier said nothing: both kept
    assert b.line.unverified() == sorted([waiting, gone])
    b.line.recheck({gone: "completed"})  # later it answers for one of them
    b.line.flush()
    assert b.line.unverified() == [waiting]
    assert [r.state for r in map(b.store.call, (gone, waiting)) if r] == ["abandoned", "queued"]
    accepted(b, waiting, "en-day-1")


def take_callback_in_the_ivr(live: Live, sid: str) -> None:
    r = live.carrier.post(keep_english(live, sid, CALLER), call_form(sid, Digits="2"))
    assert "The estimated wait is" in r.text
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="1"))
    assert "We will call you back" in r.text


def test_a_callback_chosen_while_an_agent_is_free_is_dialled_back(live):
    sid = "CA" + "5" * 31 + "1"
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    take_callback_in_the_ivr(live, sid)  # offered at once, but the caller hung up
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    assert live.called_back(sid)[:2] == (sid, CALLER)
    assert live.control.connected == []


def test_a_callback_callers_own_leg_ending_late_keeps_the_call(live):
    sid = "CA" + "5" * 31 + "2"
    take_callback_in_the_ivr(live, sid)
    accepted(live, sid, "en-day-1")
    live.called_back(sid)  # the dial-back starts ...
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))  # ... then this
    assert live.store.call(sid).state == "answered"
    leg = "CA" + "5" * 31 + "3"
    live.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="completed"))
    assert live.store.call(sid).state == "completed"


def test_a_canceled_dial_back_is_a_callback_not_reached(live):
    sid = "CA" + "5" * 31 + "4"
    take_callback_in_the_ivr(live, sid)
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    accepted(live, sid, "en-day-1")
    live.called_back(sid)
    leg = "CA" + "5" * 31 + "5"
    live.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="canceled"))
    assert live.store.call(sid).state == "queued"  # tried again later
    assert "callback-not-reached" in live.events(sid)
    # its agent wraps up a call that is not theirs to close (it waits for another try): the
    # state after it, asked for that call, is taken (no call of theirs is known to differ)
    agent = live.agent("en-day-1")
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"
    r = live.http.post(f"/api/agent/after-wrap-up?call={sid}", headers=agent,
                       json={"ready": False, "reason": "lunch"})  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_websocket_of_an_agent_not_on_the_line_is_closed(live):
    token = live.store.issue_token("nobody-1", live.wall())
    with (
        pytest.raises(WebSocketDisconnect) as e,
        live.http.websocket_connect(f"/api/agent/ws?token={token}") as ws,
    ):
        ws.receive_json()
    assert e.value.code == 4404
