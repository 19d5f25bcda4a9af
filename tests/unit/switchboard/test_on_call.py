"""On a call: hold, transfers (to a queue, to an agent cold, and warm after consulting),
the interpreter's leg and a supervisor's listen, whisper and barge, as the switchboard's
exact events and conference effects (no I/O: time is what each command brings)."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.domain.events import CallAbandoned
from hotline.errors import InvalidTransition, UnknownAgent, UnknownCall
from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import AGENT_GONE_AFTER, Outcome, Switchboard
from hotline.switchboard.effects import Connect, Leg, Offer, Park
from hotline.switchboard.events import (
    CallHeld,
    Consulted,
    InterpreterLeg,
    Supervised,
    Transferred,
    WrappedUp,
)
from hotline.switchboard.line import CallbackRule, LineConfig
from tests.unit.routing.harness import agent, queue

from .test_board import CALLER, NUMBER, kinds


def board(callbacks: CallbackRule | None = None) -> Switchboard:
    """Queues en and records; a1 and a2 answer en, a3 answers records only (`callbacks`:
    the line's rule, else the default)."""
    line = LineConfig(
        name="test", number=NUMBER, timezone="Europe/London", flow=None,
        queues=(queue("en", ({"en": 1}, None), wrap_up=30.0),
                queue("records", ({"en": 1}, None), wrap_up=30.0)),
        agents={a.id: a for a in (agent("a1", ("en",), en=3), agent("a2", ("en",), en=3),
                                  agent("a3", ("records",), en=3))},
        dispositions=("resolved", "transferred"), callbacks=callbacks or CallbackRule(),
    )  # fmt: skip
    return Switchboard(line=line, start=0.0)


def on_call(b: Switchboard, *ready: str) -> None:
    """a1 answers CA1 (its leg answered at 10 s); then `ready` log in available."""
    b.handle(c.Login("a1", ready=True), 0.0)
    b.handle(c.Arrive("CA1", CALLER, NUMBER), 1.0)
    b.handle(c.Route("CA1", Enqueue("en", 0, "es", {"caller_type": "public"})), 2.0)
    b.handle(c.Accept("a1", "CA1"), 8.0)
    b.handle(c.LegAnswered("CA1", 1), 10.0)
    for agent_id in ready:
        b.handle(c.Login(agent_id, ready=True), 11.0)


def legs(out: Any) -> list[tuple[str, str, str, str, str]]:
    return [(e.label, e.action, e.mode, e.coach, str(e.attempt)) for e in out.effects
            if isinstance(e, Leg)]  # fmt: skip


def test_hold_and_resume_are_events_of_the_call_and_the_callers_leg():
    out: Outcome[Any]
    b = board()
    on_call(b)
    out = b.handle(c.HoldCall("a1", True), 20.0)
    assert out.events == [CallHeld(20.0, "CA1", "a1", True)]
    assert legs(out) == [("caller", "hold", "talk", "", "0")]
    assert b.call_legs("CA1") == {"connected": True, "held": True, "consult": None,
                                  "interpreter": False, "supervisors": {},
                                  "calling_back": False}  # fmt: skip
    with pytest.raises(InvalidTransition, match="already on hold"):
        b.handle(c.HoldCall("a1", True), 21.0)
    out = b.handle(c.HoldCall("a1", False), 30.0)
    assert legs(out) == [("caller", "resume", "talk", "", "0")]


def test_a_hold_before_the_agents_leg_answered_or_after_the_caller_left_is_refused():
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    b.handle(c.Arrive("CA1", CALLER, NUMBER), 1.0)
    b.handle(c.Route("CA1", Enqueue("en", 0, "en", {})), 2.0)
    b.handle(c.Accept("a1", "CA1"), 8.0)
    with pytest.raises(InvalidTransition, match="not connected to agent a1 yet"):
        b.handle(c.HoldCall("a1", True), 9.0)
    b.handle(c.LegAnswered("CA1", 1), 10.0)
    b.handle(c.CarrierStatus("CA1", "completed"), 11.0)  # the caller just left
    with pytest.raises(InvalidTransition, match="not on a call"):
        b.handle(c.HoldCall("a1", True), 12.0)


def test_a_transfer_to_a_queue_keeps_the_callers_place_and_parks_them_in_the_hold_loop():
    out: Outcome[Any]
    b = board()
    on_call(b)
    out = b.handle(c.Transfer("a1", queue="records"), 40.0)
    assert out.events[0] == Transferred(40.0, "CA1", "a1", "records", "", False)
    assert kinds(out)[1:] == ["CallCompleted", "CallRequeued"]
    assert out.effects[-1] == Park("CA1", 1)
    assert out.result["state"] == "wrap_up"
    (waiting,) = b.waiting()
    assert waiting == ("records", "es", 2.0)  # first queued at 2 s: its place is kept
    out = b.handle(c.Login("a3", ready=True), 41.0)  # a3 answers records: offered at once
    assert next(e for e in out.effects if isinstance(e, Offer)).agent_id == "a3"
    out = b.handle(c.Accept("a3", "CA1"), 42.0)
    assert out.effects[-1] == Connect("CA1", "a3", 2)  # the next connect of the call
    out = b.handle(c.WrapUp("a1", "transferred"), 43.0)  # a1 closes their part
    assert out.events[0] == WrappedUp(43.0, "CA1", "a1", "transferred", "")


def test_a_cold_transfer_to_an_agent_dials_them_in_and_drops_the_first_agent():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    out = b.handle(c.Transfer("a1", to_agent="a2"), 40.0)
    assert out.events[0] == Transferred(40.0, "CA1", "a1", "", "a2", False)
    assert legs(out) == [
        ("agent:a2", "join", "talk", "", "2"),
        ("agent:a1", "drop", "talk", "", "0"),
    ]
    assert b.agent_state("a2")["call_sid"] == "CA1"
    assert (out.result["state"], out.result["call_sid"]) == ("wrap_up", None)
    out = b.handle(c.DialDone("CA1", "no-answer", 2, in_conference=True), 45.0)
    assert out.result is True  # a2's phone did not answer: the caller waits again
    assert out.effects[-1] == Park("CA1", 2)
    assert b.agent_state("a2") == {"agent_id": "a2", "state": "not_ready",
                                   "reason": "agent-no-answer", "call_sid": None}  # fmt: skip


def test_a_transfer_to_an_agent_who_is_not_available_is_refused_and_changes_nothing():
    b = board()
    on_call(b, "a2")
    b.handle(c.SetReady("a2", False, "lunch"), 20.0)  # went not ready just before
    with pytest.raises(InvalidTransition, match="a2 is not ready: a call passes only"):
        b.handle(c.Transfer("a1", to_agent="a2"), 21.0)
    with pytest.raises(UnknownAgent):
        b.handle(c.Transfer("a1", to_agent="zz"), 21.0)
    with pytest.raises(InvalidTransition, match="one queue or to one agent"):
        b.handle(c.Transfer("a1", queue="records", to_agent="a2"), 21.0)
    assert b.agent_state("a1")["call_sid"] == "CA1"


def test_a_warm_transfer_consults_with_the_caller_on_hold_then_hands_the_call_over():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    out = b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    assert out.events[-1] == Consulted(40.0, "CA1", "a1", "a2", "started")
    assert legs(out) == [("caller", "hold", "talk", "", "0"), ("agent:a2", "join", "talk", "", "0")]
    assert b.agent_state("a2")["reason"] == "consult"  # offered nothing meanwhile
    with pytest.raises(InvalidTransition, match="waits on hold while a2 is consulted"):
        b.handle(c.HoldCall("a1", False), 41.0)
    with pytest.raises(InvalidTransition, match="a2 has not answered yet"):
        b.handle(c.FinishTransfer("a1", complete=True), 42.0)
    b.handle(c.LegStatus("CA1", "agent:a2", "in-progress"), 43.0)  # a2's phone answered
    out = b.handle(c.FinishTransfer("a1", complete=True), 60.0)
    assert out.events[-1] == Transferred(60.0, "CA1", "a1", "", "a2", True)
    assert legs(out) == [
        ("agent:a1", "drop", "talk", "", "0"),
        ("caller", "resume", "talk", "", "0"),
    ]
    assert (b.agent_state("a2")["state"], b.agent_state("a2")["call_sid"]) == ("on_call", "CA1")
    b.handle(c.WrapUp("a1", "transferred"), 70.0)
    out = b.handle(c.CarrierStatus("CA1", "completed"), 100.0)  # a2 talked to them
    assert "CallCompleted" in kinds(out)
    assert b.agent_state("a2")["state"] == "wrap_up"
    b.handle(c.WrapUp("a2", "resolved"), 102.0)
    b.handle(c.Tick(), 140.0)  # (the wrap-ups' time limits, closed already, fall due)
    assert b.held() == {}


def test_a_cancelled_or_unanswered_consultation_gives_the_caller_back_to_their_agent():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    out = b.handle(c.FinishTransfer("a1", complete=False), 50.0)
    assert out.events[0] == Consulted(50.0, "CA1", "a1", "a2", "cancelled")
    assert legs(out) == [
        ("agent:a2", "drop", "talk", "", "0"),
        ("caller", "resume", "talk", "", "0"),
    ]
    assert b.agent_state("a2")["state"] == "available"
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 60.0)
    out = b.handle(c.LegStatus("CA1", "agent:a2", "no-answer"), 80.0)
    assert out.events[0] == Consulted(80.0, "CA1", "a1", "a2", "not-reached:no-answer")
    assert legs(out) == [
        ("agent:a2", "drop", "talk", "", "0"),
        ("caller", "resume", "talk", "", "0"),
    ]
    assert b.agent_state("a2")["reason"] == "agent-no-answer"
    assert b.agent_state("a1")["call_sid"] == "CA1"


