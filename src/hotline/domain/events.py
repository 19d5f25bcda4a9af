"""Every state change of calls and agents, as small frozen records.

The store appends them, the wallboard and reports read them, and the state of the ACD can
be rebuilt by replaying them. Agent states implied by a call event are not repeated:
`CallOffered` puts the agent in RESERVED, `CallAnswered` ON_CALL, `CallCompleted` WRAP_UP.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.domain.agent import AgentState


@dataclass(frozen=True, slots=True)
class CallArrived:
    """A call came in and entered the IVR."""

    at: float
    call_id: str
    language: str
    caller_type: str


@dataclass(frozen=True, slots=True)
class CallQueued:
    at: float
    call_id: str
    queue: str
    priority: int


@dataclass(frozen=True, slots=True)
class CallEscalated:
    at: float
    call_id: str
    queue: str
    step: int


@dataclass(frozen=True, slots=True)
class CallOverflowed:
    at: float
    call_id: str
    from_queue: str
    to_queue: str | None
    fallback: str | None


@dataclass(frozen=True, slots=True)
class CallOffered:
    at: float
    call_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class OfferWithdrawn:
    """The offer ended without an answer; the call keeps its place in the queue."""

    at: float
    call_id: str
    agent_id: str
    reason: str  # ring-no-answer | declined | caller-hung-up


@dataclass(frozen=True, slots=True)
class CallAnswered:
    at: float
    call_id: str
    agent_id: str
    queue: str
    waited: float


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    at: float
    call_id: str
    queue: str | None
    waited: float


@dataclass(frozen=True, slots=True)
class CallCompleted:
    at: float
    call_id: str
    agent_id: str
    queue: str
    talk_seconds: float


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    at: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentLoggedOut:
    at: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    at: float
    agent_id: str
    state: AgentState
    reason: str | None = None


Event = (
    CallArrived
    | CallQueued
    | CallEscalated
    | CallOverflowed
    | CallOffered
    | OfferWithdrawn
    | CallAnswered
    | CallAbandoned
    | CallCompleted
    | AgentLoggedIn
    | AgentLoggedOut
    | AgentStateChanged
)
