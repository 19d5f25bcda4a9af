"""Erlang B/C/A against published values and an independent brute-force birth-death chain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import poisson

from hotline.wfm.erlang import erlang_a, erlang_b, erlang_c


def birth_death(n: int, lam: float, mu: float, theta: float, cap: int = 3000) -> np.ndarray:
    """Stationary distribution of M/M/n+M truncated at `cap` (independent of erlang.py)."""
    logp = [0.0]
    for k in range(1, cap):
        death = min(k, n) * mu + max(k - n, 0) * theta
        logp.append(logp[-1] + math.log(lam / death))
    p: np.ndarray = np.exp(np.array(logp) - max(logp))
    total: float = p.sum()
    return p / total


@pytest.mark.parametrize(
    ("agents", "load", "expected"),
    [(1, 1.0, 0.5), (2, 1.0, 0.2), (10, 5.0, 0.018385)],
)
def test_erlang_b_known_values(agents, load, expected):
    assert erlang_b(agents, load) == pytest.approx(expected, abs=5e-6)


@pytest.mark.parametrize(("agents", "load"), [(100, 80.0), (1000, 950.0), (5000, 4900.0)])
def test_erlang_b_is_the_truncated_poisson(agents, load):
    # B(n, a) = P(X = n) / P(X <= n) for X ~ Poisson(a): an independent route.
    assert erlang_b(agents, load) == pytest.approx(
        poisson.pmf(agents, load) / poisson.cdf(agents, load), rel=1e-9
    )


def test_erlang_c_textbook_example():
    # 10 Erlangs on 12 agents, AHT 300 s, T = 20 s: P(wait) 0.4494, ASA 67.4 s.
    p = erlang_c(agents=12, calls_per_hour=120, aht_seconds=300, answer_within=20)
    assert p.p_wait == pytest.approx(0.449388, abs=1e-6)
    assert p.asa_seconds == pytest.approx(67.408, abs=1e-3)
    assert p.service_level == pytest.approx(1 - 0.449388 * math.exp(-2 * 20 / 300), abs=1e-6)
    assert p.occupancy == pytest.approx(10 / 12)


def test_erlang_c_overload_never_meets_a_target():
    p = erlang_c(agents=10, calls_per_hour=120, aht_seconds=300, answer_within=20)
    assert p.service_level == 0.0
    assert p.asa_seconds == math.inf


@pytest.mark.parametrize(
    ("n", "cph", "aht", "patience"),
    [(12, 120, 300, 180), (3, 60, 240, 60), (50, 700, 300, 120), (8, 200, 300, 200)],
)
def test_erlang_a_matches_the_birth_death_chain(n, cph, aht, patience):
    lam, mu, theta = cph / 3600, 1 / aht, 1 / patience
    p = birth_death(n, lam, mu, theta)
    k = np.arange(len(p))
    lq = float(((k - n).clip(min=0) * p).sum())
    a = erlang_a(
        agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience, answer_within=20
    )
    assert a.p_wait == pytest.approx(float(p[n:].sum()), rel=1e-9)
    assert a.abandon_rate == pytest.approx(theta * lq / lam, rel=1e-9)  # flow balance
    carried = (1 - a.abandon_rate) * lam / mu
    assert a.occupancy == pytest.approx(carried / n, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_as_patience_grows():
    c = erlang_c(agents=12, calls_per_hour=120, aht_seconds=300, answer_within=20)
    a = erlang_a(
        agents=12, calls_per_hour=120, aht_seconds=300, patience_seconds=1e9, answer_within=20
    )
    assert a.service_level == pytest.approx(c.service_level, abs=1e-5)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-4)
    assert a.abandon_rate < 1e-6


def test_erlang_a_service_level_by_the_waiting_time_distribution():
    # T = 0: only callers who find a free agent are answered "within" T.
    a0 = erlang_a(
        agents=12, calls_per_hour=120, aht_seconds=300, patience_seconds=180, answer_within=0
    )
    assert a0.service_level == pytest.approx(1 - a0.p_wait, abs=1e-9)
    # T huge: everyone who is served at all.
    inf = erlang_a(
        agents=12, calls_per_hour=120, aht_seconds=300, patience_seconds=180, answer_within=5000
    )
    assert inf.service_level == pytest.approx(1 - inf.abandon_rate, abs=1e-6)


@pytest.mark.parametrize("agents", [1000, 2500, 5000])
def test_stable_to_thousands_of_agents(agents):
    cph = agents * 12 * 0.97  # 97 % load, AHT 300 s
    c = erlang_c(agents=agents, calls_per_hour=cph, aht_seconds=300, answer_within=20)
    a = erlang_a(
        agents=agents,
        calls_per_hour=cph * 1.1,
        aht_seconds=300,
        patience_seconds=120,
        answer_within=20,
    )
    for figure in (c.p_wait, c.service_level, a.p_wait, a.service_level, a.abandon_rate):
        assert 0.0 <= figure <= 1.0
    # more agents never make service worse
    c2 = erlang_c(agents=agents + 10, calls_per_hour=cph, aht_seconds=300, answer_within=20)
    assert c2.service_level > c.service_level


@pytest.mark.parametrize(
    "kwargs",
    [
        {"agents": -1, "calls_per_hour": 10, "aht_seconds": 300, "answer_within": 20},
        {"agents": 1, "calls_per_hour": -10, "aht_seconds": 300, "answer_within": 20},
        {"agents": 1, "calls_per_hour": 10, "aht_seconds": 0, "answer_within": 20},
    ],
)
def test_bad_inputs_are_refused(kwargs):
    with pytest.raises(ValueError, match=r"negative|positive"):
        erlang_c(**kwargs)


def test_erlang_a_with_many_idle_agents_and_with_no_calls():
    # Erlang B underflows to 0 here; the logs must not
    a = erlang_a(
        agents=200, calls_per_hour=12, aht_seconds=300, patience_seconds=60, answer_within=20
    )
    assert a.service_level == pytest.approx(1.0)
    assert a.abandon_rate == pytest.approx(0.0, abs=1e-12)
    big = erlang_a(
        agents=3000, calls_per_hour=12000, aht_seconds=300, patience_seconds=60, answer_within=20
    )
    assert big.service_level == pytest.approx(1.0)
    none = erlang_a(
        agents=5, calls_per_hour=0, aht_seconds=300, patience_seconds=60, answer_within=20
    )
    assert (none.service_level, none.occupancy) == (1.0, 0.0)
