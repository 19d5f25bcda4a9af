"""Shift scheduling: which shifts to staff so every interval of a 24/7 week is covered.

An integer program, solved by HiGHS through `scipy.optimize.milp`:

    minimise    sum_s hours_s * x_s                 (paid hours)
    subject to  sum_{s covers t} x_s >= need_t      for every interval t of the week
                x_s >= 0 integer                    (agents working shift s)

A shift starts on the hour (or every `start_every_minutes`), lasts one of the allowed
lengths, and takes a break of `break_minutes` within an hour of its middle (the break's
position is part of the choice), during which it does not cover the line. The week wraps
around: a Sunday night shift covers Monday morning.

Without explicit breaks (the default: breaks are then part of shrinkage) the coverage
matrix has consecutive ones and HiGHS proves optimality in milliseconds. With breaks the
relaxation is weak for pools of one or two agents: HiGHS stops at `time_limit` and the
remaining gap to its bound is reported (`gap`); the schedule is feasible either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

WEEK_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class Shift:
    start: int  # interval of the week (0 = Monday 00:00)
    intervals: int  # length, in intervals
    break_at: int  # offset of the break within the shift, in intervals
    break_intervals: int  # 0: no break

    def covers(self, week_intervals: int) -> list[int]:
        on_break = range(self.break_at, self.break_at + self.break_intervals)
        return [
            (self.start + k) % week_intervals for k in range(self.intervals) if k not in on_break
        ]


@dataclass(frozen=True)
class Schedule:
    interval_minutes: int
    shifts: tuple[tuple[Shift, int], ...]  # (shift, agents working it), agents > 0
    coverage: npt.NDArray[np.int64]  # agents on the phones per interval
    required: npt.NDArray[np.int64]
    paid_hours: float
    gap: float  # relative optimality gap reported by the solver (0 = proven optimal)
    optimal: bool

    @property
    def over_staffed_hours(self) -> float:
        extra = np.clip(self.coverage - self.required, 0, None).sum()
        return float(extra) * self.interval_minutes / 60.0

    @property
    def coverage_share(self) -> float:
        need = self.required.sum()
        met = np.minimum(self.coverage, self.required).sum()
        return 1.0 if need == 0 else float(met / need)


def schedule_shifts(
    required: npt.ArrayLike,
    *,
    interval_minutes: int,
    lengths_hours: tuple[float, ...] = (8, 10, 12),
    start_every_minutes: int = 60,
    break_minutes: int = 0,
    cross_midnight: bool = True,
    time_limit: float = 10.0,
) -> Schedule:
    need = np.asarray(required, dtype=np.int64)
    n = len(need)
    if n * interval_minutes != WEEK_MINUTES:
        raise ValueError(
            f"a week of {interval_minutes}-minute intervals has {WEEK_MINUTES // interval_minutes}"
        )
    if np.any(need < 0):
        raise ValueError("requirements cannot be negative")
    if start_every_minutes % interval_minutes or break_minutes % interval_minutes:
        raise ValueError("shift starts and breaks must fall on interval boundaries")
    shifts = _candidate_shifts(
        n, interval_minutes, lengths_hours, start_every_minutes, break_minutes, cross_midnight
    )
    hours = np.array([s.intervals * interval_minutes / 60.0 for s in shifts])
    if need.sum() == 0:
        return Schedule(interval_minutes, (), np.zeros(n, np.int64), need, 0.0, 0.0, True)
    rows, cols = [], []
    for j, s in enumerate(shifts):
        for t in s.covers(n):
            rows.append(t)
            cols.append(j)
    cover = csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, len(shifts)))
    res = milp(
        c=hours,
        constraints=LinearConstraint(cover, lb=need, ub=np.inf),
        integrality=np.ones(len(shifts)),
        bounds=Bounds(0, np.inf),
        options={"time_limit": time_limit, "mip_rel_gap": 0.01},
    )
    if res.x is None:
        raise RuntimeError(f"the shift scheduler found no schedule: {res.message}")
    x = np.round(res.x).astype(np.int64)
    coverage = np.asarray(cover @ x, dtype=np.int64)
    chosen = tuple((s, int(k)) for s, k in zip(shifts, x, strict=True) if k > 0)
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    return Schedule(
        interval_minutes, chosen, coverage, need, float(hours @ x), gap, res.status == 0
    )


def _candidate_shifts(
    n: int,
    interval_minutes: int,
    lengths_hours: tuple[float, ...],
    every: int,
    brk: int,
    cross_midnight: bool,
) -> list[Shift]:
    out = []
    step = every // interval_minutes
    per_day = 24 * 60 // interval_minutes
    for hours in lengths_hours:
        length = round(hours * 60 / interval_minutes)
        if length * interval_minutes != hours * 60:
            raise ValueError(f"a {hours:g} h shift is not a whole number of intervals")
        breaks = brk // interval_minutes
        if breaks and breaks + 2 > length:
            raise ValueError(f"a {brk} min break does not fit in a {hours:g} h shift")
        middle = (length - breaks) // 2
        # the break may fall within an hour either side of the shift's middle, and never
        # at its very start or end
        reach = 60 // interval_minutes
        window = range(max(1, middle - reach), min(length - breaks - 1, middle + reach) + 1)
        for start in range(0, n, step):
            if not cross_midnight and start % per_day + length > per_day:
                continue
            for at in window if breaks else [0]:
                out.append(Shift(start, length, at, breaks))
    return out
