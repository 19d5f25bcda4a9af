"""Checks a set of queues before the router accepts them: every problem at once.

Each finding carries a path into the configuration (`("queues", 3, "overflow")`) so a
file loader can point at the line it came from; the router itself just refuses.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hotline.domain.queue import Queue
from hotline.domain.skills import MAX_LEVEL, MIN_LEVEL
from hotline.errors import ConfigError, Problem

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    message: str
    hint: str | None = None


def check_queues(
    queues: Sequence[Queue], *, known_skills: Collection[str] | None = None
) -> list[Finding]:
    """Everything wrong with these queues; `known_skills` None accepts any skill name."""
    found: list[Finding] = []
    names = [q.name for q in queues]
    seen: set[str] = set()
    for i, q in enumerate(queues):
        at: Path = ("queues", i)
        if q.name in seen:
            found.append(Finding((*at, "name"), f"queue {q.name!r} is defined twice"))
        seen.add(q.name)
        if q.wrap_up_seconds < 0:
            found.append(Finding((*at, "wrap_up_seconds"), "wrap-up time cannot be negative"))
        if q.aging_per_minute < 0:
            found.append(Finding((*at, "aging_per_minute"), "aging cannot be negative"))
        found += _check_steps(q, at, known_skills)
        found += _check_overflow(q, at, names)
    found += _check_cycles(queues)
    return found


def refuse_bad_queues(queues: Sequence[Queue]) -> None:
    """ConfigError listing every problem of these queues (none: nothing happens)."""
    findings = check_queues(queues)
    if findings:
        raise ConfigError(
            [Problem(f.message, file=".".join(map(str, f.path)), hint=f.hint) for f in findings]
        )


def _check_steps(q: Queue, at: Path, known_skills: Collection[str] | None) -> list[Finding]:
    found: list[Finding] = []
    if not q.steps:
        return [Finding((*at, "steps"), f"queue {q.name!r} has no steps", "add a step")]
    last = len(q.steps) - 1
    for j, step in enumerate(q.steps):
        sp: Path = (*at, "steps", j)
        if step.seconds is not None and step.seconds <= 0:
            found.append(Finding((*sp, "seconds"), "a step's time limit must be positive"))
        if step.seconds is None and j < last:
            found.append(
                Finding(
                    (*sp, "seconds"),
                    f"step {j + 1} of {q.name!r} has no time limit, so the steps after it "
                    "can never be reached",
                    "give it a time limit or remove the later steps",
                )
            )
        for skill, level in step.requirement.levels:
            if known_skills is not None and skill not in known_skills:
                found.append(unknown_skill((*sp, "require", skill), skill))
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                found.append(
                    Finding(
                        (*sp, "require", skill),
                        f"level {level} for {skill!r} is outside {MIN_LEVEL}..{MAX_LEVEL}",
                    )
                )
    return found


def unknown_skill(path: Path, skill: str) -> Finding:
    return Finding(
        path, f"unknown skill or language {skill!r}", "declare it under `languages:` or `skills:`"
    )


def _check_overflow(q: Queue, at: Path, names: Sequence[str]) -> list[Finding]:
    limited = q.steps[-1].seconds is not None if q.steps else False
    ov = q.overflow
    if ov is None:
        if limited:
            return [
                Finding(
                    (*at, "steps", len(q.steps) - 1, "seconds"),
                    f"the last step of {q.name!r} has a time limit but the queue has no "
                    "overflow, so a call would have nowhere to go",
                    "add `overflow: {queue: ...}` or `overflow: {fallback: voicemail}`, "
                    "or drop the last time limit",
                )
            ]
        return []
    op: Path = (*at, "overflow")
    if (ov.queue is None) == (ov.fallback is None):
        return [Finding(op, "overflow needs exactly one of `queue` or `fallback`")]
    if not limited:
        return [
            Finding(
                op,
                f"the last step of {q.name!r} has no time limit, so its overflow is never used",
                "give the last step `seconds:`",
            )
        ]
    if ov.queue is not None and ov.queue not in names:
        return [Finding((*op, "queue"), f"overflow to unknown queue {ov.queue!r}")]
    if ov.queue == q.name:
        return [Finding((*op, "queue"), f"queue {q.name!r} overflows into itself")]
    return []


def _check_cycles(queues: Sequence[Queue]) -> list[Finding]:
    """A call that overflows A -> B -> ... -> A would circle for ever."""
    target = {q.name: q.overflow.queue for q in queues if q.overflow and q.overflow.queue}
    index = {q.name: i for i, q in enumerate(queues)}
    found: list[Finding] = []
    reported: set[str] = set()
    for start in target:
        chain = [start]
        nxt = target.get(start)
        while nxt is not None and nxt not in chain:
            chain.append(nxt)
            nxt = target.get(nxt)
        if nxt == start and start not in reported:
            reported.update(chain)
            found.append(
                Finding(
                    ("queues", index[start], "overflow", "queue"),
                    "overflow loop: " + " -> ".join([*chain, start]),
                    "end the chain in a queue without a time limit or in a fallback",
                )
            )
    return found
