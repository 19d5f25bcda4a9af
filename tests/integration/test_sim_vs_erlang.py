"""The simulator reproduces Erlang C and Erlang A on the systems those formulas describe.

Method: R independent replications (seeds 1..R) of an M/M/n (or M/M/n+M) queue. Each
replication's KPI is one observation; their mean has standard error s/sqrt(R), and the
formula must lie within t(0.9995, R-1) standard errors of it (a 0.1 % false-alarm rate).
The tolerance therefore comes from the run length, not from a lucky run: longer runs
give tighter bounds. Each replication starts empty; for these loads the queue forgets
its start within minutes, so the start-up bias is far below one standard error.

The same data must *reject* the formula for one agent fewer: the check has power.

Loads stay at or below about 85 % for Erlang C: closer to saturation the per-run ASA is
so skewed (rare long bursts) that ten short replications understate its spread; a single
long run still agrees there (docs/benchmarks.md shows one at 91 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from hotline.sim.driver import simulate
from hotline.sim.scenario import Scenario
from hotline.wfm.erlang import Performance, erlang_a, erlang_c

R = 10
T_CRIT = float(student_t.ppf(1 - 0.0005, R - 1))  # ~4.78


def replicate(
    *, cph: float, aht: float, agents: int, hours: int, patience: float | None
) -> dict[str, np.ndarray]:
    runs = []
    for seed in range(1, R + 1):
        s = Scenario.single_queue(
            calls_per_hour=cph,
            aht_seconds=aht,
            agents=agents,
            hours=hours,
            patience_seconds=patience,
            answer_within=20,
            seed=seed,
        )
        runs.append(simulate(s).report)
    return {
        k: np.array([r[k] for r in runs])
        for k in ("service_level", "asa_seconds", "abandon_rate", "occupancy")
    }


def within(sample: np.ndarray, expected: float) -> tuple[bool, float, float]:
    mean = float(sample.mean())
    half = T_CRIT * float(sample.std(ddof=1)) / math.sqrt(len(sample))
    return abs(mean - expected) <= half, mean, half


def check(sample: dict[str, np.ndarray], theory: Performance, keys: tuple[str, ...]) -> list[str]:
    bad = []
    for key in keys:
        ok, mean, half = within(sample[key], getattr(theory, key))
        if not ok:
            bad.append(
                f"{key}: simulated {mean:.4f} ± {half:.4f}, formula {getattr(theory, key):.4f}"
            )
    return bad


@pytest.mark.parametrize(
    ("cph", "aht", "agents", "hours"),
    [(120, 300, 12, 100), (600, 240, 48, 30)],
)
def test_erlang_c(cph, aht, agents, hours):
    sample = replicate(cph=cph, aht=aht, agents=agents, hours=hours, patience=None)
    keys = ("service_level", "asa_seconds", "occupancy")
    theory = erlang_c(agents=agents, calls_per_hour=cph, aht_seconds=aht, answer_within=20)
    assert check(sample, theory, keys) == []
    wrong = erlang_c(agents=agents - 1, calls_per_hour=cph, aht_seconds=aht, answer_within=20)
    assert check(sample, wrong, keys), "one agent fewer should be told apart"


@pytest.mark.parametrize(
    ("cph", "aht", "agents", "patience", "hours"),
    [(120, 300, 12, 180, 100), (600, 240, 38, 120, 20)],
)
def test_erlang_a(cph, aht, agents, patience, hours):
    sample = replicate(cph=cph, aht=aht, agents=agents, hours=hours, patience=patience)
    keys = ("service_level", "asa_seconds", "abandon_rate", "occupancy")
    theory = erlang_a(
        agents=agents,
        calls_per_hour=cph,
        aht_seconds=aht,
        patience_seconds=patience,
        answer_within=20,
    )
    assert check(sample, theory, keys) == []
    wrong = erlang_a(
        agents=agents - 1,
        calls_per_hour=cph,
        aht_seconds=aht,
        patience_seconds=patience,
        answer_within=20,
    )
    assert check(sample, wrong, keys), "one agent fewer should be told apart"
