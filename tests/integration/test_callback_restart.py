"""A callback's dial-back (into the call's conference) across a restart: what the
store's events tell the recovery about a callback, step by step."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .live_fixtures import Live, call_form, gather_url, keep_english, sqlite_url
from .test_agents_resume import me, restarted

SID = "CA" + "7" * 32
CALLER = "+12025550111"


def took_a_callback(tmp_path: Path) -> tuple[str, Live]:
    """SID queues, takes the callback and hangs up: it keeps its place off the line."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    r = a.carrier.post(keep_english(a, SID, CALLER), call_form(SID, Digits="2"))
    a.carrier.post(gather_url(r.text), call_form(SID, Digits="1"))  # take the callback
    a.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    return db, a


def dial_back_asked_as_the_line_stopped(tmp_path: Path) -> Live:
    """en-day-3's phone answered a callback and the caller's dial-back was asked for; the
    line stopped, and the start could not learn of it from the carrier (it may never have
    reached it, or the carrier could not say in time): the line started again (`b`)."""
    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    a.called_back(SID)
    a.line.flush()
    return restarted(db, a.wall.now + 5, {SID: "completed"})  # (no word of the dial-back)


def accepts(live: Live, agent_id: str) -> dict[str, str]:
    agent = live.agent(agent_id)
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == SID
    live.http.post(f"/api/agent/calls/{SID}/accept", headers=agent)
    return agent


def joins_without_dialling_again(b: Live) -> None:
    """(Running.) en-day-4 accepts SID, whose caller waits on hold in its conference, and
    their phone answers: the caller comes off hold to them, not called a second time."""
    accepts(b, "en-day-4")
    b.control.until(lambda: (SID, "agent:en-day-4", "join", "talk", "") in b.control.legs)
    b.leg_answered(SID, attempt=2)
    resumed = (SID, "caller", "resume", "talk", "")
    b.control.until(lambda: bool(b.control.dialled_back) or resumed in b.control.legs)
    assert b.control.dialled_back == []  # not called a second time: they are on the line
    assert resumed in b.control.legs


def test_a_callback_redialled_after_a_missed_try_is_called_back_after_a_restart(
    tmp_path: Path,
) -> None:
    """The first try: en-day-3's phone answers, the caller does not pick up (callback not
    reached). The second: en-day-4 accepts, and the line restarts while en-day-4's phone
    rings. The store's history holds the first try's `agent-leg-answered`, so the recovery
    (`bridged=any(...)`) takes the call as on a call, called back (`dialled_back=True`):
    when en-day-4's phone answers, nobody calls the caller, and en-day-4 sits alone in
    the conference with the desktop saying they are connected."""
    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    a.called_back(SID, attempt=1)
    missed = call_form("CA" + "1" * 32, CallStatus="no-answer")
    a.carrier.post(f"/voice/status?call={SID}", missed)
    assert a.store.call(SID).state == "queued"  # type: ignore[union-attr]
    accepts(a, "en-day-4")  # the second try: en-day-4's phone rings
    a.control.until(lambda: (SID, "agent:en-day-4", "join", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})  # (the caller's first call)
    with b.running():
        assert me(b, "en-day-4")["state"] == "on_call"
        assert b.line.call_legs(SID)["connected"] is False  # type: ignore[index]  # (it rings)
        b.leg_answered(SID, attempt=2)  # en-day-4's phone answers after the restart
        # the caller is dialled back (a dial-back request), as without the restart
        b.control.until(lambda: len(b.control.dialled_back) == 1)


def test_a_caller_called_back_on_hold_for_a_queue_is_not_dialled_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """The caller was called back and talked to en-day-3, who transferred them to a queue:
    they wait on hold in the conference, on the line. After a restart the call is
    `queued` with a callback number, so the recovery puts it back as a callback not yet
    called back (`_back_in_place`, `dialled_back` False): the next agent's phone answering
    dials the caller a second time (while they are on the line, on hold) instead of
    taking them off hold."""
    db, a = took_a_callback(tmp_path)
    first = accepts(a, "en-day-3")
    a.called_back(SID)
    picked_up = call_form("CA" + "8" * 32, CallStatus="in-progress")
    a.carrier.post(f"/voice/status?call={SID}", picked_up)
    r = a.http.post("/api/agent/transfer", json={"queue": "en"}, headers=first)
    assert r.status_code == 200, r.text
    a.control.until(lambda: (SID, "caller", "hold", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})  # (the caller's first call)
    with b.running():
        # on hold they stay, and the carrier is asked again (it may not have heard the first)
        b.control.until(lambda: len(b.control.legs) == 1)
        assert b.control.legs == [(SID, "caller", "hold", "talk", "")]
        joins_without_dialling_again(b)


