"""The staffing search returns the smallest head-count meeting the target: checked against
a plain upward scan of the Erlang formulas, which is slow but obviously right."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.wfm.erlang import asa_many, erlang_a, erlang_a_many, erlang_c
from hotline.wfm.staffing import (
    CLOSE,
    Target,
    Unreachable,
    agents_needed,
    erlang_a_table,
    erlang_c_table,
    with_shrinkage,
)


def scan(cph: float, aht: float, target: Target, patience: float | None = None) -> int:
    n = 0
    while True:
        n += 1
        if patience is None:
            p = erlang_c(
                agents=n, calls_per_hour=cph, aht_seconds=aht, answer_within=target.answer_within
            )
        else:
            p = erlang_a(
                agents=n,
                calls_per_hour=cph,
                aht_seconds=aht,
                patience_seconds=patience,
                answer_within=target.answer_within,
            )
        if target.met_by(p):
            return n


@settings(max_examples=60, deadline=None)
@given(
    cph=st.floats(1, 2000),
    aht=st.floats(30, 900),
    sl=st.floats(0.5, 0.95),
    within=st.sampled_from([0.0, 10.0, 20.0, 60.0]),
    asa=st.none() | st.floats(5, 120),
    occ=st.none() | st.floats(0.7, 0.95),
)
def test_erlang_c_search_is_the_smallest_that_meets_the_target(cph, aht, sl, within, asa, occ):
    target = Target(sl, within, asa, occ)
    p = agents_needed(calls_per_hour=cph, aht_seconds=aht, target=target)
    assert p.agents == scan(cph, aht, target)
    assert target.met_by(p)


@settings(max_examples=25, deadline=None)
@given(
    cph=st.floats(1, 600),
    aht=st.floats(60, 600),
    patience=st.floats(30, 600),
    sl=st.floats(0.5, 0.9),
)
def test_erlang_a_search_is_the_smallest_that_meets_the_target(cph, aht, patience, sl):
    target = Target(sl, 20.0)
    p = agents_needed(calls_per_hour=cph, aht_seconds=aht, target=target, patience_seconds=patience)
    assert p.agents == scan(cph, aht, target, patience)


@settings(max_examples=20, deadline=None)
@given(
    cells=st.lists(st.tuples(st.floats(0, 3000), st.floats(30, 900)), min_size=1, max_size=40),
    sl=st.floats(0.5, 0.95),
    asa=st.none() | st.floats(5, 120),
    occ=st.none() | st.floats(0.7, 0.95),
)
def test_the_table_agrees_with_the_search_cell_by_cell(cells, sl, asa, occ):
    target = Target(sl, 20.0, asa, occ)
    table = erlang_c_table(
        calls_per_hour=[c for c, _ in cells], aht_seconds=[a for _, a in cells], target=target
    )
    expected = [
        agents_needed(calls_per_hour=c, aht_seconds=a, target=target).agents for c, a in cells
    ]
    assert table.tolist() == expected


def test_textbook_case():
    # 10 Erlangs: 12 agents give 60.7 % within 20 s (see test_erlang), 13 too few, 14 enough
    p = agents_needed(calls_per_hour=120, aht_seconds=300, target=Target(0.8, 20))
    assert p.agents == 14
    thirteen = erlang_c(agents=13, calls_per_hour=120, aht_seconds=300, answer_within=20)
    assert thirteen.service_level < 0.8 < p.service_level


def test_thousands_of_agents():
    p = agents_needed(calls_per_hour=60_000, aht_seconds=300, target=Target(0.8, 20))
    assert 5000 < p.agents < 5100
    below = erlang_c(agents=p.agents - 1, calls_per_hour=60_000, aht_seconds=300, answer_within=20)
    assert below.service_level < 0.8 <= p.service_level


def test_no_calls_need_no_agents():
    assert agents_needed(calls_per_hour=0, aht_seconds=300, target=Target()).agents == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target(service_level=1.0), "strictly between 0 and 1"),
        (Target(service_level=1.2), "strictly between 0 and 1"),
        (Target(service_level=0.0), "strictly between 0 and 1"),
        (Target(max_occupancy=1.5), "occupancy"),
        (Target(asa_seconds=0), "ASA"),
    ],
)
def test_impossible_targets_are_refused(target, message):
    with pytest.raises(ValueError, match=message):
        agents_needed(calls_per_hour=100, aht_seconds=300, target=target)


def test_shrinkage():
    assert with_shrinkage(14, 0.0) == 14
    assert with_shrinkage(14, 0.3) == 20  # 14 / 0.7 = 20 exactly: no extra agent
    assert with_shrinkage(15, 0.3) == 22
    with pytest.raises(ValueError, match="shrinkage"):
        with_shrinkage(10, 1.0)


@pytest.mark.parametrize("patience", [None, 60.0])
def test_loads_no_finite_staff_can_meet_are_refused_at_once(patience):
    with pytest.raises(Unreachable, match="more than 1,000,000 agents"):
        agents_needed(
            calls_per_hour=1e12, aht_seconds=300, target=Target(), patience_seconds=patience
        )


def test_absurd_head_counts_are_refused():
    with pytest.raises(ValueError, match="at most 1,000,000 agents"):
        erlang_c(agents=300_000_000, calls_per_hour=100, aht_seconds=300, answer_within=20)


# -- Erlang A for a whole grid at once


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    cells=st.lists(
        st.tuples(
            st.integers(0, 1500).map(float) | st.floats(1, 1500),
            st.floats(30, 600),
            st.floats(30, 600) | st.floats(600, 3000) | st.just(math.inf),
        ),
        min_size=1,
        max_size=8,
    ),
    sl=st.floats(0.3, 0.95),
    within=st.sampled_from([0.0, 10.0, 20.0, 60.0]),
    asa=st.none() | st.floats(5, 120),
    occ=st.none() | st.floats(0.7, 1.0),
)
def test_the_erlang_a_grid_is_the_scalar_search_cell_by_cell(cells, sl, within, asa, occ):
    assert_grid_is_the_search(cells, Target(sl, within, asa, occ))


def assert_grid_is_the_search(cells: list[tuple[float, float, float]], target: Target) -> None:
    """`erlang_a_table` over the cells (calls/h, handle time, patience) gives the scalar
    search's head-count in each."""
    grid = erlang_a_table(
        calls_per_hour=[c for c, _, _ in cells],
        aht_seconds=[a for _, a, _ in cells],
        patience_seconds=[p for _, _, p in cells],
        target=target,
    )
    expected = [
        agents_needed(calls_per_hour=c, aht_seconds=a, target=target, patience_seconds=p).agents
        for c, a, p in cells
    ]
    assert grid.tolist() == expected


