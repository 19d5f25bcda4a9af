"""Skills and the requirements that calls put on them.

Languages are skills like any other, named by their language tag (`es`, `quc`), with a
proficiency from 1 (basic) to 5 (native). A `Requirement` asks for all of its skills at
or above a level; an agent's skills are a plain mapping from skill name to level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIN_LEVEL = 1
MAX_LEVEL = 5

Skills = Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Requirement:
    """Every listed skill at or above its level (an empty requirement admits anyone)."""

    levels: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, levels: Mapping[str, int]) -> Requirement:
        return cls(tuple(sorted(levels.items())))

    def met_by(self, skills: Skills) -> bool:
        return all(skills.get(name, 0) >= level for name, level in self.levels)

    def score(self, skills: Skills) -> int:
        """How much an agent exceeds nothing: the sum of their levels in these skills."""
        return sum(skills.get(name, 0) for name, _ in self.levels)

    def skill_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.levels)

    def __str__(self) -> str:
        if not self.levels:
            return "anyone"
        return " and ".join(f"{name}>={level}" for name, level in self.levels)
