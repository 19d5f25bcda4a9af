"""What an administrator changes in the lines' stored configuration (the admin pages): an
agent's skills, a queue's steps, a line's mode, and its flow's versions (upload one,
activate one, or roll back by activating an earlier one).

Every change is validated before anything is written, as `hotline line import` validates a
file (the scenario's and the flow's own validators, every problem at once), and is refused
whole otherwise; a running server uses it from each line's next routing decision. A change
that only a restart could make (a queue's number of steps) is refused with that reason.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hotline.errors import ConfigError, HotlineError, Problem, WriteRefused
from hotline.ivr.flow_file import load_flow
from hotline.ivr.interpreter import LINE_MODES
from hotline.ivr.model import Flow
from hotline.records.audit import Entry
from hotline.sim.scenario_file import checked_queue, parse_scenario
from hotline.store.repository import Store
from hotline.yamlfile import compose, shape_problems

log = logging.getLogger("hotline.configuration")
SKILL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
LEVELS = range(1, 6)
FLOW_MAX = 256 * 1024  # bytes of an uploaded flow file (the national one is 5 KiB)


class NotFound(HotlineError):
    error_id = "not-found"


@dataclass(frozen=True)
class FlowAccepted:
    flow: str
    version: int
    active: bool


class Configuration:
    def __init__(
        self, *, store: Store, clock: Callable[[], float] = time.time,
        desk_connectors: Collection[str] = (),
    ) -> None:  # fmt: skip
        """`desk_connectors`: those of the agents' record look-ups, which a flow may not
        declare."""
        self.store = store
        self.clock = clock
        self.desk_connectors = desk_connectors

    # -- reading

    def lines(self) -> list[dict[str, Any]]:
        """Each line: number, time zone, mode, active flow version, the versions kept, and
        its queues (as their scenario-file text, for editing)."""
        out = []
        for meta in self.store.lines():
            doc = self._document(meta["name"])
            versions = self.store.flow_versions(meta["flow"]) if meta["flow"] else []
            queues = [{"name": q["name"], "steps": len(q["steps"]), "text": _yaml(q)}
                      for q in doc["queues"]]  # fmt: skip
            out.append({**{k: meta[k] for k in ("name", "number", "timezone", "mode", "flow",
                                                  "flow_version")},
                        "modes": list(LINE_MODES), "versions": versions,
                        "flow_file": Path(meta["flow_path"]).name if meta["flow_path"] else None,
                        "queues": queues})  # fmt: skip
        return out

    def agents(self) -> list[dict[str, Any]]:
        """Every agent of every line: team, lines and skills (sorted by id)."""
        on_lines = self.store.agents_lines()
        skills = self.store.agent_skills(list(on_lines))
        return [{"id": a, "lines": on_lines[a], "skills": dict(sorted(skills.get(a, {}).items()))}
                for a in sorted(on_lines)]  # fmt: skip

    def flow_source(self, line: str, version: int) -> str:
        meta = self._line(line)
        source = self.store.flow_source(meta["flow"], version) if meta["flow"] else None
        if source is None:
            raise NotFound(f"line {line!r} has no version {version} of its flow")
        return source

    # -- changing

    def set_skills(self, actor: str, agent_id: str, skills: Mapping[str, int]) -> None:
        """The agent's skills, on every line they work on; refused whole if any line's
        validator refuses them (an unknown skill, a level outside 1..5, a queue no agent
        would meet any more)."""
        lines = self.store.agents_lines().get(agent_id)
        if lines is None:
            raise NotFound(f"no agent {agent_id!r} on any line")
        problems = [Problem(f"skill {s!r}: a name of lower-case letters, digits, - or _")
                    for s in skills if not SKILL.fullmatch(s)]  # fmt: skip
        problems += [Problem(f"skill {s}: level {v} is outside 1..5")
                     for s, v in skills.items() if v not in LEVELS]  # fmt: skip
        if not skills:
            problems.append(Problem("an agent needs at least one skill"))
        if problems:
            raise ConfigError(problems)
        seen = self.store.line_revisions(lines)  # (read first: a change since is refused)
        for line in lines:
            doc = self._document(line)
            doc["agents"] = _with_skills(doc["agents"], agent_id, dict(skills))
            self._check(doc, f"agent {agent_id} on line {line!r}")
        self.store.set_skills(
            agent_id,
            dict(skills),
            self.clock(),
            expect=seen,
            audit=self._entry(actor, "config.skills", f"agent:{agent_id}"),
        )
        log.info("%s set the skills of agent %s: %s", actor, agent_id, _levels(skills))

    def set_queue(self, actor: str, line: str, queue: str, text: str) -> None:
        """A queue of the line from its scenario-file text (its steps, overflow, wrap-up,
        aging, patience); problems name the text's own lines."""
        seen = self._revision(line)
        doc = self._document(line)
        names = [q["name"] for q in doc["queues"]]
        if queue not in names:
            raise NotFound(f"line {line!r} has no queue {queue!r}")
        where = f"queue {queue}"
        data, marks = compose(text, where)
        try:
            new = checked_queue(data)
        except ValidationError as e:
            raise ConfigError(shape_problems(e, marks, where)) from None
        if new["name"] != queue:
            raise ConfigError([Problem(f"the queue is {queue!r}; renaming one takes a new "
                                       "import (hotline line import)", where, 1, 1)])  # fmt: skip
        old = doc["queues"][names.index(queue)]
        if len(new["steps"]) != len(old["steps"]):
            raise ConfigError([Problem(
                f"changing how many steps a queue has ({len(old['steps'])} now) takes a "
                "restart: change it in the scenario file, hotline line import it, then restart "
                "the server", where, 1, 1)])  # fmt: skip
        doc["queues"][names.index(queue)] = new
        self._check(doc, where)
        self._save(doc, seen, self._entry(actor, "config.queue", f"queue:{queue}", line=line))
        log.info("%s changed queue %s of line %r", actor, queue, line)

    def set_mode(self, actor: str, line: str, mode: str) -> None:
        """normal, holiday or emergency: what new calls' flows branch on."""
        seen = self._revision(line)
        if mode not in LINE_MODES:
            raise ConfigError([Problem(f"mode {mode!r} is not one of {', '.join(LINE_MODES)}")])
        self.store.set_line(line, self.clock(), expect=seen, mode=mode,
                            audit=self._entry(actor, "config.mode", f"line:{line}",
                                              status=mode))  # fmt: skip
        log.info("%s set line %r to %s mode", actor, line, mode)

    def upload_flow(self, actor: str, line: str, text: str, *, activate: bool) -> FlowAccepted:
        """A new version of the line's flow, validated as `hotline flow validate` does (its
        catalogs and includes are those beside the line's flow file); with `activate`, new
        calls use it from now on. Refused whole, the active version kept, on any problem."""
        seen = self._revision(line)
        meta = self._line(line)
        path = meta["flow_path"]
        if path is None or meta["flow"] is None:
            raise ConfigError([Problem(f"line {line!r} has no flow file yet: hotline line "
                                       "import FILE --flow FLOW_FILE")])  # fmt: skip
        if len(text.encode()) > FLOW_MAX:
            raise ConfigError([Problem(f"a flow file is at most {FLOW_MAX // 1024} KiB")])
        flow = self._load(meta, line, text)
        if flow.name != meta["flow"]:
            raise ConfigError([Problem(f"this line's flow is {meta['flow']!r}, not "
                                       f"{flow.name!r}", Path(path).name, *_line_of(text, "flow"),
                                       hint=f"flow: {meta['flow']}")])  # fmt: skip
        try:
            entry = self._entry(
                actor,
                "config.flow.upload",
                f"flow:{flow.name}:{flow.version}",
                line=line,
                status="activated" if activate else "kept",
            )
            kept = self.store.keep_flow(flow.name, flow.version, text, self.clock(),
                                        activate=(line, seen) if activate else None,
                                        audit=entry)  # fmt: skip
        except WriteRefused:  # the same version kept at the same moment by someone else
            kept = False
        if not kept:
            newest = max(v["version"] for v in self.store.flow_versions(flow.name))
            raise ConfigError([Problem(
                f"version {flow.version} of flow {flow.name!r} is already kept, with other "
                "content", Path(path).name, *_line_of(text, "version"),
                hint=f"version: {newest + 1}")])  # fmt: skip
        log.info("%s uploaded version %d of flow %s%s", actor, flow.version, flow.name,
                 " and made it active" if activate else "")  # fmt: skip
        return FlowAccepted(flow.name, flow.version, activate)

    def activate_flow(self, actor: str, line: str, version: int) -> None:
        """New calls use this kept version (an earlier one: a roll-back); calls in progress
        keep theirs. Validated again first (the catalogs beside the file may have changed)."""
        seen = self._revision(line)
        meta = self._line(line)
        self._load(meta, line, self.flow_source(line, version))
        self.store.set_line(
            line,
            self.clock(),
            expect=seen,
            flow_version=version,
            audit=self._entry(
                actor, "config.flow.activate", f"flow:{meta['flow']}:{version}", line=line
            ),
        )
        log.info("%s made version %d of flow %s active on line %r", actor, version,
                 meta["flow"], line)  # fmt: skip

    # -- the line as a document

    def _revision(self, name: str) -> float:
        seen = self.store.line_revisions([name])
        if name not in seen:
            raise NotFound(f"no line {name!r}")
        return seen[name]

    def _load(self, meta: dict[str, Any], line: str, text: str) -> Flow:
        """A flow text validated for the line, read as its flow file (its includes and
        catalog inside that file's folder); problems name files relative to it."""
        path = Path(meta["flow_path"])
        queues = [q["name"] for q in self._document(line)["queues"]]
        try:
            return load_flow(path, line_queues=queues, source=text, confined=True,
                             desk_connectors=self.desk_connectors)  # fmt: skip
        except ConfigError as e:
            raise ConfigError([replace(p, file=_relative(p.file, path.parent),
                                       message=_unfiled(p.message, path.parent),
                                       hint=p.hint and _unfiled(p.hint, path.parent))
                               for p in e.problems]) from None  # fmt: skip

    def _line(self, name: str) -> dict[str, Any]:
        meta = next((m for m in self.store.lines() if m["name"] == name), None)
        if meta is None:
            raise NotFound(f"no line {name!r}")
        return meta

    def _document(self, name: str) -> dict[str, Any]:
        doc = self.store.line_document(name)
        if doc is None:
            raise NotFound(f"no line {name!r}")
        return doc

    def _check(self, doc: dict[str, Any], what: str) -> None:
        """The line with the change, through the scenario file's validator; its problems
        are about the change (the stored line was valid), so they are named by `what`."""
        try:
            parse_scenario(_yaml(doc), filename=what)
        except ConfigError as e:
            raise ConfigError([Problem(_unplaced(p.message), what, hint=p.hint)
                               for p in e.problems]) from None  # fmt: skip

    def _save(self, doc: dict[str, Any], seen: float, audit: Entry) -> None:
        scenario = parse_scenario(_yaml(doc))
        meta = self._line(doc["name"])
        self.store.save_line(doc, [g.ids() for g in scenario.agent_groups], number=meta["number"],
                             timezone=meta["timezone"], flow=None, at=self.clock(),
                             expect=seen, audit=audit)  # fmt: skip

    def _entry(self, actor: str, action: str, obj: str, **details: str) -> Entry:
        """A change's audit entry (the administrator, what, on which line), written in the
        change's own transaction: both or neither."""
        return Entry(
            at=self.clock(),
            actor=actor[:128],
            role="admin",
            action=action,
            object=obj[:256],
            details={k: v[:128] for k, v in details.items()},
        )