def called_back_after_their_agent_hung_up(
    tmp_path: Path, then: str | None = None
) -> tuple[str, Live]:
    """en-day-3 hung up while their caller was being called back; the caller picked up
    and waits on hold in the conference for the next agent (docs/live.md); `then` (an
    agent) accepts the call, and their phone is dialled into it."""
    from hotline.switchboard.board import AGENT_GONE_AFTER

    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    a.called_back(SID)
    with a.running():
        gone = call_form("CA" + SID[-1] * 31 + "1", CallStatus="completed")
        a.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", gone)  # en-day-3 hangs up
        a.wall.now += AGENT_GONE_AFTER
        assert me(a, "en-day-3")["reason"] == "agent-hung-up"
        picked_up = call_form("CA" + "8" * 32, CallStatus="in-progress")
        r = a.carrier.post(f"/voice/status?call={SID}", picked_up)
        assert r.status_code == 200, r.text
        a.control.until(lambda: (SID, "caller", "hold", "talk", "") in a.control.legs)
        if then is not None:
            accepts(a, then)
            a.control.until(lambda: (SID, f"agent:{then}", "join", "talk", "") in a.control.legs)
    return db, a


def test_a_caller_called_back_after_their_agent_hung_up_is_not_dialled_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """Nothing of that pick-up was written, so after a restart the call was a callback not
    yet called back: the next agent's phone answering dialled the caller a second time."""
    db, a = called_back_after_their_agent_hung_up(tmp_path)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})  # (the caller's first call)
    with b.running():
        joins_without_dialling_again(b)


LEG = "CA" + "8" * 32  # the dial-back's own call (its status callbacks' CallSid)


def asking_about_the_dial_back(db: str, at: float, status: str) -> tuple[Live, dict[str, int]]:
    """The line started again at `at`: the start asks the carrier about SID and its
    dial-back's call LEG (the store's events name it), which says `status` of LEG.
    Returns the line and what the recovery counted."""
    b = Live(db)
    b.wall.now = at
    assert b.line.recovering() == [SID, LEG]
    return b, b.line.recover({SID: "completed", LEG: status})


def test_a_called_back_caller_who_hung_up_while_no_server_led_is_not_waited_for(
    tmp_path: Path,
) -> None:
    """They waited on hold for the next agent and hung up while the line was down, the
    carrier's word on it lost. The start asks the carrier about the dial-back's own call
    (the caller's first call is long over), finds it ended, and closes the call: nobody is
    offered it to join an empty conference."""
    db, a = called_back_after_their_agent_hung_up(tmp_path)
    a.line.flush()

    b, recovered = asking_about_the_dial_back(db, a.wall.now + 5, "completed")
    assert recovered == {"hung up": 1}
    with b.running():
        assert b.store.call(SID).state == "abandoned"  # type: ignore[union-attr]
        other = b.agent("en-day-4")
        b.http.post("/api/agent/login", headers=other)
        assert b.http.post("/api/agent/ready", headers=other).json()["call_sid"] is None


def test_a_called_back_caller_still_on_the_line_at_a_restart_waits_on_hold(
    tmp_path: Path,
) -> None:
    """The same, the carrier saying the dial-back's call goes on: they are on hold again,
    and the next agent's phone answering takes them off it."""
    db, a = called_back_after_their_agent_hung_up(tmp_path)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed", LEG: "in-progress"})
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        assert b.control.legs == [(SID, "caller", "hold", "talk", "")]
        joins_without_dialling_again(b)


def test_a_dial_back_the_carrier_could_not_tell_of_at_the_start_is_asked_about_again(
    tmp_path: Path,
) -> None:
    """The carrier could not say at the start (the start's deadline passed): the caller
    waits on hold as before, and the dial-back's call is among those asked about again;
    the carrier's later word that it ended closes the call."""
    db, a = called_back_after_their_agent_hung_up(tmp_path)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})  # (no word on LEG)
    assert b.line.unverified() == [LEG]
    b.line.recheck({LEG: "completed"})
    assert b.line.unverified() == []
    b.line.flush()
    assert b.store.call(SID).state == "abandoned"  # type: ignore[union-attr]


