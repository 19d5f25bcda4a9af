"""One open call whose rebuilding fails at a start (its rows not as a line writes them)
must not keep the line from starting, nor cost any other call its place: the start is made
again without it, and it is closed; a caller waiting alone is told to call again as their
call ends, and an agent who may be talking on it is not offered calls until free."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from hotline.errors import HotlineError
from hotline.service.bootstrap import NOT_RECOVERED_AT_MOST, Parts, build_line
from hotline.store.repository import Store
from hotline.testing.control import RecordingCallControl
from hotline.web.app import create_app

from .live_fixtures import FakeWall, Live, call_form, sqlite_url
from .test_agents_resume import SID as ANSWERED
from .test_agents_resume import me
from .test_agents_resume_more import answered_and_en_day_2_ready
from .test_callback_restart import LEG as DIAL_BACK
from .test_callback_restart import SID as CALLBACK
from .test_callback_restart import called_back_after_their_agent_hung_up
from .test_metrics import TOKEN, samples
from .test_restart import to_queue

LIVE_NOW = "in-progress"


def queued(live: Live, count: int) -> list[str]:
    """`count` callers queued on the line, a second apart, in the order of their sids."""
    sids = [f"CA{n:032d}" for n in range(1, count + 1)]
    for n, sid in enumerate(sids, start=1):
        live.wall.now += 1
        to_queue(live, sid, f"+1202555{n:04d}")
    assert live.line.writer.waiting() == 0
    return sids


def poison(live: Live, sql: str, **values: object) -> None:
    with live.store.engine.begin() as c:
        assert c.execute(text(sql), values).rowcount == 1


def accepted(live: Live, sid: str, *, answered: bool) -> dict[str, str]:
    """en-day-1 takes `sid`; `answered`: their phone answered (else it rings still)."""
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    assert live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent).status_code == 200
    if answered:
        live.carrier.post(f"/voice/agent-leg?sid={sid}&a=1",
                          call_form("CALEG", CallStatus="in-progress"))  # fmt: skip
    return agent


def bad_event(live: Live, sid: str, kind: str, data: str) -> None:
    """An event of the call's that no line writes: its data not what its kind's is."""
    poison(live, "INSERT INTO call_events (call_sid, at, kind, data) "
                 "VALUES (:sid, :at, :kind, :data)", sid=sid, at=live.wall.now, kind=kind,
           data=data)  # fmt: skip


def state(store: Store, sid: str) -> str:
    row = store.call(sid)
    assert row is not None
    return row.state


def rebuilt(live: Live, statuses: dict[str, str]) -> tuple[Parts, RecordingCallControl]:
    """The line built again from the store, as a node's start builds it."""
    control = RecordingCallControl()
    control.statuses = statuses
    wall = FakeWall()
    wall.now = live.wall.now + 30
    return build_line(live.settings, control=control, wall=wall), control


