"""A callback in the call's conference: the agent's phone is dialled in first, the caller
is called back into it once it answers, and from their answer on the call is like any
other (hold, transfers, hang-up), except that the caller's own call is the carrier's
dial-back: hung up by dropping their leg, and waiting on hold in the conference (not in
the hold loop) when their agent's phone does not take them. Exact effects, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.errors import InvalidTransition
from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import AGENT_GONE_AFTER, Outcome, Switchboard
from hotline.switchboard.effects import Connect, DialBack, EndLeg, Leg, Park
from hotline.switchboard.events import stored

from .test_board import ANY_WAIT, CALLER, NUMBER, kinds
from .test_on_call import board as on_call_board

SID = "CA1"


def board() -> Switchboard:
    """test_on_call's line (queues en and records; a1, a2 answer en, a3 records), with
    callbacks offered at once."""
    return on_call_board(ANY_WAIT)


def conference(out: Any) -> list[tuple[str, str, int]]:
    """The conference operations and dial-backs an outcome asks for (Park: "park")."""
    ops: list[tuple[str, str, int]] = []
    for e in out.effects:
        if isinstance(e, Leg):
            ops.append((e.label, e.action, e.attempt))
        elif isinstance(e, DialBack):
            ops.append((e.number, "dial-back", 0))
        elif isinstance(e, Park | Connect):
            ops.append(("caller", type(e).__name__.lower(), e.attempt))
    return ops


def ringing_back(b: Switchboard) -> int:
    """a1 accepts CA1 and a1's phone answers: the caller is dialled back (their phone
    rings). Returns that dial-back's number."""
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    (d,) = [e for e in b.handle(c.LegAnswered(SID, 1), 7.0).effects if isinstance(e, DialBack)]
    return d.dial


def waiting_for_callback(b: Switchboard) -> None:
    """CA1 queues in en, takes a callback and hangs up: it keeps its place off the line."""
    b.handle(c.Arrive(SID, CALLER, NUMBER), 1.0)
    b.handle(c.Route(SID, Enqueue("en", 0, "en", {"caller_type": "public"})), 2.0)
    b.handle(c.TakeCallback(SID), 3.0)
    b.handle(c.CarrierStatus(SID, "completed"), 4.0)


def called_back(b: Switchboard, *ready: str) -> None:
    """a1 accepts CA1, a1's phone answers, the caller picks up the dial-back; then `ready`
    log in available."""
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    b.handle(c.LegAnswered(SID, 1), 7.0)
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 9.0)
    for agent_id in ready:
        b.handle(c.Login(agent_id, ready=True), 10.0)


def test_the_agents_phone_is_dialled_in_first_and_the_caller_once_it_answers():
    out: Outcome[Any]
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    out = b.handle(c.Accept("a1", SID), 6.0)
    assert conference(out) == [("agent:a1", "join", 1)]  # no Connect: the caller is off the line
    assert "connecting" in kinds(out)
    out = b.handle(c.LegAnswered(SID, 1), 7.0)
    assert out.effects == [DialBack(SID, CALLER, NUMBER, 7000)]  # from the line's number
    with pytest.raises(InvalidTransition, match="not connected to agent a1 yet"):
        b.handle(c.HoldCall("a1", True), 8.0)  # the caller's phone is still ringing
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 9.0)  # they pick up
    out = b.handle(c.HoldCall("a1", True), 10.0)
    assert conference(out) == [("caller", "hold", 0)]
    assert b.call_legs(SID)["held"] is True  # type: ignore[index]


def test_a_caller_called_back_is_hung_up_by_dropping_their_leg():
    out: Outcome[Any]
    b = board()
    called_back(b)
    out = b.handle(c.HangUp("a1"), 20.0)
    assert conference(out) == [("caller", "drop", 0)]  # (their call is the carrier's)
    b.handle(c.CarrierStatus(SID, "completed", dial_back=True), 21.0)
    assert b.agent_state("a1")["state"] == "wrap_up"


def test_a_caller_not_picking_up_frees_the_agents_phone_and_keeps_their_place():
    out: Outcome[Any]
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    b.handle(c.LegAnswered(SID, 1), 7.0)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True), 30.0)
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]  # alone in the conference
    assert b.agent_state("a1")["state"] == "wrap_up"
    b.handle(c.Login("a2", ready=True), 31.0)
    out = b.handle(c.Accept("a2", SID), 32.0)  # offered again: a2's phone first, again
    assert conference(out) == [("agent:a2", "join", 2)]
    assert b.handle(c.LegAnswered(SID, 2), 33.0).effects == [DialBack(SID, CALLER, NUMBER, 33000)]


