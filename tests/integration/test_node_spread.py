"""A node that does not lead a line sends each carrier webhook to the node that leads the
line of its call (web.node_app with service.spread's `Placement`): a new call by the
number it calls, a call the store knows by its line, whichever node leads other lines; a
number no line has to the home line's; a line whose leader is gone keeps its callers
(never sent to a node without their line)."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect as connect_socket

from hotline.service.bootstrap import build_line, ensure_line, store_for
from hotline.service.demo import free_ports
from hotline.service.lines import import_line
from hotline.service.node import Node
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.settings import Settings
from hotline.service.spread import Placement, groups
from hotline.service.unit_of_work import AddCall
from hotline.store.accounts import AccountStore
from hotline.store.leases import Leases
from hotline.store.repository import Store
from hotline.switchboard.records import CallRow
from hotline.testing.control import RecordingCallControl
from hotline.web.node_app import NodeApp

from .live_fixtures import LINE, ROOT, VICTIMS, helpline_apart, sqlite_url
from .test_line_added_more import settings_for
from .test_nodes import Echo, Served, engine  # noqa: F401 (a fixture)

PUBLIC = "https://hotline.example.org"
NATIONAL, HELPLINE = "National hotline (US)", "Victim support helpline"
SIGNED = {"X-Twilio-Signature": "c2lnbmVk"}


@pytest.fixture
def leaders() -> Iterator[tuple[Echo, Echo]]:
    one, two = Echo(), Echo()
    yield one, two
    one.stop()
    two.stop()


def lead(db: Engine, name: str, address: str, line: str) -> Leases:
    leased = Leases(engine=db, node=name, address=address, ttl=30.0)
    leased.join()
    assert leased.claim(line) is not None
    return leased


def sid(n: int) -> str:
    return f"CA{n:032d}"


def test_each_webhook_goes_to_the_node_that_leads_its_line(engine, leaders):  # noqa: F811
    store = Store(engine=engine, key=Keyring(SealingKey.parse(new_key()), []))
    import_line(store, ROOT / "scenarios" / "national-hotline.yaml", number=LINE)
    import_line(store, ROOT / "scenarios" / "victim-support.yaml", number=VICTIMS,
                flow=ROOT / "scenarios" / "victim-support.flow.yaml")  # fmt: skip
    national, helpline = leaders
    lead(engine, "a", national.address, NATIONAL)
    b = lead(engine, "b", helpline.address, HELPLINE)
    store.commit([AddCall(CallRow(sid(2), HELPLINE, "+12025550143", VICTIMS, "en", None, 0,
                                  "queued", {}, None, 10.0), 10.0)])  # fmt: skip
    standby = Leases(engine=engine, node="c", ttl=30.0)
    standby.join()
    member = Node(leases=standby, groups=lambda: [[NATIONAL, HELPLINE]], on_lost=lambda _w: None)
    app = NodeApp(node=member, build=lambda _group: None, public_url=PUBLIC, hold_for=0.0, poll=0.0,
                  placement=Placement(store=store, accounts=AccountStore(engine=engine),
                                      home=LINE))  # fmt: skip

    caller = "+12025550143"
    webhooks = [
        ("/voice/incoming", {"CallSid": sid(1), "From": caller, "To": VICTIMS}),  # a new call,
        ("/voice/incoming", {"CallSid": sid(3), "From": caller, "To": LINE}),  # by its number
        # a call the store knows, by its line, whatever the form says it calls
        (f"/voice/wait?sid={sid(2)}&n=1", {"CallSid": sid(2), "To": LINE}),
        # an agent's leg of that call (`?sid=` names the caller's call)
        (f"/voice/agent-leg?sid={sid(2)}&a=1", {"CallSid": sid(9), "To": "client:en-day-1"}),
        # the dial-back leg of a callback (`?call=`)
        (f"/voice/status?call={sid(2)}", {"CallSid": sid(8), "CallStatus": "ringing"}),
        # a number and a call no line has: to the line that answers those (the home line)
        ("/voice/incoming", {"CallSid": sid(4), "To": "+18005550999"}),
    ]

    async def talk() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://c") as client:  # fmt: skip
            return [(await client.post(path, data=form, headers=SIGNED)).status_code
                    for path, form in webhooks]  # fmt: skip

    assert asyncio.run(talk()) == [200] * 6
    assert [url for url, _, _ in helpline.seen] == [
        "/voice/incoming", f"/voice/wait?sid={sid(2)}&n=1", f"/voice/agent-leg?sid={sid(2)}&a=1",
        f"/voice/status?call={sid(2)}",
    ]  # fmt: skip
    assert [url for url, _, _ in national.seen] == ["/voice/incoming", "/voice/incoming"]
    assert national.seen[0][1].endswith(b"To=%2B18005550100")

    b.leave()  # the helpline's leader is gone: its caller is kept, not sent to the other

    async def orphan() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://c") as client:  # fmt: skip
            return await client.post(f"/voice/wait?sid={sid(2)}&n=2", headers=SIGNED,
                                     data={"CallSid": sid(2)})  # fmt: skip

    kept = asyncio.run(orphan())
    assert kept.status_code == 200
    assert f'<Redirect method="POST">{PUBLIC}/voice/wait?sid={sid(2)}&amp;n=2<' in kept.text
    assert (len(helpline.seen), len(national.seen)) == (4, 2)


def two_lines_apart(tmp_path: Path) -> Settings:
    """The national line (the settings' own) and a helpline that shares no agent with it."""
    settings = settings_for(sqlite_url(tmp_path))
    store, _ = store_for(settings)
    ensure_line(settings, store)
    import_line(store, helpline_apart(tmp_path), number=VICTIMS)
    assert groups([NATIONAL, HELPLINE], store.agents_lines()) == [(NATIONAL,), (HELPLINE,)]
    store.engine.dispose()
    return settings


def test_a_node_serving_one_group_recovers_its_calls_and_agents_and_leaves_the_others(
    tmp_path: Path,
) -> None:
    settings = two_lines_apart(tmp_path)
    one = build_line(settings)  # one server led both lines; then it died
    one.line.begin()
    assert one.line.incoming(sid(1), "+12025550143", LINE) is not None
    assert one.line.incoming(sid(2), "+12025550144", VICTIMS) is not None
    one.line.login("en-day-1")
    one.line.login("vs-day-1")
    one.line.end()
    one.line.flush()
    control = RecordingCallControl()
    control.statuses.update({sid(1): "in-progress", sid(2): "in-progress"})

    helpline = build_line(settings, control=control, serves=lambda line: line == HELPLINE)
    assert list(helpline.line.setups) == [HELPLINE]
    assert not helpline.line.home  # (the national line answers numbers no line has)
    assert helpline.recovered == {"ivr": 1}
    assert helpline.line.knows(sid(2))
    assert not helpline.line.knows(sid(1))  # the national line's: left to its node
    kept = helpline.store.agent_states()
    assert (kept["en-day-1"].state, kept["vs-day-1"].state) == ("not_ready", "not_ready")
    assert helpline.line.agent_state("vs-day-1")["state"] == "not_ready"

    national = build_line(settings, control=control, serves=lambda line: line == NATIONAL)
    assert list(national.line.setups) == [NATIONAL]
    assert national.line.home
    assert national.recovered == {"ivr": 1}
    assert national.line.knows(sid(1))
    assert not national.line.knows(sid(2))


def group_app(group: tuple[str, ...], node: str) -> Starlette:
    """A group's app that says which node serves it and which lines it has."""

    async def stats(_request: Request) -> Response:
        return JSONResponse({"at": 1.0 if node == "a" else 2.0,
                             "lines": {line: {"node": node} for line in group}})  # fmt: skip

    async def asked(request: Request) -> Response:
        return JSONResponse({"node": node, "group": list(group), "path": request.url.path})

    async def events(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(json.dumps({"type": "hello", "lines": list(group), "node": node}))
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass

    async def voice(_request: Request) -> Response:
        return Response(f"<Response><Say>{node}</Say></Response>", media_type="application/xml")

    return Starlette(routes=[
        Route("/api/stats", stats), WebSocketRoute("/api/events", events),
        Route("/voice/{rest:path}", voice, methods=["POST"]),
        Route("/{rest:path}", asked, methods=["GET", "POST"]),
    ])  # fmt: skip


class Spread:
    """Nodes a and b on loopback over two lines that share no agent: each leads one, as
    both join before either claims (`together`), or as a hands one to b when b joins."""

    def __init__(self, settings: Settings, *, together: bool = True) -> None:
        self.store, _ = store_for(settings)
        self.ports = dict(zip("ab", free_ports(2), strict=True))
        self.placement = Placement(store=self.store, home=LINE,
                                   accounts=AccountStore(engine=self.store.engine))  # fmt: skip
        self.apps: dict[str, NodeApp] = {}
        self.served: dict[str, Served] = {}
        if together:
            self.join("a")
            self.join("b")
            self.serve("a")  # (a claims first: the national line's group, the first by name)
            self.serve("b")
        else:
            self.serve("a", self.join("a"))
            until(lambda: len(self.apps["a"].node.led()) == 2, "a to lead both lines")
            self.serve("b", self.join("b"))
        until(lambda: all(len(x.node.led()) == 1 for x in self.apps.values()), "one line each")

    def join(self, name: str) -> NodeApp:
        leased = Leases(engine=self.store.engine, node=name,
                        address=f"http://127.0.0.1:{self.ports[name]}", ttl=30.0)  # fmt: skip
        leased.join()
        member = Node(leases=leased, on_lost=lambda _why: None, groups=lambda: groups(
            [x["name"] for x in self.store.lines()], self.store.agents_lines()))  # fmt: skip
        self.apps[name] = NodeApp(node=member, public_url=PUBLIC, placement=self.placement,
                                  build=functools.partial(group_app, node=name))  # fmt: skip
        return self.apps[name]

    def serve(self, name: str, app: NodeApp | None = None) -> None:
        self.served[name] = Served(app or self.apps[name], self.ports[name])
        until(lambda: self.apps[name].serving, f"node {name} to lead")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def stop(self) -> None:
        for served in self.served.values():
            served.stop()
        self.store.engine.dispose()


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(params=["together", "one-then-the-other"])
def spread(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Spread]:
    s = Spread(two_lines_apart(tmp_path), together=request.param == "together")
    yield s
    s.stop()


def test_two_nodes_lead_a_group_each_and_every_request_reaches_its_line(spread):
    assert list(spread.apps["a"].node.led()) == [NATIONAL]
    assert list(spread.apps["b"].node.led()) == [HELPLINE]
    counsellor = {"Authorization": f"Bearer {spread.store.issue_token('vs-day-1', time.time())}"}
    national = {"Authorization": f"Bearer {spread.store.issue_token('en-day-1', time.time())}"}
    with httpx.Client(base_url=spread.url("a")) as a, httpx.Client(base_url=spread.url("b")) as b:
        for here, http in (("a", a), ("b", b)):
            # the wallboard's figures: every line's, whichever node is asked
            stats = http.get("/api/stats").json()
            assert stats == {"at": 2.0, "lines": {NATIONAL: {"node": "a"}, HELPLINE: {"node": "b"}}}
            # an agent's requests reach the node that leads their line
            assert http.get("/api/agent/me", headers=counsellor).json()["node"] == "b"
            assert http.get("/api/agent/me", headers=national).json()["node"] == "a"
            # a supervisor's about an agent, that agent's line
            forced = http.post("/api/supervisor/agents/vs-day-1/state", json={"state": "offline"})
            assert forced.json() == {"node": "b", "group": [HELPLINE],
                                     "path": "/api/supervisor/agents/vs-day-1/state"}  # fmt: skip
            # a caller's webhook, the node that leads the line they called
            for number, node in ((VICTIMS, "b"), (LINE, "a")):
                call = {"CallSid": sid(7), "From": "+12025550143", "To": number}
                r = http.post("/voice/incoming", headers=SIGNED, data=call)
                assert r.text == f"<Response><Say>{node}</Say></Response>"
            # what is no line's (pages, log-on, the audit trail: the store's) the node asked
            # serves itself, so none of it waits while the home line is taken over
            for path in ("/login", "/static/hotline.css", "/api/session", "/api/banner",
                         "/api/audit/entries"):  # fmt: skip
                assert http.get(path).json()["node"] == here, path
            # the rest no path places: the home line's
            assert http.get("/api/admin/agents").json()["node"] == "a"

    async def wallboard(port: int) -> set[str]:
        async with connect_socket(f"ws://127.0.0.1:{port}/api/events") as ws:
            said = [json.loads(await ws.recv()) for _ in range(2)]
        return {line for hello in said for line in hello["lines"]}

    for name in "ab":  # the wallboard's events: every line's, whichever node is asked
        assert asyncio.run(wallboard(spread.ports[name])) == {NATIONAL, HELPLINE}


def test_a_node_that_leads_one_group_takes_the_other_when_its_node_stops(spread):
    counsellor = {"Authorization": f"Bearer {spread.store.issue_token('vs-day-1', time.time())}"}
    epoch = spread.apps["b"].node.led()[HELPLINE]
    spread.served["b"].stop()  # its leases go with it
    a = spread.apps["a"]
    deadline = time.monotonic() + 30
    while HELPLINE not in a.node.led() or len(a.node.led()) < 2:
        assert time.monotonic() < deadline, "a did not take the helpline over"
        time.sleep(0.05)
    with httpx.Client(base_url=spread.url("a")) as http:
        deadline = time.monotonic() + 30
        while (r := http.get("/api/agent/me", headers=counsellor)).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.05)
        assert r.json()["node"] == "a"
        assert r.json()["group"] == [HELPLINE]
        stats = http.get("/api/stats").json()
        assert stats["lines"] == {NATIONAL: {"node": "a"}, HELPLINE: {"node": "a"}}
    assert a.node.led() == {NATIONAL: 1, HELPLINE: epoch + 1}


def test_a_webhook_of_a_group_being_built_is_never_served_by_another_groups_app(tmp_path):
    """A node serving the national line claims the helpline (its node gone) and builds it:
    meanwhile the helpline's callers are kept (here at once: `hold_for` 0), never answered
    by the national line's app, which does not know their calls."""
    settings = two_lines_apart(tmp_path)
    store, _ = store_for(settings)
    gate = threading.Event()

    def build(group: tuple[str, ...]) -> Starlette:
        if HELPLINE in group:
            assert gate.wait(30)
        return group_app(group, "a")

    port = free_ports(1)[0]
    leased = Leases(engine=store.engine, node="a", address=f"http://127.0.0.1:{port}", ttl=30.0)
    leased.join()
    member = Node(leases=leased, on_lost=lambda _why: None, groups=lambda: groups(
        [x["name"] for x in store.lines()], store.agents_lines()))  # fmt: skip
    placement = Placement(store=store, accounts=AccountStore(engine=store.engine), home=LINE)
    app = NodeApp(node=member, public_url=PUBLIC, placement=placement, build=build, hold_for=0.0)
    served = Served(app, port)
    try:
        until(lambda: app.serving and len(member.led()) == 2, "a to lead both, one built")
        call = {"CallSid": sid(5), "From": "+12025550143", "To": VICTIMS}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            kept = http.post("/voice/incoming", headers=SIGNED, data=call)
            assert "<Redirect" in kept.text  # kept, not answered by the national app
            said = "<Response><Say>a</Say></Response>"
            national = http.post("/voice/incoming", headers=SIGNED, data={**call, "To": LINE})
            assert national.text == said  # (the national line is served meanwhile)

            def answered() -> bool:
                return http.post("/voice/incoming", headers=SIGNED, data=call).text == said

            gate.set()
            until(answered, "the helpline to be built")
    finally:
        gate.set()
        served.stop()
        store.engine.dispose()
