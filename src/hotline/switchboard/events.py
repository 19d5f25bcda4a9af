"""The line's own events, beside the ACD's (`domain.events`): a call's way through the
IVR, its look-ups, the callbacks offered, the connects to agents and what became of them.

Together they are the line's one vocabulary of events. Each is stored under `kind` (the
names the store has always used; recovery reads them), with its fields but `at` and
`call_id` as its data.
"""

from __future__ import annotations

from typing import ClassVar, Final

from hotline.domain.events import Event
from hotline.domain.record import Record


class LineEvent(Record):
    __slots__ = ()
    kind: ClassVar[str] = ""


class IvrStarted(LineEvent):
    kind = "ivr-started"
    _fields: ClassVar = ("at", "call_id", "flow", "version")

    def __init__(self, at: float, call_id: str, flow: str, version: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.flow: Final = flow
        self.version: Final = version


class IvrResumed(LineEvent):
    """A caller in the IVR when the server stopped starts the flow over (run `generation`)."""

    kind = "ivr-resumed"
    _fields: ClassVar = ("at", "call_id", "generation")

    def __init__(self, at: float, call_id: str, generation: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.generation: Final = generation


class IvrEnded(LineEvent):
    kind = "ivr-ended"
    _fields: ClassVar = ("at", "call_id", "outcome")

    def __init__(self, at: float, call_id: str, outcome: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.outcome: Final = outcome


class LookedUp(LineEvent):
    """A record look-up answered (or was given up at its deadline: `status` error)."""

    kind = "lookup"
    _fields: ClassVar = ("at", "call_id", "connector", "operation", "status")

    def __init__(
        self, at: float, call_id: str, connector: str, operation: str, status: str
    ) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.connector: Final = connector
        self.operation: Final = operation
        self.status: Final = status


class CallbackOffered(LineEvent):
    """The hold loop offered the caller a callback (once a call; `wait`: the estimate)."""

    kind = "callback-offered"
    _fields: ClassVar = ("at", "call_id", "wait")

    def __init__(self, at: float, call_id: str, wait: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.wait: Final = wait


class Connecting(LineEvent):
    """An answered call is being bridged to its agent (the call's `attempt`th connect)."""

    kind = "connecting"
    _fields: ClassVar = ("at", "call_id", "attempt", "agent")

    def __init__(self, at: float, call_id: str, attempt: int, agent: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.attempt: Final = attempt
        self.agent: Final = agent


class AgentLegAnswered(LineEvent):
    """The agent picked up: the caller has talked to someone."""

    kind = "agent-leg-answered"
    _fields: ClassVar = ("at", "call_id", "attempt", "agent_id")

    def __init__(self, at: float, call_id: str, attempt: int, agent_id: str = "") -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.attempt: Final = attempt
        self.agent_id: Final = agent_id  # (whose call it is now: their desktop is told)


class AgentLegFailed(LineEvent):
    """The agent's phone did not answer the connect (`status`: no-answer, busy, ...)."""

    kind = "agent-leg-failed"
    _fields: ClassVar = ("at", "call_id", "status", "agent", "attempt")

    def __init__(self, at: float, call_id: str, status: str, agent: str, attempt: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.status: Final = status
        self.agent: Final = agent
        self.attempt: Final = attempt


class CallbackNotReached(LineEvent):
    """A dial-back the caller did not pick up (the `tries`th)."""

    kind = "callback-not-reached"
    _fields: ClassVar = ("at", "call_id", "status", "tries")

    def __init__(self, at: float, call_id: str, status: str, tries: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.status: Final = status
        self.tries: Final = tries


class CalledBack(LineEvent):
    """The caller picked up the dial-back: they talk to their agent (`agent_id`), or,
    their agent gone meanwhile (""), wait on hold in the call's conference for the next.
    `leg`: the dial-back's own call, which a restart asks the carrier about ("": unknown)."""

    kind = "called-back"
    _fields: ClassVar = ("at", "call_id", "agent_id", "leg")

    def __init__(self, at: float, call_id: str, agent_id: str, leg: str = "") -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id  # (their desktop is told)
        self.leg: Final = leg


class DialBackPlaced(LineEvent):
    """The carrier took the request to call a callback's caller back: `leg` is that
    call's own sid, which a restart asks the carrier about (answered meanwhile, the caller
    is not dialled a second time); `dial`, which dial-back of the call it is
    (`DialBack.dial`: a restart knows an earlier one's late miss for what it is)."""

    kind = "dial-back-placed"
    _fields: ClassVar = ("at", "call_id", "leg", "dial")

    def __init__(self, at: float, call_id: str, leg: str, dial: int) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.leg: Final = leg
        self.dial: Final = dial


class ClosedAfterRestart(LineEvent):
    """A call that ended while the server was down (`carrier`: its status there)."""

    kind = "closed-after-restart"
    _fields: ClassVar = ("at", "call_id", "carrier")

    def __init__(self, at: float, call_id: str, carrier: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.carrier: Final = carrier


class NotRecovered(LineEvent):
    """An open call that could not be rebuilt at a start (`cause`: the fault's kind): it
    is closed, and its caller told so (`effects.EndCall`)."""

    kind = "not-recovered"
    _fields: ClassVar = ("at", "call_id", "cause")

    def __init__(self, at: float, call_id: str, cause: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.cause: Final = cause


class CompletedAfterRestart(LineEvent):
    """A call on an agent across a restart has ended."""

    kind = "completed-after-restart"
    _fields: ClassVar = ("at", "call_id", "status")

    def __init__(self, at: float, call_id: str, status: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.status: Final = status


class CallRefused(LineEvent):
    """A call for a number the line does not answer."""

    kind = "refused"
    _fields: ClassVar = ("at", "call_id", "called")

    def __init__(self, at: float, call_id: str, called: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.called: Final = called


class VoicemailLeft(LineEvent):
    kind = "voicemail"
    _fields: ClassVar = ("at", "call_id", "recording")

    def __init__(self, at: float, call_id: str, recording: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.recording: Final = recording


class WrappedUp(LineEvent):
    """An agent closed a call's wrap-up with a disposition code and notes; `code` is
    "timeout" when it ended without one (its time limit, the agent's own change of state,
    a log-out, a supervisor's change)."""

    kind = "wrapped-up"
    _fields: ClassVar = ("at", "call_id", "agent_id", "code", "notes")

    def __init__(self, at: float, call_id: str, agent_id: str, code: str, notes: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.code: Final = code
        self.notes: Final = notes


class CallHeld(LineEvent):
    """The agent put the caller on hold (`held`) or took them off it."""

    kind = "hold"
    _fields: ClassVar = ("at", "call_id", "agent_id", "held")

    def __init__(self, at: float, call_id: str, agent_id: str, held: bool) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.held: Final = held


class Transferred(LineEvent):
    """The agent passed the call on: to a queue (`to_queue`) or to an agent (`to_agent`),
    at once (cold) or after consulting them (`warm`)."""

    kind = "transferred"
    _fields: ClassVar = ("at", "call_id", "agent_id", "to_queue", "to_agent", "warm")

    def __init__(
        self, at: float, call_id: str, agent_id: str, to_queue: str, to_agent: str, warm: bool
    ) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.to_queue: Final = to_queue
        self.to_agent: Final = to_agent
        self.warm: Final = warm


class Consulted(LineEvent):
    """A warm transfer's consultation with `to_agent` (the caller on hold): `stage` is
    started, cancelled, or not-reached:STATUS (their phone did not answer)."""

    kind = "consult"
    _fields: ClassVar = ("at", "call_id", "agent_id", "to_agent", "stage")

    def __init__(self, at: float, call_id: str, agent_id: str, to_agent: str, stage: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.to_agent: Final = to_agent
        self.stage: Final = stage


class InterpreterLeg(LineEvent):
    """An interpreter for the caller's `language` joined the call (`stage` added), left it
    (removed) or could not be reached (not-reached:STATUS)."""

    kind = "interpreter"
    _fields: ClassVar = ("at", "call_id", "agent_id", "language", "stage")

    def __init__(self, at: float, call_id: str, agent_id: str, language: str, stage: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.language: Final = language
        self.stage: Final = stage


class Supervised(LineEvent):
    """A supervisor on the agent's call: `mode` listen (heard by nobody), whisper (heard by
    the agent only), barge (heard by both), left, or not-reached:STATUS."""

    kind = "supervised"
    _fields: ClassVar = ("at", "call_id", "agent_id", "supervisor", "mode")

    def __init__(self, at: float, call_id: str, agent_id: str, supervisor: str, mode: str) -> None:
        self.at: Final = at
        self.call_id: Final = call_id
        self.agent_id: Final = agent_id
        self.supervisor: Final = supervisor
        self.mode: Final = mode


OfTheLine = (
    IvrStarted
    | IvrResumed
    | IvrEnded
    | LookedUp
    | CallbackOffered
    | Connecting
    | AgentLegAnswered
    | AgentLegFailed
    | CallbackNotReached
    | CalledBack
    | DialBackPlaced
    | ClosedAfterRestart
    | NotRecovered
    | CompletedAfterRestart
    | CallRefused
    | VoicemailLeft
    | WrappedUp
    | CallHeld
    | Transferred
    | Consulted
    | InterpreterLeg
    | Supervised
)
AnyEvent = Event | OfTheLine  # the line's one vocabulary


def stored(event: AnyEvent) -> tuple[str, str | None, dict[str, object]]:
    """An event as the store keeps it: its kind, its call (if any) and its data."""
    if isinstance(event, LineEvent):
        data = {name: getattr(event, name) for name in event._fields[2:]}
        return event.kind, event.call_id, data
    scalars = {name: getattr(event, name) for name in event._fields}
    data = {k: v for k, v in scalars.items() if isinstance(v, str | int | float | bool | None)}
    sid = data.get("call_id")
    return type(event).__name__, sid if isinstance(sid, str) else None, data
