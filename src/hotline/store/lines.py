"""A line's configuration as rows, and back as a scenario document.

`save_line` writes one line (its queues and steps, its agents' skills, queues and shifts)
in the caller's transaction; `line_document` assembles the scenario document that
`hotline line export` writes and the server parses (with the scenario's own validator) to
build the line. Agents are shared: an agent on two lines is one row with one set of skills.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from hotline.errors import ChangedMeanwhile
from hotline.store import revisions as changes
from hotline.store.tables import agent_lines, agent_skills, agents, line_queues, lines, queue_steps

# the scenario file's sections the line's rows hold; every other one is kept in `extras`
OWN = ("name", "line", "queues", "agents", "routing", "service_level", "callbacks")


def save_line(
    c: Connection,
    doc: Mapping[str, Any],
    agent_ids: Sequence[Sequence[str]],
    *,
    number: str,
    timezone: str,
    flow: tuple[str, int, str] | None,
    at: float,
) -> None:
    """`doc`: the validated scenario document; `agent_ids`: the ids each of its agent
    groups makes; `flow`: the active flow version and its file's path (None: the line
    keeps the one it has)."""
    name = doc["name"]
    kept = c.execute(select(lines.c.flow, lines.c.flow_version, lines.c.flow_path, lines.c.mode)
                     .where(lines.c.name == name)).first()  # fmt: skip
    if flow is None:  # the line keeps the flow version it has
        flow = None if kept is None or kept[0] is None else (kept[0], kept[1], kept[2])
    mode = "normal" if kept is None else kept[3]  # (an import does not end a holiday)
    for table, column in ((line_queues, line_queues.c.line), (queue_steps, queue_steps.c.line),
                          (agent_lines, agent_lines.c.line), (lines, lines.c.name)):  # fmt: skip
        c.execute(delete(table).where(column == name))
    changes.bump(c, changes.LINES)
    c.execute(
        insert(lines).values(
            name=name, number=number, timezone=timezone,
            flow=None if flow is None else flow[0], flow_version=None if flow is None else flow[1],
            flow_path=None if flow is None else flow[2], mode=mode,
            routing=dict(doc.get("routing") or {}),
            service_level=dict(doc.get("service_level") or {}), callbacks=doc.get("callbacks"),
            extras={k: v for k, v in doc.items() if k not in OWN},
            updated_at=at,
        )
    )  # fmt: skip
    for i, q in enumerate(doc["queues"]):
        overflow = q.get("overflow") or {}
        c.execute(insert(line_queues).values(
            line=name, name=q["name"], position=i, overflow_queue=overflow.get("queue"),
            overflow_fallback=overflow.get("fallback"),
            wrap_up_seconds=float(q.get("wrap_up_seconds", 0.0)),
            aging_per_minute=float(q.get("aging_per_minute", 0.0)), patience=q.get("patience"),
        ))  # fmt: skip
        for k, step in enumerate(q["steps"]):
            c.execute(insert(queue_steps).values(
                line=name, queue=q["name"], position=k, require=dict(step.get("require") or {}),
                seconds=step.get("seconds"),
            ))  # fmt: skip
    position = 0
    for group, ids in zip(doc["agents"], agent_ids, strict=True):
        first = int(group.get("first", 1))
        for k, agent_id in enumerate(ids):
            c.execute(delete(agents).where(agents.c.id == agent_id))
            c.execute(delete(agent_skills).where(agent_skills.c.agent_id == agent_id))
            c.execute(insert(agents).values(id=agent_id, team=group["name"], number=first + k))
            for skill, level in group["skills"].items():
                c.execute(insert(agent_skills).values(agent_id=agent_id, skill=skill, level=level))
            c.execute(insert(agent_lines).values(
                agent_id=agent_id, line=name, position=position,
                queues=list(group.get("queues") or []), shifts=list(group.get("shifts") or []),
            ))  # fmt: skip
            position += 1


def line_names(c: Connection) -> list[dict[str, Any]]:
    rows = c.execute(select(lines).order_by(lines.c.name)).mappings().all()
    return [{"name": r["name"], "number": r["number"], "timezone": r["timezone"],
             "flow": r["flow"], "flow_version": r["flow_version"], "flow_path": r["flow_path"],
             "mode": r["mode"]} for r in rows]  # fmt: skip


def agents_lines(c: Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for agent_id, line in c.execute(
        select(agent_lines.c.agent_id, agent_lines.c.line).order_by(agent_lines.c.line)
    ):
        out.setdefault(agent_id, []).append(line)
    return out


def lines_of_agent(c: Connection, agent_id: str) -> list[str]:
    return list(c.execute(select(agent_lines.c.line).where(agent_lines.c.agent_id == agent_id)
                          .order_by(agent_lines.c.line)).scalars())  # fmt: skip


def skills_of(c: Connection, agent_ids: Collection[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {a: {} for a in c.execute(
        select(agents.c.id).where(agents.c.id.in_(list(agent_ids)))).scalars()}  # fmt: skip
    for s in c.execute(
        select(agent_skills).where(agent_skills.c.agent_id.in_(list(agent_ids)))
    ).mappings():
        out[s["agent_id"]][s["skill"]] = s["level"]
    return out


def revisions(c: Connection, names: Collection[str]) -> dict[str, float]:
    """Each line's revision (when it last changed)."""
    rows = c.execute(select(lines.c.name, lines.c.updated_at).where(lines.c.name.in_(list(names))))
    return {name: float(at) for name, at in rows}


