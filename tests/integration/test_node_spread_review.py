"""Lines spread over nodes, the harder cases (an independent review found them): a node
sends each request to the app that serves its line, also while another of its groups is
being built and after the groups change under it (lines joined or parted by their agents);
a node recovering one group asks the carrier only about that group's calls. Two cases are
left failing (marked), each with the fix it needs: groups joined across nodes, and a group
none of whose lines can be served."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hotline.service.bootstrap import build_line, ensure_line, store_for
from hotline.service.demo import free_ports
from hotline.service.lines import import_line
from hotline.service.node import Node
from hotline.service.settings import Settings
from hotline.service.spread import Placement, groups
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases
from hotline.testing.control import RecordingCallControl
from hotline.web.app import create_app
from hotline.web.node_app import NodeApp

from .live_fixtures import LINE, ROOT, VICTIMS, sqlite_url
from .test_line_added_more import settings_for
from .test_node_spread import HELPLINE, NATIONAL, PUBLIC, SIGNED, sid, two_lines_apart
from .test_nodes import Served

YOUTH, YOUTH_NUMBER = "Youth line", "+18005550300"
SCENARIO = ROOT / "scenarios" / "victim-support.yaml"
FLOW = ROOT / "scenarios" / "victim-support.flow.yaml"
SHARED = ("- {name: en-day", "- {name: es-day")  # the national line's agents in SCENARIO


def youth_line(folder: Path, *, sharing: bool) -> Path:
    """A line of its own counsellors, with (`sharing`) or without the national line's day
    agents who back the helpline up: with them it is in the national line's group."""
    text = SCENARIO.read_text().replace("name: Victim support helpline", f"name: {YOUTH}")
    kept = [x.replace("{name: vs-", "{name: yl-") for x in text.splitlines()
            if sharing or not x.lstrip().startswith(SHARED)]  # fmt: skip
    path = folder / f"youth-{'sharing' if sharing else 'apart'}.yaml"
    path.write_text("\n".join(kept).replace("flow: victim-support.flow.yaml", f"flow: {FLOW}"))
    return path


def group_app(group: tuple[str, ...]) -> Starlette:
    """A group's app that says which group it was built for (and, for the wallboard, that
    its figures are of those lines)."""

    async def voice(_request: Request) -> Response:
        return Response(f"<Response><Say>{', '.join(group)}</Say></Response>",
                        media_type="application/xml")  # fmt: skip

    async def stats(_request: Request) -> Response:
        return JSONResponse({"at": 1.0, "lines": {line: {} for line in group}})

    async def asked(_request: Request) -> Response:
        return JSONResponse({"group": list(group)})

    return Starlette(routes=[
        Route("/voice/{rest:path}", voice, methods=["POST"]), Route("/api/stats", stats),
        Route("/{rest:path}", asked, methods=["GET", "POST"]),
    ])  # fmt: skip


def said_by(reply: httpx.Response) -> str:
    """Which group's app answered a webhook ('kept': none did, the caller was kept)."""
    if "<Redirect" in reply.text:
        return "kept"
    return reply.text.removeprefix("<Response><Say>").removesuffix("</Say></Response>")


