"""Staffing requirement: Hotline's Erlang C table against pyworkforce on the same inputs,
and its Erlang A grid against its own scalar search and pyworkforce.

96 fifteen-minute intervals x 30 language pools of a line ten times the national scenario
(70,000 calls a day), AHT 4-8 minutes by pool, target 80 % answered within 20 s with
occupancy at most 85 %. pyworkforce 0.5.1's `ErlangC.required_positions` is the baseline
(its `asa` argument is the answer-within threshold). The benchmark checks that both give
the same head-count in every cell.

Erlang A (callers' mean patience 180 s): `erlang_a_table` for the whole grid, against
`agents_needed(..., patience_seconds=180)` looped over the cells, in the same run; both
must agree cell by cell. pyworkforce 0.5.1 has no abandonment model (only Erlang C), so
its Erlang C search on the same grid is the third figure.

Each Erlang A grid runs three times: the service level (and occupancy) target alone, and
with a mean wait of answered calls (ASA) of at most 15 s, then 5 s. ASA <= 15 s never
binds on this grid (the service level asks for more agents in every cell); ASA <= 5 s
raises the head-count in most cells. The grid sums the mean wait (the costly figure) only
where the service level and occupancy are met and its bound, P(abandon) / (theta
P(answered)), is not already within the target; so its time depends on the target: one
that binds nowhere is settled mostly by the bound (the 15 s figure flatters), one that
binds in most cells (5 s) sums more, and one close to the figures in most probes would
sum in all of them (with the bound switched off, the 5 s grid took about 1.5 times as
long). The scalar search is one run.

    python bench/bench_staffing.py
"""

from __future__ import annotations

import time

import numpy as np
from pyworkforce.queuing import ErlangC

from hotline.wfm.staffing import Target, agents_needed, erlang_a_table, erlang_c_table