def test_a_caller_who_hangs_up_during_a_consultation_frees_the_consulted_agent():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    out = b.handle(c.CarrierStatus("CA1", "completed"), 45.0)
    assert Consulted(45.0, "CA1", "a1", "a2", "caller-hung-up") in out.events
    assert b.agent_state("a2")["state"] == "available"
    with pytest.raises(InvalidTransition, match="not on a call"):
        b.handle(c.FinishTransfer("a1", complete=True), 46.0)


def test_an_interpreter_joins_and_leaves_for_the_callers_language():
    out: Outcome[Any]
    b = board()
    on_call(b)
    out = b.handle(c.AddInterpreter("a1", True), 20.0)
    assert out.events == [InterpreterLeg(20.0, "CA1", "a1", "es", "added")]
    assert legs(out) == [("interpreter", "join", "talk", "", "0")]
    out = b.handle(c.LegStatus("CA1", "interpreter", "busy"), 25.0)
    assert out.events == [InterpreterLeg(25.0, "CA1", "a1", "es", "not-reached:busy")]
    b.handle(c.AddInterpreter("a1", True), 30.0)
    out = b.handle(c.AddInterpreter("a1", False), 90.0)
    assert legs(out) == [("interpreter", "drop", "talk", "", "0")]


def test_a_supervisor_listens_whispers_to_the_agent_then_barges_in_and_leaves():
    out: Outcome[Any]
    b = board()
    on_call(b)
    out = b.handle(c.Supervise("CA1", "sue", "listen"), 20.0)
    assert out.events == [Supervised(20.0, "CA1", "a1", "sue", "listen")]
    assert legs(out) == [("supervisor:sue", "join", "listen", "", "0")]
    out = b.handle(c.Supervise("CA1", "sue", "whisper"), 21.0)
    assert legs(out) == [("supervisor:sue", "mode", "whisper", "agent:a1", "0")]
    out = b.handle(c.Supervise("CA1", "sue", "barge"), 22.0)
    assert legs(out) == [("supervisor:sue", "mode", "talk", "", "0")]
    out = b.handle(c.Supervise("CA1", "sue", "leave"), 23.0)
    assert out.events == [Supervised(23.0, "CA1", "a1", "sue", "left")]
    assert b.call_legs("CA1") == {"connected": True, "held": False, "consult": None,
                                  "interpreter": False, "supervisors": {},
                                  "calling_back": False}  # fmt: skip