def test_a_caller_on_the_line_for_a_phone_ringing_at_a_restart_is_not_dialled_again(
    tmp_path: Path,
) -> None:
    """As above, and en-day-4 accepted the call: their phone rings as the line stops.
    After the restart the caller is put on hold again and en-day-4's phone answering
    takes them off it (the recovery took the call as a callback not yet called back)."""
    db, a = called_back_after_their_agent_hung_up(tmp_path, then="en-day-4")
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        assert b.control.legs == [(SID, "caller", "hold", "talk", "")]
        b.leg_answered(SID, attempt=2)
        b.control.until(lambda: len(b.control.legs) == 2 or bool(b.control.dialled_back))
        assert (b.control.legs[1:], b.control.dialled_back) == (
            [(SID, "caller", "resume", "talk", "")], [])  # fmt: skip
        assert (me(b, "en-day-4")["state"], me(b, "en-day-4")["call_sid"]) == ("on_call", SID)


def test_a_callbacks_agent_dial_in_flight_at_a_restart_that_never_reports_is_not_stuck(
    tmp_path: Path,
) -> None:
    """en-day-3 accepts the callback and the line stops while their phone rings; the
    carrier's word on that leg (its no-answer) went to the stopped server. A caller's
    connect in the same spot is `pending` and goes back in place after PENDING_FOR
    (`_no_word`); a callback's is resumed on en-day-3 as on a call, not bridged, with no
    timer: en-day-3 stays on_call (their hang-up refused: "not connected yet") and the
    caller is never called back nor offered to anyone else."""
    from hotline.switchboard.board import PENDING_FOR

    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")  # en-day-3's phone rings
    a.control.until(lambda: (SID, "agent:en-day-3", "join", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted(db, a.wall.now + 30, {SID: "completed"})  # (the caller's first call)
    with b.running():
        b.wall.now += PENDING_FOR + 1  # the carrier said nothing of that leg for a minute
        other = b.agent("en-day-4")
        b.http.post("/api/agent/login", headers=other)
        assert b.http.post("/api/agent/ready", headers=other).json()["call_sid"] == SID


def test_a_dial_back_asked_for_just_before_a_restart_is_made_if_it_never_reports(
    tmp_path: Path,
) -> None:
    """en-day-3's phone answers and the line asks for the caller's dial-back, then stops:
    the request may never have reached the carrier. The recovery took the call as on a
    call with the caller called back (bridged), so nobody ever dialled them: en-day-3 sat
    alone in the conference and the call would close as completed. Now, with no word of
    the dial-back for PENDING_FOR, the caller is dialled, and their answer bridges them."""
    from hotline.switchboard.board import PENDING_FOR
    from hotline.switchboard.events import CalledBack

    b = dial_back_asked_as_the_line_stopped(tmp_path)
    with b.running():
        assert me(b, "en-day-3")["state"] == "on_call"
        assert b.control.dialled_back == []
        b.wall.now += PENDING_FOR + 1  # no word of that dial-back for a minute
        b.control.until(lambda: len(b.control.dialled_back) == 1)
        assert b.control.dialled_back[0][:2] == (SID, CALLER)
        picked_up = call_form("CA" + "8" * 32, CallStatus="in-progress")
        b.carrier.post(f"/voice/status?call={SID}", picked_up)
        assert b.events(SID)[-1] == CalledBack.kind


def test_a_dial_back_that_reports_after_a_restart_bridges_and_is_not_made_again(
    tmp_path: Path,
) -> None:
    """The dial-back did go out before the restart: the caller's answer reaches the new
    server, which bridges them (a `called-back` event; before, the recovery took them as
    bridged already and said nothing), and nobody dials them a second time."""
    from hotline.switchboard.board import PENDING_FOR
    from hotline.switchboard.events import CalledBack

    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    a.called_back(SID)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})
    with b.running():
        picked_up = call_form("CA" + "8" * 32, CallStatus="in-progress")
        b.carrier.post(f"/voice/status?call={SID}", picked_up)
        assert b.events(SID)[-1] == CalledBack.kind
        b.wall.now += PENDING_FOR + 1
        hung_up = b.http.post("/api/agent/hang-up", headers=b.agent("en-day-3"))
        assert hung_up.status_code == 200, hung_up.text  # (after the timer's moment)
        assert b.control.dialled_back == []


