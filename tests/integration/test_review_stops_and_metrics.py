"""Today's changes, the cases an independent review found: on PostgreSQL, a user disabled
while another person logs on must not deadlock on the access revision and the audit
chain; a node that stops keeps its leases renewed while its lines' last writes land; a
node's merged /metrics counters never go down when it hands a group over."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hotline.records.audit import LOCK_KEY
from hotline.service.accounts import Accounts, totp_code
from hotline.service.node import Node
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, database_now, leases
from hotline.web.node_app import NodeApp

from .live_fixtures import PUBLIC, FakeWall, keyring, sqlite_url
from .live_fixtures import pg_url as pg_url  # (a fixture)

PASSWORD = "correct horse battery staple"


def until(done: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_disabling_a_user_while_another_logs_on_does_not_deadlock(pg_url: str) -> None:
    """`change_user` (a user disabled) grew the access revision and then took the audit
    chain's lock; a log-on ending the person's older session took the audit chain's lock
    and then grew the access revision: the two in opposite orders. Both waiting for the
    chain (a third appender holding it a moment, as any audited change does), the log-on
    got it first and waited for the revision's row, which the disabling held: PostgreSQL
    found a deadlock and aborted one of them (the administrator's disable failed, or the
    agent could not log on)."""
    name = f"review_{time.monotonic_ns()}"
    url = f"{pg_url}&application_name={name}"
    engine = connect(url)
    migrate(engine)
    wall = FakeWall()
    accounts = Accounts(store=AccountStore(engine=engine), clock=wall, key=keyring())
    ana = accounts.add("ana", "agent", password=PASSWORD, agent_id="en-day-1")
    accounts.add("ben", "supervisor", password=PASSWORD)

    def log_on() -> None:
        wall.now += 30  # (a fresh TOTP step: each code is used once)
        accounts.log_on("ana", PASSWORD, totp_code(ana.totp_secret or "", wall()),
                        source="127.0.0.1")  # fmt: skip

    log_on()  # (ana's session: her next log-on ends it)

    def waiting_for_the_chain() -> int:
        with engine.connect() as c:
            return int(c.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"),
                {"name": name}).scalar_one())  # fmt: skip

    failed: list[BaseException] = []

    def run(work: Callable[[], object]) -> threading.Thread:
        def guarded() -> None:
            try:
                work()
            except BaseException as e:  # noqa: BLE001 - the test reports it
                failed.append(e)

        t = threading.Thread(target=guarded)
        t.start()
        return t

    holder = engine.connect()  # another audited change, appending to the chain a moment
    holding = holder.begin()
    holder.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    try:
        logging_on = run(log_on)
        until(lambda: waiting_for_the_chain() == 1, "the log-on waits for the chain")
        disabling = run(lambda: accounts.disable("ben"))
        until(lambda: waiting_for_the_chain() == 2, "the disable waits for the chain")
    finally:
        holding.commit()
        holder.close()
    logging_on.join(timeout=30)
    disabling.join(timeout=30)
    try:
        assert failed == []
        assert accounts.store.user("ben").disabled  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_a_node_that_stops_keeps_its_leases_while_its_lines_last_writes_land(
    tmp_path: Path,
) -> None:
    """A node stopping (the server's stop) stops each group's app, whose line waits for
    its carrier requests and then tries its waiting writes for up to 10 s each while the
    store is away: its leases must be renewed meanwhile (as a hand-over renews them), or
    they run out, a standby takes the lines over and recovers them from the store without
    those writes, and the writes that land after are fenced (the node found 'taken over').
    Here the group's app takes longer to stop than a lease lasts."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    leased = Leases(engine=engine, node="a", ttl=1.0)
    leased.join()
    lost: list[str] = []
    node = Node(leases=leased, groups=lambda: [("helpline",)], on_lost=lost.append)
    serving, stopping, stopped = threading.Event(), threading.Event(), threading.Event()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        serving.set()
        yield
        stopping.set()  # (its line's last tries: the store away a while)
        await asyncio.to_thread(stopped.wait, 60)

    app = NodeApp(node=node, build=lambda _group: Starlette(lifespan=lifespan),
                  public_url=PUBLIC)  # fmt: skip
    client = TestClient(app)
    client.__enter__()
    ending = threading.Thread(target=client.__exit__, args=(None, None, None))
    try:
        until(lambda: serving.is_set() and app.serving, "the node serves its group")
        ending.start()
        assert stopping.wait(timeout=30)

        def lease() -> tuple[float, float]:
            with engine.connect() as c:
                now = database_now(c)
            [held] = leases(engine)[1]
            return now, held.expires_at

        began = lease()[0]
        until(lambda: lease()[0] > began + 2 * leased.ttl, "two leases' time go by")
        now, expires = lease()
        assert expires > now, "the line's lease ran out while its app was still stopping"
        assert lost == []
    finally:
        stopped.set()
        ending.join(timeout=30)
        engine.dispose()


def test_a_nodes_counters_never_go_down_when_it_hands_a_group_over(tmp_path: Path) -> None:
    """A node serving two groups added their apps' counters into one scrape; when it
    handed one group over (a node joined that leads less than its share), that app's
    counts left the sum: the node's webhooks counter went down, which Prometheus takes for
    a restart (a counter reset). Each group's series is its own now (its `group` label):
    the group handed over takes its series with it, the other's never go down."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    leased = Leases(engine=engine, node="a", ttl=30.0)
    leased.join()
    node = Node(leases=leased, groups=lambda: [("national",), ("helpline",)],
                on_lost=lambda _why: None)  # fmt: skip
    counted: dict[tuple[str, ...], int] = {
        ("national",): 3,
        ("helpline",): 5,
    }  # each group's webhooks answered

    def built(group: tuple[str, ...]) -> Starlette:
        labels = f'group="{group[0]}",route="/voice/incoming",status="200"'

        async def scrape(_request: Request) -> Response:
            return Response(
                "# HELP hotline_webhooks_total Carrier webhooks answered.\n"
                "# TYPE hotline_webhooks_total counter\n"
                f"hotline_webhooks_total{{{labels}}} "
                f"{counted[group]}.0\n"
                "# HELP hotline_webhooks_created Carrier webhooks answered.\n"
                "# TYPE hotline_webhooks_created gauge\n"
                f"hotline_webhooks_created{{{labels}}} "
                "1.7e+09\n",
                media_type="text/plain; version=0.0.4; charset=utf-8",
            )

        return Starlette(routes=[Route("/metrics", scrape)])

    def webhooks(http: TestClient) -> dict[str, float] | None:
        """Each group's webhooks in a scrape (none while no group's app is built yet: the
        node's own scrape, its leases only); None when the node refused it (503: it leads
        a group whose app is still being built, and has none yet to ask)."""
        scraped = http.get("/metrics", headers={"Authorization": "Bearer scrape"})
        if scraped.status_code == 503:
            assert scraped.json()["error_id"] == "standby"
            return None
        assert scraped.status_code == 200, scraped.text
        families = text_string_to_metric_families(scraped.text)
        return {s.labels["group"]: s.value for f in families for s in f.samples
                if s.name == "hotline_webhooks_total"}  # fmt: skip

    # (with a token: scraped before either group's app is built, a node with no token
    # answers its leases-only scrape 404, metrics off)
    app = NodeApp(node=node, build=built, public_url=PUBLIC, metrics_token=SecretStr("scrape"))
    try:
        with TestClient(app) as http:
            until(lambda: len(node.led()) == 2, "it leads both groups")
            both = {"national": 3.0, "helpline": 5.0}
            until(lambda: webhooks(http) == both, "both groups' apps are served")
            Leases(engine=engine, node="b", ttl=30.0).join()  # (alive, leading nothing)
            until(lambda: len(node.led()) == 1, "a group is handed over")
            after = webhooks(http)  # (its app left before its lease: one is still served)
            assert after is not None
            [(kept, count)] = after.items()  # (the other's went with its group)
            assert count == both[kept]
    finally:
        engine.dispose()
