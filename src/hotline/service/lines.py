"""Lines in the store: `hotline line import` validates a scenario file (and its flow) and
loads its line; `export` writes a line back as a scenario file; the server builds its line
from the store, through the same validator."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from hotline.errors import ConfigError, HotlineError, Problem
from hotline.ivr.line import LineFlow
from hotline.records.audit import Entry, os_actor
from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import (
    number_problem,
    parse_scenario,
    read_scenario,
    timezone_problem,
)
from hotline.store.repository import Store
from hotline.yamlfile import Marks, problem_at, read_text


@dataclass(frozen=True)
class Imported:
    name: str
    number: str
    agents: int
    queues: int
    flow: tuple[str, int] | None
    shared: list[str]  # agents also on other lines


def import_line(
    store: Store,
    path: str | Path,
    *,
    number: str | None = None,
    timezone: str | None = None,
    flow: str | Path | None = None,
) -> Imported:
    """Load the scenario file's line into the store (replacing a line of the same name).
    Every problem is reported at once, naming file:line; nothing is written if any."""
    filename = str(path)
    scenario, data, marks = read_scenario(read_text(path), filename=filename,
                                          base=Path(path).parent)  # fmt: skip
    problems: list[Problem] = []
    info = scenario.line
    for option, value, check in (("--number", number, number_problem),
                                 ("--timezone", timezone, timezone_problem)):  # fmt: skip
        if value is not None and (why := check(value)) is not None:
            problems.append(Problem(f"{option} {value!r}: {why}"))
    number = number or (info.number if info else None)
    if number is None:
        problems.append(Problem("the line has no number: add `line: {number: ...}` or give "
                                "--number", filename, 1, 1))  # fmt: skip
    else:
        owner = store.line_of_number(number)
        if owner is not None and owner != scenario.name:
            where = ("line", "number") if info and number == info.number else ()
            problems.append(problem_at(where, f"{number} is already the number of line "
                                       f"{owner!r}", marks, filename))  # fmt: skip
    flow_path = flow or (info.flow if info else None)
    version: tuple[str, int, str, str] | None = None
    if flow_path is not None:
        try:
            loaded = LineFlow(path=flow_path, line_queues=[q.name for q in scenario.queues]).flow
        except ConfigError as e:
            problems += e.problems
        else:
            version = (loaded.name, loaded.version, read_text(flow_path),
                       str(Path(flow_path).resolve()))  # fmt: skip
            kept = store.flow_source(loaded.name, loaded.version)
            if kept is not None and kept != version[2]:  # (a version is kept once, as it was)
                problems.append(Problem(
                    f"version {loaded.version} of flow {loaded.name!r} is already in the store "
                    "with other content", str(flow_path),
                    hint="give the changed flow a new `version:` number"))  # fmt: skip
    ids = [g.ids() for g in scenario.agent_groups]
    mine = {a for group in ids for a in group}
    on_lines = store.agents_lines()
    shared = sorted(a for a in mine if set(on_lines.get(a, ())) - {scenario.name})
    problems += _skills_differ(store, scenario, shared, on_lines, marks, filename)
    if problems:
        raise ConfigError(problems)
    assert number is not None
    now = time.time()
    entry = Entry(at=now, actor=os_actor(), role="admin", action="config.line.import",
                  object=f"line:{scenario.name}"[:256],
                  details={"line": number} if version is None else
                  {"line": number, "status": f"flow {version[0]} v{version[1]}"[:128]})  # fmt: skip
    store.save_line(data, ids, number=number, timezone=timezone or (info.timezone if info
                    else "UTC"), flow=version, at=now, audit=entry)  # fmt: skip
    return Imported(scenario.name, number, len(mine), len(scenario.queues),
                    None if version is None else version[:2], shared)  # fmt: skip


def _skills_differ(
    store: Store,
    scenario: Scenario,
    shared: list[str],
    on_lines: dict[str, list[str]],
    marks: Marks,
    filename: str,
) -> list[Problem]:
    """An agent on several lines has one set of skills: a file that gives a shared agent
    other skills than the store has is refused (change them on every line alike)."""
    held = store.agent_skills(shared)
    problems = []
    for i, g in enumerate(scenario.agent_groups):
        for agent_id in g.ids():
            theirs = held.get(agent_id)
            if theirs is not None and theirs != dict(g.skills):
                lines = ", ".join(repr(n) for n in on_lines[agent_id] if n != scenario.name)
                problems.append(problem_at(
                    ("agents", i, "skills"),
                    f"agent {agent_id} also works on {lines} with skills {_levels(theirs)}, "
                    f"not {_levels(g.skills)}; an agent has one set of skills", marks, filename,
                    "give the same skills here, or change them on every line alike",
                ))  # fmt: skip
                break
    return problems


def _levels(skills: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(skills.items())) + "}"


def export_line(store: Store, name: str) -> str:
    """The line as a scenario file (YAML)."""
    doc = store.line_document(name)
    if doc is None:
        raise HotlineError(f"no line {name!r} in the store ({_known(store)})")
    return yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )


def load_line(store: Store, name: str) -> Scenario:
    """The line as the store holds it, validated as a scenario file is."""
    text = export_line(store, name)
    return parse_scenario(text, filename=f"line {name!r} in the store")


def _known(store: Store) -> str:
    names = [line["name"] for line in store.lines()]
    return "lines: " + ", ".join(names) if names else "it holds none: hotline line import FILE"
