"""Agents across a restart, the harder cases (an independent review found each): a second
restart during a resumed wrap-up, a consultation the restart ended, a log-out asked on a
call, a wrap-up that ran out while the line was down, an agent on two lines, a dial-back
under way, an interpreter and a supervisor on the call, PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .live_fixtures import Live, call_form, pg_url, sqlite_url  # noqa: F401
from .test_agents_resume import (
    DONE,
    SID,
    answered_by,
    before_the_restart,
    me,
    restarted,
    wrap_up_seconds,
)
from .test_on_call import INTERPRETERS


def test_a_second_restart_keeps_a_resumed_wrap_up_to_its_own_end(tmp_path: Path) -> None:
    """en-day-4 wraps DONE up across a restart, then across another: the second start
    must find the wrap-up's call, queue and start, not the log-in's (none)."""
    db, wrap_began, wrap = before_the_restart(tmp_path)
    b = restarted(db, wrap_began + 5, {SID: "in-progress"})
    b.line.flush()

    c = Live(db)  # and restarts again, still within the wrap-up
    c.wall.now = wrap_began + 10
    c.line.recover({SID: "in-progress"})
    with c.running():
        assert me(c, "en-day-4")["state"] == "wrap_up"
        c.wall.now = wrap_began + wrap + 1
        assert me(c, "en-day-4")["state"] == "available"


def test_a_resumed_wrap_up_is_kept_with_its_call_queue_and_start(tmp_path: Path) -> None:
    db, wrap_began, _ = before_the_restart(tmp_path)
    b = restarted(db, wrap_began + 5, {SID: "in-progress"})
    b.line.flush()
    kept = b.store.agent_states()["en-day-4"]
    assert (kept.state, kept.call_sid, kept.since) == ("wrap_up", DONE, wrap_began), kept


def test_a_wrap_up_after_a_resumed_call_keeps_its_call(tmp_path: Path) -> None:
    """A call resumed onto its agent ends after the restart: the wrap-up kept names it,
    so a restart during it resumes it."""
    db, wrap_began, _ = before_the_restart(tmp_path)
    b = restarted(db, wrap_began + 5, {SID: "completed"})  # the call ended while the line was down
    b.line.flush()
    kept = b.store.agent_states()["en-day-1"]
    assert (kept.state, kept.call_sid) == ("wrap_up", SID), kept


def answered_and_en_day_2_ready(tmp_path: Path) -> tuple[str, Live, dict[str, str]]:
    """SID answered by en-day-1, and en-day-2 logged in and ready: the store, the line, and
    en-day-1's headers."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    second = a.agent("en-day-2")
    a.http.post("/api/agent/login", headers=second)
    a.http.post("/api/agent/ready", headers=second)
    return db, a, first


def test_an_agent_consulted_as_the_line_stopped_is_not_left_not_ready_for_it(
    tmp_path: Path,
) -> None:
    """The restart ends the consultation (`_reattach`): the consulted agent must not stay
    "not ready: consult" for a consultation that no longer exists (they were available)."""
    db, a, first = answered_and_en_day_2_ready(tmp_path)
    r = a.http.post("/api/agent/transfer", json={"agent": "en-day-2", "warm": True}, headers=first)
    assert r.status_code == 200, r.text
    assert me(a, "en-day-2")["reason"] == "consult"
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    with b.running():
        assert me(b, "en-day-1")["state"] == "on_call"
        state = me(b, "en-day-2")
        assert (state["state"], state["reason"]) != ("not_ready", "consult"), state


