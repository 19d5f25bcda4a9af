"""The writer: units of work land whole and in order; those that wait together share one
transaction (group commit); a unit the store refuses lands write by write."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from hotline.errors import LineStopped, StoreUnavailable
from hotline.service.health import RETRY_MAX, WriteHealth
from hotline.service.unit_of_work import AddCall, AppendEvent, Write
from hotline.service.writer import Writer
from hotline.switchboard.records import CallRow
from hotline.testing.store import InMemoryStore


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def row(sid: str) -> CallRow:
    return CallRow(sid, "national", "+12025550100", "+18005550100", "en", None, 0, "in_ivr",
                   {}, None, 1000.0)  # fmt: skip


def waiting_units(units: list[list[Write]]) -> tuple[Writer, InMemoryStore, Wall]:
    """A writer whose store was down while these units were submitted (each tried once)."""
    wall, store = Wall(), InMemoryStore()
    writer = Writer(store=store, health=WriteHealth(wall=wall), stuck_after=60)
    store.down = True
    for writes in units:
        landing = writer.submit(writes)
        assert landing is not None
        assert landing.result(timeout=10) is False  # tried, and waiting
    store.down = False
    wall.now += RETRY_MAX
    return writer, store, wall


def test_units_that_wait_together_land_in_one_transaction_in_order():
    units: list[list[Write]] = [
        [AddCall(row(f"CA{i}"), 1000.0), AppendEvent(f"CA{i}", 1000.0, "ivr-started", {})]
        for i in range(3)
    ]
    writer, store, _ = waiting_units(units)
    writer.drain()
    assert store.commits == 1
    assert [sid for sid, _, _ in store.events_] == ["CA0", "CA1", "CA2"]
    assert writer.waiting() == 0
    writer.close()


def test_a_refused_unit_in_a_group_lands_alone_and_the_others_whole():
    units: list[list[Write]] = [
        [AddCall(row("CA1"), 1000.0)],
        [AppendEvent("CA1", 1000.0, "first", {}), AddCall(row("CA1"), 1000.0)],  # a twin
        [AddCall(row("CA2"), 1000.0), AppendEvent("CA2", 1000.0, "second", {})],
    ]
    writer, store, _ = waiting_units(units)
    writer.drain()
    assert sorted(store.calls) == ["CA1", "CA2"]
    assert [kind for _, kind, _ in store.events_] == ["first", "second"]  # in order
    assert writer.health.snapshot(writer.waiting()).set_aside == 1  # the twin, reported
    assert writer.waiting() == 0
    writer.close()


def test_the_last_tries_land_what_waits_whatever_the_back_off():
    """As a line stops (a hand-over), a store that failed a moment ago may be back before
    its retry time: what waits lands now, or the next node recovers the line without it."""
    writer, store, wall = waiting_units([[AddCall(row("CA1"), 1000.0)]])
    wall.now -= RETRY_MAX  # (back before the retry time: `drain` leaves it waiting)
    writer.drain()
    assert writer.waiting() == 1
    assert writer.finish(within=0) == 0
    assert sorted(store.calls) == ["CA1"]
    writer.close()


def test_the_last_tries_say_what_could_not_land():
    writer, store, _ = waiting_units([[AddCall(row("CA1"), 1000.0)], [AddCall(row("CA2"), 1000.0)]])
    store.down = True
    assert writer.finish(within=0) == 2
    assert store.calls == {}
    writer.close()


def test_a_unit_submitted_after_the_writer_closed_is_reported_lost_not_kept(caplog):
    """The line stopped (its writer closed, its last writes landed by `finish`): a unit
    submitted after it would never land. It is refused, logged as lost with each write
    named, and counted, rather than kept where nothing will ever land it."""
    store = InMemoryStore()
    writer = Writer(store=store, health=WriteHealth(wall=Wall()), stuck_after=60)
    writer.close()
    late: list[Write] = [AddCall(row("CA1"), 1000.0), AppendEvent("CA1", 1000.0, "ivr-started", {})]
    with caplog.at_level(logging.ERROR, logger="hotline.store"), pytest.raises(LineStopped):
        writer.submit(late)
    assert writer.waiting() == 0  # not kept
    assert writer.health.snapshot(writer.waiting()).lost == 2  # counted (/healthz)
    [report] = [r for r in caplog.records if r.levelno == logging.ERROR]
    said = report.getMessage()
    assert "after the line stopped" in said
    assert "AddCall for call 'CA1'" in said
    assert "AppendEvent 'ivr-started' for call 'CA1'" in said
    assert writer.finish(within=0) == 0
    assert store.calls == {}


class Faulty(InMemoryStore):
    """A store whose commits numbered in `at` (counting every try from 1) raise `fault`."""

    def __init__(self, at: set[int], fault: Exception) -> None:
        super().__init__()
        self.tries, self.at, self.fault = 0, at, fault

    def commit(self, writes: Sequence[Write]) -> None:
        self.tries += 1
        if self.tries in self.at:
            raise self.fault
        super().commit(writes)


def test_an_unexpected_fault_is_said_and_the_units_land_after_it(caplog):
    """A fault the store does not name (a bug of ours, say) leaves the writer's thread
    running: whoever waits hears the unit waits, /healthz says so, the log has the
    traceback (once, however often it recurs), and the units land in order once it is
    gone, tried again after the back-off as for a down store."""
    wall, store = Wall(), Faulty(at={1, 2}, fault=RuntimeError("no attribute 'sid'"))
    writer = Writer(store=store, health=WriteHealth(wall=wall), stuck_after=60)
    with caplog.at_level(logging.ERROR, logger="hotline.store"):
        for sid in ("CA1", "CA2"):
            landing = writer.submit([AddCall(row(sid), 1000.0)])
            assert landing is not None
            assert landing.result(timeout=10) is False  # heard, not left hanging
            wall.now += RETRY_MAX
    health = writer.health.snapshot(writer.waiting())
    assert health.waiting == 2
    said = "unexpected RuntimeError in the writer (its traceback is in the log)"
    assert health.last_error == said
    [report] = [r for r in caplog.records if r.exc_info]
    assert "no attribute 'sid'" in str(report.exc_info[1])
    last = writer.submit([AddCall(row("CA3"), 1000.0)])
    assert last is not None
    assert last.result(timeout=10) is True
    assert list(store.calls) == ["CA1", "CA2", "CA3"]
    assert writer.waiting() == 0
    writer.close()


def test_units_landed_alone_are_not_written_again_when_a_later_one_fails(caplog):
    """A refused group lands unit by unit; if the store goes down before the last, the
    retry writes only what had not landed (an event is not doubled); the outage's end
    counts every write that landed during it, those of the attempt that failed too."""
    units: list[list[Write]] = [
        [AddCall(row("CA0"), 1000.0), AppendEvent("CA0", 1000.0, "zero", {})],
        [AppendEvent("CA1", 1000.0, "first", {}), AddCall(row("CA0"), 1000.0)],  # a twin
        [AddCall(row("CA2"), 1000.0), AppendEvent("CA2", 1000.0, "second", {})],
    ]
    # tries: the group (refused), unit 0, unit 1 (refused), its two writes alone, unit 2
    wall, store = Wall(), Faulty(at={6}, fault=StoreUnavailable("the database failed"))
    writer = Writer(store=store, health=WriteHealth(wall=wall), stuck_after=60)
    store.down = True
    for writes in units:
        landing = writer.submit(writes)
        assert landing is not None
        assert landing.result(timeout=10) is False
    store.down, store.tries = False, 0
    wall.now += RETRY_MAX
    writer.drain()
    assert writer.waiting() == 2  # unit 2, after the store failed
    wall.now += RETRY_MAX
    with caplog.at_level(logging.WARNING, logger="hotline.store"):
        writer.drain()
    # CA0's two writes, CA1's first (its twin set aside), CA2's two
    assert "5 waiting writes landed" in caplog.text, caplog.text
    assert [kind for _, kind, _ in store.events_] == ["zero", "first", "second"]
    assert sorted(store.calls) == ["CA0", "CA2"]
    assert writer.health.snapshot(writer.waiting()).set_aside == 1  # the twin, once
    assert writer.waiting() == 0
    writer.close()