def test_a_call_that_cannot_be_rebuilt_is_closed_and_the_others_keep_their_places(tmp_path):
    a = Live(sqlite_url(tmp_path))
    first, broken, last = queued(a, 3)
    # a queued call with no queue: no line writes that (a fault, or a hand-made change)
    poison(a, "UPDATE calls SET queue = NULL WHERE sid = :sid", sid=broken)

    parts, control = rebuilt(a, dict.fromkeys((first, broken, last), LIVE_NOW))

    assert parts.recovered == {"queued": 2, "not recovered": 1}
    assert state(parts.store, broken) == "abandoned"
    said = [data for kind, data in parts.store.events(broken) if kind == "not-recovered"]
    assert said == [{"cause": "AssertionError"}]
    # the others wait where they were: the last is second now, the broken call gone
    assert "You are number 1 in line" in str(parts.line.hold(first)[1])
    assert "You are number 2 in line" in str(parts.line.hold(last)[1])
    assert [state(parts.store, sid) for sid in (first, last)] == ["queued", "queued"]
    # the broken call's caller is told, as their call ends, once the line runs; the
    # operator's monitoring counts it
    settings = parts.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings=settings, line=parts.line, control=control)) as http:
        control.until(lambda: control.ended == [broken])
        scraped = samples(http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    assert control.hung_up == []
    ended = {dict(labels)["outcome"]: n for (name, labels), n in scraped.items()
             if name == "hotline_calls_ended_total"}  # fmt: skip
    assert ended == {"not-recovered": 1.0}


def test_a_call_whose_events_cannot_be_read_is_closed_and_the_start_goes_on(tmp_path):
    a = Live(sqlite_url(tmp_path))
    sid, other = queued(a, 2)
    bad_event(a, sid, "connecting", '{"attempt": "x"}')

    parts, _control = rebuilt(a, dict.fromkeys((sid, other), LIVE_NOW))

    assert parts.recovered == {"queued": 1, "not recovered": 1}
    said = [data for kind, data in parts.store.events(sid) if kind == "not-recovered"]
    assert said == [{"cause": "ValueError"}]
    assert "You are number 1 in line" in str(parts.line.hold(other)[1])


def test_more_broken_calls_than_one_call_could_be_at_fault_for_stop_the_start(tmp_path):
    a = Live(sqlite_url(tmp_path))
    sids = queued(a, NOT_RECOVERED_AT_MOST + 1)
    with a.store.engine.begin() as c:
        c.execute(text("UPDATE calls SET queue = NULL"))

    with pytest.raises(HotlineError, match=f"{NOT_RECOVERED_AT_MOST + 1} open calls could not"):
        rebuilt(a, dict.fromkeys(sids, LIVE_NOW))
    # nothing was closed: the next start (a release without the fault) finds them all
    assert {state(a.store, sid) for sid in sids} == {"queued"}
    assert not any(kind == "not-recovered" for sid in sids for kind, _ in a.store.events(sid))


def test_the_agent_of_an_answered_call_not_rebuilt_is_not_offered_calls_until_free(tmp_path):
    """Their talk may go on (the line cuts nobody off): not ready until they say so."""
    a = Live(sqlite_url(tmp_path))
    (sid,) = queued(a, 1)
    accepted(a, sid, answered=True)
    assert a.line.writer.waiting() == 0
    bad_event(a, sid, "agent-leg-answered", '{"attempt": []}')

    parts, _control = rebuilt(a, {sid: LIVE_NOW})

    assert parts.recovered == {"not recovered": 1}
    assert state(parts.store, sid) == "completed"  # (an agent had answered it)
    status = parts.line.agent_state("en-day-1")
    assert (status["state"], status["reason"]) == ("not_ready", "after-restart")


def test_an_agent_whose_phone_answers_for_a_call_not_rebuilt_is_not_hung_up(tmp_path):
    """The caller of an accepted call waits in its conference for the agent's phone: the
    line no longer knows the call, and lets them talk (before, it hung the phone up, as for
    a connect that is over, and the caller waited in silence)."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    (sid,) = queued(a, 1)
    accepted(a, sid, answered=False)  # its phone rings
    assert a.line.writer.waiting() == 0

    b = left_at_a_start(db, a.wall.now + 30, sid, LIVE_NOW)
    r = b.carrier.post(
        f"/voice/agent-leg?sid={sid}&a=1", call_form("CALEG", CallStatus="in-progress")
    )
    assert r.status_code == 200
    assert b.control.hung_up == []
    assert b.control.legs == []  # (the caller was not on hold: nothing asked of the carrier)
    status = b.line.agent_state("en-day-1")
    assert (status["state"], status["reason"]) == ("not_ready", "after-restart")


def test_a_caller_on_hold_on_a_call_not_rebuilt_is_taken_off_it(tmp_path):
    """Nobody else could: the agent's desktop no longer has the call."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    (sid,) = queued(a, 1)
    agent = accepted(a, sid, answered=True)
    assert a.http.post("/api/agent/hold", json={"hold": True}, headers=agent).status_code == 200
    assert a.line.writer.waiting() == 0

    b = left_at_a_start(db, a.wall.now + 30, sid, LIVE_NOW)
    with b.running():
        b.control.until(lambda: b.control.legs != [])
    assert [(call, label, action) for call, label, action, _, _ in b.control.legs] == [
        (sid, "caller", "resume")
    ]


def test_a_called_back_caller_waiting_alone_on_a_call_not_rebuilt_is_told_on_their_dial_back(
    tmp_path,
):
    """Their own call is long over: the dial-back's is the one they hear the apology on."""
    db, a = called_back_after_their_agent_hung_up(tmp_path)  # on hold, for the next agent
    a.line.flush()

    b = Live(db)
    b.wall.now = a.wall.now + 30
    statuses = {CALLBACK: "completed", DIAL_BACK: LIVE_NOW}
    assert b.line.recover(statuses, left={CALLBACK: "ValueError"}) == {"not recovered": 1}
    with b.running():
        b.control.until(lambda: b.control.ended != [])
    assert b.control.ended == [DIAL_BACK]
    assert state(b.store, CALLBACK) == "abandoned"


def left_at_a_start(db: str, at: float, sid: str, status: str) -> Live:
    """The second try of a start: `sid` left, for the fault the first met (`status`: what
    the carrier says of it)."""
    b = Live(db)
    b.wall.now = at
    assert b.line.recover({sid: status}, left={sid: "ValueError"}) == {"not recovered": 1}
    return b


def test_a_consultation_on_a_call_not_rebuilt_ends_as_at_any_restart(tmp_path):
    """The consulted agent's phone leaves (they are ready again), and the caller comes off
    hold to their agent, who talks on (not ready until free)."""
    db, a, first = answered_and_en_day_2_ready(tmp_path)
    r = a.http.post("/api/agent/transfer", json={"agent": "en-day-2", "warm": True}, headers=first)
    assert r.status_code == 200, r.text
    a.line.flush()

    b = left_at_a_start(db, a.wall.now + 5, ANSWERED, LIVE_NOW)
    with b.running():
        b.control.until(lambda: len(b.control.legs) == 2)
        assert me(b, "en-day-2")["state"] == "available"
        assert (me(b, "en-day-1")["state"], me(b, "en-day-1")["reason"]) == (
            "not_ready", "after-restart",
        )  # fmt: skip
    assert [(call, label, action) for call, label, action, _, _ in b.control.legs] == [
        (ANSWERED, "agent:en-day-2", "drop"),
        (ANSWERED, "caller", "resume"),
    ]
    stages = [data["stage"] for kind, data in b.store.events(ANSWERED) if kind == "consult"]
    assert stages == ["started", "restart"]


def test_the_agent_of_an_answered_call_not_rebuilt_that_is_over_wraps_it_up(tmp_path):
    db, a, _first = answered_and_en_day_2_ready(tmp_path)
    a.line.flush()

    b = left_at_a_start(db, a.wall.now + 5, ANSWERED, "completed")
    assert b.line.agent_state("en-day-1")["state"] == "wrap_up"
    assert b.line.agent_state("en-day-2")["state"] == "available"
