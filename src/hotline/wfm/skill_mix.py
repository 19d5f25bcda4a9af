"""Skill-mix files (YAML): the kinds of agent a planner can hire or train, for
`hotline plan --pools auto --skills FILE`. Every problem is reported as file:line.

```yaml
profiles:                      # name and skills (languages and other skills, levels 1-5)
  - {name: ko-en, skills: {ko: 5, en: 4}}
  - {name: interpreter-line, skills: {en: 5, interpreter: 1}}
dedicated_speakers: false      # also a dedicated speaker for each queue (default false)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.errors import ConfigError, Problem
from hotline.sim.scenario import Scenario
from hotline.wfm.pools import Profile, SkillMix, scenario_mix
from hotline.yamlfile import compose, problem_at, read_text, shape_problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Profile(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    skills: dict[str, int] = Field(min_length=1)


class _MixFile(_Model):
    profiles: list[_Profile] = Field(min_length=1)
    dedicated_speakers: bool = False


def load_skill_mix(path: str | Path, scenario: Scenario) -> SkillMix:
    return parse_skill_mix(read_text(path), scenario, filename=str(path))


def parse_skill_mix(text: str, scenario: Scenario, *, filename: str = "<skills>") -> SkillMix:
    """The profiles of a skill-mix file; ConfigError listing every problem: an unknown
    skill or language (the scenario's are known), a level outside 1-5, a name twice."""
    data, marks = compose(text, filename)
    try:
        m = _MixFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(shape_problems(e, marks, filename)) from None
    known = {lang.tag for lang in scenario.languages} | set(scenario.skills)
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, p in enumerate(m.profiles):
        if p.name in seen:
            named: tuple[str | int, ...] = ("profiles", i, "name")
            twice = f"profile {p.name!r} is named twice"
            problems.append(problem_at(named, twice, marks, filename, "give each its own name"))
        seen.add(p.name)
        for skill, level in p.skills.items():
            at = ("profiles", i, "skills", skill)
            if skill not in known:
                problems.append(problem_at(at, f"unknown skill or language {skill!r}", marks,
                                           filename, "use one the scenario declares: "
                                           + ", ".join(sorted(known))))  # fmt: skip
            elif not 1 <= level <= 5:
                problems.append(problem_at(at, f"level {level} is outside 1..5", marks, filename))
    if problems:
        raise ConfigError(problems)
    profiles = [Profile.of(p.name, p.skills, filename) for p in m.profiles]
    what = f"the profiles of {filename}"
    if m.dedicated_speakers:
        own = {p.skills for p in profiles}
        profiles += [
            p for p in scenario_mix(scenario, groups=False).profiles if p.skills not in own
        ]
        what += " and a dedicated speaker for each queue"
    return SkillMix(tuple(profiles), what)