def test_a_whisper_follows_the_call_to_the_agent_it_is_transferred_to():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Supervise("CA1", "sue", "whisper"), 20.0)
    out = b.handle(c.Transfer("a1", to_agent="a2"), 30.0)
    assert ("supervisor:sue", "mode", "whisper", "agent:a2", "0") in legs(out)


def test_a_supervisor_action_on_a_call_that_just_ended_is_refused():
    b = board()
    on_call(b)
    b.handle(c.CarrierStatus("CA1", "completed"), 30.0)
    with pytest.raises(UnknownCall):
        b.handle(c.Supervise("CA1", "sue", "listen"), 31.0)
    with pytest.raises(InvalidTransition, match="not listen, whisper"):
        b.handle(c.Supervise("CA1", "sue", "shout"), 31.0)


def test_a_consulted_agent_who_leaves_the_consultation_ends_it():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    out = b.handle(c.SetReady("a2", True), 45.0)  # a2 goes available meanwhile
    assert Consulted(45.0, "CA1", "a1", "a2", "left") in out.events
    assert ("agent:a2", "drop", "talk", "", "0") in legs(out)  # (their phone leaves the call)
    assert (b.call_legs("CA1") or {}).get("consult") is None
    with pytest.raises(InvalidTransition, match="not consulting anyone"):
        b.handle(c.FinishTransfer("a1", complete=True), 46.0)
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 50.0)
    out = b.handle(c.Logout("a2"), 55.0)  # or logs out
    assert Consulted(55.0, "CA1", "a1", "a2", "left") in out.events


