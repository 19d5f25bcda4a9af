"""What a switchboard is told: each command names the result `handle` gives for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Final, Generic, Literal, TypeVar

from hotline.domain.record import Record
from hotline.ivr.interpreter import Action, Enqueue, Input, LookupResult, Say
from hotline.switchboard.line import LineConfig
from hotline.switchboard.records import CallRow

R = TypeVar("R")
HoldState = Literal["waiting", "offer-callback", "connecting", "voicemail", "gone"]
AgentStatus = dict[str, str | None]


class Command(Record, Generic[R]):
    """Commands are immutable records (compiled: cheap to build in the simulator's loop)."""

    __slots__ = ()


# -- callers and the carrier


class Arrive(Command[list[Action] | None]):
    """A call came in for `called`: the flow starts (what the caller hears first; None if
    the line does not answer that number)."""

    _fields: ClassVar = ("sid", "caller", "called")

    def __init__(self, sid: str, caller: str, called: str) -> None:
        self.sid: Final = sid
        self.caller: Final = caller
        self.called: Final = called


class Route(Command[None]):
    """The caller's way through the IVR, decided outside the line's flow (the simulator's
    callers): they join the queue as the IVR's `Enqueue` says."""

    _fields: ClassVar = ("sid", "enqueue")

    def __init__(self, sid: str, enqueue: Enqueue) -> None:
        self.sid: Final = sid
        self.enqueue: Final = enqueue


class CallerInput(Command[list[Action]]):
    """What the caller keyed or said to the flow (or that they said nothing)."""

    _fields: ClassVar = ("sid", "input")

    def __init__(self, sid: str, input: Input) -> None:
        self.sid: Final = sid
        self.input: Final = input


class ResumeIvr(Command[list[Action]]):
    """A caller who was in the IVR when the server stopped starts the flow over."""

    _fields: ClassVar = ("sid",)

    def __init__(self, sid: str) -> None:
        self.sid: Final = sid


class LookupAnswered(Command[None]):
    """A record look-up's answer (`ticket`: the `StartLookup` it answers)."""

    _fields: ClassVar = ("sid", "ticket", "result")

    def __init__(self, sid: str, ticket: int, result: LookupResult) -> None:
        self.sid: Final = sid
        self.ticket: Final = ticket
        self.result: Final = result


class HearLookup(Command[list[Action] | None]):
    """The caller on hold for a look-up asks what comes next: None while it runs."""

    _fields: ClassVar = ("sid",)

    def __init__(self, sid: str) -> None:
        self.sid: Final = sid


class HoldPoll(Command[tuple[HoldState, list[Say]]]):
    """A caller in the hold loop: where they stand, and what they hear now."""

    _fields: ClassVar = ("sid",)

    def __init__(self, sid: str) -> None:
        self.sid: Final = sid


class TakeCallback(Command[list[Say] | None]):
    """A waiting caller took the callback offered: they hang up and keep their place.
    The result is the confirmation to play (None if they no longer wait)."""

    _fields: ClassVar = ("sid",)

    def __init__(self, sid: str) -> None:
        self.sid: Final = sid


class CarrierStatus(Command[None]):
    """The carrier's status of a call (`dial_back`: of the leg that called a callback
    caller back, `leg` that leg's own sid if known, `dial` the dial-back's own number,
    `DialBack.dial`: 0 if not said); a caller who hung up leaves the line."""

    _fields: ClassVar = ("sid", "status", "dial_back", "leg", "dial")

    def __init__(
        self, sid: str, status: str, dial_back: bool = False, leg: str = "", dial: int = 0
    ) -> None:
        self.sid: Final = sid
        self.status: Final = status
        self.dial_back: Final = dial_back
        self.leg: Final = leg
        self.dial: Final = dial


class CarrierDialledBack(Command[None]):
    """The carrier took the request to call a callback's caller back (`DialBack`, its
    `dial`): `leg` is that call's own sid."""

    _fields: ClassVar = ("sid", "leg", "dial")

    def __init__(self, sid: str, leg: str, dial: int = 0) -> None:
        self.sid: Final = sid
        self.leg: Final = leg
        self.dial: Final = dial


class DialDone(Command[bool]):
    """The carrier's word on the `attempt`th bridge to an agent. True if the caller is
    still waiting (back to the hold loop). `in_conference`: the word came from the agent's
    leg while the caller waits in the call's conference, so taking them back to the hold
    loop is a `Park` (else the reply to the caller's own request does it)."""

    _fields: ClassVar = ("sid", "status", "attempt", "in_conference")

    def __init__(self, sid: str, status: str, attempt: int, in_conference: bool = False) -> None:
        self.sid: Final = sid
        self.status: Final = status
        self.attempt: Final = attempt
        self.in_conference: Final = in_conference


class LegStatus(Command[None]):
    """The status of a participant dialled into the call's conference other than by a
    connect (a consulted agent, an interpreter, a supervisor): in-progress (answered),
    completed (left), or not reached (no-answer, busy, failed, canceled)."""

    _fields: ClassVar = ("sid", "label", "status")

    def __init__(self, sid: str, label: str, status: str) -> None:
        self.sid: Final = sid
        self.label: Final = label
        self.status: Final = status


class AgentLegEnded(Command[None]):
    """The agent's leg of the `attempt`th connect ended after it answered: they hung up."""

    _fields: ClassVar = ("sid", "attempt")

    def __init__(self, sid: str, attempt: int) -> None:
        self.sid: Final = sid
        self.attempt: Final = attempt


class LegAnswered(Command[None]):
    """The agent's leg of the `attempt`th connect answered; `leg`: that leg's own call id
    at the carrier ("" where there is none, as in the simulator)."""

    _fields: ClassVar = ("sid", "attempt", "leg")

    def __init__(self, sid: str, attempt: int, leg: str = "") -> None:
        self.sid: Final = sid
        self.attempt: Final = attempt
        self.leg: Final = leg


class CarrierRefused(Command[None]):
    """The carrier would not connect the call to its agent (`attempt`) or would not dial
    the callback caller (None). `gone`: it said the caller's call is over (it knows no such
    call in progress): the caller hung up as their agent accepted, and their hang-up's own
    word may come later. `dial`: which dial-back (`DialBack.dial`) was refused."""

    _fields: ClassVar = ("sid", "attempt", "gone", "dial")

    def __init__(self, sid: str, attempt: int | None, gone: bool = False, dial: int = 0) -> None:
        self.sid: Final = sid
        self.attempt: Final = attempt
        self.gone: Final = gone
        self.dial: Final = dial


class Voicemail(Command[None]):
    _fields: ClassVar = ("sid", "recording_url")

    def __init__(self, sid: str, recording_url: str) -> None:
        self.sid: Final = sid
        self.recording_url: Final = recording_url


# -- agents (each gives the agent's state afterwards)


class Login(Command[AgentStatus]):
    _fields: ClassVar = ("agent_id", "ready")

    def __init__(self, agent_id: str, ready: bool = False) -> None:
        self.agent_id: Final = agent_id
        self.ready: Final = ready


class SetReady(Command[AgentStatus]):
    _fields: ClassVar = ("agent_id", "ready", "reason")

    def __init__(self, agent_id: str, ready: bool, reason: str = "break") -> None:
        self.agent_id: Final = agent_id
        self.ready: Final = ready
        self.reason: Final = reason


class WrapUp(Command[AgentStatus]):
    """The agent closes the call they are wrapping up with a disposition code (one of the
    line's) and notes, then is ready (or not ready for `reason`)."""

    _fields: ClassVar = ("agent_id", "code", "notes", "ready", "reason")

    def __init__(
        self, agent_id: str, code: str, notes: str = "", ready: bool = True, reason: str = "break"
    ) -> None:
        self.agent_id: Final = agent_id
        self.code: Final = code
        self.notes: Final = notes
        self.ready: Final = ready
        self.reason: Final = reason


class HoldCall(Command[AgentStatus]):
    """The agent puts their caller on hold (`hold`) or takes them off it."""

    _fields: ClassVar = ("agent_id", "hold")

    def __init__(self, agent_id: str, hold: bool) -> None:
        self.agent_id: Final = agent_id
        self.hold: Final = hold


class Transfer(Command[AgentStatus]):
    """The agent passes their call to a queue (cold) or to an available agent: at once
    (cold), or (`warm`) after consulting them with the caller on hold, until
    `FinishTransfer`."""

    _fields: ClassVar = ("agent_id", "queue", "to_agent", "warm")

    def __init__(self, agent_id: str, queue: str = "", to_agent: str = "", warm: bool = False):
        self.agent_id: Final = agent_id
        self.queue: Final = queue
        self.to_agent: Final = to_agent
        self.warm: Final = warm


class FinishTransfer(Command[AgentStatus]):
    """The agent ends a warm transfer's consultation: the call is the consulted agent's
    (`complete`), or stays theirs (the consulted agent leaves)."""

    _fields: ClassVar = ("agent_id", "complete")

    def __init__(self, agent_id: str, complete: bool) -> None:
        self.agent_id: Final = agent_id
        self.complete: Final = complete


class AddInterpreter(Command[AgentStatus]):
    """The agent brings a telephone interpreter onto their call (`on`), or lets them go."""

    _fields: ClassVar = ("agent_id", "on")

    def __init__(self, agent_id: str, on: bool) -> None:
        self.agent_id: Final = agent_id
        self.on: Final = on


class HangUp(Command[AgentStatus]):
    """The agent ends their call: the caller is hung up on (not during a consultation:
    the transfer is completed or cancelled first)."""

    _fields: ClassVar = ("agent_id",)

    def __init__(self, agent_id: str) -> None:
        self.agent_id: Final = agent_id


class Supervise(Command[None]):
    """A supervisor joins a call on an agent, or changes how: `mode` listen, whisper (to
    the agent), barge (heard by both), or leave."""

    _fields: ClassVar = ("sid", "supervisor", "mode")

    def __init__(self, sid: str, supervisor: str, mode: str) -> None:
        self.sid: Final = sid
        self.supervisor: Final = supervisor
        self.mode: Final = mode


class AfterWrapUp(Command[AgentStatus]):
    """What the agent will be if their wrap-up's time runs out before they close it:
    ready, or not ready for `reason`."""

    _fields: ClassVar = ("agent_id", "ready", "reason")

    def __init__(self, agent_id: str, ready: bool, reason: str = "break") -> None:
        self.agent_id: Final = agent_id
        self.ready: Final = ready
        self.reason: Final = reason


class Logout(Command[AgentStatus]):
    _fields: ClassVar = ("agent_id",)

    def __init__(self, agent_id: str) -> None:
        self.agent_id: Final = agent_id


class Accept(Command[AgentStatus]):
    _fields: ClassVar = ("agent_id", "sid")

    def __init__(self, agent_id: str, sid: str) -> None:
        self.agent_id: Final = agent_id
        self.sid: Final = sid


class Decline(Command[AgentStatus]):
    _fields: ClassVar = ("agent_id", "sid")

    def __init__(self, agent_id: str, sid: str) -> None:
        self.agent_id: Final = agent_id
        self.sid: Final = sid


# -- the line


class Reconfigure(Command[list[str]]):
    """The line's configuration changed (in the store): from the next routing decision
    on, its agents' skills and queues, its queues' steps, and for new calls its flow
    version and mode. The result names what changed. Refused whole (nothing changes) if a queue
    would be added, removed or change its number of steps: that takes a restart."""

    _fields: ClassVar = ("line",)

    def __init__(self, line: LineConfig) -> None:
        self.line: Final = line


class Tick(Command[None]):
    """Time passed: the timers that fell due fire (offer timeouts, escalations, wrap-ups)."""

    _fields: ClassVar = ()


class Recovered(Record):
    """An open call found in the store after a restart, with what its events say."""

    _fields: ClassVar = ("row", "since", "attempts", "offered_callback", "bridged", "held",
                         "consult", "agent", "answered", "on_the_line",
                         "dialling_back", "interpreter", "supervisors", "held_before",
                         "dial_back_leg", "callback_tries", "dial")  # fmt: skip

    def __init__(
        self,
        row: CallRow,
        since: float | None,
        attempts: int,
        offered_callback: bool,
        bridged: bool,
        held: bool = False,
        consult: str = "",
        agent: str = "",
        answered: float | None = None,
        on_the_line: bool = False,
        dialling_back: bool = False,
        interpreter: bool = False,
        supervisors: tuple[tuple[str, str], ...] = (),
        held_before: bool = False,
        dial_back_leg: str = "",
        callback_tries: int = 0,
        dial: int = 0,
    ) -> None:
        self.row: Final = row
        self.since: Final = since  # when it first queued
        self.attempts: Final = attempts  # connects to an agent tried so far
        self.offered_callback: Final = offered_callback
        self.bridged: Final = bridged  # an agent's leg answered (and the caller is there)
        self.held: Final = held  # the caller was on hold in their conference
        self.consult: Final = consult  # the agent being consulted for a transfer ("": none)
        # the agent on the call, logged in again before the calls are recovered ("": none):
        # a bridged call is theirs again (else it goes on detached, closed by its status)
        self.agent: Final = agent
        self.answered: Final = answered  # when an agent first answered it
        # a callback's caller was called back and waits on hold in the conference for an
        # agent (their agent gone: a transfer to a queue, a phone that did not answer)
        self.on_the_line: Final = on_the_line
        # a callback's last connect: its agent's phone answered, the caller was not on the
        # line: their dial-back was asked for, and may not have reached the carrier
        self.dialling_back: Final = dialling_back
        # who else was in the call's conference: an interpreter; supervisors, each with how
        # they were on it (listen, whisper, barge)
        self.interpreter: Final = interpreter
        self.supervisors: Final = supervisors
        # the caller was on hold in the call's conference at some time (put on it by an
        # agent, or waiting there for one): one not on hold now may still be at the carrier,
        # if the line stopped between writing that they came off it and asking the carrier
        self.held_before: Final = held_before
        # the dial-back's own call ("": none known): the one the caller is on the line
        # through, or (`dialling_back`) the one the carrier took for the last connect
        self.dial_back_leg: Final = dial_back_leg
        self.callback_tries: Final = callback_tries  # a callback's dial-backs not reached
        self.dial: Final = dial  # that dial-back's number (`DialBack.dial`; 0: not known)


class NotRebuilt(Record):
    """An open call a start does not rebuild: an earlier try at it failed, for the fault
    named (`cause`: `CallNotRecovered`). What its events say of its caller: `leg`, a
    callback's dial-back (the one its caller is on the line through, else the last placed
    with no word of it since; "": none); `held`, the caller was on hold in its conference
    at some time (they may be still: the line may have stopped between writing that they
    came off it and asking the carrier); `consult`, the agent their agent was consulting
    on it ("": none)."""

    _fields: ClassVar = ("row", "cause", "leg", "held", "consult")

    def __init__(self, row: CallRow, cause: str, leg: str, held: bool, consult: str) -> None:
        self.row: Final = row
        self.cause: Final = cause
        self.leg: Final = leg
        self.held: Final = held
        self.consult: Final = consult


class Recover(Command[dict[str, int]]):
    """After a restart: rebuild the line from the store's open calls and the carrier's
    word on each (`statuses`: None if it does not know the call; a call left out is one
    it could not be asked about; a dial-back's leg is asked about too, by its own sid).
    `left`: calls not rebuilt (`NotRebuilt`), closed instead. The result counts the calls
    by what became of them."""

    _fields: ClassVar = ("calls", "statuses", "left")

    def __init__(
        self,
        calls: Sequence[Recovered],
        statuses: Mapping[str, str | None],
        left: Sequence[NotRebuilt] = (),
    ) -> None:
        self.calls: Final = calls
        self.statuses: Final = statuses
        self.left: Final = left


class ResumeWrapUp(Command[AgentStatus]):
    """After a restart: an agent logged in again, who was wrapping up `call_sid` (of
    `queue`) since `since` before it (or whose call ended while the line was down), wraps
    up what is left of the queue's wrap-up time, then is what they chose for after it
    (`then`: not ready for that reason; None: ready); at once if no time is left."""

    _fields: ClassVar = ("agent_id", "call_sid", "queue", "since", "then")

    def __init__(
        self, agent_id: str, call_sid: str, queue: str, since: float, then: str | None = None
    ) -> None:
        self.agent_id: Final = agent_id
        self.call_sid: Final = call_sid
        self.queue: Final = queue
        self.since: Final = since
        self.then: Final = then


class Recheck(Command[None]):
    """What the carrier now says of calls recovered while it could not."""

    _fields: ClassVar = ("statuses",)

    def __init__(self, statuses: Mapping[str, str | None]) -> None:
        self.statuses: Final = statuses
