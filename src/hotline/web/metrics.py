"""`GET /metrics` in the Prometheus text format, for the operator's monitoring: carrier
webhooks by route and status with their latency (labelled with the app's `group`: the
first line of the group of lines it serves), calls ended by line and outcome, callers
waiting and agents by state per line (read when scraped), and the lines this node leads
with their lease epochs (an epoch that grows is a takeover; a standby answers with
those alone: none). Prometheus authenticates
with a bearer token (HOTLINE_METRICS_TOKEN); without one set, /metrics is off (404).
Each app has a registry of its own: nothing is global. A node serving several groups of
lines (an app each) answers with their metrics in one scrape (`merged`); a group handed
to another node takes its series with it (they end here, and start there from zero,
labelled alike), so no counter here ever goes down."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator, Mapping, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline.domain.events import CallAbandoned, CallCompleted, CallOverflowed
from hotline.service.hub import Published
from hotline.switchboard.events import NotRecovered
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ENDED = {CallCompleted: "completed", CallAbandoned: "abandoned", CallOverflowed: "overflowed"}
# (a line's own events, by kind: a call a start could not rebuild, and closed)
ENDED_ON_A_LINE = {NotRecovered.kind: "not-recovered"}


class Metrics:
    def __init__(self, rt: LineRuntime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.group = min(rt.line.setups)  # (the group's first line: a line is in one group)
        self.webhooks = Counter("hotline_webhooks", "Carrier webhooks answered, by group "
                                "of lines, route and HTTP status.", ["group", "route", "status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram("hotline_webhook_duration_seconds", "Time to answer a "
                                 "carrier webhook, by group of lines and route.",
                                 ["group", "route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          15), registry=self.registry)  # fmt: skip
        self.ended = Counter("hotline_calls_ended", "Calls that ended, by line and outcome.",
                             ["line", "outcome"], registry=self.registry)  # fmt: skip
        self.registry.register(_Now(rt))
        rt.hub.subscribe(self._seen)

    def _seen(self, p: Published) -> None:
        news = p.news
        if news.event is None:
            outcome = ENDED_ON_A_LINE.get(news.kind)
        else:
            outcome = ENDED.get(type(news.event))
        if outcome is not None:
            self.ended.labels(news.line, outcome).inc()


class TimeWebhooks:
    """ASGI middleware: each carrier webhook (a route of /voice) timed until its response
    starts, and counted by route and status; anything else passes untouched. (Plain ASGI:
    Starlette's `BaseHTTPMiddleware` runs every request in a task group of its own, with
    memory streams between it and the app, which costs more than a webhook's own work.)"""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/voice/"):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        started = False

        def count(status: int) -> None:
            route = getattr(scope.get("route"), "path", "/voice/(unknown)")
            m = self.metrics
            m.latency.labels(m.group, route).observe(time.perf_counter() - began)
            m.webhooks.labels(m.group, route, str(status)).inc()

        async def timed(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed)
        except Exception:  # a bug: the framework's last resort answers 500, outside us
            if not started:
                count(500)
            raise


class _Now(Collector):
    """What is so as the scrape asks: callers waiting, agents by state, leases led."""

    def __init__(self, rt: LineRuntime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily("hotline_callers_waiting", "Callers waiting in a "
                                    "queue now.", labels=["line", "queue"])  # fmt: skip
        agents = GaugeMetricFamily("hotline_agents", "Agents signed in, by state.",
                                   labels=["line", "state"])  # fmt: skip
        for line in sorted(self.rt.line.boards):
            now = self.rt.line.right_now(line)
            for queue, q in now["queues"].items():  # type: ignore[attr-defined]
                waiting.add_metric([line, queue], q["waiting"])
            for state, n in now["agents"].items():  # type: ignore[attr-defined]
                agents.add_metric([line, state], n)
        yield waiting
        yield agents
        if self.rt.node is not None:
            yield lease_epochs(dict(self.rt.node().get("leads") or {}))


def lease_epochs(leads: Mapping[str, int]) -> GaugeMetricFamily:
    """The epoch of each line's lease this node holds, by line (none on a standby)."""
    family = GaugeMetricFamily("hotline_lease_epoch", "The epoch of each line's lease this "
                               "node holds (it grows at every takeover).",
                               labels=["line"])  # fmt: skip
    for line, epoch in leads.items():
        family.add_metric([line], epoch)
    return family


def check_token(token: SecretStr | None, request: Request) -> None:
    """Refused unless the request sends `token` as its bearer token (404 with none set)."""
    if token is None:
        raise Refused(404, "metrics-off", "metrics are off: set HOTLINE_METRICS_TOKEN "
                      "and send it as a bearer token")  # fmt: skip
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
    if not hmac.compare_digest(sent, token.get_secret_value().encode()):
        raise Refused(401, "bad-token", "send HOTLINE_METRICS_TOKEN as a bearer token")


def leases_only(leads: Mapping[str, int]) -> bytes:
    """The scrape of a node that serves no line here (a standby, or one whose lines' app
    is still being built): the leases it holds, none on a standby."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Said([lease_epochs(leads)]))
    return generate_latest(registry)


def metrics_router(rt: LineRuntime, metrics: Metrics) -> APIRouter:
    router = APIRouter(responses=responses(401, 404))
    token = rt.settings.metrics_token

    @router.get("/metrics", response_class=Response)
    async def scrape(request: Request) -> Response:
        """The server's metrics (Prometheus text format); send HOTLINE_METRICS_TOKEN as
        `Authorization: Bearer ...`."""
        check_token(token, request)
        async with rt.lock:  # the line's state, read between commands
            body = generate_latest(metrics.registry)
        return Response(body, media_type=CONTENT_TYPE)

    return router


def merged(said: Sequence[bytes]) -> bytes:
    """The metrics of a node's apps (one per group of lines it serves) as one scrape. Their
    series are each app's own (the webhooks' by the app's `group`, the rest by line), but
    for the lease epochs, which each app reads from the node: a series said by more than
    one app is said once."""
    out: dict[str, Metric] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for text in said:
        for family in text_string_to_metric_families(text.decode()):
            kept = out.setdefault(family.name, Metric(family.name, family.documentation,
                                                      family.type))  # fmt: skip
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in seen:
                    seen.add(key)
                    kept.samples.append(sample)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Said(list(out.values())))
    return generate_latest(registry)


class _Said(Collector):
    """Metrics already gathered."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
