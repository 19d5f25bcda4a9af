"""An in-memory unit of work: the store's contract without a database (tests, examples).

It keeps what the SQLAlchemy adapter keeps and refuses what it refuses (a second call
with the same sid, a second reply to the same step), all of a unit or nothing."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hotline.errors import StoreUnavailable, WriteRefused
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveAgent,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.switchboard.records import CallRow


class InMemoryStore:
    def __init__(self) -> None:
        self.calls: dict[str, CallRow] = {}
        self.events_: list[tuple[str | None, str, dict[str, Any]]] = []
        self.replies: dict[tuple[str, str], str] = {}
        self.agents: dict[str, SaveAgent] = {}
        self.down = False  # set by a test: every commit fails as a database that is down
        self.commits = 0

    def commit(self, writes: Sequence[Write]) -> None:
        """All of the unit or none of it: its changes are staged, then applied at once."""
        if self.down:
            raise StoreUnavailable("the database failed: the in-memory store is down")
        calls: dict[str, CallRow] = {}
        events: list[tuple[str | None, str, dict[str, Any]]] = []
        replies: dict[tuple[str, str], str] = {}
        agents: dict[str, SaveAgent] = {}
        for w in writes:
            if isinstance(w, AddCall):
                if w.row.sid in calls or w.row.sid in self.calls:
                    raise WriteRefused(f"UNIQUE constraint failed: calls.sid {w.row.sid!r}")
                calls[w.row.sid] = w.row
            elif isinstance(w, UpdateCall):
                row = calls.get(w.sid) or self.calls.get(w.sid)
                if row is not None:  # as an UPDATE that matches no row: nothing changes
                    calls[w.sid] = row.changed(**copy.deepcopy(dict(w.values)))
            elif isinstance(w, AppendEvent):
                events.append((w.sid, w.kind, copy.deepcopy(dict(w.data))))
            elif isinstance(w, SaveReply):
                if (w.sid, w.step) in replies or (w.sid, w.step) in self.replies:
                    raise WriteRefused(f"UNIQUE constraint failed: webhook_replies {w.step!r}")
                replies[(w.sid, w.step)] = w.twiml
            elif isinstance(w, SaveAgent):
                agents[w.agent_id] = w
        self.calls.update(calls)
        self.agents.update(agents)
        self.events_ += events
        self.replies.update(replies)
        self.commits += 1

    def call(self, sid: str) -> CallRow | None:
        return self.calls.get(sid)

    def events(self, call_sid: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, copy.deepcopy(d)) for s, k, d in self.events_ if s == call_sid]

    def reply_for(self, call_sid: str, step: str) -> str | None:
        return self.replies.get((call_sid, step))

    def agent_states(self) -> dict[str, SaveAgent]:
        return dict(self.agents)
