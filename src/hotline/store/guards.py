"""The IVR's lockouts in the store, shared by every call and every node: the failed
look-ups of one key (an agency ID) within a window.

A key with `limit` failures within the window is locked: it is not asked about again until
the oldest of them is older than the window. Only answers that found nothing count: one
that found the record does not clear the others (an agency ID may be shared by a whole
agency, so one officer's success must not give someone guessing its PIN fresh tries), and
one that could not be had (the record system was down) is no failure. Calls that try one
key at the same moment are each asked before either failure is counted, so a burst of
simultaneous calls can get up to one try each past the limit once per window."""

from __future__ import annotations

import hashlib
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from hotline.store.repository import transaction
from hotline.store.tables import lookup_guard


def guard_key(scope: str, key: str) -> str:
    """The row's name: a SHA-256 of the scope (connector and operation) and the key."""
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


class HasEngine(Protocol):
    engine: Engine


class LookupGuards:
    def __init__(self, store: HasEngine) -> None:
        """`store`: its engine is read at each use (a store without one fails then)."""
        self._store = store

    def failures(self, name: str, now: float, *, window: float) -> int:
        """The failures of `name` (a `guard_key`) within `window` seconds before `now`."""
        with transaction(self._store.engine) as c:
            row = c.execute(select(lookup_guard).where(lookup_guard.c.key_sha256 == name)).first()
            return 0 if row is None else sum(1 for t in row.failures if now - t < window)

    def failed(self, name: str, now: float, *, window: float) -> int:
        """Count a failure (one transaction holding the key's row, so failures at once are
        all counted); returns the failures within the window, this one included."""
        with transaction(self._store.engine) as c:
            insert_new = pg_insert if c.dialect.name == "postgresql" else sqlite_insert
            c.execute(insert_new(lookup_guard).values(key_sha256=name, failures=[])
                      .on_conflict_do_nothing(index_elements=["key_sha256"]))  # fmt: skip
            row = c.execute(
                select(lookup_guard).where(lookup_guard.c.key_sha256 == name).with_for_update()
            ).one()
            kept = [t for t in row.failures if now - t < window] + [now]
            c.execute(update(lookup_guard).where(lookup_guard.c.key_sha256 == name)
                      .values(failures=kept))  # fmt: skip
            return len(kept)
