"""What a line keeps of one open call (its row in the store, and the switchboard's own
record of it), dropped when the call ends. Compiled with the switchboard (native classes
are cheap to build)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from hotline.domain.call import Call
from hotline.domain.record import Record
from hotline.ivr.interpreter import Action, Lookup, Session
from hotline.ivr.model import Flow


class CallRow(Record):
    """Who called, for which number, and where the IVR sent them (the store's row)."""

    _fields: ClassVar = ("sid", "line", "caller", "called", "language", "queue", "priority",
                         "state", "attributes", "callback_number", "arrived_at")  # fmt: skip

    def __init__(
        self,
        sid: str,
        line: str,
        caller: str,
        called: str,
        language: str,
        queue: str | None,
        priority: int,
        state: str,
        attributes: Mapping[str, str],
        callback_number: str | None,
        arrived_at: float,
    ) -> None:
        self.sid: Final = sid
        self.line: Final = line
        self.caller: Final = caller
        self.called: Final = called
        self.language: Final = language
        self.queue: Final = queue
        self.priority: Final = priority
        self.state: Final = state
        self.attributes: Final = attributes
        self.callback_number: Final = callback_number
        self.arrived_at: Final = arrived_at

    def changed(self, **values: Any) -> CallRow:
        """The same row with some of its fields changed."""
        return CallRow(**{**self.as_dict(), **values})


class CallRecord:
    """Everything the switchboard keeps of one open call."""

    def __init__(
        self,
        *,
        row: CallRow,
        call: Call | None = None,
        since: float | None = None,
        connects: int = 0,
        callback_tries: int = 0,
        offered_callback: bool = False,
        unverified: bool = False,
    ) -> None:
        self.row = row
        self.ivr: tuple[Flow, Session] | None = None  # the IVR session, while in the IVR
        self.inputs = 0  # IVR inputs so far in this run (the webhook's step)
        self.generation = 1  # IVR runs (a restart begins a new one)
        self.call = call  # in the ACD
        self.since = since  # recovered: when it first queued
        self.connects = connects  # connects to an agent tried
        self.callback_tries = callback_tries  # dial-backs not answered
        # the look-up under way (its ticket, what it asked), and what the flow said once it
        # answered that the caller has not heard yet
        self.looking: tuple[int, Lookup] | None = None
        self.heard: list[Action] | None = None
        self.resumable = False  # in the IVR when the server stopped: start it over
        self.detached = False  # answered before a restart: closed by its status
        self.offered_callback = offered_callback  # the hold loop offered one (once a call)
        self.unverified = unverified  # recovered while the carrier could not say it went on
        # a caller on the line through their dial-back, recovered while the carrier could
        # not say whether that call (this sid) went on: asked again until it can
        self.unverified_leg = ""
        self.bridged = False  # the agent's leg answered the last connect
        # a callback's caller was dialled back into the call's conference (once its agent's
        # leg answered): they are on the line, not waiting off it
        self.dialled_back = False
        # dial-backs numbered below this are over (`DialBack.dial`: superseded by one asked
        # for here, written before a restart or heard of, or missed); 0: none known. A miss
        # of one of them is not the caller's word
        self.dial = 0
        # its dial-back was asked for before a restart and the carrier has said nothing of
        # it since: it may never have gone out, so the next agent's phone answering dials
        # the caller rather than taking them as there
        self.dial_back_unconfirmed = False
        self.dial_back_leg = ""  # the call of the dial-back awaited, once the carrier placed it
        self.answered_connect = 0  # the last connect whose agent's leg answered (0: none)
        # a callback's caller answered their dial-back: on the line (until they hang up)
        self.caller_answered = False
        self.pending = False  # dialling an agent when the server restarted
        # on the call's conference: the caller on hold, the agent consulted for a warm
        # transfer, an interpreter joined, the supervisors on it (name -> mode)
        self.held = False
        self.consult: str | None = None
        self.consult_answered = False  # the consulted agent's phone answered
        # an agent's leg answered (some agent talked to the caller): kept when the call
        # passes to another agent, not when it goes back to a queue (a new record)
        self.talked = False
        self.interpreter = False
        self.supervisors: dict[str, str] = {}
