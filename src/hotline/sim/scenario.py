"""A scenario: who calls, when, in which language, and who is on shift to answer.

Built by `scenario_file.load_scenario` from YAML, or directly for quick single-queue runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hotline.domain.agent import QueueMembership
from hotline.domain.queue import EscalationStep, Queue
from hotline.domain.skills import Requirement
from hotline.routing.checks import Finding, check_queues, unknown_skill
from hotline.routing.selection import SelectionPolicy
from hotline.sim.distributions import Distribution, Exponential, Fixed

DAY_HOURS = 24
NAME_MAX = 64  # characters of a line's, queue's or agent's name (the store's columns)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {"all": WEEKDAYS, "weekdays": WEEKDAYS[:5], "weekends": WEEKDAYS[5:]}
_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def minute_of_day(text: str) -> int | None:
    """`"07:30"` -> 450; None if it is not a time of day. Shared by scenario and flow files."""
    hit = _CLOCK_TIME.fullmatch(text)
    return int(hit.group(1)) * 60 + int(hit.group(2)) if hit else None


def weekday_set(names: Iterable[str]) -> frozenset[int] | None:
    """Day names and sets (mon..sun, weekdays, weekends, all) -> 0 = Monday; None if unknown."""
    days = set()
    for name in names:
        for day in DAY_SETS.get(name, (name,)):
            if day not in WEEKDAYS:
                return None
            days.add(WEEKDAYS.index(day))
    return frozenset(days)


# the codes an agent wraps a call up with unless the scenario names its own
DISPOSITIONS = ("resolved", "information-given", "referred", "callback-promised",
                "wrong-number", "silent-or-hoax")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Language:
    tag: str
    name: str
    share: float
    handle: Distribution | None = None  # overrides the scenario's handle time


@dataclass(frozen=True, slots=True)
class CallerType:
    name: str
    share: float
    priority: int
    queue: str  # a template: "{language}" is replaced by the caller's language tag
    languages: Mapping[str, float] | None = None  # their own language mix, if not the line's
    patience: Distribution | None = None  # theirs, if not their queue's or the line's

    def queue_for(self, language: str) -> str:
        return self.queue.replace("{language}", language)


@dataclass(frozen=True, slots=True)
class Shift:
    """Working hours from `start` (hours after midnight) for `hours`, on the given weekdays."""

    start: float
    hours: float
    days: frozenset[int] = frozenset(range(7))


ALWAYS = Shift(start=0.0, hours=float("inf"))


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Callers still waiting after `offer_after` seconds are offered a callback; the share
    `accept` take it: they hang up, keep their place, and never abandon."""

    offer_after: float
    accept: float


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """`count` agents alike, with ids `{name}-{first}`, `{name}-{first + 1}`, ..."""

    name: str
    count: int
    skills: Mapping[str, int]
    queues: tuple[QueueMembership, ...] = ()
    shifts: tuple[Shift, ...] = (ALWAYS,)
    first: int = 1

    def ids(self) -> list[str]:
        return [f"{self.name}-{k}" for k in range(self.first, self.first + self.count)]


