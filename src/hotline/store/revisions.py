"""Counters that grow with every change of a kind, in the transaction that makes it, so
a server learns of a change by one cheap read, whichever node or process made it and
whatever its clock says:

- `ACCESS`: a token or a session ended, or a user disabled (open sockets may have to
  close: `web.sockets` judges their tokens again only then);
- `LINES`: a line imported or changed (the servers and nodes read the lines again)."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from hotline.store.tables import revisions

ACCESS, LINES = "access", "lines"


def bump(c: Connection, name: str) -> None:
    """The counter `name` grows by one, in `c`'s transaction."""
    done = c.execute(update(revisions).where(revisions.c.name == name)
                     .values(value=revisions.c.value + 1))  # fmt: skip
    if done.rowcount != 1:  # (the migration that made the table made its rows)
        raise RuntimeError(f"the store has no revision {name!r}: is it migrated?")


def read(c: Connection, name: str) -> int:
    return int(c.execute(select(revisions.c.value).where(revisions.c.name == name)).scalar_one())
