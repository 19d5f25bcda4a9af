"""The switchboard on its own: commands in, exact events and effects out (no I/O, no
sleeps; time is what each command brings)."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.errors import UnknownAgent
from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import Outcome, Switchboard
from hotline.switchboard.effects import ChangeCall, Connect, Offer, OpenCall, Withdraw
from hotline.switchboard.events import stored
from hotline.switchboard.line import CallbackRule, LineConfig
from tests.unit.routing.harness import agent, queue

NUMBER = "+441234567890"
CALLER = "+442079460000"  # a number we could call back


ANY_WAIT = CallbackRule(offer_after=0.0, offer_if_wait=0.0)


def board(callbacks: CallbackRule = ANY_WAIT, *, store_rows: bool = True) -> Switchboard:
    line = LineConfig(
        name="test", number=NUMBER, timezone="Europe/London", flow=None,
        queues=(queue("en", ({"en": 1}, None), wrap_up=30.0),),
        agents={a.id: a for a in (agent("a1", ("en",), en=3), agent("a2", ("en",), en=3))},
        offer_timeout=15.0, handle_mean=300.0, callbacks=callbacks,
    )  # fmt: skip
    return Switchboard(line=line, start=0.0, store_rows=store_rows)


def kinds(outcome: Outcome[Any]) -> list[str]:
    return [stored(e)[0] for e in outcome.events]


def arrive(b: Switchboard, sid: str, at: float) -> None:
    out = b.handle(c.Arrive(sid, CALLER, NUMBER), at)
    assert out.result == []
    assert [type(f) for f in out.effects] == [OpenCall]
    b.handle(c.Route(sid, Enqueue("en", 0, "en", {"caller_type": "public"})), at + 5)


def test_a_call_from_arrival_to_the_end_of_wrap_up_leaves_nothing_behind():
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    b.handle(c.Arrive("CA1", CALLER, NUMBER), 1.0)
    out = b.handle(c.Route("CA1", Enqueue("en", 0, "en", {"caller_type": "public"})), 6.0)
    assert kinds(out) == ["CallArrived", "CallQueued", "CallOffered"]
    assert out.effects[-1] == Offer("a1", "CA1", CALLER, "en", "en", {"caller_type": "public"})
    accepted = b.handle(c.Accept("a1", "CA1"), 8.0)
    assert accepted.result["state"] == "on_call"
    assert kinds(accepted)[-2:] == ["CallAnswered", "connecting"]
    assert accepted.effects[-1] == Connect("CA1", "a1", 1)
    b.handle(c.LegAnswered("CA1", 1), 10.0)
    out = b.handle(c.CarrierStatus("CA1", "completed"), 100.0)
    assert "CallCompleted" in kinds(out)
    assert b.held() == {"timers": 1}  # the wrap-up's end, nothing of the call
    b.handle(c.Tick(), 131.0)
    assert b.held() == {}
    assert b.agent_state("a1")["state"] == "available"


def test_events_are_numbered_in_one_sequence_per_line():
    b = board()
    first = b.handle(c.Login("a1", ready=True), 0.0)
    second = b.handle(c.Login("a2", ready=True), 1.0)
    assert first.first_seq == 1
    assert second.first_seq == 1 + len(first.events)


def test_a_refused_command_emits_nothing_and_changes_nothing():
    b = board()
    arrive(b, "CA1", 0.0)
    with pytest.raises(UnknownAgent):
        b.handle(c.Login("nobody"), 10.0)
    out = b.handle(c.Tick(), 11.0)
    assert (list(out.events), list(out.effects)) == ([], [])
    assert b.waiting() == [("en", "en", 5.0)]


def test_a_status_for_a_call_the_line_does_not_know_changes_nothing():
    b = board()
    out = b.handle(c.CarrierStatus("CA404", "completed"), 1.0)
    assert (list(out.events), list(out.effects), b.held()) == ([], [], {})


def test_the_hold_loop_offers_a_callback_once_after_the_rule_s_wait():
    b = board(CallbackRule(offer_after=60.0, offer_if_wait=0.0))
    arrive(b, "CA1", 0.0)
    assert b.handle(c.HoldPoll("CA1"), 30.0).result == ("waiting", [])
    out = b.handle(c.HoldPoll("CA1"), 70.0)
    assert out.result == ("offer-callback", [])
    assert kinds(out) == ["callback-offered"]
    assert b.handle(c.HoldPoll("CA1"), 90.0).result == ("waiting", [])
    assert b.handle(c.TakeCallback("CA1"), 91.0).result == []
    # the caller hung up on purpose: they keep their place
    b.handle(c.CarrierStatus("CA1", "completed"), 92.0)
    assert b.waiting() == [("en", "en", 5.0)]


def test_a_connect_the_agent_does_not_answer_goes_to_the_next_agent():
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.Login("a2", ready=True), 8.0)
    out = b.handle(c.DialDone("CA1", "no-answer", 1), 9.0)
    assert out.result is True  # back to the hold loop
    assert "agent-leg-failed" in kinds(out)
    offers = [f for f in out.effects if isinstance(f, Offer)]
    assert [o.agent_id for o in offers] == ["a2"]
    assert b.agent_state("a1")["state"] == "not_ready"
    accepted = b.handle(c.Accept("a2", "CA1"), 10.0)
    assert accepted.effects[-1] == Connect("CA1", "a2", 2)


def test_a_connect_refused_because_the_caller_left_ends_the_call_and_frees_the_agent():
    """The caller hung up as their agent accepted: the carrier refuses to connect a call it
    no longer has. The call ends as abandoned (not offered to agent after agent, each
    connect refused again), and the agent, who did nothing wrong, stays available."""
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.Login("a2", ready=True), 8.0)
    out = b.handle(c.CarrierRefused("CA1", 1, gone=True), 9.0)
    assert "CallAbandoned" in kinds(out)
    assert not [f for f in out.effects if isinstance(f, Offer)]
    assert b.agent_state("a1")["state"] == "available"
    assert b.waiting() == []
    late = b.handle(c.CarrierStatus("CA1", "completed"), 10.0)  # (its hang-up's own word)
    assert late.events == ()


def test_a_connect_the_carrier_refused_otherwise_keeps_the_callers_place():
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.Login("a2", ready=True), 8.0)
    out = b.handle(c.CarrierRefused("CA1", 1), 9.0)
    assert "CallAbandoned" not in kinds(out)
    assert [f.agent_id for f in out.effects if isinstance(f, Offer)] == ["a2"]
    assert b.agent_state("a1")["state"] == "not_ready"


def test_a_gone_callers_word_for_an_earlier_connect_changes_nothing():
    """A refusal for a connect that is not the call's latest (its agent changed since)."""
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.Login("a2", ready=True), 8.0)
    b.handle(c.DialDone("CA1", "no-answer", 1), 9.0)
    b.handle(c.Accept("a2", "CA1"), 10.0)
    out = b.handle(c.CarrierRefused("CA1", 1, gone=True), 11.0)
    assert "CallAbandoned" not in kinds(out)
    assert b.agent_state("a2")["state"] == "on_call"


