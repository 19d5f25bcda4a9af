"""End to end through HTTP: the carrier's signed callbacks, an agent on the REST API, the
store underneath (SQLite here; the store tests also run on PostgreSQL)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection

import pytest
from sqlalchemy import text

from hotline.service.health import RETRY_MAX
from hotline.switchboard.effects import EndLeg
from hotline.web.runtime import LineRuntime

from .live_fixtures import (
    LINE,
    VICTIMS,
    GatedStore,
    Live,
    call_form,
    gather_url,
    keep_english,
    queue_public_caller,
    sqlite_url,
    through_lookup,
    victim_support,
)

CALLER = "+12025550143"


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


def test_unsigned_or_wrongly_signed_webhooks_are_refused_and_change_nothing(live):
    form = call_form("CA1", From=CALLER, To=LINE)
    r = live.carrier.post("/voice/incoming", form, sign=False)
    assert r.status_code == 403
    assert r.json()["error_id"] == "bad-signature"
    r = live.carrier.post("/voice/incoming", form, signature="bm90IGEgc2lnbmF0dXJl")
    assert r.status_code == 403
    # a signature for other parameters does not fit these
    other = live.carrier.validator.compute_signature(
        "http://127.0.0.1:8000/voice/incoming", {"CallSid": "CA2"}
    )
    assert live.carrier.post("/voice/incoming", form, signature=other).status_code == 403
    assert live.calls_rows() == 0


def test_a_full_call_ivr_queue_agent_and_status(live):
    sid = "CA" + "1" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert "Thank you for calling the National Hotline" in r.text
    assert 'voice="Polly.Joanna"' in r.text
    step1 = gather_url(r.text)
    r = live.carrier.post(step1, call_form(sid, Digits="1"))  # keep English
    assert "If you are an officer" in r.text
    step2 = gather_url(r.text)
    # the caller says "help" instead of pressing 2
    r = live.carrier.post(step2, call_form(sid, SpeechResult="I need help", Confidence="0.92"))
    assert "The estimated wait is" in r.text  # nobody is staffed yet: a long wait, a callback offer
    step3 = gather_url(r.text)
    r = live.carrier.post(step3, call_form(sid, Digits="2"))  # stay on the line
    assert "Please hold" in r.text
    assert "/voice/wait?sid=" in r.text
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert "You are number 1 in line" in r.text
    assert "<Pause" in r.text

    agent = live.agent("en-day-1")
    assert live.http.post("/api/agent/login", headers=agent).json()["state"] == "not_ready"
    me = live.http.post("/api/agent/ready", headers=agent).json()
    assert me["state"] == "reserved"
    assert me["call_sid"] == sid
    me = live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent).json()
    assert me["state"] == "on_call"
    assert live.control.connected == [(sid, "en-day-1")]

    # the carrier reports the agent's leg answered (a status callback of its own leg)
    leg = "CA" + "0" * 31 + "1"
    live.carrier.post(f"/voice/agent-leg?sid={sid}&a=1", call_form(leg, CallStatus="in-progress"))
    live.wall.now += 240
    r = live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert r.status_code == 200
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"
    events = live.events(sid)
    for kind in (
        "ivr-started",
        "ivr-ended",
        "CallQueued",
        "CallOffered",
        "CallAnswered",
        "CallCompleted",
    ):
        assert kind in events
    row = live.store.call(sid)
    assert row.state == "completed"
    assert row.queue == "en"
    assert row.attributes == {"caller_type": "public"}


def test_a_carrier_retry_gets_the_same_answer_and_duplicates_nothing(live):
    sid = "CA" + "2" * 32
    first = live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text
    step1 = gather_url(first)
    a = live.carrier.post(step1, call_form(sid, Digits="1")).text
    before = live.events(sid)
    assert live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text == first
    assert live.carrier.post(step1, call_form(sid, Digits="1")).text == a
    assert live.events(sid) == before
    assert live.calls_rows() == 1


def test_a_pin_never_reaches_the_store(live):
    sid = "CA" + "3" * 32
    url = gather_url(
        live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text
    )
    for digits in ("1", "1", "123455#", "2468#"):
        reply = live.carrier.post(url, call_form(sid, Digits=digits)).text
        reply = through_lookup(live, sid, reply)
        url = gather_url(reply)
    assert "Thank you. You are verified." in reply
    with live.store.engine.connect() as c:
        dump = " ".join(
            str(r)
            for t in ("calls", "call_events", "webhook_replies")
            for r in c.execute(text(f"SELECT * FROM {t}"))
        )
    assert "2468" not in dump
    assert "Demo County Sheriff" not in dump or "verified" in dump


def test_an_unknown_called_number_gets_a_polite_goodbye(live):
    r = live.carrier.post("/voice/incoming", call_form("CA9", From=CALLER, To="+15550000000"))
    assert r.status_code == 200
    assert "not in service" in r.text
    assert "<Hangup" in r.text
    assert "refused" in live.events("CA9")


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"From": CALLER, "To": LINE}, 400),
        ({"CallSid": "x" * 300, "From": CALLER, "To": LINE}, 400),
    ],
)
def test_malformed_callbacks_get_a_4xx_with_a_reason(live, form, status):
    r = live.carrier.post("/voice/incoming", form)
    assert r.status_code == status
    assert r.json()["error_id"] == "bad-body"


def test_oversized_bodies_are_refused(live):
    r = live.carrier.post(
        "/voice/incoming", call_form("CA1", From=CALLER, To=LINE, Junk="x" * 70_000)
    )
    assert r.status_code == 413


def test_callbacks_out_of_order_are_refused_not_applied(live):
    sid = "CA" + "4" * 32
    live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE))
    r = live.carrier.post(f"/voice/gather?sid={sid}&g=1&step=5", call_form(sid, Digits="1"))
    assert r.status_code == 409
    assert r.json()["error_id"] == "out-of-order"


def test_with_the_database_gone_callers_are_served_and_the_writes_wait(live):
    sid = "CA" + "5" * 32
    url = keep_english(live, sid, CALLER)
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events RENAME TO call_events_away"))
    r = live.carrier.post(url, call_form(sid, Digits="2"))  # public: callback offer
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # stays on the line
    assert "Please hold" in r.text
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert r.status_code == 200
    assert "You are number 1 in line" in r.text
    assert live.line.writer.waiting() > 0  # what happened waits for the store, in order
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE call_events_away RENAME TO call_events"))
    assert live.http.get("/healthz").status_code == 200
    live.wall.now += RETRY_MAX  # a down store is tried again after a back-off
    live.carrier.post(f"/voice/wait?sid={sid}&n=2", call_form(sid))  # any use case flushes
    assert live.line.writer.waiting() == 0
    assert "CallQueued" in live.events(sid)
    assert live.store.call(sid).state == "queued"


def test_a_retry_while_the_store_is_down_gets_the_same_answer(live):
    sid = "CA" + "a" * 32
    url = gather_url(
        live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text
    )
    with live.store.engine.begin() as c:
        c.execute(text("ALTER TABLE webhook_replies RENAME TO replies_away"))
    first = live.carrier.post(url, call_form(sid, Digits="1"))
    again = live.carrier.post(url, call_form(sid, Digits="1"))
    assert first.status_code == again.status_code == 200
    assert first.text == again.text
    assert "If you are an officer" in first.text


def test_a_wait_for_a_call_that_is_gone_ends_politely(live):
    r = live.carrier.post("/voice/wait?sid=CA404&n=1", call_form("CA404"))
    assert "Goodbye" in r.text
    assert "<Hangup" in r.text


def test_agent_api_needs_a_token_and_maps_errors(live):
    assert live.http.get("/api/agent/me").status_code == 401
    assert (
        live.http.get("/api/agent/me", headers={"Authorization": "Bearer nope"}).json()["error_id"]
        == "bad-token"
    )
    agent = live.agent("en-day-2")
    live.http.post("/api/agent/login", headers=agent)
    r = live.http.post("/api/agent/calls/CA404/accept", headers=agent)
    assert r.status_code in (404, 409)
    assert r.json()["error_id"] in ("unknown-call", "invalid-transition")
    ghost = live.agent("nobody-1")
    assert live.http.post("/api/agent/login", headers=ghost).status_code == 404


def test_offers_reach_the_agents_websocket(live):
    agent = live.agent("es-day-1")
    token = agent["Authorization"].removeprefix("Bearer ")
    with live.http.websocket_connect(f"/api/agent/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        live.http.post("/api/agent/login", headers=agent)
        live.http.post("/api/agent/ready", headers=agent)
        sid = "CA" + "6" * 32
        url = gather_url(
            live.carrier.post("/voice/incoming", call_form(sid, From="+525512345678", To=LINE)).text
        )
        url = gather_url(live.carrier.post(url, call_form(sid, Digits="1")).text)  # Spanish
        r = live.carrier.post(url, call_form(sid, Digits="2"))  # public
        if "<Gather" in r.text:  # a callback offer: stay on the line
            live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))
        assert live.store.call(sid).state == "offered"  # so the offer below is waiting
        kinds = []  # the agent's state after each change comes first (login, ready, offered)
        while (offer := ws.receive_json())["type"] == "state":
            kinds.append(offer["state"])
        assert kinds[-1] == "reserved"
        assert offer["type"] == "offer"
        assert offer["call_sid"] == sid
        assert offer["language"] == "es"
        assert offer["queue"] == "es"


def test_healthz_reports_readiness(live):
    r = live.http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["ready"] is True
    assert r.json()["lines"] == [{"name": "National hotline (US)", "number": LINE,
                                  "flow": "national-hotline", "version": 2}]  # fmt: skip


def test_a_callback_keeps_its_place_and_is_dialled_back_to_the_agent(live):
    sid = "CA" + "7" * 32
    url = keep_english(live, sid, CALLER)
    r = live.carrier.post(url, call_form(sid, Digits="2"))
    assert "The estimated wait is" in r.text
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="1"))  # take the callback
    assert "We will call you back" in r.text
    assert "<Hangup" in r.text
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))  # they hang up
    assert live.store.call(sid).state == "queued"  # ... and keep their place
    agent = live.agent("en-day-3")
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    # the agent's phone is dialled into the call's conference first; the caller is not
    live.control.until(lambda: (sid, "agent:en-day-3", "join", "talk", "") in live.control.legs)
    assert (live.control.connected, live.control.dialled_back) == ([], [])
    # once it answers, the caller is called back into that conference, from the line
    dial = int(live.wall.now * 1000)  # (which dial-back of the call: the line's clock in ms)
    status_url = f"http://127.0.0.1:8000/voice/status?call={sid}&d={dial}"
    assert live.called_back(sid) == (sid, CALLER, LINE, status_url)
    # the dial-back leg has its own CallSid: its answer bridges them, its end closes the call
    leg = "CA" + "8" * 32
    r = live.http.post("/api/agent/hold", json={"hold": True}, headers=agent)
    assert r.status_code == 409  # (their phone still rings)
    assert r.json()["message"] == f"call {sid} is not connected to agent en-day-3 yet"
    live.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="in-progress"))
    assert live.http.post("/api/agent/hold", json={"hold": True}, headers=agent).status_code == 200
    live.control.until(lambda: (sid, "caller", "hold", "talk", "") in live.control.legs)
    live.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="completed"))
    assert live.store.call(sid).state == "completed"
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"


def test_an_agent_hangs_up_a_callback_whose_caller_is_still_ringing(live):
    """The desktop's hang-up while the dial-back rings: the carrier cancels that call (by
    its own sid), whose end, `canceled`, frees the agent to wrap up and keeps the
    caller's place for the next agent's try."""
    sid = "CA" + "6" * 32
    url = keep_english(live, sid, CALLER)
    r = live.carrier.post(url, call_form(sid, Digits="2"))
    live.carrier.post(gather_url(r.text), call_form(sid, Digits="1"))  # take the callback
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    leg = "CA" + "5" * 32
    live.control.dial_back_legs.append(leg)  # (the dial-back's call, as the carrier names it)
    agent = live.agent("en-day-3")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    status_url = live.called_back(sid)[3]
    r = live.http.post("/api/agent/hang-up", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "on_call"  # (until the carrier says the call ended)
    live.control.until(lambda: leg in live.control.canceled)  # (a caller who picked up stays)
    assert not [x for x in live.control.legs if x[1] == "caller"]  # (no caller leg dropped)
    live.carrier.post(status_url, call_form(leg, CallStatus="canceled"))
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"
    live.control.until(lambda: (sid, "agent:en-day-3", "drop", "talk", "") in live.control.legs)
    assert live.store.call(sid).state == "queued"  # (their place kept, for another try)
    assert live.events(sid).count("callback-not-reached") == 1


def test_a_dial_backs_word_is_never_taken_for_a_retry_of_a_calls_own_status(live):
    """A callback's dial-back reports under its own call's CallSid: a plain status of a
    call with that id later is that call's own word, not a retry of the dial-back's (the
    replies kept for retries are told apart)."""
    sid = "CA" + "4" * 32
    url = keep_english(live, sid, CALLER)
    r = live.carrier.post(url, call_form(sid, Digits="2"))
    live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # (no callback: they stay)
    assert live.store.call(sid).state == "queued"
    other = "CA" + "3" * 32  # (a call the line does not know: its dial-back's word is nothing)
    r = live.carrier.post(f"/voice/status?call={other}", call_form(sid, CallStatus="completed"))
    assert r.status_code == 200
    assert live.store.call(sid).state == "queued"
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))  # they hang up
    assert live.store.call(sid).state == "abandoned"


def test_status_callbacks_in_any_order_never_give_a_500(live):
    sid = "CA" + "9" * 32
    assert (
        live.carrier.post("/voice/status", call_form(sid, CallStatus="completed")).status_code
        == 200
    )
    live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE))
    for status in ("ringing", "completed", "busy", "failed"):
        assert (
            live.carrier.post("/voice/status", call_form(sid, CallStatus=status)).status_code == 200
        )
    assert live.store.call(sid).state == "abandoned"  # hung up in the IVR


def test_a_caller_overflowed_to_voicemail_is_sent_to_record(live):
    sid = "CA" + "b" * 32
    url = gather_url(
        live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=LINE)).text
    )
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="2")).text)  # full menu
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="9")).text)  # more languages
    r = live.carrier.post(url, call_form(sid, Digits="5"))  # K'iche': the interpreter path
    assert "/voice/wait" in r.text
    live.wall.now += 700  # past the queue's 20 s + 600 s steps: overflow to voicemail
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert "<Record" in r.text
    assert "/voice/voicemail?sid=" in r.text
    assert live.store.call(sid).state == "overflowed"


def test_a_callback_not_answered_is_tried_again_then_given_up(live):
    sid = "CA" + "c" * 32
    url = keep_english(live, sid, CALLER)
    r = live.carrier.post(url, call_form(sid, Digits="2"))
    live.carrier.post(gather_url(r.text), call_form(sid, Digits="1"))  # take the callback
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    for n, agent_id in enumerate(("en-day-5", "en-day-6", "en-day-7"), start=1):
        agent = live.agent(agent_id)
        live.http.post("/api/agent/login", headers=agent)
        assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
        live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
        live.called_back(sid, attempt=n)
        assert len(live.control.dialled_back) == n
        leg = f"CA{n:032d}"
        live.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="no-answer"))
        assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"
        # the agent's phone, alone in the conference, leaves it
        live.control.until(lambda: (sid, f"agent:{agent_id}", "drop", "talk", "")  # noqa: B023
                           in live.control.legs)  # fmt: skip
        expected = "queued" if n < 3 else "abandoned"  # three tries, then given up
        assert live.store.call(sid).state == expected
    assert live.events(sid).count("callback-not-reached") == 3


def test_the_hold_loop_offers_a_callback_once_when_the_wait_is_long(live):
    for sid, key in (("CA" + "d" * 32, "1"), ("CA" + "e" * 32, "2")):
        url = keep_english(live, sid, CALLER)
        r = live.carrier.post(url, call_form(sid, Digits="2"))  # public
        live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # stays on the line
        r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
        assert "/voice/hold-key?sid=" in r.text  # nobody staffed: a long wait
        assert "To be called back at this number" in r.text
        r = live.carrier.post(f"/voice/hold-key?sid={sid}&n=1", call_form(sid, Digits=key))
        if key == "1":
            assert "We will call you back" in r.text
            assert "<Hangup" in r.text
            live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
            row = live.store.call(sid)
            assert row.state == "queued"  # kept their place
            assert row.callback_number == CALLER
        else:
            assert "/voice/wait?sid=" in r.text
            r = live.carrier.post(f"/voice/wait?sid={sid}&n=2", call_form(sid))
            assert "hold-key" not in r.text  # offered once, not at every turn
            assert "You are number 2 in line" in r.text


def test_the_carrier_bridges_a_call_only_once_the_store_holds_its_answer(live):
    """A crash between the two would leave the store thinking the caller still waits
    while the carrier rings an agent: after a restart, a second agent."""
    sid = "CA" + "6" * 32
    queue_public_caller(live, sid, CALLER)
    seen_by_the_carrier: list[list[str]] = []
    bridge = live.control.connect

    def connect(call_sid: str, agent_id: str, attempt: int = 1) -> None:
        seen_by_the_carrier.append(live.events(call_sid))  # the store, as a restart reads it
        bridge(call_sid, agent_id, attempt)

    live.control.connect = connect
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    assert live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent).status_code == 200
    assert live.control.connected == [(sid, "en-day-1")]
    assert len(seen_by_the_carrier) == 1
    assert seen_by_the_carrier[0][-3:] == ["CallOffered", "CallAnswered", "connecting"]


def test_a_recording_that_comes_after_the_caller_left_is_news_of_their_own_line(tmp_path):
    live = Live(sqlite_url(tmp_path), also=[victim_support()])
    sid = "CA" + "7" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=VICTIMS))
    assert r.status_code == 200
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    r = live.carrier.post(f"/voice/voicemail?sid={sid}", call_form(sid, RecordingUrl=recording))
    assert r.status_code == 200
    assert ("voicemail", {"recording": recording}) in live.store.events(sid)
    assert live.line.line_of(sid) == "Victim support helpline"


def test_what_a_command_holds_goes_out_after_its_writes_even_if_a_later_one_writes_nothing(
    tmp_path,
):
    """The ticker's tick (or an agent's GET) writes nothing and is done at once: it must
    not let out what an earlier command holds while that command's writes still wait."""
    live = Live(sqlite_url(tmp_path), commit_wait=60.0, store_class=GatedStore)
    store = live.store
    assert isinstance(store, GatedStore)
    sid = "CA" + "8" * 32
    queue_public_caller(live, sid, CALLER)
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid

    def still_valid(tokens: Collection[str]) -> dict[str, float]:
        return dict.fromkeys(live.store.valid_tokens(tokens), math.inf)

    rt = LineRuntime(settings=live.settings, line=live.line, control=live.control,
                     still_valid=still_valid, token_clock=live.wall)  # fmt: skip
    published: list[str] = []
    rt.hub.subscribe(lambda p: published.append(p.news.kind))

    async def run() -> tuple[list[str], list[str]]:
        store.gate.clear()  # the disk holds: accept's writes wait
        accept = asyncio.create_task(rt.use_case(lambda: live.line.accept("en-day-1", sid)))
        while live.line.writer.waiting() == 0:  # (accept runs at the loop's next turn)
            await asyncio.sleep(0)
        await rt.use_case(live.line.tick)  # nothing to write: done at once
        before = list(published)
        store.gate.set()
        await accept
        return before, list(published)

    before, after = asyncio.run(run())
    assert "CallAnswered" not in before
    assert "CallAnswered" in after


