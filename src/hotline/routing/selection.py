"""How the router chooses among several available agents who may all take a call.

Each policy is a sort key; the smallest key wins and the moment an agent became
available breaks ties, so the choice is the same in every driver and every run.
"""

from __future__ import annotations

from enum import Enum


class SelectionPolicy(Enum):
    LONGEST_IDLE = "longest-idle"  # fairest to agents, the industry default
    MOST_SKILLED = "most-skilled"  # highest proficiency in the skills the call needs
    ROUND_ROBIN = "round-robin"  # least recently offered a call

    def key(self, *, idle_since: float, score: int, last_offer: int) -> tuple[float, float]:
        if self is SelectionPolicy.LONGEST_IDLE:
            return (idle_since, 0.0)
        if self is SelectionPolicy.MOST_SKILLED:
            return (float(-score), idle_since)
        return (float(last_offer), 0.0)
