"""(review of dbe17d2: attempts under way kept apart from failures) Defects found, each a
test that fails on the change as committed.

1. On SQLite, `LookupGuards.answered` reads the row before any write, and the driver
   (pysqlite) begins the transaction only at the first write: its SELECT ... FOR UPDATE
   (FOR UPDATE is ignored by SQLite) runs outside the transaction, so its UPDATE writes
   back a row read before attempts or answers committed meanwhile. An attempt started
   between the two is wiped (its guess is never counted: more than `failures` wrong
   guesses get checked), and of two answers at once one can bring the other's attempt
   back (a PIN that was right then counts as a failure; the key looks busy for 30 s, so
   officers' look-ups wait until their deadline: "error"). `attempt` is not affected: it
   writes first (the INSERT ... ON CONFLICT DO NOTHING). PostgreSQL holds (row lock).
2. A look-up that arrives while another look-up of its key waits is parked behind it
   without being tried; when the two have different lockouts on one key (two flows, or
   two versions of one flow: `store.guards` supports it), the second waits for the first
   although a place is free for it, until its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Engine as SAEngine

from hotline.ivr.interpreter import Guard, Lookup, LookupResult
from hotline.records.port import LookupRequest
from hotline.service.lookups import ANSWER_WITHIN, LookupWorkers
from hotline.store.guards import LookupGuards, guard_key

from .live_fixtures import FakeWall, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)
from .test_node_load import engine as engine  # (a fixture: the store on each database)

HOUR = 3600.0
T = 1_796_000_000.0


class Engine:
    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine


def meanwhile(
    engine: SAEngine, thread_name: str, what: Callable[[], object]
) -> list[threading.Thread]:
    """Run `what` in a thread of its own just before the thread named `thread_name` writes
    the guard row (its UPDATE), giving it up to a second (it may have to wait for the row:
    then it goes on after)."""
    started: list[threading.Thread] = []

    @event.listens_for(engine, "before_cursor_execute")
    def hook(
        conn: object, cursor: object, statement: str, params: object, context: object, many: bool
    ) -> None:
        if (not started and statement.startswith("UPDATE lookup_guard")
                and threading.current_thread().name == thread_name):  # fmt: skip
            t = threading.Thread(target=what)
            started.append(t)
            t.start()
            t.join(1.0)

    return started


def in_thread(name: str, what: Callable[[], object]) -> None:
    t = threading.Thread(target=what, name=name)
    t.start()
    t.join(30)
    assert not t.is_alive()


def test_an_attempt_started_while_another_is_answered_stays_counted(engine):
    """Defect 1 (SQLite): the answer's write wipes an attempt that started meanwhile, so
    with a limit of 2 and one attempt under way, two more are let in (three guesses)."""
    guards = LookupGuards(Engine(engine))
    first = guards.attempt("k", T, window=HOUR, limit=2, answer_within=30).id
    assert first is not None
    second = []
    started = meanwhile(
        engine,
        "answer",
        lambda: second.append(guards.attempt("k", T + 1, window=HOUR, limit=2, answer_within=30)),
    )
    in_thread("answer", lambda: guards.answered("k", first, T + 2, failed=True))
    started[0].join(30)
    assert second[0].id is not None  # under way: one failure, one attempt
    third = guards.attempt("k", T + 3, window=HOUR, limit=2, answer_within=30)
    assert (third.id, third.locked) == (None, False)  # busy: not a third guess
    assert guards.failures("k", T + 3, window=HOUR) == 1


def test_two_answers_at_once_never_bring_an_attempt_back(engine):
    """Defect 1 (SQLite): of two attempts answered at once (both found), one comes back
    under way; after ANSWER_WITHIN it counts as a failure though its PIN was right."""
    guards = LookupGuards(Engine(engine))
    a = guards.attempt("k", T, window=HOUR, limit=5, answer_within=ANSWER_WITHIN).id
    b = guards.attempt("k", T, window=HOUR, limit=5, answer_within=ANSWER_WITHIN).id
    assert a is not None
    assert b is not None
    started = meanwhile(engine, "answer", lambda: guards.answered("k", b, T + 1, failed=False))
    in_thread("answer", lambda: guards.answered("k", a, T + 1, failed=False))
    started[0].join(30)
    assert guards.failures("k", T + ANSWER_WITHIN + 1, window=HOUR) == 0
    tried = guards.attempt("k", T + 2, window=HOUR, limit=5, answer_within=ANSWER_WITHIN)
    assert tried.under_way == 0


class Asked:
    """A directory that finds every PIN and tells when it is asked."""

    def __init__(self) -> None:
        self.asked = threading.Event()

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.asked.set()
        return LookupResult("found", {})


def test_a_look_up_with_a_place_free_is_not_held_behind_one_of_another_lockout(engine):
    """Defect 2: three attempts under way (another node's); a look-up whose lockout allows
    3 waits (busy); one of another flow, allowing 5 on the same key, could be checked now
    but is parked behind the first and never tried (here: the wall clock stands still, so
    the first waits for ever; in a server, until its 8 s deadline, and then so does the
    second, answered "error")."""
    guards = LookupGuards(Engine(engine))
    wall = FakeWall()
    key = guard_key("agency_directory.verify", "123455")
    for _ in range(3):
        assert guards.attempt(key, wall(), window=HOUR, limit=5, answer_within=30).id
    directory = Asked()
    workers = LookupWorkers(connectors={"agency_directory": directory}, wall=wall,
                            guards=guards, guard_clock=wall)  # fmt: skip
    try:
        params = {"agency_id": "123455", "pin": "2468"}
        workers.start(1, "CA1", Lookup("agency_directory", "verify", params,
                                       guard=Guard("123455", 3, HOUR)))  # fmt: skip
        time.sleep(0.5)  # it waits (busy for a limit of 3)
        assert not directory.asked.is_set()
        workers.start(2, "CA2", Lookup("agency_directory", "verify", params,
                                       guard=Guard("123455", 5, HOUR)))  # fmt: skip
        assert directory.asked.wait(5.0), "a look-up with a place free was never tried"
    finally:
        workers.close()
