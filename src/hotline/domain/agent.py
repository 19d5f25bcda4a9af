"""Agents: who they are, what they can do, which queues they serve, and their states."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from hotline.domain.skills import Skills


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"  # a call is being offered (ringing)
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"  # with a reason code


class NotReadyReason:
    """Reason codes the platform itself sets; supervisors may define more."""

    RING_NO_ANSWER: Final = "ring-no-answer"
    DECLINED: Final = "declined"
    BREAK: Final = "break"
    LOGIN: Final = "login"


@dataclass(frozen=True, slots=True)
class QueueMembership:
    """An agent serves `queue`; a lower `tier` is served first when calls wait in several."""

    queue: str
    tier: int = 1


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's identity and abilities. `queues` empty means: every queue they qualify for.

    With `auto_answer` an offered call is connected at once, without ringing (a headset
    setting many contact centres use; the simulator uses it for agents who pick up at once).
    """

    id: str
    name: str
    skills: Skills = field(default_factory=dict)
    queues: tuple[QueueMembership, ...] = ()
    auto_answer: bool = False
