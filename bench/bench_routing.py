"""Routing decision time: the indexed ACD against the full-scan reference matcher.

State: 40 skills, 40 queues (each: skill >= 4 for 20 s, then >= 2 for 40 s, then >= 1),
2,000 agents with three random skills each. Half the agents have skills of the first 20
queues, where calls are enqueued until 1,000 wait (every agent who may take them is
busy); the other half are available, for queues with no backlog. Both routers are built
by the same operations and must make the same decisions:

* an agent becomes free: which waiting call does it get? (`best_call_for`, no side
  effect; a full scan looks at 1,000 calls)
* a call arrives: `enqueue` picks the best available agent and offers it the call
  (a full scan looks at 2,000 agents); 500 arrivals, the offers compared call by call.

    python bench/bench_routing.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence

from hotline.domain.agent import Agent
from hotline.domain.call import Call
from hotline.domain.clock import Scheduler
from hotline.domain.events import Event
from hotline.domain.queue import EscalationStep, Queue
from hotline.domain.skills import Requirement
from hotline.routing import Router
from hotline.routing.fullscan import FullScanRouter

SKILLS = [f"s{k:02d}" for k in range(40)]
BACKLOGGED, IDLE = SKILLS[:20], SKILLS[20:]
AGENTS = 2000
WAITING = 1000


def build(router_class: type[Router], events: list[Event]) -> tuple[Router, list[str]]:
    rng = random.Random(2026)
    queues = [
        Queue(
            f"q-{s}",
            (
                EscalationStep(Requirement.of({s: 4}), 20.0),
                EscalationStep(Requirement.of({s: 2}), 40.0),
                EscalationStep(Requirement.of({s: 1})),
            ),
        )
        for s in SKILLS
    ]
    router = router_class(queues=queues, scheduler=Scheduler(), on_event=events.append)
    agent_ids = []
    for k in range(AGENTS):
        half = BACKLOGGED if k % 2 == 0 else IDLE
        skills = {s: rng.randint(1, 5) for s in rng.sample(half, 3)}
        router.login(Agent(f"a{k}", f"a{k}", skills))
        agent_ids.append(f"a{k}")
    n = 0
    while len(router.waiting()) < WAITING:
        priority = rng.randint(0, 2)
        router.enqueue(Call(f"c{n}", "x", "public", 0.0, priority), f"q-{rng.choice(BACKLOGGED)}")
        n += 1
    return router, agent_ids


def arrivals(router: Router) -> Callable[[str], str | None]:
    """Each call id passed in arrives at a random backlog-free queue; returns its agent."""
    rng = random.Random(7)

    def arrive(call_id: str) -> str | None:
        call = Call(call_id, "x", "public", 0.0)
        router.enqueue(call, f"q-{rng.choice(IDLE)}")
        return call.agent_id

    return arrive


def time_each(
    decide: Callable[[str], str | None], keys: Sequence[str], rounds: int
) -> tuple[list[float], list[str | None]]:
    times: list[float] = []
    answers: list[str | None] = []
    for _ in range(rounds):
        answers = []
        for key in keys:
            t0 = time.perf_counter_ns()
            answers.append(decide(key))
            times.append((time.perf_counter_ns() - t0) / 1000.0)
    return times, answers


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    rounds = ap.parse_args().rounds
    events: tuple[list[Event], list[Event]] = ([], [])
    indexed, agent_ids = build(Router, events[0])
    scanned, _ = build(FullScanRouter, events[1])
    assert events[0] == events[1], "both routers reached the same state"
    # The set-up's objects live for the whole run: keep the cyclic GC from rescanning them
    # in the middle of a timed decision (it would be the same for both routers).
    gc.collect()
    gc.freeze()
    print(
        f"{AGENTS:,} agents, {len(SKILLS)} skills, {len(indexed.waiting()):,} calls waiting; "
        "times in microseconds"
    )
    new_calls = [f"new{k}" for k in range(500)]
    for label, (t_ix, a_ix), (t_fs, a_fs) in (
        (
            f"agent frees up -> best call ({len(agent_ids):,} agents x {rounds} rounds)",
            time_each(indexed.best_call_for, agent_ids, rounds),
            time_each(scanned.best_call_for, agent_ids, rounds),
        ),
        (
            f"call arrives -> offered to the best agent ({len(new_calls)} calls)",
            time_each(arrivals(indexed), new_calls, 1),
            time_each(arrivals(scanned), new_calls, 1),
        ),
    ):
        assert a_ix == a_fs, f"{label}: indexed and full-scan decisions differ"
        found = sum(a is not None for a in a_ix)
        m_ix, m_fs = statistics.median(t_ix), statistics.median(t_fs)
        print(f"{label}: {found:,} matched, identical decisions")
        print(f"  indexed    median {m_ix:8.2f}   p99 {p99(t_ix):8.2f}")
        print(f"  full scan  median {m_fs:8.2f}   p99 {p99(t_fs):8.2f}")
        print(
            f"  ratio: indexed is {m_fs / m_ix:.0f}x faster at the median, "
            f"{p99(t_fs) / p99(t_ix):.0f}x at p99"
        )


if __name__ == "__main__":
    main()