def test_a_dial_back_the_caller_answered_while_no_server_led_is_not_made_again(
    tmp_path: Path,
) -> None:
    """The carrier took the dial-back (its call's sid is written) and the caller picked
    up while the line was down, the carrier's word lost. The start asks the carrier about
    that call: the caller talks to en-day-3, and is not dialled a second time."""
    from hotline.switchboard.board import PENDING_FOR

    db, a = took_a_callback(tmp_path)
    a.control.dial_back_legs.append(LEG)
    accepts(a, "en-day-3")
    url = a.called_back(SID)[3]
    assert a.events(SID)[-1] == "dial-back-placed"
    (placed,) = [data for kind, data in a.store.events(SID) if kind == "dial-back-placed"]
    assert placed == {"leg": LEG, "dial": int(parse_qs(urlsplit(url).query)["d"][0])}
    a.line.flush()

    b, recovered = asking_about_the_dial_back(db, a.wall.now + 5, "in-progress")
    assert recovered == {"on a call": 1}
    with b.running():
        b.wall.now += PENDING_FOR + 1  # (the minute a dial-back with no word is given)
        assert me(b, "en-day-3")["state"] == "on_call"
        assert b.line.call_legs(SID)["connected"] is True  # type: ignore[index]
        hung_up = b.http.post("/api/agent/hang-up", headers=b.agent("en-day-3"))
        assert hung_up.status_code == 200, hung_up.text
        b.control.until(lambda: (SID, "caller", "drop", "talk", "") in b.control.legs)
    assert b.control.dialled_back == []


def test_a_callbacks_third_missed_try_closes_it_across_a_restart(tmp_path: Path) -> None:
    """Two tries missed before the restart (the tries are in the store's events), one
    after: the call is closed, as three missed without a restart close it (the count
    started over at each start)."""
    db, a = took_a_callback(tmp_path)
    for attempt, agent in ((1, "en-day-3"), (2, "en-day-4")):
        accepts(a, agent)
        a.called_back(SID, attempt=attempt)
        missed = call_form("CA" + str(attempt) * 32, CallStatus="no-answer")  # (its own call)
        a.carrier.post(f"/voice/status?call={SID}", missed)
    assert a.store.call(SID).state == "queued"  # type: ignore[union-attr]
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})
    with b.running():
        accepts(b, "en-day-5")
        b.leg_answered(SID, attempt=3)
        b.control.until(lambda: len(b.control.dialled_back) == 1)
        missed = call_form("CA" + "3" * 32, CallStatus="no-answer")
        r = b.carrier.post(f"/voice/status?call={SID}", missed)
        assert r.status_code == 200, r.text
    b.line.flush()
    assert b.store.call(SID).state == "abandoned"  # type: ignore[union-attr]


def test_a_dial_back_unconfirmed_at_a_restart_is_made_when_the_next_agent_answers(
    tmp_path: Path,
) -> None:
    """The dial-back was asked for just before the restart, and no word of it came after:
    en-day-3 hangs up their phone, and en-day-4 takes the call within the minute. The line
    took en-day-4's phone answering as bridged to the caller (the dial-back taken as made)
    and dialled nobody, and the minute's check then saw a bridged call: en-day-4 sat alone
    in the conference and the caller was never called back. Now they are, once."""
    from hotline.switchboard.board import AGENT_GONE_AFTER, PENDING_FOR
    from hotline.switchboard.events import CalledBack

    b = dial_back_asked_as_the_line_stopped(tmp_path)
    with b.running():
        hung_up = call_form("CA" + "7" * 31 + "1", CallStatus="completed")
        b.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", hung_up)  # en-day-3's phone
        b.wall.now += AGENT_GONE_AFTER + 1
        second = accepts(b, "en-day-4")  # (the call is offered again)
        b.control.until(lambda: (SID, "agent:en-day-4", "join", "talk", "") in b.control.legs)
        b.leg_answered(SID, attempt=2)
        b.control.until(lambda: len(b.control.dialled_back) == 1)
        assert b.control.dialled_back[0][:2] == (SID, CALLER)
        picked_up = call_form("CA" + "8" * 32, CallStatus="in-progress")
        b.carrier.post(f"/voice/status?call={SID}", picked_up)
        assert b.events(SID)[-1] == CalledBack.kind
        b.wall.now += PENDING_FOR + 1  # the minute's check: the caller was dialled already
        r = b.http.post("/api/agent/hang-up", headers=second)
        assert r.status_code == 200, r.text
        b.control.until(lambda: (SID, "caller", "drop", "talk", "") in b.control.legs)
        assert len(b.control.dialled_back) == 1


