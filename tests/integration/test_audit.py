"""The audit trail on SQLite and on the machine's PostgreSQL (no skipping: CI has it):
appends in the caller's transaction, insert-only tables, checkpoints, and `hotline audit`
finding an attacker's every change, run through the command's entry point."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from hotline.cli import main
from hotline.errors import AuditKeyInvalid, EntryRefused, HotlineError
from hotline.records import audit, merkle
from hotline.records.audit import AuditTrail, Entry, FileSink
from hotline.records.checkpoint import Checkpoint, Signer, open_checkpoint, sign_checkpoint
from hotline.store.db import connect, migrate
from hotline.store.tables import audit_entries, webhook_replies

from .live_fixtures import pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)

T0 = 1_796_000_000.0  # 2026-11-30, UTC
NAME = "hotline.example.org/audit"
SIGNER = Signer.generate(NAME)
VERIFIER = str(SIGNER.verifier)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def engine(url):
    e = connect(url)
    migrate(e)
    yield e
    e.dispose()


@pytest.fixture
def sink(tmp_path):
    return FileSink(tmp_path / "sink.jsonl")


def entry(i: int, **kw: Any) -> Entry:
    base: dict[str, Any] = {
        "at": T0 + i, "actor": f"agent-{i % 3}", "role": "agent", "action": "record.lookup",
        "object": f"case:{i}", "session": f"s{i % 2}", "source": "192.0.2.7",
        "details": {"fields": ["name", "status"], "connector": "cases"},
    }  # fmt: skip
    return Entry(**{**base, **kw})


def build(engine: Engine, sink: FileSink, n: int = 17) -> AuditTrail:
    """n entries, a checkpoint after every fifth (sizes 5, 10, 15)."""
    trail = AuditTrail(engine=engine, signer=SIGNER, sink=sink, every=5)
    for i in range(1, n + 1):
        assert trail.record(entry(i)) == i
        if i % 5 == 0:
            assert trail.tick(T0 + i) is not None
    return trail


Outcome = tuple[int | str | None, str, str]


def hotline(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
            env: dict[str, str] | None = None) -> Outcome:  # fmt: skip
    """Run `hotline ARGS` as its console script does: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["hotline", *args])
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as e:
        main()
    got = capsys.readouterr()
    return e.value.code, got.out, " ".join(got.err.split())


def verify(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str,
           sink: FileSink) -> Outcome:  # fmt: skip
    return hotline(capsys, monkeypatch, "audit", "verify", "--database", url,
                   "--key", VERIFIER, "--sink", str(sink.path))  # fmt: skip


def all_rows(engine: Engine) -> list[audit.Row]:
    with engine.connect() as c:
        return list(audit.rows(c))


def drop_triggers(engine: Engine) -> None:
    with engine.begin() as c:
        for t in ("audit_entries", "audit_checkpoints"):
            if engine.dialect.name == "postgresql":
                c.execute(text(f"DROP TRIGGER {t}_insert_only ON {t}"))
            else:
                c.execute(text(f"DROP TRIGGER {t}_no_update"))
                c.execute(text(f"DROP TRIGGER {t}_no_delete"))


def sql(engine: Engine, *statements: str, **params: Any) -> None:
    with engine.begin() as c:
        for s in statements:
            c.execute(text(s), params)


def rehash_from(engine: Engine, rows: list[audit.Row], start: int) -> None:
    """Recompute every hash from entry `start` on, as an attacker who knows the format
    would, and store them."""
    prev = rows[start - 2].entry_hash if start > 1 else audit.GENESIS
    with engine.begin() as c:
        for r in rows[start - 1 :]:
            r = dataclasses.replace(r, prev_hash=prev)
            h = hashlib.sha256(r.encoding()).hexdigest()
            c.execute(text("UPDATE audit_entries SET actor = :a, prev_hash = :p, "
                           "entry_hash = :h WHERE seq = :s"),
                      {"a": r.actor, "p": prev, "h": h, "s": r.seq})  # fmt: skip
            prev = h


# -- appending