def test_the_grid_broadcasts_intervals_by_pools_with_a_patience_per_pool():
    cph = np.array([[120.0, 30.0], [500.0, 0.0], [1.0, 900.0]])
    patience = np.array([180.0, 60.0])
    grid = erlang_a_table(
        calls_per_hour=cph, aht_seconds=300.0, patience_seconds=patience, target=Target(0.8, 20)
    )
    assert grid.shape == (3, 2)
    for (i, j), n in np.ndenumerate(grid):
        scalar = agents_needed(
            calls_per_hour=float(cph[i, j]),
            aht_seconds=300.0,
            target=Target(0.8, 20),
            patience_seconds=float(patience[j]),
        )
        assert n == scalar.agents
    # the example: 500 calls/h, AHT 300 s, 80 % in 20 s: Erlang C 48, Erlang A 44
    assert grid[1, 0] == 44
    assert (
        erlang_c_table(calls_per_hour=[500.0], aht_seconds=300.0, target=Target(0.8, 20))[0] == 48
    )


def test_a_close_call_is_left_to_the_scalar_search():
    # a target equal (to the last bit) to what 44 agents give: the closed form and the
    # Markov chain may round it either way, so the grid must ask the scalar search
    perf = erlang_a(
        agents=44, calls_per_hour=500, aht_seconds=300, patience_seconds=180, answer_within=20
    )
    target = Target(perf.service_level, 20)
    many = erlang_a_many(
        agents=44, calls_per_hour=500, aht_seconds=300, patience_seconds=180, answer_within=20
    )
    assert abs(float(many.service_level) - target.service_level) <= CLOSE  # a close call
    expected = agents_needed(
        calls_per_hour=500, aht_seconds=300, target=target, patience_seconds=180
    ).agents
    assert expected == 44  # (met exactly, by its own figure)
    grid = erlang_a_table(
        calls_per_hour=[500.0], aht_seconds=300.0, patience_seconds=180.0, target=target
    )
    assert grid.tolist() == [expected]