def claim(c: Connection, expect: Mapping[str, float], at: float, **values: Any) -> None:
    """Move each line's revision on (with `values`, some of its own columns: its mode, its
    active flow version), if it is still the one the change was made on; else nothing is
    written (ChangedMeanwhile): two administrators never write over each other."""
    for name, seen in expect.items():
        done = c.execute(update(lines).where(lines.c.name == name, lines.c.updated_at == seen)
                         .values(**values, updated_at=max(at, seen + 0.001)))  # fmt: skip
        if done.rowcount != 1:
            raise ChangedMeanwhile(f"line {name!r} was changed meanwhile: read it again, then "
                                   "make the change")  # fmt: skip
    changes.bump(c, changes.LINES)


def set_skills(c: Connection, agent_id: str, skills: Mapping[str, int]) -> None:
    """The agent's skills (on every line they work on: claim those lines first)."""
    c.execute(delete(agent_skills).where(agent_skills.c.agent_id == agent_id))
    for skill, level in skills.items():
        c.execute(insert(agent_skills).values(agent_id=agent_id, skill=skill, level=level))


def number_owner(c: Connection, number: str) -> str | None:
    return c.execute(select(lines.c.name).where(lines.c.number == number)).scalar_one_or_none()


def line_document(c: Connection, name: str) -> dict[str, Any] | None:
    """The line as a scenario document (None: no such line)."""
    line = c.execute(select(lines).where(lines.c.name == name)).mappings().first()
    if line is None:
        return None
    own: dict[str, Any] = {"number": line["number"], "timezone": line["timezone"]}
    if line["flow_path"] is not None:
        own["flow"] = line["flow_path"]
    doc: dict[str, Any] = {"name": name, "line": own}
    doc.update(line["extras"])
    steps: dict[str, list[dict[str, Any]]] = {}
    for s in c.execute(
        select(queue_steps).where(queue_steps.c.line == name).order_by(queue_steps.c.position)
    ).mappings():
        step: dict[str, Any] = {"require": dict(s["require"])}
        if s["seconds"] is not None:
            step["seconds"] = s["seconds"]
        steps.setdefault(s["queue"], []).append(step)
    queues = []
    for q in c.execute(
        select(line_queues).where(line_queues.c.line == name).order_by(line_queues.c.position)
    ).mappings():
        out: dict[str, Any] = {"name": q["name"], "steps": steps.get(q["name"], [])}
        if q["overflow_queue"] is not None or q["overflow_fallback"] is not None:
            pairs = (("queue", q["overflow_queue"]), ("fallback", q["overflow_fallback"]))
            out["overflow"] = {k: v for k, v in pairs if v}
        if q["wrap_up_seconds"]:
            out["wrap_up_seconds"] = q["wrap_up_seconds"]
        if q["aging_per_minute"]:
            out["aging_per_minute"] = q["aging_per_minute"]
        if q["patience"] is not None:
            out["patience"] = q["patience"]
        queues.append(out)
    doc["queues"] = queues
    doc["agents"] = _groups(c, name)
    for key in ("routing", "service_level"):
        if line[key]:
            doc[key] = dict(line[key])
    if line["callbacks"] is not None:
        doc["callbacks"] = dict(line["callbacks"])
    return doc


def _groups(c: Connection, line: str) -> list[dict[str, Any]]:
    """The line's agents as groups: agents of one team with consecutive numbers and the
    same skills, queues and shifts make one `{name, first, count, ...}`."""
    rows = c.execute(
        select(agents.c.id, agents.c.team, agents.c.number, agent_lines.c.queues,
               agent_lines.c.shifts)
        .join(agent_lines, agent_lines.c.agent_id == agents.c.id)
        .where(agent_lines.c.line == line)
        .order_by(agent_lines.c.position)
    ).mappings().all()  # fmt: skip
    skills: dict[str, dict[str, int]] = {}
    for s in c.execute(
        select(agent_skills).where(agent_skills.c.agent_id.in_([r["id"] for r in rows]))
    ).mappings():
        skills.setdefault(s["agent_id"], {})[s["skill"]] = s["level"]
    groups: list[dict[str, Any]] = []
    last: tuple[Any, ...] | None = None
    for r in rows:
        mine = dict(sorted(skills.get(r["id"], {}).items()))
        key = (r["team"], mine, r["queues"], r["shifts"])
        if groups and last == key and groups[-1]["first"] + groups[-1]["count"] == r["number"]:
            groups[-1]["count"] += 1
            continue
        g: dict[str, Any] = {"name": r["team"], "first": r["number"], "count": 1,
                             "skills": mine}  # fmt: skip
        if r["queues"]:
            g["queues"] = r["queues"]
        if r["shifts"]:
            g["shifts"] = r["shifts"]
        groups.append(g)
        last = key
    for g in groups:
        if g["first"] == 1:
            del g["first"]
    return groups