def test_an_entry_commits_with_the_change_or_not_at_all(engine):
    def change_then_refused_entry() -> None:
        with engine.begin() as c:
            c.execute(insert(webhook_replies).values(call_sid="CA1", step="s", twiml="<R/>",
                                                     at=1.0))  # fmt: skip
            audit.append(c, entry(1, details={"caller_number": "+15550100"}))

    def entry_then_failed_change() -> None:
        with engine.begin() as c:
            audit.append(c, entry(1))
            raise RuntimeError("the change failed after its entry was written")

    with pytest.raises(EntryRefused, match="not one it may hold"):
        change_then_refused_entry()
    with pytest.raises(RuntimeError):
        entry_then_failed_change()
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM webhook_replies")).scalar_one() == 0
        assert audit.entry_count(c) == 0
    with engine.begin() as c:
        assert audit.append(c, entry(1)) == 1
        assert audit.append(c, entry(2)) == 2
    rows = all_rows(engine)
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].prev_hash == audit.GENESIS
    assert rows[1].prev_hash == rows[0].entry_hash
    assert rows[0].at_cs == round((T0 + 1) * 100)
    assert json.loads(rows[0].details) == {"connector": "cases", "fields": ["name", "status"]}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"details": {"fields": ["name", "Maria Lopez"]}}, "field names"),
        ({"details": {"reason": "x" * 129}}, "longer than 128"),
        ({"details": {"count": 1.5}}, "an integer"),
        ({"source": "not-an-address"}, "IP address"),
        ({"outcome": "maybe"}, "outcome"),
        ({"action": "Record Lookup"}, "action"),
        ({"actor": "eve\nforged line"}, "control character"),
    ],
)
def test_what_is_not_metadata_is_refused(engine, change, why):
    with pytest.raises(EntryRefused, match=why), engine.begin() as c:
        audit.append(c, entry(1, **change))


def test_a_second_entry_with_the_same_number_is_an_error_never_an_overwrite(engine):
    with engine.begin() as c:
        audit.append(c, entry(1))
    first = all_rows(engine)[0]
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(audit_entries).values(
            **{**dataclasses.asdict(first), "actor": "mallory"}))  # fmt: skip
    assert all_rows(engine) == [first]


def test_appends_from_many_threads_are_serialised_into_one_chain(engine, sink):
    if engine.dialect.name == "sqlite":
        engine = connect(str(engine.url))  # a pool of its own: SQLite's single writer
    errors: list[SQLAlchemyError | HotlineError] = []

    def work(k: int) -> None:
        try:
            for i in range(10):
                with engine.begin() as c:
                    audit.append(c, entry(100 * k + i))
        except (SQLAlchemyError, HotlineError) as e:  # asserted by the test's thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = all_rows(engine)
    assert [r.seq for r in rows] == list(range(1, 41))
    with engine.begin() as c:  # (after the last entry: 100 * 3 + 9 s after T0)
        audit.write_checkpoint(c, signer=SIGNER, sink=sink, now=T0 + 400)
    with engine.connect() as c:
        report = audit.verify(c, SIGNER.verifier, sink)
    assert (report.entries, report.problems) == (40, [])


def test_the_tables_refuse_update_and_delete(engine, sink):
    build(engine, sink, n=5)
    refused = ["UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1",
               "DELETE FROM audit_entries WHERE seq = 5",
               "UPDATE audit_checkpoints SET size = 4",
               "DELETE FROM audit_checkpoints"]  # fmt: skip
    if engine.dialect.name == "postgresql":
        refused += ["TRUNCATE audit_entries", "TRUNCATE audit_checkpoints"]
    for statement in refused:
        with pytest.raises(DBAPIError, match="refused: the audit trail is insert-only"):
            sql(engine, statement)
    assert len(all_rows(engine)) == 5


# -- checkpoints


def test_a_checkpoint_every_n_entries_and_every_minute_even_when_nothing_happened(engine, sink):
    trail = AuditTrail(engine=engine, signer=SIGNER, sink=sink, every=3, interval=60)
    first = trail.tick(T0)
    assert first is not None
    assert first.size == 0
    trail.record(entry(1))
    trail.record(entry(2))
    assert trail.tick(T0 + 59.99) is None
    trail.record(entry(3))
    third = trail.tick(T0 + 30)  # 3 entries since the last
    assert third is not None
    assert third.size == 3
    assert trail.tick(T0 + 89.99) is None
    idle = trail.tick(T0 + 90)  # 60 s since the last, nothing logged
    assert idle is not None
    assert idle.size == 3
    assert idle.extensions == ("time 2026-11-30T00:54:50.00Z",)
    with engine.connect() as c:
        stored = audit.checkpoints(c)
        assert [s.size for s in stored] == [0, 3, 3]
        with engine.begin() as c2:
            assert audit.checkpoint_due(c2, T0 + 150, interval=60)
    assert [note for _, note in sink.read()] == [s.note for s in stored]
    assert open_checkpoint(stored[2].note, SIGNER.verifier) == idle


