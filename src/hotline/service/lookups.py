"""Record look-ups off the webhook: each runs in a worker thread, never under the line's
lock, and its answer comes back to the line as a command (the next one to run takes it).

A look-up that has not answered by its deadline is answered "error" for the caller, who
is told and goes on without it; its thread may still be running (a connector that hangs
cannot be interrupted), and whatever it returns later is dropped. At most `workers`
look-ups run at once; more wait their turn (and their deadline still counts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hotline.ivr.connector import Connector
from hotline.ivr.interpreter import Lookup, LookupResult

log = logging.getLogger("hotline.records")
LOOKUP_DEADLINE = 8.0  # seconds a caller waits for a record system (the carrier's is 15)
WORKERS = 8


@dataclass(frozen=True, slots=True)
class Answer:
    call_sid: str
    ticket: int
    result: LookupResult


class LookupWorkers:
    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        wall: Callable[[], float],
        deadline: float = LOOKUP_DEADLINE,
        workers: int = WORKERS,
    ) -> None:
        self._connectors = connectors
        self._wall = wall
        self._deadline = deadline
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # started with the first look-up
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, float, Future[LookupResult]]] = {}
        self._tickets = 0

    def start(self, call_sid: str, lookup: Lookup) -> int:
        """Run one look-up; returns its ticket (the answer names it)."""
        connector = self._connectors.get(lookup.connector)
        with self._lock:
            self._tickets += 1
            ticket = self._tickets
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="hotline-lookup")
            if connector is None:  # the flow's validator names the connectors it uses
                done: Future[LookupResult] = Future()
                done.set_result(LookupResult("error"))
            else:
                done = self._pool.submit(_ask, connector, lookup)
            self._running[ticket] = (call_sid, self._wall() + self._deadline, done)
        return ticket

    def answers(self) -> list[Answer]:
        """The look-ups that answered, and those past their deadline (as "error")."""
        now = self._wall()
        out = []
        with self._lock:
            for ticket, (sid, deadline, done) in list(self._running.items()):
                if done.done():
                    out.append(Answer(sid, ticket, done.result()))
                elif now >= deadline:
                    log.warning("a look-up for call %s did not answer within %g s: the caller "
                                "goes on without it", sid, self._deadline)  # fmt: skip
                    out.append(Answer(sid, ticket, LookupResult("error")))
                else:
                    continue
                del self._running[ticket]
        return out

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def settle(self, timeout: float) -> None:
        """Wait until every running look-up has returned (tests, shutdown)."""
        with self._lock:
            pending = [done for _, _, done in self._running.values()]
        for done in pending:
            done.exception(timeout=timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _ask(connector: Connector, lookup: Lookup) -> LookupResult:
    try:
        return connector.lookup(lookup.operation, lookup.params)
    except Exception:  # a connector that raises breaks its promise: the caller goes on
        log.exception("connector %r failed", lookup.connector)
        return LookupResult("error")
