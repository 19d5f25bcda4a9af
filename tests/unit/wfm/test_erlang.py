"""Erlang B/C/A against published values and an independent brute-force birth-death chain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from hotline.wfm.erlang import asa_many, erlang_a, erlang_a_many, erlang_b, erlang_c


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


# -- the closed forms for many queues at once


def palm_a(x: float, y: float) -> float:
    """A(x, y) = x e^y y^-x gamma(x, y) = sum_k y^k / ((x+1)...(x+k)), summed term by term."""
    term, total, k = 1.0, 1.0, 0
    while term > 1e-18 * total:
        k += 1
        term *= y / (x + k)
        total += term
    return total


@pytest.mark.parametrize(
    ("n", "cph", "aht", "patience"),
    [(12, 120, 300, 180), (44, 500, 300, 180), (3, 60, 240, 60), (50, 700, 300, 120),
     (8, 200, 300, 200), (100, 1500, 240, 600)],
)  # fmt: skip
def test_erlang_a_matches_mandelbaum_and_zeltyn_closed_forms(n, cph, aht, patience):
    """Mandelbaum & Zeltyn, "The Palm/Erlang-A Queue, with Applications to Call Centers"
    (Technion, 2005), sections 4.4 and 4.5: with E = ErlangB(n, lam/mu), rho = lam/(n mu)
    and A = A(n mu/theta, lam/theta),
        P{W > 0} = A E / (1 + (A - 1) E),   P{Ab} = (1/(rho A) + 1 - 1/rho) P{W > 0}.
    Evaluated here by the series and Erlang B's recursion, independently of erlang.py's
    logarithms and of its closed forms in the incomplete gamma function."""
    lam, mu, theta = cph / 3600, 1 / aht, 1 / patience
    e = erlang_b(n, lam / mu)
    rho = lam / (n * mu)
    a = palm_a(n * mu / theta, lam / theta)
    p_wait = a * e / (1 + (a - 1) * e)
    p_ab = (1 / (rho * a) + 1 - 1 / rho) * p_wait
    scalar = erlang_a(
        agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience, answer_within=20
    )
    many = erlang_a_many(
        agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience, answer_within=20
    )
    for p in (scalar.p_wait, float(many.p_wait)):
        assert p == pytest.approx(p_wait, rel=1e-12)
    for p in (scalar.abandon_rate, float(many.abandon_rate)):
        assert p == pytest.approx(p_ab, rel=1e-11)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    load=st.floats(0.05, 400),
    staffing=st.floats(0.3, 2.5),
    aht=st.floats(30, 1200),
    patience=st.floats(3, 30_000),
    within=st.sampled_from([0.0, 5.0, 20.0, 60.0, 600.0]),
)
def test_erlang_a_many_gives_erlang_a_figures(load, staffing, aht, patience, within):
    n = max(1, int(load * staffing))
    cph = load * 3600 / aht
    one = erlang_a(
        agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience,
        answer_within=within,
    )  # fmt: skip
    many = erlang_a_many(
        agents=[n], calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience,
        answer_within=within, asa=True,
    )  # fmt: skip
    # the staffing grid leaves to erlang_a every decision within 1e-9 of a threshold
    for key in ("p_wait", "service_level", "occupancy", "abandon_rate"):
        assert float(getattr(many, key)[0]) == pytest.approx(getattr(one, key), abs=1e-11), key
    assert float(many.asa_seconds[0]) == pytest.approx(one.asa_seconds, rel=1e-11)


@pytest.mark.parametrize(
    ("n", "cph", "aht", "patience"),
    [
        (1, 0.001, 300, 60),  # a call every six weeks
        (3, 0.05, 300, 0.001),  # callers gone in a millisecond
        (40, 500, 300, 0.05),
        (5, 500, 300, 1800),  # 42 Erlangs on 5 agents: the weights peak 1,300 callers deep
        (10, 48_000, 30, 30_000),  # 400 Erlangs on 10 agents, patient: peak 400,000 deep
        (45, 500, 300, 1e7),  # all but Erlang C: x = 1.5 million
        (2000, 23_880, 300, 1e6),  # 1,990 Erlangs, x = 6.7 million: 29,000 terms
        (16_000, 200_000, 300, 180),
    ],
)
def test_the_mean_wait_sum_at_the_extremes(n, cph, aht, patience):
    # erlang_a sums the same series by another route (a recurrence over the callers
    # ahead, the queue in logarithms, cut 40 orders below its peak); erlang_a_many sums it
    # in linear space from the peak, cut where `_asa_terms` says. Rounding alone differs.
    one = erlang_a(
        agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience,
        answer_within=0,
    )  # fmt: skip
    many = asa_many(agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience)
    assert float(many) == pytest.approx(one.asa_seconds, rel=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    load=st.floats(0.05, 400),
    staffing=st.floats(0.3, 2.5),
    aht=st.floats(30, 1200),
    patience=st.floats(3, 30_000),
)
def test_answered_calls_wait_no_longer_than_all_calls_over_the_share_answered(
    load, staffing, aht, patience
):
    # the bound erlang_a_table decides most ASA targets with: a caller who would wait V
    # waits V e^-V/patience on average if answered, at most patience (1 - e^-V/patience),
    # and P(abandon) = E[1 - e^-V/patience]; 1e-12 is the figures' rounding
    n = max(1, int(load * staffing))
    one = erlang_a(
        agents=n, calls_per_hour=load * 3600 / aht, aht_seconds=aht, patience_seconds=patience,
        answer_within=0,
    )  # fmt: skip
    bound = (one.abandon_rate + 1e-12) * patience / (1.0 - one.abandon_rate)
    assert one.asa_seconds <= bound


def test_asa_many_is_erlang_a_manys_mean_wait():
    agents, patience = np.array([[40], [44], [60]]), np.array([60.0, 180.0, 1e5])
    alone = asa_many(agents=agents, calls_per_hour=500, aht_seconds=300, patience_seconds=patience)
    assert alone.shape == (3, 3)
    many = erlang_a_many(
        agents=agents, calls_per_hour=500, aht_seconds=300, patience_seconds=patience,
        answer_within=20, asa=True,
    )  # fmt: skip
    assert np.array_equal(alone, many.asa_seconds)
    assert np.all(np.diff(alone, axis=0) < 0)  # more agents, shorter waits
    with pytest.raises(ValueError, match="agents >= 1"):
        asa_many(agents=0, calls_per_hour=1, aht_seconds=1, patience_seconds=1)


def test_erlang_a_many_where_the_incomplete_gamma_underflows():
    # one agent for 0.04 Erlangs with callers 400 times as patient as a call is long: the
    # incomplete gamma P(x, y) is below 1e-300 and the series takes over
    kwargs = {"calls_per_hour": 4.0, "aht_seconds": 34.0, "patience_seconds": 13408.0}
    one = erlang_a(agents=1, answer_within=20, **kwargs)
    many = erlang_a_many(agents=1, answer_within=20, asa=True, **kwargs)
    assert float(many.service_level) == pytest.approx(one.service_level, abs=1e-12)
    assert float(many.asa_seconds) == pytest.approx(one.asa_seconds, rel=1e-11)


def test_erlang_a_many_marks_what_it_cannot_compute():
    # 5,000 agents for 8,552 Erlangs: Erlang B's Poisson cdf underflows (erlang_a gives NaN
    # too), and the grid search asks erlang_a for such cells
    many = erlang_a_many(
        agents=[5000, 9000], calls_per_hour=34093, aht_seconds=903, patience_seconds=186,
        answer_within=60,
    )  # fmt: skip
    assert math.isnan(many.service_level[0])
    assert 0.0 < many.service_level[1] < 1.0
    with pytest.raises(ValueError, match="agents >= 1"):
        erlang_a_many(
            agents=0, calls_per_hour=1, aht_seconds=1, patience_seconds=1, answer_within=0
        )