@dataclass(frozen=True, slots=True)
class LineInfo:
    """How the live server answers the scenario's line: its number, time zone and flow
    (a path; None: the one the server's settings name)."""

    number: str
    timezone: str = "UTC"
    flow: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    hours: int
    calls_per_day: float
    hourly_profile: tuple[float, ...]
    languages: tuple[Language, ...]
    caller_types: tuple[CallerType, ...]
    queues: tuple[Queue, ...]
    agent_groups: tuple[AgentGroup, ...]
    handle: Distribution
    ivr: Distribution = field(default_factory=lambda: Fixed(0.0))
    patience: Distribution | None = None  # None: callers never hang up
    skills: tuple[str, ...] = ()  # skills other than languages
    weekly_profile: tuple[float, ...] = (1.0,) * 7
    start_weekday: int = 0
    answer_within: float = 20.0  # the service-level threshold T
    service_target: float = 0.8  # the share answered within T a line aims at (the wallboard)
    answer_delay: float = 0.0  # seconds an agent's phone rings before they pick up
    policy: SelectionPolicy = SelectionPolicy.LONGEST_IDLE
    offer_timeout: float = 15.0
    dispositions: tuple[str, ...] = DISPOSITIONS  # the codes an agent closes a call with
    callbacks: Callbacks | None = None
    seed: int = 1
    line: LineInfo | None = None  # how the live server answers it
    # patience of callers in a queue, where not the line's (a caller type's own comes first)
    queue_patience: Mapping[str, Distribution] = field(default_factory=dict)

    def patience_of(self, caller: CallerType, queue: str) -> Distribution | None:
        """How long such a caller waits in that queue (None: the line's `patience`)."""
        return caller.patience or self.queue_patience.get(queue)

    @classmethod
    def single_queue(
        cls,
        *,
        calls_per_hour: float,
        aht_seconds: float,
        agents: int,
        hours: int,
        patience_seconds: float | None = None,
        answer_within: float = 20.0,
        seed: int = 1,
    ) -> Scenario:
        """M/M/n (or M/M/n+M with patience): Poisson arrivals, exponential everything."""
        return cls(
            name=f"single queue: {calls_per_hour:g} calls/h, AHT {aht_seconds:g} s, "
            f"{agents} agents",
            hours=hours,
            calls_per_day=calls_per_hour * DAY_HOURS,
            hourly_profile=(1.0,) * DAY_HOURS,
            languages=(Language("en", "English", 1.0),),
            caller_types=(CallerType("public", 1.0, 0, "main"),),
            queues=(Queue("main", (EscalationStep(Requirement(())),)),),
            agent_groups=(AgentGroup("agents", agents, {}),),
            handle=Exponential(aht_seconds),
            patience=Exponential(patience_seconds) if patience_seconds else None,
            answer_within=answer_within,
            seed=seed,
        )


def check_scenario(s: Scenario) -> list[Finding]:
    """Everything wrong with a scenario, with paths in the terms of the scenario file."""
    found: list[Finding] = []
    if len(s.name) > NAME_MAX:
        found.append(Finding(("name",), f"longer than {NAME_MAX} characters"))
    for i, q in enumerate(s.queues):
        if len(q.name) > NAME_MAX:
            found.append(Finding(("queues", i, "name"), f"longer than {NAME_MAX} characters"))
    if s.hours < 1:
        found.append(Finding(("days",), "the run must last at least one hour"))
    if s.calls_per_day <= 0:
        found.append(Finding(("arrivals", "calls_per_day"), "the call rate must be positive"))
    found += _check_profile(s.hourly_profile, DAY_HOURS, "hourly_profile", "hour of the day")
    found += _check_profile(s.weekly_profile, 7, "weekly_profile", "day of the week (Monday first)")
    tags = [lang.tag for lang in s.languages]
    if not tags:
        found.append(Finding(("languages",), "no languages declared", "declare at least one"))
    clash = set(tags) & set(s.skills)
    for name in sorted(clash):
        found.append(Finding(("skills",), f"{name!r} is both a language and a skill"))
    negative = [lang for lang in s.languages if lang.share < 0]
    for lang in negative:
        found.append(Finding(("languages", lang.tag, "share"), "a share cannot be negative"))
    if s.languages and not negative and sum(lang.share for lang in s.languages) <= 0:
        found.append(Finding(("languages",), "the language shares add up to zero"))
    if s.answer_delay >= s.offer_timeout:
        found.append(
            Finding(
                ("routing", "answer_delay"),
                f"agents would pick up after {s.answer_delay:g} s, but offers ring only "
                f"{s.offer_timeout:g} s: every call would go unanswered",
                "make answer_delay shorter than offer_timeout",
            )
        )
    if s.callbacks is not None:
        if s.callbacks.offer_after <= 0:
            found.append(Finding(("callbacks", "offer_after_seconds"), "must be positive"))
        if not 0.0 <= s.callbacks.accept <= 1.0:
            found.append(Finding(("callbacks", "accept_share"), "a share between 0 and 1"))
    known = set(tags) | set(s.skills)
    queue_names = {q.name for q in s.queues}
    found += _check_callers(s, set(tags), queue_names)
    found += check_queues(s.queues, known_skills=known)
    found += _check_agents(s, known, queue_names)
    return found


