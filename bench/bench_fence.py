"""A node's fenced unit of work on PostgreSQL: its BEGIN and lease read sent together.

A node (`hotline serve --node`) checks its lease in every write transaction: the lease
rows are read FOR SHARE before the writes, and the writes are refused if an epoch is
stale. Since 919cf2c the BEGIN and that read go in one round trip, then the writes and
COMMIT in a second; before, BEGIN was a round trip of its own (three in all). This bench
times `Store.commit` of the same units both ways, in the same process and database,
interleaved in blocks: "before" is the earlier `pipelined` (kept below, as it was, and
put in place of the current one for its blocks), "now" is the store as it is.

Workload: `--units` units per side (default 2,000), each the bench's average unit on the
live line (an event appended, the call's row updated, a reply kept, an agent's state
saved, for a call added first: 5 statements), with one lease fenced. Two conditions:
the writer alone, and with a thread of this process spinning in Python (as the live
line's event loop keeps the GIL busy): there each answer the writer waits for must also
win the GIL back, which is where a round trip costs most (docs/benchmarks.md).

    python bench/bench_fence.py [--units 2000]

What would make these figures misleading: PostgreSQL here is on loopback (a round trip
is tens of microseconds; across machines, with a synchronous standby, each costs more and
the saving is larger); the spinning thread is pure Python, not an event loop doing I/O,
so the GIL's hand-offs differ from the live server's; one run on a shared 2-core machine
(PostgreSQL's processes share the cores with this one); the commit's fsync is in both
sides alike and dominates on a slow disk.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text

from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.unit_of_work import AddCall, AppendEvent, SaveAgent, SaveReply, UpdateCall
from hotline.store import repository
from hotline.store.db import connect, migrate
from hotline.store.leases import Fence, Leases
from hotline.store.repository import Read, Store, _roll_back, _sendable, reads, translated
from hotline.switchboard.records import CallRow

PG = "postgresql://postgres@127.0.0.1:5432/test"
BLOCK = 100  # units a side runs before the other's turn


@contextmanager
def before(
    engine: Engine, first: Callable[[Connection, Read], None] | None = None
) -> Iterator[Connection]:
    """`pipelined` as it was at e9f2790 (PostgreSQL's path): BEGIN and `first`'s reads
    each a round trip of their own, before the pipeline of the writes and COMMIT."""
    from sqlalchemy.exc import DBAPIError

    with translated(engine), engine.connect() as c, _sendable():
        dbapi = c.dialect.loaded_dbapi
        raw: Any = None
        committed = False
        try:
            c.execution_options(isolation_level="AUTOCOMMIT")
            raw = c.connection.driver_connection
            if first is not None:
                c.exec_driver_sql("BEGIN")
                first(c, reads(c))
            with raw.pipeline():
                if first is None:
                    c.exec_driver_sql("BEGIN")
                yield c
                c.exec_driver_sql("COMMIT")
            committed = True
        except dbapi.Error as e:
            raise DBAPIError.instance(None, None, e, dbapi.Error, hide_parameters=True,
                                      dialect=c.dialect) from None  # fmt: skip
        finally:
            if not committed and not c.invalidated:
                _roll_back(c)


def unit(n: int) -> list[Any]:
    sid = f"CA{n:032d}"
    row = CallRow(sid, "national", "+1", "+1", "es", "es", 0, "queued", {}, None, float(n))
    at = float(n)
    return [
        AddCall(row, at),
        AppendEvent(sid, at, "queued", {"queue": "es"}, "national"),
        UpdateCall(sid, at, {"state": "ringing"}, "national"),
        SaveReply(sid, f"wait:{n}", "<Response/>", at, "national"),
        SaveAgent("es-1", "ringing", None, sid, "es", at, "national", False),
    ]


def timed(store: Store, units: list[list[Any]], way: Callable[..., Any]) -> list[float]:
    repository.pipelined = way  # (the side whose turn it is)
    out = []
    for writes in units:
        t0 = time.perf_counter()
        store.commit(writes)
        out.append(time.perf_counter() - t0)
    return out


def run(store: Store, count: int, start: int) -> dict[str, list[float]]:
    now = repository.pipelined
    times: dict[str, list[float]] = {"before": [], "now": []}
    n = start
    for block in range(count // BLOCK):
        order = (("before", before), ("now", now)) if block % 2 == 0 else \
            (("now", now), ("before", before))  # fmt: skip
        for name, way in order:
            times[name] += timed(store, [unit(n + i) for i in range(BLOCK)], way)
            n += BLOCK
    repository.pipelined = now
    return times


def spin(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(1000):
            x += 1


def report(label: str, times: dict[str, list[float]]) -> None:
    def q(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100)[int(p) - 1] * 1000

    b, w = times["before"], times["now"]
    print(f"{label}: {len(w):,} units a side")
    for name, xs in (("before (3 round trips)", b), ("now (2 round trips)", w)):
        print(f"  {name}: p50 {q(xs, 50):.3f} ms, p99 {q(xs, 99):.3f} ms, "
              f"mean {statistics.fmean(xs) * 1000:.3f} ms")  # fmt: skip
    print(f"  ratio now/before: p50 {q(w, 50) / q(b, 50):.2f}, p99 {q(w, 99) / q(b, 99):.2f}, "
          f"mean {statistics.fmean(w) / statistics.fmean(b):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000, help="units of work a side")
    args = parser.parse_args()
    count = max(BLOCK * 2, args.units // (2 * BLOCK) * 2 * BLOCK)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = connect(PG)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        engine = connect(f"{PG}?options=-csearch_path%3D{schema}")
        migrate(engine)
        node = Leases(engine=engine, node="bench", ttl=3600.0)
        lease = node.claim("national")
        assert lease is not None
        fence = Fence(node.instance)
        fence.lead(lease)
        store = Store(engine=engine, key=Keyring(SealingKey.parse(new_key())), fence=fence)
        run(store, 2 * BLOCK, 10_000_000)  # (warm: connections, compiled statements)
        report("the writer alone", run(store, count, 0))
        stop = threading.Event()
        spinner = threading.Thread(target=spin, args=(stop,), daemon=True)
        spinner.start()
        try:
            report("with a thread spinning in Python", run(store, count, 5_000_000))
        finally:
            stop.set()
            spinner.join()
        engine.dispose()
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
