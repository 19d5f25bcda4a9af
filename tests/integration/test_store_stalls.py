"""The store's one policy while it is down, locked or stalled: callers keep being served
from memory, the writes wait in order and land later, none lost and none twice.

Each test holds the database (a proxy that stops forwarding, a write lock held by another
process) for as long as it takes: if any webhook waited on it, the webhook would not be
answered before the test lets the database go."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from hotline.service.health import RETRY_MAX

from .live_fixtures import (
    LINE,
    PG,
    Live,
    call_form,
    gather_url,
    pg_url,  # noqa: F401 (a fixture)
    sqlite_url,
)
from .tcp_proxy import StallingProxy

CALLERS = [f"CA{n:032d}" for n in range(1, 6)]


def answered_while_held(work: Callable[[], object]) -> None:
    """Run `work` (webhooks) in a thread; it must finish while the database is held."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - handed to the test below
            failure.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=60)  # a bound, so a regression fails instead of hanging the suite
    assert not t.is_alive(), "webhooks waited for the held database"
    if failure:
        raise failure[0]


def call_in(live: Live, sid: str) -> list[str]:
    """A caller keeps English and is put in the queue; returns the TwiML bodies heard."""
    heard = [live.carrier.post("/voice/incoming", call_form(sid, From="+12025550143", To=LINE))]
    heard.append(live.carrier.post(gather_url(heard[-1].text), call_form(sid, Digits="1")))
    heard.append(live.carrier.post(gather_url(heard[-1].text), call_form(sid, Digits="2")))
    heard.append(live.carrier.post(gather_url(heard[-1].text), call_form(sid, Digits="2")))
    assert [r.status_code for r in heard] == [200, 200, 200, 200]
    assert "Please hold" in heard[-1].text  # (declined the callback offer: in the queue)
    return [r.text for r in heard]


def expected_events(live: Live) -> list[str]:
    live.line.writer.drain()  # (a webhook waits `commit_wait` for its commit, then answers)
    trace = live.events(CALLERS[0])
    assert trace[-1] == "CallQueued"
    return trace


@pytest.fixture
def proxied() -> Iterator[StallingProxy]:
    proxy = StallingProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


def test_a_stalled_postgresql_leaves_webhooks_answered_and_the_writes_land_in_order(
    proxied, request
):
    url = request.getfixturevalue("pg_url").replace("127.0.0.1:5432", f"127.0.0.1:{proxied.port}")
    assert url != PG
    live = Live(url, commit_wait=0.3)
    first = call_in(live, CALLERS[0])  # before the stall: its writes are in the store
    trace = expected_events(live)

    proxied.stall()
    heard: dict[str, list[str]] = {}

    def webhooks() -> None:
        for sid in CALLERS[1:]:
            heard[sid] = call_in(live, sid)
        health = live.http.get("/healthz")  # asks the database, gives up after 3 s
        assert health.status_code == 503
        assert health.json()["writes"]["waiting"] > 0

    try:
        answered_while_held(webhooks)
    finally:
        proxied.resume()
    assert all(h[-1] == first[-1].replace(CALLERS[0], sid) for sid, h in heard.items())
    live.line.writer.drain()  # (waits for the attempt the stall held, then the rest)
    assert live.line.writer.waiting() == 0
    for sid in CALLERS[1:]:
        assert live.events(sid) == trace  # each once, in order
        row = live.store.call(sid)
        assert row is not None
        assert row.state == "queued"
    assert live.http.get("/healthz").status_code == 200


def test_a_write_lock_held_by_another_process_leaves_webhooks_answered(tmp_path):
    url = sqlite_url(tmp_path)
    live = Live(url, commit_wait=0.3)
    call_in(live, CALLERS[0])
    trace = expected_events(live)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"c = sqlite3.connect({str(tmp_path / 'hotline.sqlite3')!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        answered_while_held(lambda: [call_in(live, sid) for sid in CALLERS[1:]])
        # all answered while the writer's first try still waits on the lock (SQLite's busy
        # timeout is 5 s; a webhook that waited on it would have been answered after that)
        assert live.line.writer.stuck()
        assert live.line.writer.waiting() > 0
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    live.wall.now += RETRY_MAX  # past the back-off of a store that said it was locked
    live.line.writer.drain()
    assert live.line.writer.waiting() == 0
    for sid in CALLERS[1:]:
        assert live.events(sid) == trace
