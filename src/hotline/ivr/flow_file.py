"""Flow files (YAML): read a line's flow, its prompt catalogs and included sub-flows, check
everything, and report every problem at once as `file:line:column: message (fix: ...)`.

Sub-flows are inlined where they are used: node `n` of sub-flow `verify` called from node
`check` becomes `check/n`, and `next: return` in the sub-flow leads to the call's `next`.
The format is documented in docs/flows.md."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from hotline.errors import ConfigError, Problem
from hotline.ivr.catalog import Catalog
from hotline.ivr.checksums import CHECKSUMS, Checksum
from hotline.ivr.model import (
    LOCKOUT_MINUTES_MAX,
    AllOf,
    AnyOf,
    BranchNode,
    CallbackNode,
    Case,
    Choice,
    CollectNode,
    Condition,
    EnqueueNode,
    Flow,
    Gathering,
    HangupNode,
    LanguageDecl,
    LanguageNode,
    LanguageOption,
    Lockout,
    LookupNode,
    MenuNode,
    Node,
    Not,
    PlayNode,
    SayNode,
    SetNode,
    TimeOfDay,
    TransferNode,
    VarTest,
    VoicemailNode,
)
from hotline.sim.scenario import minute_of_day, weekday_set
from hotline.yamlfile import Loc, Marks, compose, problem_at, read_text, shape_problems

RETURN = "return"


VERSION_MAX = 2**31 - 1  # a flow's version number (the store keeps a 32-bit integer)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)  # fmt: skip


Key = str | int  # YAML reads an unquoted 1 as a number


class _Ask(_Model):
    timeout: float | None = Field(default=None, gt=0, le=60)
    retries: int | None = Field(default=None, ge=0, le=5)
    invalid: str | None = "invalid_entry"
    no_input: str | None = "no_input"


class _Choice(_Model):
    key: Key | None = None
    words: str | None = None
    next: str


class _Menu(_Ask):
    prompt: str
    choices: list[_Choice] = Field(min_length=1)
    default: str


class _Option(_Model):
    key: Key
    language: str | None = None
    next: str | None = None
    announce_in: str | None = None


class _Language(_Ask):
    options: list[_Option] = Field(min_length=1)
    detect: bool = False


class _Collect(_Ask):
    prompt: str
    var: str = Field(pattern=r"^[A-Za-z_][\w]*$")
    min_length: int = Field(default=1, ge=1)
    max_length: int = Field(ge=1, le=32)
    pattern: str | None = None
    checksum: str | None = None
    finish_on_key: str = Field(default="#", pattern=r"^[#*]?$")
    secret: bool = False


class _Add(_Model):
    add: int


class _Lockout(_Model):
    key: str = Field(min_length=1, max_length=200)
    failures: int = Field(ge=1, le=100)
    minutes: float = Field(gt=0, le=LOCKOUT_MINUTES_MAX)


_FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class _Lookup(_Model):
    connector: str
    operation: str
    params: dict[str, str] = Field(default_factory=dict)
    save: str | None = None
    keep: list[_FieldName] | None = Field(default=None, min_length=1, max_length=32)
    lockout: _Lockout | None = None


class _Callback(_Model):
    prompt: str
    queue: str
    min_wait: float = Field(ge=0)
    key: Key = "1"

    @field_validator("key")
    @classmethod
    def _one_key(cls, v: Key) -> Key:
        if str(v) not in tuple("0123456789*"):
            raise ValueError("one key: a digit or *")
        return v


class _Enqueue(_Model):
    queue: str
    priority: int = Field(default=0, ge=0, le=100)
    attributes: dict[str, str] = Field(default_factory=dict)
    prompt: str | None = None
    callback_prompt: str | None = None


class _Transfer(_Model):
    number: str = Field(pattern=r"^\+[1-9]\d{6,14}$")
    prompt: str | None = None


class _Voicemail(_Model):
    prompt: str | None = None
    max_seconds: int = Field(default=120, ge=5, le=600)


# One model per node kind; the kind is the node's one key among KINDS.
class _SayN(_Model):
    say: str
    next: str


class _PlayN(_Model):
    play: str
    next: str


class _MenuN(_Model):
    menu: _Menu


class _LanguageN(_Model):
    language: _Language
    next: str


class _CollectN(_Model):
    collect: _Collect
    next: str
    failed: str


class _SetN(_Model):
    set: dict[str, str | int | float | bool | _Add] = Field(min_length=1)
    next: str


class _BranchN(_Model):
    branch: list[dict[str, Any]] = Field(min_length=1)
    otherwise: str


class _LookupN(_Model):
    lookup: _Lookup
    next: str
    not_found: str
    error: str
    locked: str = ""


class _CallbackN(_Model):
    offer_callback: _Callback
    next: str


class _EnqueueN(_Model):
    enqueue: _Enqueue


class _TransferN(_Model):
    transfer: _Transfer


class _VoicemailN(_Model):
    voicemail: _Voicemail


class _HangupN(_Model):
    hangup: str | None = None


class _SubflowN(_Model):
    subflow: str
    next: str


KINDS: dict[str, type[_Model]] = {
    "say": _SayN,
    "play": _PlayN,
    "menu": _MenuN,
    "language": _LanguageN,
    "collect": _CollectN,
    "set": _SetN,
    "branch": _BranchN,
    "lookup": _LookupN,
    "offer_callback": _CallbackN,
    "enqueue": _EnqueueN,
    "transfer": _TransferN,
    "voicemail": _VoicemailN,
    "hangup": _HangupN,
    "subflow": _SubflowN,
}


class _LanguageDecl(_Model):
    name: str
    interpreted: bool = False


class _Defaults(_Model):
    timeout: float = Field(default=6.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    max_steps: int = Field(default=200, ge=10, le=10_000)


def _node_ids(v: dict[str, Any]) -> dict[str, Any]:
    for k in v:
        if not isinstance(k, str) or "/" in k or k == RETURN:
            raise ValueError(f"{k!r} cannot name a node (no '/', not 'return')")
    return v


class _Subflow(_Model):
    start: str
    nodes: dict[str, Any] = Field(min_length=1)

    @field_validator("nodes")
    @classmethod
    def _ids(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _node_ids(v)


# a language's tag (en, yue, es-MX, pt_BR): it names the language's prompt catalog file,
# so it may not name any other file
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,34}")
# a file the flow names (an include, the catalog's folder): a path relative to the flow's
# folder, with no NUL and no name longer than a file system allows
_FileName = Annotated[str, StringConstraints(min_length=1, max_length=1024,
                                             pattern=r"^[^\x00]*$")]  # fmt: skip


class _FlowFile(_Model):
    flow: str
    version: int = Field(ge=1, le=VERSION_MAX)
    description: str = ""
    start: str
    default_language: str
    languages: dict[str, _LanguageDecl] = Field(min_length=1)
    catalog: _FileName
    queues: list[str] = Field(min_length=1)
    fallback_queue: str
    interpreter: str | None = None
    connectors: list[str] = Field(default_factory=list)
    defaults: _Defaults = Field(default_factory=_Defaults)
    include: list[_FileName] = Field(default_factory=list)
    subflows: dict[str, _Subflow] = Field(default_factory=dict)
    nodes: dict[str, Any] = Field(min_length=1)

    @field_validator("nodes")
    @classmethod
    def _ids(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _node_ids(v)

    @field_validator("languages")
    @classmethod
    def _tags(cls, v: dict[str, _LanguageDecl]) -> dict[str, _LanguageDecl]:
        for tag in v:
            if not _TAG.fullmatch(tag):
                raise ValueError(f"{tag[:40]!r} is not a language tag: letters, digits, - and _"
                                 ", at most 35 (it names the language's catalog file)")  # fmt: skip
        return v

    @field_validator("catalog", "include")
    @classmethod
    def _names(cls, v: str | list[str]) -> str | list[str]:
        for path in [v] if isinstance(v, str) else v:
            if any(len(part.encode()) > 255 for part in Path(path).parts):
                raise ValueError("a file or folder name is at most 255 bytes")
        return v


class _IncludeFile(_Model):
    description: str = ""
    subflows: dict[str, _Subflow] = Field(min_length=1)


# -- where things are written


@dataclass(frozen=True, slots=True)
class Origin:
    file: str
    marks: Marks
    loc: Loc

    def problem(self, message: str, *, at: Loc = (), hint: str | None = None) -> Problem:
        return problem_at((*self.loc, *at), message, self.marks, self.file, hint)


@dataclass
class Built:
    """A flow as read, before its meaning is checked (the checks module's input)."""

    model: _FlowFile
    origin: Origin  # the flow file's top level
    nodes: dict[str, Node]
    origins: dict[str, Origin]  # node id -> where it is written
    texts: dict[str, dict[str, str]]  # language -> prompt -> text
    text_origins: dict[str, Origin]  # language -> its catalog file
    broken: bool  # some node could not be read (already reported)
    checksums: Mapping[str, Checksum]


# -- reading


def load_flow(
    path: str | Path,
    *,
    checksums: Mapping[str, Checksum] = CHECKSUMS,
    line_queues: Collection[str] | None = None,
    source: str | None = None,
    confined: bool = False,
    desk_connectors: Collection[str] = (),
) -> Flow:
    """Read and validate a flow file with its catalogs; raise ConfigError with every problem.
    `line_queues`: the queues the line really has (each queue the flow declares must be one);
    `desk_connectors`: those of the agents' record look-ups (no flow may declare one);
    `source`: the flow's text (a version kept in the store, an upload) instead of the
    file's, read as if it were at `path` (its catalogs and includes beside it); `confined`:
    its includes and catalog must be inside the folder of `path` (a text from a web page
    never reads other files of the server)."""
    from hotline.ivr.checks import check_flow

    built, problems = read_flow(path, checksums=checksums, source=source, confined=confined)
    if built is not None:
        problems += check_flow(built, line_queues, desk_connectors)
    if problems:
        raise ConfigError(problems)
    assert built is not None
    m = built.model
    return Flow(
        name=m.flow,
        version=m.version,
        start=m.start,
        nodes=built.nodes,
        languages={k: LanguageDecl(v.name, v.interpreted) for k, v in m.languages.items()},
        default_language=m.default_language,
        catalog=Catalog(built.texts),
        queues=frozenset(m.queues),
        connectors=frozenset(m.connectors),
        fallback_queue=m.fallback_queue,
        interpreter=m.interpreter,
        min_confidence=m.defaults.min_confidence,
        max_steps=m.defaults.max_steps,
        source=str(path),
    )


def validate_flow(
    path: str | Path,
    *,
    checksums: Mapping[str, Checksum] = CHECKSUMS,
    line_queues: Collection[str] | None = None,
    source: str | None = None,
) -> list[Problem]:
    """Every problem with a flow file (empty when it is good)."""
    try:
        load_flow(path, checksums=checksums, line_queues=line_queues, source=source)
    except ConfigError as e:
        return e.problems
    return []


def read_flow(
    path: str | Path,
    *,
    checksums: Mapping[str, Checksum] = CHECKSUMS,
    source: str | None = None,
    confined: bool = False,
) -> tuple[Built | None, list[Problem]]:
    filename = str(path)
    data, marks = compose(read_text(path) if source is None else source, filename)
    try:
        model = _FlowFile.model_validate(data)
    except ValidationError as e:
        return None, shape_problems(e, marks, filename)
    top = Origin(filename, marks, ())
    problems: list[Problem] = []
    subflows: dict[str, tuple[_Subflow, Origin]] = {
        name: (sf, Origin(filename, marks, ("subflows", name)))
        for name, sf in model.subflows.items()
    }
    folder = Path(path).parent
    outside: list[tuple[Loc, str]] = [(("include", i), inc) for i, inc in enumerate(model.include)]
    outside.append((("catalog",), model.catalog))
    outside = [(at, p) for at, p in outside if not (folder / p).resolve().is_relative_to(
        folder.resolve())] if confined else []  # fmt: skip
    if outside:
        return None, [top.problem(f"{p} is outside the flow's folder", at=at,
                                  hint="name files in the flow file's folder or below it")
                      for at, p in outside]  # fmt: skip
    for i, inc in enumerate(model.include):
        _include(folder / inc, top, ("include", i), subflows, problems)
    texts, text_origins = _catalogs(folder / model.catalog, model, top, problems)
    before = len(problems)
    reader = _NodeReader(checksums, problems)
    raw = {
        nid: reader.node(v, Origin(filename, marks, ("nodes", nid)))
        for nid, v in model.nodes.items()
    }
    nodes: dict[str, Node] = {}
    origins: dict[str, Origin] = {}
    for nid, (node, origin) in raw.items():
        _place(nid, node, origin, "", subflows, reader, nodes, origins, problems, ())
    d = model.defaults
    for nid, node in nodes.items():
        if isinstance(node, MenuNode | LanguageNode | CollectNode):
            ask = node.ask
            filled = Gathering(
                ask.timeout if ask.timeout > 0 else d.timeout,
                ask.retries if ask.retries >= 0 else d.retries,
                ask.invalid_prompt,
                ask.no_input_prompt,
            )
            nodes[nid] = replace(node, ask=filled)
    broken = len(problems) > before
    built = Built(model, top, nodes, origins, texts, text_origins, broken, checksums)
    return built, problems


def _include(
    path: Path,
    top: Origin,
    at: Loc,
    subflows: dict[str, tuple[_Subflow, Origin]],
    problems: list[Problem],
) -> None:
    try:
        data, marks = compose(read_text(path), str(path))
        inc = _IncludeFile.model_validate(data)
    except ConfigError as e:
        problems += [
            top.problem(
                f"cannot include {path}",
                at=at,
                hint="check the path; it is relative to the flow file",
            ),
            *e.problems,
        ]
        return
    except ValidationError as e:
        problems += shape_problems(e, marks, str(path))
        return
    for name, sf in inc.subflows.items():
        if name in subflows:
            problems.append(
                Origin(str(path), marks, ("subflows", name)).problem(
                    f"sub-flow {name!r} is defined twice", hint="rename one"
                )
            )
        subflows[name] = (sf, Origin(str(path), marks, ("subflows", name)))


def _is_file(path: Path) -> bool:
    """A regular file there (one that cannot be looked at, as too long a path or one not
    to be read, is not one)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _catalogs(
    directory: Path, model: _FlowFile, top: Origin, problems: list[Problem]
) -> tuple[dict[str, dict[str, str]], dict[str, Origin]]:
    texts: dict[str, dict[str, str]] = {}
    origins: dict[str, Origin] = {}
    for tag, decl in model.languages.items():
        path = directory / f"{tag}.yaml"
        if not _is_file(path):
            if not decl.interpreted:
                problems.append(
                    top.problem(
                        f"no prompt catalog {path} for language {tag!r}",
                        at=("languages", tag),
                        hint=f"write {path.name} with every prompt, or mark the language "
                        "`interpreted: true`",
                    )
                )
            texts[tag] = {}
            continue
        try:
            data, marks = compose(read_text(path), str(path))
        except ConfigError as e:
            problems += e.problems
            texts[tag] = {}
            continue
        origins[tag] = Origin(str(path), marks, ())
        good: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
                problems.append(
                    origins[tag].problem(
                        "a prompt is a name and a non-empty text",
                        at=(key,),
                        hint='write name: "text"',
                    )
                )
            else:
                good[key] = value
        texts[tag] = good
    return texts, origins


class _NodeReader:
    """Turns one node's YAML into a model node (refs still as written)."""

    def __init__(self, checksums: Mapping[str, Checksum], problems: list[Problem]) -> None:
        self.checksums = checksums
        self.problems = problems

    def node(self, raw: Any, origin: Origin) -> tuple[Node | _SubflowN | None, Origin]:
        if not isinstance(raw, dict):
            self.problems.append(origin.problem("a node is a mapping", hint="e.g. say: welcome"))
            return None, origin
        kinds = [k for k in raw if k in KINDS]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else "found none"
            self.problems.append(
                origin.problem(
                    f"a node has exactly one kind ({found})",
                    hint="one of " + ", ".join(KINDS),
                )
            )
            return None, origin
        try:
            shape = KINDS[kinds[0]].model_validate(raw)
        except ValidationError as e:
            self.problems += shape_problems(e, origin.marks, origin.file, origin.loc)
            return None, origin
        return self.build(shape, origin), origin

    def build(self, m: _Model, o: Origin) -> Node | _SubflowN | None:
        if isinstance(m, _SayN):
            return SayNode(m.say, m.next)
        if isinstance(m, _PlayN):
            return PlayNode(m.play, m.next)
        if isinstance(m, _MenuN):
            x = m.menu
            choices = tuple(Choice(_key(c.key), c.words, c.next) for c in x.choices)
            return MenuNode(x.prompt, choices, x.default, _ask(x))
        if isinstance(m, _LanguageN):
            y = m.language
            options = tuple(
                LanguageOption(str(p.key), p.language, p.next, p.announce_in) for p in y.options
            )
            return LanguageNode(options, y.detect, m.next, _ask(y))
        if isinstance(m, _CollectN):
            return self.collect(m, o)
        if isinstance(m, _SetN):
            values = tuple(
                (k, v.add if isinstance(v, _Add) else _text(v)) for k, v in m.set.items()
            )
            return SetNode(values, m.next)
        if isinstance(m, _BranchN):
            cases = []
            for i, case in enumerate(m.branch):
                at: Loc = ("branch", i)
                if set(case) != {"when", "next"} or not isinstance(case.get("next"), str):
                    self.problems.append(
                        o.problem("a case is `when:` a condition and `next:` a node", at=at)
                    )
                    continue
                cond = self.condition(case["when"], o, (*at, "when"))
                if cond is not None:
                    cases.append(Case(cond, case["next"]))
            return BranchNode(tuple(cases), m.otherwise)
        if isinstance(m, _LookupN):
            lk = m.lookup
            return LookupNode(
                lk.connector,
                lk.operation,
                tuple(lk.params.items()),
                lk.save,
                m.next,
                m.not_found,
                m.error,
                Lockout(lk.lockout.key, lk.lockout.failures, lk.lockout.minutes)
                if lk.lockout
                else None,
                m.locked,
                tuple(lk.keep or ()),
            )
        if isinstance(m, _CallbackN):
            cb = m.offer_callback
            return CallbackNode(cb.prompt, cb.queue, cb.min_wait, str(cb.key), m.next)
        if isinstance(m, _EnqueueN):
            e = m.enqueue
            return EnqueueNode(
                e.queue, e.priority, tuple(e.attributes.items()), e.prompt, e.callback_prompt
            )
        if isinstance(m, _TransferN):
            return TransferNode(m.transfer.number, m.transfer.prompt)
        if isinstance(m, _VoicemailN):
            return VoicemailNode(m.voicemail.prompt, m.voicemail.max_seconds)
        if isinstance(m, _HangupN):
            return HangupNode(m.hangup)
        assert isinstance(m, _SubflowN)
        return m

    def collect(self, m: _CollectN, o: Origin) -> CollectNode | None:
        c = m.collect
        ok = True
        if c.min_length > c.max_length:
            self.problems.append(
                o.problem("min_length is above max_length", at=("collect", "min_length"))
            )
            ok = False
        if c.pattern is not None:
            try:
                re.compile(c.pattern)
            except re.error as e:
                self.problems.append(
                    o.problem(
                        f"pattern is not a valid regular expression: {e}", at=("collect", "pattern")
                    )
                )
                ok = False
        check = None
        if c.checksum is not None:
            check = self.checksums.get(c.checksum)
            if check is None:
                self.problems.append(
                    o.problem(
                        f"unknown checksum {c.checksum!r}",
                        at=("collect", "checksum"),
                        hint="one of " + ", ".join(sorted(self.checksums)),
                    )
                )
                ok = False
        if not ok:
            return None
        return CollectNode(
            c.prompt, c.var, c.min_length, c.max_length, c.pattern, check, c.finish_on_key,
            c.secret, m.next, m.failed, _ask(c),
        )  # fmt: skip

    def condition(self, raw: Any, o: Origin, at: Loc) -> Condition | None:
        if not isinstance(raw, dict) or len(raw) == 0:
            self.problems.append(o.problem("a condition is a mapping", at=at, hint=_COND_HINT))
            return None
        if set(raw) <= {"all", "any"} and len(raw) == 1:
            key = next(iter(raw))
            items = raw[key]
            if not isinstance(items, list) or not items:
                self.problems.append(
                    o.problem(f"`{key}` takes a list of conditions", at=(*at, key))
                )
                return None
            parts = [self.condition(x, o, (*at, key, i)) for i, x in enumerate(items)]
            if any(p is None for p in parts):
                return None
            good = tuple(p for p in parts if p is not None)
            return AllOf(good) if key == "all" else AnyOf(good)
        if set(raw) == {"not"}:
            part = self.condition(raw["not"], o, (*at, "not"))
            return Not(part) if part is not None else None
        if set(raw) == {"time"}:
            return self.time(raw["time"], o, (*at, "time"))
        if "var" in raw:
            ops = [k for k in raw if k != "var"]
            if len(ops) != 1 or ops[0] not in _OPS or not isinstance(raw["var"], str):
                self.problems.append(
                    o.problem("`var:` needs a name and one test", at=at, hint=_COND_HINT)
                )
                return None
            return self.test(raw["var"], ops[0], raw[ops[0]], o, (*at, ops[0]))
        if len(raw) == 1:  # shorthand: {mode: emergency}, {caller_country: [US, PR]}
            name, value = next(iter(raw.items()))
            return self.test(str(name), "in" if isinstance(value, list) else "equals", value, o, at)
        self.problems.append(o.problem("not a condition I know", at=at, hint=_COND_HINT))
        return None

    def test(self, var: str, op: str, value: Any, o: Origin, at: Loc) -> VarTest | None:
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                self.problems.append(o.problem(f"`{op}` takes a list", at=at))
                return None
            return VarTest(var, op, tuple(_text(v) for v in value))
        if op in ("gt", "gte", "lt", "lte"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                self.problems.append(o.problem(f"`{op}` compares with a number", at=at))
                return None
            return VarTest(var, op, float(value))
        if op == "exists":
            return VarTest(var, op, bool(value))
        if op == "matches":
            try:
                re.compile(str(value))
            except re.error as e:
                self.problems.append(o.problem(f"not a valid regular expression: {e}", at=at))
                return None
        if isinstance(value, list | dict):
            self.problems.append(o.problem(f"`{op}` compares with one value", at=at))
            return None
        return VarTest(var, op, _text(value))

    def time(self, raw: Any, o: Origin, at: Loc) -> TimeOfDay | None:
        if (
            not isinstance(raw, dict)
            or not {"from", "to"} <= set(raw)
            or set(raw) - {"from", "to", "days"}
        ):
            self.problems.append(
                o.problem(
                    "`time` needs from and to", at=at, hint='time: {from: "22:00", to: "06:00"}'
                )
            )
            return None
        start, end = minute_of_day(str(raw["from"])), minute_of_day(str(raw["to"]))
        if start is None or end is None:
            bad = "from" if start is None else "to"
            self.problems.append(o.problem('a time of day like "07:30"', at=(*at, bad)))
            return None
        names = raw.get("days", "all")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list):
            self.problems.append(o.problem("days: a day or a list of days", at=(*at, "days")))
            return None
        days = weekday_set(str(d) for d in names)
        if days is None:
            self.problems.append(
                o.problem(
                    f"unknown day in {names}",
                    at=(*at, "days"),
                    hint="mon..sun, weekdays, weekends or all",
                )
            )
            return None
        return TimeOfDay(start, end, days)


_OPS = ("equals", "not_equals", "in", "not_in", "matches", "exists", "gt", "gte", "lt", "lte")
_COND_HINT = (
    "e.g. {var: verification, equals: verified}, {mode: emergency}, "
    '{time: {from: "22:00", to: "06:00"}}, {all: [...]}, {any: [...]}, {not: ...}'
)


def _key(k: Key | None) -> str | None:
    return None if k is None else str(k)


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _ask(m: _Ask) -> Gathering:
    # timeout/retries None = the flow's defaults, filled in by _with_defaults
    return Gathering(
        m.timeout or -1.0, -1 if m.retries is None else m.retries, m.invalid, m.no_input
    )


# -- sub-flows and defaults


def _place(
    nid: str,
    node: Node | _SubflowN | None,
    origin: Origin,
    prefix: str,
    subflows: Mapping[str, tuple[_Subflow, Origin]],
    reader: _NodeReader,
    nodes: dict[str, Node],
    origins: dict[str, Origin],
    problems: list[Problem],
    stack: tuple[str, ...],
    returns_to: str | None = None,
) -> None:
    """Add a node (ids prefixed for sub-flows); a sub-flow call is inlined."""

    def ref(r: str) -> str:
        if r == RETURN and returns_to is not None:
            return returns_to
        return prefix + r

    if node is None:  # already reported; a stand-in keeps references to it from cascading
        nodes[prefix + nid] = HangupNode(None)
        origins[prefix + nid] = origin
        return
    if not isinstance(node, _SubflowN):
        nodes[prefix + nid] = _renamed(node, ref)
        origins[prefix + nid] = origin
        return
    site = prefix + nid
    if node.subflow not in subflows:
        problems.append(
            origin.problem(
                f"no sub-flow named {node.subflow!r}",
                at=("subflow",),
                hint="define it under `subflows:` or in an included file",
            )
        )
    elif node.subflow in stack:
        problems.append(origin.problem(f"sub-flow {node.subflow!r} calls itself", at=("subflow",)))
    if node.subflow not in subflows or node.subflow in stack:
        nodes[site] = HangupNode(None)  # stand-in, as for a broken node
        origins[site] = origin
        return
    sf, sf_origin = subflows[node.subflow]
    # the call node becomes a pass-through to the sub-flow's start
    nodes[site] = SetNode((), f"{site}/{sf.start}")
    origins[site] = origin
    after = ref(node.next)
    for sub_id, raw in sf.nodes.items():
        sub_origin = Origin(sf_origin.file, sf_origin.marks, (*sf_origin.loc, "nodes", sub_id))
        sub_node, _ = reader.node(raw, sub_origin)
        _place(
            sub_id, sub_node, sub_origin, f"{site}/", subflows, reader, nodes, origins,
            problems, (*stack, node.subflow), after,
        )  # fmt: skip
    if f"{site}/{sf.start}" not in nodes:
        problems.append(
            sf_origin.problem(f"start {sf.start!r} is not a node of this sub-flow", at=("start",))
        )


def _renamed(node: Node, ref: Callable[[str], str]) -> Node:
    """The node with every reference to another node passed through `ref`."""
    changes: dict[str, Any] = {}
    for f in fields(node):
        v = getattr(node, f.name)
        if (
            f.name
            in (
                "next",
                "default",
                "failed",
                "otherwise",
                "not_found",
                "error",
                "locked",
            )
            and isinstance(v, str)
            and v
        ):
            changes[f.name] = ref(v)
        elif f.name in ("choices", "cases", "options"):
            changes[f.name] = tuple(replace(x, next=ref(x.next)) if x.next else x for x in v)
    return replace(node, **changes)
