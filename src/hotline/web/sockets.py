"""The agents' open websockets: who is connected with which token, what they are sent.

A socket lives only while its client does and its token stays valid: one task per socket
reads from the client (so a client that went away ends the handler and frees its queue),
and one sweep for all of them closes the sockets of tokens revoked since (code 4401,
nothing sent after). The sweep reads the store's access revision every `RECHECK` seconds
(one row: it grows with every token or session ended and every user disabled,
store.revisions) and asks which tokens still hold only when it grew, when a socket opened
since the last ask, or when the first of the tokens asked about runs out by time (a
session's idle or 12-hour limit changes no revision: the ask says when each runs out if
not used meanwhile, and its socket closes within a sweep of that moment), and at least
every `BACKSTOP` seconds (a token or session ended behind the store's back, its row deleted
by hand, grows no revision): a line with thousands of agents does not ask about every token
four times a second.

An agent has one socket at a time: a new one takes over (the old one is closed with 4409,
so two windows never both ring). When an agent's socket goes because its client left (or
its session ended), `absent` names them until they are back or `settled`: the runtime sets
them not ready after a grace period, once they are not on a call (presence is the
server's, not a browser tab's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from hotline.errors import HotlineError

log = logging.getLogger("hotline.web")
RECHECK = 0.25  # seconds between sweeps: a revoked token's socket closes within a second
BACKSTOP = 300.0  # seconds (token_clock's) at most between asks about every token
REVOKED = 4401
TOO_SLOW = 4408  # closed: the client fell BACKLOG messages behind (it may reconnect)
TAKEN_OVER = 4409  # closed: the agent opened another window (which now gets the offers)
MOVED = 1012  # closed: the line is served elsewhere from now (its pages connect again)
MOVED_REASON = "the line is served elsewhere: connect again"
BACKLOG = 1000


@dataclass(eq=False)
class AgentSocket:
    agent_id: str
    token: str
    ws: WebSocket
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    revoked: bool = False
    lagging: bool = False
    taken_over: bool = False
    moved: bool = False
    told: dict[str, Any] | None = None  # the last state it was told (`tell_state`)
    sender: asyncio.Task[None] | None = None


class AgentSockets:
    def __init__(
        self,
        *,
        still_valid: Callable[[Collection[str]], Mapping[str, float]],
        revision: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.time,
        token_clock: Callable[[], float] = time.time,
    ) -> None:
        """`still_valid(tokens)`: those of `tokens` the store still accepts, each with the
        time (on `token_clock`) it runs out if not used meanwhile (`math.inf`: never by
        time); `revision()`: the store's access revision (None: every sweep asks about
        every token); `clock`: when an agent's socket went (the line's wall clock)."""
        self._still_valid = still_valid
        self._revision = revision
        self._judged: int | None = None  # the revision last asked at
        self._runs_out = math.inf  # (token_clock) when the first token asked about runs out
        self._clock = clock
        self._token_clock = token_clock
        self._open: dict[str, set[AgentSocket]] = {}  # by agent (a send finds theirs at once)
        # those open whose token no sweep has asked about yet (only when it opened): kept as
        # they come and go, so a sweep with nothing new to ask does not visit every socket
        self._unjudged: set[AgentSocket] = set()
        self._gone: dict[str, float] = {}  # agents whose client left: since when
        self._closed = False  # (`close_all`: the line is served here no more)

    def absent(self, since: float) -> list[str]:
        """Agents whose socket went (their client left, or its token ended) at `since` or
        before and who have not come back, until `settled`."""
        return [a for a, at in self._gone.items() if at <= since]

    def expect(self, agent_ids: Collection[str]) -> None:
        """Agents logged in with no socket yet (resumed by a restart or a takeover): absent
        from now until their desktop connects, as if it had just gone."""
        now = self._clock()
        for agent_id in agent_ids:
            if agent_id not in self._open:
                self._gone.setdefault(agent_id, now)

    def settled(self, agent_id: str) -> None:
        """Nothing more to do about the agent's absence (they were set not ready, or are
        not logged in): they are named no more."""
        self._gone.pop(agent_id, None)

    def __len__(self) -> int:
        return sum(len(mine) for mine in self._open.values())

    def has(self, agent_id: str) -> bool:
        """Whether the agent has a socket open."""
        return agent_id in self._open

    def _every(self) -> list[AgentSocket]:
        return [s for mine in self._open.values() for s in mine]

    def _add(self, s: AgentSocket) -> None:
        self._open.setdefault(s.agent_id, set()).add(s)
        self._unjudged.add(s)

    def _discard(self, s: AgentSocket) -> None:
        self._unjudged.discard(s)
        mine = self._open.get(s.agent_id)
        if mine is not None:
            mine.discard(s)
            if not mine:
                del self._open[s.agent_id]

    def send(self, agent_id: str, message: dict[str, Any]) -> None:
        """Queue a message for each of the agent's sockets; a socket that has fallen
        BACKLOG messages behind is closed instead (its queue never grows past that). The
        state told next is told even if told last: what came between (an offer) may have
        changed what the desktop shows."""
        for s in list(self._open.get(agent_id, ())):
            s.told = None
            self._queue(s, message)

    def tell_state(self, agent_id: str, state: dict[str, Any]) -> None:
        """The agent's state as it is now (`{"type": "state", ...}`), to each of their
        sockets that was not told it last (one change makes several events: each asks)."""
        for s in list(self._open.get(agent_id, ())):
            if s.told != state:
                s.told = state
                self._queue(s, state)

    def _queue(self, s: AgentSocket, message: dict[str, Any]) -> None:
        if s.queue.qsize() >= BACKLOG:
            s.lagging = True
            self._end(s)
        else:
            s.queue.put_nowait(message)

    def _end(self, s: AgentSocket) -> None:
        """Stop sending to the socket now (even if it is stuck sending to a client that
        stopped reading); its handler closes it with the reason's code."""
        self._discard(s)
        if s.sender is not None:
            s.sender.cancel()

    async def serve(self, sock: AgentSocket, hello: dict[str, Any], *, only: bool = False) -> None:
        """Run one accepted socket until its client leaves, its token is revoked, it falls
        too far behind, another takes over (`only`: the agent's one socket) or the server
        stops; it is forgotten in every case."""
        if self._closed:  # (opened as the line moved: told nothing, closed at once)
            with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
                await asyncio.wait_for(sock.ws.close(code=MOVED, reason=MOVED_REASON), 1.0)
            return
        if only:
            self._gone.pop(sock.agent_id, None)
            for s in list(self._open.get(sock.agent_id, ())):
                s.taken_over = True
                self._end(s)
        self._add(sock)
        reader = asyncio.create_task(_read_until_gone(sock.ws))
        sock.sender = asyncio.create_task(_send_all(sock, hello))
        try:
            await asyncio.wait({reader, sock.sender}, return_when="FIRST_COMPLETED")
            if sock.revoked or sock.lagging or sock.taken_over or sock.moved:  # close, send
                code, reason = (REVOKED, "token revoked") if sock.revoked else (  # no more
                    TOO_SLOW, "too far behind") if sock.lagging else (
                    TAKEN_OVER, "opened in another window") if sock.taken_over else (
                    MOVED, MOVED_REASON)  # fmt: skip
                # a client that stopped reading may never take the close frame (timeout),
                # or be gone already: either way the socket is finished with and forgotten
                with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError,
                                         OSError):  # fmt: skip
                    await asyncio.wait_for(sock.ws.close(code=code, reason=reason), 1.0)
        finally:
            self._discard(sock)
            if only and not sock.taken_over and not self.has(sock.agent_id):
                # (left, logged off, or the server stops)
                self._gone[sock.agent_id] = self._clock()
            for task in (reader, sock.sender):
                task.cancel()
                # it ends by cancellation, or because the client left: either is the end
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect,
                                         RuntimeError, OSError):  # fmt: skip
                    await task

    def close_all(self) -> None:
        """Close every socket (the line is handed to another node, or the server stops):
        the pages connect again, to whichever node serves the line then; one still being
        opened now is closed as soon as it is served."""
        self._closed = True
        for s in self._every():
            s.moved = True
            self._end(s)

    async def sweep(self) -> None:
        """Forever: close the sockets whose token the store no longer accepts."""
        while True:
            await asyncio.sleep(RECHECK)
            try:
                await self.check()
            except Exception:  # logged, not silenced: the sweep must outlive any one failure
                log.exception("checking the agents' tokens failed")

    async def check(self) -> None:
        """Close the sockets whose token the store no longer accepts (asked only when
        something may have changed: see the module). Only the tokens asked about are
        judged: a socket opened while the store answered is not (the next check is)."""
        if not self._open:
            return
        try:
            revision = None if self._revision is None \
                else await asyncio.to_thread(self._revision)  # fmt: skip
            if revision is not None and revision == self._judged and not self._unjudged \
                    and self._token_clock() < self._runs_out:  # fmt: skip
                return  # (nothing ended since every open socket's token was asked about)
            began = self._token_clock()
            asked = self._every()
            tokens = {s.token for s in asked}
            valid = await asyncio.to_thread(self._still_valid, tokens)
        except HotlineError as e:  # keep the sockets; the next sweep asks again
            log.warning("cannot check agents' tokens: %s", e.message)
            return
        if revision is not None:
            self._judged = revision
        self._runs_out = min([began + BACKSTOP, *valid.values()])
        self._unjudged.difference_update(asked)
        for s in asked:
            if s.token not in valid:
                s.revoked = True
                self._end(s)


async def _send_all(sock: AgentSocket, hello: dict[str, Any]) -> None:
    await sock.ws.send_json(hello)
    while True:
        await sock.ws.send_json(await sock.queue.get())


async def _read_until_gone(ws: WebSocket) -> None:
    """Agents send nothing on this socket yet; reading is how we learn they left."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