def test_an_agents_phone_not_answering_before_the_dial_back_leaves_the_caller_off_the_line():
    out: Outcome[Any]
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    out = b.handle(c.DialDone(SID, "no-answer", 1, in_conference=True), 26.0)
    assert conference(out) == []  # nobody to park, nobody dialled back
    assert b.agent_state("a1")["state"] == "not_ready"
    b.handle(c.Login("a2", ready=True), 27.0)
    assert conference(b.handle(c.Accept("a2", SID), 28.0)) == [("agent:a2", "join", 2)]
    assert b.handle(c.LegAnswered(SID, 2), 29.0).effects == [DialBack(SID, CALLER, NUMBER, 29000)]


def test_a_cold_transfer_whose_agent_does_not_answer_holds_the_caller_for_the_next():
    out: Outcome[Any]
    b = board()
    called_back(b, "a2")
    out = b.handle(c.Transfer("a1", to_agent="a2"), 20.0)
    assert conference(out) == [("agent:a2", "join", 2), ("agent:a1", "drop", 0)]
    out = b.handle(c.DialDone(SID, "no-answer", 2, in_conference=True), 40.0)
    assert conference(out) == [("caller", "hold", 0)]  # on the line: on hold, not parked
    b.handle(c.Tick(), 60.0)  # a1 is out of wrap-up (30 s): offered the call
    assert b.agent_state("a1")["call_sid"] == SID
    out = b.handle(c.Accept("a1", SID), 61.0)
    assert conference(out) == [("agent:a1", "join", 3)]
    out = b.handle(c.LegAnswered(SID, 3), 62.0)
    assert conference(out) == [("caller", "resume", 0)]  # not called a second time
    assert b.handle(c.HoldCall("a1", True), 63.0).effects  # bridged again at once


def test_a_transfer_to_a_queue_keeps_a_caller_called_back_on_hold_in_the_conference():
    out: Outcome[Any]
    b = board()
    called_back(b, "a2")
    out = b.handle(c.Transfer("a1", queue="records"), 20.0)
    # no Park (no hold loop for them): they wait on hold, and a1's phone leaves the call
    assert conference(out) == [("agent:a1", "drop", 0), ("caller", "hold", 0)]
    b.handle(c.Login("a3", ready=True), 21.0)
    out = b.handle(c.Accept("a3", SID), 22.0)
    assert conference(out) == [("agent:a3", "join", 2)]
    assert conference(b.handle(c.LegAnswered(SID, 2), 23.0)) == [("caller", "resume", 0)]
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True), 80.0)
    assert b.agent_state("a3")["state"] == "wrap_up"


def test_a_caller_called_back_hanging_up_while_on_hold_for_an_agent_abandons():
    out: Outcome[Any]
    b = board()
    called_back(b)
    b.handle(c.Transfer("a1", queue="records"), 20.0)
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True), 30.0)
    assert [type(e).__name__ for e in out.events if type(e).__name__ == "CallAbandoned"] == [
        "CallAbandoned"
    ]


def dialled_back_for_an_agent_who_left(b: Switchboard) -> None:
    """a1's phone answered CA1 and the caller's phone rings with the dial-back; a1 hangs
    up before the caller picks up (the call waits for the next agent, who is a2: their
    phone is dialled in)."""
    from hotline.switchboard.board import AGENT_GONE_AFTER

    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    b.handle(c.LegAnswered(SID, 1), 7.0)  # (the dial-back goes out)
    b.handle(c.AgentLegEnded(SID, 1), 8.0)
    b.handle(c.Tick(), 9.0 + AGENT_GONE_AFTER)
    b.handle(c.Login("a2", ready=True), 30.0)
    assert conference(b.handle(c.Accept("a2", SID), 31.0)) == [("agent:a2", "join", 2)]


def test_the_next_agents_phone_answering_first_waits_for_the_callers_answer():
    """The caller is not dialled a second time, nor taken as there: a2 waits in the
    conference until the caller picks up, whose answer bridges them (before, a2 was shown
    connected to a conference with nobody in it, and the caller's answer was not said)."""
    b = board()
    dialled_back_for_an_agent_who_left(b)
    assert conference(b.handle(c.LegAnswered(SID, 2), 32.0)) == []
    assert b.call_legs(SID)["connected"] is False  # type: ignore[index]
    with pytest.raises(InvalidTransition, match="not connected to agent a2 yet"):
        b.handle(c.HoldCall("a2", True), 33.0)
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 34.0)
    assert "called-back" in kinds(out)
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_the_next_agents_phone_not_answering_leaves_a_caller_still_ringing_off_hold():
    """The caller is not in the conference yet: nobody is put on hold (before, the carrier
    was asked to hold a participant not there, and the hold stayed on the caller's record
    after they answered)."""
    b = board()
    dialled_back_for_an_agent_who_left(b)
    assert conference(b.handle(c.DialDone(SID, "no-answer", 2, in_conference=True), 45.0)) == []
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 50.0)  # they pick up
    assert conference(out) == [("caller", "hold", 0)]  # (on hold for the next agent)


def dialled_back_for_a1(b: Switchboard) -> DialBack:
    """a1 accepts the callback and their phone answers (at 7 s): the caller's dial-back."""
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    (dial_back,) = b.handle(c.LegAnswered(SID, 1), 7.0).effects
    assert isinstance(dial_back, DialBack)
    return dial_back


