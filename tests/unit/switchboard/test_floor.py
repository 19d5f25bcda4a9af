"""Two lines sharing agents: an agent engaged on one line is never offered a call on the
other, and comes back to it once free (exact traces, and hypothesis-drawn days)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain.events import CallOffered
from hotline.errors import InvalidTransition, UnknownAgent, UnknownCall
from hotline.ivr.interpreter import Enqueue
from hotline.switchboard import commands as c
from hotline.switchboard.board import Switchboard
from hotline.switchboard.effects import Connect, Offer
from hotline.switchboard.floor import ELSEWHERE, ENGAGED, Floor, Step
from hotline.switchboard.line import LineConfig
from tests.unit.routing.harness import agent, queue

CALLER = "+442079460000"
NUMBERS = {"national": "+18005550100", "victims": "+18005550200"}
QUEUE = {"national": "en", "victims": "vs"}
SHARED = ("s1", "s2")


def floor() -> Floor:
    shared = [agent(a, (), en=3, vs=3) for a in SHARED]
    own = {"national": agent("n1", (), en=3), "victims": agent("v1", (), vs=3)}
    boards = {}
    for name, number in NUMBERS.items():
        q = QUEUE[name]
        line = LineConfig(
            name=name, number=number, timezone="UTC", flow=None,
            queues=(queue(q, ({q: 1}, None), wrap_up=30.0),),
            agents={a.id: a for a in (*shared, own[name])}, offer_timeout=15.0,
        )  # fmt: skip
        boards[name] = Switchboard(line=line)
    return Floor(boards)


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
    assert [f.boards[n].agent_state("s1")["state"] for n in NUMBERS] == ["available"] * 2
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
    assert [f.boards[n].agent_state("s2")["reason"] for n in NUMBERS] == ["break", "break"]
    f.handle("victims", c.SetReady("s2", True), 2.0)
    assert [f.boards[n].agent_state("s2")["state"] for n in NUMBERS] == ["available"] * 2
    f.handle("victims", c.Logout("s2"), 3.0)
    assert [f.boards[n].agent_state("s2")["state"] for n in NUMBERS] == ["offline"] * 2


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
    f = floor()
    now = 0.0
    calls: list[tuple[str, str]] = []
    offered: dict[str, tuple[str, str]] = {}  # sid -> (line, agent)
    connected: dict[str, tuple[str, int]] = {}  # sid -> (line, attempt)
    agents = ["s1", "s2", "n1", "v1"]
    for op, line, k, dt in ops:
        now += dt
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
                home = next(n for n in NUMBERS if agent_id in f.boards[n].line.agents)
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
            engaged = [n for n in NUMBERS if f.boards[n].agent_state(agent_id)["state"] in ENGAGED]
            assert len(engaged) <= 1, (agent_id, engaged)
