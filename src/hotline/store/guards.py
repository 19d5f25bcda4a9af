"""The IVR's lockouts in the store, shared by every call and every node: per key (an agency
ID) the failed look-ups within a window, and the attempts under way.

An attempt starts, in one transaction holding the key's row, only while the key's failures
within the window and its attempts under way stay below the limit together: so calls
trying one key at the same moment, on any node, are let in one after another, and no more
than the limit of guesses are ever failed or unanswered at once (fail closed). Its answer
settles it: "not found" makes it a failure (counted from when it started); any other
answer removes it (the record was found, or the record system gave no answer). So a
success takes back only its own attempt: an agency ID may be shared by a whole agency, and
one officer's success must not give someone guessing its PIN fresh tries.

A key whose failures reach the limit is locked. A key whose attempts under way fill what
its failures leave is only busy: nobody failed, and a caller may wait for an answer to
free a place (`service.lookups` does). An attempt whose answer has not come in its time
(its process died, or its record system hangs) counts as a failure from when it started,
until its answer comes if it ever does: the answer may have been "not found", so it is
counted as one (stricter, not looser); it does not hold the key for longer than its
window. Each row keeps the attempts of the longest window a flow may set, so lockouts of
several windows on one key (two flows, two versions) each count what is theirs.

Nodes that share the store share these rows: their times are then the database's clock
(`database_clock`), as the leases' are, so a node whose clock is off by an hour neither
holds a key busy for that hour (its attempts would seem under way) nor slips its attempts
past the others' windows (they would seem long over)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from hotline.ivr.model import LOCKOUT_MINUTES_MAX
from hotline.store.leases import database_now
from hotline.store.repository import insert_for, transaction
from hotline.store.tables import lookup_guard

KEPT = LOCKOUT_MINUTES_MAX * 60.0  # seconds an attempt is kept


def guard_key(scope: str, key: str) -> str:
    """The row's name: a SHA-256 of the scope (connector and operation) and the key. It
    keeps the key out of sight, not secret: a six-digit agency ID is found from it by
    trying them all."""
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


class HasEngine(Protocol):
    engine: Engine


@dataclass(frozen=True, slots=True)
class Attempt:
    """What became of an attempt: started (`id` names it to `answered`), or not: locked,
    or else busy. The counts are the key's when it was tried."""

    id: str | None  # started
    locked: bool  # not started: its failures reached the limit (else busy)
    failures: int  # within the window, with the attempts whose answer never came
    unanswered: int  # of those: attempts whose answer never came in their time
    under_way: int  # attempts under way, within their time


class LookupGuards:
    def __init__(self, store: HasEngine, *, database_clock: bool = False) -> None:
        """`store`: its engine is read at each use (a store without one fails then);
        `database_clock`: each time is the database's clock read in the transaction, and
        the `now` given is not used (nodes sharing the store)."""
        self._store = store
        self._database_clock = database_clock

    def _now(self, c: Connection, given: float) -> float:
        return database_now(c) if self._database_clock else given

    def attempt(
        self, name: str, now: float, *, window: float, limit: int, answer_within: float
    ) -> Attempt:
        """Start an attempt for `name` (a `guard_key`) at `now`, unless the failures within
        `window` seconds before `now` and the attempts under way reach `limit`. Its answer
        is due within `answer_within` seconds (`answered`); after that it counts as a
        failure until it comes."""
        with transaction(self._store.engine) as c:
            insert_new = insert_for(c)
            c.execute(insert_new(lookup_guard).values(key_sha256=name, failures=[],
                                                      in_flight=[], last_at=now)
                      .on_conflict_do_nothing(index_elements=["key_sha256"]))  # fmt: skip
            now = self._now(c, now)
            failed, in_flight = _held(c, name, now)
            unanswered = sum(1 for e in in_flight if e["until"] <= now and now - e["at"] < window)
            counted = sum(1 for t in failed if now - t < window) + unanswered
            under_way = sum(1 for e in in_flight if e["until"] > now)
            if counted + under_way >= limit:
                return Attempt(None, counted >= limit, counted, unanswered, under_way)
            mine = secrets.token_hex(8)
            entry = {"id": mine, "at": now, "until": now + answer_within}
            c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                      .values(failures=failed, in_flight=[*in_flight, entry],
                              last_at=now))  # fmt: skip
            return Attempt(mine, False, counted, unanswered, under_way)

    def answered(self, name: str, attempt: str, now: float, *, failed: bool) -> None:
        """The answer to `attempt` came at `now`: "not found" (`failed`) makes it a failure
        from when it started; any other answer takes it back."""
        with transaction(self._store.engine) as c:
            # a write first, as in `attempt`: SQLite's driver begins the transaction there
            c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                      .values(last_at=now))  # fmt: skip
            now = self._now(c, now)
            failures, in_flight = _held(c, name, now)
            mine = [e for e in in_flight if e["id"] == attempt]
            if not mine:  # (kept no longer: older than any window)
                return
            if failed:
                failures.append(mine[0]["at"])
            c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                      .values(failures=failures,
                              in_flight=[e for e in in_flight if e["id"] != attempt],
                              last_at=now))  # fmt: skip

    def failures(self, name: str, now: float, *, window: float) -> int:
        """The failures of `name` within `window` seconds before `now`, with the attempts
        whose answer never came in their time."""
        with transaction(self._store.engine) as c:
            now = self._now(c, now)
            row = c.execute(select(lookup_guard).where(lookup_guard.c.key_sha256 == name)).first()
            if row is None:
                return 0
            return sum(1 for t in row.failures if now - t < window) + sum(
                1 for e in row.in_flight if e["until"] <= now and now - e["at"] < window
            )


def _held(c: Connection, name: str, now: float) -> tuple[list[float], list[dict[str, Any]]]:
    """The failures and attempts under way of `name` still kept at `now`, its row held
    until the transaction ends."""
    row = c.execute(
        select(lookup_guard).where(lookup_guard.c.key_sha256 == name).with_for_update()
    ).first()
    if row is None:
        return [], []
    return ([t for t in row.failures if now - t < KEPT],
            [e for e in row.in_flight if now - e["at"] < KEPT])  # fmt: skip
