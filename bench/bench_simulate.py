"""Simulator speed: Hotline's simulator against a SimPy model of the same system.

Part 1, same system both ways: one queue, Poisson arrivals at the national line's 7,000
calls/day, exponential handle (300 s) and patience (240 s), 28 agents, 100 days. The
SimPy model is the idiomatic one (a process per call, a `Resource`, `request | timeout`
for patience). Both print their KPIs so one can see they simulate the same queue.

Part 2: the national scenario itself (13 languages, 17 queues, escalation steps, shifts)
for 100 days (about 700,000 calls).

    python bench/bench_simulate.py [--days 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import simpy

from hotline.sim.driver import simulate
from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import load_scenario

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
CALLS_PER_DAY = 7000
AHT = 300.0
PATIENCE = 240.0
AGENTS = 28
ANSWER_WITHIN = 20.0


def simpy_model(days: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    rate = CALLS_PER_DAY / 86400.0
    stats = {"offered": 0, "answered": 0, "abandoned": 0, "within": 0, "wait": 0.0}

    def caller(patience: float, handle: float) -> Generator[simpy.Event, Any, None]:
        arrived = env.now
        stats["offered"] += 1
        with agents.request() as req:
            got = yield req | env.timeout(patience)
            if req not in got:
                stats["abandoned"] += 1
                return
            waited = env.now - arrived
            stats["answered"] += 1
            stats["wait"] += waited
            stats["within"] += waited <= ANSWER_WITHIN
            yield env.timeout(handle)

    def arrivals() -> Generator[simpy.Event, Any, None]:
        horizon = days * 86400.0
        while True:
            yield env.timeout(rng.exponential(1 / rate))
            if env.now >= horizon:
                return
            env.process(caller(rng.exponential(PATIENCE), rng.exponential(AHT)))

    env.process(arrivals())
    env.run()
    done = stats["answered"] + stats["abandoned"]
    return {
        "offered": stats["offered"],
        "service_level": stats["within"] / done,
        "abandon_rate": stats["abandoned"] / done,
        "asa_seconds": stats["wait"] / stats["answered"],
    }


def timed(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=100)
    days = ap.parse_args().days

    single = Scenario.single_queue(
        calls_per_hour=CALLS_PER_DAY / 24,
        aht_seconds=AHT,
        agents=AGENTS,
        hours=24 * days,
        patience_seconds=PATIENCE,
        answer_within=ANSWER_WITHIN,
        seed=7,
    )
    ours, t_ours = timed(simulate, single)
    theirs, t_simpy = timed(simpy_model, days, 7)
    ours_rate = ours.calls / t_ours
    simpy_rate = theirs["offered"] / t_simpy
    print(f"single queue, {days} days, {AGENTS} agents, 7,000 calls/day (M/M/n+M):")
    for name, calls, secs, rate, r in (
        ("hotline", ours.calls, t_ours, ours_rate, ours.report),
        ("simpy", theirs["offered"], t_simpy, simpy_rate, theirs),
    ):
        print(
            f"  {name:8s} {calls:>9,} calls in {secs:6.2f} s = {rate:>9,.0f} calls/s   "
            f"SL {r['service_level']:.4f}  abandon {r['abandon_rate']:.4f}  "
            f"ASA {r['asa_seconds']:.2f} s"
        )
    print(f"  ratio: hotline is {ours_rate / simpy_rate:.2f}x the speed of SimPy")

    national = replace(load_scenario(ROOT / "scenarios" / "national-hotline.yaml"), hours=24 * days)
    result, t_nat = timed(simulate, national)
    rate = result.calls / t_nat
    print(f"national scenario, {days} days:")
    print(
        f"  hotline  {result.calls:>9,} calls ({result.events:,} events) in {t_nat:6.2f} s "
        f"= {rate:>9,.0f} calls/s; SL {result.report['service_level']:.4f}"
    )
    print(f"  ratio: {rate / simpy_rate:.2f}x the SimPy single-queue model's speed")


if __name__ == "__main__":
    main()
