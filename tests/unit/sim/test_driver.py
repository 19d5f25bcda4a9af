"""The simulator: reproducible, every call accounted for, shifts respected."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hotline.domain.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallOffered,
)
from hotline.domain.queue import Overflow
from hotline.routing import Router
from hotline.routing.fullscan import FullScanRouter
from hotline.sim.driver import CallPlan, Simulation, simulate
from hotline.sim.scenario import AgentGroup, Callbacks, Scenario, Shift
from hotline.sim.scenario_file import load_scenario, parse_scenario
from hotline.switchboard.events import AnyEvent

from .test_scenario_file import GOOD

ROOT = Path(__file__).resolve().parents[3]


def test_same_seed_same_report_different_seed_different_report():
    s = Scenario.single_queue(
        calls_per_hour=60, aht_seconds=300, agents=6, hours=48, patience_seconds=120, seed=5
    )
    a, b = simulate(s).report, simulate(s).report
    c = simulate(replace(s, seed=6)).report
    assert a == b
    assert a != c


def test_every_call_gets_an_outcome():
    s = parse_scenario(GOOD)
    r = simulate(replace(s, hours=72)).report
    assert r["offered"] > 0
    assert r["offered"] == r["answered"] + r["abandoned"] + r["overflowed"]
    for t in r["languages"].values():
        assert t["offered"] == t["answered"] + t["abandoned"] + t["overflowed"]
    assert r["unfinished"] == 0


def test_indexed_and_full_scan_routers_give_the_same_day():
    s = replace(parse_scenario(GOOD), hours=24)
    traces: list[list[AnyEvent]] = [[], []]
    for trace, cls in zip(traces, (Router, FullScanRouter), strict=True):
        Simulation(scenario=s, trace=trace.append, router_class=cls).run()
    assert traces[0] == traces[1]
    assert len(traces[0]) > 1000


def test_agents_work_their_shifts_only():
    s = replace(parse_scenario(GOOD), hours=48)
    events: list[AnyEvent] = []
    Simulation(scenario=s, trace=events.append).run()
    es_logins = [e.at for e in events if isinstance(e, AgentLoggedIn) and e.agent_id == "es-1"]
    es_logouts = [e.at for e in events if isinstance(e, AgentLoggedOut) and e.agent_id == "es-1"]
    # Monday and Tuesday 08:00-16:00 (a logout may wait for the end of a call)
    assert es_logins == [8 * 3600, 32 * 3600]
    assert [t >= 16 * 3600 for t in es_logouts] == [True, True]
    offers_to_es = [
        e.at % 86400 for e in events if isinstance(e, CallOffered) and e.agent_id == "es-1"
    ]
    assert offers_to_es
    assert all(8 * 3600 <= t < 16 * 3600 for t in offers_to_es)


def test_overnight_shifts_cross_midnight():
    s = Scenario.single_queue(calls_per_hour=10, aht_seconds=60, agents=1, hours=48)
    s = replace(s, agent_groups=(AgentGroup("night", 1, {}, (), (Shift(22.0, 8.0),)),))
    events: list[AnyEvent] = []
    Simulation(scenario=s, trace=events.append).run()
    logins = [e.at / 3600 for e in events if isinstance(e, AgentLoggedIn)]
    # the shift of the day before the run is still on at 00:00; then 22:00 each day
    assert logins == [0.0, 22.0, 46.0]


def test_progress_is_reported_to_the_end():
    s = Scenario.single_queue(calls_per_hour=10, aht_seconds=60, agents=1, hours=10)
    seen: list[float] = []
    Simulation(scenario=s).run(progress=seen.append)
    assert seen[0] == 0.01
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_callbacks_stop_abandonment_after_the_offer():
    s = Scenario.single_queue(
        calls_per_hour=120, aht_seconds=300, agents=11, hours=200, patience_seconds=120, seed=3
    )

    def abandon_waits(scenario: Scenario) -> tuple[list[float], dict[str, Any]]:
        events: list[AnyEvent] = []
        report = Simulation(scenario=scenario, trace=events.append).run().report
        return [e.waited for e in events if isinstance(e, CallAbandoned)], report

    before, without = abandon_waits(s)
    after, with_cb = abandon_waits(replace(s, callbacks=Callbacks(offer_after=30, accept=1.0)))
    assert without["callbacks"] == 0
    assert any(w > 30 for w in before)  # without callbacks, callers give up later too
    # everyone still waiting at 30 s takes the callback: nobody abandons after that
    assert with_cb["callbacks"] > 0
    assert max(after) <= 30
    assert with_cb["offered"] == with_cb["answered"] + with_cb["abandoned"]


def test_scenario_without_callbacks_draws_as_before():
    s = Scenario.single_queue(calls_per_hour=60, aht_seconds=300, agents=6, hours=24, seed=9)
    a = simulate(s).report
    b = simulate(replace(s, callbacks=Callbacks(offer_after=30, accept=0.0))).report
    assert a == b


def test_after_10000_calls_end_the_switchboard_holds_nothing_of_them():
    """The national line (escalations, an overflow, wrap-ups, offers that time out) with
    callbacks taken and an overflow to voicemail: once every call has ended and the timers
    have run, no per-call entry is left in the switchboard."""
    national = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    queues = tuple(
        replace(q, steps=(replace(q.steps[0], seconds=30.0),),
                overflow=Overflow(fallback="voicemail"))
        if q.name == "en" else q for q in national.queues
    )  # fmt: skip
    s = replace(national, hours=36, queues=queues,
                callbacks=Callbacks(offer_after=60, accept=0.3))  # fmt: skip
    sim = Simulation(scenario=s, interval_minutes=60)
    r = sim.run()
    assert r.calls > 10_000
    assert r.report["callbacks"] > 0
    assert r.report["overflowed"] > 0
    assert (
        r.report["offered"] == r.report["answered"] + r.report["abandoned"] + r.report["overflowed"]
    )
    assert sim.board.held() == {}


def test_the_trace_of_a_day_goes_forward_in_time():
    """Events a switchboard emits while a timer fires bear the timer's time (agents who
    pick up at once are connected by the wrap-up's end, not by the next command)."""
    national = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    events: list[AnyEvent] = []
    Simulation(scenario=replace(national, hours=12, answer_delay=0.0), trace=events.append).run()
    times = [e.at for e in events]
    assert len(times) > 10_000
    assert times == sorted(times)


