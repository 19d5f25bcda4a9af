"""A node's groups stop all at once at its end: each lands its writes and sends the
carrier requests it still has queued before the node's leases go, and one after another,
a carrier or a store that stalls would hold each group's stop in turn (up to a minute and
more each), past a supervisor's patience, and the groups stopped last would lose their
writes with the process. A group being handed over as the node ends is one of them: its
leases go with the others', once its stop is over, never while it still writes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from hotline.service.node import Node
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, leases
from hotline.web.node_app import NodeApp

from .live_fixtures import PUBLIC, sqlite_url
from .test_node_line_stopped import until

GROUPS = [("helpline",), ("youth",)]
PATIENCE = 10.0  # seconds a group's stop waits for the other's to begin


def test_a_nodes_groups_stop_together(tmp_path: Path) -> None:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    leased = Leases(engine=engine, node="a", ttl=5.0)
    leased.join()
    node = Node(leases=leased, groups=lambda: GROUPS, on_lost=lambda _why: None)
    stopping: dict[tuple[str, ...], asyncio.Event] = {}
    saw_the_other: dict[tuple[str, ...], bool] = {}

    def build(group: tuple[str, ...]) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            stopping[group] = asyncio.Event()
            yield
            stopping[group].set()  # this group's stop began (its carrier stalls) ...
            other = next(g for g in GROUPS if g != group)
            try:  # ... and it is over once the other's began too
                await asyncio.wait_for(stopping[other].wait(), PATIENCE)
                saw_the_other[group] = True
            except TimeoutError:
                saw_the_other[group] = False

        return Starlette(lifespan=lifespan)

    app = NodeApp(node=node, build=build, public_url=PUBLIC, hold_for=0.3, poll=0.05)
    with TestClient(app):
        until(lambda: len(stopping) == len(GROUPS), "the node serves both groups")
    assert saw_the_other == dict.fromkeys(GROUPS, True)
    engine.dispose()


LEFT_WITHIN = 3.0  # seconds the old code took far less than to let the node's leases go


def test_a_group_handed_over_as_the_node_ends_keeps_its_lease_until_its_stop_is_over(
    tmp_path: Path,
) -> None:
    """Node a leads both groups; b joins, so a hands one over; as that group's stop waits
    (its carrier stalls), a is told to end (SIGTERM). Its end used to stop the other group
    and let every lease go, the handed group's among them, while that group still stopped:
    its successor could take it before its last writes landed."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    a = Leases(engine=engine, node="a", ttl=5.0)
    a.join()
    node = Node(leases=a, groups=lambda: GROUPS, on_lost=lambda _why: None)
    began, gate = threading.Event(), threading.Event()
    handed: list[tuple[str, ...]] = []
    a_gone_as_it_stopped: list[bool] = []

    def a_gone() -> bool:
        return "a" not in {m.name for m in leases(engine)[2]}

    def build(group: tuple[str, ...]) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            yield
            if not handed:  # (the first to stop: the one handed over)
                handed.append(group)
                began.set()
                await asyncio.to_thread(gate.wait, 30)  # its carrier stalls
                a_gone_as_it_stopped.append(await asyncio.to_thread(a_gone))

        return Starlette(lifespan=lifespan)

    app = NodeApp(node=node, build=build, public_url=PUBLIC, hold_for=0.3, poll=0.05)

    def opens_the_gate() -> None:  # once a left, or (as it should) did not in a while
        deadline = time.monotonic() + LEFT_WITHIN
        while not a_gone() and time.monotonic() < deadline:
            time.sleep(0.05)
        gate.set()

    with TestClient(app):
        until(lambda: len(node.led()) == len(GROUPS), "a leads both groups")
        Leases(engine=engine, node="b", ttl=5.0).join()  # a now leads more than its share
        until(began.is_set, "a hands a group over")
        opener = threading.Thread(target=opens_the_gate)
        opener.start()
    opener.join()
    assert a_gone_as_it_stopped == [False]
    assert a_gone()  # (it left once every group had stopped)
    engine.dispose()
