"""An agent's leg that answers for a connect already over (its call ended as the agent was
dialled, a later connect replaced it, or the line gave it up and the caller waits again)
is hung up by its own id (EndLeg), and is no news of the call; the current connect's leg,
a leg with no id, and a leg of a connect later than the line knows (one a failed node did
not write) are the call's, and nothing hangs them up. Exact effects, no I/O."""

from __future__ import annotations

from typing import Any

from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import Switchboard
from hotline.switchboard.effects import Connect, EndLeg, Offer

from .test_board import CALLER, NUMBER, kinds
from .test_on_call import board

SID = "CA1"
LEG, LATER = "CA-leg-1", "CA-leg-2"


def accepted(agent_id: str = "a1") -> Switchboard:
    """CA1 queued in en; `agent_id` logged in ready and accepted it: its first connect."""
    b = board()
    b.handle(c.Login(agent_id, ready=True), 0.0)
    b.handle(c.Arrive(SID, CALLER, NUMBER), 1.0)
    b.handle(c.Route(SID, Enqueue("en", 0, "en", {"caller_type": "public"})), 2.0)
    out = b.handle(c.Accept(agent_id, SID), 8.0)
    assert Connect(SID, agent_id, 1) in out.effects
    return b


def ended(out: Any) -> list[EndLeg]:
    return [e for e in out.effects if isinstance(e, EndLeg)]


def test_the_current_connects_leg_is_the_call():
    b = accepted()
    out = b.handle(c.LegAnswered(SID, 1, LEG), 10.0)
    assert ended(out) == []
    assert kinds(out) == ["agent-leg-answered"]
    assert (b.call_legs(SID) or {})["connected"] is True


def test_a_leg_for_a_call_that_ended_as_its_agent_was_dialled_is_hung_up():
    b = accepted()
    b.handle(c.CarrierStatus(SID, "completed"), 9.0)  # the caller hung up
    out = b.handle(c.LegAnswered(SID, 1, LEG), 10.0)
    assert (list(out.effects), list(out.events)) == ([EndLeg(SID, LEG)], [])


def test_a_leg_of_a_connect_the_line_gave_up_is_hung_up_and_the_caller_waits_on():
    b = accepted()
    b.handle(c.CarrierRefused(SID, 1), 9.0)  # the agent's leg "failed": the caller waits
    out = b.handle(c.LegAnswered(SID, 1, LEG), 10.0)  # (the carrier had dialled it after all)
    assert (list(out.effects), list(out.events)) == ([EndLeg(SID, LEG)], [])
    assert (b.call_legs(SID) or {})["connected"] is False
    offered = b.handle(c.Login("a2", ready=True), 11.0)
    assert [e.call_sid for e in offered.effects if isinstance(e, Offer)] == [SID]


def test_a_leg_of_a_connect_a_later_one_replaced_is_hung_up_and_the_later_one_stands():
    b = accepted()
    b.handle(c.CarrierRefused(SID, 1), 9.0)
    b.handle(c.Login("a2", ready=True), 11.0)
    assert Connect(SID, "a2", 2) in b.handle(c.Accept("a2", SID), 12.0).effects
    assert kinds(b.handle(c.LegAnswered(SID, 2, LATER), 13.0)) == ["agent-leg-answered"]
    out = b.handle(c.LegAnswered(SID, 1, LEG), 14.0)
    assert (list(out.effects), list(out.events)) == ([EndLeg(SID, LEG)], [])
    assert (b.call_legs(SID) or {})["connected"] is True


def test_a_leg_of_a_later_connect_than_the_line_knows_is_the_calls():
    """(Its connect went with a node that failed before writing it: caller and agent talk.)"""
    b = accepted()
    out = b.handle(c.LegAnswered(SID, 2, LATER), 10.0)
    assert ended(out) == []
    assert kinds(out) == ["agent-leg-answered"]


def test_a_leg_with_no_id_or_the_callers_own_is_never_hung_up():
    for leg in ("", SID):
        b = accepted()
        b.handle(c.CarrierStatus(SID, "completed"), 9.0)
        assert list(b.handle(c.LegAnswered(SID, 1, leg), 10.0).effects) == []