def test_an_agent_who_asked_to_log_out_on_a_call_is_logged_out_after_it_still(
    tmp_path: Path,
) -> None:
    """A log-out asked on a call waits for the call's end; a restart between must not
    turn it into an agent available (offered calls) after the wrap-up."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    r = a.http.post("/api/agent/logout", headers=first)
    assert r.status_code == 200, r.text
    assert me(a, "en-day-1")["state"] == "on_call"  # (log-out pending)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    with b.running():
        assert me(b, "en-day-1")["state"] == "on_call"
        b.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
        b.wall.now += wrap_up_seconds(b, SID) + 1
        assert me(b, "en-day-1")["state"] == "offline"


def test_agents_resume_on_postgresql(pg_url: str) -> None:  # noqa: F811
    """The same resume through PostgreSQL (the store of several nodes)."""
    a = Live(pg_url)
    answered_by(a, SID, "+12025550101", "en-day-1")
    resting = a.agent("en-day-2")
    a.http.post("/api/agent/login", headers=resting)
    a.http.post("/api/agent/not-ready?reason=training", headers=resting)
    a.line.flush()
    b = Live(pg_url)
    b.wall.now = a.wall.now + 5
    assert b.line.recover({SID: "in-progress"}) == {"on a call": 1}
    with b.running():
        assert (me(b, "en-day-1")["state"], me(b, "en-day-1")["call_sid"]) == ("on_call", SID)
        assert me(b, "en-day-2")["reason"] == "training"
        b.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
        assert me(b, "en-day-1")["state"] == "wrap_up"
    b.line.flush()
    kept = b.store.agent_states()
    assert (kept["en-day-1"].state, kept["en-day-2"].reason) == ("wrap_up", "training")


def test_a_wrap_up_whose_time_ran_out_while_the_line_was_down_is_closed_timeout(
    tmp_path: Path,
) -> None:
    """Past its limit a wrap-up is closed with the code `timeout` (docs/live.md); one whose
    limit fell while the line was down is over at the start: it should be closed alike,
    not left with no outcome."""
    db, wrap_began, wrap = before_the_restart(tmp_path)
    b = restarted(db, wrap_began + wrap + 5, {SID: "in-progress"})
    with b.running():
        assert me(b, "en-day-4")["state"] == "available"
    assert [d for k, d in b.store.events(DONE) if k == "wrapped-up"] == [
        {"agent_id": "en-day-4", "code": "timeout", "notes": ""}
    ]


def test_a_shared_agent_resumed_on_a_call_of_one_line_is_offered_none_of_the_other(
    tmp_path: Path,
) -> None:
    """en-day-7 answers on the victims' line too: resumed on a national call, they are not
    ready on the victims' line (not offered its callers); available on both after it."""
    from .live_fixtures import victim_support

    db = sqlite_url(tmp_path)
    a = Live(db, also=[victim_support()])
    answered_by(a, SID, "+12025550101", "en-day-7")
    a.line.flush()
    b = Live(db, also=[victim_support()])
    b.wall.now = a.wall.now + 5
    assert b.line.recover({SID: "in-progress"}) == {"on a call": 1}
    states = {n: bd.agent_state("en-day-7") for n, bd in b.line.boards.items()}
    assert [s["state"] for s in states.values()] == ["on_call", "not_ready"], states
    with b.running():
        # (their desktop connected: a resumed agent without one for the presence grace
        # period is set not ready, which the hour below would let the ticker do, or not)
        bearer = b.agent("en-day-7")
        token = bearer["Authorization"].removeprefix("Bearer ")
        with b.http.websocket_connect(f"/api/agent/ws?token={token}") as ws:
            assert ws.receive_json()["state"] == "on_call"
            b.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
            b.wall.now += 3600
            b.http.get("/api/agent/me", headers=bearer)  # (the wrap-up's end fires)
            assert [bd.agent_state("en-day-7")["state"] for bd in b.line.boards.values()] == [
                "available",
                "available",
            ]


def test_a_row_for_an_agent_no_line_has_is_ignored_at_the_start(tmp_path: Path) -> None:
    from hotline.service.unit_of_work import SaveAgent

    db = sqlite_url(tmp_path)
    a = Live(db)
    a.store.commit([SaveAgent("ghost", "available", None, None, None, a.wall(), "x")])
    b = Live(db)
    assert b.line.recover({}) == {}
    with b.running():
        assert me(b, "en-day-1")["state"] == "offline"
    b.line.flush()  # (kept as logged out: were they put on a line, they would start so)
    assert b.store.agent_states()["ghost"].state == "offline"


CALLBACK, CALLED_BACK = "CA" + "7" * 32, "CA" + "8" * 32  # a callback; its dial-back's leg


