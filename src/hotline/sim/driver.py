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
        # drawn last, so that a scenario without callbacks draws exactly as before
        accept = s.callbacks.accept if s.callbacks else 0.0
        self.callback = rng.random(n) < accept if accept else np.zeros(n, dtype=bool)
        # patience of a caller type or a queue of its own, after every other draw (so a
        # scenario without them draws as before)
        for k, ctype in enumerate(s.caller_types):
            for x, tag in enumerate(tags):
                own = s.patience_of(ctype, ctype.queue_for(tag))
                if own is not None:
                    members = np.flatnonzero((self.caller == k) & (self.language == x))
                    if len(members):
                        self.patience[members] = own.sample(rng, len(members))


class Simulation:
    """One run of a scenario. `run()` returns the KPIs; `events` optionally records a trace."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        seed: int | None = None,
        router_class: type[Router] = Router,
        trace: Callable[[Event], None] | None = None,
        interval_minutes: int | None = None,
    ) -> None:
        """`interval_minutes`: also report the KPIs per interval (by when calls queued)."""
        self.scenario = scenario
        self._rng = np.random.default_rng(scenario.seed if seed is None else seed)
        self._scheduler = Scheduler()
        self._trace = trace
        self._kpi = KpiCollector(
            answer_within=scenario.answer_within,
            wrap_up={q.name: q.wrap_up_seconds for q in scenario.queues},
            interval_seconds=None if interval_minutes is None else interval_minutes * 60.0,
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
        # one dispatch per event: the KPIs' handlers, with the simulator's own reactions
        self._handlers: dict[type, Callable[[Any], None]] = dict(self._kpi.handlers)
        self._kpi_answered = self._handlers[CallAnswered]
        self._kpi_overflowed = self._handlers[CallOverflowed]
        self._handlers[CallOffered] = self._offered
        self._handlers[CallAnswered] = self._answered
        self._handlers[CallOverflowed] = self._overflowed

    def run(self, progress: Progress | None = None) -> Result:
        s = self.scenario
        plan = _CallPlan(s, self._rng)
        sched = self._scheduler
        horizon = s.hours * HOUR
        self._schedule_shifts(horizon)
        # per-call values as Python lists: indexing numpy scalars is slow
        names = [[c.queue_for(lang.tag) for lang in s.languages] for c in s.caller_types]
        caller, language = plan.caller.tolist(), plan.language.tolist()
        self._caller_type = [s.caller_types[c] for c in caller]
        self._language = [s.languages[x].tag for x in language]
        self._queue_of = [names[c][x] for c, x in zip(caller, language, strict=True)]
        self._patience = plan.patience.tolist()
        self._handle = plan.handle.tolist()
        self._takes_callback = plan.callback.tolist()
        self._waiting_ivr: dict[int, Call] = {}
        if progress is not None:
            for k in range(1, 101):
                sched.at(horizon * k / 100, progress, k / 100)
        sched.at(horizon, self._close_books)
        # Callers act at known times (arrival, end of IVR): two pre-sorted streams merged
        # with the scheduler's own timers, instead of a heap entry each.
        n = len(plan.times)
        times = np.concatenate((plan.times, plan.times + plan.ivr))
        kinds = np.repeat(np.array([0, 1], dtype=np.int8), n)
        order = np.lexsort((kinds, times))
        calls = np.concatenate((np.arange(n), np.arange(n)))[order]
        run_until, arrive, enqueue = sched.run, self._arrive, self._enqueue
        for t, kind, i in zip(
            times[order].tolist(), kinds[order].tolist(), calls.tolist(), strict=True
        ):
            run_until(t)
            if kind:
                enqueue(self._waiting_ivr.pop(i), i)
            else:
                arrive(i)
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
        now = self._scheduler.now
        ctype, lang = self._caller_type[i], self._language[i]
        call = Call(f"C{i}", lang, ctype.name, now, ctype.priority)
        self._calls[call.id] = (call, i)
        self._on_event(CallArrived(now, call.id, lang, ctype.name))
        call.enter_ivr(now)
        self._waiting_ivr[i] = call

    def _enqueue(self, call: Call, i: int) -> None:
        self._router.enqueue(call, self._queue_of[i])
        if call.state is CallState.QUEUED or call.state is CallState.OFFERED:
            patience = self._patience[i]
            if patience != math.inf:
                self._scheduler.at(self._scheduler.now + patience, self._give_up, call)
            if self._takes_callback[i] and self.scenario.callbacks is not None:
                after = self.scenario.callbacks.offer_after
                self._scheduler.at(self._scheduler.now + after, self._offer_callback, call)

    def _offer_callback(self, call: Call) -> None:
        if call.state is CallState.QUEUED and not call.callback:
            self._router.accept_callback(call.id)

    def _give_up(self, call: Call) -> None:
        if call.callback:
            return  # waiting for a callback, not on the line
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
                    f"{group.name}-{k + 1}",
                    f"{group.name} {k + 1}",
                    group.skills,
                    group.queues,
                    auto_answer=self.scenario.answer_delay == 0,
                )
                for begin, end in sessions:
                    self._scheduler.at(begin, self._router.login, agent)
                    if end != math.inf:
                        self._scheduler.at(end, self._router.logout, agent.id)

    # -- events

    def _on_event(self, ev: Event) -> None:
        self._events += 1
        if self._trace is not None:
            self._trace(ev)
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def _offered(self, ev: CallOffered) -> None:
        if self.scenario.answer_delay > 0:
            call = self._calls[ev.call_id][0]
            self._scheduler.at(
                self._scheduler.now + self.scenario.answer_delay, self._answer, call, ev.agent_id
            )

    def _answered(self, ev: CallAnswered) -> None:
        self._kpi_answered(ev)
        i = self._calls[ev.call_id][1]
        self._scheduler.at(self._scheduler.now + self._handle[i], self._hang_up, ev.call_id)

    def _overflowed(self, ev: CallOverflowed) -> None:
        self._kpi_overflowed(ev)
        if ev.fallback is not None:
            del self._calls[ev.call_id]


def simulate(scenario: Scenario, *, progress: Progress | None = None) -> Result:
    return Simulation(scenario=scenario).run(progress)


def _sessions(
    shifts: tuple[Shift, ...], horizon: float, start_weekday: int
) -> list[tuple[float, float]]:
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
