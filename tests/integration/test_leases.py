"""Leases with fencing, on SQLite and PostgreSQL: one node leads each line, a takeover
grows the epoch, and the writes of a node that lost its lease are refused, while the
writes under way when the successor takes over land before it reads the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hotline.errors import Fenced, NodeRefused
from hotline.service.unit_of_work import AddCall, AppendEvent
from hotline.store.db import connect, migrate
from hotline.store.leases import Fence, Leases, leases
from hotline.store.repository import Store, reads
from hotline.switchboard.records import CallRow

from .live_fixtures import (  # noqa: F401 (pg_url is a fixture)
    keyring,
    pg_url,
    sqlite_url,
    waiting_on_a_lock,
)
from .test_cli import run

MINUTE = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = connect(url)
    migrate(engine)
    yield engine
    engine.dispose()


def row(sid: str, line: str) -> CallRow:
    return CallRow(sid, line, "+12025550143", "+18005550100", "en", "en", 0, "queued", {},
                   None, 10.0)  # fmt: skip


def fenced_store(engine: Engine, node: Leases, *leased: object) -> Store:
    fence = Fence(node.instance)
    for lease in leased:
        fence.lead(lease)  # type: ignore[arg-type]
    return Store(engine=engine, key=keyring(), fence=fence)


def test_a_second_run_of_a_live_node_name_is_refused(engine):
    first = Leases(engine=engine, node="a", ttl=MINUTE)
    first.join()
    with pytest.raises(NodeRefused, match="a node named 'a' is running"):
        Leases(engine=engine, node="a", ttl=MINUTE).join()
    first.heartbeat()
    Leases(engine=engine, node="b", ttl=MINUTE).join()
    restarted = Leases(engine=engine, node="a", ttl=0.0)  # for it, the first is long silent
    restarted.join()
    with pytest.raises(NodeRefused, match="another run of node 'a' took its name"):
        first.heartbeat()
    _, _, members = leases(engine)
    assert [m.name for m in members] == ["a", "b"]


def test_two_nodes_claiming_every_line_at_once_lead_each_line_exactly_once(url):
    lines = [f"line-{i}" for i in range(12)]
    engines = [connect(url) for _ in range(2)]
    migrate(engines[0])
    nodes = [Leases(engine=e, node=f"n{i}", ttl=MINUTE) for i, e in enumerate(engines)]
    start = threading.Barrier(2)

    def claim_all(node: Leases) -> list[str]:
        start.wait()
        return [line for line in lines if node.claim(line) is not None]

    with ThreadPoolExecutor(2) as pool:
        won = list(pool.map(claim_all, nodes))
    assert sorted(won[0] + won[1]) == sorted(lines)  # each line once, none twice
    _, held, _ = leases(engines[0])
    assert {(lease.line, lease.epoch) for lease in held} == {(line, 1) for line in lines}
    assert {lease.line for lease in held if lease.node == "n0"} == set(won[0])
    for e in engines:
        e.dispose()


def test_a_takeover_grows_the_epoch_and_the_old_leaders_writes_are_refused(engine):
    old = Leases(engine=engine, node="a", ttl=0.0)  # its lease expires at once: a pause
    old.join()
    first = old.claim("national")
    assert first is not None
    assert first.epoch == 1
    again = old.claim("national")  # its own run, even expired: the same epoch
    assert again is not None
    assert again.epoch == 1
    new = Leases(engine=engine, node="b", ttl=MINUTE)
    new.join()
    taken = new.claim("national")
    assert taken is not None
    assert (taken.node, taken.epoch) == ("b", 2)
    assert old.renew_all([first]) == [None]  # the old leader learns it lost the line
    assert Leases(engine=engine, node="c", ttl=MINUTE).claim("national") is None  # b is live

    stale = fenced_store(engine, old, first)
    with pytest.raises(Fenced, match="no longer leads national"):
        stale.commit([AddCall(row("CAold", "national"), 11.0)])
    assert stale.call("CAold") is None
    current = fenced_store(engine, new, taken)
    current.commit([AddCall(row("CAnew", "national"), 11.0),
                    AppendEvent("CAnew", 11.0, "arrived", {}, "national")])  # fmt: skip
    assert current.call("CAnew") is not None
    with pytest.raises(Fenced, match="no longer leads victims"):  # a line it never led
        current.commit([AppendEvent("CAnew", 12.0, "note", {}, "victims")])
    assert new.renew_all([taken])[0] is not None


def test_a_node_that_leaves_hands_its_lines_over_at_once(engine):
    a = Leases(engine=engine, node="a", ttl=MINUTE)
    a.join()
    assert a.claim("national") is not None
    b = Leases(engine=engine, node="b", ttl=MINUTE)
    assert b.claim("national") is None
    a.leave()
    taken = b.claim("national")
    assert taken is not None
    assert taken.epoch == 2
    assert [m.name for m in leases(engine)[2]] == []


def test_a_takeover_waits_for_the_writes_under_way_and_refuses_those_after(pg_url):  # noqa: F811
    """PostgreSQL: the leader's write holds the lease row (FOR SHARE) until it commits,
    so the successor's claim waits for it, and reads a store that has it."""
    engine = connect(pg_url)
    migrate(engine)
    old = Leases(engine=engine, node="a", ttl=0.0)
    first = old.claim("national")
    assert first is not None
    fence = Fence(old.instance)
    fence.lead(first)
    claimer = connect(f"{pg_url}&application_name=lease-claimer")  # (its own name: no
    new = Leases(engine=claimer, node="b", ttl=MINUTE)  # other test's wait is counted)
    with ThreadPoolExecutor(1) as pool, engine.connect() as watcher:
        with engine.begin() as c:
            fence.check(c, {"national"}, reads(c))  # the old leader's unit of work, under way
            c.execute(text("INSERT INTO call_events (call_sid, at, kind, data) "
                           "VALUES ('CAx', 1, 'arrived', '{}')"))  # fmt: skip
            claim = pool.submit(new.claim, "national")
            assert waiting_on_a_lock(watcher, "lease-claimer", claim.done) == 1
            assert not claim.done()
        taken = claim.result(timeout=30)
    assert taken is not None
    assert taken.epoch == 2
    with engine.connect() as c:  # the write under way landed before the takeover
        assert c.execute(text("SELECT count(*) FROM call_events")).scalar_one() == 1
    with pytest.raises(Fenced):
        Store(engine=engine, fence=fence).commit([AppendEvent("CAx", 2.0, "x", {}, "national")])
    engine.dispose()


