"""The shift scheduler covers every interval at the least paid cost."""

from __future__ import annotations

import numpy as np
import pytest

from hotline.wfm.shifts import schedule_shifts

WEEK_30 = 7 * 48  # 30-minute intervals in a week


def office_hours(agents: int) -> np.ndarray:
    """`agents` needed 09:00-17:00 Monday to Friday, nobody otherwise."""
    need = np.zeros(WEEK_30, dtype=np.int64)
    for day in range(5):
        need[day * 48 + 18 : day * 48 + 34] = agents
    return need


def test_office_hours_need_exactly_one_eight_hour_shift_per_agent_and_day():
    s = schedule_shifts(office_hours(2), interval_minutes=30)
    assert s.optimal
    assert s.gap == pytest.approx(0.0, abs=1e-9)
    assert s.paid_hours == 2 * 5 * 8
    assert np.array_equal(s.coverage, office_hours(2))
    assert s.over_staffed_hours == 0.0
    assert {(sh.start % 48, sh.intervals) for sh, _ in s.shifts} == {(18, 16)}


def test_around_the_clock_one_agent_costs_the_week_and_wraps_around():
    s = schedule_shifts(np.ones(WEEK_30, dtype=np.int64), interval_minutes=30)
    assert s.paid_hours == 168
    assert np.all(s.coverage >= 1)
    assert s.coverage_share == 1.0


def test_every_interval_is_covered_for_an_irregular_requirement():
    rng = np.random.default_rng(4)
    need = rng.integers(0, 6, WEEK_30)
    s = schedule_shifts(need, interval_minutes=30, lengths_hours=(8, 10, 12))
    assert np.all(s.coverage >= need)
    # no schedule can pay for fewer hours than the agent-hours it must cover
    assert s.paid_hours >= need.sum() / 2


def test_breaks_are_taken_off_the_phones_and_still_covered():
    s = schedule_shifts(office_hours(3), interval_minutes=30, break_minutes=30, time_limit=5)
    assert np.all(s.coverage >= office_hours(3))
    assert 0.0 <= s.gap < 1.0
    # with a break inside 09:00-17:00 an 8-hour shift no longer covers the day alone
    assert s.paid_hours > 3 * 5 * 8


def test_fifteen_minute_intervals():
    need = np.repeat(office_hours(1), 2)
    s = schedule_shifts(need, interval_minutes=15)
    assert s.paid_hours == 40
    assert np.all(s.coverage >= need)


@pytest.mark.parametrize(
    ("need", "kwargs", "message"),
    [
        (np.ones(100), {"interval_minutes": 30}, "a week of 30-minute intervals has 336"),
        (-np.ones(WEEK_30), {"interval_minutes": 30}, "cannot be negative"),
        (np.ones(WEEK_30), {"interval_minutes": 30, "lengths_hours": (7.75,)}, "whole number"),
    ],
)
def test_bad_input(need, kwargs, message):
    with pytest.raises(ValueError, match=message):
        schedule_shifts(need, **kwargs)


def test_no_requirement_no_shifts():
    s = schedule_shifts(np.zeros(WEEK_30, dtype=np.int64), interval_minutes=30)
    assert s.shifts == ()
    assert s.paid_hours == 0


def test_shifts_may_be_kept_within_the_day():
    night = np.zeros(WEEK_30, dtype=np.int64)
    for day in range(7):
        night[day * 48 + 44 : day * 48 + 48] = 1  # 22:00-24:00
        night[day * 48 : day * 48 + 12] = 1  # 00:00-06:00
    wrapped = schedule_shifts(night, interval_minutes=30)
    within = schedule_shifts(night, interval_minutes=30, cross_midnight=False)
    assert wrapped.paid_hours == 7 * 8  # one 22:00-06:00 shift a night
    assert within.paid_hours == 7 * 16  # an evening and an early shift instead
    assert all(s.start % 48 + s.intervals <= 48 for s, _ in within.shifts)


def test_breaks_stay_inside_their_shift():
    s = schedule_shifts(
        np.repeat(office_hours(1), 2), interval_minutes=15, lengths_hours=(3,), break_minutes=30
    )
    assert all(1 <= sh.break_at <= sh.intervals - sh.break_intervals - 1 for sh, _ in s.shifts)
    with pytest.raises(ValueError, match="does not fit"):
        schedule_shifts(np.ones(168), interval_minutes=60, lengths_hours=(2,), break_minutes=60)
