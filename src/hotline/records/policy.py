"""The disclosure policy: which fields of a case record a role may see, for the purpose it
states, at the caller's verification level. Default deny; every denial has a reason.

The file is read and checked once (every problem reported as `file:line:column: ...`), and
every answer is computed then: a decision afterwards is a dictionary look-up per field.
The format, the semantics and the precedence of reasons are documented in docs/policy.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.errors import ConfigError, PolicyError, Problem
from hotline.service.roles import ROLES
from hotline.yamlfile import Loc, Marks, compose, problem_at, read_text, shape_problems

DEFAULT_DENY = "default deny"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Model):
    id: str = Field(min_length=1)
    description: str = ""
    roles: list[str] = Field(min_length=1)
    record: str
    purposes: list[str] | Literal["all"]
    min_verification: str
    fields: list[str] | Literal["all"]
    withhold_reason: str | None = None


class _PolicyFile(_Model):
    description: str = ""
    verification_levels: list[str] = Field(min_length=1)
    purposes: dict[str, str] = Field(min_length=1)
    records: dict[str, list[str]] = Field(min_length=1)
    rules: list[_Rule]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as checked: who, which record type, for what, from which level, which fields."""

    id: str
    roles: frozenset[str]
    record: str
    purposes: frozenset[str]
    min_level: int  # index into the policy's verification levels
    fields: frozenset[str]
    withhold_reason: str | None  # told when only the caller's verification is missing
    where: str  # file:line


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer to "may `role` see `field` of a `record` for `purpose` at `verification`?"."""

    role: str
    record: str
    field: str
    purpose: str
    verification: str
    allowed: bool
    rule: str | None  # the rule that disclosed the field; None: default deny
    where: str  # file:line of that rule, or of the rule the denial's reason comes from
    reason: str

    @property
    def decided_by(self) -> str:
        return self.rule if self.rule is not None else DEFAULT_DENY

    def sentence(self) -> str:
        question = (
            f"role {self.role} {{}} see field {self.field} of {self.record} records for "
            f"purpose {self.purpose} at verification {self.verification}"
        )
        if self.allowed:
            return f"Yes: {question.format('may')}, by rule {self.rule} ({self.where})."
        return f"No: {question.format('may not')}: {DEFAULT_DENY}, {self.reason} ({self.where})."


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What one look-up may show: `disclosed` values, a reason for every other field of the
    record, and the rules that disclosed something (in the file's order)."""

    disclosed: Mapping[str, object]
    withheld: Mapping[str, str]
    rules: tuple[str, ...]


