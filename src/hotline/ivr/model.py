"""A call flow as the interpreter sees it: nodes, conditions and the flow's settings.

Plain frozen values, built by `flow_file` from YAML after validation; sub-flows are already
inlined (their nodes carry the call site's name as a prefix, `site/node`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hotline.ivr.catalog import Catalog
from hotline.ivr.checksums import Checksum

# -- conditions over call variables


@dataclass(frozen=True, slots=True)
class VarTest:
    """`{var: caller_country, in: [US, PR]}`; numbers compare as numbers."""

    var: str
    op: str  # equals, not_equals, in, not_in, matches, exists, gt, gte, lt, lte
    value: str | float | bool | tuple[str, ...] | None = None

    def holds(self, variables: Mapping[str, str], at: datetime) -> bool:
        v = variables.get(self.var)
        op, want = self.op, self.value
        if op == "exists":
            return (v is not None and v != "") == bool(want)
        if v is None:
            return op in ("not_equals", "not_in")
        if op == "equals":
            return v == str(want)
        if op == "not_equals":
            return v != str(want)
        if op == "in":
            return isinstance(want, tuple) and v in want
        if op == "not_in":
            return isinstance(want, tuple) and v not in want
        if op == "matches":
            return re.fullmatch(str(want), v) is not None
        try:
            x, y = float(v), float(str(want))
        except ValueError:
            return False
        return {"gt": x > y, "gte": x >= y, "lt": x < y, "lte": x <= y}.get(op, False)


@dataclass(frozen=True, slots=True)
class TimeOfDay:
    """`{time: {from: "22:00", to: "06:00", days: weekdays}}`: the call's local time lies in
    [from, to), across midnight when to < from; days 0 = Monday."""

    start_minute: int
    end_minute: int
    days: frozenset[int]

    def holds(self, variables: Mapping[str, str], at: datetime) -> bool:
        minute = at.hour * 60 + at.minute
        day = at.weekday()
        if self.start_minute <= self.end_minute:
            return day in self.days and self.start_minute <= minute < self.end_minute
        if minute >= self.start_minute:
            return day in self.days
        # after midnight: the period began the day before
        return (day - 1) % 7 in self.days and minute < self.end_minute


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]

    def holds(self, variables: Mapping[str, str], at: datetime) -> bool:
        return all(p.holds(variables, at) for p in self.parts)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def holds(self, variables: Mapping[str, str], at: datetime) -> bool:
        return any(p.holds(variables, at) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition

    def holds(self, variables: Mapping[str, str], at: datetime) -> bool:
        return not self.part.holds(variables, at)


Condition = VarTest | TimeOfDay | AllOf | AnyOf | Not


# -- nodes


@dataclass(frozen=True, slots=True)
class Gathering:
    """How a node that waits for the caller asks again."""

    timeout: float
    retries: int
    invalid_prompt: str | None
    no_input_prompt: str | None


@dataclass(frozen=True, slots=True)
class SayNode:
    prompt: str
    next: str


@dataclass(frozen=True, slots=True)
class PlayNode:
    url: str
    next: str


@dataclass(frozen=True, slots=True)
class Choice:
    key: str | None  # DTMF
    words: str | None  # prompt id of the words a caller may say instead (`a|b|c`)
    next: str


@dataclass(frozen=True, slots=True)
class MenuNode:
    prompt: str
    choices: tuple[Choice, ...]
    default: str  # after the last retry
    ask: Gathering


@dataclass(frozen=True, slots=True)
class LanguageOption:
    key: str
    language: str | None  # set this language, or
    next: str | None  # go to another language menu ("more languages")
    announce_in: str | None  # announce a language that has no prompts in another one


@dataclass(frozen=True, slots=True)
class LanguageNode:
    options: tuple[LanguageOption, ...]
    detect: bool  # offer the language of the caller's region first
    next: str
    ask: Gathering


@dataclass(frozen=True, slots=True)
class CollectNode:
    prompt: str
    var: str
    min_length: int
    max_length: int
    pattern: str | None
    checksum: Checksum | None
    finish_on_key: str
    secret: bool  # never logged, shown or spoken; erased after the look-up that uses it
    next: str
    failed: str
    ask: Gathering


@dataclass(frozen=True, slots=True)
class SetNode:
    values: tuple[tuple[str, str | int], ...]  # str: template; int: add to the number
    next: str


@dataclass(frozen=True, slots=True)
class Case:
    when: Condition
    next: str


@dataclass(frozen=True, slots=True)
class BranchNode:
    cases: tuple[Case, ...]
    otherwise: str


LOCKOUT_MINUTES_MAX = 7 * 24 * 60  # the longest window a lockout counts failures in


@dataclass(frozen=True, slots=True)
class Lockout:
    """At most `failures` look-ups answered "not found" per `key` (a template, e.g.
    "{agency_id}") within `minutes`, over every call on the platform; one more is not
    asked and is answered "locked" until the oldest failure is that old."""

    key: str
    failures: int
    minutes: float


@dataclass(frozen=True, slots=True)
class LookupNode:
    connector: str
    operation: str
    params: tuple[tuple[str, str], ...]  # name -> template
    save: str | None  # result fields land in `save.field`
    next: str  # found
    not_found: str
    error: str
    lockout: Lockout | None = None
    locked: str = ""  # where a locked key leads ("": to `not_found`)
    keep: tuple[str, ...] = ()  # the result's fields saved; the others never reach the call


@dataclass(frozen=True, slots=True)
class CallbackNode:
    prompt: str
    queue: str  # template; its estimated wait decides whether to offer
    min_wait: float
    key: str
    next: str


@dataclass(frozen=True, slots=True)
class EnqueueNode:
    queue: str  # template, e.g. "{language}"
    priority: int
    attributes: tuple[tuple[str, str], ...]
    prompt: str | None
    callback_prompt: str | None


@dataclass(frozen=True, slots=True)
class TransferNode:
    number: str
    prompt: str | None


@dataclass(frozen=True, slots=True)
class VoicemailNode:
    prompt: str | None
    max_seconds: int


@dataclass(frozen=True, slots=True)
class HangupNode:
    prompt: str | None


Node = (
    SayNode
    | PlayNode
    | MenuNode
    | LanguageNode
    | CollectNode
    | SetNode
    | BranchNode
    | LookupNode
    | CallbackNode
    | EnqueueNode
    | TransferNode
    | VoicemailNode
    | HangupNode
)
TERMINAL = (EnqueueNode, TransferNode, VoicemailNode, HangupNode)


def successors(node: Node) -> tuple[str, ...]:
    """The nodes a node can lead to."""
    if isinstance(node, SayNode | PlayNode | SetNode | CallbackNode):
        return (node.next,)
    if isinstance(node, MenuNode):
        return (*(c.next for c in node.choices), node.default)
    if isinstance(node, LanguageNode):
        return (node.next, *(o.next for o in node.options if o.next))
    if isinstance(node, CollectNode):
        return (node.next, node.failed)
    if isinstance(node, BranchNode):
        return (*(c.next for c in node.cases), node.otherwise)
    if isinstance(node, LookupNode):
        return (node.next, node.not_found, node.error, *((node.locked,) if node.locked else ()))
    return ()


@dataclass(frozen=True, slots=True)
class LanguageDecl:
    name: str
    interpreted: bool  # no full prompt text: callers go to the interpreter path


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    version: int
    start: str
    nodes: Mapping[str, Node]
    languages: Mapping[str, LanguageDecl]
    default_language: str
    catalog: Catalog
    queues: frozenset[str]
    connectors: frozenset[str]
    fallback_queue: str  # where a caller goes if the flow runs away (max_steps)
    interpreter: str | None  # node for callers of an interpreted language
    min_confidence: float = 0.5
    max_steps: int = 200
    source: str = field(default="<flow>", compare=False)

    def voiced(self, language: str) -> bool:
        decl = self.languages.get(language)
        return decl is not None and not decl.interpreted
