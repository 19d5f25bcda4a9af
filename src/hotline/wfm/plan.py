"""A staffing plan for a week: requirement per interval and pool, shifts that cover it,
and the service level the plan should give — which the simulator then checks.

Each pool (queue) is staffed by agents dedicated to it who meet its first step's
requirement; the simulator replays exactly those agents on exactly those shifts against
the scenario's callers, so planned and simulated service level can be put side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hotline.domain.agent import QueueMembership
from hotline.sim.scenario import WEEKDAYS, AgentGroup, Scenario, Shift
from hotline.wfm.demand import Demand, weekly_demand
from hotline.wfm.erlang import erlang_c
from hotline.wfm.shifts import Schedule, schedule_shifts
from hotline.wfm.staffing import Target, erlang_c_table, with_shrinkage


@dataclass(frozen=True)
class PoolPlan:
    name: str
    calls: float  # expected calls in the week
    required: npt.NDArray[np.int64]  # agents on the phones needed per interval
    schedule: Schedule  # scheduled agents per interval (before shrinkage)
    planned_service_level: float  # call-weighted, with the scheduled agents after shrinkage


@dataclass(frozen=True)
class Plan:
    demand: Demand
    target: Target
    shrinkage: float
    surge: float
    pools: tuple[PoolPlan, ...]

    @property
    def paid_hours(self) -> float:
        return sum(p.schedule.paid_hours for p in self.pools)

    @property
    def planned_service_level(self) -> float:
        calls = sum(p.calls for p in self.pools)
        return sum(p.planned_service_level * p.calls for p in self.pools) / calls if calls else 1.0


def make_plan(
    scenario: Scenario,
    *,
    target: Target,
    interval_minutes: int = 30,
    shrinkage: float = 0.0,
    surge: float = 1.0,
    break_minutes: int = 0,
    time_limit: float = 10.0,
    pooled: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Plan a week. `pooled` names queues to staff together with multilingual agents."""
    demand = weekly_demand(scenario, interval_minutes=interval_minutes, surge=surge)
    if pooled:
        demand = demand.pooled(pooled)
    on_phones = erlang_c_table(
        calls_per_hour=demand.calls_per_hour, aht_seconds=demand.aht_seconds, target=target
    )
    pools = []
    for p, name in enumerate(demand.pools):
        if progress is not None:
            progress(name)
        required = on_phones[:, p]
        to_schedule = np.array([with_shrinkage(int(k), shrinkage) for k in required])
        schedule = schedule_shifts(
            to_schedule,
            interval_minutes=interval_minutes,
            break_minutes=break_minutes,
            time_limit=time_limit,
        )
        pools.append(
            PoolPlan(
                name,
                float(demand.calls[:, p].sum()),
                required,
                schedule,
                _service_level(demand, p, schedule.coverage, shrinkage, target),
            )
        )
    return Plan(demand, target, shrinkage, surge, tuple(pools))


def _service_level(
    demand: Demand, p: int, scheduled: npt.NDArray[np.int64], shrinkage: float, target: Target
) -> float:
    """Erlang C service level of the scheduled agents, weighted by calls per interval."""
    calls = demand.calls[:, p]
    if calls.sum() == 0:
        return 1.0
    total = 0.0
    for t, n in enumerate(scheduled):
        if calls[t] == 0:
            continue
        perf = erlang_c(
            agents=int(n * (1.0 - shrinkage) + 1e-9),  # on the phones after shrinkage
            calls_per_hour=float(demand.calls_per_hour[t, p]),
            aht_seconds=float(demand.aht_seconds[p]),
            answer_within=target.answer_within,
        )
        total += perf.service_level * calls[t]
    return float(total / calls.sum())


