"""Lines sharing agents: an agent engaged on one line is never offered a call on another,
and comes back to it once free (exact traces, and hypothesis-drawn days on two and three
lines); agents' own requests are done whole or refused; lines reconfigured under them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain.events import CallOffered, OfferWithdrawn
from hotline.errors import InvalidTransition, UnknownAgent, UnknownCall
from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import Switchboard
from hotline.switchboard.effects import Connect, Offer
from hotline.switchboard.floor import ELSEWHERE, ENGAGED, Floor, Step
from hotline.switchboard.line import LineConfig
from hotline.switchboard.records import CallRow
from tests.unit.routing.harness import agent, queue

CALLER = "+442079460000"
NUMBERS = {"national": "+18005550100", "victims": "+18005550200", "youth": "+18005550300"}
QUEUE = {"national": "en", "victims": "vs", "youth": "yo"}
OWN = {"national": "n1", "victims": "v1", "youth": "y1"}
SHARED = ("s1", "s2")
TWO = ("national", "victims")


def line_config(name: str, agents: list[str]) -> LineConfig:
    q = QUEUE[name]
    return LineConfig(
        name=name, number=NUMBERS[name], timezone="UTC", flow=None,
        queues=(queue(q, ({q: 1}, None), wrap_up=30.0),),
        agents={a: agent(a, (), en=3, vs=3, yo=3) for a in agents}, offer_timeout=15.0,
    )  # fmt: skip


def floor(lines: tuple[str, ...] = TWO) -> Floor:
    return Floor({n: Switchboard(line=line_config(n, [*SHARED, OWN[n]])) for n in lines})


def states(f: Floor, agent_id: str) -> list[tuple[str, str | None]]:
    return [(s["state"] or "", s.get("reason"))
            for s in (b.agent_state(agent_id) for b in f.boards.values())]  # fmt: skip


def call(f: Floor, line: str, sid: str, at: float) -> list[Step]:
    f.handle(line, c.Arrive(sid, CALLER, NUMBERS[line]), at)
    route = c.Route(sid, Enqueue(QUEUE[line], 0, "en", {"caller_type": "public"}))
    return f.handle(line, route, at).steps


def offers(steps: list[Step]) -> list[tuple[str, str, str]]:
    return [(line, e.agent_id, e.call_sid) for line, o in steps for e in o.effects
            if isinstance(e, Offer)]  # fmt: skip


def test_an_agent_on_a_call_on_one_line_is_not_ready_on_the_other_until_free():
    f = floor()
    f.handle("national", c.Login("s1", ready=True), 0.0)
    assert [f.boards[n].agent_state("s1")["state"] for n in TWO] == ["available"] * 2
    assert offers(call(f, "national", "CA1", 1.0)) == [("national", "s1", "CA1")]
    victims = f.boards["victims"].agent_state("s1")
    assert (victims["state"], victims["reason"]) == ("not_ready", ELSEWHERE)
    assert offers(call(f, "victims", "CB1", 2.0)) == []  # waits: s1 is busy on the other line
    f.handle("national", c.Accept("s1", "CA1"), 3.0)
    f.handle("national", c.LegAnswered("CA1", 1), 4.0)
    f.handle("national", c.CarrierStatus("CA1", "completed"), 100.0)  # then 30 s wrap-up
    assert f.agent_state("s1")["state"] == "wrap_up"
    steps = f.handle("national", c.Tick(), 130.0).steps
    # free on the national line at 130 s: the victims' line offers its waiting call at once
    assert offers(steps) == [("victims", "s1", "CB1")]
    national = f.boards["national"].agent_state("s1")
    assert (national["state"], national["reason"]) == ("not_ready", ELSEWHERE)


def test_an_agents_break_and_log_out_reach_every_line():
    f = floor()
    f.handle("victims", c.Login("s2", ready=True), 0.0)
    f.handle("victims", c.SetReady("s2", False, "break"), 1.0)
    assert [f.boards[n].agent_state("s2")["reason"] for n in TWO] == ["break", "break"]
    f.handle("victims", c.SetReady("s2", True), 2.0)
    assert [f.boards[n].agent_state("s2")["state"] for n in TWO] == ["available"] * 2
    f.handle("victims", c.Logout("s2"), 3.0)
    assert [f.boards[n].agent_state("s2")["state"] for n in TWO] == ["offline"] * 2


OPS = st.lists(
    st.tuples(
        st.sampled_from(["call", "call", "call", "accept", "accept", "decline", "answer-leg",
                         "hang-up", "ready", "break", "login", "login", "logout", "wait"]),
        st.sampled_from(sorted(NUMBERS)),
        st.integers(0, 50),
        st.sampled_from([0.0, 0.5, 2.0, 10.0, 40.0]),  # mostly within an offer's 15 s
    ),
    min_size=10,
    max_size=80,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_two_lines_sharing_agents_never_double_book_them(ops: list[Any]) -> None:
    never_double_booked(TWO, ops)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_three_lines_sharing_agents_never_double_book_them(ops: list[Any]) -> None:
    never_double_booked(tuple(NUMBERS), ops)


def test_three_lines_hypothesis_found_an_agent_offered_two_calls_at_the_same_time():
    # the offers to n1 (national) and s2 (victims) both time out at 15 s: s1, free on
    # every line since 10 s, was offered both calls
    never_double_booked(
        tuple(NUMBERS),
        [("call", "national", 0, 0.0), ("call", "victims", 0, 0.0),
         ("accept", "national", 0, 0.0), ("accept", "national", 0, 0.0),
         ("accept", "national", 0, 0.0), ("accept", "national", 0, 0.0),
         ("login", "national", 2, 0.0), ("login", "national", 1, 0.0),
         ("login", "national", 0, 10.0), ("call", "national", 0, 10.0)],
    )  # fmt: skip


def never_double_booked(lines: tuple[str, ...], ops: list[Any]) -> None:
    f = floor(lines)
    now = 0.0
    calls: list[tuple[str, str]] = []
    offered: dict[str, tuple[str, str]] = {}  # sid -> (line, agent)
    connected: dict[str, tuple[str, int]] = {}  # sid -> (line, attempt)
    agents = [*SHARED, *(OWN[n] for n in lines)]
    for op, line, k, dt in ops:
        now += dt
        line = line if line in lines else lines[k % len(lines)]
        steps: list[Step] = []
        try:
            if op == "call":
                sid = f"C{len(calls)}"
                calls.append((line, sid))
                steps = call(f, line, sid, now)
            elif op in ("accept", "decline") and offered:
                sid = sorted(offered)[k % len(offered)]
                on, agent_id = offered[sid]
                act = c.Accept(agent_id, sid) if op == "accept" else c.Decline(agent_id, sid)
                steps = f.handle(on, act, now).steps
            elif op == "answer-leg" and connected:
                sid = sorted(connected)[k % len(connected)]
                on, attempt = connected.pop(sid)
                steps = f.handle(on, c.LegAnswered(sid, attempt), now).steps
            elif op == "hang-up" and calls:
                on, sid = calls[k % len(calls)]
                steps = f.handle(on, c.CarrierStatus(sid, "completed"), now).steps
            elif op in ("ready", "break", "login", "logout"):
                agent_id = agents[k % len(agents)]
                cmd = {"ready": c.SetReady(agent_id, True),
                       "break": c.SetReady(agent_id, False),
                       "login": c.Login(agent_id, ready=True),
                       "logout": c.Logout(agent_id)}[op]  # fmt: skip
                home = next(n for n in lines if agent_id in f.boards[n].line.agents)
                steps = f.handle(home, cmd, now).steps
            else:
                steps = f.handle(line, c.Tick(), now).steps
        except (InvalidTransition, UnknownAgent, UnknownCall):
            pass  # refused (ready while on a call, not logged in...): nothing changed
        for on, outcome in steps:
            for e in outcome.events:
                if isinstance(e, CallOffered):
                    offered[e.call_id] = (on, e.agent_id)
            for eff in outcome.effects:
                if isinstance(eff, Connect):
                    connected[eff.call_sid] = (on, eff.attempt)
        offered = {sid: (on, a) for sid, (on, a) in offered.items()
                   if f.boards[on].agent_state(a)["call_sid"] == sid}  # fmt: skip
        for agent_id in SHARED:
            engaged = [n for n in lines if f.boards[n].agent_state(agent_id)["state"] in ENGAGED]
            assert len(engaged) <= 1, (agent_id, engaged)


def test_freed_on_one_of_three_lines_the_agent_takes_one_waiting_call_not_two():
    f = floor(tuple(NUMBERS))
    f.handle("national", c.Login("s1", ready=False), 0.0)
    assert {s for s, _ in states(f, "s1")} == {"not_ready"}
    call(f, "victims", "CB1", 1.0)  # nobody is available on either line: both wait
    call(f, "youth", "CY1", 1.0)
    steps = f.handle("national", c.SetReady("s1", True), 2.0).steps
    # ready on the national line, then on the victims' line, which offers its call at once:
    # the youth line must not make them ready (and offer its call) from the stale state
    assert offers(steps) == [("victims", "s1", "CB1")]
    assert states(f, "s1") == [("not_ready", ELSEWHERE), ("reserved", None),
                               ("not_ready", "login")]  # fmt: skip


def test_two_offers_timing_out_at_the_same_time_on_two_lines_go_to_one_free_agent_once():
    f = floor()
    f.handle("national", c.Login("n1", ready=True), 0.0)
    f.handle("victims", c.Login("v1", ready=True), 0.0)
    assert offers(call(f, "national", "CA1", 0.0)) == [("national", "n1", "CA1")]
    assert offers(call(f, "victims", "CB1", 0.0)) == [("victims", "v1", "CB1")]
    f.handle("national", c.Login("s1", ready=True), 10.0)  # free on both lines
    # neither offer is answered: both are withdrawn at 15 s and their calls put to the next
    # agent; the national line's goes first, and s1 is not ready on the victims' line
    # before its own withdrawal at that same time looks for someone
    steps = f.handle("national", c.Tick(), 15.0).steps
    assert offers(steps) == [("national", "s1", "CA1")]
    assert states(f, "s1") == [("reserved", None), ("not_ready", ELSEWHERE)]
    assert [q for q, _, _ in f.boards["victims"].waiting()] == ["vs"]  # CB1 waits for s1


def test_timers_fired_before_a_refused_command_are_still_reported():
    f = floor()
    f.handle("national", c.Login("n1", ready=True), 0.0)
    call(f, "national", "CA1", 1.0)  # offered to n1, who does not answer within 15 s
    with pytest.raises(UnknownCall):
        f.handle("national", c.Accept("n1", "CA9"), 20.0)  # refused: no such call
    untold = f.take_untold()
    timed_out = [e for _, o in untold for e in o.events if isinstance(e, OfferWithdrawn)]
    assert [(e.call_id, e.agent_id, e.reason) for e in timed_out] == [
        ("CA1", "n1", "ring-no-answer")
    ]
    assert f.take_untold() == []  # told once


def test_logging_in_again_while_a_log_out_waits_for_the_call_to_end_is_done_whole():
    f = floor()
    f.handle("national", c.Login("s1", ready=True), 0.0)
    call(f, "national", "CA1", 1.0)
    f.handle("national", c.Accept("s1", "CA1"), 2.0)
    f.handle("national", c.LegAnswered("CA1", 1), 3.0)
    f.handle("national", c.Logout("s1"), 4.0)  # on a call: they leave once it ends
    assert states(f, "s1") == [("on_call", None), ("offline", None)]
    assert f.boards["national"].leaving("s1")
    f.handle("national", c.Login("s1", ready=True), 5.0)  # changed their mind
    assert not f.boards["national"].leaving("s1")
    assert states(f, "s1")[0] == ("on_call", None)
    assert states(f, "s1")[1][0] == "not_ready"
    f.handle("national", c.CarrierStatus("CA1", "completed"), 60.0)
    f.handle("national", c.Tick(), 90.0)  # wrap-up over: available on both, still on
    assert [s for s, _ in states(f, "s1")] == ["available", "available"]


def test_logging_in_twice_is_refused_and_changes_nothing():
    f = floor()
    f.handle("national", c.Login("s1", ready=True), 0.0)
    with pytest.raises(InvalidTransition, match="already logged in"):
        f.handle("national", c.Login("s1", ready=True), 1.0)
    assert f.take_untold() == []
    assert [s for s, _ in states(f, "s1")] == ["available", "available"]


def test_an_agent_a_new_configuration_leaves_out_is_still_kept_from_double_booking():
    f = floor()
    f.handle("national", c.Login("s1", ready=True), 0.0)
    call(f, "victims", "CB1", 1.0)
    f.handle("victims", c.Accept("s1", "CB1"), 2.0)
    f.handle("victims", c.LegAnswered("CB1", 1), 3.0)
    # the victims' line no longer lists s1, who is on one of its calls
    f.handle("victims", c.Reconfigure(line_config("victims", ["s2", "v1"])), 4.0)
    assert offers(call(f, "national", "CA1", 5.0)) == []  # still busy on the other line
    f.handle("victims", c.CarrierStatus("CB1", "completed"), 60.0)
    steps = f.handle("national", c.Tick(), 90.0).steps  # wrap-up over
    assert offers(steps) == [("national", "s1", "CA1")]
    f.handle("national", c.Decline("s1", "CA1"), 91.0)
    f.handle("national", c.Logout("s1"), 92.0)
    assert f.agent_state("s1")["state"] == "offline"
    with pytest.raises(UnknownAgent):  # logged out of the line that left them out: gone
        f.boards["victims"].agent_state("s1")
    f.handle("national", c.Login("s1", ready=True), 93.0)  # back: on the national line only
    assert f.lines_of["s1"] == ["national"]
    with pytest.raises(UnknownAgent):
        f.boards["victims"].agent_state("s1")


def test_an_agent_whose_only_line_left_them_out_is_unknown_once_their_call_ends():
    f = floor()
    f.handle("victims", c.Login("v1", ready=True), 0.0)
    call(f, "victims", "CB1", 1.0)
    f.handle("victims", c.Accept("v1", "CB1"), 2.0)
    f.handle("victims", c.LegAnswered("CB1", 1), 3.0)
    f.handle("victims", c.Reconfigure(line_config("victims", [*SHARED])), 4.0)
    f.handle("victims", c.Logout("v1"), 5.0)  # leaves once the call ends
    f.handle("victims", c.CarrierStatus("CB1", "completed"), 60.0)
    f.handle("victims", c.Tick(), 90.0)  # wrap-up over: logged out, and on no line now
    with pytest.raises(UnknownAgent):
        f.handle("victims", c.Login("v1", ready=True), 91.0)


def test_an_agent_given_another_line_while_logged_in_joins_it_in_their_state():
    f = floor()
    f.handle("national", c.Login("n1", ready=True), 0.0)
    call(f, "victims", "CB1", 1.0)  # waits: nobody on the victims' line
    steps = f.handle(
        "victims", c.Reconfigure(line_config("victims", [*SHARED, "v1", "n1"])), 2.0
    ).steps
    assert offers(steps) == [("victims", "n1", "CB1")]
    f.handle("victims", c.Decline("n1", "CB1"), 3.0)
    f.handle("national", c.SetReady("n1", False, "break"), 4.0)
    assert states(f, "n1") == [("not_ready", "break"), ("not_ready", "break")]
    f.handle("national", c.Logout("n1"), 5.0)
    assert [s for s, _ in states(f, "n1")] == ["offline", "offline"]


def recovered(sid: str, line: str, agent_id: str, state: str = "answered") -> c.Recovered:
    """A call found in the store after a restart, bridged to `agent_id`."""
    row = CallRow(sid, line, CALLER, NUMBERS[line], "en", QUEUE[line], 0, state,
                  {"caller_type": "public"}, None, 0.0)  # fmt: skip
    return c.Recovered(row, 5.0, 1, False, True, agent=agent_id)


def test_a_call_resumed_on_a_shared_agent_keeps_them_off_the_other_line_until_free():
    f = floor()
    for a in ("s1", "v1"):  # logged in again after the restart, not ready
        f.handle("national", c.Login(a, ready=False), 50.0)
    f.handle("national", c.Recover([recovered("CA1", "national", "s1")], {"CA1": "in-progress"}),
             50.0)  # fmt: skip
    assert f.agent_state("s1") == {"agent_id": "s1", "state": "on_call", "reason": None,
                                   "call_sid": "CA1"}  # fmt: skip
    assert states(f, "s1")[1] == ("not_ready", "login")  # (not ready there, as logged in)
    with pytest.raises(InvalidTransition):  # their own request goes to their call's line
        f.handle("victims", c.SetReady("s1", True), 51.0)
    assert offers(call(f, "victims", "CB1", 52.0)) == []  # s1 is on the national call
    f.handle("national", c.HoldCall("s1", True), 60.0)  # the call is theirs: they hold it
    f.handle("national", c.CarrierStatus("CA1", "completed"), 100.0)
    assert f.agent_state("s1")["state"] == "wrap_up"
    assert offers(f.handle("national", c.Tick(), 130.0).steps) == [("victims", "s1", "CB1")]


def test_a_recovered_call_whose_agent_is_engaged_or_gone_is_not_put_on_them():
    f = floor()
    f.handle("national", c.Login("n1", ready=True), 0.0)
    call(f, "national", "CA1", 1.0)  # offered to n1: engaged
    f.handle("national", c.Recover([recovered("CA2", "national", "n1"),
                                    recovered("CA3", "national", "nobody")],
                                   {"CA2": "in-progress", "CA3": "in-progress"}), 2.0)  # fmt: skip
    assert f.agent_state("n1")["call_sid"] == "CA1"
    # each goes on detached, closed by its carrier status
    for sid in ("CA2", "CA3"):
        steps = f.handle("national", c.CarrierStatus(sid, "completed"), 3.0).steps
        assert [type(e).__name__ for _, o in steps for e in o.events] == ["CompletedAfterRestart"]


def test_a_resumed_wrap_up_lasts_what_is_left_of_it_or_ends_at_once():
    f = floor()
    for a in ("n1", "s1"):
        f.handle("national", c.Login(a, ready=False), 100.0)
    f.handle("national", c.ResumeWrapUp("n1", "CA1", "en", 90.0), 100.0)  # 30 s from 90
    f.handle("national", c.ResumeWrapUp("s1", "CA2", "en", 60.0), 100.0)  # over at 90
    assert [f.agent_state(a)["state"] for a in ("n1", "s1")] == ["wrap_up", "available"]
    assert states(f, "s1") == [("available", None)] * 2
    f.handle("national", c.Tick(), 119.0)
    assert f.agent_state("n1")["state"] == "wrap_up"
    f.handle("national", c.Tick(), 120.0)
    assert f.agent_state("n1")["state"] == "available"
