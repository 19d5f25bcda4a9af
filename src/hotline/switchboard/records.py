"""What a line keeps of one open call (its row in the store, and the switchboard's own
record of it), dropped when the call ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline.domain.call import Call
from hotline.ivr.interpreter import Action, Lookup, Session
from hotline.ivr.model import Flow


@dataclass(frozen=True, slots=True)
class CallRow:
    """Who called, for which number, and where the IVR sent them (the store's row)."""

    sid: str
    line: str
    caller: str
    called: str
    language: str
    queue: str | None
    priority: int
    state: str
    attributes: Mapping[str, str]
    callback_number: str | None
    arrived_at: float


@dataclass(slots=True, eq=False)
class CallRecord:
    """Everything the switchboard keeps of one open call."""

    row: CallRow
    ivr: tuple[Flow, Session] | None = None  # the IVR session, while in the IVR
    inputs: int = 0  # IVR inputs so far in this run (the webhook's step)
    generation: int = 1  # IVR runs (a restart begins a new one)
    call: Call | None = None  # in the ACD
    since: float | None = None  # recovered: when it first queued
    connects: int = 0  # connects to an agent tried
    callback_tries: int = 0  # dial-backs not answered
    looking: tuple[int, Lookup] | None = None  # the look-up under way: ticket, what it asked
    heard: list[Action] | None = None  # what the flow said once it answered, not yet heard
    resumable: bool = False  # in the IVR when the server stopped: start it over
    detached: bool = False  # answered before a restart: closed by its status
    offered_callback: bool = False  # the hold loop offered a callback (once a call)
    unverified: bool = False  # recovered while the carrier could not say it still went on
    bridged: bool = False  # the agent's leg answered the last connect
    pending: bool = False  # dialling an agent when the server restarted
