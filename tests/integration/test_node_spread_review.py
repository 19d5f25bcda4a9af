"""Lines spread over nodes, the harder cases (an independent review found them): a node
sends each request to the app that serves its line, also while another of its groups is
being built and after the groups change under it (lines joined or parted by their agents);
a node recovering one group asks the carrier only about that group's calls; groups joined
across nodes are led by one; a line that cannot be served is led by none."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from hotline.service.spread import Layout, Placement
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases
from hotline.testing.control import RecordingCallControl
from hotline.web.app import create_app
from hotline.web.node_app import NodeApp

from .live_fixtures import LINE, ROOT, VICTIMS, Carrier, sqlite_url
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
        layout = Layout(store=self.store, home=LINE)  # (as `hotline serve --node` has it)
        self.node = Node(leases=leased, on_lost=self.lost.append, groups=layout.groups,
                         weigh=layout.weight)  # fmt: skip
        placement = Placement(store=self.store, accounts=AccountStore(engine=self.store.engine),
                              home=LINE, layout=layout)  # fmt: skip
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


def test_two_groups_a_node_serves_apart_are_served_in_one_app_once_agents_join_them(
    tmp_path: Path,
) -> None:
    """Two groups a node serves in two apps become one (an agent now works on both lines):
    each app has its own line's calls and agents, so the agent would be on two floors, and
    every request of either line went to the first app. The node starts again (`give_up`:
    its leases go at once; `hotline serve` exits 75 and its supervisor starts it), and
    builds the joined group in one app, its calls recovered from the store."""
    settings = two_lines_apart(tmp_path)
    a = Alone(settings, group_app)
    try:
        a.until(lambda: len(a.node.led()) == 2 and a.call(VICTIMS) == HELPLINE, "both served")
        import_line(a.store, SCENARIO, number=VICTIMS, flow=FLOW)  # with the national agents too
        a.until(lambda: a.lost, "a to start again")
        assert a.lost == [f"the lines {NATIONAL}, {HELPLINE} share agents now: led apart, an "
                          "agent would work on two floors; this node starts again to lead "
                          "them together"]  # fmt: skip
        assert a.node.led() == {}
    finally:
        a.stop()
    again = Alone(settings, group_app)  # (as its supervisor starts it)
    try:
        both = f"{NATIONAL}, {HELPLINE}"
        again.until(lambda: again.call(VICTIMS) == both, "the joined group served in one app")
        assert again.call(LINE) == both
        counsellor = {"Authorization": f"Bearer {again.store.issue_token('vs-day-1', time.time())}"}
        assert again.http.get("/api/agent/me", headers=counsellor).json() == {
            "group": [NATIONAL, HELPLINE]
        }
        assert again.http.get("/api/stats").json()["lines"] == {NATIONAL: {}, HELPLINE: {}}
        assert again.lost == []
    finally:
        again.stop()


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


@dataclass
class Pair:
    engine: Any
    found: list[tuple[str, ...]]
    lost: list[str]
    a: Node
    b: Node

    def __iter__(self) -> Iterator[Any]:
        return iter((self.engine, self.found, self.lost, self.a, self.b))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """Nodes a and b, each leading a group of one line: "national", "victims"."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    lost: list[str] = []
    found: list[tuple[str, ...]] = [("national",), ("victims",)]
    a, b = member(engine, "a", found, lost), member(engine, "b", found, lost)
    assert (a.claim(), b.claim()) == ([("national",)], [("victims",)])
    yield Pair(engine, found, lost, a, b)
    engine.dispose()


def test_the_groups_of_a_node_that_gives_up_are_taken_at_once(pair):
    """A node that cannot build a group lets its leases go at once and stops, so that
    another need not wait for them to run out; but it was still counted alive (its entry
    seen lately) in the others' fair share, so they took its groups only once its entry
    had aged a lease's time, as if it had died (and its restart under its name was refused
    meanwhile)."""
    engine, found, lost, a, b = pair
    b.give_up("the line could not be built")
    assert a.claim() == [("victims",)]
    assert a.led() == {"national": 1, "victims": 2}
    member(engine, "b", found, lost)  # (its restart joins under its name at once)


def test_lines_whose_groups_join_are_led_by_one_node(pair):
    """Two nodes lead a group each; an agent is put on both lines (a line imported again
    with another's agents): the lines are one group now, which one node must lead (an
    agent works on one floor). Led on apart, the agent would be on two floors, offered a
    call by each at once; and if one node then stopped, the other would take its line as
    a new one, its open calls not recovered. Each node that leads a part starts again
    (`give_up`: its leases go at once, the process exits 75 under `hotline serve`), and
    the joined group is claimed afresh, whole, its calls recovered as in a takeover."""
    _, found, lost, a, b = pair
    found[:] = [("national", "victims")]  # an agent now works on both lines
    for _ in range(3):  # (rounds of both)
        a.claim()
        b.claim()
    assert sorted(map(list, [a.led(), b.led()])) == [[], ["national", "victims"]]
    assert lost == ["the lines national, victims share agents now: led apart, an agent "
                    "would work on two floors; this node starts again to lead them "
                    "together"] * 2  # fmt: skip


def test_a_line_that_cannot_be_served_is_led_by_no_node_and_the_home_line_refuses_its_calls(
    tmp_path,
):
    """A line in the store that cannot be served (no flow) is logged and left out, and the
    other lines are served (bootstrap.line_setups; test_line_added_more). Alone in a group
    (its agents its own), a node that claimed it had no line to build and stopped, its
    other groups with it, and so did the next node to claim it. Now no node leads it
    (`spread.Layout`), its calls go to the home line, which refuses them as a number no
    line has (not kept in redirects for good), and once it is imported again, with a flow,
    a node leads it and serves it."""
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
        a.until(lambda: a.app.serving, "a to serve the national line")
        after = a.node.seen
        a.until(lambda: a.node.seen is not after, "no round came after")  # (it had its say)
        assert tried == [(NATIONAL,)]  # the night line's group: never claimed
        assert list(a.node.led()) == [NATIONAL]
        assert a.lost == []
        carrier = Carrier(a.http, base=settings.public_url)  # (signed: a real line answers)
        night = {"CallSid": sid(8), "From": "+12025550143", "To": YOUTH_NUMBER}
        refused = carrier.post("/voice/incoming", night)
        assert "this number is not in service" in refused.text
        flowed = tmp_path / "night-flowed.yaml"
        flowed.write_text(text.replace(f"name: {YOUTH}", "name: Night line"))
        import_line(a.store, flowed, number=YOUTH_NUMBER, timezone="America/New_York")
        a.until(lambda: ("Night line",) in tried, "the night line to be led once it can be")
        a.until(lambda: "<Gather" in carrier.post("/voice/incoming",
                                                  {**night, "CallSid": sid(9)}).text,
                "the night line's flow to answer")  # fmt: skip
        assert a.lost == []
    finally:
        a.stop()