def talking_on_a_dial_back(a: Live) -> dict[str, str]:
    """CALLBACK queues and takes the callback; en-day-3 accepts it, their phone answers,
    the caller is called back and picks up: they talk. Returns en-day-3's headers."""
    from .live_fixtures import gather_url, keep_english

    r = a.carrier.post(keep_english(a, CALLBACK, "+12025550111"), call_form(CALLBACK, Digits="2"))
    a.carrier.post(gather_url(r.text), call_form(CALLBACK, Digits="1"))  # take the callback
    a.carrier.post("/voice/status", call_form(CALLBACK, CallStatus="completed"))
    agent = a.agent("en-day-3")
    a.http.post("/api/agent/login", headers=agent)
    assert a.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == CALLBACK
    a.http.post(f"/api/agent/calls/{CALLBACK}/accept", headers=agent)
    a.called_back(CALLBACK)  # en-day-3's phone answered: the caller is being called back
    # they pick up: they talk (test_callback_restart.py: before that)
    r = a.carrier.post(f"/voice/status?call={CALLBACK}",
                       call_form(CALLED_BACK, CallStatus="in-progress"))  # fmt: skip
    assert r.status_code == 200, r.text
    return agent


def test_an_agent_talking_on_a_dial_back_keeps_it_across_a_restart(tmp_path: Path) -> None:
    """docs/live.md: "a call an agent was talking on is theirs again", a callback's too:
    the caller was called back into the call's conference, so after the restart its agent
    can hold it, nobody else is offered it, and the dial-back's end closes it."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    sid, leg = CALLBACK, CALLED_BACK
    talking_on_a_dial_back(a)
    a.line.flush()

    b = restarted(
        db, a.wall.now + 5, {sid: "completed"}
    )  # (the caller's own first call ended long ago)
    with b.running():
        other = b.agent("en-day-4")
        b.http.post("/api/agent/login", headers=other)
        assert b.http.post("/api/agent/ready", headers=other).json()["call_sid"] != sid
        assert (me(b, "en-day-3")["state"], me(b, "en-day-3")["call_sid"]) == ("on_call", sid)
        again = b.agent("en-day-3")
        assert b.http.post("/api/agent/hold", json={"hold": True}, headers=again).status_code == 200
        b.control.until(lambda: (sid, "caller", "hold", "talk", "") in b.control.legs)
        # the dial-back ends: the callback was handled
        b.carrier.post(f"/voice/status?call={sid}", call_form(leg, CallStatus="completed"))
    assert b.store.call(sid).state == "completed"  # type: ignore[union-attr]
    assert b.control.dialled_back == []  # (not called a second time)


def restarted_talking(db: str, at: float) -> Live:
    """The line started again at `at`: CALLBACK is its agent's, connected to the caller,
    who is not on hold, with no one else in its conference."""
    b = restarted(db, at, {CALLBACK: "completed"})  # (the caller's own first call)
    assert b.line.call_legs(CALLBACK) == {"connected": True, "held": False, "consult": None,
                                          "interpreter": False, "supervisors": {},
                                          "calling_back": False}  # fmt: skip
    return b


@contextmanager
def consulting_on_a_dial_back(a: Live) -> Iterator[dict[str, str]]:
    """en-day-3 talks on a dial-back (`talking_on_a_dial_back`) and, the line running,
    consults en-day-4 for a warm transfer; yields en-day-3's headers."""
    agent = talking_on_a_dial_back(a)
    second = a.agent("en-day-4")
    a.http.post("/api/agent/login", headers=second)
    a.http.post("/api/agent/ready", headers=second)
    with a.running():
        r = a.http.post("/api/agent/transfer", json={"agent": "en-day-4", "warm": True},
                        headers=agent)  # fmt: skip
        assert r.status_code == 200, r.text
        yield agent


