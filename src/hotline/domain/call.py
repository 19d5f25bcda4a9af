"""A call's identity, what the caller asked for, and its life cycle with timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CallState(StrEnum):
    ARRIVED = "arrived"
    IN_IVR = "in_ivr"
    QUEUED = "queued"
    OFFERED = "offered"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"  # left the ACD for a fallback (voicemail, callback, ...)
    COMPLETED = "completed"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({CallState.ABANDONED, CallState.OVERFLOWED, CallState.COMPLETED})


@dataclass(slots=True, eq=False)
class Call:
    """One telephone call. Mutable: the router moves it through its life cycle.

    `first_queued_at` survives overflow to another queue, so an overflowed call keeps
    its seniority; `queued_at` is when it entered its current queue.
    """

    id: str
    language: str
    caller_type: str
    arrived_at: float
    priority: int = 0
    state: CallState = CallState.ARRIVED
    ivr_at: float | None = None
    first_queued_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    agent_id: str | None = None

    def enter_ivr(self, at: float) -> None:
        if self.state is not CallState.ARRIVED:
            raise ValueError(f"call {self.id} is {self.state.value}, cannot enter the IVR")
        self.state = CallState.IN_IVR
        self.ivr_at = at

    @property
    def waited(self) -> float:
        """Seconds in queue so far (up to answer or end), 0 if it never queued."""
        if self.first_queued_at is None:
            return 0.0
        end = self.answered_at if self.answered_at is not None else self.ended_at
        return 0.0 if end is None else end - self.first_queued_at