def test_a_late_miss_of_a_dial_back_made_again_after_a_restart_leaves_the_call_on(
    tmp_path: Path,
) -> None:
    """The dial-back asked for before the restart is made again a minute after the start
    (no word of it). The first one's no-answer then comes, late, through its own status
    URL: it names a dial-back the line no longer waits on, and en-day-3 stays on the call
    (before, they were dropped and the caller sent back to the queue while the second
    dial-back rang). The second's answer, through the URL it was given, bridges them."""
    from hotline.switchboard.board import PENDING_FOR
    from hotline.switchboard.events import CalledBack

    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    first = a.called_back(SID)[3]
    a.line.flush()
    b = restarted(db, a.wall.now + 5, {SID: "completed"})
    with b.running():
        b.wall.now += PENDING_FOR + 1
        b.control.until(lambda: len(b.control.dialled_back) == 1)
        second = b.control.dialled_back[0][3]
        assert parse_qs(urlsplit(first).query)["d"] != parse_qs(urlsplit(second).query)["d"]
        missed = b.carrier.post(first, call_form(LEG, CallStatus="no-answer"))
        assert missed.status_code == 200, missed.text
        assert me(b, "en-day-3")["state"] == "on_call"
        assert "callback-not-reached" not in b.events(SID)
        picked_up = b.carrier.post(second, call_form("CA" + "9" * 32, CallStatus="in-progress"))
        assert picked_up.status_code == 200, picked_up.text
        assert b.events(SID)[-1] == CalledBack.kind
        assert b.line.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_miss_of_a_dial_back_before_the_one_placed_last_is_no_news_after_a_restart(
    tmp_path: Path,
) -> None:
    """The store's `dial-back-placed` keeps the dial-back's number: after a restart that
    finds LEG still ringing, a miss of an earlier dial-back of the call (a number of its
    own, as a line that dialled the caller twice leaves behind) leaves en-day-3 on it;
    LEG's own miss, through the URL it was given, is a try not reached."""
    db, a = took_a_callback(tmp_path)
    a.control.dial_back_legs.append(LEG)
    accepts(a, "en-day-3")
    url = a.called_back(SID)[3]
    a.line.flush()
    b, recovered = asking_about_the_dial_back(db, a.wall.now + 5, "ringing")
    assert recovered == {"on a call": 1}
    with b.running():
        earlier = call_form("CA" + "9" * 32, CallStatus="no-answer")
        r = b.carrier.post(f"/voice/status?call={SID}&d=1", earlier)
        assert r.status_code == 200, r.text
        assert me(b, "en-day-3")["state"] == "on_call"
        assert "callback-not-reached" not in b.events(SID)
        r = b.carrier.post(url, call_form(LEG, CallStatus="no-answer"))
        assert r.status_code == 200, r.text
        assert "callback-not-reached" in b.events(SID)


def test_a_dial_back_its_agent_cancelled_is_not_one_of_the_callers_tries_across_a_restart(
    tmp_path: Path,
) -> None:
    """en-day-3 hangs up while the caller's phone rings: the line cancels that dial-back,
    and its end (`canceled`) is not the caller's miss. After a restart the caller still has
    all three tries: two more misses keep them queued, the third gives them up."""
    db, a = took_a_callback(tmp_path)
    accepts(a, "en-day-3")
    a.control.dial_back_legs.append("CA" + "1" * 32)
    status_url = a.called_back(SID, attempt=1)[3]
    assert a.http.post("/api/agent/hang-up", headers=a.agent("en-day-3")).status_code == 200
    a.control.until(lambda: "CA" + "1" * 32 in a.control.canceled)
    a.carrier.post(status_url, call_form("CA" + "1" * 32, CallStatus="canceled"))
    assert a.store.call(SID).state == "queued"  # type: ignore[union-attr]
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "completed"})  # (the caller's first call)
    for n, agent_id in enumerate(("en-day-4", "en-day-5", "en-day-6"), start=2):
        accepts(b, agent_id)
        b.called_back(SID, attempt=n)
        missed = call_form(f"CA{n:032d}", CallStatus="no-answer")
        b.carrier.post(f"/voice/status?call={SID}", missed)
        expected = "queued" if n < 4 else "abandoned"
        assert b.store.call(SID).state == expected, n  # type: ignore[union-attr]
    assert [d["tries"] for k, d in b.store.events(SID) if k == "callback-not-reached"] == [
        0, 1, 2, 3]  # fmt: skip