def gone(b: Switchboard, leg: c.AgentLegEnded | c.LegStatus, at: float) -> Any:
    """An agent's leg ends at `at`; what the line does once the caller has not hung up
    within AGENT_GONE_AFTER (the carrier reports both ends when the caller leaves)."""
    assert legs(b.handle(leg, at)) == []
    return b.handle(c.Tick(), at + AGENT_GONE_AFTER)


def test_an_agent_who_hangs_up_ends_the_call_and_an_earlier_agents_leg_does_not():
    b = board()
    on_call(b, "a2")
    assert legs(gone(b, c.AgentLegEnded("CA1", 1), 30.0)) == [("caller", "hangup", "talk", "", "0")]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2"), 30.0)  # cold: a2's connect is the second
    assert legs(gone(b, c.AgentLegEnded("CA1", 1), 31.0)) == []  # a1's dropped leg
    b.handle(c.LegAnswered("CA1", 2), 35.0)
    assert legs(gone(b, c.AgentLegEnded("CA1", 2), 60.0)) == [("caller", "hangup", "talk", "", "0")]


def test_a_caller_who_hangs_up_is_not_taken_for_an_agent_hanging_up():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    b.handle(c.LegStatus("CA1", "agent:a2", "in-progress"), 41.0)
    b.handle(c.AgentLegEnded("CA1", 1), 50.0)  # the caller left: the room ends, a1's leg first
    out = b.handle(c.CarrierStatus("CA1", "completed"), 50.5)  # then the caller's own end
    assert Consulted(50.5, "CA1", "a1", "a2", "caller-hung-up") in out.events
    out = b.handle(c.Tick(), 60.0)
    assert "transferred" not in kinds(out)  # a2 never got a call the caller had left
    assert b.agent_state("a2")["state"] == "available"


def test_an_agent_who_hangs_up_while_consulting_hands_the_call_over_or_requeues_it():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    b.handle(c.LegStatus("CA1", "agent:a2", "in-progress"), 41.0)
    out = gone(b, c.AgentLegEnded("CA1", 1), 50.0)  # a1 hangs up: a2 has the caller
    assert out.events[-1] == Transferred(53.0, "CA1", "a1", "", "a2", True)
    assert b.agent_state("a2")["call_sid"] == "CA1"
    out = gone(b, c.LegStatus("CA1", "agent:a2", "completed"), 90.0)  # then a2 hangs up
    assert legs(out) == [("caller", "hangup", "talk", "", "0")]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    out = gone(b, c.AgentLegEnded("CA1", 1), 50.0)  # before a2 answered: back in the queue
    assert Consulted(53.0, "CA1", "a1", "a2", "cancelled") in out.events
    assert out.effects[-1] == Park("CA1", 1)
    # a2, ready again, is offered the caller at once
    assert (b.agent_state("a2")["state"], b.agent_state("a2")["call_sid"]) == ("reserved", "CA1")


