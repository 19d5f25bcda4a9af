"""Planning a week from a scenario, and replaying the plan in the simulator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hotline.sim.driver import simulate
from hotline.sim.scenario_file import load_scenario, parse_scenario
from hotline.wfm.demand import WEEK_HOURS, forecast_demand, weekly_demand
from hotline.wfm.erlang import erlang_a
from hotline.wfm.plan import _service_level, make_plan, plan_report, scenario_for
from hotline.wfm.staffing import Target, erlang_a_table

from ..sim.test_scenario_file import GOOD

ROOT = Path(__file__).resolve().parents[3]


def test_weekly_demand_adds_up():
    s = parse_scenario(GOOD)
    d = weekly_demand(s, interval_minutes=30)
    assert d.calls.shape == (336, 2)
    assert d.calls.sum() == pytest.approx(240 * 7)
    assert d.calls[:, 0].sum() / d.calls.sum() == pytest.approx(0.7)  # English share
    assert d.aht_seconds.tolist() == [300.0, 300.0]
    surged = weekly_demand(s, interval_minutes=60, surge=1.5)
    assert surged.calls.sum() == pytest.approx(240 * 7 * 1.5)


def test_national_demand_routes_agency_callers_to_their_queues():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    d = weekly_demand(s, interval_minutes=60)
    by_pool = dict(zip(d.pools, d.calls.sum(axis=0), strict=True))
    week = 7000 * 7
    assert by_pool["agency-en"] == pytest.approx(week * 0.15 * 0.85)
    assert by_pool["agency-es"] == pytest.approx(week * 0.15 * 0.15)
    assert sum(by_pool.values()) == pytest.approx(week)
    # the Mayan languages take longer (interpreted), plus 30 s wrap-up
    assert d.aht_seconds[d.pools.index("quc")] == pytest.approx(480 + 30)


@pytest.mark.parametrize("bad", [{"interval_minutes": 45}, {"surge": 0}, {"surge": -1}])
def test_bad_planning_options(bad):
    with pytest.raises(ValueError, match=r"interval|surge"):
        weekly_demand(parse_scenario(GOOD), **bad)


def test_the_plan_meets_its_target_on_paper_and_in_simulation():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    target = Target(0.8, 30)
    plan = make_plan(s, target=target, shrinkage=0.0)
    for pool in plan.pools:
        assert np.all(pool.schedule.coverage >= pool.required), pool.name
        assert pool.planned_service_level >= 0.8, pool.name
    # One simulated week of ~49,000 calls: the overall service level's standard error is
    # well under 1 point, and Erlang C (no abandonment) plans conservatively, so the
    # target must hold in the simulation with room to spare.
    sim = simulate(scenario_for(plan, replace(s, answer_within=30))).report
    assert sim["unfinished"] == 0
    assert sim["service_level"] >= 0.8
    report = plan_report(plan, sim)
    assert report["total"]["simulated_service_level"] == sim["service_level"]
    assert sum(p["paid_hours"] for p in report["pools"]) == plan.paid_hours


def test_shrinkage_and_surge_cost_more():
    s = parse_scenario(GOOD)
    base = make_plan(s, target=Target(0.8, 20))
    shrunk = make_plan(s, target=Target(0.8, 20), shrinkage=0.3)
    surged = make_plan(s, target=Target(0.8, 20), surge=2.0)
    assert shrunk.paid_hours > base.paid_hours
    assert surged.paid_hours > base.paid_hours
    assert shrunk.planned_service_level >= 0.8


def test_pooling_bilingual_agents_saves_hours_and_keeps_service():
    s = replace(load_scenario(ROOT / "scenarios" / "national-hotline.yaml"), answer_within=30)
    target = Target(0.8, 30)
    apart = make_plan(s, target=target)
    together = make_plan(s, target=target, pooled=("cmn", "yue"))
    assert [p.name for p in together.pools][-1] == "cmn+yue"
    assert together.demand.queues[-1] == ("cmn", "yue")
    assert together.demand.skills[-1].levels == (("cmn", 4), ("yue", 4))
    # one pool of the two languages needs fewer paid hours than two separate ones ...
    merged = together.pools[-1].schedule.paid_hours
    separate = sum(p.schedule.paid_hours for p in apart.pools if p.name in ("cmn", "yue"))
    assert merged < separate
    # ... and in simulation the pooled agents still answer both languages in time
    sim = simulate(scenario_for(together, s)).report
    for queue in ("cmn", "yue"):
        assert sim["queues"][queue]["service_level"] >= 0.8


def test_pooling_needs_known_queues():
    with pytest.raises(ValueError, match="unknown: \\['xx'\\]"):
        make_plan(parse_scenario(GOOD), target=Target(), pooled=("en", "xx"))


def test_shrinkage_is_shared_out_without_rounding_bias():
    from hotline.wfm.plan import _apportion

    assert sum(_apportion([1, 1, 1, 2], 0.65)) == 3  # floor(5 x 0.65)
    assert sum(_apportion([1] * 10, 0.65)) == 6  # not 10, as rounding each 0.65 up would give
    assert _apportion([4, 6], 1.0) == [4, 6]


def test_pooling_a_queue_twice_is_refused():
    with pytest.raises(ValueError, match="different queues"):
        make_plan(parse_scenario(GOOD), target=Target(), pooled=("en", "en", "es"))


# -- Erlang A plans: the callers' patience per pool


PATIENT = GOOD.replace(
    '  - {type: public, share: 1, queue: "{language}"}',
    '  - {type: public, share: 0.75, queue: "{language}"}\n'
    '  - {type: officer, share: 0.25, queue: "{language}", patience: never}',
).replace(
    "  - name: es\n    steps:",
    "  - name: es\n    patience: {distribution: exponential, mean: 60}\n    steps:",
)


def test_each_pool_has_its_callers_patience_as_an_abandonment_rate():
    d = weekly_demand(parse_scenario(PATIENT), interval_minutes=60)
    # en: 3 in 4 callers leave at 1/120 s, officers never: mean rate 0.75/120, i.e. 160 s;
    # es: the queue's own 60 s for the public (an officer's "never" is their own)
    assert d.patience.tolist() == pytest.approx([160.0, 80.0])
    together = d.pooled(("en", "es"))  # weighted by calls: 70 % English
    assert together.patience[-1] == pytest.approx(1 / (0.7 / 160 + 0.3 / 80))
    never = parse_scenario(GOOD.replace("  patience: {distribution: exponential, mean: 120}\n", ""))
    assert np.isinf(weekly_demand(never).patience).all()


def test_an_erlang_a_plan_staffs_by_erlang_a_and_reports_what_it_gives():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    target = Target(0.8, 30)
    c_plan = make_plan(s, target=target)
    a_plan = make_plan(s, target=target, model="erlang-a")
    d = a_plan.demand
    assert d.patience.tolist() == [240.0] * len(d.pools)  # the line's exponential patience
    required = np.column_stack([p.required for p in a_plan.pools])
    expected = erlang_a_table(
        calls_per_hour=d.calls_per_hour,
        aht_seconds=d.aht_seconds,
        patience_seconds=d.patience,
        target=target,
    )
    assert (required == expected).all()
    assert (required <= np.column_stack([p.required for p in c_plan.pools])).all()
    assert a_plan.paid_hours < 0.95 * c_plan.paid_hours  # callers who hang up need fewer
    for pool in a_plan.pools:
        assert pool.lower_bound_hours == pool.required.sum() * 0.5  # 30-minute intervals
        assert pool.lower_bound_hours <= pool.schedule.paid_hours
    kjb = a_plan.pools[d.pools.index("kjb")]
    # the figures, recomputed interval by interval with the scalar formulas
    calls = d.calls[:, d.pools.index("kjb")]
    per = [
        erlang_a(
            agents=int(n),
            calls_per_hour=c * 2,
            aht_seconds=float(d.aht_seconds[d.pools.index("kjb")]),
            patience_seconds=240.0,
            answer_within=t,
        )
        for t in (30.0, 20.0)
        for n, c in zip(kjb.schedule.coverage, calls, strict=True)
    ]
    at30, at20 = per[: len(calls)], per[len(calls) :]
    weight = calls / calls.sum()
    f = kjb.figures
    sl30, sl20 = ([p.service_level for p in at] for at in (at30, at20))
    assert f.service_level == pytest.approx(float(weight @ sl30))
    assert f.within_quick == pytest.approx(float(weight @ sl20))
    assert f.abandon_rate == pytest.approx(float(weight @ [p.abandon_rate for p in at30]))
    assert f.worst_interval == int(np.argmin(sl30))
    assert f.worst_service_level == pytest.approx(min(sl30))
    assert f.worst_service_level >= 0.8  # every interval meets the target
    # the week's level hides the worst interval: it is well above it
    assert f.service_level > f.worst_service_level + 0.05
    report = plan_report(a_plan)
    assert report["model"] == "erlang-a"
    row = report["pools"][d.pools.index("kjb")]
    assert row["worst_interval"]["at"] == "{} {:02d}:{:02d}".format(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[f.worst_interval // 48],
        *divmod(f.worst_interval % 48 * 30, 60),
    )
    assert f.abandon_rate is not None
    assert row["planned_abandon_rate"] == round(f.abandon_rate, 6)
    assert report["total"]["lower_bound_hours"] == sum(p.lower_bound_hours for p in a_plan.pools)


def test_an_erlang_a_plan_holds_in_simulation():
    s = replace(load_scenario(ROOT / "scenarios" / "national-hotline.yaml"), answer_within=30)
    plan = make_plan(s, target=Target(0.8, 30), model="erlang-a")
    sim = simulate(scenario_for(plan, s)).report
    assert sim["unfinished"] == 0
    # ~49,000 calls: the standard error of the week's service level and abandonment is a
    # few tenths of a point; Erlang A leaves out the IVR, the 3 s answer delay and the
    # lognormal handle times, so the simulated figures may differ by a point or so more.
    assert sim["service_level"] >= 0.8
    report = plan_report(plan, sim)["total"]
    assert abs(report["simulated_abandon_rate"] - report["planned_abandon_rate"]) < 0.015


def test_an_erlang_c_plan_keeps_its_figures_and_says_it_has_no_abandonment():
    s = parse_scenario(GOOD)
    plan = make_plan(s, target=Target(0.8, 20))
    for p, pool in enumerate(plan.pools):
        assert pool.planned_service_level == _service_level(
            plan.demand, p, pool.schedule.coverage, 0.0, plan.target
        )
        assert pool.figures.abandon_rate is None
    assert plan_report(plan)["total"]["planned_abandon_rate"] is None
    with pytest.raises(ValueError, match="unknown model 'erlang-b'"):
        make_plan(s, target=Target(), model="erlang-b")


# -- plans from a forecast


def test_a_forecast_week_is_routed_to_pools_like_the_scenarios_callers():
    s = parse_scenario(PATIENT)  # en and es, each to its own queue
    hours = np.arange(WEEK_HOURS, dtype=np.float64)
    week = {"en": 10.0 + hours % 24, "es": np.full(WEEK_HOURS, 3.0)}
    d = forecast_demand(s, week, interval_minutes=30)
    assert d.calls.shape == (2 * WEEK_HOURS, 2)
    # each hour's calls split evenly over its two half-hours, English to en, Spanish to es
    assert d.calls[:2, 0].tolist() == [5.0, 5.0]
    assert d.calls[2 * 23, 0] == pytest.approx(33.0 / 2)
    assert d.calls[:, 1].sum() == pytest.approx(3.0 * WEEK_HOURS)
    # handle time and patience as the scenario's (the mix per pool is the same)
    base = weekly_demand(s)
    assert d.aht_seconds.tolist() == pytest.approx(base.aht_seconds.tolist())
    assert d.patience.tolist() == pytest.approx(base.patience.tolist())
    # "all" alone: split by the scenario's language shares (70 / 30)
    total = forecast_demand(s, {"all": np.full(WEEK_HOURS, 10.0)}, interval_minutes=60)
    assert total.calls[0].tolist() == pytest.approx([7.0, 3.0])
    with pytest.raises(ValueError, match="calls in de, which the scenario does not have"):
        forecast_demand(s, {"de": np.ones(WEEK_HOURS)})
    plan = make_plan(s, target=Target(0.8, 20), demand=d)
    assert plan.demand is d
    assert [p.calls for p in plan.pools] == pytest.approx(d.calls.sum(axis=0).tolist())
