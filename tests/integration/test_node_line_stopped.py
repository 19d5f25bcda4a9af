"""A webhook that reaches a group's app after its line stopped there (the group handed
over, or the node stopping, while the request waited) is refused by the line, 503
`line-stopped`, before anything is done. A 5xx in the middle of a call ends it at a
Twilio-compatible carrier (the fallback URL is tried for a call's first request only), so
the node never passes that answer on: the webhook goes on as one for a line this node does
not lead (sent to its leader, or the caller kept on hold and asked again)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hotline.errors import LineStopped
from hotline.service.node import Node
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases
from hotline.web.node_app import NodeApp

from .live_fixtures import PUBLIC, sqlite_url

GATHERED = "/voice/gather?call=CA1&step=3"


def until(done: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def node_serving(tmp_path: Path, answer: Response) -> tuple[NodeApp, list[bytes]]:
    """A node that leads one group, whose app answers every webhook with `answer`."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    leased = Leases(engine=engine, node="a", ttl=5.0)
    leased.join()
    node = Node(leases=leased, groups=lambda: [("helpline",)], on_lost=lambda _why: None)
    asked: list[bytes] = []

    async def webhook(request: Request) -> Response:
        asked.append(await request.body())
        return answer

    built = Starlette(routes=[Route("/voice/{step:path}", webhook, methods=["POST"])])
    return NodeApp(node=node, build=lambda _group: built, public_url=PUBLIC, hold_for=0.3,
                   poll=0.05), asked  # fmt: skip


def test_a_webhook_its_line_refuses_as_stopped_keeps_the_caller_rather_than_a_503(
    tmp_path: Path,
) -> None:
    stopped = JSONResponse({"error_id": LineStopped.error_id, "message": "stopped"}, 503)
    app, asked = node_serving(tmp_path, stopped)
    with TestClient(app) as http:
        until(lambda: app.serving, "the node serves its group")
        r = http.post(GATHERED, data={"Digits": "1"})
    assert r.status_code == 200  # (a 503 here would end the caller's call)
    assert "<Pause" in r.text
    assert f'<Redirect method="POST">{PUBLIC}' in r.text
    assert r.text.count("step=3") == 1  # asked again, the same request
    assert asked
    assert all(body == b"Digits=1" for body in asked)  # (its body each time)


def test_any_other_answer_of_the_line_is_passed_on_as_it_came(tmp_path: Path) -> None:
    down = JSONResponse({"error_id": "store-unavailable", "message": "later"}, 503)
    app, asked = node_serving(tmp_path, down)
    with TestClient(app) as http:
        until(lambda: app.serving, "the node serves its group")
        r = http.post(GATHERED, data={"Digits": "1"})
    assert r.status_code == 503
    assert r.json()["error_id"] == "store-unavailable"
    assert asked == [b"Digits=1"]  # asked once: nothing held or asked again
