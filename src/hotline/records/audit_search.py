"""Searching the audit trail (the auditor's page and `GET /api/audit/...`): filters checked
and turned into one SQL query, newest entries first, paged by sequence number both ways;
and every search recorded in the trail itself as an `audit.read` entry, written in the
search's own transaction before anything is answered (if it cannot be written, nothing is
read: fail closed).

Filters (`Search.parse`, from a query string's values; each refusal says why):

- `actor`, `outcome`: exact; `action`: exact, or every action under a prefix ending in a
  dot (`record.`); `object`: exact, or a prefix ending in `*` (`case:*`), so that each can
  use an index (migration 0007);
- `since` (inclusive) and `until` (exclusive) in UTC: a date (`2026-11-30`; as `until`, the
  whole day is included) or a datetime (`2026-11-30T08:00`, `...Z` or `+00:00`; another
  offset is converted to UTC);
- `before` / `after`: a sequence number, the page of older / newer entries than it;
- `limit`: entries per page, 100 by default, at most 500."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, exists, func, select

from hotline.errors import SearchInvalid
from hotline.records.audit import OUTCOMES, Entry, Row, append, lock
from hotline.store.tables import audit_checkpoints, audit_entries

LIMIT = 100
LIMIT_MAX = 500
CHECKPOINTS_MAX = 20
FILTERS = ("actor", "action", "object", "outcome", "since", "until", "before", "after", "limit")
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?")
_SEQ_MAX = 2**63 - 1  # a BIGINT


def _text(name: str, value: str, limit: int) -> str:
    if not value or len(value) > limit or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise SearchInvalid(f"{name}: from 1 to {limit} characters, no control characters")
    return value


def _seq(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 0 <= int(value) <= _SEQ_MAX:
        raise SearchInvalid(f"{name}: an entry's sequence number (0, 1, 2...)")
    return int(value)


def _cs(name: str, value: str, *, end: bool) -> int:
    """A UTC date or datetime as centiseconds since the epoch (a date as `until`: the day
    after it, so the whole day is included)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        else:
            at = datetime.fromisoformat(text.replace("z", "Z"))
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SearchInvalid(f"{name}: a UTC date or time like 2026-11-30 or "
                            "2026-11-30T08:00:00Z") from None  # fmt: skip
    return max(0, round(at.timestamp() * 100))


def _prefix(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, exactly (LIKE is case-blind on SQLite, and `_` and
    `%` in a prefix would be wildcards), on SQLite and PostgreSQL alike."""
    return func.substr(column, 1, len(prefix)) == prefix


@dataclass(frozen=True, slots=True)
class Search:
    actor: str | None = None
    action: str | None = None  # ending in ".": a prefix
    object: str | None = None  # ending in "*": a prefix
    outcome: str | None = None
    since_cs: int | None = None
    until_cs: int | None = None
    before: int | None = None
    after: int | None = None
    limit: int = LIMIT

    def used(self) -> dict[str, str]:
        """The filters (not the paging) as its `audit.read` entry records them."""
        out = {"actor": self.actor, "action": self.action, "object": self.object,
               "outcome": self.outcome,
               "since": None if self.since_cs is None else iso(self.since_cs),
               "until": None if self.until_cs is None else iso(self.until_cs)}  # fmt: skip
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Search:
        """A search from a query string's parameters, each checked (`SearchInvalid`)."""
        unknown = sorted(set(query) - set(FILTERS))
        if unknown:
            raise SearchInvalid(f"unknown filter {unknown[0][:32]!r}: the filters are "
                                f"{', '.join(FILTERS)}")  # fmt: skip
        q = {k: v for k, v in query.items() if v != ""}  # an empty form field: no filter
        action = q.get("action")
        if action is not None and (len(action) > 64 or not _ACTION.fullmatch(action)):
            raise SearchInvalid("action: like record.lookup (lower case, dots), or a prefix "
                                "ending in a dot, like record.")  # fmt: skip
        outcome = q.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise SearchInvalid(f"outcome: one of {', '.join(OUTCOMES)}")
        obj = q.get("object")
        if obj is not None and (_text("object", obj, 128) == "*"):
            raise SearchInvalid("object: an object, or a prefix of one ending in *, like case:*")
        limit = q.get("limit", str(LIMIT))
        if not limit.isascii() or not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
            raise SearchInvalid(f"limit: from 1 to {LIMIT_MAX} entries")
        if "before" in q and "after" in q:
            raise SearchInvalid("before or after: one page at a time, not both")
        s = cls(
            actor=None if "actor" not in q else _text("actor", q["actor"], 128),
            action=action, object=obj, outcome=outcome,
            since_cs=None if "since" not in q else _cs("since", q["since"], end=False),
            until_cs=None if "until" not in q else _cs("until", q["until"], end=True),
            before=None if "before" not in q else _seq("before", q["before"]),
            after=None if "after" not in q else _seq("after", q["after"]),
            limit=int(limit),
        )  # fmt: skip
        if s.since_cs is not None and s.until_cs is not None and s.since_cs >= s.until_cs:
            raise SearchInvalid("since: earlier than until")
        return s

    def where(self) -> list[ColumnElement[bool]]:
        c = audit_entries.c
        out: list[ColumnElement[bool]] = []
        if self.actor is not None:
            out.append(c.actor == self.actor)
        if self.action is not None:
            out.append(_prefix(c.action, self.action) if self.action.endswith(".")
                       else c.action == self.action)  # fmt: skip
        if self.object is not None:
            out.append(_prefix(c.object, self.object[:-1]) if self.object.endswith("*")
                       else c.object == self.object)  # fmt: skip
        if self.outcome is not None:
            out.append(c.outcome == self.outcome)
        if self.since_cs is not None:
            out.append(c.at_cs >= self.since_cs)
        if self.until_cs is not None:
            out.append(c.at_cs < self.until_cs)
        return out


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]  # newest first
    older: int | None  # `before` for the page of older entries, if there are any
    newer: int | None  # `after` for the page of newer entries, if there are any


