"""/metrics of a node that serves several groups of lines (an app each) is the node's:
every group's webhooks and lines in one scrape (it was its first group's alone); a standby
answers its scrape too (200: it is up), with the leases it holds, none."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from hotline.service.bootstrap import build_line
from hotline.store.db import connect, migrate
from hotline.testing.control import RecordingCallControl
from hotline.web.app import create_app

from .live_fixtures import LINE, VICTIMS, Carrier, call_form, sqlite_url
from .test_metrics import TOKEN, samples
from .test_node_relay import node_app
from .test_node_spread import HELPLINE, NATIONAL, PUBLIC, sid, two_lines_apart
from .test_node_spread_review import Alone


def test_a_node_serving_two_groups_reports_both_in_one_scrape(tmp_path: Path) -> None:
    settings = two_lines_apart(tmp_path).model_copy(
        update={"metrics_token": SecretStr(TOKEN), "public_url": PUBLIC})  # fmt: skip
    nodes: list[Alone] = []
    made = threading.Event()  # (the node serves, and so builds, as it is made)

    def build(group: tuple[str, ...]) -> object:  # (as `hotline serve --node` builds one)
        assert made.wait(timeout=30)
        node = nodes[0].node
        parts = build_line(settings, control=RecordingCallControl(), fence=node.fence,
                           serves=lambda line: node.served_in().get(line) == group)  # fmt: skip
        return create_app(settings=settings, line=parts.line, control=RecordingCallControl(),
                          node=lambda: {"name": "a", "leads": node.led()})  # fmt: skip

    nodes.append(Alone(settings, build))
    made.set()
    a = nodes[0]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        a.until(lambda: a.http.get("/healthz").json().get("groups", [])[1:], "both groups")
        carrier = Carrier(a.http, PUBLIC)
        for n, number in ((1, LINE), (2, VICTIMS), (3, VICTIMS)):
            form = call_form(sid(n), From=f"+1202555014{n}", To=number)
            assert carrier.post("/voice/incoming", form).status_code == 200
        r = a.http.get("/metrics", headers=bearer)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        got = samples(r.text)
        for group, count in ((NATIONAL, 1), (HELPLINE, 2)):  # (each group's own)
            at = (("group", group), ("route", "/voice/incoming"))
            assert got[("hotline_webhooks_total", (*at, ("status", "200")))] == count
            assert got[("hotline_webhook_duration_seconds_count", at)] == count
        epochs = {dict(labels)["line"] for name, labels in got if name == "hotline_lease_epoch"}
        assert epochs == {NATIONAL, HELPLINE}
        agents = {dict(labels)["line"] for name, labels in got if name == "hotline_agents"}
        assert agents == {NATIONAL, HELPLINE}  # (each group's lines, from its own app)
        wrong = a.http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["error_id"]) == (401, "bad-token")
    finally:
        a.stop()


def test_a_standby_answers_a_scrape_with_the_leases_it_holds_none(tmp_path: Path) -> None:
    """A node that leads no line (its lifespan not run: it never claims one) answers 200,
    so Prometheus's `up` tells it from a node that is down; the token is checked as on a
    leader, and /metrics is off without one."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)

    async def scrape(name: str, token: SecretStr | None, sent: str) -> httpx.Response:
        app = node_app(engine, name, 0, metrics_token=token)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return await http.get("/metrics", headers={"Authorization": f"Bearer {sent}"})

    try:
        r = asyncio.run(scrape("b", SecretStr(TOKEN), TOKEN))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        assert list(families) == ["hotline_lease_epoch"]
        assert families["hotline_lease_epoch"].samples == []
        wrong = asyncio.run(scrape("c", SecretStr(TOKEN), "nope"))
        assert (wrong.status_code, wrong.json()["error_id"]) == (401, "bad-token")
        off = asyncio.run(scrape("d", None, TOKEN))
        assert (off.status_code, off.json()["error_id"]) == (404, "metrics-off")
    finally:
        engine.dispose()
