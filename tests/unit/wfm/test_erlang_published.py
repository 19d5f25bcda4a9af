"""Erlang A and C against figures published for stated inputs, to the digits published.

Two sources could be read from here (issue 15 asks for "published values"):

* Mandelbaum & Zeltyn's worked comparison in "The Palm/Erlang-A Queue, with Applications to
  Call Centers" (Technion, 2005): 50 agents, 48 calls a minute, a minute's handling, two
  minutes' mean patience; Erlang A gives 3.1 % abandoning, a mean wait of 3.7 s and 93 %
  occupancy. The paper itself could not be read here; these figures are as quoted by
  mathieutellene/shiftmesh (README.md at 428c919b, tests/test_channels.py at 11d3b3b9).
* pyworkforce's documentation (rodrigo-arenas/pyworkforce; its Erlang A guide,
  pyworkforce.rodrigo-arenas.com/stable/guide/erlanga, and its Erlang C example on
  pypi.org/project/pyworkforce/0.1.0): 100 calls in 30 minutes, AHT 3 minutes, a 20 s
  threshold, a target of 80 %, occupancy at most 85 % (and, for Erlang A, 5 minutes' mean
  patience and abandonment at most 5 %). Erlang C's figures are printed to full double
  precision; Erlang A's to three decimals ("0.858...").

Both sources' mean wait is over ALL callers, those who hang up included (their wait is the
time until they hang up); `Performance.asa_seconds` is over answered callers. With
exponential patience the two are tied exactly, P(abandon) = theta E[W] (each waiting
caller hangs up at rate theta: Little's law on the queue), so the published mean wait is
`abandon_rate * patience_seconds`.
"""

from __future__ import annotations

import pytest

from hotline.wfm.erlang import erlang_a, erlang_c
from hotline.wfm.staffing import Target, agents_needed, erlang_a_table

ULP = 1e-13  # Erlang C's figures printed in full agree to the last bit or two of a double
# (15 to 16 digits; 13 leaves room for another libm's rounding)


def test_mandelbaum_and_zeltyn_worked_comparison():
    p = erlang_a(agents=50, calls_per_hour=48 * 60, aht_seconds=60, patience_seconds=120,
                 answer_within=20)  # fmt: skip
    assert round(100 * p.abandon_rate, 1) == 3.1  # (3.09 %)
    assert round(p.abandon_rate * 120, 1) == 3.7  # mean wait of all callers (3.71 s)
    assert round(100 * p.occupancy) == 93  # (93.03 %)


PYWORKFORCE = {"calls_per_hour": 100 * 60 / 30, "aht_seconds": 3 * 60}
TARGET = Target(service_level=0.8, answer_within=20, max_occupancy=0.85)


def test_pyworkforce_erlang_c_example():
    """raw_positions 14, service_level 0.8883500191794669, occupancy 0.7142857142857143,
    waiting_probability 0.1741319335950498."""
    p = agents_needed(target=TARGET, **PYWORKFORCE)
    assert p.agents == 14
    assert p.service_level == pytest.approx(0.8883500191794669, abs=ULP)
    assert p.occupancy == pytest.approx(0.7142857142857143, abs=ULP)
    assert p.p_wait == pytest.approx(0.1741319335950498, abs=ULP)
    one_fewer = erlang_c(agents=13, answer_within=20, **PYWORKFORCE)
    assert one_fewer.service_level < 0.8  # (the fewest: 13 would not do)


def test_pyworkforce_erlang_a_example():
    """raw_positions 13, service_level 0.858..., occupancy 0.750..., abandonment_probability
    0.025..., waiting_probability 0.226..., average_speed_of_answer 0.125... minutes."""
    patience = 5 * 60
    p = agents_needed(target=TARGET, patience_seconds=patience, **PYWORKFORCE)
    assert p.agents == 13
    grid = erlang_a_table(target=TARGET, patience_seconds=[patience], **PYWORKFORCE)
    assert grid.tolist() == [13]
    assert round(p.service_level, 3) == 0.858
    assert round(p.occupancy, 3) == 0.750
    assert round(p.abandon_rate, 3) == 0.025  # (0.02496)
    assert round(p.p_wait, 3) == 0.226
    assert round(p.abandon_rate * patience / 60, 3) == 0.125  # all callers' wait, minutes
    one_fewer = erlang_a(agents=12, patience_seconds=patience, answer_within=20, **PYWORKFORCE)
    assert one_fewer.service_level < 0.8  # (so 13 is the fewest whatever their cap said)