def test_a_dial_backs_hold_interpreter_and_supervisor_are_the_lines_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """As on a call the caller called in on (the test below and the one after the next):
    the caller called back and on hold, an interpreter and a supervisor in the conference
    as the line stops; after it the desktop says so, the agent takes the caller off hold
    and lets the interpreter go, the supervisor leaves, and nothing else is asked of the
    carrier (the caller is not called back a second time) but the hold, again, at the
    start."""
    db = sqlite_url(tmp_path)
    a = Live(db, interpreter_number=INTERPRETERS)
    agent = talking_on_a_dial_back(a)
    with a.running():
        r = a.http.post("/api/agent/interpreter", json={"on": True}, headers=agent)
        assert r.status_code == 200, r.text
        r = a.http.post(f"/api/supervisor/calls/{CALLBACK}/listen", headers=a.agent("supervisor"))
        assert r.status_code == 200, r.text
        name = r.json()["supervisor"]
        assert a.http.post("/api/agent/hold", json={"hold": True}, headers=agent).status_code == 200
        a.control.until(lambda: (CALLBACK, "caller", "hold", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {CALLBACK: "completed"}, interpreter_number=INTERPRETERS)
    assert b.line.call_legs(CALLBACK) == {"connected": True, "held": True, "consult": None,
                                          "interpreter": True, "supervisors": {name: "listen"},
                                          "calling_back": False}  # fmt: skip
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        assert b.control.legs == [(CALLBACK, "caller", "hold", "talk", "")]
        again = b.agent("en-day-3")
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=again)
        assert (r.status_code, r.json()["message"]) == (409, f"call {CALLBACK} is already on hold")
        for path, body in (("hold", {"hold": False}), ("interpreter", {"on": False})):
            r = b.http.post(f"/api/agent/{path}", json=body, headers=again)
            assert r.status_code == 200, r.text
        r = b.http.post(f"/api/supervisor/calls/{CALLBACK}/leave", headers=b.agent("supervisor"))
        assert r.status_code == 200, r.text
        b.control.until(lambda: len(b.control.legs) == 4)
    assert sorted(b.control.legs[1:]) == [
        (CALLBACK, "caller", "resume", "talk", ""),
        (CALLBACK, "interpreter", "drop", "talk", ""),
        (CALLBACK, f"supervisor:{name}", "drop", "talk", ""),
    ]  # the only three after it
    assert b.control.dialled_back == []  # (not called a second time)


def test_a_dial_back_warm_transferred_is_the_new_agents_call_after_a_restart(
    tmp_path: Path,
) -> None:
    """en-day-3 consults en-day-4, whose phone answers, and hands the called-back caller
    over: en-day-4 talks to them as the line stops. After the restart the call is
    en-day-4's, connected, the caller not on hold (the carrier is told so again: the
    consultation held them); a minute later en-day-4 is still on it. (The warm transfer's
    connect has no leg answer of its own: the recovery took en-day-4's phone as ringing,
    put the caller on hold, and a minute later dropped en-day-4 from the call as a phone
    that never answered.)"""
    db = sqlite_url(tmp_path)
    a = Live(db)
    with consulting_on_a_dial_back(a) as agent:
        consulted = f"/voice/leg?sid={CALLBACK}&label=agent:en-day-4"
        a.carrier.post(consulted, call_form("CA" + "6" * 32, CallStatus="in-progress"))
        r = a.http.post("/api/agent/transfer/finish", json={"complete": True}, headers=agent)
        assert r.json()["state"] == "wrap_up", r.text
    a.line.flush()

    b = restarted_talking(db, a.wall.now + 5)
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        b.wall.now += 120  # (past the minute a ringing phone is given)
        state = me(b, "en-day-4")
        assert (state["state"], state["call_sid"]) == ("on_call", CALLBACK)
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=b.agent("en-day-4"))
        assert r.status_code == 200, r.text
        b.control.until(lambda: len(b.control.legs) == 2)
    assert b.control.legs == [(CALLBACK, "caller", "resume", "talk", ""),
                              (CALLBACK, "caller", "hold", "talk", "")]  # (theirs)  # fmt: skip
    assert b.control.dialled_back == []


