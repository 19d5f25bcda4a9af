"""A callback in the call's conference, the sequences that could leave a called-back
caller alone in it, or legs on it the board thinks are gone (found by a review).
Exact effects, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.domain.queue import Overflow
from hotline.errors import InvalidTransition
from hotline.switchboard import commands as c
from hotline.switchboard.board import AGENT_GONE_AFTER, Switchboard
from hotline.switchboard.events import CalledBack
from hotline.switchboard.line import LineConfig
from tests.unit.routing.harness import agent, queue

from .test_board import ANY_WAIT, NUMBER, kinds
from .test_callback_conference import SID, board, called_back, conference, waiting_for_callback


def test_an_agent_hanging_up_while_the_caller_is_dialled_back_leaves_no_one_waiting():
    """a1's phone answers, the caller is being dialled back, and a1 hangs up their phone
    before the caller picks up. The board ignores the agent's leg's end (`_agent_gone`
    returns on `not r.bridged`): the caller then picks up into an empty conference, is
    marked bridged to a1 (a `called-back` event) and hears silence, and a1 stays on_call
    on a call their phone has left."""
    out: Any
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    b.handle(c.LegAnswered(SID, 1), 7.0)  # the dial-back to the caller is ringing
    b.handle(c.AgentLegEnded(SID, 1), 8.0)  # a1 hangs up their phone
    b.handle(c.Tick(), 8.0 + AGENT_GONE_AFTER + 1)  # the caller did not hang up: a1 went
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 15.0)  # they pick up
    assert (b.agent_state("a1")["state"], b.agent_state("a1")["reason"]) == (
        "not_ready", "agent-hung-up")  # fmt: skip
    assert conference(out) == [("caller", "hold", 0)]  # they wait for the next agent
    # on the line, with no agent (not bridged to a1): what a restart reads to find them there
    assert [(e.kind, e.agent_id) for e in out.events if isinstance(e, CalledBack)] == [
        ("called-back", "")]  # fmt: skip
    b.handle(c.Login("a2", ready=True), 16.0)
    assert conference(b.handle(c.Accept("a2", SID), 17.0)) == [("agent:a2", "join", 2)]
    assert conference(b.handle(c.LegAnswered(SID, 2), 18.0)) == [("caller", "resume", 0)]


def test_a_transfer_to_a_queue_of_a_caller_called_back_drops_the_interpreter_and_supervisor():
    """A normal call transferred to a queue leaves its conference (Park), which ends it,
    so `_requeue` only says the interpreter and supervisors are off it. A caller called
    back stays in the conference on hold: the interpreter's and the supervisor's legs
    stay on it too (still dialled, the supervisor listening to the caller as they wait)
    while the board records them as gone."""
    out: Any
    b = board()
    called_back(b)
    b.handle(c.AddInterpreter("a1", True), 10.0)
    b.handle(c.Supervise(SID, "sam", "listen"), 11.0)
    out = b.handle(c.Transfer("a1", queue="records"), 20.0)
    assert ("interpreter", "drop", 0) in conference(out)
    assert ("supervisor:sam", "drop", 0) in conference(out)


def test_a_transfer_to_a_queue_of_a_caller_called_back_takes_the_agents_phone_off_the_call():
    """A normal call's caller leaves the conference for the hold loop (Park) and, ending
    it, takes the agent's phone off it. A caller called back stays in the conference on
    hold: nothing drops a1's leg, so a1 (in wrap-up, then on other calls) stays in the
    caller's conference and hears them talk to the next agent once they are resumed."""
    out: Any
    b = board()
    called_back(b)
    out = b.handle(c.Transfer("a1", queue="records"), 20.0)
    assert ("agent:a1", "drop", 0) in conference(out)


