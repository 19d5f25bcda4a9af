"""Who leads each line: a lease per line in the store, renewed on the database's clock
(a node's own clock may be far off), with an epoch that grows at every takeover, so the
writes of a node that lost its lease (paused, cut off) are refused (`Fence`).

A node joins under a name (`join`: refused while another run of that name is alive),
claims the lines it can (`claim`: a free or expired lease is taken with epoch + 1; one
held by a live node is not), renews them with its heartbeat (`renew_all`: each only while
its epoch is the lease's), and lets go when it stops (`leave`). Each of these is one
transaction holding the rows it reads, so two nodes claiming one line at once get it one
after the other: exactly one leads. Times are seconds since the epoch, on the database's clock."""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, select, text, update
from sqlalchemy.engine import Engine

from hotline.errors import Fenced, NodeRefused
from hotline.store.repository import Read, insert_for, transaction
from hotline.store.tables import line_leases, nodes

LEASE_SECONDS = 10.0  # a lease not renewed for this long may be taken over


@dataclass(frozen=True, slots=True)
class Lease:
    line: str
    node: str
    epoch: int
    expires_at: float  # the database's clock


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    address: str
    started_at: float
    seen_at: float


def database_now(c: Connection) -> float:
    """The database's clock, in seconds since the epoch."""
    if c.dialect.name == "postgresql":
        return float(c.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return float(c.execute(text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one())


class Leases:
    def __init__(
        self, *, engine: Engine, node: str, address: str = "", ttl: float = LEASE_SECONDS
    ) -> None:
        """`node`: this node's name; `address`: where other nodes reach it; `ttl`: seconds
        a lease lasts unless renewed."""
        self.engine = engine
        self.node = node
        self.address = address
        self.ttl = ttl
        self.instance = secrets.token_hex(8)  # this run: a restart is another instance

    def join(self) -> None:
        """Enter the node in the store, or NodeRefused if a live run of the same name
        (seen within a lease's time) is there."""
        with transaction(self.engine) as c:
            now = database_now(c)
            insert_new = insert_for(c)
            c.execute(insert_new(nodes).values(name=self.node, instance=self.instance,
                                               address=self.address, started_at=now,
                                               seen_at=now)
                      .on_conflict_do_nothing(index_elements=["name"]))  # fmt: skip
            row = c.execute(select(nodes).where(nodes.c.name == self.node).with_for_update()).one()
            if row.instance != self.instance:
                if now - row.seen_at < self.ttl:
                    raise NodeRefused(
                        f"a node named {self.node!r} is running (seen {now - row.seen_at:.1f}"
                        " s ago): give this one another name (--node)"
                    )
                c.execute(update(nodes).where(nodes.c.name == self.node)
                          .values(instance=self.instance, address=self.address,
                                  started_at=now, seen_at=now))  # fmt: skip

    def heartbeat(self) -> None:
        """Say the node is alive (NodeRefused if another run took its name meanwhile)."""
        with transaction(self.engine) as c:
            done = c.execute(update(nodes).where(nodes.c.name == self.node,
                                                 nodes.c.instance == self.instance)
                             .values(seen_at=database_now(c)))  # fmt: skip
            if done.rowcount != 1:
                raise NodeRefused(f"another run of node {self.node!r} took its name")

    def claim(self, line: str) -> Lease | None:
        """Lead `line` if its lease is free or expired (the epoch grows) or already this
        run's (renewed); None while another live node holds it."""
        with transaction(self.engine) as c:
            now = database_now(c)
            insert_new = insert_for(c)
            c.execute(insert_new(line_leases).values(line=line, node="", instance="", epoch=0,
                                                     expires_at=0.0)
                      .on_conflict_do_nothing(index_elements=["line"]))  # fmt: skip
            row = c.execute(
                select(line_leases).where(line_leases.c.line == line).with_for_update()
            ).one()
            if row.instance == self.instance:
                epoch = row.epoch
            elif row.expires_at <= now or not row.instance:
                epoch = row.epoch + 1
            else:
                return None
            c.execute(update(line_leases).where(line_leases.c.line == line)
                      .values(node=self.node, instance=self.instance, epoch=epoch,
                              expires_at=now + self.ttl))  # fmt: skip
            return Lease(line, self.node, epoch, now + self.ttl)

    def renew_all(self, held: list[Lease]) -> list[Lease | None]:
        """The node's heartbeat and every lease renewed, in one transaction (a round is
        one commit, however many lines); None for each lease taken over. NodeRefused if
        another run took the node's name."""
        with transaction(self.engine) as c:
            now = database_now(c)
            done = c.execute(update(nodes).where(nodes.c.name == self.node,
                                                 nodes.c.instance == self.instance)
                             .values(seen_at=now))  # fmt: skip
            if done.rowcount != 1:
                raise NodeRefused(f"another run of node {self.node!r} took its name")
            out: list[Lease | None] = []
            for lease in held:
                kept = c.execute(update(line_leases)
                                 .where(line_leases.c.line == lease.line,
                                        line_leases.c.instance == self.instance,
                                        line_leases.c.epoch == lease.epoch)
                                 .values(expires_at=now + self.ttl))  # fmt: skip
                out.append(Lease(lease.line, self.node, lease.epoch, now + self.ttl)
                           if kept.rowcount == 1 else None)  # fmt: skip
            return out

    def leave_lines(self, lines: list[str]) -> None:
        """Let these lines' leases go at once (their epochs stay: the next claim grows it)."""
        with transaction(self.engine) as c:
            c.execute(update(line_leases).where(line_leases.c.instance == self.instance,
                                                line_leases.c.line.in_(lines))
                      .values(expires_at=0.0))  # fmt: skip

    def leave(self) -> None:
        """Let every lease of this run go at once (the next node need not wait for them
        to expire) and leave the store's list of nodes."""
        with transaction(self.engine) as c:
            c.execute(update(line_leases).where(line_leases.c.instance == self.instance)
                      .values(expires_at=0.0))  # fmt: skip
            c.execute(delete(nodes).where(nodes.c.instance == self.instance))


def leases(engine: Engine) -> tuple[float, list[Lease], list[Member]]:
    """The database's time, every line's lease and every node (for `hotline nodes`)."""
    with transaction(engine) as c:
        now = database_now(c)
        held = [Lease(r.line, r.node, r.epoch, r.expires_at)
                for r in c.execute(select(line_leases).order_by(line_leases.c.line))]  # fmt: skip
        members = [Member(r.name, r.address, r.started_at, r.seen_at)
                   for r in c.execute(select(nodes).order_by(nodes.c.name))]  # fmt: skip
    return now, held, members


@functools.lru_cache(maxsize=64)
def _leases_of(lines: frozenset[str]) -> Select[Any]:
    """The lease rows of `lines`, held (FOR SHARE) to the end of the transaction: one
    statement for the same lines, so that its SQL is made once (`repository._compiled`)."""
    return (select(line_leases).where(line_leases.c.line.in_(sorted(lines)))
            .with_for_update(read=True))  # fmt: skip


class Fence:
    """The epochs of the lines this run leads, as its store's writes must carry them:
    `check` refuses, in the writing transaction, the writes of a line whose lease is no
    longer this run's at that epoch (holding the lease rows until the commit, so a
    takeover waits for the writes under way and every write after it is refused)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._epochs: dict[str, int] = {}
        self._lock = threading.Lock()
        # told of the lines this run led whose lease another took, as a write finds it
        self.taken: Callable[[list[str]], None] = lambda _lines: None

    def lead(self, lease: Lease) -> None:
        with self._lock:
            self._epochs[lease.line] = lease.epoch

    def drop(self, line: str) -> None:
        with self._lock:
            self._epochs.pop(line, None)

    def epochs(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._epochs)

    def check(self, c: Connection, lines: set[str], read: Read) -> None:
        """In the writing transaction on `c`, before its writes: the lease rows of `lines`
        read (`read`) and held until its end, and Fenced if any is no longer this run's."""
        if not lines:
            return
        epochs = self.epochs()
        if c.dialect.name == "sqlite":  # no FOR SHARE: the database's write lock, now
            c.execute(update(line_leases).where(line_leases.c.line.in_(sorted(lines)))
                      .values(epoch=line_leases.c.epoch))  # fmt: skip
        rows = {r.line: r for r in read(_leases_of(frozenset(lines)))}
        stale = sorted(
            line for line in lines
            if line not in epochs or line not in rows
            or (rows[line].instance, rows[line].epoch) != (self.instance, epochs[line])
        )  # fmt: skip
        if stale:
            taken = [line for line in stale if line in epochs]
            if taken:
                self.taken(taken)
            raise Fenced(f"this node no longer leads {', '.join(stale)}: another took over")
