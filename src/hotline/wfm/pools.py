"""Pools chosen by the planner: which queues share multilingual agents, which interpreted
languages go to the interpreter line, and how many agents each pool needs, so that every
language meets the target with the fewest paid hours; every choice checked in the
simulator through the real routing engine.

1. **Skill mix.** The kinds of agent (profiles: skills and levels) the plan may schedule,
   in any number: the scenario's agent groups', plus by default a dedicated speaker for
   each queue (what a plan of dedicated pools assumes), or a planner's own list.
2. **Candidate pools.** A pool is a set of queues answered by agents of one profile: for
   each queue the profile meets its first step's requirement (its own speakers), or, for a
   queue whose callers all speak an interpreted language, the requirement of its
   interpreter step (the first that names no language): the interpreter line, which then
   takes the queue's calls from the start. Every set of queues one profile can answer is a
   candidate. A queue no profile answers is an error that says what it would take.
3. **Cost.** Each candidate's pooled demand (calls added, handle times and abandonment
   rates weighted by calls) is staffed in every interval by the plan's model to the
   service target, then agents are added where they save the most abandoned calls until
   Erlang A's abandonment over the week is within the cap, less the callers who hang up
   while an agent's phone rings (`answer_delay`, which no staff avoids). A candidate costs
   the agents to schedule, summed: the lower bound of its paid hours.
4. **Partition.** The queues are split into candidates at the least cost: an exact set
   partitioning by HiGHS (`scipy.optimize.milp`); the next best partitions are found by
   excluding each one found.
5. **Check.** The best partitions, in order, are scheduled (`schedule_shifts`) and replayed
   in the simulator with a fixed seed: each pool's agents serve its queues first and, at
   tier 2, other queues' calls that reach a step they meet (the interpreter line backs up
   the queues with an interpreter step). A language meets the target when its simulated
   service level less `z` standard errors, and its abandonment plus `z`, do (standard
   errors by batch means over the simulated days). The pools serving a language short of
   that are staffed to weekly targets tighter by the shortfall, in proportion to what
   staff can change, and the check runs again. The cheapest plan found sufficient wins;
   the pools learned on one partition start the next partition's check.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.stats import poisson

from hotline.domain.agent import QueueMembership
from hotline.domain.events import (
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallOffered,
    CallOverflowed,
    OfferWithdrawn,
)
from hotline.domain.queue import EscalationStep, Queue
from hotline.domain.skills import Requirement
from hotline.sim.driver import Simulation
from hotline.sim.scenario import Scenario
from hotline.wfm.demand import Demand, weekly_demand
from hotline.wfm.erlang import MAX_AGENTS, erlang_a, erlang_a_many
from hotline.wfm.plan import MODELS, Plan, scenario_for, staff_pools
from hotline.wfm.staffing import Target, Unreachable, erlang_a_table, erlang_c_table

DAY = 24 * 3600.0
WEEK_HOURS = 7 * 24
MAX_CANDIDATES = 20_000  # candidate pools costed at once (336 intervals each)


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of agent the plan may schedule: `source` says where it comes from (the
    scenario's agent group, a dedicated speaker of a queue, or a skill-mix file)."""

    name: str
    skills: tuple[tuple[str, int], ...]
    source: str

    @classmethod
    def of(cls, name: str, skills: Mapping[str, int], source: str) -> Profile:
        return cls(name, tuple(sorted(skills.items())), source)

    @property
    def levels(self) -> dict[str, int]:
        return dict(self.skills)

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(f'{k} {v}' for k, v in self.skills) or 'no skills'})"


@dataclass(frozen=True, slots=True)
class SkillMix:
    profiles: tuple[Profile, ...]
    description: str


def scenario_mix(s: Scenario, *, groups: bool = True, dedicated: bool = True) -> SkillMix:
    """With `groups`, the profiles of the scenario's agent groups (one per distinct set of
    skills, named after its first group); with `dedicated`, a speaker for each queue who
    meets its first step and nothing more (what a plan of dedicated pools assumes can be
    hired)."""
    profiles: dict[tuple[tuple[str, int], ...], Profile] = {}
    for g in s.agent_groups if groups else ():
        p = Profile.of(g.name, g.skills, "scenario")
        profiles.setdefault(p.skills, p)
    for q in s.queues if dedicated else ():
        p = Profile.of(f"{q.name}-dedicated", dict(q.steps[0].requirement.levels), "dedicated")
        profiles.setdefault(p.skills, p)
    what = " and ".join(
        w
        for w, on in (
            ("the scenario's agent groups", groups),
            ("a dedicated speaker for each queue", dedicated),
        )
        if on
    )
    return SkillMix(tuple(profiles.values()), what or "no profiles")


@dataclass(frozen=True, slots=True)
class Pool:
    """Queues answered together by agents of one profile; `interpreted`: those of them
    the interpreter line answers (the queue's interpreter step from the start)."""

    queues: tuple[str, ...]
    interpreted: tuple[str, ...]
    profile: Profile

    @property
    def name(self) -> str:
        return "+".join(self.queues)


@dataclass(frozen=True, slots=True)
class Gap:
    """A language a queue receives that no profile of the mix can answer."""

    language: str
    queue: str
    needs: Requirement  # the queue's first step
    interpreter: Requirement | None  # its interpreter step, if it has one
    interpreted: bool  # the language may go to the interpreter line
    line: str | None  # a profile of the mix that meets the interpreter step

    def __str__(self) -> str:
        ways = [f"agents with {self.needs}"]
        if self.interpreter is not None:
            agents = f"agents with {self.interpreter}" if self.line is None else self.line
            if self.interpreted:
                ways.append(f"{agents} (the interpreter line)")
            else:
                ways.append(
                    f"marking {self.language} `interpreted: true` in the line's flow (or "
                    f"--interpreted) for the interpreter line ({agents}) to answer it"
                )
        return (
            f"{self.language} (queue {self.queue}): no profile of the skill mix meets "
            f"{self.needs}; it would take {', or '.join(ways)}"
        )


