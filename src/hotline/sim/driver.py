"""The simulator: a scenario's callers and agents driving the real ACD on a virtual clock.

Everything random is drawn up front from one seeded generator (arrivals, languages,
caller types, IVR, patience and handle times), so a seed fixes the whole run. Calls that
are still in the system when arrivals stop are played out to the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotline.domain.agent import Agent
from hotline.domain.call import Call, CallState
from hotline.domain.clock import Scheduler
from hotline.domain.events import (
    CallAnswered,
    CallArrived,
    CallEnteredIvr,
    CallOffered,
    CallOverflowed,
    Event,
)
from hotline.routing.engine import Router
from hotline.sim.arrivals import HOUR, arrival_times, hourly_rates
from hotline.sim.kpi import KpiCollector
from hotline.sim.scenario import ALWAYS, Scenario, Shift

DAY = 24 * HOUR
Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Result:
    calls: int
    events: int
    unfinished: int  # calls still waiting when no agent would ever come again
    report: dict[str, Any]


class _CallPlan:
    """Pre-drawn randomness of every call of the run, as arrays indexed by call number."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        s = scenario
        rates = hourly_rates(
            calls_per_day=s.calls_per_day,
            hourly_profile=s.hourly_profile,
            weekly_profile=s.weekly_profile,
            hours=s.hours,
            start_weekday=s.start_weekday,
        )
        self.times = arrival_times(rng, rates)
        n = len(self.times)
        shares = np.array([c.share for c in s.caller_types], dtype=np.float64)
        self.caller = rng.choice(len(s.caller_types), n, p=shares / shares.sum())
        tags = [lang.tag for lang in s.languages]
        self.language = np.zeros(n, dtype=np.int64)
        for k, ctype in enumerate(s.caller_types):
            mix = ctype.languages or {lang.tag: lang.share for lang in s.languages}
            weights = np.array([mix.get(tag, 0.0) for tag in tags], dtype=np.float64)
            members = np.flatnonzero(self.caller == k)
            self.language[members] = rng.choice(len(tags), len(members), p=weights / weights.sum())
        self.ivr = s.ivr.sample(rng, n)
        self.patience = (
            s.patience.sample(rng, n) if s.patience is not None else np.full(n, math.inf)
        )
        self.handle = s.handle.sample(rng, n)
        for k, lang in enumerate(s.languages):
            if lang.handle is not None:
                members = np.flatnonzero(self.language == k)
                self.handle[members] = lang.handle.sample(rng, len(members))


