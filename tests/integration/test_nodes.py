"""One node of several (service.node, web.node_app), on SQLite with a clock the test moves:
a node leads every line or none, trusts its leases only for a while after renewing them,
and as a standby forwards carrier webhooks to the leader as they came, or keeps the
caller when no node leads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hotline.errors import Fenced
from hotline.service.demo import free_ports
from hotline.service.node import Node
from hotline.service.unit_of_work import AppendEvent
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, leases
from hotline.store.repository import Store
from hotline.web.app import SERVING
from hotline.web.node_app import NodeApp

from .live_fixtures import sqlite_url

LINES = ["national", "victims"]
PUBLIC = "https://hotline.example.org"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    yield engine
    engine.dispose()


def node(engine: Engine, name: str, lines: list[str], clock: Clock, lost: list[str],
         ttl: float = 10.0, address: str = "") -> Node:  # fmt: skip
    leased = Leases(engine=engine, node=name, address=address, ttl=ttl)
    leased.join()
    return Node(leases=leased, groups=lambda: [lines], monotonic=clock, on_lost=lost.append)


def test_a_node_leads_a_group_of_lines_whole_or_not_at_all(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", LINES, clock, lost)  # (LINES: one group, as agents join them)
    b = node(engine, "b", LINES, clock, lost)
    assert b.leases.claim("victims") is not None  # b holds one line of the group
    assert a.claim() == []  # a sees b lead a line of it: it claims none (no epoch grows)
    assert not a.leading()
    b.leases.leave_lines(["victims"])
    assert a.claim() == [tuple(LINES)]  # free: a takes both
    assert a.led() == {"national": 1, "victims": 2}
    assert lost == []


def test_a_leader_trusts_its_leases_only_until_a_while_after_the_last_renewal(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", LINES, clock, lost)
    assert a.claim()
    store = Store(engine=engine, fence=a.fence)
    store.commit([AppendEvent(None, 1.0, "note", {}, "national")])
    clock.now += 7.9  # 0.8 of a 10 s lease
    a.check()
    assert lost == []
    a.renew()
    clock.now += 7.9
    a.check()
    assert lost == []
    clock.now += 0.1
    a.check()  # not renewed for 8 s: it may be another's by now
    assert lost == ["its leases were not renewed in time (paused, or cut off from the database)"]
    assert not a.leading()
    with pytest.raises(Fenced):  # and the fence refuses its writes at once
        store.commit([AppendEvent(None, 2.0, "note", {}, "national")])


def test_a_leader_whose_lease_was_taken_stops_at_its_next_renewal(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", LINES, clock, lost, ttl=0.0)  # its leases run out at once
    assert a.claim()
    b = node(engine, "b", LINES, clock, [])
    assert b.claim()
    a.renew()
    assert lost == ["another node took over national, victims"]
    assert b.led() == {"national": 2, "victims": 2}


def test_a_line_added_while_a_node_leads_is_led_by_it(engine):
    clock, lost, lines = Clock(), list[str](), ["national"]
    a = node(engine, "a", lines, clock, lost)
    assert a.claim() == [("national",)]
    lines.append("victims")  # a line whose agents work on the national line too
    assert a.claim() == []  # no new group: the one it leads has grown
    assert a.led() == {"national": 1, "victims": 1}


class Served:
    """An ASGI app under uvicorn on a loopback port, in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="critical",
            ws_per_message_deflate=SERVING["ws_per_message_deflate"],  # (as serve)
        ))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Echo:
    """A leader that says what reached it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, dict[str, str]]] = []
        port = free_ports(1)[0]
        self.address = f"http://127.0.0.1:{port}"

        async def hook(request: Request) -> Response:
            self.seen.append((str(request.url).removeprefix(self.address), await request.body(),
                              dict(request.headers)))  # fmt: skip
            if request.method == "GET":  # a prompt's audio it could not render
                return JSONResponse({"error_id": "speech-unavailable"}, status_code=503)
            return Response("<Response><Say>from the leader</Say></Response>",
                            media_type="application/xml")  # fmt: skip

        app = Starlette(routes=[Route("/voice/{rest:path}", hook, methods=["POST", "GET"])])
        self.served = Served(app, port)

    def stop(self) -> None:
        self.served.stop()


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.stop()


def test_a_standby_forwards_webhooks_to_the_leader_or_keeps_the_caller(engine, echo):
    clock = Clock()
    leader = node(engine, "a", LINES, clock, [], address=echo.address)
    assert leader.claim()
    standby = node(engine, "b", LINES, clock, [])
    app = NodeApp(node=standby, build=lambda _g: None, public_url=PUBLIC, hold_for=0.0, poll=0.0)
    form = {"CallSid": "CA" + "1" * 32, "Digits": "5"}
    signed = {"X-Twilio-Signature": "c2lnbmVk"}
    path = "/voice/gather?sid=CA" + "1" * 32 + "&g=1&step=3"

    async def talk() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://b") as client:  # fmt: skip
            r = await client.post(path, data=form, headers=signed)
            assert (r.status_code, r.text) == (
                200,
                "<Response><Say>from the leader</Say></Response>",
            )
            ((url, body, headers),) = echo.seen
            assert url == path  # as it came: the same URL (signed), body and signature
            assert body == b"CallSid=CA" + b"1" * 32 + b"&Digits=5"
            assert headers["x-twilio-signature"] == "c2lnbmVk"
            assert headers["x-hotline-forwarded"] == "b"

            again = await client.post(
                path, data=form, headers={**signed, "X-Hotline-Forwarded": "c"}
            )
            assert "<Redirect" in again.text  # a forwarded request is never forwarded again
            assert len(echo.seen) == 1

            # a prompt's audio: the leader's answer as it gave it, a 5xx too (the carrier
            # skips the prompt), never tried again while the carrier waits
            audio = await client.get(f"/voice/audio?sid=CA{'1' * 32}&p=v1%3A0%3A" + "A" * 40)
            assert (audio.status_code, audio.json()) == (503, {"error_id": "speech-unavailable"})
            assert len(echo.seen) == 2
            assert echo.seen[-1][0].startswith("/voice/audio?sid=")

            health = await client.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {"ready": False, "node": "b", "role": "standby",
                                     "leader": echo.address}  # fmt: skip
            api = await client.get("/api/agent/state")  # relayed (tests/test_node_relay.py)
            assert (api.status_code, api.text) == (404, "Not Found")  # (no such route there)

            leader.leases.leave()  # no node leads: the caller is kept where they are
            kept = await client.post(path, data=form, headers=signed)
            assert kept.status_code == 200
            assert kept.text == (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Pause length="2"/>'
                f'<Redirect method="POST">{PUBLIC}/voice/gather?sid=CA{"1" * 32}&amp;g=1&amp;'
                "step=3</Redirect></Response>"
            )
            status = await client.post("/voice/status", data=form, headers=signed)
            assert status.status_code == 503  # the carrier tries a status callback again

    asyncio.run(talk())
    assert [lease.node for lease in leases(engine)[1]] == ["a", "a"]


SID = "CA" + "1" * 32
FORM = {"CallSid": SID, "AccountSid": "AC" + "0" * 32}


def lone_standby(engine: Engine, build: Callable[[], object], lost: list[str] | None = None,
                 ttl: float = 60.0, hold_for: float = 0.0) -> NodeApp:  # fmt: skip
    leased = Leases(engine=engine, node="b", ttl=ttl)
    leased.join()
    told = lost if lost is not None else []
    b = Node(leases=leased, groups=lambda: [["national"]], on_lost=told.append)  # (real clock)
    return NodeApp(node=b, build=lambda _group: build(), public_url=PUBLIC, hold_for=hold_for)


def test_callbacks_a_redirect_would_lose_are_answered_503_and_bodies_are_bounded(engine):
    http = TestClient(lone_standby(engine, build=lambda: None), base_url=PUBLIC)
    for path in ("/voice/status", f"/voice/agent-leg?sid={SID}&a=1",
                 f"/voice/leg?sid={SID}&label=caller", f"/voice/dial-done?sid={SID}",
                 f"/voice/voicemail?sid={SID}"):  # fmt: skip
        r = http.post(path, data={**FORM, "CallStatus": "completed"})
        assert r.status_code == 503, (path, r.status_code, r.text)
    # a prompt's audio the carrier fetches: TwiML is no audio, it tries again or skips it
    audio = http.get(f"/voice/audio?sid={SID}&p=v1%3A00000000%3A" + "A" * 64)
    assert (audio.status_code, audio.content) == (503, b"")
    kept = http.post(f"/voice/wait?sid={SID}&n=3", data=FORM)
    assert (kept.status_code, "<Redirect" in kept.text) == (200, True)
    huge = http.post("/voice/incoming", content=b"x" * (1024 * 1024),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert (huge.status_code, huge.json()["error_id"]) == (413, "body-too-large")


def test_a_prompts_audio_is_not_held_for_a_leader(engine):
    """A caller is held for a leader (here up to two minutes); a prompt's audio is not: the
    carrier waits on it, and skips a prompt that is not there (503) sooner than it would."""
    app = lone_standby(engine, build=lambda: None, hold_for=120.0)

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=PUBLIC) as client:  # fmt: skip
            url = f"/voice/audio?sid={SID}&p=v1%3A00000000%3A" + "A" * 64
            return await asyncio.wait_for(client.get(url), 30)  # (held: two minutes)

    audio = asyncio.run(fetch())
    assert (audio.status_code, audio.content) == (503, b"")


def test_a_standby_keeps_the_caller_when_the_database_is_down() -> None:
    """(review) The database away: no leader can be looked up; the caller is kept, never
    a 500 (the carrier's "application error" would drop the call)."""
    dead = Leases(engine=connect("postgresql://postgres@127.0.0.1:1/none"), node="b")
    b = Node(leases=dead, groups=lambda: [["national"]], on_lost=lambda _why: None)
    http = TestClient(NodeApp(node=b, build=lambda _group: None, public_url=PUBLIC, hold_for=0.0),
                      base_url=PUBLIC, raise_server_exceptions=False)  # fmt: skip
    r = http.post(f"/voice/wait?sid={SID}&n=3", data=FORM)
    assert (r.status_code, "<Redirect" in r.text) == (200, True)
    health = http.get("/healthz")
    assert (health.status_code, health.json()["leader"]) == (503, None)


def test_a_webhook_held_through_a_takeover_is_served_as_it_came_by_the_new_leader(engine):
    """(review) A caller presses 2 while the leader is dead but its lease not run out: the
    standby holds the webhook, takes the lines over, and serves it with the 2."""
    dead = node(engine, "a", ["national"], Clock(), [], ttl=2.0, address="http://127.0.0.1:9")
    assert dead.claim()
    heard: list[dict[str, str]] = []

    async def gather(request: Request) -> Response:
        heard.append({k: str(v) for k, v in (await request.form()).items()})
        return Response("<Response><Say>menu 2</Say></Response>", media_type="application/xml")

    line = Starlette(routes=[Route("/voice/gather", gather, methods=["POST"])])
    app = lone_standby(engine, build=lambda: line, ttl=2.0, hold_for=12.0)
    with TestClient(app, base_url=PUBLIC) as http:
        r = http.post(f"/voice/gather?sid={SID}&g=1&step=3", data={**FORM, "Digits": "2"})
        assert app.serving
    assert (r.status_code, r.text) == (200, "<Response><Say>menu 2</Say></Response>")
    assert heard == [{**FORM, "Digits": "2"}]
    assert [(x.node, x.epoch) for x in leases(engine)[1]] == [("b", 2)]


def test_a_node_that_cannot_build_the_line_lets_it_go_and_stops(engine):
    """(review) Otherwise it would renew leases it cannot serve, and no node could lead."""
    lost: list[str] = []

    def build() -> object:
        raise RuntimeError("a connectors file broken on this node only")

    with TestClient(lone_standby(engine, build=build, lost=lost), base_url=PUBLIC):
        for _ in range(400):  # until b has claimed the line, failed to build, given up
            if lost:
                break
            threading.Event().wait(0.025)
    taken = Leases(engine=engine, node="a", ttl=60.0).claim("national")  # at once
    assert taken is not None
    assert taken.epoch == 2
    assert lost == [
        "the line could not be built (RuntimeError('a connectors file broken on this node only'))"
    ]


def test_a_slow_build_leaves_the_new_leader_trusted(engine):
    """(review) Recovering the open calls takes seconds (the carrier's statuses): the
    leases are renewed meanwhile, so the leader's first act does not stop it."""
    lost: list[str] = []
    leader: list[NodeApp] = []

    def act(_request: Request) -> Response:
        leader[0].node.check()  # as the line's runtime does before any command
        return Response("acted")

    def build() -> object:
        threading.Event().wait(1.75)  # longer than 0.8 of the 2 s lease: slow work
        return Starlette(routes=[Route("/act", act, methods=["POST"])])

    app = lone_standby(engine, build=build, lost=lost, ttl=2.0)
    leader.append(app)
    with TestClient(app, base_url=PUBLIC) as http:
        for _ in range(400):
            if app.serving:
                break
            threading.Event().wait(0.025)
        assert http.post("/act").text == "acted"
    assert lost == []


def test_a_write_that_finds_its_line_taken_over_stops_the_old_leader(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", ["national"], clock, lost, ttl=0.0)
    assert a.claim()
    assert node(engine, "b", ["national"], clock, []).claim()
    with pytest.raises(Fenced):
        Store(engine=engine, fence=a.fence).commit([AppendEvent(None, 1.0, "x", {}, "national")])
    assert lost == ["a write found national taken over"]
    assert not a.leading()


def test_one_look_at_who_leads_serves_every_webhook_held_at_once(engine, echo):
    """A takeover under a surge: many webhooks at the standby at once ask the store who
    leads once (per `poll`), not once each."""
    leader = node(engine, "a", LINES, Clock(), [], address=echo.address)
    assert leader.claim()
    app = NodeApp(node=node(engine, "b", LINES, Clock(), []), build=lambda _group: None,
                  public_url=PUBLIC, hold_for=0.0, poll=60.0)  # fmt: skip
    looks: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(conn, cursor, statement, *args):
        if "FROM nodes" in statement:
            looks.append(statement)

    async def surge() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://b") as client:  # fmt: skip
            answers = await asyncio.gather(*(
                client.post(f"/voice/incoming?n={i}", data={"CallSid": f"CA{i:032d}"})
                for i in range(20)))  # fmt: skip
        return [r.status_code for r in answers]

    assert asyncio.run(surge()) == [200] * 20
    assert len(echo.seen) == 20  # every one forwarded to the leader
    assert len(looks) == 1


GROUPS = [("national",), ("victims",), ("youth",)]


def grouped(engine: Engine, name: str, lost: list[str]) -> Node:
    leased = Leases(engine=engine, node=name, ttl=10.0)
    leased.join()
    return Node(leases=leased, groups=lambda: GROUPS, on_lost=lost.append)


def test_a_node_alone_leads_every_group(engine):
    lost: list[str] = []
    a = grouped(engine, "a", lost)
    assert a.claim() == GROUPS
    assert a.claim() == []  # (nothing new)
    assert a.led() == {"national": 1, "victims": 1, "youth": 1}


def test_nodes_up_together_share_the_groups_and_a_later_one_stands_by(engine):
    lost: list[str] = []
    a, b = grouped(engine, "a", lost), grouped(engine, "b", lost)
    assert a.claim() == GROUPS[:2]  # its fair share: 3 groups over 2 nodes, rounded up
    assert b.claim() == GROUPS[2:]  # what is left
    c = grouped(engine, "c", lost)
    assert c.claim() == []  # every group is led
    assert (a.led(), b.led(), c.led()) == ({"national": 1, "victims": 1}, {"youth": 1}, {})
    assert lost == []


def test_the_groups_of_a_node_gone_are_taken_by_the_others(engine):
    lost: list[str] = []
    a, b, c = grouped(engine, "a", lost), grouped(engine, "b", lost), grouped(engine, "c", lost)
    assert [a.claim(), b.claim(), c.claim()] == [GROUPS[:1], GROUPS[1:2], GROUPS[2:]]
    b.leases.leave()  # (as its leases running out with its heartbeat: it is not alive)
    assert a.claim() == [("victims",)]  # 3 groups over 2 nodes: a takes it first
    assert c.claim() == []
    assert a.led() == {"national": 1, "victims": 2}


def test_a_node_that_leads_more_than_its_share_hands_a_group_to_one_that_joins(engine):
    lost: list[str] = []
    a = grouped(engine, "a", lost)
    assert a.claim() == GROUPS
    assert a.handing is None  # alone: all three are its share
    b = grouped(engine, "b", lost)  # joins: 3 groups over 2 nodes, 2 each at most
    assert b.claim() == []  # none free
    assert a.claim() == []
    assert a.handing == ("youth",)  # one, the last
    a.hand_over(("youth",))
    assert a.led() == {"national": 1, "victims": 1}
    assert a.claim() == []  # its share: it does not take it back
    assert a.handing is None  # 2 is its share; b leads less than its share, but none free
    assert b.claim() == [("youth",)]
    assert b.led() == {"youth": 2}
    assert (a.claim(), a.handing, b.claim(), b.handing) == ([], None, [], None)  # settled
    assert lost == []


def test_a_group_is_handed_over_only_to_a_node_short_of_its_share_and_none_is_free(engine):
    lost: list[str] = []
    a, b = grouped(engine, "a", lost), grouped(engine, "b", lost)
    assert a.claim() == GROUPS[:2]
    assert b.claim() == GROUPS[2:]
    c = grouped(engine, "c", lost)  # joins: 1 each
    assert a.claim() == []
    assert a.handing == ("victims",)
    a.hand_over(("victims",))
    d = grouped(engine, "d", lost)  # joins too: 4 nodes, share 1; "victims" is free
    assert (b.claim(), b.handing) == ([], None)  # b leads its share
    assert c.claim() == [("victims",)]
    assert d.claim() == []  # no group free, and none leads more than 1
    assert a.claim() == []
    assert [x.handing for x in (a, b, c, d)] == [None] * 4