def test_a_call_whose_state_was_lost_starts_over_instead_of_being_hung_up_on(live):
    """A webhook of a call neither the line nor the store knows (its state went with a node
    that could not write it): the caller hears the menu from its start, on a call the line
    holds from then on; the next step goes on from there."""
    sid = "CA" + "9" * 32
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=4",
                          call_form(sid, From=CALLER, To="+18005550100"))  # fmt: skip
    assert "Thank you for calling the National Hotline" in r.text
    r = live.carrier.post(gather_url(r.text), call_form(sid, From=CALLER, Digits="1"))
    assert "If you are an officer calling from an agency" in r.text
    live.line.flush()
    row = live.store.call(sid)
    assert row is not None
    assert row.caller == CALLER
    # a call the store holds as ended is not started over (a late request of a real end)
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=9", call_form(sid, From=CALLER))
    assert "Goodbye" in r.text


def test_a_legs_answer_is_hung_up_only_for_a_call_this_node_had(live):
    """A leg answering for a call that ended here is hung up (by its id); one answering for
    a call no line here has or had (its state went with a node that failed before writing
    it: its caller and agent may be talking) is left alone."""
    ended, unknown = "CA" + "4" * 32, "CA" + "5" * 32
    queue_public_caller(live, ended, CALLER)
    live.carrier.post("/voice/status", call_form(ended, CallStatus="completed"))
    live.line.agent_leg_answered(ended, 1, "CA" + "6" * 32)
    live.line.agent_leg_answered(unknown, 1, "CA" + "7" * 32)
    assert [e for e in live.line.outbox if isinstance(e, EndLeg)] == [
        EndLeg(ended, "CA" + "6" * 32)
    ]
