"""Scenario files (YAML): parse, validate, and point at the line of every problem.

The file is composed into YAML nodes first so every value keeps its line and column; the
shape is checked by Pydantic models, the meaning by `check_scenario`; both kinds of
finding are reported together, each as `file:line:column: message (fix: ...)`.
The format is documented in docs/scenarios.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotline.domain.agent import QueueMembership
from hotline.domain.queue import EscalationStep, Overflow, Queue
from hotline.domain.skills import Requirement
from hotline.errors import ConfigError, Problem
from hotline.routing.checks import Finding
from hotline.routing.selection import SelectionPolicy
from hotline.sim.distributions import Distribution, Empirical, Exponential, Fixed, LogNormal
from hotline.sim.scenario import (
    ALWAYS,
    DISPOSITIONS,
    WEEKDAYS,
    AgentGroup,
    Callbacks,
    CallerType,
    Language,
    LineInfo,
    Scenario,
    Shift,
    check_scenario,
    minute_of_day,
    weekday_set,
)
from hotline.yamlfile import Marks, compose, problem_at, read_text, shape_problems


class _Model(BaseModel):
    # (NaN passes every `gt`/`le` check, and infinity is no duration or level)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Fixed(_Model):
    distribution: Literal["fixed"]
    value: float = Field(ge=0)


class _Exponential(_Model):
    distribution: Literal["exponential"]
    mean: float = Field(gt=0)


class _LogNormal(_Model):
    distribution: Literal["lognormal"]
    mean: float = Field(gt=0)
    sd: float = Field(gt=0)


class _Empirical(_Model):
    distribution: Literal["empirical"]
    values: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)


_Dist = Annotated[
    _Fixed | _Exponential | _LogNormal | _Empirical, Field(discriminator="distribution")
]
_Duration = Annotated[float, Field(ge=0)] | _Dist


# Ranges that depend on the meaning (shares, counts, rates) are checked by check_scenario,
# so that they are reported together with the other findings about meaning.
class _Language(_Model):
    name: str
    share: float
    handle: _Duration | None = None


_Patience = _Duration | Literal["never"]


class _Caller(_Model):
    type: str
    share: float
    priority: int = 0
    queue: str
    languages: dict[str, Annotated[float, Field(ge=0)]] | None = None
    patience: _Patience | None = None  # theirs, whatever the queue


class _Step(_Model):
    require: dict[str, int] = Field(default_factory=dict)
    seconds: float | None = None


class _Overflow(_Model):
    queue: str | None = None
    fallback: str | None = None


class _Queue(_Model):
    name: str
    steps: list[_Step]
    overflow: _Overflow | None = None
    wrap_up_seconds: float = 0.0
    patience: _Patience | None = None  # of callers in this queue (a caller type's wins)
    aging_per_minute: float = 0.0


class _Membership(_Model):
    queue: str
    tier: int = Field(default=1, ge=1)


class _Shift(_Model):
    start: str
    hours: float = Field(gt=0, le=24)
    days: list[str] | str = "all"

    @field_validator("start")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        if minute_of_day(v) is None:
            raise ValueError('a time of day like "07:30"')
        return v

    @field_validator("days")
    @classmethod
    def _weekdays(cls, v: list[str] | str) -> list[str] | str:
        for d in [v] if isinstance(v, str) else v:
            if weekday_set([d]) is None:
                raise ValueError(f"unknown day {d!r}; use mon..sun, weekdays, weekends or all")
        return v

    def to_shift(self) -> Shift:
        start = minute_of_day(self.start)
        days = weekday_set([self.days] if isinstance(self.days, str) else self.days)
        # both were checked by the validators above
        assert start is not None
        assert days is not None
        return Shift(start / 60, self.hours, days)


class _AgentGroup(_Model):
    name: str
    count: int
    first: int = Field(default=1, ge=1)
    skills: dict[str, int]
    queues: list[str | _Membership] = Field(default_factory=list)
    shifts: list[_Shift] | None = None


class _Arrivals(_Model):
    calls_per_day: float
    hourly_profile: list[Annotated[float, Field(ge=0)]]
    weekly_profile: list[Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: [1.0] * 7)


class _Durations(_Model):
    handle: _Duration
    ivr: _Duration = 0.0
    patience: _Patience = "never"


class _Routing(_Model):
    policy: SelectionPolicy = SelectionPolicy.LONGEST_IDLE
    offer_timeout: float = Field(default=15.0, gt=0)
    answer_delay: float = Field(default=0.0, ge=0)
    dispositions: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]] = Field(
        default_factory=lambda: list(DISPOSITIONS), min_length=1, max_length=50
    )

    @field_validator("dispositions")
    @classmethod
    def _not_timeout(cls, v: list[str]) -> list[str]:
        if "timeout" in v:  # (what a wrap-up closed without the agent's code records)
            raise ValueError("'timeout' is kept for a wrap-up closed without a code")
        return v


class _Callbacks(_Model):
    offer_after_seconds: float
    accept_share: float


class _ServiceLevel(_Model):
    answer_within: float = Field(default=20.0, gt=0)
    target: float = Field(default=0.8, gt=0, le=1)


def number_problem(v: str) -> str | None:
    """What is wrong with a line's number (None: a number in E.164 form)."""
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", v):
        return 'a number in E.164 form, like "+18005550100"'
    return None