def test_a_consultation_on_a_dial_back_ends_with_the_restart(tmp_path: Path) -> None:
    """As on a call the caller called in on: the consulted agent's phone leaves the
    conference, the caller comes off the consultation's hold, back to their agent, and
    the consulted agent is free again."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    with consulting_on_a_dial_back(a):
        a.control.until(lambda: (CALLBACK, "caller", "hold", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted_talking(db, a.wall.now + 5)
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 2)
        state = me(b, "en-day-4")  # (available before the consultation: so again)
        assert (state["state"], state["reason"], state["call_sid"]) == ("available", None, None)
    assert b.control.legs == [
        (CALLBACK, "agent:en-day-4", "drop", "talk", ""),
        (CALLBACK, "caller", "resume", "talk", ""),
    ]


def test_a_caller_on_hold_stays_on_hold_for_their_agent_across_a_restart(tmp_path: Path) -> None:
    """The call is the agent's again, hold and all: the carrier is told again that the
    caller is on hold (and nothing else), the desktop says the caller is on hold, and the
    agent takes them off it."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    with a.running():
        assert a.http.post("/api/agent/hold", json={"hold": True}, headers=first).status_code == 200
        a.control.until(lambda: (SID, "caller", "hold", "talk", "") in a.control.legs)
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    assert b.line.call_legs(SID)["held"] is True  # type: ignore[index]
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        again = b.agent("en-day-1")
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=again)
        assert (r.status_code, r.json()["message"]) == (409, f"call {SID} is already on hold")
        assert (
            b.http.post("/api/agent/hold", json={"hold": False}, headers=again).status_code == 200
        )
        b.control.until(lambda: len(b.control.legs) == 2)
    assert b.control.legs == [(SID, "caller", "hold", "talk", ""),
                              (SID, "caller", "resume", "talk", "")]  # fmt: skip


def test_a_hold_that_never_reached_the_carrier_is_asked_of_it_after_a_restart(
    tmp_path: Path,
) -> None:
    """The line wrote the hold and stopped before the carrier heard of it (killed between
    the two): the agent's desktop says the caller is on hold, so after the restart the
    carrier is asked to hold them; left as it was, the caller heard everything the agent
    said while believing them on hold."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    lost: list[tuple[str, str, str]] = []
    asked = threading.Event()

    def never_heard(
        call_sid: str, label: str, action: str, *, mode: str = "", coach: str = "",
        attempt: int = 0,
    ) -> None:  # fmt: skip
        lost.append((call_sid, label, action))
        asked.set()

    a.control.leg = never_heard  # type: ignore[method-assign]
    with a.running():
        assert a.http.post("/api/agent/hold", json={"hold": True}, headers=first).status_code == 200
        assert asked.wait(10)
    a.line.flush()
    assert (lost, a.control.legs) == ([(SID, "caller", "hold")], [])  # (the carrier: none)

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        assert me(b, "en-day-1")["state"] == "on_call"
    assert b.control.legs == [(SID, "caller", "hold", "talk", "")]


def resumes_lost(live: Live) -> threading.Event:
    """From now on the line's requests to take a caller off hold never reach the carrier
    (the line stops between writing it and asking); set once one was asked for."""
    asked = threading.Event()
    heard = live.control.leg

    def resume_never_heard(
        call_sid: str, label: str, action: str, *, mode: str = "talk", coach: str = "",
        attempt: int = 0,
    ) -> None:  # fmt: skip
        if action == "resume":
            asked.set()
            return
        heard(call_sid, label, action, mode=mode, coach=coach, attempt=attempt)

    live.control.leg = resume_never_heard  # type: ignore[method-assign]
    return asked


def taken_off_hold_again(db: str, at: float) -> None:
    """The line started again at `at`: en-day-1's call, the caller not on hold, and the
    one request to the carrier is to take them off it."""
    b = restarted(db, at, {SID: "in-progress"})
    assert b.line.call_legs(SID)["held"] is False  # type: ignore[index]
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 1)
        assert me(b, "en-day-1")["state"] == "on_call"
    assert b.control.legs == [(SID, "caller", "resume", "talk", "")]


def test_a_resume_that_never_reached_the_carrier_is_asked_of_it_after_a_restart(
    tmp_path: Path,
) -> None:
    """The other way round: the agent took the caller off hold, the line wrote it and
    stopped before the carrier heard of it. The desktop says the caller hears the agent;
    after the restart the carrier is asked again to take them off hold (left as it was,
    the caller heard hold music while the agent spoke to them)."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    asked = resumes_lost(a)
    with a.running():
        assert a.http.post("/api/agent/hold", json={"hold": True}, headers=first).status_code == 200
        a.control.until(lambda: len(a.control.legs) == 1)
        r = a.http.post("/api/agent/hold", json={"hold": False}, headers=first)
        assert r.status_code == 200, r.text
        assert asked.wait(10)
    a.line.flush()
    assert a.control.legs == [(SID, "caller", "hold", "talk", "")]  # (the carrier: held)

    taken_off_hold_again(db, a.wall.now + 5)