def scenario_for(plan: Plan, scenario: Scenario) -> Scenario:
    """The scenario's callers for one week, answered by the plan's agents on its shifts.

    Shrinkage is applied by staffing each pool's shifts with the share of its agents who
    would be on the phones, whole agents shared out by largest remainder so the pool's
    total is exact; breaks are not simulated.
    """
    minutes = plan.demand.interval_minutes
    groups = []
    for pool, skills, queues in zip(
        plan.pools, plan.demand.skills, plan.demand.queues, strict=True
    ):
        working: dict[tuple[int, int], int] = {}  # (start, length) -> agents, breaks merged
        for shift, agents in pool.schedule.shifts:
            key = (shift.start, shift.intervals)
            working[key] = working.get(key, 0) + agents
        shifts = sorted(working.items())
        on_phones = _apportion([a for _, a in shifts], 1.0 - plan.shrinkage)
        for ((start, length), _), count in zip(shifts, on_phones, strict=True):
            if count == 0:
                continue
            day, minute = divmod(start * minutes, 24 * 60)
            hours = length * minutes / 60
            groups.append(
                AgentGroup(
                    name=f"{pool.name}-{WEEKDAYS[day]}-{minute // 60:02d}{minute % 60:02d}"
                    f"-{hours:g}h",
                    count=count,
                    skills=dict(skills.levels),
                    queues=tuple(QueueMembership(q) for q in queues),
                    shifts=(Shift(minute / 60, hours, frozenset({day})),),
                )
            )
    return replace(
        scenario,
        hours=7 * 24,
        start_weekday=0,
        calls_per_day=scenario.calls_per_day * plan.surge,
        agent_groups=tuple(groups),
    )


def _combined(by_queue: Mapping[str, Any], queues: tuple[str, ...]) -> dict[str, float]:
    """Simulated service level and abandonment of several queues, weighted by their calls."""
    parts = [by_queue[q] for q in queues if q in by_queue and by_queue[q]["offered"]]
    offered = sum(t["offered"] for t in parts)
    if not offered:
        return {}
    return {
        key: sum((t[key] or 0.0) * t["offered"] for t in parts) / offered
        for key in ("service_level", "abandon_rate")
    }


def _apportion(agents: list[int], share: float) -> list[int]:
    """Whole agents per shift summing to floor(share x total), by largest remainder."""
    quotas = [a * share for a in agents]
    counts = [int(q + 1e-9) for q in quotas]
    left = int(sum(agents) * share + 1e-9) - sum(counts)
    by_remainder = sorted(range(len(agents)), key=lambda i: counts[i] - quotas[i])
    for i in by_remainder[: max(0, left)]:
        counts[i] += 1
    return counts


def plan_report(plan: Plan, simulated: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plan as plain data (the plan file): figures per pool, totals, and the shifts."""
    minutes = plan.demand.interval_minutes
    pools = []
    for p, queues in zip(plan.pools, plan.demand.queues, strict=True):
        sim = _combined((simulated or {}).get("queues", {}), queues)
        pools.append(
            {
                "pool": p.name,
                "calls": round(p.calls, 1),
                "peak_agents": int(p.required.max()) if len(p.required) else 0,
                "paid_hours": p.schedule.paid_hours,
                "over_staffed_hours": p.schedule.over_staffed_hours,
                "coverage": round(p.schedule.coverage_share, 6),
                "gap": round(p.schedule.gap, 6),
                "optimal": p.schedule.optimal,
                "planned_service_level": round(p.planned_service_level, 6),
                "simulated_service_level": sim.get("service_level"),
                "simulated_abandon_rate": sim.get("abandon_rate"),
                "required_per_interval": p.required.tolist(),
                "scheduled_per_interval": p.schedule.coverage.tolist(),
                "shifts": [
                    {
                        "day": WEEKDAYS[(s.start * minutes) // (24 * 60)],
                        "start": "{:02d}:{:02d}".format(
                            *divmod((s.start * minutes) % (24 * 60), 60)
                        ),
                        "hours": s.intervals * minutes / 60,
                        "break_after_hours": s.break_at * minutes / 60
                        if s.break_intervals
                        else None,
                        "agents": n,
                    }
                    for s, n in p.schedule.shifts
                ],
            }
        )
    total = {
        "pool": "all",
        "calls": round(sum(p["calls"] for p in pools), 1),
        "peak_agents": int(np.sum([p.required for p in plan.pools], axis=0).max())
        if plan.pools
        else 0,
        "paid_hours": plan.paid_hours,
        "over_staffed_hours": sum(p["over_staffed_hours"] for p in pools),
        "gap": None,
        "planned_service_level": round(plan.planned_service_level, 6),
        "simulated_service_level": (simulated or {}).get("service_level"),
        "simulated_abandon_rate": (simulated or {}).get("abandon_rate"),
    }
    return {
        "interval_minutes": minutes,
        "target": {
            "service_level": plan.target.service_level,
            "answer_within_seconds": plan.target.answer_within,
        },
        "shrinkage": plan.shrinkage,
        "surge": plan.surge,
        "total": total,
        "pools": pools,
    }