class Policy:
    """A checked disclosure policy. Build it with `Policy.load` or `Policy.from_text`."""

    def __init__(
        self,
        *,
        source: str,
        levels: tuple[str, ...],
        purposes: Mapping[str, str],
        records: Mapping[str, tuple[str, ...]],
        rules: tuple[Rule, ...],
    ) -> None:
        self.source = source
        self.levels = levels
        self.purposes = dict(purposes)
        self.records = dict(records)
        self.rules = rules
        self._order = {r.id: i for i, r in enumerate(rules)}
        # (role, record, purpose, level) -> field -> answer, for every question there is
        self._answers: dict[tuple[str, str, str, str], dict[str, Explanation]] = {
            (role, record, purpose, level): {
                f: self._answer(role, record, f, purpose, level) for f in fields
            }
            for role in ROLES
            for record, fields in self.records.items()
            for purpose in self.purposes
            for level in levels
        }

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and check a policy file; a ConfigError lists every problem with file:line."""
        return cls.from_text(read_text(path), filename=str(path))

    @classmethod
    def from_text(cls, text: str, *, filename: str = "<policy>") -> Policy:
        data, marks = compose(text, filename)
        try:
            model = _PolicyFile.model_validate(data)
        except ValidationError as e:
            raise ConfigError(shape_problems(e, marks, filename)) from None
        return _Checker(model, marks, filename).policy()

    # -- questions

    def decide(
        self,
        role: str,
        record_type: str,
        purpose: str,
        verification: str,
        record: Mapping[str, object],
    ) -> Disclosure:
        """The fields of `record` this request may see; every other field withheld with why."""
        answers = self._answers_for(role, record_type, purpose, verification)
        disclosed: dict[str, object] = {}
        withheld: dict[str, str] = {}
        used: set[str] = set()
        for name, value in record.items():
            a = answers.get(name)
            if a is None:
                withheld[name] = _undeclared(name, record_type)
            elif a.rule is not None:
                disclosed[name] = value
                used.add(a.rule)
            else:
                withheld[name] = a.reason
        return Disclosure(disclosed, withheld, tuple(sorted(used, key=self._order.__getitem__)))

    def explain(
        self, role: str, record_type: str, field: str, purpose: str, verification: str
    ) -> Explanation:
        """Whether one field is disclosed for this request, which rule decided, and why."""
        answers = self._answers_for(role, record_type, purpose, verification)
        found = answers.get(field)
        if found is not None:
            return found
        return Explanation(role, record_type, field, purpose, verification, False, None,
                           self.source, _undeclared(field, record_type))  # fmt: skip

    def _answers_for(
        self, role: str, record_type: str, purpose: str, verification: str
    ) -> dict[str, Explanation]:
        found = self._answers.get((role, record_type, purpose, verification))
        if found is not None:
            return found
        for value, what, known in (
            (role, "role", ROLES),
            (record_type, "record type", tuple(self.records)),
            (purpose, "purpose", tuple(self.purposes)),
            (verification, "verification level", self.levels),
        ):
            if value not in known:
                raise PolicyError(
                    f"unknown {what} {value!r} in a disclosure request: "
                    f"{_one_of(known)} (policy {self.source})"
                )
        raise AssertionError("every known question is answered at load")  # pragma: no cover

    def _answer(self, role: str, record: str, field: str, purpose: str, level: str) -> Explanation:
        """The answer to one question, from the rules (see docs/policy.md for the order)."""

        def no(where: str, reason: str) -> Explanation:
            return Explanation(role, record, field, purpose, level, False, None, where, reason)

        at = self.levels.index(level)
        mine = [r for r in self.rules if r.record == record and role in r.roles]
        naming = [r for r in mine if field in r.fields]
        for r in naming:
            if purpose in r.purposes and at >= r.min_level:
                return Explanation(role, record, field, purpose, level, True, r.id, r.where,
                                   f"allowed by rule {r.id}")  # fmt: skip
        if not mine:
            return no(self.source, f"no rule for role {role} on {record} records")
        if not naming:
            return no(self.source, f"not in any rule for role {role} on {record} records")
        # the rule that came closest: the purpose allowed, then the least verification needed
        r = min(naming, key=lambda r: (purpose not in r.purposes, r.min_level, self._order[r.id]))
        needs = f"verification {self.levels[r.min_level]}"
        if purpose not in r.purposes:
            allowed = ", ".join(sorted(r.purposes))
            reason = f"purpose {purpose} not allowed: rule {r.id} allows {allowed}"
            if at < r.min_level:
                reason += f" (and needs {needs})"
        else:  # only the caller's verification stands between the agent and the field
            reason = f"verification too low: needs {self.levels[r.min_level]} (rule {r.id})"
            if r.withhold_reason:
                reason += f"; {r.withhold_reason}"
        return no(r.where, reason)


def _undeclared(field: str, record: str) -> str:
    return f"undeclared: the policy declares no field {field} for {record} records"


def _one_of(known: tuple[str, ...] | list[str]) -> str:
    return "one of " + ", ".join(known) if known else "none declared"


class _Checker:
    """The meaning checks of a file whose shape is right; every problem at once."""

    def __init__(self, model: _PolicyFile, marks: Marks, filename: str) -> None:
        self.m, self.marks, self.filename = model, marks, filename
        self.problems: list[Problem] = []

    def problem(self, at: Loc, message: str, hint: str | None = None) -> None:
        self.problems.append(problem_at(at, message, self.marks, self.filename, hint))

    def line(self, at: Loc) -> int:
        return self.marks.get(at, (1, 1))[0]

    def policy(self) -> Policy:
        m = self.m
        self.unique(m.verification_levels, ("verification_levels",), "verification level")
        for record, fields in m.records.items():
            if not fields:
                self.problem(("records", record), "a record type needs at least one field")
            self.unique(fields, ("records", record), "field")
        rules = []
        first: dict[str, int] = {}
        for i, r in enumerate(m.rules):
            if r.id in first:
                self.problem(("rules", i, "id"), f"rule id {r.id!r} is used twice (first on line "
                             f"{first[r.id]})", "give each rule its own id")  # fmt: skip
            first.setdefault(r.id, self.line(("rules", i, "id")))
            rule = self.rule(i, r)
            if rule is not None:
                rules.append(rule)
        if self.problems:
            raise ConfigError(self.problems)
        return Policy(
            source=self.filename,
            levels=tuple(m.verification_levels),
            purposes=m.purposes,
            records={k: tuple(v) for k, v in m.records.items()},
            rules=tuple(rules),
        )

    def unique(self, names: list[str], at: Loc, what: str) -> None:
        seen: set[str] = set()
        for j, name in enumerate(names):
            if name in seen:
                self.problem((*at, j), f"{what} {name!r} is listed twice", "keep one")
            seen.add(name)

    def rule(self, i: int, r: _Rule) -> Rule | None:
        at: Loc = ("rules", i)
        before = len(self.problems)
        self.known(r.roles, (*at, "roles"), "role", ROLES)
        declared = self.m.records.get(r.record)
        if declared is None:
            self.problem((*at, "record"), f"unknown record type {r.record!r}",
                         _one_of(list(self.m.records)) + " (declared under records:)")  # fmt: skip
        if isinstance(r.purposes, list):
            purposes = r.purposes
            self.nonempty(purposes, (*at, "purposes"), "purposes")
            self.known(purposes, (*at, "purposes"), "purpose", tuple(self.m.purposes))
        else:
            purposes = list(self.m.purposes)
        levels = self.m.verification_levels
        if r.min_verification not in levels:
            self.problem((*at, "min_verification"),
                         f"unknown verification level {r.min_verification!r}",
                         _one_of(levels) + " (declared under verification_levels:)")  # fmt: skip
        if isinstance(r.fields, list):
            fields = r.fields
            self.nonempty(fields, (*at, "fields"), "fields")
            if declared is not None:
                self.known(fields, (*at, "fields"), f"field of {r.record} records",
                           tuple(declared))  # fmt: skip
        else:
            fields = list(declared or ())
        if len(self.problems) > before:
            return None
        return Rule(
            id=r.id,
            roles=frozenset(r.roles),
            record=r.record,
            purposes=frozenset(purposes),
            min_level=levels.index(r.min_verification),
            fields=frozenset(fields),
            withhold_reason=r.withhold_reason,
            where=f"{self.filename}:{self.line(at)}",
        )

    def nonempty(self, names: list[str], at: Loc, what: str) -> None:
        if not names:
            self.problem(at, f"an empty list of {what} allows nothing",
                         f"name the {what}, or write `{what}: all`")  # fmt: skip

    def known(self, names: list[str], at: Loc, what: str, allowed: tuple[str, ...]) -> None:
        for j, name in enumerate(names):
            if name not in allowed:
                self.problem((*at, j), f"unknown {what} {name!r}", _one_of(allowed))