class Simulation:
    """One run of a scenario. `run()` returns the KPIs; `events` optionally records a trace."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        seed: int | None = None,
        router_class: type[Router] = Router,
        trace: Callable[[Event], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self._rng = np.random.default_rng(scenario.seed if seed is None else seed)
        self._scheduler = Scheduler()
        self._trace = trace
        self._kpi = KpiCollector(
            answer_within=scenario.answer_within,
            wrap_up={q.name: q.wrap_up_seconds for q in scenario.queues},
        )
        self._router = router_class(
            queues=scenario.queues,
            scheduler=self._scheduler,
            on_event=self._on_event,
            policy=scenario.policy,
            offer_timeout=scenario.offer_timeout,
        )
        self._calls: dict[str, tuple[Call, int]] = {}
        self._events = 0

    def run(self, progress: Progress | None = None) -> Result:
        s = self.scenario
        plan = _CallPlan(s, self._rng)
        self._plan = plan
        sched = self._scheduler
        horizon = s.hours * HOUR
        self._schedule_shifts(horizon)
        self._queue_names = [
            [c.queue_for(lang.tag) for lang in s.languages] for c in s.caller_types
        ]
        if len(plan.times):
            sched.at(float(plan.times[0]), self._arrive, 0)
        if progress is not None:
            for k in range(1, 101):
                sched.at(horizon * k / 100, progress, k / 100)
        sched.at(horizon, self._close_books)
        sched.run()
        unfinished = len(self._router.waiting())
        report = self._kpi.report(self._state_seconds)
        report["unfinished"] = unfinished
        return Result(len(plan.times), self._events, unfinished, report)

    def _close_books(self) -> None:
        """Occupancy covers the horizon only, not the time spent draining the last calls."""
        self._state_seconds = self._router.state_seconds()

    # -- callers

    def _arrive(self, i: int) -> None:
        plan = self._plan
        now = self._scheduler.now
        s = self.scenario
        ctype = s.caller_types[plan.caller[i]]
        lang = s.languages[plan.language[i]].tag
        call = Call(f"C{i}", lang, ctype.name, now, ctype.priority)
        self._calls[call.id] = (call, i)
        self._on_event(CallArrived(now, call.id, lang, ctype.name))
        call.enter_ivr(now)
        self._on_event(CallEnteredIvr(now, call.id))
        self._scheduler.at(now + float(plan.ivr[i]), self._enqueue, call, i)
        if i + 1 < len(plan.times):
            self._scheduler.at(float(plan.times[i + 1]), self._arrive, i + 1)

    def _enqueue(self, call: Call, i: int) -> None:
        queue = self._queue_names[self._plan.caller[i]][self._plan.language[i]]
        self._router.enqueue(call, queue)
        patience = float(self._plan.patience[i])
        if patience != math.inf and call.state in (CallState.QUEUED, CallState.OFFERED):
            self._scheduler.at(self._scheduler.now + patience, self._give_up, call)

    def _give_up(self, call: Call) -> None:
        if call.state in (CallState.QUEUED, CallState.OFFERED):
            self._router.abandon(call.id)
            del self._calls[call.id]

    # -- agents

    def _answer(self, call: Call, agent_id: str) -> None:
        if call.state is CallState.OFFERED and call.agent_id == agent_id:
            self._router.answer(call.id, agent_id)

    def _hang_up(self, call_id: str) -> None:
        self._router.complete(call_id)
        del self._calls[call_id]

    def _schedule_shifts(self, horizon: float) -> None:
        """Log agents in and out by their shifts; back-to-back shifts make one session."""
        for group in self.scenario.agent_groups:
            sessions = _sessions(group.shifts, horizon, self.scenario.start_weekday)
            for k in range(group.count):
                agent = Agent(
                    f"{group.name}-{k + 1}", f"{group.name} {k + 1}", group.skills, group.queues
                )
                for begin, end in sessions:
                    self._scheduler.at(begin, self._router.login, agent)
                    if end != math.inf:
                        self._scheduler.at(end, self._router.logout, agent.id)

    # -- events

    def _on_event(self, ev: Event) -> None:
        self._events += 1
        self._kpi(ev)
        if self._trace is not None:
            self._trace(ev)
        kind = type(ev)
        if kind is CallOffered:
            assert isinstance(ev, CallOffered)
            call = self._calls[ev.call_id][0]
            self._scheduler.at(
                self._scheduler.now + self.scenario.answer_delay, self._answer, call, ev.agent_id
            )
        elif kind is CallAnswered:
            assert isinstance(ev, CallAnswered)
            i = self._calls[ev.call_id][1]
            self._scheduler.at(
                self._scheduler.now + float(self._plan.handle[i]), self._hang_up, ev.call_id
            )
        elif kind is CallOverflowed:
            assert isinstance(ev, CallOverflowed)
            if ev.fallback is not None:
                del self._calls[ev.call_id]


def simulate(scenario: Scenario, *, progress: Progress | None = None) -> Result:
    return Simulation(scenario=scenario).run(progress)


def _sessions(shifts: tuple[Shift, ...], horizon: float, start_weekday: int) -> list[tuple[float, float]]:
    """Working intervals that begin before the horizon, overlapping ones merged."""
    if any(shift is ALWAYS for shift in shifts):
        return [(0.0, math.inf)]
    spans: list[tuple[float, float]] = []
    for shift in shifts:
        # a shift of the day before the run may still be going at its start
        for day in range(-1, math.ceil(horizon / DAY)):
            if (start_weekday + day) % 7 not in shift.days:
                continue
            begin = day * DAY + shift.start * HOUR
            end = begin + shift.hours * HOUR
            if end > 0 and begin < horizon:
                spans.append((max(begin, 0.0), end))
    spans.sort()
    merged: list[tuple[float, float]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged
