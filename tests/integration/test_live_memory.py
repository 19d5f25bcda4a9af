"""A server runs for months: once a call has ended (and its timers have run), the live
line holds nothing of it. Thousands of calls on every path, driven through the line's
public commands over the in-memory unit of work."""

from __future__ import annotations

from typing import cast

from hotline.ivr.interpreter import Digits, Gather
from hotline.ivr.line import LineFlow
from hotline.service.live import LineSetup, LiveLine
from hotline.sim.scenario_file import load_scenario
from hotline.store.repository import Store
from hotline.switchboard.effects import Connect, DialBack, Leg, Offer, Withdraw
from hotline.testing.store import InMemoryStore

from .live_fixtures import LINE, ROOT, FakeWall, directory

CALLS = 10_000
AGENTS = ("en-day-1", "en-day-2", "records-early-1")  # the last answers agency officers


def through_ivr(line: LiveLine, sid: str, keys: list[str]) -> None:
    """Answer each Gather with the next key until the flow is done with the caller."""
    first = line.incoming(sid, f"+1202555{int(sid[-4:]):04d}", LINE)
    assert first is not None
    actions = first
    while any(isinstance(a, Gather) for a in actions) and keys:
        actions = line.ivr_input(sid, Digits(keys.pop(0)))
    assert line.ivr_run(sid) is None, (sid, actions)


def serve(line: LiveLine, wall: FakeWall, *, missed: set[str]) -> None:
    """The agents take every offer; each call is talked through, then wrap-up passes."""
    rounds = 0
    while line.outbox or any(b.waiting() for b in line.boards.values()):
        rounds += 1
        assert rounds < 10_000, [line.agent_state(a) for a in AGENTS]
        commands, line.outbox[:] = list(line.outbox), []
        withdrawn = {(c.agent_id, c.call_sid) for c in commands if isinstance(c, Withdraw)}
        for c in commands:
            if isinstance(c, Offer) and (c.agent_id, c.call_sid) not in withdrawn:
                line.accept(c.agent_id, c.call_sid)
            elif isinstance(c, Connect):
                line.agent_leg_answered(c.call_sid, c.attempt)
                line.status(c.call_sid, "completed")
            elif isinstance(c, Leg) and c.action == "join" and c.attempt:
                line.agent_leg_answered(c.call_sid, c.attempt)  # a callback's agent first
            elif isinstance(c, DialBack):  # then its caller: some do not answer at first
                if c.call_sid in missed:
                    missed.discard(c.call_sid)
                    line.status(c.call_sid, "no-answer", dial_back=True)
                else:
                    line.status(c.call_sid, "in-progress", dial_back=True)
                    line.status(c.call_sid, "completed", dial_back=True)
        wall.now += 5  # wrap-ups end (an offer made then is taken before it times out)
        line.tick()


def test_after_ten_thousand_calls_end_the_line_holds_nothing_of_them():
    wall = FakeWall()
    scenario = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    flow = LineFlow(path=ROOT / "scenarios" / "national-hotline.flow.yaml")
    line = LiveLine(
        lines=[LineSetup(scenario, flow, LINE, "America/New_York")],
        store=cast(Store, InMemoryStore()),  # the writer needs only its unit of work
        connectors={"agency_directory": directory()},
        wall=wall,
        commit_wait=60,
        lookup_clock=wall,
    )
    for agent in AGENTS:
        line.login(agent)
        line.set_ready(agent, True)
    paths: dict[str, int] = {}
    for batch in range(CALLS // 50):
        missed: set[str] = set()
        for k in range(50):
            i = batch * 50 + k
            sid = f"CA{i:032d}"
            path = ("ivr-hang-up", "abandon", "callback", "agency")[k % 4] if k < 8 else "talk"
            if path == "agency" and batch % 50:
                path = "talk"  # a PIN check takes a quarter of a second: a few of them
            paths[path] = paths.get(path, 0) + 1
            if path == "ivr-hang-up":
                line.incoming(sid, "+12025550100", LINE)
                line.status(sid, "completed")
                continue
            if path == "agency":
                line.incoming(sid, "+12025550100", LINE)
                for keys in (("1", "1"), ("123455#", "2468#")):  # (each ends in a look-up:
                    for key in keys:  # is the number registered? then the PIN's check)
                        line.ivr_input(sid, Digits(key))
                    line.lookups.settle(30)
                    line.tick()  # the answer: on to the ID, then verified, the urgent question
                assert line.looked_up(sid) is not None
                line.ivr_input(sid, Digits("2"))
                continue
            through_ivr(line, sid, ["1", "2", "2"])  # English, the public, stay on the line
            line.hold(sid)  # the hold loop: the wait is long, a callback is offered once
            if path == "abandon":
                line.status(sid, "completed")
            elif path == "callback" and line.take_callback(sid) is not None:
                line.status(sid, "completed")  # hung up to be called back
                if batch % 2:
                    missed.add(sid)
        serve(line, wall, missed=missed)
    wall.now += 24 * 3600
    line.tick()
    line.flush()
    assert paths["talk"] > CALLS * 0.8
    assert min(paths.values()) >= 8  # eight PIN checks; hundreds of each other path
    assert line.held() == {}
    assert line.writer.waiting() == 0
