"""Every state change of calls and agents, as small immutable records.

The store appends them, the wallboard and reports read them, and the state of the ACD can
be rebuilt by replaying them. Agent states implied by a call event are not repeated:
`CallOffered` puts the agent in RESERVED, `CallAnswered` ON_CALL, `CallCompleted` WRAP_UP.

Records are written out as classes with `Final` attributes rather than frozen dataclasses:
mypyc compiles them to native objects that are just as immutable (assignment raises, and
no attribute can be added) and twenty times cheaper to create, which matters at several
events per simulated call. `_fields` gives the field order for equality and repr.
"""

from __future__ import annotations

from typing import ClassVar, Final

from hotline.domain.agent import AgentState
from hotline.domain.record import Record


class CallArrived(Record):
    """A call came in and entered the IVR."""

    _fields: ClassVar = ("at", "call_id", "language", "caller_type")

    def __init__(self, at: float, call_id: str, language: str, caller_type: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.language: Final = language
        self.caller_type: Final = caller_type


class CallQueued(Record):
    _fields: ClassVar = ("at", "call_id", "queue", "priority")

    def __init__(self, at: float, call_id: str, queue: str, priority: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.queue: Final = queue
        self.priority: Final = priority


class CallRequeued(Record):
    """A call back in its queue after a restart or a missed callback, in the place it had
    (`since`: when it first queued); not a new arrival in the queue."""

    _fields: ClassVar = ("at", "call_id", "queue", "priority", "since")

    def __init__(self, at: float, call_id: str, queue: str, priority: int, since: float) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.queue: Final = queue
        self.priority: Final = priority
        self.since: Final = since


class CallEscalated(Record):
    _fields: ClassVar = ("at", "call_id", "queue", "step")

    def __init__(self, at: float, call_id: str, queue: str, step: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.queue: Final = queue
        self.step: Final = step


class CallOverflowed(Record):
    _fields: ClassVar = ("at", "call_id", "from_queue", "to_queue", "fallback")

    def __init__(
        self,
        at: float,
        call_id: str,
        from_queue: str,
        to_queue: str | None,
        fallback: str | None,
    ) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.from_queue: Final = from_queue
        self.to_queue: Final = to_queue
        self.fallback: Final = fallback


class CallbackAccepted(Record):
    """The caller hung up to be called back; the call keeps its place in the queue."""

    _fields: ClassVar = ("at", "call_id", "queue")

    def __init__(self, at: float, call_id: str, queue: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.queue: Final = queue


class CallOffered(Record):
    _fields: ClassVar = ("at", "call_id", "agent_id", "queue")

    def __init__(self, at: float, call_id: str, agent_id: str, queue: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.queue: Final = queue


class OfferWithdrawn(Record):
    """The offer ended without an answer; the call keeps its place in the queue."""

    _fields: ClassVar = ("at", "call_id", "agent_id", "reason")

    def __init__(self, at: float, call_id: str, agent_id: str, reason: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.reason: Final = reason  # ring-no-answer | declined | caller-hung-up


class CallAnswered(Record):
    _fields: ClassVar = ("at", "call_id", "agent_id", "queue", "waited")

    def __init__(self, at: float, call_id: str, agent_id: str, queue: str, waited: float) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.queue: Final = queue
        self.waited: Final = waited


class CallAbandoned(Record):
    _fields: ClassVar = ("at", "call_id", "queue", "waited")

    def __init__(self, at: float, call_id: str, queue: str | None, waited: float) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.queue: Final = queue
        self.waited: Final = waited


class CallCompleted(Record):
    _fields: ClassVar = ("at", "call_id", "agent_id", "queue", "talk_seconds")

    def __init__(
        self,
        at: float,
        call_id: str,
        agent_id: str,
        queue: str,
        talk_seconds: float,
    ) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.queue: Final = queue
        self.talk_seconds: Final = talk_seconds


class AgentLoggedIn(Record):
    _fields: ClassVar = ("at", "agent_id")

    def __init__(self, at: float, agent_id: str) -> None:
        self.at: Final = at
        self.agent_id: Final = agent_id


class AgentLoggedOut(Record):
    _fields: ClassVar = ("at", "agent_id")

    def __init__(self, at: float, agent_id: str) -> None:
        self.at: Final = at
        self.agent_id: Final = agent_id


class AgentStateChanged(Record):
    _fields: ClassVar = ("at", "agent_id", "state", "reason")

    def __init__(
        self,
        at: float,
        agent_id: str,
        state: AgentState,
        reason: str | None = None,
    ) -> None:
        self.at: Final = at
        self.agent_id: Final = agent_id
        self.state: Final = state
        self.reason: Final = reason


Event = (
    CallArrived
    | CallQueued
    | CallRequeued
    | CallEscalated
    | CallOverflowed
    | CallbackAccepted
    | CallOffered
    | OfferWithdrawn
    | CallAnswered
    | CallAbandoned
    | CallCompleted
    | AgentLoggedIn
    | AgentLoggedOut
    | AgentStateChanged
)