def test_a_wrap_up_past_its_time_limit_applies_the_state_chosen_before():
    out: Outcome[Any]
    b = board()
    on_call(b)
    b.handle(c.CarrierStatus("CA1", "completed"), 40.0)  # wrap-up until 70 s
    b.handle(c.AfterWrapUp("a1", False, "lunch"), 50.0)  # chosen, the form not sent
    out = b.handle(c.Tick(), 70.0)
    assert WrappedUp(70.0, "CA1", "a1", "timeout", "") in out.events
    assert (b.agent_state("a1")["state"], b.agent_state("a1")["reason"]) == ("not_ready", "lunch")
    with pytest.raises(InvalidTransition, match="not wrapping up"):
        b.handle(c.AfterWrapUp("a1", True), 71.0)


def test_a_caller_who_hangs_up_while_the_transferred_to_agent_rings_has_talked():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    b.handle(c.Transfer("a1", to_agent="a2"), 40.0)
    out = b.handle(c.CarrierStatus("CA1", "completed"), 45.0)
    assert "CallCompleted" in kinds(out)
    assert "CallAbandoned" not in kinds(out)


@pytest.mark.parametrize("how", ["status", "connect-refused"])
def test_a_caller_back_in_a_queue_who_hangs_up_as_the_next_agent_rings_abandoned_it(how):
    """Transferred to a queue, the caller hangs up while the next agent's phone rings
    (told by their call's status, or by the carrier refusing the connect: the call is
    gone): as a hang-up while they waited there, it is that queue's abandonment, and the
    agent, who never talked to them, is free at once (not sent to wrap up)."""
    out: Outcome[Any]
    b = board()
    on_call(b)
    b.handle(c.Transfer("a1", queue="records"), 40.0)
    b.handle(c.Login("a3", ready=True), 41.0)
    b.handle(c.Accept("a3", "CA1"), 42.0)
    if how == "status":
        out = b.handle(c.CarrierStatus("CA1", "completed"), 45.0)
    else:
        out = b.handle(c.CarrierRefused("CA1", 2, gone=True), 45.0)
    assert "CallCompleted" not in kinds(out)  # (a1's part completed at the transfer)
    (abandoned,) = [e for e in out.events if isinstance(e, CallAbandoned)]
    assert (abandoned.queue, abandoned.waited) == ("records", 43.0)  # since it first queued
    assert b.agent_state("a3") == {"agent_id": "a3", "state": "available", "reason": None,
                                   "call_sid": None}  # fmt: skip


def test_a_transfer_to_a_queue_takes_the_supervisors_and_the_interpreter_off_the_call():
    out: Outcome[Any]
    b = board()
    on_call(b)
    b.handle(c.Supervise("CA1", "sue", "listen"), 20.0)
    b.handle(c.AddInterpreter("a1", True), 21.0)
    out = b.handle(c.Transfer("a1", queue="records"), 30.0)
    assert Supervised(30.0, "CA1", "a1", "sue", "left") in out.events
    assert InterpreterLeg(30.0, "CA1", "a1", "es", "removed") in out.events
    assert b.call_legs("CA1") == {"connected": False, "held": False, "consult": None,
                                  "interpreter": False, "supervisors": {},
                                  "calling_back": False}  # fmt: skip


def test_an_agent_who_ends_the_call_from_the_desktop_hangs_the_caller_up():
    out: Outcome[Any]
    b = board()
    on_call(b, "a2")
    with pytest.raises(InvalidTransition, match="not on a call"):
        b.handle(c.HangUp("a2"), 20.0)
    b.handle(c.Transfer("a1", to_agent="a2", warm=True), 40.0)
    with pytest.raises(InvalidTransition, match="a2 is being consulted about call CA1"):
        b.handle(c.HangUp("a1"), 41.0)
    b.handle(c.FinishTransfer("a1", complete=False), 42.0)
    out = b.handle(c.HangUp("a1"), 50.0)
    assert legs(out) == [("caller", "hangup", "talk", "", "0")]
    assert b.agent_state("a1")["state"] == "on_call"  # until the carrier says the call ended
    out = b.handle(c.CarrierStatus("CA1", "completed"), 50.5)
    assert "CallCompleted" in kinds(out)
    assert b.agent_state("a1")["state"] == "wrap_up"
