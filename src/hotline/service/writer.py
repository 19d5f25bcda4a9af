"""The line's one writer: each command's unit of work lands in the store in the order the
commands ran, each whole (all of its writes or none), in a thread of its own, never under
the line's lock. Units that wait together land in one transaction (a group commit), so a
busy line pays one fsync for many commands rather than one each.

The policy while the database is down, locked or stalled (one rule, tested): callers keep
being served from memory; units of work wait in order and are tried again after a
back-off (`WriteHealth`), so they land later, none lost and none twice. An attempt that
fails in a way the store did not name (a fault of ours) is handled the same way: the
writes wait and are tried again (a fault that recurs holds them, as a down store does,
and /healthz says so), and the traceback is logged once. A unit the database refuses for
what it holds (or whose values cannot be made into its statements: a value JSON cannot
write) is tried write by write, and only the writes it refuses are set aside (reported,
counted in /healthz), so the rest still land.

Once the line stops, the writer is closed first (no command runs on the line after that:
`LiveLine` refuses it), then `finish` lands what waits. A unit submitted to a closed writer
all the same is never kept: it is reported as lost (each write named) and counted.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from hotline.errors import LineStopped, StoreUnavailable, WriteRefused
from hotline.service.health import RETRY_FIRST, WriteHealth
from hotline.service.unit_of_work import AppendEvent, SaveAgent, UnitOfWork, Write

log = logging.getLogger("hotline.store")
BATCH = 500  # units of work at most in one transaction


class _Unit:
    __slots__ = ("done", "writes")

    def __init__(self, writes: list[Write], done: Future[bool] | None) -> None:
        self.writes = writes  # what is left of it (a refused unit lands write by write)
        self.done = done  # resolved once, when it is first tried: True if it landed


class Writer:
    def __init__(self, *, store: UnitOfWork, health: WriteHealth, stuck_after: float) -> None:
        """`stuck_after`: seconds one attempt may take before the store counts as stalled
        (then nobody waits for a commit; callers are answered from memory)."""
        self._store = store
        self.health = health
        self._stuck_after = stuck_after
        self._units: deque[_Unit] = deque()
        self._lock = threading.Lock()  # guards _units and _poked
        self._wake = threading.Condition(self._lock)
        self._poked = False
        self._busy = threading.Lock()  # one thread lands units at a time
        self._attempt_since: float | None = None  # time.monotonic() of the attempt under way
        self._thread: threading.Thread | None = None
        self._closed = False
        self._fault: str | None = None  # the unexpected failure last met (its traceback said)

    def submit(self, writes: Sequence[Write]) -> Future[bool] | None:
        """Queue one command's writes (in the order commands are submitted). The future
        says when they were first tried: True once in the store, False if they wait.
        Raises LineStopped once the writer is closed (the writes are logged as lost and
        counted, never kept: nothing would land them)."""
        if not writes:
            self.poke()
            return None
        done: Future[bool] = Future()
        with self._lock:
            closed = self._closed
            if not closed:
                self._units.append(_Unit(list(writes), done))
                self.health.buffered()
                self._poked = True
                self._wake.notify()
        if closed:
            self.health.lost_after_stop([describe(w) for w in writes])
            raise LineStopped(f"the line has stopped here: {len(writes)} writes submitted "
                              "after it were not kept")  # fmt: skip
        self._start()
        return done

    def poke(self) -> None:
        """Try waiting units again (if the back-off allows): the line's ticker calls it."""
        with self._lock:
            if not self._units:
                return
            self._poked = True
            self._wake.notify()
        self._start()

    def waiting(self) -> int:
        """Writes not yet in the store."""
        with self._lock:
            return sum(len(u.writes) for u in self._units)

    def stuck(self) -> bool:
        """An attempt has been under way for longer than `stuck_after` (a stalled database,
        or a lock held by another process): waiting for a commit would only delay callers."""
        since = self._attempt_since
        return since is not None and time.monotonic() - since > self._stuck_after

    def drain(self) -> None:
        """Try every waiting unit now, in this thread, if the back-off allows (start-up,
        tests)."""
        self._land_waiting()

    def finish(self, within: float) -> int:
        """The last tries, as the line stops (the server stops, or its node hands it over):
        every waiting unit now, whatever the back-off (a store that failed a moment ago
        may be back before its retry time, and what waits must land before the line's
        leases go: its successor recovers from the store), then again every RETRY_FIRST
        seconds while the store is away, for up to `within` seconds. Returns the writes
        still waiting (lost with this process: the caller says so). A store that stalls
        rather than fails (a lock another transaction holds) is not waited on past
        `within`, nor past `stuck_after` for one try: each try runs in a thread of its own
        (the attempt it waits on may still land later, if the fence lets it)."""
        deadline = time.monotonic() + within
        while True:
            last = threading.Thread(target=self._land_waiting, kwargs={"forced": True},
                                    name="hotline-writer-last", daemon=True)  # fmt: skip
            last.start()
            last.join(max(deadline - time.monotonic(), self._stuck_after))
            left = self.waiting()
            if not left or last.is_alive() or time.monotonic() >= deadline:
                return left
            time.sleep(min(RETRY_FIRST, max(0.0, deadline - time.monotonic())))

    @property
    def closed(self) -> bool:
        """The line has stopped: no unit is taken from now (`finish` lands those taken)."""
        return self._closed

    def close(self) -> None:
        """Take no more units (the line stops: called before `finish`) and end the
        writer's thread once its attempt under way, if any, is over."""
        with self._lock:
            self._closed = True
            self._wake.notify()

    # -- the thread

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._closed or (self._thread is not None and self._thread.is_alive()):
                    return
                self._thread = threading.Thread(target=self._run, name="hotline-writer",
                                                daemon=True)  # fmt: skip
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._poked and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                self._poked = False
            self._land_waiting()

    def _land_waiting(self, *, forced: bool = False) -> None:
        with self._busy:
            if not forced and not self.health.may_try():  # (a down store: left until its retry)
                self._resolve_all(False)
                return
            while True:
                with self._lock:
                    if not self._units:
                        return
                    batch = list(itertools.islice(self._units, BATCH))
                self._attempt_since = time.monotonic()
                try:
                    self._land(batch)
                except StoreUnavailable as e:
                    self.health.failed(e.message, self.waiting())
                    self._resolve_all(False)
                    return
                except Exception as e:  # a fault of ours, or one the store did not name:
                    # the thread lives on, and the units wait as for a down store (tried
                    # again after the back-off, none set aside on a guess: it need not be
                    # theirs), said with its traceback the first time it is met (its text
                    # stays in the log: it may hold the writes' values)
                    if repr(e) != self._fault:
                        self._fault = repr(e)
                        log.exception(
                            "the writer's attempt failed unexpectedly: its writes "
                            "wait in order, tried again as for a down store"
                        )
                    self.health.failed(f"unexpected {type(e).__name__} in the writer (its "
                                       "traceback is in the log)", self.waiting())  # fmt: skip
                    self._resolve_all(False)
                    return
                finally:
                    self._attempt_since = None
                with self._lock:
                    for _ in batch:
                        self._units.popleft()
                    empty = not self._units
                self._fault = None
                if empty:  # (said before anyone waiting on these hears they landed)
                    self.health.landed()
                for unit in batch:
                    if unit.done is not None:
                        unit.done.set_result(True)
                        unit.done = None

    def _land(self, batch: list[_Unit]) -> None:
        """The units waiting, in one transaction (a group commit: under load, one fsync
        lands many commands, each whole); if the store refuses it, unit by unit."""
        writes = [w for u in batch for w in u.writes]
        try:
            self._store.commit(writes)
            self.health.committed(len(writes))
            return
        except WriteRefused:
            if len(batch) == 1:
                self._land_alone(batch[0])
                return
        for unit in batch:  # the group rolled back: each unit on its own, in order
            if not unit.writes:  # (landed on a try that then failed)
                continue
            try:
                self._store.commit(unit.writes)
                self.health.committed(len(unit.writes))
            except WriteRefused:
                self._land_alone(unit)
            unit.writes = []  # landed (a failure after it retries only the units left)

    def _land_alone(self, unit: _Unit) -> None:
        """One of the unit's writes can never land: each alone, so that the others do."""
        while unit.writes:
            w = unit.writes[0]
            try:
                self._store.commit([w])
                self.health.committed(1)
            except WriteRefused as e:
                self.health.refused(describe(w), e.message)
            unit.writes.pop(0)  # landed or set aside: a retry starts after it

    def _resolve_all(self, value: bool) -> None:
        with self._lock:
            for u in self._units:
                if u.done is not None:
                    u.done.set_result(value)
                    u.done = None


def describe(w: Write) -> str:
    """A write as a log line names it: its kind (an event's too) and whose it is."""
    if isinstance(w, SaveAgent):
        return f"SaveAgent {w.state!r} for agent {w.agent_id[:64]!r}"
    kind = f" {w.kind[:64]!r}" if isinstance(w, AppendEvent) else ""
    return f"{type(w).__name__}{kind} for call {str(w.sid)[:64]!r}"