def _with_skills(
    groups: list[dict[str, Any]], agent_id: str, skills: dict[str, int]
) -> list[dict[str, Any]]:
    """The line's agent groups with one agent's skills changed: their group is split so
    that they stand alone (the store joins equal neighbours again when it reads them)."""
    out = []
    for g in groups:
        first = int(g.get("first", 1))
        ids = [f"{g['name']}-{k}" for k in range(first, first + int(g["count"]))]
        if agent_id not in ids:
            out.append(g)
            continue
        k = first + ids.index(agent_id)
        for start, count, own in ((first, k - first, None), (k, 1, skills),
                                  (k + 1, first + g["count"] - k - 1, None)):  # fmt: skip
            if count:
                part = copy.deepcopy(g)
                part.update(first=start, count=count)
                if own is not None:
                    part["skills"] = own
                out.append(part)
    return out


def _relative(file: str, folder: Path) -> str:
    """A file as the administrator knows it: relative to the flow's folder."""
    try:
        return str(Path(file).resolve().relative_to(folder.resolve()))
    except ValueError:
        return Path(file).name


def _unfiled(text: str, folder: Path) -> str:
    """A problem's words with the server's folders left out: files named relative to the
    flow's folder, as `_relative` names them."""
    for place in {str(folder.resolve()), str(folder)}:
        text = text.replace(place + "/", "").replace(place, ".")
    return text


def _yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)  # fmt: skip


def _line_of(text: str, key: str) -> tuple[int, int]:
    """Where a top-level `key:` stands in a YAML text (line 1 if it does not)."""
    for n, row in enumerate(text.splitlines(), start=1):
        if row.startswith(f"{key}:"):
            return n, 1
    return 1, 1


def _unplaced(message: str) -> str:
    """A message without the place in the whole line's document (`agents.21.skills.xx: `),
    which the administrator never saw."""
    head, sep, rest = message.partition(": ")
    return rest if sep and " " not in head else message


def _levels(skills: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(skills.items())) or "none"