def test_a_dial_back_refused_that_went_out_after_all_is_not_missed_twice():
    """The carrier's answer to the dial-back request timed out (a try not reached), but the
    call went out, and its no-answer comes as the next agent's phone rings: not a second
    try, and a2 is not dropped."""
    out: Outcome[Any]
    b = board()
    dial_back = dialled_back_for_a1(b)
    out = b.handle(c.CarrierRefused(SID, None, dial=dial_back.dial), 17.0)
    assert "callback-not-reached" in kinds(out)
    b.handle(c.Login("a2", ready=True), 18.0)
    assert conference(b.handle(c.Accept("a2", SID), 19.0)) == [("agent:a2", "join", 2)]
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, dial=dial_back.dial), 25.0)
    assert (kinds(out), conference(out)) == ([], [])
    assert b.handle(c.LegAnswered(SID, 2), 26.0).effects == [DialBack(SID, CALLER, NUMBER, 26000)]


def test_a_dial_back_missed_after_its_agent_left_is_not_missed_twice():
    """a1 hangs up their phone as the caller's phone rings; the dial-back's miss is heard
    twice (its request timed out, then its own word): one try, and a2, whose phone rings
    for the call by then, is not dropped."""
    out: Outcome[Any]
    b = board()
    dial_back = dialled_back_for_a1(b)
    b.handle(c.AgentLegEnded(SID, 1), 8.0)
    b.handle(c.Tick(), 9.0 + AGENT_GONE_AFTER)  # (the caller did not hang up: a1 went)
    out = b.handle(c.CarrierRefused(SID, None, dial=dial_back.dial), 15.0)
    assert [stored(e) for e in out.events if stored(e)[0] == "callback-not-reached"] == [
        ("callback-not-reached", SID, {"status": "failed", "tries": 1})]  # fmt: skip
    b.handle(c.Login("a2", ready=True), 16.0)
    assert conference(b.handle(c.Accept("a2", SID), 17.0)) == [("agent:a2", "join", 2)]
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, dial=dial_back.dial), 20.0)
    assert (kinds(out), conference(out)) == ([], [])
    assert b.handle(c.LegAnswered(SID, 2), 21.0).effects == [DialBack(SID, CALLER, NUMBER, 21000)]


def test_an_agent_hanging_up_while_the_dial_back_rings_ends_that_call_the_caller_kept_in_place():
    """a1's phone answered and the caller's phone rings: a1's hang-up has the carrier cancel
    the dial-back's call (by its own sid, once the carrier placed it); its end, `canceled`,
    is a dial-back not answered: a1 wraps up, the caller keeps their place for another
    try, and the next agent dials them afresh."""
    out: Outcome[Any]
    b = board()
    dial = ringing_back(b)
    with pytest.raises(InvalidTransition, match="has not placed that call yet"):
        b.handle(c.HangUp("a1"), 7.5)  # (the carrier has not said which call it is)
    b.handle(c.CarrierDialledBack(SID, "CA-back-1", dial), 8.0)
    out = b.handle(c.HangUp("a1"), 9.0)
    assert out.effects == [EndLeg(SID, "CA-back-1", ringing=True)]  # (no caller leg to drop)
    assert b.agent_state("a1")["state"] == "on_call"  # (until the carrier's word)
    out = b.handle(c.CarrierStatus(SID, "canceled", dial_back=True, dial=dial), 10.0)
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]
    assert b.agent_state("a1")["state"] == "wrap_up"
    b.handle(c.Login("a2", ready=True), 11.0)
    assert conference(b.handle(c.Accept("a2", SID), 12.0)) == [("agent:a2", "join", 2)]
    assert b.handle(c.LegAnswered(SID, 2), 13.0).effects == [DialBack(SID, CALLER, NUMBER, 13000)]
    with pytest.raises(InvalidTransition, match="has not placed that call yet"):
        b.handle(c.HangUp("a2"), 13.5)  # (a1's dial-back's call is not this one's)


def test_a_caller_answering_their_dial_back_as_the_agent_hangs_up_talks_to_the_agent():
    """The caller picks up as a1 hangs up: the cancel leaves a call answered as it is, so
    they talk to a1, who hangs up as on any call (their leg dropped) if they mean to."""
    out: Outcome[Any]
    b = board()
    dial = ringing_back(b)
    b.handle(c.CarrierDialledBack(SID, "CA-back-1", dial), 8.0)
    assert b.handle(c.HangUp("a1"), 9.0).effects == [EndLeg(SID, "CA-back-1", ringing=True)]
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, dial=dial), 9.1)
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]
    out = b.handle(c.HangUp("a1"), 20.0)
    assert conference(out) == [("caller", "drop", 0)]
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True, dial=dial), 21.0)
    assert kinds(out) == ["CallCompleted"]  # (no dial-back missed)
    assert b.agent_state("a1")["state"] == "wrap_up"
