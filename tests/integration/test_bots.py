"""The load test's agent bots (telephony.emulator.bots) against a served line: set not
ready by the line because their phone failed to take a call, they are ready again, as an
agent would be (the simulator's agents never fail so, and a bot left out for the rest of
a run made the live line short of the agents the simulator counts). A ready the line
answers 503 (its group handed over, or recovering) is asked again, not given up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from hotline.service.demo import free_ports
from hotline.telephony.control import CarrierError
from hotline.telephony.emulator.bots import AgentBot
from hotline.testing.control import RecordingCallControl

from .live_fixtures import PUBLIC, Carrier, Live, queue_public_caller, sqlite_url
from .test_nodes import Served

SID = "CA" + "b" * 32


class FailsOnce(RecordingCallControl):
    """A carrier that refuses to put the first call through (a failure of its own, not a
    caller gone: the agent is set not ready, as for a phone that failed), then puts calls
    through."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        if not self.refused:
            self.refused += 1
            raise CarrierError(f"the carrier refused to update call {call_sid}")
        super().connect(call_sid, agent_id, attempt)


def played(
    live: Live,
    served: Served,
    base: str,
    token: str,
    scenario: Callable[[], Coroutine[Any, Any, None]],
) -> dict[str, Any]:
    """`scenario` played against the app served at `base` (the carrier's requests through
    it too), then the server stopped: the bot's agent as the line has them at the end."""
    try:
        with httpx.Client(base_url=base) as http:
            live.carrier = Carrier(http, PUBLIC)
            asyncio.run(scenario())
            me: dict[str, Any] = http.get(
                "/api/agent/me", headers={"Authorization": f"Bearer {token}"}
            ).json()
            return me
    finally:
        served.stop()


def test_a_bot_set_not_ready_by_a_failed_connect_is_ready_again(tmp_path):
    carrier = FailsOnce()
    live = Live(sqlite_url(tmp_path), control=carrier)
    base = f"http://127.0.0.1:{free_ports(1)[0]}"
    served = Served(live.app, int(base.rsplit(":", 1)[1]))
    token = live.store.issue_token("en-day-1", live.wall())
    bot = AgentBot(agent_id="en-day-1", token=token, base_url=base, speed=1.0, ring=0.0)

    async def scenario() -> None:
        running = asyncio.create_task(bot.run())
        try:
            await asyncio.wait_for(bot.ready.wait(), 10)
            await asyncio.to_thread(queue_public_caller, live, SID, "+12025550143")
            for _ in range(200):  # (bounded: a bot left not ready fails here)
                if len(bot.accepted) == 2:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"accepted {bot.accepted}; the carrier refused {carrier.refused}")
        finally:
            running.cancel()

    me = played(live, served, base, token, scenario)
    assert (carrier.refused, bot.accepted) == (1, [SID, SID])
    assert me["call_sid"] == SID


class Front:
    """Before the line's app: the ready requests numbered in `refuse` (0 the first) are
    answered 503 as a line handed over answers them; what each request got is kept."""

    READY = "/api/agent/ready"

    def __init__(self, app: Any, refuse: set[int]) -> None:
        self.app, self.refuse = app, refuse
        self.readies = 0
        self.answered: list[tuple[str, int]] = []
        self._changed = threading.Condition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.READY:
            self.readies += 1
            if self.readies - 1 in self.refuse:
                refused = JSONResponse({"error_id": "line-stopped", "message": "handed over"},
                                       status_code=503)  # fmt: skip
                await refused(scope, receive, send)
                self._said(path, 503)
                return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
        self._said(path, status)

    def _said(self, path: str, status: int) -> None:
        with self._changed:
            self.answered.append((path, status))
            self._changed.notify_all()

    def statuses(self, path: str) -> list[int]:
        with self._changed:
            return [s for p, s in self.answered if p == path]

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, timeout)


def serve_with_front(live: Live, refuse: set[int]) -> tuple[str, Front, Served]:
    front = Front(live.app, refuse)
    port = free_ports(1)[0]
    return f"http://127.0.0.1:{port}", front, Served(front, port)


def test_a_bot_whose_first_ready_answers_are_503_ends_up_ready(tmp_path):
    """Its log-in lands while the line is handed over: its ready is answered 503 twice. It
    used to give up for good (raise_for_status ended its run); it asks again."""
    live = Live(sqlite_url(tmp_path))
    base, front, served = serve_with_front(live, refuse={0, 1})
    token = live.store.issue_token("en-day-1", live.wall())
    bot = AgentBot(agent_id="en-day-1", token=token, base_url=base, speed=1.0, ring=0.0)

    async def scenario() -> None:
        running = asyncio.create_task(bot.run())
        ready = asyncio.create_task(bot.ready.wait())
        try:
            await asyncio.wait({running, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            assert bot.ready.is_set(), running.exception() if running.done() else "not ready"
        finally:
            running.cancel()
            ready.cancel()

    me = played(live, served, base, token, scenario)
    assert front.statuses(Front.READY) == [503, 503, 200]
    assert me["state"] == "available"


def test_a_bot_whose_ready_again_is_answered_503_takes_the_call_again(tmp_path):
    """Set not ready by the line (its phone failed to take a call), its ready again is
    answered 503 twice: it asks again, is ready, and is offered the caller once more."""
    carrier = FailsOnce()
    live = Live(sqlite_url(tmp_path), control=carrier)
    base, front, served = serve_with_front(live, refuse={1, 2})
    token = live.store.issue_token("en-day-1", live.wall())
    bot = AgentBot(agent_id="en-day-1", token=token, base_url=base, speed=1.0, ring=0.0)
    accept = f"/api/agent/calls/{SID}/accept"

    async def scenario() -> None:
        running = asyncio.create_task(bot.run())
        try:
            await asyncio.wait_for(bot.ready.wait(), 10)
            await asyncio.to_thread(queue_public_caller, live, SID, "+12025550143")
            taken = await asyncio.to_thread(
                front.until, lambda: front.statuses(accept) == [200, 200]
            )
            assert taken, running.exception() if running.done() else front.answered
        finally:
            running.cancel()

    me = played(live, served, base, token, scenario)
    assert front.statuses(Front.READY) == [200, 503, 503, 200]
    assert carrier.refused == 1  # (the first accept's connect; the second went through)
    assert me["call_sid"] == SID
