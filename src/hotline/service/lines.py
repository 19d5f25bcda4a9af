"""Lines in the store: `hotline line import` validates a scenario file (and its flow) and
loads its line; `export` writes a line back as a scenario file; the server builds its line
from the store, through the same validator."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hotline.errors import ConfigError, HotlineError, Problem
from hotline.ivr.line import LineFlow
from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import parse_scenario, read_scenario
from hotline.store.repository import Store
from hotline.yamlfile import problem_at, read_text


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
    if problems:
        raise ConfigError(problems)
    assert number is not None
    ids = [g.ids() for g in scenario.agent_groups]
    mine = {a for group in ids for a in group}
    on_lines = store.agents_lines()
    shared = sorted(a for a in mine if set(on_lines.get(a, ())) - {scenario.name})
    store.save_line(data, ids, number=number, timezone=timezone or (info.timezone if info
                    else "UTC"), flow=version, at=time.time())  # fmt: skip
    return Imported(scenario.name, number, len(mine), len(scenario.queues),
                    None if version is None else version[:2], shared)  # fmt: skip


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
