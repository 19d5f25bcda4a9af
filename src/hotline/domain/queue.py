"""Queues and their escalation steps: who may take a call, and for how long we wait for them.

Steps widen the circle: a call at step i may go to an agent who meets the requirement of
any step 0..i. When the last step's time limit runs out the call overflows to another
queue or leaves the ACD by a named fallback (voicemail, callback, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.domain.skills import Requirement


@dataclass(frozen=True, slots=True)
class EscalationStep:
    requirement: Requirement
    seconds: float | None = None  # time at this step before the next; None: no limit


@dataclass(frozen=True, slots=True)
class Overflow:
    """Where a call goes when its last step times out: exactly one of the two is set."""

    queue: str | None = None
    fallback: str | None = None

    @property
    def target(self) -> str:
        return self.queue if self.queue is not None else f"fallback:{self.fallback}"


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    steps: tuple[EscalationStep, ...]
    overflow: Overflow | None = None
    wrap_up_seconds: float = 0.0
    # Priority points gained per minute of waiting; equal for all calls of a queue, so
    # FIFO holds within a priority and an old low-priority call eventually goes first.
    aging_per_minute: float = 0.0
