"""The IVR's lockouts in the store, shared by every call and every node: the attempts of
look-ups of one key (an agency ID) within a window.

An attempt is counted before the record system is asked, in one transaction holding the
key's row, so calls trying one key at the same moment are counted one after another, no
more than the limit are ever asked, and an attempt that cannot be counted is not made
(fail closed). An answer that found the record takes its own attempt back (and only its
own: an agency ID may be shared by a whole agency, so one officer's success must not give
someone guessing its PIN fresh tries), and so does one that could not be had (the record
system was down): what stays counted is the answers "not found" and the attempts under
way. Each row keeps the attempts of the longest window a flow may set, so lockouts of
several windows on one key (two flows, two versions) each count what is theirs."""

from __future__ import annotations

import hashlib
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from hotline.ivr.model import LOCKOUT_MINUTES_MAX
from hotline.store.repository import transaction
from hotline.store.tables import lookup_guard

KEPT = LOCKOUT_MINUTES_MAX * 60.0  # seconds an attempt is kept


def guard_key(scope: str, key: str) -> str:
    """The row's name: a SHA-256 of the scope (connector and operation) and the key. It
    keeps the key out of sight, not secret: a six-digit agency ID is found from it by
    trying them all."""
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


class HasEngine(Protocol):
    engine: Engine


class LookupGuards:
    def __init__(self, store: HasEngine) -> None:
        """`store`: its engine is read at each use (a store without one fails then)."""
        self._store = store

    def attempt(self, name: str, now: float, *, window: float, limit: int) -> bool:
        """Count an attempt for `name` (a `guard_key`) at `now`: False, and nothing
        counted, once `limit` attempts fell within `window` seconds before `now`."""
        with transaction(self._store.engine) as c:
            insert_new = pg_insert if c.dialect.name == "postgresql" else sqlite_insert
            c.execute(insert_new(lookup_guard).values(key_sha256=name, failures=[], last_at=now)
                      .on_conflict_do_nothing(index_elements=["key_sha256"]))  # fmt: skip
            row = c.execute(
                select(lookup_guard).where(lookup_guard.c.key_sha256 == name).with_for_update()
            ).one()
            kept = [t for t in row.failures if now - t < KEPT]
            if sum(1 for t in kept if now - t < window) >= limit:
                return False
            c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                      .values(failures=[*kept, now], last_at=now))  # fmt: skip
            return True

    def take_back(self, name: str, at: float) -> None:
        """The attempt counted at `at` did not fail: it found the record, or the record
        system did not answer."""
        with transaction(self._store.engine) as c:
            row = c.execute(
                select(lookup_guard).where(lookup_guard.c.key_sha256 == name).with_for_update()
            ).first()
            if row is not None and at in row.failures:
                kept = list(row.failures)
                kept.remove(at)
                c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                          .values(failures=kept))  # fmt: skip

    def failures(self, name: str, now: float, *, window: float) -> int:
        """The attempts of `name` counted within `window` seconds before `now`."""
        with transaction(self._store.engine) as c:
            row = c.execute(select(lookup_guard).where(lookup_guard.c.key_sha256 == name)).first()
            return 0 if row is None else sum(1 for t in row.failures if now - t < window)
