"""The tamper-evident audit trail over the store: who did what to which record, when, from
where, and with what outcome — metadata only, never a record's content or a secret.

Each entry is hashed over a canonical encoding that includes its sequence number and the
hash of the entry before it (a hash chain), and is a leaf of an RFC 6962 Merkle tree
(`records.merkle`). Every `every` entries (1000) and at least every `interval` seconds (60),
even when nothing was logged, a checkpoint of the tree (size, root, time) is signed with
HOTLINE_AUDIT_KEY (`records.checkpoint`), stored in `audit_checkpoints` and appended to an
append-only sink (a file, HOTLINE_AUDIT_SINK, flushed and fsynced) outside the database.
`verify` recomputes it all and names the first entry or checkpoint that was changed.

Using it (the live server):

    trail = AuditTrail.from_environment(engine)          # needs HOTLINE_AUDIT_KEY
    with engine.begin() as c:                            # the change and its entry
        ...  # the change                                # commit together, or neither
        append(c, Entry(at=now, actor="alice", role="agent", action="record.lookup",
                        object="case:123", details={"fields": ["name", "status"]}))
    trail.tick(now)     # from the server's ticker, every few seconds: writes a checkpoint
                        # when one is due (own transaction), else does nothing

`append` serialises appends: on PostgreSQL a transaction-scoped advisory lock, on SQLite
its single writer (taken before the last entry is read); the sequence number is the
primary key, so two appenders that still raced are a duplicate-key error, never an
overwrite. Errors are never swallowed: if the
entry cannot be written, the caller's transaction fails with it (fail closed).

What an entry may hold (`Entry`): the actor (a user name or `system`), role, a session's
public id (never its token), the client's IP address, an action (`record.lookup`,
`session.logon`, `audit.read`...), the object acted on (`case:123`), the outcome (ok,
refused, error) and details: keys from `DETAIL_KEYS`, each value a short string (at most
128 characters, no control characters), an integer, or a list of at most 32 field names
(`[A-Za-z_][A-Za-z0-9_.]*`). Anything else is refused (`EntryRefused`)."""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import itertools
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from hotline.errors import AuditKeyInvalid, EntryRefused, NoteInvalid
from hotline.records import merkle
from hotline.records.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    open_checkpoint,
    sign_checkpoint,
    time_extension,
)
from hotline.store.tables import audit_checkpoints, audit_entries

KEY_VARIABLE = "HOTLINE_AUDIT_KEY"
VERIFIER_VARIABLE = "HOTLINE_AUDIT_VERIFIER"
SINK_VARIABLE = "HOTLINE_AUDIT_SINK"
DEFAULT_SINK = Path("audit-checkpoints.jsonl")
EVERY = 1000  # entries between checkpoints
INTERVAL = 60.0  # seconds: a checkpoint at least this often, even with nothing logged
STAMP = "%Y-%m-%d %H:%M:%S UTC"
CLOCK_SKEW = 300.0  # seconds a checkpoint's time may differ from the entries' and ours
LOCK_KEY = 0x686F746C61756474  # 'hotlaudt': the advisory lock of appends and checkpoints
GENESIS = "0" * 64  # the previous-entry hash of entry 1
ENCODING = "hotline-audit-v1"

DETAIL_KEYS = frozenset({
    "fields", "reason", "connector", "record_type", "count", "line", "queue", "call",
    "language", "purpose", "error_id", "method", "status", "format", "from_seq", "to_seq",
    "checkpoint_size", "entries", "result", "withheld", "verification", "operation", "role",
    "actor", "action", "object", "outcome", "since", "until",  # an audit.read's filters
    "agent_events",  # a purge's count of agents' own events
    "mode",  # how a supervisor is on a call (listen, whisper, barge, leave)
})  # fmt: skip
OUTCOMES = ("ok", "refused", "error")
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")  # a field name as an entry lists it
FIELDS_MAX = 32  # field names in one detail's list
Detail = str | int | list[str]