class Alone:
    """One node (a NodeApp under uvicorn) on the store of `settings`, its groups as the
    store's agents make them; `build(group)` makes each group's app."""

    def __init__(self, settings: Settings, build: Callable[[tuple[str, ...]], Any]) -> None:
        self.store, _ = store_for(settings)
        port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{port}"
        leased = Leases(engine=self.store.engine, node="a", address=self.url, ttl=30.0)
        leased.join()
        self.lost: list[str] = []
        self.node = Node(leases=leased, on_lost=self.lost.append, groups=lambda: groups(
            [x["name"] for x in self.store.lines()], self.store.agents_lines()))  # fmt: skip
        placement = Placement(store=self.store, accounts=AccountStore(engine=self.store.engine),
                              home=LINE)  # fmt: skip
        self.app = NodeApp(node=self.node, build=build, public_url=PUBLIC, hold_for=0.0,
                           poll=0.0, placement=placement)  # fmt: skip
        self.served = Served(self.app, port)
        self.http = httpx.Client(base_url=self.url)

    def call(self, number: str, n: int = 7) -> str:
        form = {"CallSid": sid(n), "From": "+12025550143", "To": number}
        return said_by(self.http.post("/voice/incoming", headers=SIGNED, data=form))

    def until(self, done: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    def stop(self) -> None:
        self.http.close()
        self.served.stop()
        self.store.engine.dispose()


@pytest.fixture
def alone(tmp_path: Path) -> Iterator[Callable[..., Alone]]:
    made: list[Alone] = []

    def make(build: Callable[[tuple[str, ...]], Any] = group_app) -> Alone:
        made.append(Alone(two_lines_apart(tmp_path), build))
        return made[-1]

    yield make
    for node in made:
        node.stop()


def test_a_group_being_built_is_not_served_by_another_groups_app(alone):
    """A node that leads every line but has built only some groups' apps (its start, or a
    takeover of a dead node's group) took the fast path of a node that serves everything
    in one app: the helpline's callers reached the national line's app while the
    helpline's was still being built (recovering its calls can take seconds)."""
    gate = threading.Event()

    def build(group: tuple[str, ...]) -> Starlette:
        if HELPLINE in group:
            gate.wait(30)  # (its recovery, still under way)
        return group_app(group)

    a = alone(build)
    try:
        a.until(lambda: a.app.serving and HELPLINE in a.node.led(), "a did not lead both")
        assert a.call(LINE) == NATIONAL
        assert a.call(VICTIMS) == "kept"  # held, then kept: not answered by the wrong line
        counsellor = {"Authorization": f"Bearer {a.store.issue_token('vs-day-1', time.time())}"}
        assert a.http.get("/api/agent/me", headers=counsellor).status_code == 503
    finally:
        gate.set()
    a.until(lambda: a.call(VICTIMS) == HELPLINE, "the helpline's app did not serve it")


def test_each_line_stays_with_its_app_when_agents_join_two_groups_a_node_serves(alone):
    """Two groups a node serves in two apps become one (an agent now works on both lines):
    each app still has its own line's calls and agents, but every request of either line
    went to the first app (and in `hotline serve --node` each app's `serves` took the
    other's line as new, so both served both); the wallboard lost the helpline's figures."""
    a = alone()
    a.until(lambda: len(a.node.led()) == 2 and a.call(VICTIMS) == HELPLINE, "not both served")
    import_line(a.store, SCENARIO, number=VICTIMS, flow=FLOW)  # with the national agents too
    a.until(lambda: a.node.seen == [(NATIONAL, HELPLINE)], "the groups did not join")

    assert a.call(VICTIMS) == HELPLINE
    assert a.call(LINE) == NATIONAL
    counsellor = {"Authorization": f"Bearer {a.store.issue_token('vs-day-1', time.time())}"}
    assert a.http.get("/api/agent/me", headers=counsellor).json() == {"group": [HELPLINE]}
    stats = a.http.get("/api/stats").json()
    assert stats["lines"] == {NATIONAL: {}, HELPLINE: {}}


def test_a_line_that_joined_a_group_is_still_reached_once_its_agents_part_it(alone, tmp_path):
    """A line new in the store that joins a group a node leads is served by that group's
    app; once its shared agents go (it is a group of its own again, still led and served
    there) the node found no app for it: its callers were kept in a loop of redirects."""
    a = alone()
    a.until(lambda: len(a.node.led()) == 2 and a.call(VICTIMS) == HELPLINE, "not both served")
    import_line(a.store, youth_line(tmp_path, sharing=True), number=YOUTH_NUMBER, flow=FLOW)
    a.until(lambda: YOUTH in a.node.led(), "a did not lead the new line")
    assert a.call(YOUTH_NUMBER) == NATIONAL  # (served by the national group's app)

    import_line(a.store, youth_line(tmp_path, sharing=False), number=YOUTH_NUMBER, flow=FLOW)
    a.until(lambda: (YOUTH,) in a.node.seen, "the youth line did not part")
    assert a.call(YOUTH_NUMBER) == NATIONAL
    assert a.node.led() == {NATIONAL: 1, HELPLINE: 1, YOUTH: 1}


def test_a_node_recovering_one_group_asks_the_carrier_only_about_its_calls(tmp_path):
    """The start of a group's app asked the carrier about every open call in the store,
    every other group's too (up to STATUS_DEADLINE, 16 at a time): a takeover of a small
    group waited on the carrier's answers about all the others, its callers held."""
    settings = two_lines_apart(tmp_path)
    one = build_line(settings)
    one.line.begin()
    assert one.line.incoming(sid(1), "+12025550143", LINE) is not None
    assert one.line.incoming(sid(2), "+12025550144", VICTIMS) is not None
    one.line.end()
    one.line.flush()

    class Carrier(RecordingCallControl):
        """The carrier, noting which calls it was asked about."""

        def __init__(self) -> None:
            super().__init__()
            self.asked: list[str] = []

        def status(self, call_sid: str) -> str | None:
            self.asked.append(call_sid)
            return super().status(call_sid)

    carrier = Carrier()
    carrier.statuses.update({sid(1): "in-progress", sid(2): "in-progress"})
    helpline = build_line(settings, control=carrier, serves=lambda line: line == HELPLINE)
    assert helpline.recovered == {"ivr": 1}
    assert carrier.asked == [sid(2)]


def member(engine: Any, name: str, found: list[tuple[str, ...]], lost: list[str]) -> Node:
    leased = Leases(engine=engine, node=name, ttl=10.0)
    leased.join()
    return Node(leases=leased, groups=lambda: found, on_lost=lost.append)


def test_the_groups_of_a_node_that_gives_up_are_taken_at_once(tmp_path):
    """A node that cannot build a group lets its leases go at once and stops, so that
    another need not wait for them to run out; but it was still counted alive (its entry
    seen lately) in the others' fair share, so they took its groups only once its entry
    had aged a lease's time, as if it had died (and its restart under its name was refused
    meanwhile)."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    lost: list[str] = []
    found: list[tuple[str, ...]] = [("national",), ("victims",)]
    a, b = member(engine, "a", found, lost), member(engine, "b", found, lost)
    try:
        assert (a.claim(), b.claim()) == ([("national",)], [("victims",)])
        b.give_up("the line could not be built")
        assert a.claim() == [("victims",)]
        assert a.led() == {"national": 1, "victims": 2}
        member(engine, "b", found, lost)  # (its restart joins under its name at once)
    finally:
        engine.dispose()


# -- left failing: each needs more than a small change


@pytest.mark.xfail(strict=True, reason="groups joined across nodes stay split (see docstring)")
def test_lines_whose_groups_join_are_led_by_one_node(tmp_path):
    """Two nodes lead a group each; an agent is put on both lines (a line imported again
    with another's agents): the lines are one group now, which one node must lead (an
    agent works on one floor), but each node goes on leading its part: the agent is on two
    floors, can be offered a call by each at once, and their requests reach only the one
    of their first line. (And if one node then stops, the other takes its line as a new
    one, through the lines that join a group it leads: its open calls are not recovered.)

    The fix: a group led in part by another live node is let go by every node but the one
    that leads its first line (service.node `claim`, with `give_up`: the process exits and
    its other groups are taken over, recovered); the node that keeps it takes the rest
    with its calls recovered, which a line new in the store joining its group is not:
    the app of the group built again (a restart of the node), or `LiveLine.add_lines`
    taught to recover an added line's open calls. The same holds for two groups one node
    serves in two apps (each keeps its own line now, and the agent is on two floors)."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    lost: list[str] = []
    found: list[tuple[str, ...]] = [("national",), ("victims",)]
    a, b = member(engine, "a", found, lost), member(engine, "b", found, lost)
    try:
        assert (a.claim(), b.claim()) == ([("national",)], [("victims",)])
        found[:] = [("national", "victims")]  # an agent now works on both lines
        for _ in range(3):  # (rounds of both)
            a.claim()
            b.claim()
        assert sorted([a.led(), b.led()], key=len) == [{}, {"national": 1, "victims": 2}]
    finally:
        engine.dispose()


@pytest.mark.xfail(strict=True, reason="a group no line of which can be served stops the node")
def test_a_group_none_of_whose_lines_can_be_served_leaves_the_node_serving_the_others(
    tmp_path,
):
    """A line in the store that cannot be served (no flow) is logged and left out, and the
    other lines are served (bootstrap.line_setups; test_line_added_more). Alone in a group
    (its agents its own), `build_line` of that group has no line to serve and raises: the
    node gives up every lease and stops (its other groups with it), and so does the next
    node that claims it; a node alone stops for good (its restart claims it again).

    The fix needs a choice: a node keeps leading such a group (so no node fails on it)
    without an app, trying its build again when the store's lines change, and its calls
    go to the home line's node, whose line refuses them as `hotline serve` does with a
    number no line it serves has (today they would be held, then kept in redirects)."""
    settings = settings_for(sqlite_url(tmp_path))
    store, _ = store_for(settings)
    ensure_line(settings, store)
    flowless = tmp_path / "night.yaml"  # counsellors of its own, and no flow
    text = youth_line(tmp_path, sharing=False).read_text()
    flowless.write_text(text.replace(f"name: {YOUTH}", "name: Night line")
                        .replace(f", flow: {FLOW}}}", "}"))  # fmt: skip
    import_line(store, flowless, number=YOUTH_NUMBER, timezone="America/New_York")
    store.engine.dispose()
    tried: list[tuple[str, ...]] = []

    def build(group: tuple[str, ...]) -> Any:  # (as `hotline serve --node` builds a group)
        tried.append(group)
        parts = build_line(settings, serves=lambda line: line in group)
        return create_app(settings=settings, line=parts.line, control=RecordingCallControl())

    a = Alone(settings, build)
    try:
        a.until(lambda: ("Night line",) in tried, "the night line's group was not claimed")
        after = a.node.seen
        a.until(lambda: a.node.seen is not after, "no round came after")  # (it had its say)
        assert a.lost == []
        assert a.call(LINE) != "kept"
    finally:
        a.stop()
