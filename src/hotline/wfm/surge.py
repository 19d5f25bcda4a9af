"""Surge plans: what more volume, longer calls or a language spike would take.

Each case is the scenario changed one way. Against the base week's schedule it shows the
extra agents each interval would need on the phones, the on-call pool that covers the
worst interval, and how much of the extra work overtime could cover (agents staying up to
`overtime_hours` after their shift ends). The simulator then plays the surge twice: with
the base schedule unchanged ("do nothing") and with a schedule planned for the surge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hotline.sim.distributions import scaled
from hotline.sim.driver import simulate as run_simulation
from hotline.sim.scenario import CallerType, Scenario
from hotline.wfm.demand import weekly_demand
from hotline.wfm.plan import Plan, make_plan, scenario_for
from hotline.wfm.shifts import Schedule
from hotline.wfm.staffing import Target, erlang_c_table


@dataclass(frozen=True)
class SurgeCase:
    name: str
    volume: float = 1.0  # all calls x this
    handle: float = 1.0  # handle times x this
    language: str | None = None  # one language's calls x `spike`
    spike: float = 1.0

    def apply(self, s: Scenario) -> Scenario:
        if self.volume <= 0 or self.handle <= 0 or self.spike <= 0:
            raise ValueError(f"surge case {self.name!r}: factors must be positive")
        out = replace(
            s,
            calls_per_day=s.calls_per_day * self.volume,
            handle=scaled(s.handle, self.handle),
            languages=tuple(
                replace(lang, handle=scaled(lang.handle, self.handle) if lang.handle else None)
                for lang in s.languages
            ),
        )
        if self.language is None:
            return out
        tags = [lang.tag for lang in s.languages]
        if self.language not in tags:
            raise ValueError(f"unknown language {self.language!r}; the scenario has {tags}")
        # more calls in one language, the others unchanged: raise the total by that
        # language's extra calls and its share to match
        share = _language_share(s, self.language)
        extra = share * (self.spike - 1.0)
        return replace(
            out,
            calls_per_day=out.calls_per_day * (1.0 + extra),
            caller_types=tuple(_spiked(c, s, self.language, self.spike) for c in s.caller_types),
        )


def _language_share(s: Scenario, tag: str) -> float:
    total = sum(c.share for c in s.caller_types)
    share = 0.0
    for c in s.caller_types:
        mix = c.languages or {lang.tag: lang.share for lang in s.languages}
        share += c.share / total * mix.get(tag, 0.0) / sum(mix.values())
    return share


def _spiked(c: CallerType, s: Scenario, tag: str, spike: float) -> CallerType:
    mix = dict(c.languages or {lang.tag: lang.share for lang in s.languages})
    total = sum(mix.values())
    if tag not in mix:
        return c
    mix = {k: v / total for k, v in mix.items()}
    grown = mix[tag] * (spike - 1.0)
    mix[tag] *= spike
    # this caller type grows by `grown`; its weight among caller types grows with it
    return replace(c, share=c.share * (1.0 + grown), languages=mix)


@dataclass(frozen=True)
class SurgeImpact:
    case: SurgeCase
    extra: npt.NDArray[np.int64]  # [interval, pool] agents needed beyond the base schedule
    overtime: npt.NDArray[np.int64]  # [interval, pool] of which overtime could cover
    interval_minutes: int

    @property
    def extra_hours(self) -> float:
        return float(self.extra.sum()) * self.interval_minutes / 60

    @property
    def overtime_share(self) -> float:
        total = self.extra.sum()
        return float(self.overtime.sum() / total) if total else 1.0

    @property
    def on_call_pool(self) -> int:
        """Agents to have on call: the most extra agents any interval needs, all pools."""
        return int(self.extra.sum(axis=1).max()) if self.extra.size else 0


def impact(
    base: Plan, surged: Scenario, case: SurgeCase, *, overtime_hours: float = 2.0
) -> SurgeImpact:
    d = weekly_demand(surged, interval_minutes=base.demand.interval_minutes)
    if d.pools != base.demand.pools:
        raise ValueError("surge impact needs a base plan of the same queues, not pooled ones")
    need = erlang_c_table(
        calls_per_hour=d.calls_per_hour, aht_seconds=d.aht_seconds, target=base.target
    )
    on_phones = np.stack(
        [np.floor(p.schedule.coverage * (1.0 - base.shrinkage) + 1e-9) for p in base.pools], axis=1
    ).astype(np.int64)
    extra = np.clip(need - on_phones, 0, None)
    window = round(overtime_hours * 60 / base.demand.interval_minutes)
    staying = np.stack([_could_stay(p.schedule, window) for p in base.pools], axis=1)
    return SurgeImpact(case, extra, np.minimum(extra, staying), base.demand.interval_minutes)


def _could_stay(schedule: Schedule, window: int) -> npt.NDArray[np.int64]:
    """Per interval: agents whose shift ended within the last `window` intervals."""
    n = len(schedule.required)
    out = np.zeros(n, dtype=np.int64)
    for shift, agents in schedule.shifts:
        end = shift.start + shift.intervals
        for k in range(window):
            out[(end + k) % n] += agents
    return out


def evaluate_surges(
    scenario: Scenario,
    cases: list[SurgeCase],
    *,
    target: Target,
    shrinkage: float = 0.0,
    overtime_hours: float = 2.0,
    simulate: bool = True,
) -> tuple[Plan, list[dict[str, Any]], list[SurgeImpact]]:
    """The base plan, and per case its figures (plain data) and impact.

    With `simulate`, each case is played twice: against the base schedule unchanged and
    against a schedule planned for the surge.
    """
    base = make_plan(scenario, target=target, shrinkage=shrinkage)
    rows, impacts = [], []
    for case in cases:
        surged = case.apply(scenario)
        i = impact(base, surged, case, overtime_hours=overtime_hours)
        impacts.append(i)
        own = make_plan(surged, target=target, shrinkage=shrinkage)
        row: dict[str, Any] = {
            "case": case.name,
            "calls_per_week": round(float(weekly_demand(surged).calls.sum()), 1),
            "extra_agent_hours": i.extra_hours,
            "on_call_pool": i.on_call_pool,
            "overtime_share": round(i.overtime_share, 6),
            "surge_plan_paid_hours": own.paid_hours,
            "extra_agents_per_interval": i.extra.sum(axis=1).tolist(),
        }
        if simulate:
            as_is = run_simulation(scenario_for(base, surged)).report
            row["simulated_sl_base_schedule"] = as_is["service_level"]
            row["simulated_abandon_base_schedule"] = as_is["abandon_rate"]
            row["simulated_callbacks_base_schedule"] = as_is["callbacks"]
            planned = run_simulation(scenario_for(own, surged)).report
            row["simulated_sl_surge_plan"] = planned["service_level"]
        rows.append(row)
    return base, rows, impacts
