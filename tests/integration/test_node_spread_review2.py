"""Lines spread over nodes, cases a second review found: which lines the nodes lead, and
a group handed over, must not hang on a moment of the database's; a line no node leads
can still be changed by its administrators, through any node."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hotline.errors import StoreUnavailable
from hotline.service.lines import import_line
from hotline.service.node import Node
from hotline.service.spread import Layout, Placement
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases
from hotline.store.repository import Store

from .live_fixtures import LINE, VICTIMS, sqlite_url
from .test_node_spread import HELPLINE, NATIONAL, two_lines_apart
from .test_node_spread_review import FLOW, YOUTH, YOUTH_NUMBER, Alone, group_app, youth_line


class Blip(Store):
    """The store, whose database fails one read of a flow (a restart, a failover, a
    connection cut), as a database sometimes does; then answers again."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blips = 1

    def flow_source(self, flow: str, version: int) -> str | None:
        if self.blips:
            self.blips -= 1
            raise StoreUnavailable("the database failed: connection reset")
        return super().flow_source(flow, version)


def test_a_moment_the_database_fails_does_not_leave_a_line_unled_for_good(tmp_path):
    """The lines nodes lead are read again only when the lines change; a line whose flow
    could not be read at that moment (the database away) was taken for one that cannot
    be served, and so stayed (no node led it, its callers were refused as callers of a
    number no line has) until someone imported a line again."""
    settings = two_lines_apart(tmp_path)
    store = Blip(engine=connect(settings.database_url), key=settings.keyring())
    try:
        layout = Layout(store=store, home=LINE)
        placement = Placement(store=store, accounts=AccountStore(engine=store.engine),
                              home=LINE, layout=layout)  # fmt: skip
        with pytest.raises(StoreUnavailable):  # (the round that asked fails, and says why)
            layout.groups()
        assert layout.groups() == [(NATIONAL,), (HELPLINE,)]
        assert placement.webhook(None, VICTIMS) == HELPLINE
    finally:
        store.engine.dispose()


def test_an_admins_change_to_a_line_no_node_leads_reaches_a_node(tmp_path):
    """A line that cannot be served is led by no node; an administrator's request about
    it (its mode, a queue, a flow version to make it servable again) was placed on that
    line, so every node answered 503 'standby' to it, for good. It goes to the home line's
    node, whose app changes any line in the store (as one server's does)."""
    settings = two_lines_apart(tmp_path)  # (two groups: each request is placed)
    a = Alone(settings, group_app)
    try:
        import_line(a.store, _flowless(tmp_path), number=YOUTH_NUMBER,
                    timezone="America/New_York")  # fmt: skip
        a.until(lambda: len(a.node.led()) == 2 and a.call(VICTIMS) == HELPLINE, "both served")
        asked = a.http.post("/api/admin/lines/Night%20line/flows", json={"text": "..."})
        assert asked.json() == {"group": [NATIONAL]}  # (the home line's app has it)
    finally:
        a.stop()


def _flowless(folder: Path) -> Path:
    """A line of counsellors of its own, with no flow (it cannot be served)."""
    path = folder / "night.yaml"
    text = youth_line(folder, sharing=False).read_text()
    path.write_text(text.replace(f"name: {YOUTH}", "name: Night line")
                    .replace(f", flow: {FLOW}}}", "}"))  # fmt: skip
    return path


class Cut(Leases):
    """A node's leases, whose database fails once as the node lets some go."""

    def leave_lines(self, lines: list[str]) -> None:
        raise StoreUnavailable("the database failed: connection reset")


def test_a_group_handed_over_as_the_database_fails_is_not_kept_for_good(tmp_path):
    """A node hands a group over once its app has stopped; if the database failed as it
    let the group's leases go, the node kept leading it, renewing its leases with its
    others, with no app to serve it: its callers were held, then kept in redirects, and no
    other node could take it, until the node stopped. Not renewed from then on, they run
    out and the node that leads less takes the group."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    found: list[tuple[str, ...]] = [("national",), ("victims",)]
    lost: list[str] = []
    cut = Cut(engine=engine, node="a", ttl=1.0)
    cut.join()
    a = Node(leases=cut, groups=lambda: found, on_lost=lost.append)
    try:
        assert a.claim() == found  # (alone: both)
        b_leases = Leases(engine=engine, node="b", ttl=1.0)
        b_leases.join()
        b = Node(leases=b_leases, groups=lambda: found, on_lost=lost.append)
        assert b.claim() == []  # (no group free)
        a.claim()
        assert a.handing == ("victims",)
        a.hand_over(a.handing)  # (its app has stopped)
        assert a.led() == {"national": 1}
        deadline = time.monotonic() + 30
        while b.led() != {"victims": 2}:
            assert time.monotonic() < deadline, "b did not take the group handed over"
            a.renew()
            b.claim()
            time.sleep(0.05)  # (a standby's rounds: the lease runs out on the database's clock)
        assert lost == []
    finally:
        engine.dispose()


def test_a_node_serving_two_groups_is_ready_only_if_both_are(tmp_path):
    """Its /healthz was its first group's alone: a group whose writes did not land (its
    health 503) went unseen while the other's was fine."""
    healthy = {NATIONAL: True, HELPLINE: False}

    def build(group: tuple[str, ...]) -> Starlette:
        async def health(_request: Request) -> Response:
            ready = all(healthy[line] for line in group)
            said = {"ready": ready, "lines": [{"name": x} for x in group], "node": {"name": "a"}}
            return JSONResponse(said, status_code=200 if ready else 503)

        return Starlette(routes=[Route("/healthz", health)])

    a = Alone(two_lines_apart(tmp_path), build)
    try:
        a.until(lambda: a.http.get("/healthz").json().get("lines", [{}])[-1:]
                == [{"name": HELPLINE}], "a to serve both groups")  # fmt: skip
        r = a.http.get("/healthz")
        assert r.status_code == 503
        assert r.json()["ready"] is False
        assert [x["name"] for x in r.json()["lines"]] == [NATIONAL, HELPLINE]
        assert [g["ready"] for g in r.json()["groups"]] == [True, False]
        healthy[HELPLINE] = True
        assert a.http.get("/healthz").status_code == 200
    finally:
        a.stop()