def test_the_signing_key_comes_from_the_environment_and_a_bad_one_says_how_to_make_one(engine):
    with pytest.raises(
        AuditKeyInvalid, match=r"HOTLINE_AUDIT_KEY is not set.*hotline audit keygen"
    ):
        AuditTrail.from_environment(engine, {})
    secret = SIGNER.private_key()
    with pytest.raises(AuditKeyInvalid, match="hotline audit keygen") as e:
        AuditTrail.from_environment(engine, {"HOTLINE_AUDIT_KEY": secret[:-4] + "AAAA"})
    seed = secret.split("+", 4)[4]  # (base64 has '+' in it: split from the left)
    assert seed[:-4] not in e.value.message
    env = {"HOTLINE_AUDIT_KEY": secret, "HOTLINE_AUDIT_SINK": "/nonexistent/x"}
    trail = AuditTrail.from_environment(engine, env)
    assert trail.signer.verifier == SIGNER.verifier
    assert trail.sink.path == Path("/nonexistent/x")


# -- hotline audit verify / prove / export


def test_an_intact_trail_verifies_and_the_reading_is_recorded(engine, url, sink, capsys,
                                                              monkeypatch):  # fmt: skip
    build(engine, sink)
    code, out, err = verify(capsys, monkeypatch, url, sink)
    assert (code, err) == (0, "")
    assert "intact: 17 entries, 3 checkpoints" in out
    last = all_rows(engine)[-1]
    assert (last.seq, last.action, last.role) == (18, "audit.read", "cli")
    assert json.loads(last.details) == {"entries": 17, "result": "intact"}


def test_a_missing_sink_is_named_and_can_be_left_out(engine, url, sink, tmp_path, capsys,
                                                     monkeypatch):  # fmt: skip
    build(engine, sink, n=5)
    args = ("audit", "verify", "--database", url, "--key", VERIFIER)
    code, _, err = hotline(capsys, monkeypatch, *args, "--sink", str(tmp_path / "none"))
    assert code == 1
    assert f"the sink {tmp_path / 'none'} does not exist" in err
    code, out, _ = hotline(capsys, monkeypatch, *args, "--no-sink")
    assert code == 0
    assert "intact: 6 entries, 1 checkpoints" in out  # and the first reading, recorded


def test_verify_needs_a_verifier_key(engine, url, sink, capsys, monkeypatch):
    build(engine, sink, n=5)
    monkeypatch.delenv("HOTLINE_AUDIT_VERIFIER", raising=False)
    code, _, err = hotline(capsys, monkeypatch, "audit", "verify", "--database", url)
    assert code == 1
    assert "no verifier key: give --key or set HOTLINE_AUDIT_VERIFIER" in err


def test_a_database_password_never_shows(pg_url, sink, capsys, monkeypatch):  # noqa: F811
    """(PostgreSQL only: an SQLite URL has no password.)"""
    engine = connect(pg_url)
    migrate(engine)
    build(engine, sink, n=5)
    secret_url = pg_url.replace("postgres@", "postgres:hunter2-not-real@")  # trust: ignored
    code, out, err = verify(capsys, monkeypatch, secret_url, sink)
    assert code == 0
    assert "***" in out
    assert "hunter2" not in out + err
    sql(engine, "DROP TRIGGER audit_entries_insert_only ON audit_entries",
        "UPDATE audit_entries SET actor = 'x' WHERE seq = 2")  # fmt: skip
    code, out, err = verify(capsys, monkeypatch, secret_url, sink)
    assert code == 1
    assert "entry 2 was changed" in err
    assert "hunter2" not in out + err
    down = secret_url.replace("127.0.0.1:5432", "127.0.0.1:1")
    code, out, err = verify(capsys, monkeypatch, down, sink)
    assert code == 1
    assert "cannot" in err
    assert "hunter2" not in out + err