@dataclass(frozen=True, slots=True)
class Entry:
    at: float  # seconds since the epoch (UTC); kept to the centisecond
    actor: str
    role: str
    action: str
    outcome: str = "ok"
    object: str | None = None
    session: str | None = None
    source: str | None = None
    details: Mapping[str, Detail] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    """An entry as stored."""

    seq: int
    at_cs: int
    actor: str
    role: str
    session: str | None
    source: str | None
    action: str
    object: str | None
    outcome: str
    details: str  # canonical JSON
    prev_hash: str
    entry_hash: str

    def encoding(self, seq: int | None = None) -> bytes:
        """The canonical bytes hashed (as if numbered `seq`, for diagnosis)."""
        return encode(self.seq if seq is None else seq, self.at_cs, self.actor, self.role,
                      self.session, self.source, self.action, self.object, self.outcome,
                      self.details, self.prev_hash)  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["details"] = json.loads(self.details)
        return d


def encode(seq: int, at_cs: int, actor: str, role: str, session: str | None,
           source: str | None, action: str, obj: str | None, outcome: str, details: str,
           prev_hash: str) -> bytes:  # fmt: skip
    """The canonical encoding of an entry: a JSON array, no spaces, UTF-8 (`details` is
    already canonical JSON, embedded as a string so its bytes are hashed as stored)."""
    fields = [ENCODING, seq, at_cs, actor, role, session, source, action, obj, outcome,
              details, prev_hash]  # fmt: skip
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _short(value: str | None, what: str, limit: int) -> None:
    if value is not None and (
        len(value) > limit or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise EntryRefused(f"an audit entry's {what} is longer than {limit} characters or "
                           "holds a control character")  # fmt: skip


def canonical_details(details: Mapping[str, Detail]) -> str:
    """The details as canonical JSON, after checking they are metadata (see the module)."""
    for key, value in details.items():
        if key not in DETAIL_KEYS:
            raise EntryRefused(
                f"an audit entry's detail {key[:40]!r} is not one it may hold (allowed: "
                f"{', '.join(sorted(DETAIL_KEYS))}): details are metadata, never content"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | list):
            raise EntryRefused(f"audit detail {key!r}: a short string, an integer or a list "
                               "of field names")  # fmt: skip
        if isinstance(value, str):
            _short(value, f"detail {key!r}", 128)
        elif isinstance(value, list) and (
            len(value) > FIELDS_MAX
            or not all(isinstance(v, str) and FIELD_NAME.fullmatch(v) for v in value)
        ):
            raise EntryRefused(f"audit detail {key!r}: a list holds at most 32 field names "
                               "(letters, digits, _ and .), never values")  # fmt: skip
    return json.dumps(dict(details), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _check(entry: Entry) -> int:
    if not math.isfinite(entry.at) or entry.at < 0:
        raise EntryRefused("an audit entry's time is seconds since the epoch")
    if not entry.actor or not entry.role:
        raise EntryRefused("an audit entry names its actor and role")
    _short(entry.actor, "actor", 128)
    _short(entry.role, "role", 32)
    _short(entry.session, "session", 64)
    _short(entry.object, "object", 256)
    if len(entry.action) > 64 or not _ACTION.fullmatch(entry.action):
        raise EntryRefused("an audit entry's action is like record.lookup (lower case, dots)")
    if entry.outcome not in OUTCOMES:
        raise EntryRefused(f"an audit entry's outcome is one of {', '.join(OUTCOMES)}")
    if entry.source is not None:
        try:  # (an IPv6 scope id, `%...`, takes any text: refused)
            if "%" in entry.source or len(entry.source) > 64:
                raise ValueError
            ipaddress.ip_address(entry.source)
        except ValueError:
            raise EntryRefused("an audit entry's source is an IP address") from None
    return round(entry.at * 100)


def lock(connection: Connection) -> None:
    """Serialise appenders until the transaction ends: PostgreSQL's advisory lock; on SQLite
    a write that changes no row, which takes the single writer's lock before the last entry
    is read (the insert-only triggers fire per row, so not for it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    else:
        connection.execute(text("UPDATE audit_entries SET seq = seq WHERE 0 = 1"))


def append(connection: Connection, entry: Entry) -> int:
    """Append `entry` in the caller's transaction; its sequence number (from 1)."""
    at_cs = _check(entry)
    details = canonical_details(entry.details)
    lock(connection)
    last = connection.execute(
        select(audit_entries.c.seq, audit_entries.c.entry_hash)
        .order_by(audit_entries.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (1, GENESIS) if last is None else (last.seq + 1, last.entry_hash)
    enc = encode(seq, at_cs, entry.actor, entry.role, entry.session, entry.source,
                 entry.action, entry.object, entry.outcome, details, prev)  # fmt: skip
    connection.execute(
        insert(audit_entries).values(
            seq=seq, at_cs=at_cs, actor=entry.actor, role=entry.role, session=entry.session,
            source=entry.source, action=entry.action, object=entry.object,
            outcome=entry.outcome, details=details, prev_hash=prev,
            entry_hash=hashlib.sha256(enc).hexdigest(),
        )
    )  # fmt: skip
    return seq


def os_actor() -> str:
    """The actor of what is done from the command line: `os:` and the operating system's
    user running it (characters other than letters, digits and ._@- shown as ?)."""
    try:
        name = re.sub(r"[^A-Za-z0-9._@-]", "?", getpass.getuser())[:64]
    except (OSError, KeyError):  # (no name for this uid)
        name = "unknown"
    return f"os:{name}"


def record_entry(engine: Engine, entry: Entry) -> int:
    """Append `entry` in a transaction of its own (an event with no other change)."""
    with engine.begin() as c:
        return append(c, entry)


def rows(connection: Connection, *, after: int = 0, upto: int | None = None) -> Iterator[Row]:
    """The stored entries in order of seq, streamed."""
    c = audit_entries.c
    q = select(*audit_entries.c).where(c.seq > after).order_by(c.seq)
    if upto is not None:
        q = q.where(c.seq <= upto)
    for r in connection.execute(q.execution_options(yield_per=5000)):
        yield Row(r.seq, r.at_cs, r.actor, r.role, r.session, r.source, r.action, r.object,
                  r.outcome, r.details, r.prev_hash, r.entry_hash)  # fmt: skip


def leaf(row: Row) -> bytes:
    return merkle.leaf_hash(row.encoding())


# -- the sink: checkpoints also kept outside the database


class FileSink:
    """An append-only file of checkpoints, one JSON object a line, flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, size: int, note: str) -> None:
        line = json.dumps({"size": size, "note": note}, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[tuple[int, str]]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                try:
                    d = json.loads(line)
                    out.append((int(d["size"]), str(d["note"])))
                except (ValueError, KeyError, TypeError):
                    raise NoteInvalid(f"{self.path}:{n}: not a checkpoint line") from None
        return out


def signer_from_environment(environ: Mapping[str, str] = os.environ) -> Signer:
    text = environ.get(KEY_VARIABLE)
    if not text:
        raise AuditKeyInvalid(
            f"{KEY_VARIABLE} is not set: it signs the audit trail's checkpoints (fix: make a "
            "key pair with `hotline audit keygen --name NAME`, set HOTLINE_AUDIT_KEY to its "
            "PRIVATE+KEY+... line in the server's environment, and give the verifier key to "
            "your auditors)"
        )
    return Signer.parse(text, variable=KEY_VARIABLE)


def verifier_from(text: str | None, environ: Mapping[str, str] = os.environ) -> Verifier:
    text = text or environ.get(VERIFIER_VARIABLE)
    if not text:
        raise AuditKeyInvalid(
            f"no verifier key: give --key or set {VERIFIER_VARIABLE} to the verifier key "
            "`hotline audit keygen` printed (name+hash+key)"
        )
    return Verifier.parse(text)


def sink_from_environment(environ: Mapping[str, str] = os.environ) -> FileSink:
    return FileSink(Path(environ.get(SINK_VARIABLE) or DEFAULT_SINK))


# -- checkpoints


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    size: int
    note: str
    at_cs: int


def checkpoints(connection: Connection) -> list[Stored]:
    c = audit_checkpoints.c
    return [Stored(r.id, r.size, r.note, r.at_cs)
            for r in connection.execute(select(*audit_checkpoints.c).order_by(c.id))]  # fmt: skip


def _last_checkpoint(connection: Connection) -> Stored | None:
    c = audit_checkpoints.c
    r = connection.execute(select(*audit_checkpoints.c).order_by(c.id.desc()).limit(1)).first()
    return None if r is None else Stored(r.id, r.size, r.note, r.at_cs)


def entry_count(connection: Connection) -> int:
    size: int = connection.execute(
        select(func.coalesce(func.max(audit_entries.c.seq), 0))
    ).scalar_one()
    return size


def checkpoint_due(
    connection: Connection, now: float, *, every: int = EVERY, interval: float = INTERVAL
) -> bool:
    """Whether a checkpoint is due: none yet, `every` entries since the last, or
    `interval` seconds since it."""
    last = _last_checkpoint(connection)
    if last is None:
        return True
    return entry_count(connection) - last.size >= every or now * 100 - last.at_cs >= interval * 100


def write_checkpoint(
    connection: Connection, *, signer: Signer, sink: FileSink, now: float,
    tree: merkle.Tree | None = None,
) -> Checkpoint:  # fmt: skip
    """Sign a checkpoint of every entry now in the trail; store it and append it to the
    sink (first, so a checkpoint in the database is always in the sink too). `tree`, if
    given, holds the leaves of the first tree.size entries and is extended."""
    lock(connection)
    tree = tree if tree is not None else merkle.Tree()
    for row in rows(connection, after=tree.size):
        if row.seq != tree.size + 1:
            raise NoteInvalid(f"audit entry {tree.size + 1} is missing: run `hotline audit "
                              "verify`")  # fmt: skip
        tree.append(leaf(row))
    at = datetime.fromtimestamp(now, UTC)
    cp = Checkpoint(signer.name, tree.size, tree.root(), (time_extension(at),))
    note = sign_checkpoint(cp, signer)
    last = _last_checkpoint(connection)
    sink.append(cp.size, note)
    connection.execute(
        insert(audit_checkpoints).values(
            id=1 if last is None else last.id + 1, size=cp.size, note=note, at_cs=round(now * 100)
        )
    )
    return cp


class AuditTrail:
    """The trail as the live server uses it: `append` in a unit of work's transaction,
    `record` in a transaction of its own, `tick(now)` from the server's ticker."""

    def __init__(
        self, *, engine: Engine, signer: Signer, sink: FileSink, every: int = EVERY,
        interval: float = INTERVAL,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.signer = signer
        self.sink = sink
        self.every = every
        self.interval = interval
        self._tree = merkle.Tree()  # the leaves checkpointed so far (entries never change)

    @classmethod
    def from_environment(
        cls, engine: Engine, environ: Mapping[str, str] = os.environ
    ) -> AuditTrail:
        return cls(engine=engine, signer=signer_from_environment(environ),
                   sink=sink_from_environment(environ))  # fmt: skip

    append = staticmethod(append)

    def record(self, entry: Entry) -> int:
        return record_entry(self.engine, entry)

    def tick(self, now: float) -> Checkpoint | None:
        """Write a checkpoint if one is due; the checkpoint written, or None."""
        with self.engine.begin() as c:
            if not checkpoint_due(c, now, every=self.every, interval=self.interval):
                return None
            return write_checkpoint(c, signer=self.signer, sink=self.sink, now=now,
                                    tree=self._tree)  # fmt: skip

    def checkpoint(self, now: float) -> Checkpoint:
        """Write a checkpoint now, due or not (a server stopping: every entry covered)."""
        with self.engine.begin() as c:
            return write_checkpoint(c, signer=self.signer, sink=self.sink, now=now,
                                    tree=self._tree)  # fmt: skip


# -- verification


@dataclass(frozen=True, slots=True)
class Problem:
    at: int  # the entry (seq) or checkpoint size it concerns: the first is reported
    message: str


@dataclass(slots=True)
class Report:
    entries: int = 0
    checkpoints: int = 0
    sink_only: int = 0  # sink checkpoints missing from the database that still verify
    problems: list[Problem] = field(default_factory=list)

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.at, default=None)


def _diagnose(row: Row, following: Row | None) -> Problem:
    """What happened to an entry whose stored hash does not match its contents."""
    seq = row.seq

    def hashes_as(r: Row, s: int) -> bool:
        return hashlib.sha256(r.encoding(s)).hexdigest() == r.entry_hash

    if seq > 1 and hashes_as(row, seq - 1):
        return Problem(
            seq - 1,
            f"entry {seq - 1} was inserted: the entry now numbered {seq} "
            f"was {seq - 1} when it was written (the entries after were renumbered)",
        )
    if hashes_as(row, seq + 1):
        if following is not None and following.seq == seq + 1 and hashes_as(following, seq):
            return Problem(seq, f"entries {seq} and {seq + 1} were swapped (reordered)")
        return Problem(
            seq,
            f"entry {seq} was deleted: the entry now numbered {seq} was "
            f"{seq + 1} when it was written (the entries after were renumbered)",
        )
    return Problem(seq, f"entry {seq} was changed: its contents do not match its hash")


def verify(
    connection: Connection, verifier: Verifier, sink: FileSink | None,
    progress: Callable[[int, int], None] | None = None, now: float | None = None,
) -> Report:  # fmt: skip
    """Check the whole trail: the hash chain, each checkpoint's signature, its root over
    the entries, consistency between consecutive checkpoints, the sink's copies, and the
    checkpoints' times (none before the one before it or the last entry it covers, none
    later than `now` and CLOCK_SKEW: a checkpoint says when nothing more was logged)."""
    report = Report()
    problems = report.problems
    stored = checkpoints(connection)
    report.checkpoints = len(stored)
    parsed: dict[int, Checkpoint] = {}  # by position in `stored`
    for i, s in enumerate(stored):
        try:
            cp = open_checkpoint(s.note, verifier)
        except NoteInvalid as e:
            problems.append(Problem(s.size, f"checkpoint {s.id} (size {s.size}): {e.message}"))
            continue
        if cp.size != s.size:
            problems.append(Problem(min(s.size, cp.size), f"checkpoint {s.id}: stored as size "
                                    f"{s.size} but signed for {cp.size}"))  # fmt: skip
            continue
        parsed[i] = cp
    sink_notes = sink.read() if sink is not None else []
    sink_parsed: list[Checkpoint | None] = []
    for n, (size, note) in enumerate(sink_notes, start=1):
        try:
            sink_parsed.append(open_checkpoint(note, verifier))
        except NoteInvalid as e:
            sink_parsed.append(None)
            problems.append(Problem(size, f"the sink's checkpoint {n} (size {size}): {e.message}"))

    want: dict[int, list[Checkpoint]] = {}  # size -> checkpoints to check at that size
    for cp in [*parsed.values(), *(c for c in sink_parsed if c is not None)]:
        want.setdefault(cp.size, []).append(cp)
    total = entry_count(connection)
    tree = merkle.Tree()
    leaves: list[bytes] = []
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    last_at: dict[int, float] = {}  # size -> the time of the last entry a checkpoint covers
    prev: Row | None = None
    broken = False  # after the first broken link, later links say nothing new
    pending: Row | None = None

    def check(row: Row, following: Row | None) -> None:
        nonlocal prev, broken
        expected = 1 if prev is None else prev.seq + 1
        if not broken and row.seq != expected:
            gap = (f"entry {expected} is missing (deleted): the entries go from "
                   f"{expected - 1} to {row.seq}") if row.seq > expected else (
                   f"entry {row.seq} is out of order")  # fmt: skip
            problems.append(Problem(expected, gap))
            broken = True
        if not broken and hashlib.sha256(row.encoding()).hexdigest() != row.entry_hash:
            problems.append(_diagnose(row, following))
            broken = True
        prev_hash = GENESIS if prev is None else prev.entry_hash
        if not broken and row.prev_hash != prev_hash:
            problems.append(Problem(row.seq - 1, f"entry {row.seq - 1} was changed and its hash "
                                    f"recomputed: entry {row.seq} still links to the "
                                    "original"))  # fmt: skip
            broken = True
        h = leaf(row)
        tree.append(h)
        leaves.append(h)
        if tree.size in want:
            roots[tree.size] = tree.root()
            last_at[tree.size] = row.at_cs / 100
        prev = row
        if progress is not None and tree.size % 10_000 == 0:
            progress(tree.size, total)

    for row in rows(connection):
        if pending is not None:
            check(pending, row)
        pending = row
    if pending is not None:
        check(pending, None)
    report.entries = tree.size
    if progress is not None:
        progress(tree.size, total)

    def against_entries(cp: Checkpoint, what: str) -> None:
        if cp.size > tree.size:
            problems.append(Problem(tree.size + 1, f"{what} (size {cp.size}) covers entries "
                                    f"{tree.size + 1} to {cp.size}, which are gone: the trail "
                                    "was truncated"))  # fmt: skip
        elif roots[cp.size] != cp.root_hash:
            problems.append(Problem(cp.size, f"{what} (size {cp.size}) does not match entries "
                                    f"1 to {cp.size}: one of them was changed after it was "
                                    "signed (and the chain rewritten)"))  # fmt: skip

    subtrees = merkle.Subtrees(leaves)
    last: Checkpoint | None = None
    for i, s in enumerate(stored):
        if (here := parsed.get(i)) is None:
            continue
        against_entries(here, f"checkpoint {s.id}")
        problems += _times(s.id, here, last, last_at.get(here.size), time.time() if now is None
                           else now)  # fmt: skip
        if last is not None and last.size <= here.size <= tree.size:
            proof = merkle.consistency_proof(subtrees, last.size, here.size)
            if not merkle.verify_consistency(last.size, here.size, last.root_hash, here.root_hash,
                                             proof):  # fmt: skip
                problems.append(
                    Problem(
                        here.size,
                        f"checkpoint {s.id} (size {here.size}) is not "
                        f"consistent with the one before (size {last.size})",
                    )
                )
        elif last is not None and here.size < last.size:
            problems.append(Problem(here.size, f"checkpoint {s.id} (size {here.size}) is smaller "
                                    f"than the one before (size {last.size})"))  # fmt: skip
        last = here
    if sink is not None and stored and not sink.path.exists():
        problems.append(Problem(stored[0].size, f"the sink {sink.path} does not exist, so no "
                                "checkpoint can be compared with it (give --sink FILE, or "
                                "HOTLINE_AUDIT_SINK; --no-sink skips the comparison)"))  # fmt: skip
    elif sink is not None:
        in_sink = {note for _, note in sink_notes}
        for s in stored:
            if s.note not in in_sink:
                problems.append(Problem(s.size, f"checkpoint {s.id} (size {s.size}) differs from "
                                        f"the sink's copies ({sink.path}): it was replaced or "
                                        "added in the database"))  # fmt: skip
        in_db = {s.note for s in stored}
        for n, ((_, note), sp) in enumerate(zip(sink_notes, sink_parsed, strict=True), 1):
            if note in in_db or sp is None:
                continue
            before = len(problems)
            against_entries(sp, f"the sink's checkpoint {n}")
            if len(problems) == before:
                report.sink_only += 1  # written to the sink, its commit lost: harmless
            else:
                problems[-1] = Problem(problems[-1].at, problems[-1].message + " (and the "
                                       "database's copy of the checkpoint is gone)")  # fmt: skip
    return report


def _times(
    cp_id: int, cp: Checkpoint, before: Checkpoint | None, last_entry: float | None, now: float
) -> list[Problem]:
    """A checkpoint's time: said, and not before the checkpoint before it or the last entry
    it covers, nor after now (each give or take CLOCK_SKEW)."""
    at = cp.time
    what = f"checkpoint {cp_id} (size {cp.size})"
    if at is None:
        return [Problem(cp.size, f"{what} says no time")]
    t, shown = at.timestamp(), at.strftime(STAMP)
    earlier = before.time if before is not None else None
    if earlier is not None and t < earlier.timestamp() - CLOCK_SKEW:
        return [Problem(cp.size, f"{what} is dated {shown}, before the checkpoint before it "
                        f"({earlier.strftime(STAMP)})")]  # fmt: skip
    if last_entry is not None and t < last_entry - CLOCK_SKEW:
        return [Problem(cp.size, f"{what} is dated {shown}, before entry {cp.size}, which it "
                        "covers")]  # fmt: skip
    if t > now + CLOCK_SKEW:
        return [Problem(cp.size, f"{what} is dated {shown}, in the future")]
    return []


# -- proofs for auditors


def leaves_upto(connection: Connection, size: int) -> list[bytes]:
    return [leaf(r) for r in rows(connection, upto=size)]


def prove(connection: Connection, seq: int, verifier: Verifier) -> dict[str, Any]:
    """The inclusion proof of entry `seq` against the latest checkpoint, checkable offline
    with `check_proof` (or any RFC 6962 verifier and signed-note reader)."""
    last = _last_checkpoint(connection)
    if last is None:
        raise NoteInvalid("no checkpoint yet: the server writes one within a minute")
    cp = open_checkpoint(last.note, verifier)
    if not 1 <= seq <= cp.size:
        raise NoteInvalid(f"entry {seq} is not in the latest checkpoint (entries 1 to "
                          f"{cp.size}); the next checkpoint comes within a minute")  # fmt: skip
    leaves = leaves_upto(connection, cp.size)
    row = next(rows(connection, after=seq - 1, upto=seq))
    proof = merkle.inclusion_proof(leaves, seq - 1, cp.size)
    return {
        "entry": row.as_json(),
        "encoding": row.encoding().decode(),
        "leaf_index": seq - 1,
        "tree_size": cp.size,
        "root_hash": cp.root_hash.hex(),
        "proof": [p.hex() for p in proof],
        "checkpoint": last.note,
    }


def check_proof(document: Mapping[str, Any], verifier: Verifier) -> bool:
    """Whether a `prove` document holds: the checkpoint signed by `verifier`, and the
    entry's encoding at leaf_index in the tree it signs."""
    cp = open_checkpoint(document["checkpoint"], verifier)
    leaf_hash = merkle.leaf_hash(document["encoding"].encode())
    proof: Sequence[bytes] = [bytes.fromhex(p) for p in document["proof"]]
    return cp.size == document["tree_size"] and merkle.verify_inclusion(
        document["leaf_index"], cp.size, leaf_hash, proof, cp.root_hash
    )


def export(connection: Connection, out: Path) -> tuple[int, int]:
    """Write entries.jsonl, checkpoints.jsonl and consistency.json (a proof between each
    two consecutive checkpoints) into the directory `out`; (entries, checkpoints)."""
    out.mkdir(parents=True, exist_ok=True)
    leaves: list[bytes] = []
    with (out / "entries.jsonl").open("w", encoding="utf-8") as f:
        for row in rows(connection):
            leaves.append(leaf(row))
            f.write(json.dumps(row.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
    stored = checkpoints(connection)
    with (out / "checkpoints.jsonl").open("w", encoding="utf-8") as f:
        for s in stored:
            f.write(json.dumps({"id": s.id, "size": s.size, "note": s.note}) + "\n")
    chain = []
    subtrees = merkle.Subtrees(leaves)
    for a, b in itertools.pairwise(stored):
        if a.size <= b.size <= len(leaves):
            proof = merkle.consistency_proof(subtrees, a.size, b.size)
            chain.append({"from": a.size, "to": b.size, "proof": [p.hex() for p in proof]})
    (out / "consistency.json").write_text(json.dumps(chain, indent=1) + "\n", encoding="utf-8")
    return len(leaves), len(stored)
