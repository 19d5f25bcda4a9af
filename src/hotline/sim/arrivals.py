"""Call arrivals: a non-homogeneous Poisson process with a constant rate within each hour.

Within an hour of constant rate the count is Poisson and the times are uniform, so this is
exact for a piecewise-constant profile, and vectorised for a hundred days in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hotline.sim.distributions import Samples

HOUR = 3600.0


def hourly_rates(
    *,
    calls_per_day: float,
    hourly_profile: Sequence[float],
    weekly_profile: Sequence[float],
    hours: int,
    start_weekday: int = 0,
) -> Samples:
    """Expected calls in each hour of the horizon.

    `hourly_profile` (24 weights) shapes a day; `weekly_profile` (7 factors, Monday first)
    scales days relative to their mean, so `calls_per_day` is the average day's volume.
    """
    day_shape = np.asarray(hourly_profile, dtype=np.float64)
    day_shape = day_shape / day_shape.sum()
    week = np.asarray(weekly_profile, dtype=np.float64)
    week = week / week.mean()
    hour_index = np.arange(hours)
    weekday = (start_weekday + hour_index // 24) % 7
    rates: Samples = calls_per_day * week[weekday] * day_shape[hour_index % 24]
    return rates


def arrival_times(rng: np.random.Generator, rates: Samples) -> Samples:
    """Sorted arrival times (seconds from the start) for the given expected calls per hour."""
    counts = rng.poisson(rates)
    starts = np.repeat(np.arange(len(rates), dtype=np.float64) * HOUR, counts)
    times = starts + rng.random(int(counts.sum())) * HOUR
    times.sort()
    return times
