"""Expected workload per planning interval and pool (queue), derived from a scenario.

A pool is a queue a call enters first: its calls are the scenario's arrival rate times the
shares of the caller types and languages routed to it, spread evenly within each hour.
Its handle time is the call-weighted mean handle time of those languages plus the queue's
wrap-up. Its callers' patience (for Erlang A) is the mean of the distribution that applies
to each caller type in that queue (the caller type's own, the queue's, or the line's),
combined as abandonment rates: 1 / patience, weighted by calls (callers who never hang up
count as rate 0; a pool of them only has infinite patience, i.e. Erlang C). Overflow
between queues is not modelled here; the simulator checks the plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    # per pool: mean patience in seconds (inf: callers never hang up); inf if not given
    patience_seconds: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if not self.queues:
            object.__setattr__(self, "queues", tuple((p,) for p in self.pools))
        if self.patience_seconds is None:
            object.__setattr__(self, "patience_seconds", np.full(len(self.pools), np.inf))

    @property
    def patience(self) -> npt.NDArray[np.float64]:
        """Mean patience per pool, seconds (inf: callers who never hang up)."""
        assert self.patience_seconds is not None  # (set in __post_init__)
        return self.patience_seconds

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
        # abandonment rates add up weighted by calls, as in weekly_demand
        rate = 1.0 / self.patience[idx]
        mean_rate = float((weight * rate).sum() / weight.sum()) if weight.sum() else float(rate[0])
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
            patience_seconds=np.append(self.patience[keep], _patience(mean_rate)),
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
    leaving = np.zeros(len(pools))  # call-weighted abandonment rate (1 / patience), summed
    total_type_share = sum(c.share for c in s.caller_types)
    for ctype in s.caller_types:
        mix = ctype.languages or {lang.tag: lang.share for lang in s.languages}
        mix_total = sum(mix.values())
        for tag, weight in mix.items():
            queue = ctype.queue_for(tag)
            p = pools.index(queue)
            fraction = (ctype.share / total_type_share) * (weight / mix_total)
            share[p] += fraction
            talk[p] += fraction * handle[tag]
            patience = s.patience_of(ctype, queue) or s.patience
            leaving[p] += fraction / (patience.mean if patience is not None else math.inf)
    wrap = np.array([q.wrap_up_seconds for q in s.queues])
    mean_talk = np.divide(talk, share, out=np.full(len(pools), s.handle.mean), where=share > 0)
    return Demand(
        interval_minutes=interval_minutes,
        pools=tuple(pools),
        calls=np.outer(per_interval, share),
        aht_seconds=mean_talk + wrap,
        skills=tuple(q.steps[0].requirement for q in s.queues),
        patience_seconds=np.array(
            [_patience(r / w) if w > 0 else math.inf for r, w in zip(leaving, share, strict=True)]
        ),
    )


def forecast_demand(
    scenario: Scenario,
    week: Mapping[str, npt.NDArray[np.float64]],
    *,
    interval_minutes: int = 30,
    surge: float = 1.0,
) -> Demand:
    """The demand of a forecast week instead of the scenario's profiles: `week` maps each
    language to its expected calls in the 168 hours from Monday 00:00 (or "all" alone, split
    by the scenario's language shares). Each language's calls go to the pools its callers
    are routed to, in the scenario's caller-type proportions; handle times and patience are
    weighted by the week's calls. ValueError for a language the scenario does not have."""
    if interval_minutes not in INTERVALS:
        raise ValueError(f"the planning interval must be one of {INTERVALS} minutes")
    if surge <= 0:
        raise ValueError("the surge factor must be positive (1.5 means 50 % more calls)")
    s = scenario
    tags = [lang.tag for lang in s.languages]
    pools = [q.name for q in s.queues]
    handle = np.array([(lang.handle or s.handle).mean for lang in s.languages])
    joint = np.zeros((len(tags), len(pools)))  # P(language, pool)
    leaving = np.zeros((len(tags), len(pools)))  # the same, times 1 / patience
    total_type_share = sum(c.share for c in s.caller_types)
    for ctype in s.caller_types:
        mix = ctype.languages or {lang.tag: lang.share for lang in s.languages}
        mix_total = sum(mix.values())
        for tag, weight in mix.items():
            queue = ctype.queue_for(tag)
            i, p = tags.index(tag), pools.index(queue)
            fraction = (ctype.share / total_type_share) * (weight / mix_total)
            joint[i, p] += fraction
            patience = s.patience_of(ctype, queue) or s.patience
            leaving[i, p] += fraction / (patience.mean if patience is not None else math.inf)
    share = joint.sum(axis=1)
    unknown = sorted(set(week) - {*tags, "all"})
    if unknown:
        raise ValueError(f"the forecast has calls in {', '.join(unknown)}, which the scenario "
                         f"does not have (its languages: {', '.join(tags)})")  # fmt: skip
    if set(week) == {"all"}:
        per_language = np.outer(np.asarray(week["all"], dtype=np.float64), share / share.sum())
    else:
        per_language = np.column_stack(
            [np.asarray(week.get(tag, np.zeros(WEEK_HOURS)), dtype=np.float64) for tag in tags]
        )
    if per_language.shape != (WEEK_HOURS, len(tags)):
        raise ValueError(f"a forecast week has {WEEK_HOURS} hours")
    given = np.divide(joint, share[:, None], out=np.zeros_like(joint), where=share[:, None] > 0)
    hourly = per_language @ given * surge  # calls per hour and pool
    split = 60 // interval_minutes
    weight = per_language.sum(axis=0)[:, None] * given  # the week's calls by language and pool
    calls_in = weight.sum(axis=0)
    rate = np.divide(leaving, joint, out=np.zeros_like(joint), where=joint > 0)
    talk = np.divide(handle @ weight, calls_in, out=np.full(len(pools), s.handle.mean),
                     where=calls_in > 0)  # fmt: skip
    mean_rate = np.divide((weight * rate).sum(axis=0), calls_in, out=np.zeros(len(pools)),
                          where=calls_in > 0)  # fmt: skip
    return Demand(
        interval_minutes=interval_minutes,
        pools=tuple(pools),
        calls=np.repeat(hourly / split, split, axis=0),
        aht_seconds=talk + np.array([q.wrap_up_seconds for q in s.queues]),
        skills=tuple(q.steps[0].requirement for q in s.queues),
        patience_seconds=np.array([_patience(float(r)) for r in mean_rate]),
    )


def _patience(rate: float) -> float:
    """Mean patience for a mean abandonment rate (per second); 0 means never."""
    return math.inf if rate <= 0 else 1.0 / rate
