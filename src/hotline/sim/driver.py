"""The simulator: a scenario's callers and agents driving the live line's switchboard on a
virtual clock (the simulator keeps the clock, the arrival streams and the callers' and
agents' behaviour; the routing, the hold loop's callback rule and the call records are
the switchboard's).

Everything random is drawn up front from one seeded generator (arrivals, languages,
caller types, IVR, patience and handle times), so a seed fixes the whole run. Calls that
are still in the system when arrivals stop are played out to the end.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hotline.domain.agent import AgentState
from hotline.domain.clock import Scheduler, Timer
from hotline.domain.events import CallOverflowed
from hotline.ivr.interpreter import Enqueue
from hotline.routing.engine import Router
from hotline.sim.arrivals import HOUR, arrival_times, hourly_rates
from hotline.sim.distributions import Samples
from hotline.sim.kpi import KpiCollector
from hotline.sim.scenario import ALWAYS, Scenario, Shift
from hotline.switchboard.board import Outcome, Switchboard
from hotline.switchboard.commands import (
    Accept,
    Arrive,
    CarrierStatus,
    Command,
    HoldPoll,
    LegAnswered,
    Login,
    Logout,
    Route,
    TakeCallback,
    Tick,
)
from hotline.switchboard.effects import Connect, DialBack, Effect, Leg, Offer
from hotline.switchboard.events import AnyEvent
from hotline.switchboard.line import line_of

DAY = 24 * HOUR
Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Result:
    calls: int
    events: int
    unfinished: int  # calls still waiting when no agent would ever come again
    report: dict[str, Any]


@dataclass(frozen=True)
class CallPlan:
    """The calls of a run and everything random about them, as arrays indexed by call
    number: arrival time (seconds from the start), caller type and language (indexes into
    the scenario's `caller_types` and `languages`), IVR time, patience (infinity: never
    hangs up), handle time, and whether the caller takes a callback offered. A run draws
    its own (`drawn`); one given to `Simulation` plays known callers instead (a live run's
    own, so that the two can be compared call by call rather than over other draws)."""

    times: Samples
    caller: npt.NDArray[np.int64]
    language: npt.NDArray[np.int64]
    ivr: Samples
    patience: Samples
    handle: Samples
    callback: npt.NDArray[np.bool_]

    @classmethod
    def drawn(cls, scenario: Scenario, rng: np.random.Generator) -> CallPlan:
        """Every call of the scenario's horizon, drawn from `rng` as a run draws them."""
        s = scenario
        rates = hourly_rates(
            calls_per_day=s.calls_per_day,
            hourly_profile=s.hourly_profile,
            weekly_profile=s.weekly_profile,
            hours=s.hours,
            start_weekday=s.start_weekday,
        )
        times = arrival_times(rng, rates)
        n = len(times)
        shares = np.array([c.share for c in s.caller_types], dtype=np.float64)
        caller = rng.choice(len(s.caller_types), n, p=shares / shares.sum())
        tags = [lang.tag for lang in s.languages]
        language = np.zeros(n, dtype=np.int64)
        for k, ctype in enumerate(s.caller_types):
            mix = ctype.languages or {lang.tag: lang.share for lang in s.languages}
            weights = np.array([mix.get(tag, 0.0) for tag in tags], dtype=np.float64)
            members = np.flatnonzero(caller == k)
            language[members] = rng.choice(len(tags), len(members), p=weights / weights.sum())
        ivr = s.ivr.sample(rng, n)
        patience = s.patience.sample(rng, n) if s.patience is not None else np.full(n, math.inf)
        handle = s.handle.sample(rng, n)
        for k, lang in enumerate(s.languages):
            if lang.handle is not None:
                members = np.flatnonzero(language == k)
                handle[members] = lang.handle.sample(rng, len(members))
        # drawn last, so that a scenario without callbacks draws exactly as before
        accept = s.callbacks.accept if s.callbacks else 0.0
        callback = rng.random(n) < accept if accept else np.zeros(n, dtype=bool)
        # patience of a caller type or a queue of its own, after every other draw (so a
        # scenario without them draws as before)
        for k, ctype in enumerate(s.caller_types):
            for x, tag in enumerate(tags):
                own = s.patience_of(ctype, ctype.queue_for(tag))
                if own is not None:
                    members = np.flatnonzero((caller == k) & (language == x))
                    if len(members):
                        patience[members] = own.sample(rng, len(members))
        return cls(times, caller, language, ivr, patience, handle, callback)

    def refuse_mismatch(self, scenario: Scenario) -> None:
        """ValueError unless every array has one value per call and the caller types and
        languages are the scenario's."""
        n = len(self.times)
        arrays = (self.caller, self.language, self.ivr, self.patience, self.handle, self.callback)
        if any(len(a) != n for a in arrays):
            raise ValueError(f"a call plan needs one value per call in every array ({n} calls)")
        kinds = (
            ("caller type", "caller", self.caller, len(scenario.caller_types)),
            ("language", "language", self.language, len(scenario.languages)),
        )
        for name, field_name, values, count in kinds:
            # (a float index passes the range check, then fails the run as a list index)
            if (wrong := _not_indexes(values)) is not None:
                raise ValueError(f"a call plan's {name} indexes (`{field_name}`) must be "
                                 f"{wrong}")  # fmt: skip
            if n and (int(values.min()) < 0 or int(values.max()) >= count):
                raise ValueError(f"a call plan's {name} is not one of the scenario's {count}")
        # (a negative or NaN time would fail deep inside the run, or replay something else)
        times = (("arrival", self.times, False), ("IVR", self.ivr, False),
                 ("handle", self.handle, False), ("patience", self.patience, True))  # fmt: skip
        for name, seconds, endless in times:
            ok = (seconds >= 0) & (np.isfinite(seconds) | (endless & np.isposinf(seconds)))
            if not bool(np.all(ok)):
                raise ValueError(f"a call plan's {name} times must be finite and not negative")


