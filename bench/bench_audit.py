"""The audit trail: appends per second with checkpoints on, and verifying a million entries.

Appends: `--appends` audit entries, each in a transaction of its own as a unit of work
commits (hash chain, the lock that serialises appends, and `AuditTrail.tick` after every
append, writing a signed checkpoint every 1000 entries and fsyncing the sink file). The
baseline, in the same database in the same run, interleaved in blocks of 100: plain
inserts of rows of the same columns and size into a table without triggers, one per
transaction. SQLite (a file, WAL, synchronous=FULL), then PostgreSQL at 127.0.0.1:5432 if
it answers (a schema of its own, dropped afterwards).

Verification: `--entries` entries (1,000,000) built fast (hashed in Python, inserted in
one transaction in chunks) with a signed checkpoint every 1000 and the sink file, then
`records.audit.verify` (chain, every checkpoint's signature and root, a consistency proof
between each two, the sink); the baseline is reading the same rows back without checking.

    python bench/bench_audit.py [--appends 2000] [--entries 1000000]

What would make these figures misleading: one run on a shared 2-core machine; fsync cost
depends on the disk (a tmpfs or a disk that lies about flushes makes every commit cheap
and the ratio larger); tick after every append is more often than the live server's
ticker calls it; without compiled modules nothing here changes (the trail is not
compiled), but the Python and SQLite versions do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from hotline.records import audit, merkle
from hotline.records.audit import AuditTrail, Entry, FileSink
from hotline.records.checkpoint import Checkpoint, Signer, sign_checkpoint, time_extension
from hotline.store.db import connect, migrate
from hotline.store.tables import audit_checkpoints, audit_entries

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = 1_796_000_000.0
SIGNER = Signer.generate("bench.hotline.example.org/audit")

plain_meta = MetaData()
plain = Table(
    "plain_entries", plain_meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_cs", BigInteger, nullable=False), Column("actor", String(128), nullable=False),
    Column("role", String(32), nullable=False), Column("session", String(64)),
    Column("source", String(64)), Column("action", String(64), nullable=False),
    Column("object", String(256)), Column("outcome", String(16), nullable=False),
    Column("details", Text, nullable=False), Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)  # fmt: skip


def entry(i: int) -> Entry:
    return Entry(at=T0 + i / 100, actor=f"agent-{i % 50}", role="agent",
                 action="record.lookup", object=f"case:{i}", session=f"s{i % 7:08d}",
                 source="192.0.2.7", details={"fields": ["name", "status"],
                                              "connector": "cases"})  # fmt: skip


def plain_row(i: int) -> dict[str, object]:
    e = entry(i)
    return {"at_cs": round(e.at * 100), "actor": e.actor, "role": e.role, "session": e.session,
            "source": e.source, "action": e.action, "object": e.object, "outcome": e.outcome,
            "details": audit.canonical_details(e.details), "prev_hash": "0" * 64,
            "entry_hash": "f" * 64}  # fmt: skip


def appends(engine: Engine, label: str, n: int, sink_path: Path) -> None:
    migrate(engine)
    plain_meta.create_all(engine)
    trail = AuditTrail(engine=engine, signer=SIGNER, sink=FileSink(sink_path))
    t_audit = t_plain = 0.0
    done = 0
    while done < n:
        block = range(done, min(n, done + 100))
        t = time.perf_counter()
        for i in block:
            with engine.begin() as c:
                c.execute(insert(plain).values(**plain_row(i)))
        t_plain += time.perf_counter() - t
        t = time.perf_counter()
        for i in block:
            trail.record(entry(i))
            trail.tick(T0 + i / 100)
        t_audit += time.perf_counter() - t
        done = block.stop
    with engine.connect() as c:
        cps = len(audit.checkpoints(c))
    print(f"{label}: {n:,} appends, {cps} checkpoints")
    print(f"  plain inserts   {n / t_plain:10,.0f} /s   ({1000 * t_plain / n:.2f} ms each)")
    print(f"  audit appends   {n / t_audit:10,.0f} /s   ({1000 * t_audit / n:.2f} ms each)")
    print(f"  ratio (audit time / plain time): {t_audit / t_plain:.2f}x")


def build(engine: Engine, n: int, sink: FileSink) -> float:
    """n entries and a checkpoint every 1000, written straight into the tables."""
    t = time.perf_counter()
    migrate(engine)
    tree = merkle.Tree()
    prev = audit.GENESIS
    details = audit.canonical_details(entry(0).details)
    chunk: list[dict[str, object]] = []
    cps: list[dict[str, object]] = []
    with engine.begin() as c:
        for seq in range(1, n + 1):
            e = entry(seq)
            at_cs = round(e.at * 100)
            row = audit.Row(seq, at_cs, e.actor, e.role, e.session, e.source, e.action,
                            e.object, e.outcome, details, prev, "")  # fmt: skip
            enc = row.encoding()
            h = hashlib.sha256(enc).hexdigest()
            chunk.append({**{k: getattr(row, k) for k in row.__slots__}, "entry_hash": h})
            tree.append(merkle.leaf_hash(enc))
            prev = h
            if seq % 1000 == 0 or seq == n:
                at = datetime.fromtimestamp(e.at, UTC)
                cp = Checkpoint(SIGNER.name, seq, tree.root(), (time_extension(at),))
                note = sign_checkpoint(cp, SIGNER)
                sink.append(seq, note)
                cps.append({"id": len(cps) + 1, "size": seq, "note": note, "at_cs": at_cs})
            if len(chunk) == 20_000:
                c.execute(insert(audit_entries), chunk)
                chunk = []
        if chunk:
            c.execute(insert(audit_entries), chunk)
        c.execute(insert(audit_checkpoints), cps)
    return time.perf_counter() - t


def verification(engine: Engine, label: str, n: int, sink_path: Path) -> None:
    sink = FileSink(sink_path)
    built = build(engine, n, sink)
    with engine.connect() as c:
        t = time.perf_counter()
        count = sum(1 for _ in c.execute(
            select(audit_entries).order_by(audit_entries.c.seq).execution_options(
                yield_per=5000)))  # fmt: skip
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        report = audit.verify(c, SIGNER.verifier, sink)
        t_verify = time.perf_counter() - t
    assert count == n
    assert report.problems == [], report.problems[:3]
    print(f"{label}: verify {n:,} entries, {report.checkpoints:,} checkpoints (built in "
          f"{built:.1f} s)")  # fmt: skip
    print(f"  read back only  {t_read:8.1f} s   ({n / t_read:,.0f} entries/s)")
    print(f"  verify          {t_verify:8.1f} s   ({n / t_verify:,.0f} entries/s)")
    print(f"  ratio (verify / read): {t_verify / t_read:.1f}x")


def postgres() -> tuple[Engine, str, Engine] | None:
    admin = connect(PG)
    try:
        with admin.begin() as c:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            c.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError:
        print("PostgreSQL: not reachable at 127.0.0.1:5432, skipped")
        return None
    return connect(f"{PG}?options=-csearch_path%3D{schema}"), schema, admin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=2000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sqlite = connect(f"sqlite:///{d / 'appends.sqlite3'}")
        appends(sqlite, "SQLite", args.appends, d / "sink-appends.jsonl")
        sqlite.dispose()
        pg = postgres()
        if pg is not None:
            engine, schema, admin = pg
            try:
                appends(engine, "PostgreSQL", args.appends, d / "sink-pg.jsonl")
            finally:
                engine.dispose()
                with admin.begin() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
        big = connect(f"sqlite:///{d / 'verify.sqlite3'}")
        verification(big, "SQLite", args.entries, d / "sink-verify.jsonl")
        big.dispose()
    print(json.dumps({"appends": args.appends, "entries": args.entries}))


if __name__ == "__main__":
    main()