class Uncoverable(ValueError):
    """Languages the skill mix cannot answer; the message says which and what it would take."""

    def __init__(self, gaps: Sequence[Gap]) -> None:
        self.gaps = tuple(gaps)
        super().__init__(
            "the skill mix cannot answer "
            + ("this language: " if len(gaps) == 1 else f"{len(gaps)} languages: ")
            + "; ".join(str(g) for g in gaps)
        )


@dataclass(frozen=True, slots=True)
class Checking:
    """How candidates are checked in the simulator."""

    seed: int = 1
    weeks: int = 4  # simulated weeks per check (days are the batches of the error bars)
    z: float = 2.0  # standard errors of margin a language's figures must clear
    candidates: int = 3  # partitions checked, best first by the model
    rounds: int = 4  # re-staffing rounds per partition when a language falls short

    def check(self) -> None:
        if self.weeks < 1 or self.candidates < 1 or self.rounds < 0:
            raise ValueError("the check needs at least one week and one candidate")
        if not 0.0 <= self.z <= 5.0:
            raise ValueError("the margin is 0 to 5 standard errors")


@dataclass(frozen=True, slots=True)
class LanguageResult:
    """A language's simulated figures (all its queues), with standard errors."""

    language: str
    offered: int
    service_level: float
    service_level_se: float
    abandon_rate: float
    abandon_rate_se: float
    meets: bool
    ringing: float = 0.0  # share of its calls who hung up while an agent's phone rang
    # short only by the margin, which no staff could clear: the callers lost while the
    # phone rang are already too many for so few calls simulated
    too_few_calls: bool = False


@dataclass(frozen=True, slots=True)
class Tried:
    """A partition checked in the simulator: its pools, the model's bound, the paid hours
    of its last schedule, the re-staffing rounds, and the languages still short."""

    pools: tuple[str, ...]
    bound_hours: float
    paid_hours: float
    rounds: int
    sufficient: bool
    short: tuple[str, ...]
    too_few_calls: tuple[str, ...] = ()  # of `short`: no staff could clear the margin


@dataclass(frozen=True)
class Choice:
    """The chosen pools and their plan, with what the choice assumed and how it was
    checked (`languages` and `simulated` are None when it was not simulated)."""

    plan: Plan
    pools: tuple[Pool, ...]
    targets: tuple[PoolTarget, ...]  # what each pool was staffed to
    replay: Scenario  # the plan's agents and routing against the scenario's callers
    languages: tuple[LanguageResult, ...] | None
    simulated: dict[str, Any] | None
    sufficient: bool | None
    tried: tuple[Tried, ...]
    candidates: int
    assumptions: tuple[str, ...]
    unstaffed: tuple[str, ...] = ()  # queues without calls: no pool, no agents


# -- routes: which queues a profile answers, and how


@dataclass(frozen=True, slots=True)
class _Route:
    queue: str
    languages: tuple[str, ...]
    own: Requirement
    interpreter: int | None  # index of the interpreter step; None: none, or not allowed
    interpreter_need: Requirement | None


def _routes(s: Scenario, interpreted: frozenset[str]) -> dict[str, _Route]:
    tags = [lang.tag for lang in s.languages]
    speaks: dict[str, set[str]] = {q.name: set() for q in s.queues}
    for c in s.caller_types:
        mix = c.languages or {lang.tag: lang.share for lang in s.languages}
        for tag, share in mix.items():
            if share > 0:
                speaks[c.queue_for(tag)].add(tag)
    out = {}
    for q in s.queues:
        step = next(
            (
                i
                for i, st in enumerate(q.steps)
                if not set(st.requirement.skill_names()) & set(tags)
            ),
            None,
        )
        need = None if step is None else q.steps[step].requirement
        languages = tuple(t for t in tags if t in speaks[q.name])
        allowed = bool(languages) and set(languages) <= interpreted and step not in (None, 0)
        out[q.name] = _Route(
            q.name, languages, q.steps[0].requirement, step if allowed else None, need
        )
    return out


def _answers(route: _Route, skills: Mapping[str, int]) -> bool | None:
    """How a profile answers a queue: False by its own language, True through the
    interpreter line, None not at all."""
    if route.own.met_by(skills):
        return False
    if route.interpreter is not None and route.interpreter_need is not None:
        return True if route.interpreter_need.met_by(skills) else None
    return None


def interpreter_route(q: Queue, step: int) -> Queue:
    """The queue answered by its interpreter step from the start: the steps before it are
    dropped and their time added to its limit, so a caller waits as long before any
    overflow as before."""
    before = sum(st.seconds or 0.0 for st in q.steps[:step])
    first = q.steps[step]
    seconds = None if first.seconds is None else first.seconds + before
    return replace(q, steps=(EscalationStep(first.requirement, seconds), *q.steps[step + 1 :]))


# -- demand and requirement of candidate pools