def test_prove_gives_a_proof_an_auditor_checks_offline(engine, url, sink, capsys, monkeypatch):
    build(engine, sink)
    code, out, _ = hotline(capsys, monkeypatch, "audit", "prove", "7", "--database", url,
                           "--key", VERIFIER)  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert (doc["leaf_index"], doc["tree_size"], doc["entry"]["seq"]) == (6, 15, 7)
    assert audit.check_proof(doc, SIGNER.verifier)
    # by hand, as an auditor without Hotline would: the note, then RFC 6962
    cp = open_checkpoint(doc["checkpoint"], SIGNER.verifier)
    leaf = merkle.leaf_hash(doc["encoding"].encode())
    proof = [bytes.fromhex(p) for p in doc["proof"]]
    assert merkle.root_from_inclusion_proof(6, 15, leaf, proof) == cp.root_hash
    assert hashlib.sha256(doc["encoding"].encode()).hexdigest() == doc["entry"]["entry_hash"]
    forged = {**doc, "encoding": doc["encoding"].replace("agent-1", "agent-2")}
    assert not audit.check_proof(forged, SIGNER.verifier)
    assert all_rows(engine)[-1].action == "audit.read"
    code, _, err = hotline(capsys, monkeypatch, "audit", "prove", "16", "--database", url,
                           "--key", VERIFIER)  # fmt: skip
    assert code == 1
    assert "entry 16 is not in the latest checkpoint (entries 1 to 15)" in err