def test_a_transfer_to_a_queue_of_a_caller_called_back_does_not_count_a_second_callback():
    """`_requeue` enqueues the call with `callback=True`, and the router's `_place` emits
    `CallbackAccepted` again: the KPI (live statistics and the simulator's) counts a second
    caller who hung up to be called back, for a caller who is on the line."""
    b = board()
    called_back(b)
    out = b.handle(c.Transfer("a1", queue="records"), 20.0)
    assert [type(e).__name__ for e in out.events if type(e).__name__ == "CallbackAccepted"] == []


def test_a_caller_called_back_waiting_on_hold_is_not_left_there_when_the_queue_gives_up():
    """A called-back caller transferred to a queue whose last step ends in a fallback
    (voicemail) waits on hold in the conference. When the queue gives up (CallOverflowed
    to the fallback) the board forgets the call and counts on the hold loop to send the
    caller to record; a caller called back is not in the hold loop: nothing takes them off
    hold, and they are left alone in the conference, out of the ACD, for as long as they
    hold on."""
    out: Any
    line = LineConfig(
        name="test", number=NUMBER, timezone="Europe/London", flow=None,
        queues=(queue("en", ({"en": 1}, None), wrap_up=30.0),
                queue("rare", ({"quc": 3}, 60.0), overflow=Overflow(fallback="voicemail"))),
        agents={"a1": agent("a1", ("en",), en=3)},
        callbacks=ANY_WAIT,
    )  # fmt: skip
    b = Switchboard(line=line, start=0.0)
    called_back(b)
    b.handle(c.Transfer("a1", queue="rare"), 20.0)  # on hold in the conference
    out = b.handle(c.Tick(), 81.0)  # nobody speaks quc: the queue gives up at 80
    assert "CallOverflowed" in kinds(out)
    assert conference(out) == [("caller", "drop", 0)]  # not left on hold: hung up


def test_a_caller_not_picking_up_after_their_agent_left_is_dialled_by_the_next_agent():
    out: Any
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    b.handle(c.LegAnswered(SID, 1), 7.0)
    b.handle(c.AgentLegEnded(SID, 1), 8.0)  # a1 hangs up while the caller's phone rings
    b.handle(c.Tick(), 8.0 + AGENT_GONE_AFTER + 1)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True), 30.0)
    assert kinds(out) == ["callback-not-reached"]
    assert conference(out) == []  # (nobody is in the conference)
    b.handle(c.Login("a2", ready=True), 31.0)
    b.handle(c.Accept("a2", SID), 32.0)
    assert conference(b.handle(c.LegAnswered(SID, 2), 33.0)) == [("+442079460000", "dial-back", 0)]


def test_only_the_agent_whose_phone_answered_sees_the_caller_being_called_back():
    """`calling_back` (the desktop's "their phone is ringing", and its Hang up) holds while
    the caller's phone rings for the agent whose phone answered: not once the caller
    picked up to wait for the next agent, nor while that agent's own phone rings."""
    b = board()
    waiting_for_callback(b)
    b.handle(c.Login("a1", ready=True), 5.0)
    b.handle(c.Accept("a1", SID), 6.0)
    assert b.call_legs(SID)["calling_back"] is False  # type: ignore[index]
    b.handle(c.LegAnswered(SID, 1), 7.0)
    assert b.call_legs(SID)["calling_back"] is True  # type: ignore[index]
    b.handle(c.AgentLegEnded(SID, 1), 8.0)  # a1 hangs up their phone
    b.handle(c.Tick(), 8.0 + AGENT_GONE_AFTER + 1)
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), 15.0)  # they pick up
    assert b.call_legs(SID)["calling_back"] is False  # type: ignore[index]
    b.handle(c.Login("a2", ready=True), 16.0)
    b.handle(c.Accept("a2", SID), 17.0)  # a2's phone rings
    assert b.call_legs(SID)["calling_back"] is False  # type: ignore[index]
    with pytest.raises(InvalidTransition, match="not connected to agent a2 yet"):
        b.handle(c.HangUp("a2"), 17.5)
