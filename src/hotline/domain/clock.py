"""Time as the core sees it: an injected clock and a heap of timed callbacks.

The `Scheduler` is SimPy's idea in miniature: a heap ordered by (time, sequence number),
so that callbacks due at the same instant run in the order they were scheduled and every
run is reproducible. A switchboard runs its own up to the time each command brings: the
simulator's virtual time or, live, the wall clock's, so both run one model.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol


class Clock(Protocol):
    """Seconds on a monotonic time line; the only way the core learns the time."""

    @property
    def now(self) -> float: ...


class Scheduler:
    """A clock that also runs callbacks at given times, in a reproducible order."""

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self, *, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, Callable[..., object], tuple[Any, ...]]] = []
        self._seq = 0

    def at(self, when: float, callback: Callable[..., object], *args: Any) -> None:
        """Run `callback(*args)` at time `when` (not before now)."""
        if when < self.now:
            raise ValueError(f"cannot schedule in the past: {when} < now {self.now}")
        self._seq += 1
        heappush(self._heap, (when, self._seq, callback, args))

    def after(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        self.at(self.now + delay, callback, *args)

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, until: float | None = None) -> None:
        """Run every callback due up to `until` (all of them if None); now ends at `until`."""
        heap = self._heap
        while heap and (until is None or heap[0][0] <= until):
            when, _, callback, args = heappop(heap)
            self.now = when
            callback(*args)
        if until is not None and until > self.now:
            self.now = until
