"""Arrivals follow the profile: Poisson counts per hour, shaped by day and week."""

from __future__ import annotations

import numpy as np
import pytest

from hotline.sim.arrivals import arrival_times, hourly_rates


def test_rates_follow_the_profiles():
    day = [1.0] * 12 + [3.0] * 12  # afternoons three times as busy
    week = [2.0, 1, 1, 1, 1, 1, 0.0]  # busy Monday, no Sunday calls; mean 1
    r = hourly_rates(calls_per_day=480, hourly_profile=day, weekly_profile=week, hours=168)
    assert r[:24].sum() == pytest.approx(480 * 2.0 / (7 / 7))
    assert r[12] == pytest.approx(3 * r[0])
    assert r[6 * 24 : 7 * 24].sum() == 0.0  # Sunday
    assert r.sum() == pytest.approx(480 * 7)


def test_start_weekday_shifts_the_week():
    week = [1, 1, 1, 1, 1, 1, 0]
    r = hourly_rates(
        calls_per_day=24, hourly_profile=[1] * 24, weekly_profile=week, hours=48, start_weekday=6
    )
    assert r[:24].sum() == 0.0
    assert r[24:].sum() > 0


def test_counts_per_hour_are_poisson():
    # 2,000 hours at 50 calls/h: the sample mean and variance of hourly counts are both 50.
    # Standard errors: mean 50/sqrt(2000)=0.16, variance ~ 50*sqrt(2/2000)=1.6; 5 sigma.
    rng = np.random.default_rng(11)
    times = arrival_times(rng, np.full(2000, 50.0))
    counts = np.bincount((times // 3600).astype(int), minlength=2000)
    assert counts.mean() == pytest.approx(50, abs=5 * 0.16)
    assert counts.var(ddof=1) == pytest.approx(50, abs=5 * 1.6)
    assert np.all(np.diff(times) >= 0)
    # within the hour, arrival times are uniform: each quarter holds ~25 %
    quarters = np.bincount(((times % 3600) // 900).astype(int), minlength=4) / len(times)
    assert np.allclose(quarters, 0.25, atol=5 * np.sqrt(0.25 * 0.75 / len(times)))


def test_same_seed_same_arrivals():
    a = arrival_times(np.random.default_rng(3), np.full(24, 10.0))
    b = arrival_times(np.random.default_rng(3), np.full(24, 10.0))
    assert np.array_equal(a, b)
