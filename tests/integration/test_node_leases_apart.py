"""A leader's lease work runs in a thread of its own. The event loop's shared threads
(`asyncio.to_thread`) carry the lines' slow work, and once carried the carrier's requests
too (a connect, a conference's leg: each waits up to its time-out; they have threads of
their own now, test_carrier_threads.py). Slow work that fills them all for seconds made
the renewals queued behind it come too late, and a leader that was well stopped (its
leases no longer trusted), for its standby to meet the same stall."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hotline.service.node import Node
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, leases
from hotline.web.node_app import NodeApp

from .live_fixtures import PUBLIC, sqlite_url

TTL = 3.0  # seconds a lease lasts: renewed every second, trusted for 2.4 s after each
STALLED = 64  # carrier requests stalled at once (more than the loop's shared threads)


def test_a_leader_renews_its_leases_while_the_loops_threads_are_all_stalled(
    tmp_path: Path,
) -> None:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    member = Leases(engine=engine, node="a", ttl=TTL)
    member.join()
    lost: list[str] = []
    node = Node(leases=member, groups=lambda: [("helpline",)], on_lost=lost.append)
    carrier = threading.Event()  # (set: the carrier answers again)

    async def stall(_request: Request) -> Response:
        """The line's connects, each waiting on a carrier that does not answer."""
        loop = asyncio.get_running_loop()
        for _ in range(STALLED):
            loop.run_in_executor(None, carrier.wait)
        return Response("<Response/>", media_type="application/xml")

    built = Starlette(routes=[Route("/voice/stall", stall, methods=["POST"])])
    app = NodeApp(node=node, build=lambda _group: built, public_url=PUBLIC, hold_for=0.3,
                  poll=0.05)  # fmt: skip
    with TestClient(app) as http:
        try:
            deadline = time.monotonic() + 30
            while not app.serving:
                assert time.monotonic() < deadline, "the node never led its group"
                time.sleep(0.02)
            began, _, _ = leases(engine)
            assert http.post("/voice/stall", data={"CallSid": "CA1"}).status_code == 200
            # renewed after the stall began: its lease runs out a lease's time after that
            deadline = time.monotonic() + 5 * TTL
            while not any(x.expires_at > began + TTL for x in leases(engine)[1]):
                assert time.monotonic() < deadline, "no renewal while the threads stalled"
                time.sleep(0.05)
            assert lost == []
        finally:  # (before the app stops: its loop waits for its threads as it closes)
            carrier.set()
    engine.dispose()
