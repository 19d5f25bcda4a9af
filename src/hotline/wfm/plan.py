"""A staffing plan for a week: requirement per interval and pool, shifts that cover it,
and the service level the plan should give — which the simulator then checks.

Each pool (queue) is staffed by agents dedicated to it who meet its first step's
requirement; the simulator replays exactly those agents on exactly those shifts against
the scenario's callers, so planned and simulated service level can be put side by side.

The requirement comes from Erlang C (callers wait as long as it takes) or, with
`model="erlang-a"`, Erlang A with each pool's callers' patience (callers hang up).
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
from hotline.wfm.erlang import erlang_a, erlang_a_many, erlang_c
from hotline.wfm.shifts import Schedule, schedule_shifts
from hotline.wfm.staffing import Target, erlang_a_table, erlang_c_table, with_shrinkage

MODELS = ("erlang-c", "erlang-a")
QUICK = 20.0  # seconds: the report also gives the share answered this quickly


@dataclass(frozen=True)
class Planned:
    """What a pool's scheduled agents (after shrinkage) deliver, by the plan's model."""

    service_level: float  # answered within the target's threshold, call-weighted
    within_quick: float  # answered within QUICK seconds, call-weighted
    abandon_rate: float | None  # call-weighted; None under Erlang C (no abandonment)
    worst_interval: int  # the interval with calls where the service level is lowest
    worst_service_level: float


@dataclass(frozen=True)
class PoolPlan:
    name: str
    calls: float  # expected calls in the week
    required: npt.NDArray[np.int64]  # agents on the phones needed per interval
    schedule: Schedule  # scheduled agents per interval (before shrinkage)
    planned_service_level: float  # call-weighted, with the scheduled agents after shrinkage
    planned: Planned | None = None  # the same and more (within 20 s, abandonment, worst)
    lower_bound_hours: float = 0.0  # agents to schedule per interval, summed: no fewer paid

    @property
    def figures(self) -> Planned:
        assert self.planned is not None  # (make_plan sets it)
        return self.planned


@dataclass(frozen=True)
class Plan:
    demand: Demand
    target: Target
    shrinkage: float
    surge: float
    pools: tuple[PoolPlan, ...]
    model: str = "erlang-c"

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
    model: str = "erlang-c",
    demand: Demand | None = None,
) -> Plan:
    """Plan a week. `pooled` names queues to staff together with multilingual agents;
    `model` is "erlang-c" or "erlang-a" (with the callers' patience per pool); `demand`
    (e.g. `forecast_demand`'s) replaces the scenario's profiles."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
    if demand is None:
        demand = weekly_demand(scenario, interval_minutes=interval_minutes, surge=surge)
    elif demand.interval_minutes != interval_minutes:
        raise ValueError("the demand's intervals are not the plan's")
    if pooled:
        demand = demand.pooled(pooled)
    if model == "erlang-a":
        on_phones = erlang_a_table(
            calls_per_hour=demand.calls_per_hour,
            aht_seconds=demand.aht_seconds,
            patience_seconds=demand.patience,
            target=target,
        )
    else:
        on_phones = erlang_c_table(
            calls_per_hour=demand.calls_per_hour, aht_seconds=demand.aht_seconds, target=target
        )
    pools = staff_pools(
        demand,
        on_phones,
        target=target,
        model=model,
        shrinkage=shrinkage,
        break_minutes=break_minutes,
        time_limit=time_limit,
        progress=progress,
    )
    return Plan(demand, target, shrinkage, surge, pools, model)


def staff_pools(
    demand: Demand,
    on_phones: npt.NDArray[np.int64],
    *,
    target: Target,
    model: str = "erlang-c",
    shrinkage: float = 0.0,
    break_minutes: int = 0,
    time_limit: float = 10.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[PoolPlan, ...]:
    """Shifts for each pool of `demand` covering `on_phones[t, p]` agents on the phones
    (after shrinkage), with the figures the plan's model gives them."""
    interval_minutes = demand.interval_minutes
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
        planned = _planned(demand, p, schedule.coverage, shrinkage, target, model)
        pools.append(
            PoolPlan(
                name,
                float(demand.calls[:, p].sum()),
                required,
                schedule,
                planned.service_level,
                planned,
                float(to_schedule.sum()) * interval_minutes / 60,
            )
        )
    return tuple(pools)


def _planned(
    demand: Demand,
    p: int,
    scheduled: npt.NDArray[np.int64],
    shrinkage: float,
    target: Target,
    model: str,
) -> Planned:
    """The pool's figures with the scheduled agents after shrinkage, interval by interval,
    weighted by calls: Erlang C, or Erlang A with the pool's patience (callers who never
    hang up: Erlang C there too)."""
    calls = demand.calls[:, p]
    busy = np.flatnonzero(calls > 0)
    if busy.size == 0:
        return Planned(1.0, 1.0, None if model == "erlang-c" else 0.0, 0, 1.0)
    agents = np.array([int(n * (1.0 - shrinkage) + 1e-9) for n in scheduled[busy]])
    rate = demand.calls_per_hour[busy, p]
    aht = float(demand.aht_seconds[p])
    patience = float(demand.patience[p])
    if model == "erlang-c" or np.isinf(patience):
        pairs = list(zip(agents.tolist(), rate.tolist(), strict=True))
        sl, quick = (
            np.array([_erlang_c_level(n, r, aht, t) for n, r in pairs])
            for t in (target.answer_within, QUICK)
        )
        abandon = np.zeros(busy.size)
    else:
        sl, quick, abandon = _erlang_a_levels(agents, rate, aht, patience, target.answer_within)
    weight = calls[busy] / calls[busy].sum()
    worst = int(np.argmin(sl))
    return Planned(
        service_level=_service_level(demand, p, scheduled, shrinkage, target)
        if model == "erlang-c"
        else float(weight @ sl),
        within_quick=float(weight @ quick),
        abandon_rate=None if model == "erlang-c" else float(weight @ abandon),
        worst_interval=int(busy[worst]),
        worst_service_level=float(sl[worst]),
    )


def _erlang_c_level(agents: int, calls_per_hour: float, aht: float, within: float) -> float:
    return erlang_c(
        agents=agents, calls_per_hour=calls_per_hour, aht_seconds=aht, answer_within=within
    ).service_level


def _erlang_a_levels(
    agents: npt.NDArray[np.int64],
    calls_per_hour: npt.NDArray[np.float64],
    aht: float,
    patience: float,
    within: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Service level within `within` and QUICK, and abandonment, per interval (Erlang A);
    an interval without agents answers nobody and loses every caller."""
    sl = np.zeros(agents.size)
    quick = np.zeros(agents.size)
    abandon = np.ones(agents.size)
    some = np.flatnonzero(agents > 0)
    for t, out in ((within, sl), (QUICK, quick)):
        many = erlang_a_many(
            agents=agents[some],
            calls_per_hour=calls_per_hour[some],
            aht_seconds=aht,
            patience_seconds=patience,
            answer_within=t,
        )
        out[some] = many.service_level
        abandon[some] = many.abandon_rate
        for i in some[np.isnan(out[some]) | np.isnan(abandon[some])]:  # (see erlang_a_many)
            one = erlang_a(
                agents=int(agents[i]),
                calls_per_hour=float(calls_per_hour[i]),
                aht_seconds=aht,
                patience_seconds=patience,
                answer_within=t,
            )
            out[i], abandon[i] = one.service_level, one.abandon_rate
    return sl, quick, abandon


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


def _interval(t: int, minutes: int) -> str:
    """`mon 09:30`: the start of interval t of the week."""
    day, minute = divmod(t * minutes, 24 * 60)
    return f"{WEEKDAYS[day]} {minute // 60:02d}:{minute % 60:02d}"


def _abandon(plan: Plan, calls: float) -> float:
    total = sum((p.figures.abandon_rate or 0.0) * p.calls for p in plan.pools)
    return round(total / calls, 6) if calls else 0.0


def _ratio(paid: float, lower: float) -> float | None:
    return round(paid / lower, 6) if lower else None


def plan_report(plan: Plan, simulated: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plan as plain data (the plan file): figures per pool, totals, and the shifts."""
    minutes = plan.demand.interval_minutes
    pools = []
    for p, queues, patience in zip(
        plan.pools, plan.demand.queues, plan.demand.patience, strict=True
    ):
        sim = _combined((simulated or {}).get("queues", {}), queues)
        f = p.figures
        pools.append(
            {
                "pool": p.name,
                "calls": round(p.calls, 1),
                "peak_agents": int(p.required.max()) if len(p.required) else 0,
                "patience_seconds": None if np.isinf(patience) else round(float(patience), 3),
                "paid_hours": p.schedule.paid_hours,
                "lower_bound_hours": p.lower_bound_hours,
                "paid_over_lower_bound": _ratio(p.schedule.paid_hours, p.lower_bound_hours),
                "over_staffed_hours": p.schedule.over_staffed_hours,
                "coverage": round(p.schedule.coverage_share, 6),
                "gap": round(p.schedule.gap, 6),
                "optimal": p.schedule.optimal,
                "planned_service_level": round(p.planned_service_level, 6),
                "planned_within_20s": round(f.within_quick, 6),
                "planned_abandon_rate": None
                if f.abandon_rate is None
                else round(f.abandon_rate, 6),
                "worst_interval": {
                    "at": _interval(f.worst_interval, minutes),
                    "service_level": round(f.worst_service_level, 6),
                },
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
    calls = sum(p.calls for p in plan.pools)
    worst = min(plan.pools, key=lambda p: p.figures.worst_service_level, default=None)
    lower = sum(p.lower_bound_hours for p in plan.pools)
    total = {
        "pool": "all",
        "calls": round(sum(p["calls"] for p in pools), 1),
        "peak_agents": int(np.sum([p.required for p in plan.pools], axis=0).max())
        if plan.pools
        else 0,
        "paid_hours": plan.paid_hours,
        "lower_bound_hours": lower,
        "paid_over_lower_bound": _ratio(plan.paid_hours, lower),
        "over_staffed_hours": sum(p["over_staffed_hours"] for p in pools),
        "gap": None,
        "planned_service_level": round(plan.planned_service_level, 6),
        "planned_within_20s": round(
            sum(p.figures.within_quick * p.calls for p in plan.pools) / calls if calls else 1.0, 6
        ),
        "planned_abandon_rate": None if plan.model == "erlang-c" else _abandon(plan, calls),
        "worst_interval": None
        if worst is None
        else {
            "pool": worst.name,
            "at": _interval(worst.figures.worst_interval, minutes),
            "service_level": round(worst.figures.worst_service_level, 6),
        },
        "simulated_service_level": (simulated or {}).get("service_level"),
        "simulated_abandon_rate": (simulated or {}).get("abandon_rate"),
    }
    return {
        "model": plan.model,
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