INTERVALS, POOLS, MINUTES = 96, 30, 15
PATIENCE = 180.0  # seconds, mean (exponential) patience of the callers, for Erlang A
CALLS_PER_DAY = 70_000
DAY_SHAPE = [1.4, 1.0, 0.8, 0.7, 0.7, 0.9, 1.6, 2.9, 4.6, 6.0, 6.8, 7.0,
             6.8, 6.7, 6.8, 6.6, 6.2, 5.6, 4.9, 4.2, 3.6, 3.0, 2.4, 1.9]  # fmt: skip


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """Calls per interval and AHT (seconds) per cell, shape (intervals, pools)."""
    share = 1.0 / np.arange(1, POOLS + 1) ** 1.2  # a few big languages, a long tail
    share /= share.sum()
    hourly = np.repeat(np.asarray(DAY_SHAPE) / sum(DAY_SHAPE), 60 // MINUTES) / (60 // MINUTES)
    calls = CALLS_PER_DAY * np.outer(hourly, share)
    aht = np.broadcast_to(np.linspace(240, 480, POOLS), calls.shape)
    return calls, aht


def pyworkforce_erlang_c(
    calls: np.ndarray, aht: np.ndarray, max_occupancy: float | None
) -> np.ndarray:
    return np.array(
        [
            [
                ErlangC(
                    transactions=c, aht=a / 60, asa=20 / 60, interval=MINUTES
                ).required_positions(service_level=0.8, max_occupancy=max_occupancy or 1.0)[
                    "raw_positions"
                ]
                for c, a in zip(row_c, row_a, strict=True)
            ]
            for row_c, row_a in zip(calls, aht, strict=True)
        ]
    )


def compare(calls: np.ndarray, aht: np.ndarray, max_occupancy: float | None) -> float:
    target = Target(service_level=0.8, answer_within=20.0, max_occupancy=max_occupancy)
    t0 = time.perf_counter()
    theirs = pyworkforce_erlang_c(calls, aht, max_occupancy)
    t_theirs = time.perf_counter() - t0
    repeats = 20
    t0 = time.perf_counter()
    for _ in range(repeats):
        ours = erlang_c_table(calls_per_hour=calls * 60 / MINUTES, aht_seconds=aht, target=target)
    t_ours = (time.perf_counter() - t0) / repeats
    same = int((ours == theirs).sum())
    limit = f"occupancy <= {max_occupancy:.0%}" if max_occupancy else "no occupancy limit"
    print(f"80 % within 20 s, {limit}: {int(ours.sum()):,} agent-intervals required")
    print(f"  pyworkforce  {t_theirs * 1000:9.2f} ms")
    print(f"  hotline      {t_ours * 1000:9.2f} ms  (mean of {repeats} runs)")
    print(f"  identical head-counts in {same:,} of {calls.size:,} cells")
    for i, j in np.argwhere(ours != theirs)[:5]:
        load = calls[i, j] * aht[i, j] / MINUTES / 60
        print(f"    cell {i},{j}: {load:.3f} E: hotline {ours[i, j]}, pyworkforce {theirs[i, j]}")
    print(f"  ratio: hotline is {t_theirs / t_ours:.0f}x faster")
    return t_theirs


def compare_erlang_a(
    calls: np.ndarray,
    aht: np.ndarray,
    max_occupancy: float | None,
    asa: float | None,
    t_pyworkforce_c: float,
) -> None:
    target = Target(
        service_level=0.8, answer_within=20.0, asa_seconds=asa, max_occupancy=max_occupancy
    )
    per_hour = calls * 60 / MINUTES
    repeats = 20
    t0 = time.perf_counter()
    for _ in range(repeats):
        grid = erlang_a_table(
            calls_per_hour=per_hour, aht_seconds=aht, patience_seconds=PATIENCE, target=target
        )
    t_grid = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    scalar = np.array(
        [
            [
                agents_needed(
                    calls_per_hour=float(c), aht_seconds=float(a), target=target,
                    patience_seconds=PATIENCE,
                ).agents
                for c, a in zip(row_c, row_a, strict=True)
            ]
            for row_c, row_a in zip(per_hour, aht, strict=True)
        ]
    )  # fmt: skip
    t_scalar = time.perf_counter() - t0
    c_need = erlang_c_table(calls_per_hour=per_hour, aht_seconds=aht, target=target)
    limit = f"occupancy <= {max_occupancy:.0%}" if max_occupancy else "no occupancy limit"
    wait = f", ASA <= {asa:g} s" if asa else ""
    print(
        f"Erlang A, patience {PATIENCE:g} s, 80 % within 20 s, {limit}{wait}: "
        f"{int(grid.sum()):,} agent-intervals required (Erlang C: {int(c_need.sum()):,}, "
        f"{1 - grid.sum() / c_need.sum():.1%} fewer)"
    )
    if asa:
        without = erlang_a_table(
            calls_per_hour=per_hour, aht_seconds=aht, patience_seconds=PATIENCE,
            target=Target(service_level=0.8, answer_within=20.0, max_occupancy=max_occupancy),
        )  # fmt: skip
        print(f"  the ASA target raises the head-count in {int((grid > without).sum()):,} of "
              f"{calls.size:,} cells")  # fmt: skip
    print(f"  hotline erlang_a_table          {t_grid * 1000:9.2f} ms  (mean of {repeats} runs)")
    print(f"  hotline agents_needed x cells   {t_scalar * 1000:9.2f} ms  (one run)")
    print(f"  pyworkforce 0.5.1 Erlang A      {'-':>9}     (none: no abandonment model)")
    print(f"  pyworkforce Erlang C, same grid {t_pyworkforce_c * 1000:9.2f} ms  (above)")
    print(f"  identical head-counts (grid, scalar) in {int((grid == scalar).sum()):,} of "
          f"{calls.size:,} cells")  # fmt: skip
    for i, j in np.argwhere(grid != scalar)[:5]:
        print(f"    cell {i},{j}: grid {grid[i, j]}, scalar {scalar[i, j]}")
    print(
        f"  ratios: grid {t_scalar / t_grid:.0f}x faster than the scalar search, "
        f"{t_pyworkforce_c / t_grid:.1f}x faster than pyworkforce's Erlang C"
    )


def main() -> None:
    calls, aht = inputs()
    print(f"{INTERVALS} intervals x {POOLS} pools = {calls.size:,} cells")
    t_c = {occ: compare(calls, aht, occ) for occ in (0.85, None)}
    for asa in (None, 15.0, 5.0):
        for occ, t in t_c.items():
            compare_erlang_a(calls, aht, occ, asa, t)


if __name__ == "__main__":
    main()
