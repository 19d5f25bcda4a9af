"""KPIs per caller type and per interval add up to the whole, and agree with a count made
from the event trace itself."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hotline.sim.driver import Simulation
from hotline.sim.scenario_file import load_scenario

ROOT = Path(__file__).resolve().parents[3]


def test_caller_type_and_interval_slices_match_the_trace():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    kinds: dict[str, str] = {}
    first_queued: dict[str, float] = {}
    answered_by_type: Counter[str] = Counter()
    offered_by_half_hour: Counter[int] = Counter()

    def trace(ev: object) -> None:
        name = type(ev).__name__
        if name == "CallArrived":
            kinds[ev.call_id] = ev.caller_type  # type: ignore[attr-defined]
        elif name == "CallQueued" and ev.call_id not in first_queued:  # type: ignore[attr-defined]
            first_queued[ev.call_id] = ev.at  # type: ignore[attr-defined]
            offered_by_half_hour[int(ev.at // 1800)] += 1  # type: ignore[attr-defined]
        elif name == "CallAnswered":
            answered_by_type[kinds[ev.call_id]] += 1  # type: ignore[attr-defined]

    r = Simulation(scenario=s, trace=trace, interval_minutes=30).run().report
    types = r["caller_types"]
    assert set(types) == {"agency", "public"}
    assert {k: v["answered"] for k, v in types.items()} == dict(answered_by_type)
    assert sum(v["offered"] for v in types.values()) == r["offered"]
    assert r["interval_minutes"] == 30
    intervals = {int(t["start_seconds"] // 1800): t for t in r["intervals"]}
    assert {k: t["offered"] for k, t in intervals.items()} == dict(offered_by_half_hour)
    for key in ("offered", "answered", "abandoned", "overflowed"):
        assert sum(t[key] for t in r["intervals"]) == r[key]
    assert len(intervals) >= 48  # a whole day of half hours (a few calls may end after it)


def test_without_an_interval_the_report_has_none():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    r = Simulation(scenario=s).run().report
    assert "intervals" not in r
    assert "caller_types" in r