def _row(r: Any) -> Row:
    return Row(r.seq, r.at_cs, r.actor, r.role, r.session, r.source, r.action, r.object,
               r.outcome, r.details, r.prev_hash, r.entry_hash)  # fmt: skip


def search(connection: Connection, s: Search) -> Page:
    """One page of the entries `s` matches, newest first."""
    c = audit_entries.c
    where = s.where()
    q = select(*audit_entries.c).where(*where)
    if s.after is not None:  # the `limit` entries just newer than `after`
        found = [_row(r) for r in connection.execute(
            q.where(c.seq > s.after).order_by(c.seq).limit(s.limit + 1))]  # fmt: skip
        more_newer = len(found) > s.limit
        rows = found[: s.limit][::-1]
        edge = rows[-1].seq if rows else s.after + 1
        more_older = connection.execute(select(exists().where(*where, c.seq < edge))).scalar()
        return Page(rows, edge if more_older else None,
                    rows[0].seq if more_newer and rows else None)  # fmt: skip
    if s.before is not None:
        q = q.where(c.seq < s.before)
    found = [_row(r) for r in connection.execute(q.order_by(c.seq.desc()).limit(s.limit + 1))]
    rows = found[: s.limit]
    older = rows[-1].seq if len(found) > s.limit else None
    newer: int | None = None
    if s.before is not None:
        edge = rows[0].seq if rows else s.before - 1
        if connection.execute(select(exists().where(*where, c.seq > edge))).scalar():
            newer = edge
    return Page(rows, older, newer)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the trail, as their `audit.read` entry names them."""

    at: float
    actor: str
    role: str
    session: str | None = None
    source: str | None = None

    def entry(self, obj: str, details: Mapping[str, str | int]) -> Entry:
        return Entry(at=self.at, actor=self.actor, role=self.role, action="audit.read",
                     object=obj, session=self.session, source=self.source,
                     details=dict(details))  # fmt: skip


def read_entries(engine: Engine, s: Search, reader: Reader) -> Page:
    """A page of entries, and its `audit.read` entry (the filters used; the count and range
    of sequence numbers read) committed with it, or neither."""
    with engine.begin() as c:
        lock(c)  # the writer's lock first (SQLite): the read and its entry see one trail
        page = search(c, s)
        details: dict[str, str | int] = {**s.used(), "count": len(page.rows)}
        if page.rows:
            details |= {"from_seq": page.rows[-1].seq, "to_seq": page.rows[0].seq}
        append(c, reader.entry("audit-trail", details))
    return page


@dataclass(frozen=True, slots=True)
class Checkpointed:
    id: int
    size: int
    at_cs: int
    note: str


def read_checkpoints(engine: Engine, count: int, reader: Reader) -> list[Checkpointed]:
    """The latest `count` checkpoints, newest first, and their `audit.read` entry."""
    if not 1 <= count <= CHECKPOINTS_MAX:
        raise SearchInvalid(f"limit: from 1 to {CHECKPOINTS_MAX} checkpoints")
    k = audit_checkpoints.c
    with engine.begin() as c:
        lock(c)
        found = [Checkpointed(r.id, r.size, r.at_cs, r.note) for r in c.execute(
            select(*audit_checkpoints.c).order_by(k.id.desc()).limit(count))]  # fmt: skip
        details: dict[str, str | int] = {"count": len(found)}
        if found:
            details["checkpoint_size"] = found[0].size
        append(c, reader.entry("audit-checkpoints", details))
    return found


def iso(at_cs: int) -> str:
    """Centiseconds since the epoch as UTC ISO 8601 text, to the centisecond."""
    at = datetime.fromtimestamp(at_cs / 100, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_cs % 100:02d}Z"
