"""The writer's last tries as a line stops (`Writer.finish`), the cases an independent
review found: a store that stalls (a lock held by another process, a database that stops
answering) rather than fails must not keep the line from stopping past `within`."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hotline.service.health import WriteHealth
from hotline.service.unit_of_work import AddCall, Write
from hotline.service.writer import Writer
from hotline.testing.store import InMemoryStore

from .test_writer import Wall, row


class Stalled(InMemoryStore):
    """A store whose commits hang while `held` is clear (a row lock another transaction
    holds: the database neither answers nor fails); `entered` says one is hanging."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.entered = threading.Event()

    def commit(self, writes: Sequence[Write]) -> None:
        if self.down:
            super().commit(writes)  # (it fails at once)
        self.entered.set()
        assert self.held.wait(timeout=60), "the test never let the store answer"
        super().commit(writes)


def test_the_last_tries_end_within_their_time_while_the_writers_attempt_hangs():
    """The writer's thread is in a commit the database does not answer: `finish(within)`
    returns once `within` (and an attempt's `stuck_after`) is out, saying what waits,
    rather than waiting on that attempt for as long as the stall lasts (a hand-over, or
    the server's stop, would hang with it: the group unserved, its leases held)."""
    store = Stalled()
    writer = Writer(store=store, health=WriteHealth(wall=Wall()), stuck_after=0.1)
    try:
        assert writer.submit([AddCall(row("CA1"), 1000.0)]) is not None
        assert store.entered.wait(timeout=10)  # (the writer's thread is in the commit)
        left: list[int] = []
        stopping = threading.Thread(target=lambda: left.append(writer.finish(within=0.2)))
        stopping.start()
        stopping.join(timeout=5)
        assert not stopping.is_alive(), "finish(within=0.2) still waits on a stalled store"
        assert left == [1]  # (said: not in the store)
    finally:
        store.held.set()
        writer.close()


def test_the_last_tries_end_within_their_time_while_their_own_attempt_hangs():
    """The same when the store stalls on the last try itself (nothing was under way)."""
    store = Stalled()
    writer = Writer(store=store, health=WriteHealth(wall=Wall()), stuck_after=0.1)
    store.down = True
    try:
        landing = writer.submit([AddCall(row("CA1"), 1000.0)])
        assert landing is not None
        assert landing.result(timeout=10) is False  # (tried: the store was down; it waits)
        store.down = False
        store.entered.clear()
        left: list[int] = []
        stopping = threading.Thread(target=lambda: left.append(writer.finish(within=0.2)))
        stopping.start()
        assert store.entered.wait(timeout=10)  # (the last try is in the commit, hanging)
        stopping.join(timeout=5)
        assert not stopping.is_alive(), "finish(within=0.2) still waits on a stalled store"
        assert left == [1]
    finally:
        store.held.set()
        writer.close()