def _pooled(
    d: Demand, members: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Calls per interval, handle time and patience of pools (`members[q, p]` = 1 if queue
    q is in pool p): calls added, handle times and abandonment rates weighted by calls."""
    calls = d.calls @ members
    weekly = d.calls.sum(axis=0)
    total = weekly @ members
    aht = (weekly * d.aht_seconds) @ members / total
    leaving = (weekly / d.patience) @ members / total
    with np.errstate(divide="ignore"):
        patience = np.where(leaving > 0, 1.0 / leaving, np.inf)
    return calls, aht, patience


def ring_loss(patience: npt.ArrayLike, answer_delay: float) -> npt.NDArray[np.float64]:
    """Share of answered callers who hang up while the agent's phone rings (exponential
    patience: memoryless, whatever they waited before)."""
    theta = np.asarray(patience, dtype=np.float64)
    loss: npt.NDArray[np.float64] = -np.expm1(-answer_delay / theta)
    return loss


def abandon_cap(max_abandon: float, loss: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The abandonment in the queue (Erlang A's) that leaves `max_abandon` in all once the
    ring's loss is added: a + (1 - a) r <= max."""
    r = np.asarray(loss, dtype=np.float64)
    cap: npt.NDArray[np.float64] = (max_abandon - r) / (1.0 - r)
    return cap


@dataclass(frozen=True, slots=True)
class PoolTarget:
    """What a pool is staffed to: `interval_sl` in every interval (by the plan's model),
    and over the week, call-weighted by Erlang A (Erlang C if callers never hang up), at
    least `weekly_sl` answered in time and at most `weekly_abandon` abandoning in queue."""

    interval_sl: float
    weekly_sl: float
    weekly_abandon: float


def requirement(
    calls_per_hour: npt.NDArray[np.float64],
    aht: npt.NDArray[np.float64],
    patience: npt.NDArray[np.float64],
    *,
    target: Target,
    to: Sequence[PoolTarget],
    model: str,
) -> npt.NDArray[np.int64]:
    """Agents on the phones per interval and pool (`calls_per_hour[t, p]`): the fewest
    meeting each pool's interval target by the model, then agents added, each where it
    helps most, until the pool's weekly figures meet its weekly targets."""
    n = np.zeros(calls_per_hour.shape, dtype=np.int64)
    floors = sorted({t.interval_sl for t in to})
    for sl in floors:
        cols = [j for j, t in enumerate(to) if t.interval_sl == sl]
        each = replace(target, service_level=sl)
        if model == "erlang-a":
            n[:, cols] = erlang_a_table(calls_per_hour=calls_per_hour[:, cols],
                                        aht_seconds=aht[cols], patience_seconds=patience[cols],
                                        target=each)  # fmt: skip
        else:
            n[:, cols] = erlang_c_table(calls_per_hour=calls_per_hour[:, cols],
                                        aht_seconds=aht[cols], target=each)  # fmt: skip
    for p, t in enumerate(to):
        n[:, p] = _to_weekly(n[:, p], calls_per_hour[:, p], float(aht[p]), float(patience[p]),
                             target.answer_within, t)  # fmt: skip
    return n


AHEAD = 4  # agents more per interval whose effects are weighed at once


def weekly_figures(
    n: npt.NDArray[np.int64],
    calls_per_hour: npt.NDArray[np.float64],
    aht: float,
    patience: float,
    within: float,
) -> tuple[float, float]:
    """The week's service level and abandonment in queue, call-weighted, with `n[t]`
    agents on the phones: Erlang A, or Erlang C if callers never hang up."""
    busy = calls_per_hour > 0
    if not busy.any():
        return 1.0, 0.0
    lam = calls_per_hour[busy]
    sl, ab = _levels(n[busy], lam, aht, patience, within)
    return float(lam @ sl / lam.sum()), float(lam @ ab / lam.sum())


