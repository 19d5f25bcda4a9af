"""What a switchboard asks of the world: the drivers carry these out (the live server
after the command's unit of work is handed to the store; the simulator at once) and
bring what came of them back as commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from hotline.domain.record import Record
from hotline.ivr.interpreter import Lookup
from hotline.switchboard.records import CallRow


class Offer(Record):
    """Tell an agent's browser that a call is offered to them."""

    _fields: ClassVar = ("agent_id", "call_sid", "caller", "language", "queue", "attributes")

    def __init__(
        self,
        agent_id: str,
        call_sid: str,
        caller: str,
        language: str,
        queue: str,
        attributes: Mapping[str, str],
    ) -> None:
        self.agent_id: Final = agent_id
        self.call_sid: Final = call_sid
        self.caller: Final = caller
        self.language: Final = language
        self.queue: Final = queue
        self.attributes: Final = attributes


class Withdraw(Record):
    _fields: ClassVar = ("agent_id", "call_sid", "reason")

    def __init__(self, agent_id: str, call_sid: str, reason: str) -> None:
        self.agent_id: Final = agent_id
        self.call_sid: Final = call_sid
        self.reason: Final = reason


class Connect(Record):
    """Bridge the caller to the agent who answered: the caller joins the call's conference
    and the agent's phone is dialled into it; `attempt` counts the connects of this call,
    so each one's callbacks are told apart."""

    _fields: ClassVar = ("call_sid", "agent_id", "attempt")

    def __init__(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        self.call_sid: Final = call_sid
        self.agent_id: Final = agent_id
        self.attempt: Final = attempt


class DialBack(Record):
    """Call back a caller who kept their place, into the call's conference (named by the
    call's sid) where their agent's leg has answered, from the line's number (`caller_id`).
    `dial` tells this dial-back from the call's others (a later one has a larger number):
    its call's status words carry it (`CarrierStatus.dial`), so that the word of one the
    line no longer waits on is known."""

    _fields: ClassVar = ("call_sid", "number", "caller_id", "dial")

    def __init__(self, call_sid: str, number: str, caller_id: str, dial: int) -> None:
        self.call_sid: Final = call_sid
        self.number: Final = number
        self.caller_id: Final = caller_id
        self.dial: Final = dial


class StartLookup(Record):
    """Run a record look-up; its answer comes back as `LookupAnswered(ticket)`."""

    _fields: ClassVar = ("ticket", "call_sid", "lookup")

    def __init__(self, ticket: int, call_sid: str, lookup: Lookup) -> None:
        self.ticket: Final = ticket
        self.call_sid: Final = call_sid
        self.lookup: Final = lookup


class DropLookup(Record):
    """The look-up's answer is no longer wanted (the caller hung up)."""

    _fields: ClassVar = ("ticket",)

    def __init__(self, ticket: int) -> None:
        self.ticket: Final = ticket


class OpenCall(Record):
    """Keep a new call's row."""

    _fields: ClassVar = ("row",)

    def __init__(self, row: CallRow) -> None:
        self.row: Final = row


class ChangeCall(Record):
    """Change a call's row (what its events alone do not say)."""

    _fields: ClassVar = ("sid", "changes")

    def __init__(self, sid: str, changes: Mapping[str, Any]) -> None:
        self.sid: Final = sid
        self.changes: Final = changes


class Leg(Record):
    """A change to the call's conference (the caller, their agent, and whoever else joins):
    `action` join (dial `label` in, in `mode`), mode (change it), hold, resume or drop.
    `label` names a participant: caller, agent:ID, supervisor:NAME or interpreter; `mode`
    is talk, listen (heard by nobody) or whisper (heard by the participant `coach` only);
    `attempt`: the connect whose callbacks the joining agent's leg reports to (0: its
    own leg's callbacks)."""

    _fields: ClassVar = ("call_sid", "label", "action", "mode", "coach", "attempt")

    def __init__(
        self,
        call_sid: str,
        label: str,
        action: str,
        mode: str = "talk",
        coach: str = "",
        attempt: int = 0,
    ) -> None:
        self.call_sid: Final = call_sid
        self.label: Final = label
        self.action: Final = action
        self.mode: Final = mode
        self.coach: Final = coach
        self.attempt: Final = attempt


class EndLeg(Record):
    """Hang up one leg of the call by its own carrier id: an agent's phone that answered
    for a connect already over (its caller hung up as the line dialled the agent, a later
    connect replaced it, or the line gave it up), so the agent is not left alone in a
    conference. `ringing`: only if it has not been answered yet (the carrier's cancel): a
    callback's dial-back its agent hung up while it rang (a caller who picked up
    meanwhile stays on the call)."""

    _fields: ClassVar = ("call_sid", "leg_sid", "ringing")

    def __init__(self, call_sid: str, leg_sid: str, ringing: bool = False) -> None:
        self.call_sid: Final = call_sid
        self.leg_sid: Final = leg_sid
        self.ringing: Final = ringing


class Park(Record):
    """The caller leaves the call's conference for the hold loop (their agent's phone did
    not answer, or the call was transferred to a queue), after `attempt` connects."""

    _fields: ClassVar = ("call_sid", "attempt")

    def __init__(self, call_sid: str, attempt: int) -> None:
        self.call_sid: Final = call_sid
        self.attempt: Final = attempt


class EndCall(Record):
    """End the caller's call, telling them it could not be kept and to call again (a call
    a start could not rebuild: `events.NotRecovered`)."""

    _fields: ClassVar = ("call_sid",)

    def __init__(self, call_sid: str) -> None:
        self.call_sid: Final = call_sid


Effect = (
    Offer | Withdraw | Connect | DialBack | StartLookup | DropLookup | OpenCall | ChangeCall
    | Leg | EndLeg | Park | EndCall
)  # fmt: skip