def _check_profile(values: tuple[float, ...], n: int, name: str, what: str) -> list[Finding]:
    at = ("arrivals", name)
    if len(values) != n:
        return [
            Finding(
                at,
                f"{name} has {len(values)} values but must have {n}, one per {what}",
                f"give exactly {n} numbers",
            )
        ]
    if any(v < 0 for v in values):
        return [Finding(at, f"{name} has a negative value")]
    if sum(values) <= 0:
        return [Finding(at, f"{name} is all zeros: no call would ever arrive")]
    return []


def _check_callers(s: Scenario, tags: set[str], queue_names: set[str]) -> list[Finding]:
    found: list[Finding] = []
    if not s.caller_types:
        return [Finding(("callers",), "no caller types declared", "declare at least one")]
    if all(c.share >= 0 for c in s.caller_types) and sum(c.share for c in s.caller_types) <= 0:
        found.append(Finding(("callers",), "the caller type shares add up to zero"))
    for i, c in enumerate(s.caller_types):
        at = ("callers", i)
        if c.share < 0:
            found.append(Finding((*at, "share"), "a share cannot be negative"))
        mix = c.languages if c.languages is not None else dict.fromkeys(tags, 1.0)
        if c.languages is not None and sum(c.languages.values()) <= 0:
            found.append(
                Finding((*at, "languages"), f"{c.name} callers' language shares add up to zero")
            )
        for tag in mix:
            if tag not in tags:
                found.append(
                    Finding(
                        (*at, "languages", tag),
                        f"unknown language {tag!r}",
                        "declare it under `languages:`",
                    )
                )
        for tag in sorted(t for t in mix if t in tags):
            name = c.queue_for(tag)
            if name not in queue_names:
                found.append(
                    Finding(
                        (*at, "queue"),
                        f"{c.name} callers speaking {tag!r} go to queue {name!r}, "
                        "which does not exist",
                        f"add a queue named {name!r}",
                    )
                )
    return found


def _check_agents(s: Scenario, known: set[str], queue_names: set[str]) -> list[Finding]:
    found: list[Finding] = []
    if sum(g.count for g in s.agent_groups) <= 0:
        found.append(Finding(("agents",), "no agents: nobody would answer", "add agent groups"))
    made_by: dict[str, int] = {}
    for i, g in enumerate(s.agent_groups):
        at = ("agents", i)
        for agent_id in g.ids():
            if len(agent_id) > NAME_MAX:
                found.append(Finding((*at, "name"), f"agent id {agent_id!r} is longer than "
                                     f"{NAME_MAX} characters"))  # fmt: skip
                break
            other = made_by.setdefault(agent_id, i)
            if other != i:
                found.append(Finding((*at, "name"), f"agent id {agent_id!r} is also made by "
                                     f"agents[{other}]", "give the group another name, or "
                                     "`first:` past the other's ids"))  # fmt: skip
                break
        if g.count < 0:
            found.append(Finding((*at, "count"), "an agent count cannot be negative"))
        for skill, level in g.skills.items():
            if skill not in known:
                found.append(unknown_skill((*at, "skills", skill), skill))
            elif not 1 <= level <= 5:
                found.append(Finding((*at, "skills", skill), f"level {level} is outside 1..5"))
        for j, m in enumerate(g.queues):
            if m.queue not in queue_names:
                found.append(Finding((*at, "queues", j), f"unknown queue {m.queue!r}"))
        for j, sh in enumerate(g.shifts):
            if not ((0 <= sh.start < 24 and 0 < sh.hours <= 24) or sh is ALWAYS):
                found.append(
                    Finding((*at, "shifts", j), "a shift starts at 00:00-23:59 and lasts 0-24 h")
                )
    for i, q in enumerate(s.queues):
        if q.overflow is None and not any(_serves(g, q) for g in s.agent_groups if g.count > 0):
            found.append(
                Finding(
                    ("queues", i, "steps"),
                    f"no agent group meets any step of queue {q.name!r}; its calls could "
                    "never be answered",
                    "add a step that some agents meet, or agents with these skills",
                )
            )
    return found


def _serves(g: AgentGroup, q: Queue) -> bool:
    if g.queues and q.name not in {m.queue for m in g.queues}:
        return False
    return any(step.requirement.met_by(g.skills) for step in q.steps)