def test_the_run_is_the_same_whether_or_not_the_switchboard_emits_store_rows():
    """The simulator builds its switchboard without the store's row effects (it keeps no
    store); with them, every event and every KPI is the same."""
    national = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    s = replace(national, hours=24, callbacks=Callbacks(offer_after=60, accept=0.3))
    runs = []
    for store_rows in (False, True):
        events: list[AnyEvent] = []
        sim = Simulation(scenario=s, trace=events.append, store_rows=store_rows)
        runs.append((sim.run().report, events))
    assert runs[0] == runs[1]
    assert len(runs[0][1]) > 10_000


def _plan(
    times: list[float], ivr: list[float], patience: list[float], handle: list[float]
) -> CallPlan:
    """Callers of a one-language, one-type scenario, as given."""
    n = len(times)
    return CallPlan(
        times=np.array(times, dtype=np.float64),
        caller=np.zeros(n, dtype=np.int64),
        language=np.zeros(n, dtype=np.int64),
        ivr=np.array(ivr, dtype=np.float64),
        patience=np.array(patience, dtype=np.float64),
        handle=np.array(handle, dtype=np.float64),
        callback=np.zeros(n, dtype=bool),
    )


def test_a_given_plan_plays_exactly_those_callers():
    """One agent who picks up after 3 s: the first caller is answered after the ring; the
    second, queued behind them, gives up when their patience ends; the third hangs up while
    the phone rings; the fourth is answered. The seed draws nothing."""
    s = replace(Scenario.single_queue(calls_per_hour=600, aht_seconds=300, agents=1, hours=1),
                answer_delay=3.0)  # fmt: skip
    plan = _plan(
        times=[0.0, 5.0, 80.0, 100.0],
        ivr=[10.0, 10.0, 0.0, 0.0],
        patience=[100.0, 20.0, 2.0, math.inf],
        handle=[60.0, 60.0, 60.0, 30.0],
    )
    traces: list[list[AnyEvent]] = [[], []]
    for trace, seed in zip(traces, (1, 2), strict=True):
        r = Simulation(scenario=s, seed=seed, trace=trace.append, plan=plan).run()
        assert r.calls == 4
    assert traces[0] == traces[1]
    outcomes = [
        (type(e).__name__, e.call_id, e.at, getattr(e, "waited", None))
        for e in traces[0]
        if isinstance(e, (CallAnswered, CallAbandoned, CallCompleted))
    ]
    assert outcomes == [
        ("CallAnswered", "C0", 13.0, 3.0),
        ("CallAbandoned", "C1", 35.0, 20.0),
        ("CallCompleted", "C0", 73.0, None),
        ("CallAbandoned", "C2", 82.0, 2.0),
        ("CallAnswered", "C3", 103.0, 3.0),
        ("CallCompleted", "C3", 133.0, None),
    ]