def timezone_problem(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone like Europe/Paris"
    return None


class _Line(_Model):
    number: str
    timezone: str = "UTC"
    flow: str | None = None  # a path, relative to the scenario file

    @field_validator("number")
    @classmethod
    def _e164(cls, v: str) -> str:
        if (problem := number_problem(v)) is not None:
            raise ValueError(problem)
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if (problem := timezone_problem(v)) is not None:
            raise ValueError(problem)
        return v


class _ScenarioFile(_Model):
    name: str
    line: _Line | None = None
    days: int = Field(default=1, ge=1)
    start_weekday: str = "mon"
    seed: int = 1
    arrivals: _Arrivals
    languages: dict[str, _Language]
    skills: list[str] = Field(default_factory=list)
    callers: list[_Caller]
    durations: _Durations
    queues: list[_Queue]
    agents: list[_AgentGroup]
    routing: _Routing = Field(default_factory=_Routing)
    service_level: _ServiceLevel = Field(default_factory=_ServiceLevel)
    callbacks: _Callbacks | None = None

    @field_validator("start_weekday")
    @classmethod
    def _weekday(cls, v: str) -> str:
        if v not in WEEKDAYS:
            raise ValueError("one of mon, tue, wed, thu, fri, sat, sun")
        return v


def checked_queue(data: Any) -> dict[str, Any]:
    """A queue as a scenario file writes it (plain data), checked for its shape only
    (pydantic's ValidationError; its meaning is checked with the whole line's)."""
    queue: dict[str, Any] = _Queue.model_validate(data).model_dump(mode="json", exclude_unset=True)
    return queue


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ConfigError listing every problem."""
    return parse_scenario(read_text(path), filename=str(path), base=Path(path).parent)


def parse_scenario(
    text: str, *, filename: str = "<scenario>", base: Path | None = None
) -> Scenario:
    """`base`: the folder a relative `line.flow` path is read from."""
    return read_scenario(text, filename=filename, base=base)[0]


def read_scenario(
    text: str, *, filename: str = "<scenario>", base: Path | None = None
) -> tuple[Scenario, dict[str, Any], Marks]:
    """The scenario, the file's plain data, and where each of its values stands."""
    data, marks = compose(text, filename)
    try:
        model = _ScenarioFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(shape_problems(e, marks, filename)) from None
    scenario = _to_scenario(model, base or Path("."))
    findings = check_scenario(scenario)
    if findings:
        raise ConfigError([_locate(f, marks, filename) for f in findings])
    return scenario, data, marks


# -- locating findings


def _locate(f: Finding, marks: Marks, filename: str) -> Problem:
    return problem_at(f.path, f.message, marks, filename, f.hint)


# -- models to domain


def _duration(d: float | _Dist) -> Distribution:
    if isinstance(d, float | int):
        return Fixed(float(d))
    if isinstance(d, _Fixed):
        return Fixed(d.value)
    if isinstance(d, _Exponential):
        return Exponential(d.mean)
    if isinstance(d, _LogNormal):
        return LogNormal(d.mean, d.sd)
    return Empirical(tuple(d.values))


def _patience(p: float | _Dist | Literal["never"]) -> Distribution:
    return Fixed(math.inf) if p == "never" else _duration(p)


def _to_scenario(m: _ScenarioFile, base: Path) -> Scenario:
    patience = m.durations.patience
    line = m.line
    return Scenario(
        line=None
        if line is None
        else LineInfo(
            line.number, line.timezone, None if line.flow is None else str(base / line.flow)
        ),
        name=m.name,
        hours=m.days * 24,
        calls_per_day=m.arrivals.calls_per_day,
        hourly_profile=tuple(m.arrivals.hourly_profile),
        weekly_profile=tuple(m.arrivals.weekly_profile),
        start_weekday=WEEKDAYS.index(m.start_weekday),
        languages=tuple(
            Language(tag, lang.name, lang.share, _duration(lang.handle) if lang.handle else None)
            for tag, lang in m.languages.items()
        ),
        skills=tuple(m.skills),
        caller_types=tuple(
            CallerType(
                c.type,
                c.share,
                c.priority,
                c.queue,
                c.languages,
                _patience(c.patience) if c.patience is not None else None,
            )
            for c in m.callers
        ),
        queue_patience={q.name: _patience(q.patience) for q in m.queues if q.patience is not None},
        queues=tuple(
            Queue(
                q.name,
                tuple(EscalationStep(Requirement.of(s.require), s.seconds) for s in q.steps),
                Overflow(q.overflow.queue, q.overflow.fallback) if q.overflow else None,
                q.wrap_up_seconds,
                q.aging_per_minute,
            )
            for q in m.queues
        ),
        agent_groups=tuple(
            AgentGroup(
                g.name,
                g.count,
                dict(g.skills),
                tuple(
                    QueueMembership(x) if isinstance(x, str) else QueueMembership(x.queue, x.tier)
                    for x in g.queues
                ),
                tuple(s.to_shift() for s in g.shifts) if g.shifts else (ALWAYS,),
                g.first,
            )
            for g in m.agents
        ),
        handle=_duration(m.durations.handle),
        ivr=_duration(m.durations.ivr),
        patience=None if patience == "never" else _patience(patience),
        answer_within=m.service_level.answer_within,
        service_target=m.service_level.target,
        answer_delay=m.routing.answer_delay,
        policy=m.routing.policy,
        offer_timeout=m.routing.offer_timeout,
        dispositions=tuple(dict.fromkeys(m.routing.dispositions)),
        callbacks=Callbacks(m.callbacks.offer_after_seconds, m.callbacks.accept_share)
        if m.callbacks
        else None,
        seed=m.seed,
    )
