"""The store's commit of the writer's transactions: as few statements as the writes allow
(`Store.commit`) against one statement a write (the naive version, as the store did until
2026-12-05), in the same run, on SQLite (a file, WAL, synchronous=FULL).

Why statements matter more than their own cost: the sqlite3 module gives the GIL up around
each statement's step, and the writer's thread must then win it back from the event loop,
which, busy, keeps it until it waits on its sockets or the switch interval (5 ms) runs out.
So the bench times each transaction with and without a stand-in for the busy event loop: a
thread that runs Python in bursts (exponential, 2 ms on average) and waits on `select`
between them (exponential, 1.5 ms: about 57 % of a core, as Hotline's loop at K=100 in
bench_live).

Workload: the writes of calls' lives as the line makes them (a call arrives, two IVR
steps, it queues, its agent's phone rings and answers, the call ends, the agent wraps up:
3.1 writes a unit on average; bench_live at K=100 ran 3.5 statements a unit), grouped
into transactions of 1 or 2 units (the writer's group commit at K=100: 1.31 units a
transaction), `--transactions` of them for each version, interleaved in blocks of 50 in
one database.

    python bench/bench_commit.py [--transactions 4000]

What would make these figures misleading: the stand-in thread is not the event loop
(Hotline's loop also gives the GIL up at each socket read and write, so waits are shorter
there); one run on a shared 2-core machine; fsync cost depends on the disk; the mix of
writes is this bench's, not a measured one.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import select
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, update

from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveAgent,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.store.db import connect, migrate
from hotline.store.repository import ATTRIBUTES, EVENT_DATA, SEALED_EVENTS, Store
from hotline.store.tables import agent_states, call_events, calls, webhook_replies
from hotline.switchboard.records import CallRow

_ADD_EVENT = insert(call_events)
_ADD_CALL = insert(calls)
_ADD_REPLY = insert(webhook_replies)
_ADD_AGENT = insert(agent_states)
_UPDATE_CALL = update(calls).where(calls.c.sid == bindparam("row_sid"))
_UPDATE_AGENT = update(agent_states).where(agent_states.c.agent_id == bindparam("row_agent"))


class OneStatementAWrite(Store):
    """The naive version: each write its own statement, in order (the store's commit until
    2026-12-05, as it was: statements built once, values sealed as now)."""

    def commit(self, writes: Sequence[Write]) -> None:
        with self._tx() as c:
            for w in writes:
                if isinstance(w, AppendEvent):
                    data: Any = dict(w.data)
                    if w.kind in SEALED_EVENTS:
                        data = self._seal(data, EVENT_DATA, f"{w.sid or ''}/{w.kind}")
                    c.execute(_ADD_EVENT, {"call_sid": w.sid, "at": w.at, "kind": w.kind,
                                           "data": data})  # fmt: skip
                elif isinstance(w, UpdateCall):
                    values = dict(w.values)
                    if "attributes" in values:
                        values["attributes"] = self._seal(dict(values["attributes"]),
                                                          ATTRIBUTES, w.sid)  # fmt: skip
                    c.execute(_UPDATE_CALL, {**values, "updated_at": w.at, "row_sid": w.sid})
                elif isinstance(w, AddCall):
                    row = w.row
                    c.execute(_ADD_CALL, {
                        "sid": row.sid, "line": row.line, "caller": row.caller,
                        "called": row.called, "language": row.language, "queue": row.queue,
                        "priority": row.priority, "state": row.state,
                        "attributes": self._seal(dict(row.attributes), ATTRIBUTES, row.sid),
                        "callback_number": row.callback_number, "arrived_at": row.arrived_at,
                        "updated_at": w.at,
                    })  # fmt: skip
                elif isinstance(w, SaveReply):
                    c.execute(_ADD_REPLY, {"call_sid": w.sid, "step": w.step, "twiml": w.twiml,
                                           "at": w.at})  # fmt: skip
                elif isinstance(w, SaveAgent):
                    values = {"state": w.state, "reason": w.reason, "call_sid": w.call_sid,
                              "queue": w.queue, "since": w.since, "line": w.line,
                              "leaving": w.leaving}  # fmt: skip
                    done = c.execute(_UPDATE_AGENT, {**values, "row_agent": w.agent_id})
                    if done.rowcount == 0:
                        c.execute(_ADD_AGENT, {**values, "agent_id": w.agent_id})


TWIML = '<Response><Say language="es-MX">' + "Gracias por llamar. " * 8 + "</Say></Response>"


def call_units(n: int, at: float) -> list[list[Write]]:
    """One call's units of work, in the order the line makes them."""
    sid, agent = f"CA{n:032x}", f"es-day-{n % 300}"
    row = CallRow(sid, "national", "+12025550143", "+18005550100", "es", None, 0, "in_ivr",
                  {}, None, at)  # fmt: skip
    return [
        [AddCall(row, at), AppendEvent(sid, at, "CallArrived", {"language": "es"}),
         SaveReply(sid, "incoming", TWIML, at)],
        [AppendEvent(sid, at + 4, "ivr-step", {"step": "language"}),
         SaveReply(sid, "gather:1:1", TWIML, at + 4)],
        [AppendEvent(sid, at + 8, "ivr-step", {"step": "reason"}),
         SaveReply(sid, "gather:2:1", TWIML, at + 8)],
        [UpdateCall(sid, at + 12, {"state": "queued", "queue": "es"}),
         AppendEvent(sid, at + 12, "CallQueued", {"queue": "es", "priority": 0}),
         SaveReply(sid, "gather:3:1", TWIML, at + 12)],
        [UpdateCall(sid, at + 30, {"state": "offered"}),
         AppendEvent(sid, at + 30, "CallOffered", {"agent_id": agent}),
         SaveAgent(agent, "reserved", None, sid, "es", at + 30, "national")],
        [UpdateCall(sid, at + 32, {"state": "answered"}),
         AppendEvent(sid, at + 32, "CallAnswered", {"agent_id": agent}),
         SaveAgent(agent, "on_call", None, sid, "es", at + 32, "national"),
         SaveReply(sid, "agent:1", TWIML, at + 32)],
        [UpdateCall(sid, at + 330, {"state": "completed"}),
         AppendEvent(sid, at + 330, "CallCompleted", {"talk": 298.0}),
         SaveAgent(agent, "wrap_up", None, sid, "es", at + 330, "national"),
         SaveReply(sid, "status:completed", TWIML, at + 330)],
        [AppendEvent(sid, at + 365, "WrappedUp", {"outcome": "resolved"}),
         SaveAgent(agent, "available", None, None, None, at + 365, "national")],
    ]  # fmt: skip


