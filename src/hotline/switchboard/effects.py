"""What a switchboard asks of the world: the drivers carry these out (the live server
after the command's unit of work is handed to the store; the simulator at once) and
bring what came of them back as commands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.ivr.interpreter import Lookup
from hotline.switchboard.records import CallRow


@dataclass(frozen=True, slots=True)
class Offer:
    """Tell an agent's browser that a call is offered to them."""

    agent_id: str
    call_sid: str
    caller: str
    language: str
    queue: str
    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Withdraw:
    agent_id: str
    call_sid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Bridge the caller to the agent who answered; `attempt` counts the connects of this
    call, so each one's callbacks are told apart."""

    call_sid: str
    agent_id: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class DialBack:
    """Call back a caller who kept their place, straight through to the agent who took it."""

    call_sid: str
    number: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class StartLookup:
    """Run a record look-up; its answer comes back as `LookupAnswered(ticket)`."""

    ticket: int
    call_sid: str
    lookup: Lookup


@dataclass(frozen=True, slots=True)
class DropLookup:
    """The look-up's answer is no longer wanted (the caller hung up)."""

    ticket: int


@dataclass(frozen=True, slots=True)
class OpenCall:
    """Keep a new call's row."""

    row: CallRow


@dataclass(frozen=True, slots=True)
class ChangeCall:
    """Change a call's row (what its events alone do not say)."""

    sid: str
    values: Mapping[str, Any]


Effect = Offer | Withdraw | Connect | DialBack | StartLookup | DropLookup | OpenCall | ChangeCall
