"""The real-time scheduler waits for the wall clock, and only for it (no real sleeping here)."""

from __future__ import annotations

from hotline.domain.clock import Scheduler
from hotline.service.clock import RealTimeScheduler, SystemClock


class FakeWall:
    """A wall clock that moves only when someone sleeps on it."""

    def __init__(self, start: float) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_timers_fire_in_order_after_waiting_for_the_wall_clock():
    wall = FakeWall(1_000.0)
    sched = RealTimeScheduler(wall=wall.now, sleep=wall.sleep)
    fired: list[tuple[str, float, float]] = []
    sched.at(1_002.5, lambda: fired.append(("b", sched.now, wall.t)))
    sched.at(1_001.0, lambda: fired.append(("a", sched.now, wall.t)))
    sched.run()
    assert fired == [("a", 1_001.0, 1_001.0), ("b", 1_002.5, 1_002.5)]
    assert wall.slept == [1.0, 1.5]


def test_no_waiting_for_timers_already_due():
    wall = FakeWall(50.0)
    sched = RealTimeScheduler(wall=wall.now, sleep=wall.sleep)
    sched.at(50.0, lambda: None)
    wall.t = 60.0  # the driver was busy: the timer is overdue
    sched.run(until=wall.now())
    assert wall.slept == []
    assert sched.now == 60.0


def test_same_model_in_virtual_time_does_not_wait():
    virtual = Scheduler()
    order: list[int] = []
    for k in (3, 1, 2):
        virtual.at(float(k), order.append, k)
    virtual.at(2.0, order.append, 20)  # same time: scheduling order breaks the tie
    virtual.run()
    assert order == [1, 2, 20, 3]


def test_system_clock_reads_epoch_seconds():
    assert SystemClock().now > 1.7e9  # after 2023