# -- the grid with a mean-wait (ASA) target: the sum over the callers ahead is asked only
# where the service level and occupancy are met, so these check that skipping it elsewhere
# changes no head-count


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    cells=st.lists(
        st.tuples(
            st.floats(0.01, 1) | st.floats(1, 3000),  # a call a few days apart, to 250 Erlangs
            st.floats(30, 900),
            st.floats(0.2, 10) | st.floats(10, 600) | st.floats(600, 1e6),  # patience
        ),
        min_size=1,
        max_size=8,
    ),
    sl=st.floats(0.3, 0.95),
    within=st.sampled_from([0.0, 10.0, 20.0, 60.0]),
    asa=st.floats(0.001, 1) | st.floats(1, 120),
    occ=st.none() | st.floats(0.7, 1.0),
)
def test_the_grid_with_an_asa_target_is_the_scalar_search_cell_by_cell(cells, sl, within, asa, occ):
    assert_grid_is_the_search(cells, Target(sl, within, asa, occ))


@pytest.mark.parametrize(
    ("cph", "aht", "patience", "target", "fewest"),
    [
        (0.05, 300, 60, Target(0.8, 20, 1.0), 1),  # a trickle: one agent is plenty
        (0.05, 300, 60, Target(0.3, 20, 1e-4), 3),  # ... unless the wait must be 0.1 ms
        (200_000, 300, 180, Target(0.8, 20, 5.0), 16_210),  # 16,667 Erlangs; ASA binds
        (500, 300, 0.5, Target(0.8, 20, 0.1), 37),  # callers gone in half a second
        (500, 300, 0.05, Target(0.5, 10, 0.01), 22),
        (500, 300, 1e7, Target(0.8, 20, 10.0), 49),  # patient for months: Erlang C's 49
        (500, 300, 180, Target(0.8, 20, 0.5), 54),  # ASA binds: 44 for the service level
        (500, 300, 180, Target(0.3, 20, 60.0), 34),  # below the load: 34 agents, 41.7 E
        (3000, 30, 30_000, Target(0.3, 0, 100.0), 27),
        # impatient callers, a low target: those answered wait longer than callers do on
        # average (22 agents: 8.7 s against 6.7 s), so the grid's bound on the mean wait
        # must be over the share answered
        (2000, 120, 10, Target(0.3, 20, 7.5), 26),
    ],
)
def test_asa_targets_at_the_extremes(cph, aht, patience, target, fewest):
    def met(n: int) -> bool:
        perf = erlang_a(agents=n, calls_per_hour=cph, aht_seconds=aht, patience_seconds=patience,
                        answer_within=target.answer_within)  # fmt: skip
        return bool(target.met_by(perf))

    assert met(fewest)
    assert fewest == 1 or not met(fewest - 1)
    scalar = agents_needed(
        calls_per_hour=cph, aht_seconds=aht, target=target, patience_seconds=patience
    )
    assert scalar.agents == fewest
    grid = erlang_a_table(
        calls_per_hour=[cph], aht_seconds=aht, patience_seconds=patience, target=target
    )
    assert grid.tolist() == [fewest]