def test_a_caller_back_from_a_cancelled_consultation_is_taken_off_hold_after_a_restart(
    tmp_path: Path,
) -> None:
    """A consultation holds the caller with no hold of the agent's written; the agent
    cancels it, and the line stops before the carrier hears that the caller comes off
    hold: after the restart the carrier is asked again."""
    db, a, first = answered_and_en_day_2_ready(tmp_path)
    asked = resumes_lost(a)
    with a.running():
        r = a.http.post("/api/agent/transfer", json={"agent": "en-day-2", "warm": True},
                        headers=first)  # fmt: skip
        assert r.status_code == 200, r.text
        r = a.http.post("/api/agent/transfer/finish", json={"complete": False}, headers=first)
        assert r.status_code == 200, r.text
        assert asked.wait(10)
    a.line.flush()
    assert (SID, "caller", "hold", "talk", "") in a.control.legs  # (the carrier: held)

    taken_off_hold_again(db, a.wall.now + 5)


def test_a_caller_never_on_hold_is_asked_nothing_of_at_a_restart(tmp_path: Path) -> None:
    """A call nobody put on hold is the agent's again with no request to the carrier:
    the start does not ask the carrier about every call's hold."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    answered_by(a, SID, "+12025550101", "en-day-1")
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    with b.running():
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=b.agent("en-day-1"))
        assert r.status_code == 200, r.text
        b.control.until(lambda: len(b.control.legs) == 1)
    assert b.control.legs == [(SID, "caller", "hold", "talk", "")]  # the agent's, the only one


def test_a_caller_an_earlier_agent_held_is_not_put_on_hold_by_a_restart(tmp_path: Path) -> None:
    """en-day-1 put the caller on hold and asked en-day-2 to take the call (a warm
    transfer), then hung up before en-day-2 answered: the caller went back to the queue,
    and en-day-2 took the call from there and talks to them as the line stops. That hold
    was en-day-1's: after the restart the caller is not on hold (not put on it
    mid-sentence), and en-day-2 can hold them."""
    from hotline.switchboard.board import AGENT_GONE_AFTER

    db, a, first = answered_and_en_day_2_ready(tmp_path)
    with a.running():
        assert a.http.post("/api/agent/hold", json={"hold": True}, headers=first).status_code == 200
        r = a.http.post("/api/agent/transfer", json={"agent": "en-day-2", "warm": True},
                        headers=first)  # fmt: skip
        assert r.status_code == 200, r.text
        gone = call_form("CA" + SID[-1] * 31 + "0", CallStatus="completed")
        a.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", gone)  # en-day-1 hangs up
        a.wall.now += AGENT_GONE_AFTER
        assert me(a, "en-day-2")["call_sid"] == SID  # (offered it, back in the queue)
        r = a.http.post(f"/api/agent/calls/{SID}/accept", headers=a.agent("en-day-2"))
        assert r.status_code == 200, r.text
        a.leg_answered(SID, attempt=2)
        assert a.line.call_legs(SID)["held"] is False  # type: ignore[index]
    a.line.flush()

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    assert b.line.call_legs(SID)["held"] is False  # type: ignore[index]
    with b.running():
        assert (me(b, "en-day-2")["state"], me(b, "en-day-2")["call_sid"]) == ("on_call", SID)
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=b.agent("en-day-2"))
        assert r.status_code == 200, r.text
        b.control.until(lambda: len(b.control.legs) == 1)
    assert b.control.legs == [(SID, "caller", "hold", "talk", "")]  # theirs, the only one


@pytest.mark.parametrize("ran_out", [False, True])
def test_what_an_agent_chose_for_after_their_wrap_up_is_kept_across_a_restart(
    tmp_path: Path, ran_out: bool
) -> None:
    """en-day-4 chose "not ready: lunch" for after their wrap-up; the line restarts within
    it (they wrap up the rest, then go to lunch) or after its end (lunch at once)."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    agent = answered_by(a, DONE, "+12025550107", "en-day-4")
    a.wall.now += 60
    a.carrier.post("/voice/status", call_form(DONE, CallStatus="completed"))
    began = a.wall.now
    lunch = {"ready": False, "reason": "lunch"}
    assert a.http.post("/api/agent/after-wrap-up", json=lunch, headers=agent).status_code == 200
    a.line.flush()
    wrap = wrap_up_seconds(a, DONE)
    kept = a.store.agent_states()["en-day-4"]
    assert (kept.state, kept.reason) == ("wrap_up", "lunch")

    b = restarted(db, began + (wrap + 5 if ran_out else 5), {})
    with b.running():
        if not ran_out:
            assert me(b, "en-day-4")["state"] == "wrap_up"
            b.wall.now = began + wrap + 1
        assert (me(b, "en-day-4")["state"], me(b, "en-day-4")["reason"]) == ("not_ready", "lunch")
    assert [d["code"] for k, d in b.store.events(DONE) if k == "wrapped-up"] == ["timeout"]