def test_hotline_nodes_lists_the_nodes_and_who_leads_each_line(engine, url):
    env = {"HOTLINE_DATABASE_URL": url, "COLUMNS": "200"}
    assert "No node is serving" in run("nodes", env=env).stdout
    a = Leases(engine=engine, node="node-a", address="http://127.0.0.1:8001", ttl=MINUTE)
    a.join()
    assert a.claim("national") is not None
    gone = Leases(engine=engine, node="node-b", ttl=0.0)
    assert gone.claim("victims") is not None
    listed = run("nodes", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("node-a" in x and "http://127.0.0.1:8001" in x for x in lines), listed.stdout
    national = next(x for x in lines if "national" in x)
    assert "node-a" in national
    assert " 1 " in national
    assert "left" in national
    assert "expired: free to take" in next(x for x in lines if "victims" in x)


def test_on_sqlite_too_a_takeover_waits_for_the_write_under_way(tmp_path):
    """(review) SQLite has no FOR SHARE: the fence takes the database's write lock before
    it reads, so the successor's claim waits until the old leader's unit of work is in."""
    url = sqlite_url(tmp_path)
    engine = connect(url)
    migrate(engine)
    old = Leases(engine=engine, node="a", ttl=0.0)
    first = old.claim("national")
    assert first is not None
    fence = Fence(old.instance)
    fence.lead(first)
    new = Leases(engine=connect(url), node="b", ttl=MINUTE)
    with ThreadPoolExecutor(1) as pool:
        with engine.begin() as c:
            fence.check(c, {"national"}, reads(c))
            claim = pool.submit(new.claim, "national")
            with pytest.raises(FutureTimeout):  # held off (SQLite waits up to 5 s)
                claim.result(timeout=1.0)
            c.execute(text("INSERT INTO call_events (call_sid, at, kind, data) "
                           "VALUES ('CAx', 1, 'arrived', '{}')"))  # fmt: skip
        taken = claim.result(timeout=30)
    assert taken is not None
    assert taken.epoch == 2
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM call_events")).scalar_one() == 1
    with pytest.raises(Fenced):
        Store(engine=engine, fence=fence).commit([AppendEvent("CAx", 2.0, "x", {}, "national")])
