"""History parsing (with located errors) and the forecast's accuracy on known data."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from hotline.errors import ConfigError
from hotline.sim.arrivals import arrival_times, hourly_rates
from hotline.wfm.forecast import forecast, horizon_warning
from hotline.wfm.history import calls_history, parse_history

DAY = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 15, 15, 14, 14, 14, 13, 12, 10, 8, 6, 4, 3, 2, 1]
WEEK = [1.2, 1.1, 1.0, 1.0, 1.0, 0.8, 0.7]
START = datetime(2026, 1, 5)  # a Monday


def counts_csv(hourly: np.ndarray, language: str = "en") -> str:
    rows = ["interval_start,calls,language"]
    for k, n in enumerate(hourly):
        rows.append(f"{(START + timedelta(hours=k)).isoformat()},{n},{language}")
    return "\n".join(rows) + "\n"


def synthetic(weeks: int, calls_per_day: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rates = hourly_rates(
        calls_per_day=calls_per_day, hourly_profile=DAY, weekly_profile=WEEK, hours=weeks * 168
    )
    times = arrival_times(np.random.default_rng(seed), rates)
    return rates, np.bincount((times // 3600).astype(int), minlength=len(rates)).astype(float)


def test_forecast_beats_seasonal_naive_and_nears_the_noise_floor():
    rates, counts = synthetic(weeks=5, calls_per_day=4000, seed=3)
    h = parse_history(counts_csv(counts))
    [all_calls, en] = forecast(h, horizon_days=7, holdout_days=7)
    assert (all_calls.name, en.name) == ("all", "en")
    test_rates = rates[-168:]
    # For Poisson counts even a perfect forecast (the true rate) errs by E|N - l|, about
    # sqrt(2 l / pi) per hour: that WAPE is the floor no model can beat.
    floor = float(np.sqrt(2 * test_rates / np.pi).sum() / test_rates.sum())
    assert en.wape < 1.3 * floor
    assert en.wape < en.naive_wape  # the naive forecast carries last week's noise too
    # the next week: the true weekly volume within 3 % (the model's level and season)
    assert en.forecast.sum() == pytest.approx(rates[:168].sum(), rel=0.03)


def test_call_records_are_counted_per_hour_and_language():
    text = (
        "timestamp,language\n"
        "2026-01-05T00:10:00,es\n2026-01-05T00:50:00,es\n2026-01-05T02:00:00,en\n"
    )
    h = parse_history(text)
    assert h.start == START
    assert h.series["es"].tolist() == [2, 0, 0]
    assert h.series["en"].tolist() == [0, 0, 1]
    assert h.series["all"].tolist() == [2, 0, 1]
    assert h.warnings == []


def test_series_per_line_and_language():
    text = (
        "timestamp,line,language\n"
        "2026-01-05T00:10:00,national,es\n2026-01-05T00:20:00,agency,es\n"
        "2026-01-05T01:00:00,national,en\n"
    )
    h = parse_history(text)
    assert sorted(h.series) == ["agency/es", "all", "national/en", "national/es"]
    assert h.series["all"].tolist() == [2, 1]


def test_duplicates_are_errors_with_their_lines():
    text = counts_csv(np.array([3, 4, 5]))
    lines = text.splitlines()
    text = "\n".join([*lines, lines[2]]) + "\n"
    with pytest.raises(ConfigError) as e:
        parse_history(text, filename="h.csv")
    assert str(e.value.problems[0]).startswith(
        "h.csv:5: interval 2026-01-05T01:00:00 for 'en' appears again (first on line 3)"
    )


def test_gaps_are_filled_and_reported():
    _, counts = synthetic(weeks=2, calls_per_day=500, seed=1)
    text = counts_csv(counts)
    lines = text.splitlines()
    del lines[1 + 200]  # hour 200 (Tuesday of week 2) is missing
    h = parse_history("\n".join(lines) + "\n")
    assert h.series["en"][200] == counts[200 - 168]
    assert h.warnings == [
        "en: 1 hour(s) missing, the first at 2026-01-13 08:00; "
        "filled from the same hour a week earlier (or 0)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "interval_start,calls\n2026-01-05T00:00,3\nyesterday,4\n",
            "h.csv:3: interval_start 'yesterday' is not an ISO 8601",
        ),
        ("interval_start,calls\n2026-01-05T00:00,-3\n", "h.csv:2: calls must be a number >= 0"),
        ("when,count\n2026-01-05T00:00,3\n", "h.csv:1: unknown layout"),
        ("", "h.csv: the file is empty"),
        ("timestamp\n", "h.csv:2: no data rows"),
    ],
)
def test_bad_history(text, message):
    with pytest.raises(ConfigError) as e:
        parse_history(text, filename="h.csv")
    assert str(e.value).startswith(message)


def test_too_short_a_history_is_refused():
    _, counts = synthetic(weeks=2, calls_per_day=500, seed=1)
    with pytest.raises(ValueError, match="at least two weeks to fit plus 7 days"):
        forecast(parse_history(counts_csv(counts)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "interval_start,calls\n2026-03-02T14:00,10\n2026-03-02 14:00:00,10\n",
            "h.csv:3: interval 2026-03-02 14:00:00 for 'all' appears again (first on line 2)",
        ),
        ("interval_start,calls\n2026-03-02T14:00,inf\n", "h.csv:2: calls must be a number"),
        (
            "timestamp,language\n2026-03-02T14:00,en\n2026-03-02T14:10,\n",
            "h.csv:3: the line or language cell is empty",
        ),
    ],
)
def test_more_bad_history(text, message):
    with pytest.raises(ConfigError) as e:
        parse_history(text, filename="h.csv")
    assert str(e.value).startswith(message)


def test_a_history_from_call_arrivals_counts_local_hours():
    h = calls_history(
        [("es", datetime(2026, 1, 5, 0, 10)), ("es", datetime(2026, 1, 5, 0, 50)),
         ("en", datetime(2026, 1, 5, 2, 0))]
    )  # fmt: skip
    assert h.start == START
    assert (h.series["es"].tolist(), h.series["all"].tolist()) == ([2, 0, 0], [2, 0, 1])
    with pytest.raises(ValueError, match="no calls"):
        calls_history([])


def test_a_horizon_beyond_the_history_is_a_caution():
    _, counts = synthetic(weeks=3, calls_per_day=500, seed=1)
    h = parse_history(counts_csv(counts))
    assert horizon_warning(h, 21) is None
    assert horizon_warning(h, 28) == (
        "the forecast runs 28 days ahead from 21.0 days of history; past 21 days it only "
        "repeats the last weekly pattern at its last level (no trend, no holidays): treat "
        "those days with care, or collect more history"
    )
    [_, en] = forecast(h, horizon_days=28)  # (and it forecasts them all the same)
    assert len(en.forecast) == 28 * 24