def _not_indexes(values: object) -> str | None:
    """None if `values` is an integer array; else why not, naming a value it holds (the
    first that is not a whole number, else the first)."""
    if not isinstance(values, np.ndarray):
        return f"an integer array, not a {type(values).__name__}"
    if values.dtype.kind in "iu":
        return None
    listed = values.ravel().tolist()
    if not listed:
        return f"an integer array, not {values.dtype}"
    i = next((k for k, v in enumerate(listed)
              if not (isinstance(v, float) and v.is_integer())), 0)  # fmt: skip
    return f"an integer array, not {values.dtype}: call {i} has {listed[i]!r}"


SIM_NUMBER: Final = "+12025550100"  # the simulated line's number (a fictional 555-01xx one)
SIM_CALLER: Final = "+12025550143"  # every simulated caller's (valid, so callbacks may be offered)
TICK: Final = Tick()
HOLD_POLL: Final = 15.0  # seconds between a waiting caller's turns (the live hold loop's)
RESERVED: Final = AgentState.RESERVED.value
NEVER: Final = math.inf
YOUNG_GC_THRESHOLD: Final = 14_000  # allocations between young collections during a run


class Simulation:
    """One run of a scenario: the scenario's callers and agents drive one `Switchboard`
    (the live server's core) on a virtual clock. `run()` returns the KPIs; `trace`, if
    given, sees every event the switchboard emits."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        seed: int | None = None,
        router_class: type[Router] = Router,
        trace: Callable[[AnyEvent], None] | None = None,
        interval_minutes: int | None = None,
        store_rows: bool = False,
        plan: CallPlan | None = None,
    ) -> None:
        """`interval_minutes`: also report the KPIs per interval (by when calls queued);
        `store_rows`: have the switchboard emit the store's row effects, which the
        simulator does not use (the run is the same either way); `plan`: the calls to
        play instead of drawing them from the seed (the scenario's arrival rates, caller
        and language mixes and durations are then not used)."""
        if plan is not None:
            plan.refuse_mismatch(scenario)
        self._plan = plan
        self.scenario = scenario
        self._answer_delay = scenario.answer_delay  # (read per offer; the scenario is not compiled)
        self._rng = np.random.default_rng(scenario.seed if seed is None else seed)
        # the simulated agents give no disposition codes: their wrap-ups end by time, which
        # the KPIs count already (a line without codes emits no wrap-up events)
        line = line_of(scenario, flow=None, number=SIM_NUMBER, timezone="UTC",
                       auto_answer=scenario.answer_delay == 0)  # fmt: skip
        line = replace(line, dispositions=())
        self.board = Switchboard(line=line, router_class=router_class, store_rows=store_rows)
        self._scheduler = Scheduler()  # the callers' and agents' own acts
        self._trace = trace
        self._kpi = KpiCollector(
            answer_within=scenario.answer_within,
            wrap_up={q.name: q.wrap_up_seconds for q in scenario.queues},
            interval_seconds=None if interval_minutes is None else interval_minutes * 60.0,
        )
        self._events = 0
        self._sids: list[str] = []
        self._talking: set[str] = set()  # calls an agent is talking to (patience is over)
        self._state_seconds: dict[AgentState, float] = {}

    def run(self, progress: Progress | None = None) -> Result:
        s = self.scenario
        plan = self._plan if self._plan is not None else CallPlan.drawn(s, self._rng)
        sched = self._scheduler
        horizon = s.hours * HOUR
        self._schedule_shifts(horizon)
        # per-call values as Python lists: indexing numpy scalars is slow; one `Enqueue`
        # per caller type and language, shared by their calls
        routes = [[Enqueue(c.queue_for(lang.tag), c.priority, lang.tag,
                           {"caller_type": c.name}) for lang in s.languages]
                  for c in s.caller_types]  # fmt: skip
        caller, language = plan.caller.tolist(), plan.language.tolist()
        self._route = [routes[c][x] for c, x in zip(caller, language, strict=True)]
        self._patience = plan.patience.tolist()
        self._handle = plan.handle.tolist()
        self._takes_callback = plan.callback.tolist() if s.callbacks is not None else []
        if progress is not None:
            for k in range(1, 101):
                sched.at(horizon * k / 100, progress, k / 100)
        sched.at(horizon, self._close_books)
        # Callers act at known times (arrival, end of IVR): two pre-sorted streams merged
        # with the timers, instead of a heap entry each.
        n = len(plan.times)
        times = np.concatenate((plan.times, plan.times + plan.ivr))
        kinds = np.repeat(np.array([0, 1], dtype=np.int8), n)
        order = np.lexsort((kinds, times))
        calls = np.concatenate((np.arange(n), np.arange(n)))[order]
        # (three lists read by index: compiled, no tuple is built per act)
        at: list[float] = times[order].tolist()
        ends_ivr: list[int] = kinds[order].tolist()
        who: list[int] = calls.tolist()
        self._sids = [""] * n  # callers' call ids from arrival to the end of their IVR
        # The run makes several short-lived objects per call (commands, events, outcomes)
        # and next to no reference cycles, over a heap that setup has filled (the plan's
        # lists, the line, the shifts' timers). CPython's cyclic GC would trace the young
        # objects every 700 allocations and, now and then, that whole heap. So setup's
        # objects are frozen (never traced again) unless a caller froze its own (whose
        # unfreeze would undo theirs), and the young generation is collected 20 times less
        # often; both are restored however the run ends. Cycles are still collected.
        freeze = gc.get_freeze_count() == 0
        threshold = gc.get_threshold()
        if freeze:
            gc.freeze()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *threshold[1:])
        try:  # (methods called on self, not through local names: compiled, a direct call)
            for j in range(len(at)):
                t, i = at[j], who[j]
                self._until(t)
                if ends_ivr[j]:
                    self._enqueue(i, t)
                else:
                    sid = self._sids[i] = f"C{i}"
                    self._do(Arrive(sid, SIM_CALLER, SIM_NUMBER), t)
            self._until(math.inf)
        finally:
            gc.set_threshold(*threshold)
            if freeze:
                gc.unfreeze()
        unfinished = len(self.board.waiting())
        report = self._kpi.report(self._state_seconds)
        report["unfinished"] = unfinished
        return Result(n, self._events, unfinished, report)

    # -- time: the switchboard's timers and the callers' and agents' acts, in time order

    def _until(self, t: float) -> None:
        """Everything due up to `t`; at a tie the switchboard's timers first (as `handle`
        fires them before a command), each answered before the next act. (Times as plain
        floats, infinity for none, rather than boxed `float | None`; a timer due at
        infinity still counts as one.)"""
        sched, its_sched = self._scheduler, self.board.scheduler
        while True:
            mine, its = sched.next_due(), its_sched.next_due()
            if its <= t and its <= mine and (its < NEVER or len(its_sched) > 0):
                self._react(self.board.handle(TICK, its), its)
            elif mine <= t and (mine < NEVER or len(sched) > 0):
                sched.run_to(mine)
            else:
                return

    def _do(self, command: Command[Any], t: float) -> Any:
        outcome = self.board.handle(command, t)
        self._react(outcome, t)
        return outcome.result

    def _react(self, outcome: Outcome[Any], t: float) -> None:
        """Count the events; the agents and callers answer the effects. (A list, which a
        command that emitted anything hands out, is looped over by index when compiled;
        any other sequence through an iterator.)"""
        events, effects = outcome.events, outcome.effects
        if isinstance(events, list):
            self._see_all(events, t)
        elif events:
            self._see_all(list(events), t)
        if isinstance(effects, list):
            self._answer_all(effects, t)
        elif effects:
            self._answer_all(list(effects), t)

    def _see_all(self, events: list[AnyEvent], t: float) -> None:
        self._events += len(events)
        for ev in events:
            self._see(ev, t)

    def _answer_all(self, effects: list[Effect], t: float) -> None:
        for eff in effects:
            self._answer_effect(eff, t)

    def _see(self, ev: AnyEvent, t: float) -> None:
        if self._trace is not None:
            self._trace(ev)
        self._kpi.see(ev)
        if type(ev) is CallOverflowed and ev.fallback is not None:
            # sent out of the ACD (to voicemail): the hold loop's next turn says so
            self._scheduler.at(t, self._do, HoldPoll(ev.call_id), t)

    def _answer_effect(self, eff: Effect, t: float) -> None:
        if isinstance(eff, Connect):
            self._connected(eff, t)
        elif isinstance(eff, Leg) and eff.action == "join" and eff.attempt:
            # a callback's agent is dialled first; their leg answers at once
            self._do(LegAnswered(eff.call_sid, eff.attempt), t)
        elif isinstance(eff, DialBack):  # the caller picks up, and hangs up when done
            self._do(CarrierStatus(eff.call_sid, "in-progress", True, dial=eff.dial), t)
            end = t + self._handle[int(eff.call_sid[1:])]
            done = CarrierStatus(eff.call_sid, "completed", True, dial=eff.dial)
            self._scheduler.at(end, self._do, done, end)
        elif isinstance(eff, Offer) and self._answer_delay > 0:
            when = t + self._answer_delay
            self._scheduler.at(when, self._answer, eff, when)

    def _close_books(self) -> None:
        """Occupancy covers the horizon only, not the time spent draining the last calls."""
        self._react(self.board.handle(TICK, self._scheduler.now), self._scheduler.now)
        self._state_seconds = self.board.state_seconds()

    # -- callers

    def _enqueue(self, i: int, t: float) -> None:
        """The caller's way through the IVR ends in the queue; they wait as long as their
        patience lasts, and take a callback if they would and one is offered."""
        sid = self._sids[i] or f"C{i}"  # (made once, on arrival)
        self._sids[i] = ""
        self._do(Route(sid, self._route[i]), t)
        if not self.board.in_acd(sid):
            return  # overflowed at once (or answered and done already)
        patience = self._patience[i]
        if patience != NEVER:
            self._scheduler.put(t + patience, _GiveUp(self, sid))
        if self._takes_callback and self._takes_callback[i]:
            assert self.scenario.callbacks is not None
            when = t + self.scenario.callbacks.offer_after
            self._scheduler.at(when, self._listen, sid, when)

    def _listen(self, sid: str, t: float) -> None:
        """The caller's turn in the hold loop: they take the callback offered; while their
        call rings at an agent, they hear the loop again a pause later."""
        state, _ = self._do(HoldPoll(sid), t)
        if state == "offer-callback":
            self._do(TakeCallback(sid), t)
        elif state == "connecting":
            self._scheduler.at(t + HOLD_POLL, self._listen, sid, t + HOLD_POLL)

    def _give_up(self, sid: str, t: float) -> None:
        if sid in self._talking:  # (a caller waiting for a callback keeps their place)
            return
        # Their patience outlasted their call (about 4 calls in 10): for a call the line
        # does not know, the status would only fire the timers due (none) and emit nothing.
        board = self.board
        if not board.knows(sid) and not board.due(t):
            return
        self._do(CarrierStatus(sid, "completed"), t)

    def _connected(self, eff: Connect, t: float) -> None:
        """The agent's leg answers at once; the caller hangs up after their handle time."""
        self._talking.add(eff.call_sid)
        self._do(LegAnswered(eff.call_sid, eff.attempt), t)
        end = t + self._handle[int(eff.call_sid[1:])]
        self._scheduler.put(end, _HangUp(self, eff.call_sid))

    def _hang_up(self, sid: str, t: float) -> None:
        self._talking.discard(sid)
        self._do(CarrierStatus(sid, "completed"), t)

    # -- agents

    def _answer(self, offer: Offer, t: float) -> None:
        """The agent accepts the offer, if it still stands."""
        state = self.board.agent_state(offer.agent_id)
        if state["call_sid"] == offer.call_sid and state["state"] == RESERVED:
            self._do(Accept(offer.agent_id, offer.call_sid), t)

    def _schedule_shifts(self, horizon: float) -> None:
        """Log agents in and out by their shifts; back-to-back shifts make one session."""
        agents = self.board.line.agents
        for group in self.scenario.agent_groups:
            sessions = _sessions(group.shifts, horizon, self.scenario.start_weekday)
            for agent_id in group.ids():
                assert agent_id in agents
                for begin, end in sessions:
                    self._scheduler.at(begin, self._do, Login(agent_id, ready=True), begin)
                    if end != math.inf:
                        self._scheduler.at(end, self._do, Logout(agent_id), end)


class _GiveUp(Timer):
    """A waiting caller's patience runs out (a timer of its own kind: compiled, it is
    fired by a direct call, with no bound method and argument tuple built per call)."""

    def __init__(self, sim: Simulation, sid: str) -> None:
        super().__init__()
        self.sim = sim
        self.sid = sid

    def fire(self) -> None:
        self.sim._give_up(self.sid, self.when)


class _HangUp(Timer):
    """The caller hangs up at the end of their call."""

    def __init__(self, sim: Simulation, sid: str) -> None:
        super().__init__()
        self.sim = sim
        self.sid = sid

    def fire(self) -> None:
        self.sim._hang_up(self.sid, self.when)


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
