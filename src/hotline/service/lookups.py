"""Record look-ups off the webhook: each runs in a worker thread, never under the line's
lock, and its answer comes back to the line as a command (the next one to run takes it).

A look-up that has not answered by its deadline is answered "error" for the caller, who
is told and goes on without it; if it had not started yet it never does, but a thread
already inside a connector cannot be interrupted and whatever it returns later is
dropped. Connectors must bound their own time (an HTTP timeout): `WORKERS` connectors that
never return leave every later look-up to be answered "error" at its deadline (the call
goes on, fail closed). The threads are daemons: a hung connector never holds up shutdown.

A look-up with a lockout (`store.guards`) whose key is busy (its attempts under way fill
what its failures leave of the limit: nobody failed) waits for one of them to be answered,
until its own deadline. It waits off the workers, in this process's list for its key and
lockout (in order of arrival), so busy keys never hold up the others' look-ups: an answer
given here hands the list's first waiting look-up back to the workers (one try of the
store per answer); answers given on other nodes or under another lockout of the key, and
attempts that never answer, are looked for every `POLL` seconds (one try per list, by its
first look-up only).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace

from hotline.ivr.interpreter import Guard, Lookup, LookupResult
from hotline.records.audit import FIELD_NAME, FIELDS_MAX, Entry
from hotline.records.port import IVR, Connector, LookupRequest, ask
from hotline.store.guards import Attempt, LookupGuards, guard_key

log = logging.getLogger("hotline.records")
LOOKUP_DEADLINE = 8.0  # seconds a caller waits for a record system (the carrier's is 15)
WORKERS = 8
# seconds after which an attempt under way with no answer counts as a failure (its process
# may have died): well past any caller's deadline, and past a record system's own timeout
ANSWER_WITHIN = 30.0
POLL = 0.25  # seconds between tries of a busy key whose attempts are not under way here
# a lockout's key in the store, and the lockout (failures, window): look-ups wait in order
# for each, so one with room is never held behind one of another lockout on the key
Lane = tuple[str, int, float]


@dataclass(frozen=True, slots=True)
class Answer:
    call_sid: str
    ticket: int
    result: LookupResult


OUTCOMES = {"error": "error", "locked": "refused"}  # the audit entry's outcome, by answer


@dataclass(frozen=True, slots=True)
class Job:
    name: str  # the connector's
    connector: Connector
    lookup: Lookup
    call_sid: str
    done: Future[LookupResult]
    deadline: float  # the caller's (on the workers' wall clock): after it, never tried


@dataclass(frozen=True, slots=True)
class _Retry:
    """A worker's job: try the first look-up waiting for `key` again."""

    key: Lane


@dataclass(frozen=True, slots=True)
class _Answer:
    """A worker's job: record an attempt's answer again (the store failed the first time)."""

    key: Lane
    attempt: str
    failed: bool
    call_sid: str
    until: float  # time.monotonic() after which it is not tried again (it counts by then)
    tries: int = 0  # failed so far


