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
        return sort_key(self, idle_since=idle_since, score=score, last_offer=last_offer)


def sort_key(
    policy: SelectionPolicy, *, idle_since: float, score: int, last_offer: int
) -> tuple[float, float]:
    """The policy's key for an agent. (A function, which compiled code calls directly; a
    method of the enum is called through Python.)"""
    if policy is SelectionPolicy.LONGEST_IDLE:
        return (idle_since, 0.0)
    if policy is SelectionPolicy.MOST_SKILLED:
        return (float(-score), idle_since)
    return (float(last_offer), 0.0)