def _to_weekly(
    n: npt.NDArray[np.int64],
    calls_per_hour: npt.NDArray[np.float64],
    aht: float,
    patience: float,
    within: float,
    to: PoolTarget,
) -> npt.NDArray[np.int64]:
    """`n` with agents added until the week's figures meet `to`'s weekly targets, each
    where it saves the most calls (abandoned, or answered late). Both fall ever less with
    each agent added to an interval (past the interval target), so taking the largest
    savings first is the greedy optimum."""
    busy = np.flatnonzero(calls_per_hour > 0)
    if busy.size == 0:
        return n
    n = n.copy()
    lam = calls_per_hour[busy]
    while True:
        steps = n[busy][:, None] + np.arange(AHEAD + 1)  # (intervals, AHEAD + 1)
        sl, ab = (
            x.reshape(steps.shape)
            for x in _levels(steps.ravel(), np.repeat(lam, AHEAD + 1), aht, patience, within)
        )
        late = lam[:, None] * (1.0 - sl)  # calls per hour not answered in time
        lost = lam[:, None] * ab  # calls per hour abandoned
        excess_ab = float(lost[:, 0].sum()) - to.weekly_abandon * float(lam.sum())
        excess_sl = float(late[:, 0].sum()) - (1.0 - to.weekly_sl) * float(lam.sum())
        if excess_ab <= 1e-12 and excess_sl <= 1e-12:
            return n
        bad, excess = (lost, excess_ab) if excess_ab > 1e-12 else (late, excess_sl)
        saved = (bad[:, :-1] - bad[:, 1:]).ravel()  # of the j-th agent more, per interval
        order = np.argsort(-saved, kind="stable")
        taken = int(np.searchsorted(np.cumsum(saved[order]), excess)) + 1
        take = order[: min(taken, order.size)]
        np.add.at(n, busy[take // AHEAD], 1)
        if n.max() > MAX_AGENTS:
            raise Unreachable(f"more than {MAX_AGENTS:,} agents would be needed")


def _levels(
    agents: npt.NDArray[np.int64],
    calls_per_hour: npt.NDArray[np.float64],
    aht: float,
    patience: float,
    within: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Service level and abandonment per cell: Erlang A, or Erlang C for callers who never
    hang up (an unstable queue answers nobody in time); no agents: nobody answered."""
    sl = np.zeros(agents.size)
    ab = np.ones(agents.size) if np.isfinite(patience) else np.zeros(agents.size)
    some = np.flatnonzero(agents > 0)
    n, lam = agents[some], calls_per_hour[some]
    if np.isinf(patience):
        load = lam * aht / 3600.0
        stable = n > load
        b = np.where(stable, poisson.pmf(n, load) / poisson.cdf(n, load), 1.0)
        c = np.where(stable, n * b / np.maximum(n - load * (1.0 - b), 1e-300), 1.0)
        drain = np.maximum(n - load, 0.0) / aht
        sl[some] = np.where(stable, 1.0 - c * np.exp(-drain * within), 0.0)
        return sl, ab
    many = erlang_a_many(agents=n, calls_per_hour=lam, aht_seconds=aht,
                         patience_seconds=patience, answer_within=within)  # fmt: skip
    sl[some], ab[some] = many.service_level, many.abandon_rate
    for k in np.flatnonzero(np.isnan(sl[some]) | np.isnan(ab[some])):  # (see erlang_a_many)
        one = erlang_a(agents=int(n[k]), calls_per_hour=float(lam[k]), aht_seconds=aht,
                       patience_seconds=patience, answer_within=within)  # fmt: skip
        sl[some[k]], ab[some[k]] = one.service_level, one.abandon_rate
    return sl, ab


def _to_schedule(n: npt.NDArray[np.int64], shrinkage: float) -> npt.NDArray[np.int64]:
    scheduled: npt.NDArray[np.int64] = np.ceil(n / (1.0 - shrinkage) - 1e-9).astype(np.int64)
    return scheduled


# -- the search


def candidate_pools(
    s: Scenario,
    d: Demand,
    mix: SkillMix,
    interpreted: frozenset[str],
    largest: int | None = None,
) -> list[Pool]:
    """Every set of queues (with calls; at most `largest` of them) one profile of the mix
    answers, each once (by the first profile with the fewest skills), in a fixed order.
    Uncoverable if a queue with calls has no profile that answers it."""
    routes = _routes(s, interpreted)
    busy = [q for q, c in zip(d.pools, d.calls.sum(axis=0), strict=True) if c > 0]
    answered: dict[str, list[tuple[Profile, bool]]] = {q: [] for q in busy}
    order = sorted(range(len(mix.profiles)), key=lambda i: (len(mix.profiles[i].skills), i))
    for i in order:
        profile = mix.profiles[i]
        for q in busy:
            how = _answers(routes[q], profile.levels)
            if how is not None:
                answered[q].append((profile, how))
    gaps = [
        Gap(lang, q, r.own, r.interpreter_need, r.interpreter is not None, _line_profile(r, mix))
        for q in busy
        if not answered[q]
        for r in (routes[q],)
        for lang in r.languages or ("?",)
    ]
    if gaps:
        raise Uncoverable(gaps)
    out: dict[tuple[str, ...], Pool] = {}
    for i in order:
        profile = mix.profiles[i]
        mine = [(q, how) for q in busy for p, how in answered[q] if p is profile]
        for k in range(1, min(len(mine), largest or len(mine)) + 1):
            for subset in itertools.combinations(mine, k):
                queues = tuple(q for q, _ in subset)
                if queues not in out:
                    out[queues] = Pool(queues, tuple(q for q, how in subset if how), profile)
                if len(out) > MAX_CANDIDATES:
                    raise ValueError(
                        f"the skill mix allows more than {MAX_CANDIDATES:,} candidate pools "
                        f"(profile {profile.name} alone answers {len(mine)} queues): list "
                        "fewer languages per profile, or allow fewer queues per pool"
                    )
    return list(out.values())


def _line_profile(route: _Route, mix: SkillMix) -> str | None:
    need = route.interpreter_need
    return next((p.name for p in mix.profiles if need is not None and need.met_by(p.levels)), None)


def _members(d: Demand, pools: Sequence[Pool]) -> npt.NDArray[np.float64]:
    members = np.zeros((len(d.pools), len(pools)))
    index = {q: i for i, q in enumerate(d.pools)}
    for j, p in enumerate(pools):
        members[[index[q] for q in p.queues], j] = 1.0
    return members


def best_partitions(
    cost: npt.NDArray[np.float64],
    members: npt.NDArray[np.float64],
    how_many: int,
) -> list[list[int]]:
    """The `how_many` cheapest ways (fewer if there are no more) to give every queue (row
    of `members` with a member) exactly one pool, cheapest first: set partitioning by
    HiGHS, each partition found then excluded."""
    rows = members[members.sum(axis=1) > 0]
    cuts: list[npt.NDArray[np.float64]] = []
    ubs: list[float] = []
    found = []
    for _ in range(how_many):
        constraints = [LinearConstraint(rows, 1, 1)]
        if cuts:
            constraints.append(LinearConstraint(np.array(cuts), -np.inf, np.array(ubs)))
        res = milp(c=cost, constraints=constraints, integrality=np.ones(cost.size),
                   bounds=Bounds(0, 1))  # fmt: skip
        if res.x is None:
            break
        chosen = [int(j) for j in np.flatnonzero(res.x > 0.5)]
        found.append(chosen)
        cut = np.zeros(cost.size)
        cut[chosen] = 1.0
        cuts.append(cut)
        ubs.append(len(chosen) - 1.0)
    return found


# -- checking a partition in the simulator


@dataclass
class _Tally:
    """Outcomes of one language's calls per simulated day (by the day they arrived)."""

    outcomes: list[int] = field(default_factory=list)
    within: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)
    ringing: int = 0  # of `abandoned`: while an agent's phone rang

    def add(self, day: int, within: int, abandoned: int) -> None:
        while len(self.outcomes) <= day:
            self.outcomes.append(0)
            self.within.append(0)
            self.abandoned.append(0)
        self.outcomes[day] += 1
        self.within[day] += within
        self.abandoned[day] += abandoned


class LanguageDays:
    """A simulation trace: every call's outcome per language and day, as the KPIs count
    them (answered within the threshold, abandoned, or sent out of the ACD), and the
    callers who hung up while an agent's phone rang."""

    def __init__(self, answer_within: float) -> None:
        self.answer_within = answer_within
        self.calls: dict[str, tuple[str, int]] = {}  # call -> (language, day)
        self.offered: set[str] = set()  # calls ringing at an agent now
        self.tallies: dict[str, _Tally] = {}

    def __call__(self, ev: object) -> None:
        t = type(ev)
        if t is CallArrived:
            assert isinstance(ev, CallArrived)
            self.calls[ev.call_id] = (ev.language, int(ev.at // DAY))
        elif t is CallOffered:
            assert isinstance(ev, CallOffered)
            self.offered.add(ev.call_id)
        elif t is OfferWithdrawn:
            assert isinstance(ev, OfferWithdrawn)
            if ev.reason != "caller-hung-up":  # (back in its queue, no longer ringing)
                self.offered.discard(ev.call_id)
        elif t is CallAnswered:
            assert isinstance(ev, CallAnswered)
            self._end(ev.call_id, int(ev.waited <= self.answer_within), 0)
        elif t is CallAbandoned:
            assert isinstance(ev, CallAbandoned)
            self._end(ev.call_id, 0, 1)
        elif t is CallOverflowed:
            assert isinstance(ev, CallOverflowed)
            if ev.fallback is not None:
                self._end(ev.call_id, 0, 0)

    def _end(self, call_id: str, within: int, abandoned: int) -> None:
        ringing = call_id in self.offered
        self.offered.discard(call_id)
        known = self.calls.pop(call_id, None)
        if known is None:
            return
        language, day = known
        tally = self.tallies.get(language)
        if tally is None:
            tally = self.tallies[language] = _Tally()
        tally.add(day, within, abandoned)
        tally.ringing += abandoned and ringing

    def figures(self, language: str) -> LanguageResult:
        """The language's figures with their standard errors (ratio estimators over the
        days as batches); `meets` is left for the caller to judge."""
        t = self.tallies.get(language)
        if t is None or not sum(t.outcomes):
            return LanguageResult(language, 0, 1.0, 0.0, 0.0, 0.0, True)
        n = np.array(t.outcomes, dtype=np.float64)
        sl, sl_se = _ratio(np.array(t.within, dtype=np.float64), n)
        ab, ab_se = _ratio(np.array(t.abandoned, dtype=np.float64), n)
        return LanguageResult(language, int(n.sum()), sl, sl_se, ab, ab_se, True,
                              ringing=t.ringing / float(n.sum()))  # fmt: skip


def _ratio(x: npt.NDArray[np.float64], n: npt.NDArray[np.float64]) -> tuple[float, float]:
    r = float(x.sum() / n.sum())
    k = x.size
    if k < 2:
        return r, math.inf
    var = k / (k - 1) * float(((x - r * n) ** 2).sum()) / float(n.sum()) ** 2
    return r, math.sqrt(var)


# -- the planner


@dataclass(frozen=True)
class _Setup:
    scenario: Scenario
    callers: Scenario
    demand: Demand  # per queue
    target: Target
    max_abandon: float
    model: str
    shrinkage: float
    surge: float
    break_minutes: int
    time_limit: float
    routes: dict[str, _Route]


def choose_pools(
    scenario: Scenario,
    *,
    target: Target,
    max_abandon: float = 0.03,
    mix: SkillMix | None = None,
    interpreted: frozenset[str] = frozenset(),
    model: str = "erlang-c",
    interval_minutes: int = 30,
    shrinkage: float = 0.0,
    surge: float = 1.0,
    break_minutes: int = 0,
    time_limit: float = 10.0,
    demand: Demand | None = None,
    callers: Scenario | None = None,
    checking: Checking | None = None,
    largest: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Choice:
    """The pools, routes and schedules that meet `target` and `max_abandon` in every
    language at the least paid hours the search finds (see the module's docstring).

    `demand` (per queue, e.g. a forecast's) replaces the scenario's profiles, and `callers`
    the scenario whose callers the simulator replays; `checking` None: choose by the model
    alone, without simulating; `largest`: at most this many queues in a pool (1: dedicated
    pools, checked the same way). `progress(what, share done)` follows the search.
    Raises Uncoverable for a language the mix cannot answer, Unreachable (ValueError) for a
    target no staff meets, ValueError for bad options."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
    target.check()
    if not 0.0 < max_abandon < 1.0:
        raise ValueError("the abandonment cap must lie strictly between 0 and 1")
    if checking is not None:
        checking.check()
    if largest is not None and largest < 1:
        raise ValueError("a pool has at least one queue")
    if demand is None:
        demand = weekly_demand(scenario, interval_minutes=interval_minutes, surge=surge)
    elif demand.interval_minutes != interval_minutes:
        raise ValueError("the demand's intervals are not the plan's")
    if demand.pools != tuple(q.name for q in scenario.queues):
        raise ValueError("the demand must be per queue of the scenario")
    mix = mix or scenario_mix(scenario)
    say = progress or (lambda what, done: None)
    setup = _Setup(
        scenario,
        callers or scenario,
        demand,
        target,
        max_abandon,
        model,
        shrinkage,
        surge,
        break_minutes,
        time_limit,
        _routes(scenario, interpreted),
    )
    say("candidate pools", 0.0)
    pools = candidate_pools(scenario, demand, mix, interpreted, largest)
    members = _members(demand, pools)
    calls, aht, patience = _pooled(demand, members)
    loss = ring_loss(patience, scenario.answer_delay)
    cap = abandon_cap(max_abandon, loss)
    _refuse_unreachable(cap, patience, scenario.answer_delay, max_abandon, pools)
    first = [PoolTarget(target.service_level, 0.0, float(c)) for c in cap]
    needed = requirement(calls * (60.0 / interval_minutes), aht, patience, target=target,
                         to=first, model=model)  # fmt: skip
    cost = _to_schedule(needed, shrinkage).sum(axis=0) * interval_minutes / 60.0
    how_many = 1 if checking is None else checking.candidates
    partitions = best_partitions(cost.astype(np.float64), members, how_many)
    busy = {q for p in pools for q in p.queues}
    unstaffed = tuple(q for q in demand.pools if q not in busy)
    assumptions = _assumptions(setup, mix, interpreted, unstaffed)
    if checking is None:
        chosen = [pools[j] for j in partitions[0]]
        targets = [first[j] for j in partitions[0]]
        plan, replay = _plan(setup, chosen, targets)
        return Choice(plan, tuple(chosen), tuple(targets), replay, None, None, None, (),
                      len(pools), assumptions, unstaffed)  # fmt: skip
    checked: list[Choice] = []
    tried: list[Tried] = []
    learned: dict[Pool, PoolTarget] = {}  # targets a check tightened, for the next partitions
    for k, partition in enumerate(partitions):
        bound = float(cost[partition].sum())
        enough = [c.plan.paid_hours for c in checked if c.sufficient]
        if enough and min(enough) <= bound:
            break  # no plan of this partition can pay fewer hours
        chosen = [pools[j] for j in partition]

        def step(what: str, done: float, k: int = k) -> None:
            say(f"partition {k + 1}/{len(partitions)}: {what}", (k + done) / len(partitions))

        targets = [learned.get(pools[j], first[j]) for j in partition]
        choice, record = _check(setup, chosen, targets, bound, checking, step)
        learned.update(zip(chosen, choice.targets, strict=True))
        checked.append(choice)
        tried.append(record)
    # the cheapest sufficient plan; if none is, the one with the fewest languages short
    best = min(checked, key=lambda c: (not c.sufficient, _short(c), c.plan.paid_hours))
    say("done", 1.0)
    return replace(best, tried=tuple(tried), candidates=len(pools), assumptions=assumptions,
                   unstaffed=unstaffed)  # fmt: skip


def _short(c: Choice) -> int:
    return sum(not r.meets for r in c.languages or ())


def _refuse_unreachable(
    cap: npt.NDArray[np.float64],
    patience: npt.NDArray[np.float64],
    delay: float,
    max_abandon: float,
    pools: Sequence[Pool],
) -> None:
    worst = int(np.argmin(cap))
    if cap[worst] <= 0:
        raise Unreachable(
            f"pool {pools[worst].name}: callers with a mean patience of "
            f"{patience[worst]:.0f} s hang up while an agent's phone rings "
            f"({delay:g} s) more often than {max_abandon:.1%}: no staff keeps abandonment "
            "at or below that; raise --max-abandon or shorten the answer delay"
        )


def _plan(
    setup: _Setup, pools: Sequence[Pool], targets: Sequence[PoolTarget]
) -> tuple[Plan, Scenario]:
    """The plan of a partition at the pools' targets, and the scenario that replays it."""
    d = setup.demand
    calls, aht, patience = _pooled(d, _members(d, pools))
    rate = calls * (60.0 / d.interval_minutes)
    needed = requirement(rate, aht, patience, target=setup.target, to=targets,
                         model=setup.model)  # fmt: skip
    demand = Demand(
        interval_minutes=d.interval_minutes,
        pools=tuple(p.name for p in pools),
        calls=calls,
        aht_seconds=aht,
        skills=tuple(Requirement(p.profile.skills) for p in pools),
        queues=tuple(p.queues for p in pools),
        patience_seconds=patience,
    )
    staffed = staff_pools(demand, needed, target=setup.target, model=setup.model,
                          shrinkage=setup.shrinkage, break_minutes=setup.break_minutes,
                          time_limit=setup.time_limit)  # fmt: skip
    plan = Plan(demand, setup.target, setup.shrinkage, setup.surge, staffed, setup.model)
    return plan, replay_scenario(plan, setup.callers, pools, setup.routes)


def replay_scenario(
    plan: Plan, callers: Scenario, pools: Sequence[Pool], routes: Mapping[str, _Route]
) -> Scenario:
    """`scenario_for` with the plan's routing: queues the interpreter line answers take
    their interpreter step from the start; each pool's agents, who serve its queues at
    tier 1, also serve at tier 2 every other queue with a later step they meet (as the
    scenario's steps widen the circle: the interpreter line takes a call that its own
    speakers have not answered in time)."""
    to_line = {q for p in pools for q in p.interpreted}
    queues = []
    for q in callers.queues:
        step = routes[q.name].interpreter if q.name in to_line else None
        queues.append(q if step is None else interpreter_route(q, step))
    replay = scenario_for(plan, callers)
    by_queues = {p.queues: p for p in pools}
    groups = []
    for g in replay.agent_groups:
        mine = tuple(m.queue for m in g.queues)
        skills = by_queues[mine].profile.levels
        later = [QueueMembership(q.name, 2) for q in queues if q.name not in mine
                 and any(st.requirement.met_by(skills) for st in q.steps[1:])]  # fmt: skip
        groups.append(replace(g, queues=(*g.queues, *later)))
    return replace(replay, queues=tuple(queues), agent_groups=tuple(groups))


def _check(
    setup: _Setup,
    pools: Sequence[Pool],
    targets: Sequence[PoolTarget],
    bound: float,
    checking: Checking,
    step: Callable[[str, float], None],
) -> tuple[Choice, Tried]:
    """Schedule and simulate a partition; while a language falls short (and rounds are
    left), staff the pools serving it to their model's figures plus the shortfall."""
    targets = list(targets)
    serves = {lang.tag: [j for j, p in enumerate(pools)
                         if set(p.queues) & set(_queues_of(setup.routes, lang.tag))]
              for lang in setup.scenario.languages}  # fmt: skip
    attempts: list[tuple[Choice, Tried]] = []
    rounds = 0
    while True:
        step(f"scheduling (round {rounds + 1})", rounds / (checking.rounds + 1))
        plan, replay = _plan(setup, pools, targets)
        step(f"simulating (round {rounds + 1})", (rounds + 0.2) / (checking.rounds + 1))
        results, report = simulate_languages(replay, target=setup.target,
                                             max_abandon=setup.max_abandon,
                                             checking=checking)  # fmt: skip
        results = [_noise_bound(r, setup, checking) for r in results]
        short = [r for r in results if not r.meets]
        fixable = [r for r in short if not r.too_few_calls]
        choice = Choice(plan, tuple(pools), tuple(targets), replay, tuple(results), report,
                        not short, (), 0, ())  # fmt: skip
        attempts.append((choice, _tried(pools, bound, plan, rounds, short)))
        before = list(targets)
        for r in fixable:
            for j in serves[r.language]:
                targets[j] = _tightened(targets[j], r, setup, checking, plan, j)
        if not fixable or rounds == checking.rounds or targets == before:
            # (nothing left to staff up, or every target at its limit) the attempt with
            # the fewest languages short, then the cheapest: more staff that did not
            # help is not kept
            return min(attempts, key=lambda a: (len(a[1].short), a[1].paid_hours))
        rounds += 1


def _tried(
    pools: Sequence[Pool], bound: float, plan: Plan, rounds: int, short: Sequence[LanguageResult]
) -> Tried:
    return Tried(tuple(p.name for p in pools), bound, plan.paid_hours, rounds, not short,
                 tuple(r.language for r in short),
                 tuple(r.language for r in short if r.too_few_calls))  # fmt: skip


def _noise_bound(r: LanguageResult, setup: _Setup, checking: Checking) -> LanguageResult:
    """`r`, marked `too_few_calls` if it is short although no callers lost in the queue
    would not clear the margin in this run: those who hung up while the phone rang (and so
    were not answered in time either) are already too many."""
    if r.meets:
        return r
    hopeless = (
        r.ringing + checking.z * r.abandon_rate_se > setup.max_abandon
        or 1.0 - r.ringing - checking.z * r.service_level_se < setup.target.service_level
    )
    return replace(r, too_few_calls=hopeless)


STEP = 0.8  # a re-staffing round takes a fifth at least off what staff can change


def _tightened(
    to: PoolTarget, r: LanguageResult, setup: _Setup, checking: Checking, plan: Plan, j: int
) -> PoolTarget:
    """The pool's weekly targets moved past what its schedule gives by the model, in the
    proportion the language's simulated figures must move (the part staff can change:
    not the callers lost while the phone rings), with the margin."""
    d = plan.demand
    on_phones = np.floor(plan.pools[j].schedule.coverage * (1.0 - plan.shrinkage) + 1e-9)
    sl, ab = weekly_figures(on_phones.astype(np.int64), d.calls_per_hour[:, j],
                            float(d.aht_seconds[j]), float(d.patience[j]),
                            setup.target.answer_within)  # fmt: skip
    late = 1.0 - r.service_level - r.ringing  # answered late or lost in the queue
    in_queue = r.abandon_rate - r.ringing
    sl_gap = setup.target.service_level - (r.service_level - checking.z * r.service_level_se)
    ab_gap = r.abandon_rate + checking.z * r.abandon_rate_se - setup.max_abandon
    weekly_sl, weekly_ab = to.weekly_sl, to.weekly_abandon
    if sl_gap > 0 and late > 0:
        keep = min(STEP, max(0.1, 1.0 - sl_gap / late))
        weekly_sl = max(weekly_sl, min(0.999, 1.0 - (1.0 - sl) * keep))
    if ab_gap > 0 and in_queue > 0:
        keep = min(STEP, max(0.1, 1.0 - ab_gap / in_queue))
        weekly_ab = min(weekly_ab, max(1e-4, ab * keep))
    return PoolTarget(to.interval_sl, weekly_sl, weekly_ab)


def _queues_of(routes: Mapping[str, _Route], language: str) -> list[str]:
    return [q for q, r in routes.items() if language in r.languages]


def simulate_languages(
    replay: Scenario,
    *,
    target: Target,
    max_abandon: float,
    checking: Checking,
) -> tuple[list[LanguageResult], dict[str, Any]]:
    """Run the replay for `checking.weeks` weeks with its seed: each language's figures,
    judged with the margin, and the simulator's KPI report."""
    within = target.answer_within
    run = replace(replay, hours=WEEK_HOURS * checking.weeks, answer_within=within)
    days = LanguageDays(within)
    report = Simulation(scenario=run, seed=checking.seed, trace=days).run().report
    out = []
    for lang in replay.languages:
        r = days.figures(lang.tag)
        meets = r.offered == 0 or (
            r.service_level - checking.z * r.service_level_se >= target.service_level
            and r.abandon_rate + checking.z * r.abandon_rate_se <= max_abandon
        )
        out.append(replace(r, meets=meets))
    return out, report


def check_plan(
    plan: Plan, callers: Scenario, *, max_abandon: float, checking: Checking
) -> tuple[list[LanguageResult], dict[str, Any]]:
    """Any plan (today's dedicated pools, say) replayed and judged as chosen ones are."""
    return simulate_languages(scenario_for(plan, callers), target=plan.target,
                              max_abandon=max_abandon, checking=checking)  # fmt: skip


def _assumptions(
    setup: _Setup, mix: SkillMix, interpreted: frozenset[str], unstaffed: Sequence[str]
) -> tuple[str, ...]:
    s = setup.scenario
    line = [r.queue for r in setup.routes.values() if r.interpreter is not None]
    out = [
        f"skill mix: {mix.description}; as many agents of each profile as the plan "
        "schedules can be hired or trained",
        "interpreted languages (the interpreter line may answer them): "
        + (", ".join(sorted(interpreted)) or "none")
        + (f"; queues it may take from the start: {', '.join(line)}" if line else ""),
        "each pool's agents serve its queues at tier 1 (calls by priority, then first come, "
        "first served) and, at tier 2, the calls of other queues that reach a step they meet "
        "(the interpreter line backs up the queues with an interpreter step); a call takes its "
        "language's handle time whoever answers it",
        f"requirement per interval by {setup.model.replace('-', ' ').title()} to "
        f"{setup.target.service_level:.0%} within {setup.target.answer_within:g} s, then Erlang"
        f" A to at most {setup.max_abandon:.1%} abandonment less the callers lost while a "
        f"phone rings ({s.answer_delay:g} s)",
    ]
    if unstaffed:
        out.append(f"queues without calls, not staffed: {', '.join(unstaffed)}")
    return tuple(out)


def choice_report(
    choice: Choice,
    *,
    max_abandon: float,
    checking: Checking | None,
    dedicated: tuple[Plan, Sequence[LanguageResult] | None] | None = None,
) -> dict[str, Any]:
    """What the planner chose and why, as plain data (the plan file's `choice`): the
    pools with their profile and routes, each language's simulated figures beside the
    dedicated plan's, the partitions tried, the assumptions, the queues re-routed."""
    plan = choice.plan
    weeks = checking.weeks if checking is not None else 1
    ded_by = {r.language: r for r in (dedicated[1] or ())} if dedicated else {}
    pools_of = {
        lang.tag: [
            p.name for p in choice.pools if set(p.queues) & _languages_queues(choice, lang.tag)
        ]
        for lang in choice.replay.languages
    }
    languages = []
    for r in choice.languages or ():
        d = ded_by.get(r.language)
        languages.append(
            {
                "language": r.language,
                "calls_per_week": round(r.offered / weeks, 1),
                "pools": pools_of[r.language],
                "simulated_service_level": round(r.service_level, 6),
                "service_level_se": round(r.service_level_se, 6),
                "simulated_abandon_rate": round(r.abandon_rate, 6),
                "abandon_rate_se": round(r.abandon_rate_se, 6),
                "meets": r.meets,
                "too_few_calls": r.too_few_calls,
                "dedicated_service_level": None if d is None else round(d.service_level, 6),
                "dedicated_abandon_rate": None if d is None else round(d.abandon_rate, 6),
                "dedicated_meets": None if d is None else d.meets,
            }
        )
    rerouted = {q for p in choice.pools for q in p.interpreted}
    out: dict[str, Any] = {
        "sufficient": choice.sufficient,
        "paid_hours": plan.paid_hours,
        "dedicated_paid_hours": None if dedicated is None else dedicated[0].paid_hours,
        "share_of_dedicated": None
        if dedicated is None or not dedicated[0].paid_hours
        else round(plan.paid_hours / dedicated[0].paid_hours, 6),
        "target": {
            "service_level": plan.target.service_level,
            "answer_within_seconds": plan.target.answer_within,
            "max_abandon_rate": max_abandon,
        },
        "check": None
        if checking is None
        else {
            "seed": checking.seed,
            "weeks": checking.weeks,
            "margin_se": checking.z,
            "partitions": checking.candidates,
            "rounds": checking.rounds,
        },
        "candidate_pools": choice.candidates,
        "pools": [
            {
                "pool": p.name,
                "queues": list(p.queues),
                "interpreter_line": list(p.interpreted),
                "profile": {
                    "name": p.profile.name,
                    "skills": dict(p.profile.skills),
                    "source": p.profile.source,
                },
                "staffed_to": {
                    "interval_service_level": round(t.interval_sl, 6),
                    "weekly_service_level": round(t.weekly_sl, 6) or None,
                    "weekly_abandon_in_queue": round(t.weekly_abandon, 6),
                },
                "paid_hours": pp.schedule.paid_hours,
            }
            for p, t, pp in zip(choice.pools, choice.targets, plan.pools, strict=True)
        ],
        "languages": languages,
        "routing": [
            {
                "queue": q.name,
                "steps": [
                    {"require": dict(st.requirement.levels), "seconds": st.seconds}
                    for st in q.steps
                ],
                "overflow": None if q.overflow is None else q.overflow.target,
            }
            for q in choice.replay.queues
            if q.name in rerouted
        ],
        "tried": [
            {
                "pools": list(t.pools),
                "bound_hours": t.bound_hours,
                "paid_hours": t.paid_hours,
                "rounds": t.rounds,
                "sufficient": t.sufficient,
                "short": list(t.short),
                "too_few_calls": list(t.too_few_calls),
            }
            for t in choice.tried
        ],
        "assumptions": list(choice.assumptions),
        "unstaffed_queues": list(choice.unstaffed),
    }
    return out


def _languages_queues(choice: Choice, language: str) -> set[str]:
    return {q for p in choice.pools for q in p.queues} & {
        c.queue_for(language) for c in choice.replay.caller_types
    }
