"""What a switchboard is told: each command names the result `handle` gives for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from hotline.ivr.interpreter import Action, Enqueue, Input, LookupResult, Say
from hotline.switchboard.records import CallRow

R = TypeVar("R")
HoldState = Literal["waiting", "offer-callback", "connecting", "voicemail", "gone"]
AgentStatus = dict[str, str | None]


class Command(Generic[R]):
    __slots__ = ()


# -- callers and the carrier


@dataclass(frozen=True, slots=True)
class Arrive(Command[list[Action] | None]):
    """A call came in for `called`: the flow starts (what the caller hears first; None if
    the line does not answer that number)."""

    sid: str
    caller: str
    called: str


@dataclass(frozen=True, slots=True)
class Route(Command[None]):
    """The caller's way through the IVR, decided outside the line's flow (the simulator's
    callers): they join the queue as the IVR's `Enqueue` says."""

    sid: str
    enqueue: Enqueue


@dataclass(frozen=True, slots=True)
class CallerInput(Command[list[Action]]):
    """What the caller keyed or said to the flow (or that they said nothing)."""

    sid: str
    input: Input


@dataclass(frozen=True, slots=True)
class ResumeIvr(Command[list[Action]]):
    """A caller who was in the IVR when the server stopped starts the flow over."""

    sid: str


@dataclass(frozen=True, slots=True)
class LookupAnswered(Command[None]):
    """A record look-up's answer (`ticket`: the `StartLookup` it answers)."""

    sid: str
    ticket: int
    result: LookupResult


@dataclass(frozen=True, slots=True)
class HearLookup(Command[list[Action] | None]):
    """The caller on hold for a look-up asks what comes next: None while it runs."""

    sid: str


@dataclass(frozen=True, slots=True)
class HoldPoll(Command[tuple[HoldState, list[Say]]]):
    """A caller in the hold loop: where they stand, and what they hear now."""

    sid: str


@dataclass(frozen=True, slots=True)
class TakeCallback(Command[list[Say] | None]):
    """A waiting caller took the callback offered: they hang up and keep their place.
    The result is the confirmation to play (None if they no longer wait)."""

    sid: str


@dataclass(frozen=True, slots=True)
class CarrierStatus(Command[None]):
    """The carrier's status of a call (`dial_back`: of the leg that called a callback
    caller back); a caller who hung up leaves the line."""

    sid: str
    status: str
    dial_back: bool = False


@dataclass(frozen=True, slots=True)
class DialDone(Command[bool]):
    """The carrier's word on the `attempt`th bridge to an agent. True if the caller is
    still waiting (back to the hold loop)."""

    sid: str
    status: str
    attempt: int


@dataclass(frozen=True, slots=True)
class LegAnswered(Command[None]):
    """The agent's leg of the `attempt`th connect answered."""

    sid: str
    attempt: int


@dataclass(frozen=True, slots=True)
class CarrierRefused(Command[None]):
    """The carrier would not connect the call to its agent (`attempt`) or would not dial
    the callback caller (None)."""

    sid: str
    attempt: int | None


@dataclass(frozen=True, slots=True)
class Voicemail(Command[None]):
    sid: str
    recording_url: str


# -- agents (each gives the agent's state afterwards)


@dataclass(frozen=True, slots=True)
class Login(Command[AgentStatus]):
    agent_id: str
    ready: bool = False


@dataclass(frozen=True, slots=True)
class SetReady(Command[AgentStatus]):
    agent_id: str
    ready: bool
    reason: str = "break"


@dataclass(frozen=True, slots=True)
class Logout(Command[AgentStatus]):
    agent_id: str


@dataclass(frozen=True, slots=True)
class Accept(Command[AgentStatus]):
    agent_id: str
    sid: str


@dataclass(frozen=True, slots=True)
class Decline(Command[AgentStatus]):
    agent_id: str
    sid: str


# -- the line


@dataclass(frozen=True, slots=True)
class Tick(Command[None]):
    """Time passed: the timers that fell due fire (offer timeouts, escalations, wrap-ups)."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """An open call found in the store after a restart, with what its events say."""

    row: CallRow
    since: float | None  # when it first queued
    attempts: int  # connects to an agent tried so far
    offered_callback: bool
    bridged: bool  # an agent's leg answered


@dataclass(frozen=True, slots=True)
class Recover(Command[dict[str, int]]):
    """After a restart: rebuild the line from the store's open calls and the carrier's
    word on each (`statuses`: None if it does not know the call; a call left out is one
    it could not be asked about). The result counts the calls by what became of them."""

    calls: Sequence[Recovered]
    statuses: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class Recheck(Command[None]):
    """What the carrier now says of calls recovered while it could not."""

    statuses: Mapping[str, str | None]
