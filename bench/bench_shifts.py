"""Shift scheduling: Hotline's HiGHS model against pyworkforce's CP-SAT model.

Requirement: agents on the phones per 30-minute interval for a week, from the national
scenario (Erlang C, 80 % within 30 s) for three pools: English (the largest), Spanish and
Q'anjob'al (the smallest). Shifts start on the hour and last 8, 10 or 12 hours; the cost
is paid hours. pyworkforce 0.5.1 `MinRequiredResources` schedules day by day, so its
shifts cannot cross midnight; Hotline is run with that restriction (same problem) and
without it (its own model, the week wrapping around).

    python bench/bench_shifts.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pyworkforce.scheduling import MinRequiredResources

from hotline.sim.scenario_file import load_scenario
from hotline.wfm.demand import weekly_demand
from hotline.wfm.shifts import schedule_shifts
from hotline.wfm.staffing import Target, erlang_c_table

ROOT = Path(__file__).resolve().parents[1]
PER_DAY = 48
LENGTHS = (8, 10, 12)


def pyworkforce_schedule(need: np.ndarray) -> tuple[float, np.ndarray, str]:
    coverage, cost = {}, {}
    for start in range(24):
        for hours in LENGTHS:
            if start + hours <= 24:
                name = f"{start:02d}h+{hours}"
                row = [0] * PER_DAY
                for k in range(2 * start, 2 * (start + hours)):
                    row[k] = 1
                coverage[name], cost[name] = row, hours
    model = MinRequiredResources(
        num_days=7,
        periods=PER_DAY,
        shifts_coverage=coverage,
        required_resources=need.reshape(7, PER_DAY).tolist(),
        max_period_concurrency=10_000,
        max_shift_concurrency=10_000,
        cost_dict=cost,
        max_search_time=120.0,
        num_search_workers=2,
    )
    solution = model.solve()
    covered = np.zeros(7 * PER_DAY)
    paid = 0.0
    for r in solution["resources_shifts"]:
        covered[r["day"] * PER_DAY : (r["day"] + 1) * PER_DAY] += (
            np.array(coverage[r["shift"]]) * r["resources"]
        )
        paid += cost[r["shift"]] * r["resources"]
    return paid, covered, solution["status"]


def main() -> None:
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    demand = weekly_demand(s, interval_minutes=30)
    need_all = erlang_c_table(
        calls_per_hour=demand.calls_per_hour, aht_seconds=demand.aht_seconds, target=Target(0.8, 30)
    )
    print("paid hours for a week (lower is better) and solve time")
    for pool in ("en", "es", "kjb"):
        need = need_all[:, demand.pools.index(pool)]
        t0 = time.perf_counter()
        paid, covered, status = pyworkforce_schedule(need)
        t_pw = time.perf_counter() - t0
        assert np.all(covered >= need), "pyworkforce left an interval short"
        t0 = time.perf_counter()
        same = schedule_shifts(
            need, interval_minutes=30, lengths_hours=LENGTHS, cross_midnight=False
        )
        t_same = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = schedule_shifts(need, interval_minutes=30, lengths_hours=LENGTHS)
        t_ours = time.perf_counter() - t0
        print(f"pool {pool}: {need.sum() / 2:,.0f} agent-hours required, peak {need.max()}")
        print(f"  pyworkforce (CP-SAT)           {paid:8,.0f} h  {t_pw:7.2f} s  {status}")
        print(
            f"  hotline, same shifts (HiGHS)   {same.paid_hours:8,.0f} h  {t_same:7.2f} s  "
            f"{'OPTIMAL' if same.optimal else f'gap {same.gap:.1%}'}"
        )
        print(
            f"  hotline, across midnight       {ours.paid_hours:8,.0f} h  {t_ours:7.2f} s  "
            f"{'OPTIMAL' if ours.optimal else f'gap {ours.gap:.1%}'}"
        )
        print(f"  ratio: {t_pw / t_same:.0f}x faster on the same problem")


if __name__ == "__main__":
    main()
