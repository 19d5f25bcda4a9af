"""Staffing requirement: Hotline's Erlang C table against pyworkforce on the same inputs.

96 fifteen-minute intervals x 30 language pools of a line ten times the national scenario
(70,000 calls a day), AHT 4-8 minutes by pool, target 80 % answered within 20 s with
occupancy at most 85 %. pyworkforce 0.5.1's `ErlangC.required_positions` is the baseline
(its `asa` argument is the answer-within threshold). The benchmark checks that both give
the same head-count in every cell.

    python bench/bench_staffing.py
"""

from __future__ import annotations

import time

import numpy as np
from pyworkforce.queuing import ErlangC

from hotline.wfm.staffing import Target, erlang_c_table

INTERVALS, POOLS, MINUTES = 96, 30, 15
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


def compare(calls: np.ndarray, aht: np.ndarray, max_occupancy: float | None) -> None:
    target = Target(service_level=0.8, answer_within=20.0, max_occupancy=max_occupancy)
    t0 = time.perf_counter()
    theirs = np.array(
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


def main() -> None:
    calls, aht = inputs()
    print(f"{INTERVALS} intervals x {POOLS} pools = {calls.size:,} cells")
    compare(calls, aht, 0.85)
    compare(calls, aht, None)


if __name__ == "__main__":
    main()
