"""Expected workload per planning interval and pool (queue), derived from a scenario.

A pool is a queue a call enters first: its calls are the scenario's arrival rate times the
shares of the caller types and languages routed to it, spread evenly within each hour.
Its handle time is the call-weighted mean handle time of those languages plus the queue's
wrap-up. Overflow between queues is not modelled here; the simulator checks the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hotline.domain.skills import Requirement
from hotline.sim.arrivals import hourly_rates
from hotline.sim.scenario import Scenario

WEEK_HOURS = 7 * 24
INTERVALS = (15, 30, 60)


@dataclass(frozen=True)
class Demand:
    """`calls[t, p]`: expected calls in interval t for pool p; a week from Monday 00:00."""

    interval_minutes: int
    pools: tuple[str, ...]
    calls: npt.NDArray[np.float64]
    aht_seconds: npt.NDArray[np.float64]  # per pool, talk plus wrap-up
    skills: tuple[Requirement, ...]  # per pool: what an agent dedicated to it must have
    queues: tuple[tuple[str, ...], ...] = ()  # per pool: the queues its agents serve

    def __post_init__(self) -> None:
        if not self.queues:
            object.__setattr__(self, "queues", tuple((p,) for p in self.pools))

    def pooled(self, names: tuple[str, ...]) -> Demand:
        """The same demand with these pools served together by agents who can take all of
        their calls (the pooling effect of multilingual agents). The merged pool's handle
        time is the call-weighted mean; every language follows the same daily profile, so
        the mix, and that mean, is the same in every interval."""
        unknown = [n for n in names if n not in self.pools]
        if unknown or len(set(names)) < 2 or len(set(names)) != len(names):
            raise ValueError(
                f"pooling needs two or more different queues of {list(self.pools)}"
                + (f"; unknown: {unknown}" if unknown else "")
            )
        idx = [self.pools.index(n) for n in names]
        keep = [i for i in range(len(self.pools)) if i not in idx]
        calls = self.calls[:, idx]
        weight = calls.sum(axis=0)
        aht = float((weight * self.aht_seconds[idx]).sum() / weight.sum()) if weight.sum() else 0.0
        levels: dict[str, int] = {}
        for i in idx:
            for skill, level in self.skills[i].levels:
                levels[skill] = max(level, levels.get(skill, 0))
        return Demand(
            interval_minutes=self.interval_minutes,
            pools=(*(self.pools[i] for i in keep), "+".join(names)),
            calls=np.column_stack([self.calls[:, keep], calls.sum(axis=1)]),
            aht_seconds=np.append(self.aht_seconds[keep], aht or self.aht_seconds[idx[0]]),
            skills=(*(self.skills[i] for i in keep), Requirement.of(levels)),
            queues=(*(self.queues[i] for i in keep), tuple(names)),
        )

    @property
    def calls_per_hour(self) -> npt.NDArray[np.float64]:
        rate: npt.NDArray[np.float64] = self.calls * (60.0 / self.interval_minutes)
        return rate


def weekly_demand(scenario: Scenario, *, interval_minutes: int = 30, surge: float = 1.0) -> Demand:
    if interval_minutes not in INTERVALS:
        raise ValueError(f"the planning interval must be one of {INTERVALS} minutes")
    if surge <= 0:
        raise ValueError("the surge factor must be positive (1.5 means 50 % more calls)")
    s = scenario
    per_hour = hourly_rates(
        calls_per_day=s.calls_per_day * surge,
        hourly_profile=s.hourly_profile,
        weekly_profile=s.weekly_profile,
        hours=WEEK_HOURS,
        start_weekday=0,
    )
    split = 60 // interval_minutes
    per_interval = np.repeat(per_hour / split, split)

    handle = {lang.tag: (lang.handle or s.handle).mean for lang in s.languages}
    pools = [q.name for q in s.queues]
    share = np.zeros(len(pools))
    talk = np.zeros(len(pools))  # call-weighted talk time, summed
    total_type_share = sum(c.share for c in s.caller_types)
    for ctype in s.caller_types:
        mix = ctype.languages or {lang.tag: lang.share for lang in s.languages}
        mix_total = sum(mix.values())
        for tag, weight in mix.items():
            p = pools.index(ctype.queue_for(tag))
            fraction = (ctype.share / total_type_share) * (weight / mix_total)
            share[p] += fraction
            talk[p] += fraction * handle[tag]
    wrap = np.array([q.wrap_up_seconds for q in s.queues])
    mean_talk = np.divide(talk, share, out=np.full(len(pools), s.handle.mean), where=share > 0)
    return Demand(
        interval_minutes=interval_minutes,
        pools=tuple(pools),
        calls=np.outer(per_interval, share),
        aht_seconds=mean_talk + wrap,
        skills=tuple(q.steps[0].requirement for q in s.queues),
    )