def test_an_asa_close_call_is_left_to_the_scalar_search():
    # an ASA target equal (to the last bit) to what 54 agents give, the service level met
    # with room: the decision rests on the mean wait alone, and is the scalar search's
    perf = erlang_a(
        agents=54, calls_per_hour=500, aht_seconds=300, patience_seconds=180, answer_within=20
    )
    target = Target(0.8, 20, asa_seconds=perf.asa_seconds)
    many = asa_many(agents=54, calls_per_hour=500, aht_seconds=300, patience_seconds=180)
    assert abs(float(many) / perf.asa_seconds - 1) <= CLOSE  # a close call
    assert perf.service_level > 0.8 + 1e-3
    expected = agents_needed(
        calls_per_hour=500, aht_seconds=300, target=target, patience_seconds=180
    ).agents
    assert expected == 54  # (met exactly, by its own figure)
    grid = erlang_a_table(
        calls_per_hour=[500.0], aht_seconds=300.0, patience_seconds=180.0, target=target
    )
    assert grid.tolist() == [expected]


def test_an_asa_target_no_head_count_up_to_a_million_meets_is_refused():
    # 600,000 Erlangs: as many agents meet half answered at once, but wait 0.15 s on
    # average; the next head-count the search may try, 1,200,000, is past the limit
    kwargs = {"calls_per_hour": 7.2e6, "aht_seconds": 300.0, "patience_seconds": 300.0}
    loose = Target(0.1, 0)
    assert agents_needed(target=loose, **kwargs).agents <= 600_000
    assert int(erlang_a_table(target=loose, **kwargs)) <= 600_000
    strict = Target(0.1, 0, asa_seconds=0.1)
    with pytest.raises(Unreachable, match="more than 1,000,000 agents"):
        agents_needed(target=strict, **kwargs)
    with pytest.raises(Unreachable, match="more than 1,000,000 agents"):
        erlang_a_table(target=strict, **kwargs)


def test_the_grid_refuses_what_the_search_refuses():
    with pytest.raises(Unreachable, match="more than 1,000,000 agents"):
        erlang_a_table(
            calls_per_hour=[100.0, 1e12], aht_seconds=300.0, patience_seconds=60.0, target=Target()
        )
    with pytest.raises(ValueError, match="patience must be positive"):
        erlang_a_table(
            calls_per_hour=[100.0], aht_seconds=300.0, patience_seconds=0.0, target=Target()
        )
    with pytest.raises(ValueError, match="handle times > 0"):
        erlang_a_table(
            calls_per_hour=[100.0], aht_seconds=-3.0, patience_seconds=60.0, target=Target()
        )
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        erlang_a_table(
            calls_per_hour=[100.0], aht_seconds=300.0, patience_seconds=60.0, target=Target(1.0)
        )
    with pytest.raises(ValueError, match="ASA target must be positive"):
        erlang_a_table(
            calls_per_hour=[100.0], aht_seconds=300.0, patience_seconds=60.0,
            target=Target(asa_seconds=-1.0),
        )  # fmt: skip


def test_callers_who_never_hang_up_are_staffed_by_erlang_c_and_erlang_a_refuses_them():
    """Infinite patience is Erlang C (as in the grid), not an Erlang A queue that never
    ends; a patience that is not a number is refused."""
    target = Target(0.8, 20)
    never = agents_needed(calls_per_hour=120, aht_seconds=300, target=target,
                          patience_seconds=math.inf)  # fmt: skip
    assert never == agents_needed(calls_per_hour=120, aht_seconds=300, target=target)
    with pytest.raises(ValueError, match="callers who never hang up are Erlang C's"):
        erlang_a(agents=9, calls_per_hour=120, aht_seconds=300, patience_seconds=math.inf,
                 answer_within=20)  # fmt: skip
    with pytest.raises(ValueError, match="patience must be positive"):
        agents_needed(calls_per_hour=120, aht_seconds=300, target=target,
                      patience_seconds=math.nan)  # fmt: skip