def test_export_writes_entries_checkpoints_and_a_consistency_chain(
    engine, url, sink, tmp_path, capsys, monkeypatch
):
    build(engine, sink)
    out_dir = tmp_path / "export"
    code, _, err = hotline(capsys, monkeypatch, "audit", "export", str(out_dir), "--database", url)
    assert code == 0
    assert "exported 17 entries and 3 checkpoints" in err
    entries = [json.loads(line) for line in (out_dir / "entries.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 18))
    notes = [json.loads(line)["note"] for line in (out_dir / "checkpoints.jsonl").open()]
    cps = [open_checkpoint(n, SIGNER.verifier) for n in notes]
    chain = json.loads((out_dir / "consistency.json").read_text())
    assert [(c["from"], c["to"]) for c in chain] == [(5, 10), (10, 15)]
    for c, old, new in zip(chain, cps, cps[1:], strict=False):
        proof = [bytes.fromhex(p) for p in c["proof"]]
        assert merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    canonical = [{**e, "details": audit.canonical_details(e["details"])} for e in entries]
    leaves = [merkle.leaf_hash(audit.Row(**e).encoding()) for e in canonical]
    assert merkle.root(leaves[:15]) == cps[2].root_hash
    assert all_rows(engine)[-1].action == "audit.export"


# -- an attacker with the database: each change found, the right entry named


def edit(engine, rows, sink):
    sql(engine, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 7")


def edit_and_rehash_it(engine, rows, sink):
    r = dataclasses.replace(rows[6], actor="mallory")
    sql(engine, "UPDATE audit_entries SET actor = 'mallory', entry_hash = :h WHERE seq = 7",
        h=hashlib.sha256(r.encoding()).hexdigest())  # fmt: skip


def edit_and_rewrite_the_chain(engine, rows, sink):
    rows[6] = dataclasses.replace(rows[6], actor="mallory")
    rehash_from(engine, rows, 7)


def delete(engine, rows, sink):
    sql(engine, "DELETE FROM audit_entries WHERE seq = 7")


def delete_and_renumber(engine, rows, sink):
    sql(
        engine,
        "DELETE FROM audit_entries WHERE seq = 7",
        *(f"UPDATE audit_entries SET seq = {s - 1} WHERE seq = {s}" for s in range(8, 19)),
    )


def insert_one(engine, rows, sink):
    sql(engine, *(f"UPDATE audit_entries SET seq = {s + 1} WHERE seq = {s}"
                  for s in range(18, 6, -1)))  # fmt: skip
    forged = dataclasses.replace(rows[6], actor="mallory", prev_hash=rows[5].entry_hash)
    forged = dataclasses.replace(forged, entry_hash=hashlib.sha256(forged.encoding()).hexdigest())
    with engine.begin() as c:
        c.execute(insert(audit_entries).values(**dataclasses.asdict(forged)))


def reorder(engine, rows, sink):
    sql(engine, "UPDATE audit_entries SET seq = -1 WHERE seq = 7",
        "UPDATE audit_entries SET seq = 7 WHERE seq = 8",
        "UPDATE audit_entries SET seq = 8 WHERE seq = -1")  # fmt: skip


def truncate(engine, rows, sink):
    sql(engine, "DELETE FROM audit_entries WHERE seq > 12")


def truncate_with_its_checkpoints(engine, rows, sink):
    sql(engine, "DELETE FROM audit_entries WHERE seq > 12",
        "DELETE FROM audit_checkpoints WHERE size > 12")  # fmt: skip


def checkpoint_by_another_key(engine, rows, sink):
    other = Signer.generate(NAME)
    with engine.connect() as c:
        cp = open_checkpoint(audit.checkpoints(c)[1].note, SIGNER.verifier)
    sql(engine, "UPDATE audit_checkpoints SET note = :n WHERE id = 2",
        n=sign_checkpoint(cp, other))  # fmt: skip


def rewrite_with_the_stolen_key(engine, rows, sink):
    """A full rewrite from entry 3, checkpoints re-signed with the real key: only the
    sink (kept elsewhere) still has the originals."""
    rows[2] = dataclasses.replace(rows[2], actor="mallory")
    rehash_from(engine, rows, 3)
    leaves = [audit.leaf(r) for r in all_rows(engine)]
    with engine.connect() as c:
        stored = audit.checkpoints(c)
    for s in stored:
        old = open_checkpoint(s.note, SIGNER.verifier)
        new = dataclasses.replace(old, root_hash=merkle.root(leaves[: s.size]))
        sql(engine, "UPDATE audit_checkpoints SET note = :n WHERE id = :i",
            n=sign_checkpoint(new, SIGNER), i=s.id)  # fmt: skip


def sink_copy_differs(engine, rows, sink):
    lines = sink.path.read_text().splitlines(keepends=True)
    size, note = json.loads(lines[1])["size"], json.loads(lines[1])["note"]
    other = Checkpoint.parse(note.split("\n\n")[0] + "\n")
    other = dataclasses.replace(other, extensions=("time 2026-11-30T00:00:00.00Z",))
    lines[1] = json.dumps({"size": size, "note": sign_checkpoint(other, SIGNER)}) + "\n"
    sink.path.write_text("".join(lines))


ATTACKS = [
    (edit, "entry 7 was changed: its contents do not match its hash"),
    (edit_and_rehash_it, "entry 7 was changed and its hash recomputed: entry 8 still links"),
    (edit_and_rewrite_the_chain, "checkpoint 2 (size 10) does not match entries 1 to 10"),
    (delete, "entry 7 is missing (deleted): the entries go from 6 to 8"),
    (delete_and_renumber, "entry 7 was deleted: the entry now numbered 7 was 8"),
    (insert_one, "entry 7 was inserted: the entry now numbered 8 was 7"),
    (reorder, "entries 7 and 8 were swapped (reordered)"),
    (truncate, "checkpoint 3 (size 15) covers entries 13 to 15, which are gone"),
    (truncate_with_its_checkpoints, "the sink's checkpoint 3 (size 15) covers entries 13 to "
     "15, which are gone: the trail was truncated (and the database's copy"),
    (checkpoint_by_another_key, "checkpoint 2 (size 10): the note has no signature by the "
     "verifier key given"),
    (rewrite_with_the_stolen_key, "checkpoint 1 (size 5) differs from the sink's copies"),
    (sink_copy_differs, "checkpoint 2 (size 10) differs from the sink's copies"),
]  # fmt: skip


@pytest.mark.parametrize(("attack", "named"), ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_an_attacker_with_the_database_is_found_out(engine, url, sink, capsys, monkeypatch,
                                                    attack, named):  # fmt: skip
    build(engine, sink)
    code, _, err = verify(capsys, monkeypatch, url, sink)
    assert (code, err) == (0, "")
    drop_triggers(engine)
    attack(engine, all_rows(engine), sink)  # 17 and verify's audit.read
    code, _, err = verify(capsys, monkeypatch, url, sink)
    assert code == 1
    assert err.startswith(f"error the audit trail is broken: {named}"), err


@pytest.mark.parametrize(("dated", "says"), [
    (T0 + 10 * 86400, "checkpoint 4 (size 17) is dated 2026-12-10 00:53:20 UTC, in the future"),
    (T0 - 3600, "checkpoint 4 (size 17) is dated 2026-11-29 23:53:20 UTC, before the "
                "checkpoint before it (2026-11-30 00:53:35 UTC)"),
])  # fmt: skip
def test_a_checkpoint_dated_in_the_future_or_back_in_time_is_found_out(engine, sink, dated, says):
    """Signed with the real key (stolen, or a server whose clock is wrong): a checkpoint
    says when nothing more was logged, so its time is checked too."""
    build(engine, sink)
    with engine.begin() as c:
        audit.write_checkpoint(c, signer=SIGNER, sink=sink, now=dated)
    with engine.connect() as c:
        report = audit.verify(c, SIGNER.verifier, sink, now=T0 + 86400)
    assert [p.message for p in report.problems] == [says]