def test_a_plan_drawn_from_a_seed_is_the_run_of_that_seed():
    s = replace(load_scenario(ROOT / "scenarios" / "national-hotline.yaml"), hours=3)
    drawn: list[AnyEvent] = []
    given: list[AnyEvent] = []
    Simulation(scenario=s, seed=4, trace=drawn.append).run()
    plan = CallPlan.drawn(s, np.random.default_rng(4))
    Simulation(scenario=s, seed=99, trace=given.append, plan=plan).run()
    assert len(drawn) > 1000
    assert given == drawn


def test_a_plan_that_does_not_fit_the_scenario_is_refused():
    s = Scenario.single_queue(calls_per_hour=60, aht_seconds=300, agents=1, hours=1)
    short = replace(_plan([0.0, 1.0], [0.0, 0.0], [9.0, 9.0], [9.0, 9.0]),
                    handle=np.array([9.0]))  # fmt: skip
    with pytest.raises(ValueError, match="one value per call"):
        Simulation(scenario=s, plan=short)
    french = replace(_plan([0.0], [0.0], [9.0], [9.0]), language=np.array([1], dtype=np.int64))
    with pytest.raises(ValueError, match="language"):
        Simulation(scenario=s, plan=french)


@pytest.mark.parametrize(
    ("times", "ivr", "patience", "handle", "what"),
    [
        ([-50.0], [0.0], [9.0], [9.0], "arrival"),
        ([math.nan], [0.0], [9.0], [9.0], "arrival"),
        ([math.inf], [0.0], [9.0], [9.0], "arrival"),
        ([0.0], [-20.0], [9.0], [9.0], "IVR"),
        ([0.0], [0.0], [-3.0], [9.0], "patience"),
        ([0.0], [0.0], [math.nan], [9.0], "patience"),
        ([0.0], [0.0], [9.0], [-5.0], "handle"),
    ],
)
def test_a_plan_with_negative_or_not_a_number_times_is_refused(
    times: list[float], ivr: list[float], patience: list[float], handle: list[float], what: str
) -> None:
    """Refused when given, not failing mid-run (an unknown call, a time in the past) or
    playing an arrival at infinity as answered."""
    s = Scenario.single_queue(calls_per_hour=60, aht_seconds=300, agents=1, hours=1)
    with pytest.raises(ValueError, match=what):
        Simulation(scenario=s, plan=_plan(times, ivr, patience, handle))


@pytest.mark.parametrize(
    ("field", "values", "said"),
    [
        ("caller", np.array([0.0, 0.5]), "not float64: call 1 has 0.5"),
        ("language", np.array([0.0, 0.0]), "not float64: call 0 has 0.0"),
    ],
)
def test_a_plan_with_indexes_that_are_not_integers_is_refused(
    field: str, values: Any, said: str
) -> None:
    """Refused when given, naming the field and the value, as the other checks are (a float
    index passed the range check and the run failed with a raw TypeError). (`values: Any`:
    a caller's plan typed otherwise, or not typed at all.)"""
    s = Scenario.single_queue(calls_per_hour=60, aht_seconds=300, agents=1, hours=1)
    plan = replace(_plan([0.0, 1.0], [0.0, 0.0], [9.0, 9.0], [9.0, 9.0]), **{field: values})
    with pytest.raises(ValueError, match=f"indexes \\(`{field}`\\) must be an integer array") as e:
        Simulation(scenario=s, plan=plan)
    assert said in str(e.value)