@dataclass(slots=True)
class _Key:
    """One busy or tried lockout key in this process (forgotten when idle)."""

    waiting: deque[Job] = field(default_factory=deque)  # in order of arrival
    deciding: int = 0  # workers trying it in the store now
    under_way: int = 0  # attempts started here, not answered yet
    answered: int = 0  # attempts answered here (a try that found it busy looks whether
    # one was answered meanwhile: then it tries again at once, and no answer is missed)
    queued: bool = False  # a _Retry of it is in the jobs
    poll_at: float | None = None  # when to try it again (time.monotonic), else None


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
        self._jobs: queue.SimpleQueue[Job | _Retry | _Answer | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []  # started with the first look-up
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, float, Future[LookupResult]]] = {}
        self._keys: dict[Lane, _Key] = {}  # the lockout keys look-ups wait for or try
        self._polls = threading.Condition(self._lock)  # wakes the thread that polls them
        self._unrecorded: list[tuple[float, _Answer]] = []  # answers to record again, when
        self._closed = False

    def start(self, ticket: int, call_sid: str, lookup: Lookup) -> None:
        """Run one look-up (`ticket`: the switchboard's number for it; its answer names it)."""
        connector = self._connectors.get(lookup.connector)
        done: Future[LookupResult] = Future()
        with self._lock:
            deadline = self._wall() + self._deadline
            if connector is None:  # (one the flow names, the line has not: unavailable)
                log.error("call %s: a look-up in %r, which this line's IVR has not (not "
                          "configured, or one of the agents' record look-ups, theirs "
                          "alone): answered as unavailable", call_sid,
                          lookup.connector)  # fmt: skip
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
                    threading.Thread(target=self._poll, name="hotline-lookup-poll",
                                     daemon=True).start()  # fmt: skip
                self._jobs.put(Job(lookup.connector, connector, lookup, call_sid, done, deadline))
            self._running[ticket] = (call_sid, deadline, done)

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
            with contextlib.suppress(CancelledError):  # (one waiting may be, at its deadline)
                done.exception(timeout=timeout)

    def close(self) -> None:
        """Stop the workers once they finish what they are in (nothing waits for them)."""
        with self._lock:
            for _, _, done in self._running.values():
                done.cancel()
            self._running.clear()
            for _ in self._threads:
                self._jobs.put(None)
            self._closed = True
            self._polls.notify()
            left, self._unrecorded = len(self._unrecorded), []
        if left:
            log.error(
                "%d attempts' answers could not be recorded before the look-ups stopped: "
                "they count as failures within their lockouts' windows",
                left,
            )

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            if isinstance(item, _Retry):
                self._retry(item.key)
                continue
            if isinstance(item, _Answer):
                self._record(item)
                continue
            if item.lookup.guard is not None:
                self._guarded(item, item.lookup.guard)
            elif item.done.set_running_or_notify_cancel():
                result = _ask(item.name, item.connector, item.lookup, item.call_sid)
                item.done.set_result(self._audited(item.name, item.lookup, item.call_sid, result))

    def _guarded(self, job: Job, guard: Guard) -> None:
        """A look-up with a lockout: "locked" without asking once its key has had its
        failures within the window; while only attempts under way fill them, it waits
        (off the workers) for one to be answered, until its deadline."""
        key = (
            guard_key(f"{job.name}.{job.lookup.operation}", guard.key),
            guard.failures,
            guard.window,
        )  # (a lane of its own for each lockout on the key)
        with self._lock:
            held = self._keys.setdefault(key, _Key())
            self._drop_gone(held)
            behind = bool(held.waiting)  # others wait for it already: after them
            if behind:
                held.waiting.append(job)
            else:
                held.deciding += 1
                seen = held.answered
        if behind:
            self._log_waiting(job, None)
        else:
            self._try(key, held, job, seen, retried=False)

    def _retry(self, key: Lane) -> None:
        """Try the first look-up waiting for `key` again (a place may be free)."""
        with self._lock:
            held = self._keys[key]
            held.queued = False
            self._drop_gone(held)
            if not held.waiting:
                self._forget_if_idle(key, held)
                return
            job = held.waiting.popleft()
            held.deciding += 1
            seen = held.answered
        self._try(key, held, job, seen, retried=True)

    def _try(self, key: Lane, held: _Key, job: Job, seen: int, *, retried: bool) -> None:
        """Start `job`'s attempt, or answer it "locked" or "error", or let it wait (`seen`:
        the attempts of its key answered here when it was taken up)."""
        name, connector, lookup, call_sid, done = (job.name, job.connector, job.lookup,
                                                   job.call_sid, job.done)  # fmt: skip
        guard = lookup.guard
        assert guard is not None
        tried = None
        if not self._gone(job):  # (its caller went on while it waited: never tried)
            try:
                if self._guards is None:
                    raise LookupError("no store counts the attempts")
                if not guard.key:
                    raise LookupError("the lockout's key is empty (a variable not set)")
                tried = self._guards.attempt(key[0], self._guard_clock(), window=guard.window,
                                             limit=guard.failures,
                                             answer_within=ANSWER_WITHIN)  # fmt: skip
            except Exception as e:  # noqa: BLE001 - an attempt not counted is not made
                log.error("a look-up with a lockout on call %s is answered 'error': its "
                          "attempt could not be counted (%s)", call_sid,
                          e if isinstance(e, LookupError) else type(e).__name__)  # fmt: skip
                why = {"reason": "the attempt could not be counted"}
                self._give(job, LookupResult("error", why))
        with self._lock:
            held.deciding -= 1
            if tried is not None and tried.id is None and not tried.locked:  # busy
                if retried:
                    held.waiting.appendleft(job)  # still the first
                else:
                    held.waiting.append(job)
                if held.answered != seen:  # one was answered meanwhile: look again now
                    self._queue_retry(key, held)
                else:
                    self._poll_later(held)
            elif held.waiting:  # started, locked or given up: the next may be decided too
                self._queue_retry(key, held)
            if tried is not None and tried.id is not None:
                held.under_way += 1
            self._forget_if_idle(key, held)
        if tried is None:
            return
        if tried.id is None and not tried.locked:
            if not retried:
                self._log_waiting(job, tried)
            return
        if tried.id is None:
            log.warning("a look-up on call %s is answered 'locked': its key had %d failures "
                        "within %g minutes%s", call_sid, tried.failures, guard.window / 60,
                        f" ({tried.unanswered} of them attempts whose answer never came)"
                        if tried.unanswered else "")  # fmt: skip
            self._give(job, LookupResult("locked"))
            return
        if not done.set_running_or_notify_cancel():  # its caller went on: never asked
            self._settle(key, held, tried.id, call_sid, failed=False)
            return
        result = _ask(name, connector, lookup, call_sid)
        self._settle(key, held, tried.id, call_sid, failed=result.status == "not_found")
        done.set_result(self._audited(name, lookup, call_sid, result))

    def _settle(self, key: Lane, held: _Key, attempt: str, call_sid: str, *, failed: bool) -> None:
        """The attempt's answer in the store: "not found" a failure; any other answer (found,
        or none) takes it back; then the first look-up waiting for its key tries again. An
        answer the store cannot take now is tried again every `POLL` seconds while its
        attempt is in its time (a moment's outage must not leave right PINs counted as
        failures, and lock a whole agency out)."""
        self._record(_Answer(key, attempt, failed, call_sid,
                             time.monotonic() + ANSWER_WITHIN - POLL))  # fmt: skip
        with self._lock:
            held.under_way -= 1
            held.answered += 1
            if held.waiting:
                self._queue_retry(key, held)
            self._forget_if_idle(key, held)

    def _record(self, answer: _Answer) -> None:
        """Record an attempt's answer in the store; if the store fails, again later (until
        the attempt's time runs out: then it stays counted, stricter, not looser)."""
        try:
            assert self._guards is not None
            self._guards.answered(answer.key[0], answer.attempt, self._guard_clock(),
                                  failed=answer.failed)  # fmt: skip
            if answer.tries:
                log.info("the answer of an attempt on call %s is recorded, at try %d",
                         answer.call_sid, answer.tries + 1)  # fmt: skip
            return
        except Exception as e:  # noqa: BLE001 - tried again, or counted: never looser
            why = type(e).__name__
        again = time.monotonic() + POLL
        if not answer.tries:
            log.warning("the answer of an attempt on call %s could not be recorded (%s): "
                        "tried again every %g s while the attempt is in its time",
                        answer.call_sid, why, POLL)  # fmt: skip
        with self._lock:
            if again < answer.until and not self._closed:
                self._unrecorded.append((again, replace(answer, tries=answer.tries + 1)))
                self._polls.notify()
                return
        log.error("an attempt on call %s stays counted: its answer could not be recorded "
                  "(%s); it counts as a failure within the lockout's window", answer.call_sid,
                  why)  # fmt: skip

    def _give(self, job: Job, result: LookupResult) -> None:
        if job.done.set_running_or_notify_cancel():
            job.done.set_result(self._audited(job.name, job.lookup, job.call_sid, result))

    def _gone(self, job: Job) -> bool:
        """Its caller went on (hung up, or its deadline passed: then it is cancelled here,
        as `answers` would): it is never tried."""
        return job.done.cancelled() or (self._wall() >= job.deadline and job.done.cancel())

    def _drop_gone(self, held: _Key) -> None:
        """(under the lock) Forget the first look-ups waiting for a key whose callers went
        on."""
        while held.waiting and self._gone(held.waiting[0]):
            held.waiting.popleft()

    @staticmethod
    def _log_waiting(job: Job, tried: Attempt | None) -> None:
        """A look-up waits for its key (not locked: its failures are below the limit)."""
        if tried is None:
            log.info("a look-up on call %s waits: other look-ups wait for its key", job.call_sid)
        else:
            log.info("a look-up on call %s waits: its key is busy with %d attempts under way "
                     "(%d failures)", job.call_sid, tried.under_way, tried.failures)  # fmt: skip

    def _queue_retry(self, key: Lane, held: _Key) -> None:
        """(under the lock) Let a worker try the key's first waiting look-up again, after
        the jobs already queued."""
        held.poll_at = None
        if not held.queued:
            held.queued = True
            self._jobs.put(_Retry(key))

    def _poll_later(self, held: _Key) -> None:
        """(under the lock) Try the key's first waiting look-up again in `POLL` seconds: the
        attempts it waits for may be answered on another node, or never."""
        if not held.queued and held.poll_at is None:
            held.poll_at = time.monotonic() + POLL
            self._polls.notify()

    def _forget_if_idle(self, key: Lane, held: _Key) -> None:
        """(under the lock)"""
        if not (held.waiting or held.deciding or held.under_way or held.queued):
            del self._keys[key]

    def _poll(self) -> None:
        """Queue the retries of busy keys as they fall due (one thread: it never waits on
        the store, only hands the keys to the workers)."""
        with self._polls:
            while not self._closed:
                now = time.monotonic()
                for key, held in self._keys.items():
                    if held.poll_at is not None and held.poll_at <= now:
                        self._queue_retry(key, held)
                for at, answer in [x for x in self._unrecorded if x[0] <= now]:
                    self._unrecorded.remove((at, answer))
                    self._jobs.put(answer)
                due = [h.poll_at for h in self._keys.values() if h.poll_at is not None]
                due += [at for at, _ in self._unrecorded]
                self._polls.wait(max(min(due) - now, 0.0) if due else None)

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
