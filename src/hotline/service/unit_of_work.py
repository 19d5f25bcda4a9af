"""The unit-of-work port: what one command changed, committed to the store all at once.

A command (a webhook, an agent's request, a timer tick) buffers typed writes; the writer
hands them to `UnitOfWork.commit` as one unit: one transaction, all of it or nothing. The
SQLAlchemy adapter is `store.repository.Store`; `testing.store.InMemoryStore` is the
fake. Both raise only our own errors: `StoreUnavailable` (try again later) and
`WriteRefused` (the store refuses it for what it holds: trying again can never succeed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline.switchboard.records import CallRow


@dataclass(frozen=True, slots=True)
class AddCall:
    row: CallRow
    at: float

    @property
    def sid(self) -> str:
        return self.row.sid

    @property
    def line(self) -> str:
        return self.row.line


@dataclass(frozen=True, slots=True)
class UpdateCall:
    sid: str
    at: float
    values: Mapping[str, Any] = field(default_factory=dict)
    line: str = ""  # the line whose command wrote it ("": a store with no fence)


@dataclass(frozen=True, slots=True)
class AppendEvent:
    sid: str | None
    at: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    line: str = ""


@dataclass(frozen=True, slots=True)
class SaveReply:
    """The TwiML answered to one carrier callback, kept so a retry gets it again."""

    sid: str
    step: str
    twiml: str
    at: float
    line: str = ""


@dataclass(frozen=True, slots=True)
class SaveAgent:
    """An agent's state as it now is (replacing what was kept), so a restart resumes it."""

    agent_id: str
    state: str
    reason: str | None
    call_sid: str | None
    queue: str | None
    since: float
    line: str = ""
    leaving: bool = False  # they asked to log out once their call and wrap-up end


Write = AddCall | UpdateCall | AppendEvent | SaveReply | SaveAgent


class UnitOfWork(Protocol):
    def commit(self, writes: Sequence[Write]) -> None:
        """Apply every write in order in one transaction: all of them, or (raising
        StoreUnavailable or WriteRefused) none."""
        ...

    def call(self, sid: str) -> CallRow | None: ...

    def events(self, call_sid: str) -> list[tuple[str, dict[str, Any]]]: ...

    def reply_for(self, call_sid: str, step: str) -> str | None: ...

    def agent_states(self) -> dict[str, SaveAgent]: ...
