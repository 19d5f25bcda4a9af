"""Record look-ups off the webhook: each runs in a worker thread, never under the line's
lock, and its answer comes back to the line as a command (the next one to run takes it).

A look-up that has not answered by its deadline is answered "error" for the caller, who
is told and goes on without it; if it had not started yet it never does, but a thread
already inside a connector cannot be interrupted and whatever it returns later is
dropped. Connectors must bound their own time (an HTTP timeout): `WORKERS` connectors that
never return leave every later look-up to be answered "error" at its deadline (the call
goes on, fail closed). The threads are daemons: a hung connector never holds up shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from hotline.ivr.interpreter import Lookup, LookupResult
from hotline.records.audit import FIELD_NAME, FIELDS_MAX, Entry
from hotline.records.port import IVR, Connector, LookupRequest, ask
from hotline.store.guards import LookupGuards, guard_key

log = logging.getLogger("hotline.records")
LOOKUP_DEADLINE = 8.0  # seconds a caller waits for a record system (the carrier's is 15)
WORKERS = 8


@dataclass(frozen=True, slots=True)
class Answer:
    call_sid: str
    ticket: int
    result: LookupResult


OUTCOMES = {"error": "error", "locked": "refused"}  # the audit entry's outcome, by answer
Job = tuple[str, Connector, Lookup, str, "Future[LookupResult]"]


class LookupWorkers:
    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        wall: Callable[[], float],
        deadline: float = LOOKUP_DEADLINE,
        workers: int = WORKERS,
        audit: Callable[[Entry], object] | None = None,
        audit_clock: Callable[[], float] = time.time,
        guards: LookupGuards | None = None,
        guard_clock: Callable[[], float] = time.time,
    ) -> None:
        """`audit`: writes each look-up's audit entry (`records.audit`) before its answer
        is given to the line; if it raises, the answer is "error" (fail closed).
        `guards`: counts the attempts of look-ups with a lockout (a flow's `lockout:`);
        without it, or if it fails, such a look-up is answered "error" (fail closed); their
        windows are measured on `guard_clock` (the platform's wall clock)."""
        self._connectors = connectors
        self._guards = guards
        self._guard_clock = guard_clock
        self._audit = audit
        self._audit_clock = audit_clock
        self._wall = wall
        self._deadline = deadline
        self._workers = workers
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []  # started with the first look-up
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, float, Future[LookupResult]]] = {}

    def start(self, ticket: int, call_sid: str, lookup: Lookup) -> None:
        """Run one look-up (`ticket`: the switchboard's number for it; its answer names it)."""
        connector = self._connectors.get(lookup.connector)
        done: Future[LookupResult] = Future()
        with self._lock:
            if connector is None:  # the flow's validator names the connectors it uses
                done.set_result(LookupResult("error"))
            else:
                if not self._threads:
                    self._threads = [
                        threading.Thread(target=self._work, name=f"hotline-lookup-{i}",
                                         daemon=True)
                        for i in range(self._workers)
                    ]  # fmt: skip
                    for t in self._threads:
                        t.start()
                self._jobs.put((lookup.connector, connector, lookup, call_sid, done))
            self._running[ticket] = (call_sid, self._wall() + self._deadline, done)

    def answers(self) -> list[Answer]:
        """The look-ups that answered, and those past their deadline (as "error")."""
        now = self._wall()
        out = []
        with self._lock:
            for ticket, (sid, deadline, done) in list(self._running.items()):
                if done.done() and not done.cancelled():
                    out.append(Answer(sid, ticket, done.result()))
                elif now >= deadline:
                    done.cancel()  # if it has not started, it never will
                    log.warning("a look-up for call %s did not answer within %g s: the caller "
                                "goes on without it", sid, self._deadline)  # fmt: skip
                    out.append(Answer(sid, ticket, LookupResult("error")))
                else:
                    continue
                del self._running[ticket]
        return out

    def drop(self, ticket: int) -> None:
        """The caller is gone: forget the look-up (and never start it, if it waits)."""
        with self._lock:
            held = self._running.pop(ticket, None)
        if held is not None:
            held[2].cancel()

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def settle(self, timeout: float, call_sid: str | None = None) -> None:
        """Wait until every running look-up (of `call_sid`, if given) has returned (tests)."""
        with self._lock:
            pending = [done for sid, _, done in self._running.values()
                       if call_sid is None or sid == call_sid]  # fmt: skip
        for done in pending:
            if not done.cancelled():
                done.exception(timeout=timeout)

    def close(self) -> None:
        """Stop the workers once they finish what they are in (nothing waits for them)."""
        with self._lock:
            for _, _, done in self._running.values():
                done.cancel()
            self._running.clear()
            for _ in self._threads:
                self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            name, connector, lookup, call_sid, done = job
            if done.set_running_or_notify_cancel():
                result = self._guarded(name, connector, lookup, call_sid)
                done.set_result(self._audited(name, lookup, call_sid, result))

    def _guarded(
        self, name: str, connector: Connector, lookup: Lookup, call_sid: str
    ) -> LookupResult:
        """The connector's answer; for a look-up with a lockout, "locked" without asking
        once its key has had its failures within the window."""
        guard = lookup.guard
        if guard is None:
            return _ask(name, connector, lookup, call_sid)
        key = guard_key(f"{name}.{lookup.operation}", guard.key)
        try:
            if self._guards is None:
                raise LookupError("no store counts the attempts")
            if not guard.key:
                raise LookupError("the lockout's key is empty (a variable not set)")
            at = self._guard_clock()
            if not self._guards.attempt(key, at, window=guard.window, limit=guard.failures):
                log.warning("a look-up on call %s is answered 'locked': its key had %d "
                            "failures within %g minutes", call_sid, guard.failures,
                            guard.window / 60)  # fmt: skip
                return LookupResult("locked")
        except Exception as e:  # noqa: BLE001 - an attempt not counted is not made
            log.error("a look-up with a lockout on call %s is answered 'error': its attempt "
                      "could not be counted (%s)", call_sid, e if isinstance(e, LookupError)
                      else type(e).__name__)  # fmt: skip
            return LookupResult("error", {"reason": "the attempt could not be counted"})
        result = _ask(name, connector, lookup, call_sid)
        if result.status != "not_found":  # found, or no answer: no failure
            try:
                self._guards.take_back(key, at)
            except Exception as e:  # noqa: BLE001 - it stays counted: stricter, not looser
                log.error("an attempt on call %s stays counted as a failure: it could not be "
                          "taken back (%s)", call_sid, type(e).__name__)  # fmt: skip
        return result

    def _audited(
        self, name: str, lookup: Lookup, call_sid: str, result: LookupResult
    ) -> LookupResult:
        """The IVR's look-up in the audit trail (which system, what it answered and the
        names of the fields it gave; never a parameter: a PIN may be one); the answer, or
        "error" if the entry could not be written."""
        if self._audit is None:
            return result
        fields = sorted(k for k in result.data if k != "reason" and FIELD_NAME.fullmatch(k))[
            :FIELDS_MAX
        ]
        entry = Entry(at=self._audit_clock(), actor=IVR, role="system", action="record.lookup",
                      outcome=OUTCOMES.get(result.status, "ok"),
                      object=f"{name}.{lookup.operation}"[:256],
                      details={"connector": name, "operation": lookup.operation[:128],
                               "call": call_sid[:128], "result": result.status,
                               "fields": fields})  # fmt: skip
        try:
            self._audit(entry)
        except Exception as e:  # noqa: BLE001 - any failure to audit refuses the answer
            log.error("a look-up on call %s is answered 'error': its audit entry could not be "
                      "written (%s)", call_sid, type(e).__name__)  # fmt: skip
            return LookupResult("error", {"reason": "the look-up could not be audited"})
        return result


def _ask(name: str, connector: Connector, lookup: Lookup, call_sid: str) -> LookupResult:
    return ask(name, connector, LookupRequest(lookup.operation, lookup.params, IVR, "", call_sid))
