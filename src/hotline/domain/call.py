"""A call's identity, what the caller asked for, and its life cycle with timestamps."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


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


class Call:
    """One telephone call, an entity: the router moves it through its life cycle.

    `first_queued_at` survives overflow to another queue, so an overflowed call keeps
    its seniority; `queued_at` is when it entered its current queue. (A plain class, not a
    dataclass, so that mypyc compiles its constructor: one is made per simulated call.)
    """

    __slots__ = (
        "agent_id",
        "answered_at",
        "arrived_at",
        "callback",
        "caller_type",
        "ended_at",
        "first_queued_at",
        "id",
        "ivr_at",
        "language",
        "offered_at",
        "priority",
        "queue",
        "queued_at",
        "state",
    )

    def __init__(
        self, id: str, language: str, caller_type: str, arrived_at: float, priority: int = 0
    ) -> None:
        self.id: Final = id
        self.language: Final = language
        self.caller_type: Final = caller_type
        self.arrived_at: Final = arrived_at
        self.priority: Final = priority
        self.state = CallState.ARRIVED
        self.ivr_at: float | None = None
        self.first_queued_at: float | None = None
        self.queued_at: float | None = None
        self.offered_at: float | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.queue: str | None = None
        self.agent_id: str | None = None
        self.callback = False  # the caller hung up to be called back, keeping their place

    def __repr__(self) -> str:
        return f"Call({self.id!r}, {self.state.value}, queue={self.queue!r})"

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
