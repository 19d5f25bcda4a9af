"""The standby's relay (web.node_app), at its edges: what a person sends through a standby
reaches the leader as it came (its target byte for byte), the leader's answer comes back
as it gave it (HEAD's length, one Date), nothing a person sends makes a node answer 500,
and a leader that took a request but answers late is not said to be missing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from hotline.service.demo import free_ports
from hotline.store.db import connect as connect_store
from hotline.store.db import migrate
from hotline.web.node_app import CLIENT, relay_key

from .live_fixtures import sqlite_url
from .test_node_relay import Pair, node_app
from .test_nodes import Served

PUBLIC = "https://hotline.example.org"
KEY = relay_key("a secret every node of the line has")
SLOW_REACHED = threading.Event()
SLOW_RELEASED = threading.Event()


def the_line() -> Starlette:
    """A line that says, byte for byte, which target reached it."""

    async def echo(request: Request) -> Response:
        scope = request.scope
        return JSONResponse({
            "method": request.method, "path": scope["path"],
            "raw_path": scope.get("raw_path", b"").decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "client": request.client.host if request.client else None,
        })  # fmt: skip

    async def slow(_request: Request) -> Response:
        SLOW_REACHED.set()  # the leader acts on it (a note saved, a call taken) ...
        await asyncio.to_thread(SLOW_RELEASED.wait, 60)  # ... and answers once told to
        return JSONResponse({"done": True}, status_code=201)

    async def file(_request: Request) -> Response:
        return Response(b"x" * 1234, media_type="text/plain")  # (GET and HEAD)

    async def socket_echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({"path": ws.scope["path"], "cookie": ws.headers.get("cookie")})
        await ws.close(code=1000)

    return Starlette(routes=[Route("/static/app.js", file),
                             Route("/api/slow", slow, methods=["POST"]),
                             WebSocketRoute("/ws/{rest:path}", socket_echo),
                             Route("/{rest:path}", echo, methods=["GET", "POST"])])  # fmt: skip


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    engine = connect_store(sqlite_url(tmp_path))
    migrate(engine)
    p = Pair(engine, build=the_line)
    yield p
    p.stop()
    engine.dispose()


def raw(port: int, request: bytes) -> bytes:
    """One request as bytes on a connection of its own, and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got