def transactions(count: int, rng: random.Random) -> list[list[Write]]:
    """`count` transactions of 1 or 2 units (1.3 on average), the units of many calls
    interleaved as the line's are (each call's in its own order)."""
    lives = [call_units(n, 1_796_000_000.0 + n) for n in range(count)]
    units = [u for _, _, u in sorted((n + 3 * i + rng.random(), i, u)
                                     for n, life in enumerate(lives)
                                     for i, u in enumerate(life))]  # fmt: skip
    out: list[list[Write]] = []
    i = 0
    while len(out) < count and i < len(units):
        take = 2 if rng.random() < 0.3 else 1
        out.append([w for u in units[i : i + take] for w in u])
        i += take
    return out


class BusyLoop:
    """A stand-in for the busy event loop: Python in bursts, `select` between them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            until = time.perf_counter() + self.rng.expovariate(1 / 0.002)
            x = 0
            while time.perf_counter() < until:
                for i in range(200):
                    x += i * i
            select.select([], [], [], self.rng.expovariate(1 / 0.0015))

    def __enter__(self) -> BusyLoop:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def timed(stores: dict[str, Store], work: list[list[Write]], busy: bool, seed: int
          ) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """Each store's transactions (interleaved in blocks of 50), wall and thread CPU."""
    out: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in stores}
    halves = {k: work[i::2] for i, k in enumerate(stores)}  # (each its own calls' sids)
    with BusyLoop(seed) if busy else _Nothing():
        for start in range(0, max(len(h) for h in halves.values()), 50):
            for name, store in stores.items():
                for writes in halves[name][start : start + 50]:
                    wall, cpu = time.perf_counter(), time.thread_time()
                    store.commit(writes)
                    out[name]["wall"].append(time.perf_counter() - wall)
                    out[name]["cpu"].append(time.thread_time() - cpu)
                    time.sleep(0.001)  # (the writer waits for work between transactions)
    return out


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--transactions", type=int, default=4000, help="for each version")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = connect(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        migrate(engine)
        statements = [0]

        def counted(*_: Any) -> None:
            statements[0] += 1

        event.listen(engine, "before_cursor_execute", counted)
        key = Keyring(SealingKey.parse(new_key()))  # (made up for this run)
        stores: dict[str, Store] = {
            "one statement a write": OneStatementAWrite(engine=engine, key=key),
            "grouped (Store.commit)": Store(engine=engine, key=key),
        }
        work = transactions(2 * args.transactions, rng)
        for name, store in stores.items():  # statements a transaction, on a sample
            before = statements[0]
            sample = [[_renamed(w, name) for w in t] for t in work[:200]]
            for t in sample:
                store.commit(t)
            print(f"{name}: {(statements[0] - before) / len(sample):.2f} statements a "
                  f"transaction ({sum(map(len, sample)) / len(sample):.2f} writes)")  # fmt: skip
        writes = sum(map(len, work)) / len(work)
        print(f"{args.transactions:,} transactions each, {writes:.2f} writes a transaction")
        for busy in (False, True):
            got = timed(stores, [[_renamed(w, str(busy)) for w in t] for t in work], busy,
                        args.seed)  # fmt: skip
            label = "with a busy event loop beside it" if busy else "alone"
            print(f"{label}:")
            for name, times in got.items():
                wall, cpu = times["wall"], times["cpu"]
                print(f"  {name}: wall p50 {p(wall, 50):.2f} ms, p99 {p(wall, 99):.2f} ms; "
                      f"thread CPU p50 {p(cpu, 50):.2f} ms, p99 {p(cpu, 99):.2f} ms")  # fmt: skip
            naive, ours = got["one statement a write"], got["grouped (Store.commit)"]
            wall50 = p(naive["wall"], 50) / p(ours["wall"], 50)
            wall99 = p(naive["wall"], 99) / p(ours["wall"], 99)
            cpu50 = p(naive["cpu"], 50) / p(ours["cpu"], 50)
            print(f"  ratio naive/grouped: wall p50 {wall50:.2f}x, p99 {wall99:.2f}x; "
                  f"CPU p50 {cpu50:.2f}x")  # fmt: skip
        engine.dispose()


def _renamed(w: Write, tag: str) -> Write:
    """The same write for another call (each run writes calls of its own: a call is added
    once)."""
    if isinstance(w, AddCall):
        r = w.row
        renamed = CallRow(f"{r.sid}{tag}", r.line, r.caller, r.called, r.language,
                          r.queue, r.priority, r.state, r.attributes, r.callback_number,
                          r.arrived_at)  # fmt: skip
        return AddCall(renamed, w.at)
    if isinstance(w, SaveAgent):
        return w
    return dataclasses.replace(w, sid=f"{w.sid}{tag}")


if __name__ == "__main__":
    main()
