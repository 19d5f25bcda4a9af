"""Time as the core sees it: an injected clock and a heap of timed callbacks.

The `Scheduler` is SimPy's idea in miniature: a heap ordered by (time, sequence number),
so that callbacks due at the same instant run in the order they were scheduled and every
run is reproducible. A switchboard runs its own up to the time each command brings: the
simulator's virtual time or, live, the wall clock's, so both run one model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol


class Clock(Protocol):
    """Seconds on a monotonic time line; the only way the core learns the time."""

    @property
    def now(self) -> float: ...


class Timer:
    """Something to do at a time: `fire()` runs it. A driver with timers of its own kind
    subclasses it and hands them to `Scheduler.put` (compiled, `fire` is a direct call;
    `at` wraps a callback and its arguments in one). `seq` (unique, in scheduling order)
    breaks ties between timers due at the same `when`."""

    __slots__ = ("seq", "when")

    def __init__(self) -> None:
        self.when = 0.0
        self.seq = 0

    def fire(self) -> None:
        raise NotImplementedError


class _Callback(Timer):
    __slots__ = ("args", "callback")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.callback = callback
        self.args = args

    def fire(self) -> None:
        self.callback(*self.args)


def _before(a: Timer, b: Timer) -> bool:
    return a.when < b.when or (a.when == b.when and a.seq < b.seq)


def _push(heap: list[Timer], timer: Timer) -> None:
    """`heapq.heappush` over (when, seq). (Written out: compiled, a comparison is two
    native fields rather than tuples compared through Python's rich comparison.)"""
    heap.append(timer)
    pos = len(heap) - 1
    while pos > 0:
        up = (pos - 1) >> 1
        parent = heap[up]
        if not _before(timer, parent):
            break
        heap[pos] = parent
        pos = up
    heap[pos] = timer


def _pop(heap: list[Timer]) -> Timer:
    """`heapq.heappop` over (when, seq): the earliest timer, removed. As CPython's, the
    hole left at the top goes down to a leaf along the earlier children, and the last timer
    comes back up from there: fewer comparisons than sifting it down. (Any heap pops the
    same sequence: (when, seq) orders all timers strictly.)"""
    last = heap.pop()
    n = len(heap)
    if n == 0:
        return last
    first = heap[0]
    pos = 0
    child = 1
    while child < n:
        right = child + 1
        if right < n and not _before(heap[child], heap[right]):
            child = right
        heap[pos] = heap[child]
        pos = child
        child = 2 * pos + 1
    while pos > 0:
        up = (pos - 1) >> 1
        parent = heap[up]
        if not _before(last, parent):
            break
        heap[pos] = parent
        pos = up
    heap[pos] = last
    return first


class Scheduler:
    """A clock that also runs callbacks at given times, in a reproducible order."""

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self, *, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[Timer] = []
        self._seq = 0

    def at(self, when: float, callback: Callable[..., object], *args: Any) -> None:
        """Run `callback(*args)` at time `when` (not before now)."""
        self.put(when, _Callback(callback, args))

    def put(self, when: float, timer: Timer) -> None:
        """Fire `timer` at time `when` (not before now); a timer is put once."""
        if when < self.now:
            raise ValueError(f"cannot schedule in the past: {when} < now {self.now}")
        self._seq += 1
        timer.when = when
        timer.seq = self._seq
        _push(self._heap, timer)

    def after(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        self.at(self.now + delay, callback, *args)

    def next_time(self) -> float | None:
        return self._heap[0].when if self._heap else None

    def next_due(self) -> float:
        """`next_time`, with infinity for none (compiled: a float that is not boxed)."""
        return self._heap[0].when if self._heap else math.inf

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, until: float | None = None) -> None:
        """Run every callback due up to `until` (all of them if None); now ends at `until`."""
        if until is not None:
            self.run_to(until)
            return
        heap = self._heap
        while heap:
            timer = _pop(heap)
            self.now = timer.when
            timer.fire()

    def run_to(self, until: float) -> None:
        """`run(until)`, with a plain float."""
        heap = self._heap
        while heap and heap[0].when <= until:
            timer = _pop(heap)
            self.now = timer.when
            timer.fire()
        if until > self.now:
            self.now = until

    def run_before(self, until: float) -> None:
        """`run_to(until)`, except that the callbacks due at `until` itself stay due."""
        heap = self._heap
        while heap and heap[0].when < until:
            timer = _pop(heap)
            self.now = timer.when
            timer.fire()
        if until > self.now:
            self.now = until
