"""LiveStats: the simulator's KPI code over the hub's events, per local day."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hotline.domain.events import CallAnswered, CallArrived, CallQueued, Event
from hotline.service.hub import News, Published
from hotline.service.stats import LiveStats

NY = ZoneInfo("America/New_York")
MIDNIGHT = datetime(2026, 11, 26, 0, 0, tzinfo=NY).timestamp()


def feed(stats: LiveStats, *events: Event) -> None:
    for n, e in enumerate(events, 1):
        stats(Published(n, News(e.at, type(e).__name__, getattr(e, "call_id", None), {}, e)))


def test_today_starts_at_the_lines_midnight_and_never_goes_back():
    stats = LiveStats(answer_within=30, wrap_up={}, zone=NY)
    feed(
        stats,
        CallArrived(MIDNIGHT - 600, "A", "en", "public"),
        CallQueued(MIDNIGHT - 600, "A", "en", 1),
        CallArrived(MIDNIGHT + 0.001, "B", "en", "public"),
        CallQueued(MIDNIGHT - 0.0001, "B", "en", 1),  # stamped a moment earlier
        CallAnswered(MIDNIGHT + 1, "B", "a", "en", 1.0),
    )
    today = stats.report(MIDNIGHT + 2)["today"]
    assert (today["offered"], today["answered"], today["service_level"]) == (1, 1, 1.0)
    assert stats.report(MIDNIGHT + 2)["last_30_minutes"]["offered"] == 2
