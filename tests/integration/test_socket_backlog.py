"""A websocket client that stops reading is closed, never left to grow or hold on: too far
behind (4408), or its token revoked (4401), even while a send to it is stuck."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection
from typing import Any

from hotline.web.sockets import BACKLOG, REVOKED, TOO_SLOW, AgentSocket, AgentSockets


class StuckClient:
    """Takes the hello, then never reads again: every later send waits for ever."""

    def __init__(self) -> None:
        self.sent = 0
        self.closed: int | None = None
        self._never = asyncio.Event()

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent += 1
        if self.sent > 1:
            await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        await self._never.wait()
        return {}

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code


def run(valid: Collection[str], act: str) -> tuple[int | None, int]:
    async def main() -> tuple[int | None, int]:
        sockets = AgentSockets(
            still_valid=lambda tokens: dict.fromkeys(set(tokens) & set(valid), math.inf)
        )
        client = StuckClient()
        sock = AgentSocket("supervisor", "tok", client)  # type: ignore[arg-type]
        serving = asyncio.create_task(sockets.serve(sock, {"type": "hello"}))
        while client.sent < 1:  # the socket is open and its hello went
            await asyncio.sleep(0)
        sockets.send("supervisor", {"n": 0})
        while client.sent < 2:  # the next send is stuck
            await asyncio.sleep(0)
        if act == "flood":
            for n in range(BACKLOG + 5):
                sockets.send("supervisor", {"n": n})
        else:
            await sockets.check()
        await asyncio.wait_for(serving, 5)
        return client.closed, len(sockets)

    return asyncio.run(main())


def test_a_client_that_falls_too_far_behind_is_closed():
    assert run({"tok"}, "flood") == (TOO_SLOW, 0)


def test_a_stuck_client_whose_token_is_revoked_is_closed():
    assert run(set(), "revoke") == (REVOKED, 0)
