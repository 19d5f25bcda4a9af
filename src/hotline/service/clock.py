"""Wall-clock time for the live driver: the same `Scheduler`, run in real time.

As in SimPy's real-time environment, only the waiting differs from the simulator: before
a timer runs, `wait_until` sleeps until the wall clock reaches it. Before handling an
outside event (a webhook, an agent's click) the driver calls `run(until=clock.now)`, so
the core sees the current time and every timer that fell due meanwhile has fired.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hotline.domain.clock import Scheduler


class SystemClock:
    """Seconds since the Unix epoch, from the operating system."""

    @property
    def now(self) -> float:
        return time.time()


class RealTimeScheduler(Scheduler):
    """A `Scheduler` whose timers fire when the wall clock reaches them."""

    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(start=wall())
        self._wall = wall
        self._sleep = sleep

    def wait_until(self, when: float) -> None:
        delay = when - self._wall()
        if delay > 0:
            self._sleep(delay)
