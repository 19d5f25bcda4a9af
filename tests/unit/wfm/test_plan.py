"""Planning a week from a scenario, and replaying the plan in the simulator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hotline.sim.driver import simulate
from hotline.sim.scenario_file import load_scenario, parse_scenario
from hotline.wfm.demand import weekly_demand
from hotline.wfm.plan import make_plan, plan_report, scenario_for
from hotline.wfm.staffing import Target

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
