"""A standby relays people's requests and websockets to the node that leads (web.node_app),
so a desktop or a wallboard reaches the line through any node: the same method, URL,
headers and body; the leader's answer as it gave it (status, cookies); a websocket's frames
both ways and its close code; who asked, signed, taken by the leader as the client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hotline.service.demo import free_ports
from hotline.service.node import Node
from hotline.store.db import connect as connect_store
from hotline.store.db import migrate
from hotline.store.leases import Leases
from hotline.web.node_app import CLIENT, NodeApp, relay_key

from .live_fixtures import sqlite_url
from .test_nodes import Served

PUBLIC = "https://hotline.example.org"
KEY = relay_key("a secret every node of the line has")


def the_line() -> Starlette:
    """A line that says what reached it."""

    async def echo(request: Request) -> Response:
        said = {"method": request.method, "path": request.url.path, "query": request.url.query,
                "body": (await request.body()).decode(), "cookie": request.headers.get("cookie"),
                "client": request.client.host if request.client else None,
                "forwarded": request.headers.get("x-hotline-forwarded")}  # fmt: skip
        r = JSONResponse(said, status_code=201 if request.method == "POST" else 200)
        r.set_cookie("session", "s1", httponly=True)
        r.set_cookie("csrf", "c1")
        return r

    async def refused(_request: Request) -> Response:
        return JSONResponse({"error_id": "forbidden", "message": "not yours"}, status_code=403)

    async def socket(ws: WebSocket) -> None:
        if ws.query_params.get("token") != "t1":
            await ws.close(code=4401)  # before accepting: the handshake is refused (403)
            return
        await ws.accept()
        await ws.send_text(json.dumps({"type": "hello", "cookie": ws.headers.get("cookie"),
                                       "origin": ws.headers.get("origin")}))  # fmt: skip
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close(code=4409, reason="taken over")
                return
            await ws.send_text(f"echo {text}")

    return Starlette(routes=[
        Route("/api/refused", refused),
        Route("/api/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        WebSocketRoute("/api/agent/ws", socket),
    ])  # fmt: skip


def node_app(
    engine: Engine, name: str, port: int, *, key: bytes | None = KEY,
    build: Callable[[], Starlette] = the_line, address: str | None = None,
    metrics_token: SecretStr | None = None,
) -> NodeApp:  # fmt: skip
    """`address`: where the other nodes reach it (its own port unless given)."""
    leased = Leases(engine=engine, node=name, address=address or f"http://127.0.0.1:{port}",
                    ttl=30.0)  # fmt: skip
    leased.join()
    member = Node(leases=leased, groups=lambda: [["national"]], on_lost=lambda _why: None)
    return NodeApp(node=member, build=lambda _group: build(), public_url=PUBLIC, relay_key=key,
                   metrics_token=metrics_token)  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect_store(sqlite_url(tmp_path))
    migrate(engine)
    yield engine
    engine.dispose()


class Pair:
    """Node a leading the line (built and served), node b standing by; both on loopback."""

    def __init__(
        self, engine: Engine, *, b_key: bytes | None = KEY,
        build: Callable[[], Starlette] = the_line,
    ) -> None:  # fmt: skip
        self.a_port, self.b_port = free_ports(2)
        self.a_app = node_app(engine, "a", self.a_port, build=build)
        self.a = Served(self.a_app, self.a_port)
        deadline = time.monotonic() + 30
        while not self.a_app.serving:
            assert time.monotonic() < deadline, "node a did not lead"
            time.sleep(0.05)
        self.b_app = node_app(engine, "b", self.b_port, key=b_key, build=build)
        self.b = Served(self.b_app, self.b_port)

    def stop(self) -> None:
        self.b.stop()
        self.a.stop()


@pytest.fixture
def pair(engine: Engine) -> Iterator[Pair]:
    p = Pair(engine)
    yield p
    p.stop()


def test_a_standby_relays_a_persons_requests_to_the_leader_as_they_came(pair):
    async def talk() -> None:
        transport = httpx.ASGITransport(app=pair.b_app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            r = await http.post("/api/agent/not-ready?reason=lunch", content=b'{"x": 1}',
                                headers={"Cookie": "hotline_session=abc",
                                         "Content-Type": "application/json"})  # fmt: skip
            assert r.status_code == 201
            assert r.json() == {"method": "POST", "path": "/api/agent/not-ready",
                                "query": "reason=lunch", "body": '{"x": 1}',
                                "cookie": "hotline_session=abc", "client": "203.0.113.9",
                                "forwarded": "b"}  # fmt: skip
            cookies = r.headers.get_list("set-cookie")
            assert [c.split(";")[0] for c in cookies] == ["session=s1", "csrf=c1"]
            assert "httponly" in cookies[0].lower()
            gone = await http.delete("/api/agent/session")
            assert (gone.status_code, gone.json()["method"]) == (200, "DELETE")
            refused = await http.get("/api/refused")  # the leader's refusal, as it gave it
            assert (refused.status_code, refused.json()["error_id"]) == (403, "forbidden")
            huge = await http.post("/api/agent/notes", content=b"x" * (5 * 1024 * 1024))
            assert (huge.status_code, huge.json()["error_id"]) == (413, "body-too-large")
            health = await http.get("/healthz")  # the node's own, not relayed
            assert (health.status_code, health.json()["role"]) == (503, "standby")
            again = await http.get("/api/agent/me", headers={"X-Hotline-Forwarded": "c"})
            assert (again.status_code, again.json()["error_id"]) == (503, "standby")
            assert again.headers["cache-control"] == "no-store"
            assert health.headers["cache-control"] == "no-store"

    asyncio.run(talk())


def test_the_leader_takes_who_asked_only_when_a_node_signed_it(engine):
    p = Pair(engine, b_key=relay_key("another key"))
    try:

        async def talk() -> None:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{p.a_port}") as http:
                forged = await http.get("/api/x", headers={CLIENT: "198.51.100.7 00ff"})
                assert forged.json()["client"] == "127.0.0.1"  # the connection's own
            transport = httpx.ASGITransport(app=p.b_app, client=("203.0.113.9", 40000))
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
                wrong = await http.get("/api/x")  # b signs with a key a does not have
                assert (wrong.json()["client"], wrong.json()["forwarded"]) == ("127.0.0.1", "b")

        asyncio.run(talk())
    finally:
        p.stop()


def test_a_standby_relays_a_websocket_both_ways_with_its_close(pair):
    url = f"ws://127.0.0.1:{pair.b_port}/api/agent/ws"

    async def talk() -> None:
        async with connect(f"{url}?token=t1", origin=PUBLIC,  # type: ignore[arg-type]
                           additional_headers={"Cookie": "hotline_session=abc"},
                           proxy=None) as ws:  # fmt: skip
            hello = json.loads(await ws.recv())
            assert hello == {"type": "hello", "cookie": "hotline_session=abc", "origin": PUBLIC}
            await ws.send("ready")
            assert await ws.recv() == "echo ready"
            await ws.send("bye")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert (ws.close_code, ws.close_reason) == (4409, "taken over")
        with pytest.raises(InvalidStatus) as refused:  # refused by the leader: refused here
            async with connect(f"{url}?token=wrong", proxy=None):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(talk())


def test_a_relayed_websocket_whose_leader_stops_is_closed_to_be_opened_again(pair):
    url = f"ws://127.0.0.1:{pair.b_port}/api/agent/ws?token=t1"

    async def talk() -> None:
        async with connect(url, proxy=None) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await asyncio.to_thread(pair.a.stop)  # the leader goes (its lease stays a while)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1012  # the leader's own (service restart), passed on
        pair.a_app.node.leases.leave()  # no node leads: refused at once, to try again
        async with connect(url, proxy=None) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1013

    asyncio.run(talk())
