"""Surge cases change the scenario as stated; their impact is measured against the base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import load_scenario
from hotline.wfm.demand import weekly_demand
from hotline.wfm.plan import make_plan
from hotline.wfm.staffing import Target
from hotline.wfm.surge import SurgeCase, impact

ROOT = Path(__file__).resolve().parents[3]
NATIONAL = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")


def calls_by_language(s: Scenario) -> dict[str, float]:
    d = weekly_demand(s, interval_minutes=60)
    return dict(zip(d.pools, d.calls.sum(axis=0), strict=True))


def test_volume_and_handle_cases():
    base = calls_by_language(NATIONAL)
    more = calls_by_language(SurgeCase("x1.5", volume=1.5).apply(NATIONAL))
    assert more["en"] == pytest.approx(1.5 * base["en"])
    longer = SurgeCase("aht", handle=1.2).apply(NATIONAL)
    assert longer.handle.mean == pytest.approx(1.2 * NATIONAL.handle.mean)
    quc = next(lang for lang in longer.languages if lang.tag == "quc")
    assert quc.handle is not None
    assert quc.handle.mean == pytest.approx(1.2 * 480)


def test_a_language_spike_adds_calls_in_that_language_only():
    base = calls_by_language(NATIONAL)
    spiked = calls_by_language(SurgeCase("es x2", language="es", spike=2.0).apply(NATIONAL))
    assert spiked["es"] == pytest.approx(2 * base["es"])
    assert spiked["agency-es"] == pytest.approx(2 * base["agency-es"])
    for pool in ("en", "agency-en", "pt", "kjb"):
        assert spiked[pool] == pytest.approx(base[pool])


def test_bad_cases():
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        SurgeCase("x", language="xx", spike=2).apply(NATIONAL)
    with pytest.raises(ValueError, match="must be positive"):
        SurgeCase("x", volume=0).apply(NATIONAL)


def test_impact_against_the_base_schedule():
    target = Target(0.8, 30)
    base = make_plan(NATIONAL, target=target)
    same = impact(base, NATIONAL, SurgeCase("none"))
    assert same.extra_hours == 0  # the base schedule already covers the base week
    double = impact(base, SurgeCase("x2", volume=2).apply(NATIONAL), SurgeCase("x2", volume=2))
    assert double.extra_hours > 0
    assert np.all(double.overtime <= double.extra)
    assert 0 < double.overtime_share < 1
    assert double.on_call_pool == double.extra.sum(axis=1).max()
    # doubling the calls needs less than double the agents (economies of scale)
    assert double.extra_hours < base.paid_hours


def test_impact_needs_a_base_plan_of_the_same_queues():
    pooled = make_plan(NATIONAL, target=Target(0.8, 30), pooled=("cmn", "yue"))
    with pytest.raises(ValueError, match="same queues"):
        impact(pooled, NATIONAL, SurgeCase("none"))