@contextmanager
def interpreted_and_supervised(db: str, *modes: str) -> Iterator[tuple[Live, str]]:
    """SID answered by en-day-1, who brings an interpreter in; the supervisor then asks for
    each of `modes` in turn; the line running, and the supervisor's name."""
    a = Live(db, interpreter_number=INTERPRETERS)
    first = answered_by(a, SID, "+12025550101", "en-day-1")
    boss = a.agent("supervisor")
    with a.running():
        r = a.http.post("/api/agent/interpreter", json={"on": True}, headers=first)
        assert r.status_code == 200, r.text
        for mode in modes:
            r = a.http.post(f"/api/supervisor/calls/{SID}/{mode}", headers=boss)
            assert r.status_code == 200, r.text
        a.control.until(lambda: len(a.control.legs) == 1 + len(modes))
        yield a, r.json()["supervisor"]


def test_an_interpreter_and_a_supervisor_on_the_call_are_the_lines_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """Both stay in the call's conference while the line is down; the line knows them again
    from the call's events: the desktop says who is on the call, the agent can let the
    interpreter go (not dial a second one in), the supervisor can leave. (Forgotten, the
    interpreter could not be let go and the supervisor's leave was refused.)"""
    db = sqlite_url(tmp_path)
    with interpreted_and_supervised(db, "listen", "whisper") as (a, name):
        pass
    a.line.flush()

    b = Live(db, interpreter_number=INTERPRETERS)
    b.wall.now = a.wall.now + 5
    assert b.line.recover({SID: "in-progress"}) == {"on a call": 1}
    assert b.line.call_legs(SID) == {"connected": True, "held": False, "consult": None,
                                     "interpreter": True, "supervisors": {name: "whisper"},
                                     "calling_back": False}  # fmt: skip
    with b.running():
        again = b.agent("en-day-1")
        r = b.http.post("/api/agent/interpreter", json={"on": True}, headers=again)
        assert (r.status_code, r.json()["message"]) == (
            409, f"an interpreter is already on call {SID}"
        )  # fmt: skip
        r = b.http.post("/api/agent/interpreter", json={"on": False}, headers=again)
        assert r.status_code == 200, r.text
        r = b.http.post(f"/api/supervisor/calls/{SID}/leave", headers=b.agent("supervisor"))
        assert r.status_code == 200, r.text
        b.control.until(lambda: len(b.control.legs) == 2)
    assert b.control.legs == [
        (SID, "interpreter", "drop", "talk", ""),
        (SID, f"supervisor:{name}", "drop", "talk", ""),
    ]  # the only two
    assert b.line.call_legs(SID) == {"connected": True, "held": False, "consult": None,
                                     "interpreter": False, "supervisors": {},
                                     "calling_back": False}  # fmt: skip


def test_a_supervisor_gone_and_an_interpreter_not_reached_are_not_known_again(
    tmp_path: Path,
) -> None:
    """What left the conference before the restart (a supervisor who left, an interpreter
    whose phone was busy) is not brought back by it."""
    db = sqlite_url(tmp_path)
    with interpreted_and_supervised(db, "barge", "leave") as (a, _):
        busy = call_form("CA" + "5" * 32, CallStatus="busy")
        r = a.carrier.post(f"/voice/leg?sid={SID}&label=interpreter", busy)
        assert r.status_code == 200, r.text
    a.line.flush()
    assert a.line.call_legs(SID)["interpreter"] is False  # type: ignore[index]

    b = restarted(db, a.wall.now + 5, {SID: "in-progress"})
    assert b.line.call_legs(SID) == {"connected": True, "held": False, "consult": None,
                                     "interpreter": False, "supervisors": {},
                                     "calling_back": False}  # fmt: skip