def asked(port: int, target: str) -> dict[str, Any]:
    r = httpx.get(f"http://127.0.0.1:{port}{target}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def status_line(answer: bytes) -> bytes:
    return answer.split(b"\r\n", 1)[0]


def header_names(answer: bytes) -> list[bytes]:
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return [line.split(b":", 1)[0].strip().lower() for line in head]


def header(answer: bytes, name: bytes) -> list[bytes]:
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    pairs = [line.split(b":", 1) for line in head]
    return [v.strip() for k, v in pairs if k.strip().lower() == name]


# -- the target: relayed as it was sent


@pytest.mark.parametrize("target", ["/public/..%2Fadmin/x", "/api/x?q=%FF+a%3F%23&q=2"])
def test_a_relayed_request_reaches_the_leader_at_the_target_it_was_sent_to(pair, target):
    """An encoded slash is data, not a separator: the standby relays the decoded path and
    httpx then removes the dot segments that made, so '/public/..%2Fadmin/x' reaches the
    leader as '/admin/x', a resource the leader itself never serves for that target (a
    front's rule on a path prefix is walked around through any standby)."""
    direct = asked(pair.a_port, target)
    relayed = asked(pair.b_port, target)
    assert (relayed["path"], relayed["raw_path"]) == (direct["path"], direct["raw_path"])


def test_who_asked_a_request_with_an_encoded_slash_is_still_taken_by_the_leader(pair):
    """The standby signs the path it decoded, the leader checks the one it got: when the
    relay changed it, the person's address is lost (the leader sees the node's)."""

    async def talk() -> str:
        transport = httpx.ASGITransport(app=pair.b_app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            r = await http.get("/public/..%2Fadmin/x")
            assert r.status_code == 200
            return str(r.json()["client"])

    assert asyncio.run(talk()) == "203.0.113.9"


# -- nothing a person sends makes a node answer 500


def test_a_header_with_a_byte_beyond_ascii_is_relayed_not_answered_500(pair):
    """HTTP allows obs-text (bytes 0x80-0xFF) in a field value and the leader takes it
    (200); through a standby httpx refuses to encode the latin-1 string (UnicodeEncodeError,
    not an httpx.HTTPError) and the person gets a bare 500."""
    request = (b"GET /api/x HTTP/1.1\r\nHost: hotline.example.org\r\n"
               b"Cookie: note=caf\xe9\r\nConnection: close\r\n\r\n")  # fmt: skip
    assert status_line(raw(pair.a_port, request)) == b"HTTP/1.1 200 OK"
    assert status_line(raw(pair.b_port, request)) == b"HTTP/1.1 200 OK"


def test_a_malformed_client_header_sent_to_the_leader_is_ignored_not_answered_500(pair):
    """Anyone who reaches the leader (the front sends people there) can send the header;
    a byte beyond ASCII in its signature makes hmac.compare_digest raise TypeError, so
    every such request, webhooks included, is a 500 with a stack trace in the log,
    instead of a request taken as the connection's own (as a wrong signature is)."""
    request = (b"GET /api/x HTTP/1.1\r\nHost: hotline.example.org\r\n" + CLIENT.encode()
               + b": 198.51.100.7 \xe9\r\nConnection: close\r\n\r\n")  # fmt: skip
    answer = raw(pair.a_port, request)
    assert status_line(answer) == b"HTTP/1.1 200 OK"
    assert b'"client":"127.0.0.1"' in answer


# -- the leader's answer, as it gave it


def test_a_relayed_head_says_the_length_the_leader_said(pair):
    """HEAD's answer has no body but says the GET's length; the relay sets Content-Length
    from the (empty) body it got, so a HEAD through a standby says 0."""
    request = (b"HEAD /static/app.js HTTP/1.1\r\nHost: hotline.example.org\r\n"
               b"Connection: close\r\n\r\n")  # fmt: skip
    assert header(raw(pair.a_port, request), b"content-length") == [b"1234"]
    assert header(raw(pair.b_port, request), b"content-length") == [b"1234"]


def test_a_relayed_answer_has_one_date_and_one_server_field(pair):
    """The leader's Date and Server are copied and the standby's server adds its own:
    two Date fields (a singleton, RFC 9110 6.6.1) in every relayed answer."""
    request = b"GET /api/x HTTP/1.1\r\nHost: hotline.example.org\r\nConnection: close\r\n\r\n"
    names = header_names(raw(pair.b_port, request))
    assert (names.count(b"date"), names.count(b"server")) == (1, 1)


# -- a leader that answers slowly


def test_a_leader_that_answers_slowly_is_not_said_to_be_missing(tmp_path, monkeypatch):
    """A relayed request the leader took and is still serving when the relay's timeout
    ends gets the 'standby: try again' answer meant for 'no node leads'; the person is
    told to send again a request the leader acted on (a second note, a second take).
    A gateway timeout (504) says what happened."""
    import hotline.web.node_app as node_app_module

    monkeypatch.setattr(node_app_module, "FORWARD_TIMEOUT", 1.0)  # (10 s in service)
    SLOW_REACHED.clear()
    SLOW_RELEASED.clear()
    engine = connect_store(sqlite_url(tmp_path))
    migrate(engine)
    p = Pair(engine, build=the_line)
    try:
        r = httpx.post(f"http://127.0.0.1:{p.b_port}/api/slow", content=b"{}", timeout=30)
        assert SLOW_REACHED.is_set()  # the leader got it and acted on it
        assert r.json().get("error_id") != "standby"
        assert r.status_code == 504
    finally:
        SLOW_RELEASED.set()
        p.stop()
        engine.dispose()


# -- a leader lost with the request


def test_a_leader_lost_with_the_request_is_said_to_be_so_not_to_be_missing(tmp_path):
    """The leader took the whole request and its connection ended without an answer (the
    node died as it acted): it may have acted, so the person is told so (502), never the
    'standby: try again' meant for a request no node had (which the pages send again)."""
    listener = socket.create_server(("127.0.0.1", 0))
    took = threading.Event()

    def take_and_drop() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            got = b""
            while b"\r\n\r\n" not in got:
                got += conn.recv(65536)
            took.set()  # (closed with no answer)

    threading.Thread(target=take_and_drop, daemon=True).start()
    engine = connect_store(sqlite_url(tmp_path))
    migrate(engine)
    a_port, b_port = free_ports(2)
    lost = f"http://127.0.0.1:{listener.getsockname()[1]}"
    a_app = node_app(engine, "a", a_port, address=lost)  # (reached there by the others)
    a = Served(a_app, a_port)
    try:
        deadline = time.monotonic() + 30
        while not a_app.serving:
            assert time.monotonic() < deadline, "node a did not lead"
            time.sleep(0.05)
        b = Served(node_app(engine, "b", b_port), b_port)
        try:
            r = httpx.post(f"http://127.0.0.1:{b_port}/api/agent/ready", content=b"{}",
                           timeout=30)  # fmt: skip
        finally:
            b.stop()
    finally:
        a.stop()
        listener.close()
        engine.dispose()
    assert took.is_set()
    assert (r.status_code, r.json()["error_id"]) == (502, "leader-lost")
