"""One node of several (service.node, web.node_app), on SQLite with a clock the test moves:
a node leads every line or none, trusts its leases only for a while after renewing them,
and as a standby forwards carrier webhooks to the leader as they came, or keeps the
caller when no node leads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hotline.errors import Fenced
from hotline.service.demo import free_ports
from hotline.service.node import Node
from hotline.service.unit_of_work import AppendEvent
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, leases
from hotline.store.repository import Store
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
    return Node(leases=leased, lines=lambda: lines, monotonic=clock, on_lost=lost.append)


def test_a_node_leads_every_line_or_none(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", LINES, clock, lost)
    b = node(engine, "b", LINES, clock, lost)
    assert b.leases.claim("victims") is not None  # b holds one line only
    assert not a.try_to_lead()  # a took "national", could not take "victims": lets go
    assert not a.leading()
    assert b.try_to_lead()  # "national" was let go: b takes it, and keeps "victims"
    assert b.led() == {"national": 2, "victims": 1}
    assert lost == []


def test_a_leader_trusts_its_leases_only_until_a_while_after_the_last_renewal(engine):
    clock, lost = Clock(), list[str]()
    a = node(engine, "a", LINES, clock, lost)
    assert a.try_to_lead()
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
    assert a.try_to_lead()
    b = node(engine, "b", LINES, clock, [])
    assert b.try_to_lead()
    a.renew()
    assert lost == ["another node took over national, victims"]
    assert b.led() == {"national": 2, "victims": 2}


def test_a_line_added_while_a_node_leads_is_led_by_it(engine):
    clock, lost, lines = Clock(), list[str](), ["national"]
    a = node(engine, "a", lines, clock, lost)
    assert a.try_to_lead()
    lines.append("victims")
    a.renew()
    assert a.led() == {"national": 1, "victims": 1}


class Echo:
    """A leader that says what reached it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, dict[str, str]]] = []
        port = free_ports(1)[0]
        self.address = f"http://127.0.0.1:{port}"

        async def hook(request: Request) -> Response:
            self.seen.append((str(request.url).removeprefix(self.address), await request.body(),
                              dict(request.headers)))  # fmt: skip
            return Response("<Response><Say>from the leader</Say></Response>",
                            media_type="application/xml")  # fmt: skip

        app = Starlette(routes=[Route("/voice/{rest:path}", hook, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="critical"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.stop()


def test_a_standby_forwards_webhooks_to_the_leader_or_keeps_the_caller(engine, echo):
    clock = Clock()
    leader = node(engine, "a", LINES, clock, [], address=echo.address)
    assert leader.try_to_lead()
    standby = node(engine, "b", LINES, clock, [])
    app = NodeApp(node=standby, build=lambda: None, public_url=PUBLIC)
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

            health = await client.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {"ready": False, "node": "b", "role": "standby",
                                     "leader": echo.address}  # fmt: skip
            api = await client.get("/api/agent/state")
            assert (api.status_code, api.json()["error_id"]) == (503, "standby")

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