def test_an_offer_not_answered_in_time_is_withdrawn_by_the_timer():
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    out = b.handle(c.Tick(), 6.0 + 15.0)
    assert Withdraw("a1", "CA1", "ring-no-answer") in out.effects


def test_without_store_rows_the_same_but_for_the_row_effects():
    """`store_rows=False` (a driver without a store) leaves out `OpenCall` and `ChangeCall`
    and nothing else: the same results, events (and their numbers) and other effects."""

    def run(b: Switchboard) -> list[Any]:
        took: list[Outcome[Any]] = [b.handle(c.Login("a1", ready=True), 0.0)]
        for k, at in enumerate((1.0, 2.0, 3.0)):
            took.append(b.handle(c.Arrive(f"CA{k}", CALLER, NUMBER), at))
            took.append(b.handle(c.Route(f"CA{k}", Enqueue(
                "en", 0, "en", {"caller_type": "public"})), at + 5))  # fmt: skip
        took += [
            b.handle(c.Accept("a1", "CA0"), 9.0),
            b.handle(c.LegAnswered("CA0", 1), 10.0),
            b.handle(c.TakeCallback("CA1"), 20.0),
            b.handle(c.CarrierStatus("CA2", "completed"), 30.0),
            b.handle(c.CarrierStatus("CA0", "completed"), 100.0),
            b.handle(c.Tick(), 200.0),
        ]
        return [(o.result, list(o.events), list(o.effects), o.first_seq) for o in took]

    kept, left = run(board()), run(board(store_rows=False))
    rows = (OpenCall, ChangeCall)
    assert {type(f) for _, _, effects, _ in kept for f in effects} >= {OpenCall, ChangeCall}
    assert [(r, ev, [f for f in fx if not isinstance(f, rows)], seq)
            for r, ev, fx, seq in kept] == left  # fmt: skip


def test_due_says_whether_a_command_would_first_fire_a_timer():
    b = board()
    assert not b.due(1e9)
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.LegAnswered("CA1", 1), 8.0)
    b.handle(c.CarrierStatus("CA1", "completed"), 100.0)  # the agent's wrap-up: 30 s
    assert not b.due(129.0)
    assert b.due(130.0)
    b.handle(c.Tick(), 130.0)
    assert not b.due(1e9)
