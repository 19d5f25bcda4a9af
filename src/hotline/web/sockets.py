"""The agents' open websockets: who is connected with which token, what they are sent.

A socket lives only while its client does and its token stays valid: one task per socket
reads from the client (so a client that went away ends the handler and frees its queue),
and one sweep for all of them asks the store every `RECHECK` seconds which tokens still
hold, closing the sockets of tokens revoked since (code 4401, nothing sent after)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from hotline.errors import HotlineError

log = logging.getLogger("hotline.web")
RECHECK = 0.25  # seconds between sweeps: a revoked token's socket closes within a second
REVOKED = 4401
TOO_SLOW = 4408  # closed: the client fell BACKLOG messages behind (it may reconnect)
BACKLOG = 1000


@dataclass(eq=False)
class AgentSocket:
    agent_id: str
    token: str
    ws: WebSocket
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    revoked: bool = False
    lagging: bool = False
    sender: asyncio.Task[None] | None = None


class AgentSockets:
    def __init__(self, *, still_valid: Callable[[Collection[str]], set[str]]) -> None:
        """`still_valid(tokens)`: those of `tokens` the store still accepts."""
        self._still_valid = still_valid
        self._open: set[AgentSocket] = set()

    def __len__(self) -> int:
        return len(self._open)

    def send(self, agent_id: str, message: dict[str, Any]) -> None:
        """Queue a message for each of the agent's sockets; a socket that has fallen
        BACKLOG messages behind is closed instead (its queue never grows past that)."""
        for s in list(self._open):
            if s.agent_id != agent_id:
                continue
            if s.queue.qsize() >= BACKLOG:
                s.lagging = True
                self._end(s)
            else:
                s.queue.put_nowait(message)

    def _end(self, s: AgentSocket) -> None:
        """Stop sending to the socket now (even if it is stuck sending to a client that
        stopped reading); its handler closes it with the reason's code."""
        self._open.discard(s)
        if s.sender is not None:
            s.sender.cancel()

    async def serve(self, sock: AgentSocket, hello: dict[str, Any]) -> None:
        """Run one accepted socket until its client leaves, its token is revoked, it falls
        too far behind or the server stops; it is forgotten in every case."""
        self._open.add(sock)
        reader = asyncio.create_task(_read_until_gone(sock.ws))
        sock.sender = asyncio.create_task(_send_all(sock, hello))
        try:
            await asyncio.wait({reader, sock.sender}, return_when="FIRST_COMPLETED")
            if sock.revoked or sock.lagging:  # close, send nothing more
                code, reason = (REVOKED, "token revoked") if sock.revoked else (
                    TOO_SLOW, "too far behind")  # fmt: skip
                # a client that stopped reading may never take the close frame (timeout),
                # or be gone already: either way the socket is finished with and forgotten
                with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError,
                                         OSError):  # fmt: skip
                    await asyncio.wait_for(sock.ws.close(code=code, reason=reason), 1.0)
        finally:
            self._open.discard(sock)
            for task in (reader, sock.sender):
                task.cancel()
                # it ends by cancellation, or because the client left: either is the end
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect,
                                         RuntimeError, OSError):  # fmt: skip
                    await task

    async def sweep(self) -> None:
        """Forever: close the sockets whose token the store no longer accepts."""
        while True:
            await asyncio.sleep(RECHECK)
            await self.check()

    async def check(self) -> None:
        """Close the sockets whose token the store no longer accepts. Only the tokens
        asked about are judged: a socket opened while the store answered is not."""
        if not self._open:
            return
        tokens = {s.token for s in self._open}
        try:
            valid = await asyncio.to_thread(self._still_valid, tokens)
        except HotlineError as e:  # keep the sockets; the next sweep asks again
            log.warning("cannot check agents' tokens: %s", e.message)
            return
        for s in list(self._open):
            if s.token in tokens and s.token not in valid:
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
