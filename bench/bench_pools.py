"""Pools chosen by the planner: how long the search takes, against today's plan of
dedicated pools and one simulated check of it, in the same run.

The national scenario at 90 % answered within 10 s and at most 3 % abandonment, the
checks over `--weeks` simulated weeks with a margin of two standard errors (the defaults
of `hotline plan --pools auto`):

* baseline: `make_plan` (dedicated pools) and one check of it in the simulator
  (`check_plan`, the same weeks and seed) — what `hotline plan` does today;
* the planner by the model alone (`choose_pools(..., checking=None)`: candidates, their
  Erlang staffing, the exact partition), against `make_plan` alone;
* the planner with its checks (`choose_pools(..., checking=...)`), against the baseline;
  the number of simulations it ran says where the time goes.

    python bench/bench_pools.py [--weeks 4] [--model erlang-a]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hotline.sim.scenario_file import load_scenario
from hotline.wfm.plan import make_plan
from hotline.wfm.pools import Checking, check_plan, choose_pools
from hotline.wfm.staffing import Target

ROOT = Path(__file__).resolve().parents[1]
INTERPRETED = frozenset({"quc", "mam", "kjb"})  # as the national line's flow marks them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--model", default="erlang-a", choices=("erlang-c", "erlang-a"))
    args = parser.parse_args()
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    target = Target(0.9, 10.0)
    checking = Checking(seed=s.seed, weeks=args.weeks, z=2.0)

    t0 = time.perf_counter()
    dedicated = make_plan(s, target=target, model=args.model)
    t1 = time.perf_counter()
    results, _ = check_plan(dedicated, s, max_abandon=0.03, checking=checking)
    t2 = time.perf_counter()
    by_model = choose_pools(s, target=target, model=args.model, interpreted=INTERPRETED)
    t3 = time.perf_counter()
    runs: list[str] = []
    chosen = choose_pools(
        s,
        target=target,
        model=args.model,
        interpreted=INTERPRETED,
        checking=checking,
        progress=lambda what, done: runs.append(what) if "simulating" in what else None,
    )
    t4 = time.perf_counter()

    plan_s, check_s, model_s, search_s = t1 - t0, t2 - t1, t3 - t2, t4 - t3
    short = [r.language for r in results if not r.meets]
    print(f"national scenario, {args.model}, 90 % within 10 s, <= 3 % abandonment, checks of "
          f"{args.weeks} simulated weeks (seed {s.seed}, margin 2 standard errors)")  # fmt: skip
    print(f"{'run':<44} {'seconds':>8} {'paid h':>8}  languages short")
    print(f"{'today: make_plan (dedicated pools)':<44} {plan_s:8.2f} "
          f"{dedicated.paid_hours:8,.0f}")  # fmt: skip
    print(f"{'today: one check of it in the simulator':<44} {check_s:8.2f} {'':>8}  "
          f"{', '.join(short) or 'none'}")  # fmt: skip
    print(f"{'planner, by the model alone':<44} {model_s:8.2f} "
          f"{by_model.plan.paid_hours:8,.0f}")  # fmt: skip
    chosen_short = [r.language for r in chosen.languages or () if not r.meets]
    print(f"{'planner, with its checks':<44} {search_s:8.2f} {chosen.plan.paid_hours:8,.0f}  "
          f"{', '.join(chosen_short) or 'none'}")  # fmt: skip
    print(f"candidate pools {chosen.candidates}, partitions checked {len(chosen.tried)}, "
          f"simulations {len(runs)} of {args.weeks} weeks each")  # fmt: skip
    print(f"ratio, model alone / make_plan: {model_s / plan_s:.2f}x")
    print(f"ratio, with checks / (make_plan + one check): {search_s / (plan_s + check_s):.2f}x")
    print(f"ratio, with checks / one check: {search_s / check_s:.2f}x")
    print(f"paid hours, planner / dedicated: {chosen.plan.paid_hours / dedicated.paid_hours:.3f}")


if __name__ == "__main__":
    main()
