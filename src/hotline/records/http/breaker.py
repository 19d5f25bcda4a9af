"""A circuit breaker: a record system that keeps failing is left alone for a while, so a
caller is told at once instead of waiting out every timeout (and the system can recover)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed: every look-up goes through. After `failures` failed look-ups in a row it
    opens: none goes through for `cool_down` seconds (of `clock`). Then it is half-open: one
    look-up goes through (the others are refused while it runs); its success closes the
    circuit, its failure opens it again for another `cool_down`."""

    def __init__(self, *, failures: int, cool_down: float, clock: Callable[[], float]) -> None:
        self._limit = failures
        self._cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._failed = 0  # failures in a row
        self._opened_at: float | None = None
        self._trial = False  # the half-open circuit's one look-up is under way

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self._cool_down:
            return "open"
        return "half_open"

    def allow(self) -> bool:
        """Whether a look-up may go through now (a True in half-open is the trial's)."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open" or self._trial:
                return False
            self._trial = True
            return True

    def retry_in(self) -> float:
        """Seconds until the open circuit lets a trial through (0 if it is not open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._cool_down - (self._clock() - self._opened_at))

    def record(self, *, ok: bool) -> None:
        """The outcome of a look-up that `allow` let through."""
        with self._lock:
            self._trial = False
            if ok:
                self._failed = 0
                self._opened_at = None
                return
            self._failed += 1
            if self._opened_at is not None or self._failed >= self._limit:
                self._opened_at = self._clock()  # (again, from a failed trial)
