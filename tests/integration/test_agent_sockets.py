"""The agents' socket registry on its own: which sockets a token check may close."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Collection
from typing import Any, cast

from fastapi import WebSocket

from hotline.web.sockets import BACKSTOP, TAKEN_OVER, AgentSocket, AgentSockets


class FakeSocket:
    """Just enough of a websocket: records what it is sent; the client never leaves."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.greeted = asyncio.Event()
        self._gone = asyncio.Event()

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.greeted.set()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code
        self._gone.set()


def forever(tokens: Collection[str]) -> dict[str, float]:
    """`tokens`, each valid and never running out by time (as agents' tokens)."""
    return dict.fromkeys(tokens, math.inf)


async def delivered(socket: FakeSocket, count: int) -> None:
    while len(socket.sent) < count:
        await asyncio.sleep(0)


async def ended(socket: FakeSocket) -> None:
    while not socket.sent or socket.sent[-1]["type"] != "end":
        await asyncio.sleep(0)


def test_a_socket_opened_while_tokens_are_checked_is_not_closed():
    async def scenario() -> tuple[int | None, int | None]:
        loop = asyncio.get_running_loop()
        asked, answer = asyncio.Event(), threading.Event()

        def slow_store(tokens: Collection[str]) -> dict[str, float]:
            loop.call_soon_threadsafe(asked.set)
            answer.wait(10)
            return forever({"old-token"} & set(tokens))

        registry = AgentSockets(still_valid=slow_store)
        first, second = FakeSocket(), FakeSocket()
        tasks = [asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "revoked-token", cast(WebSocket, first)), {"type": "hello"}
        ))]  # fmt: skip
        await first.greeted.wait()
        check = asyncio.create_task(registry.check())
        await asyncio.wait_for(asked.wait(), 10)  # the store is being asked about the first
        tasks.append(asyncio.create_task(registry.serve(
            AgentSocket("es-day-2", "new-token", cast(WebSocket, second)), {"type": "hello"}
        )))  # fmt: skip
        await second.greeted.wait()
        answer.set()
        await check
        await asyncio.wait_for(tasks[0], 10)  # the revoked one ends
        registry.send("es-day-2", {"type": "offer"})
        await asyncio.wait_for(delivered(second, 2), 10)
        await second.close(1000)
        await asyncio.wait_for(tasks[1], 10)
        return first.closed, second.closed if second.sent[-1] == {"type": "offer"} else -1

    first, second = asyncio.run(scenario())
    assert first == 4401
    assert second == 1000  # kept open (and sent the offer) until its client left


async def until(condition: Any) -> None:
    """Let the other tasks run until `condition()` holds (bounded: a broken one fails)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


def test_an_agent_has_one_socket_a_new_one_takes_over_and_a_client_that_left_is_absent():
    async def scenario() -> None:
        now = [100.0]
        registry = AgentSockets(still_valid=forever, clock=lambda: now[0])
        first, second = FakeSocket(), FakeSocket()
        tasks = [asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "t1", cast(WebSocket, first)), {"type": "hello"}, only=True
        ))]  # fmt: skip
        await first.greeted.wait()
        tasks.append(asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "t2", cast(WebSocket, second)), {"type": "hello"}, only=True
        )))  # fmt: skip
        await second.greeted.wait()
        await until(lambda: first.closed is not None)
        assert first.closed == TAKEN_OVER  # the old window is told, and hears nothing more
        registry.send("es-day-1", {"type": "offer"})
        await delivered(second, 2)
        assert [m["type"] for m in second.sent] == ["hello", "offer"]
        assert [m["type"] for m in first.sent] == ["hello"]
        assert registry.absent(since=now[0]) == []  # taken over is not gone
        now[0] = 130.0
        await second.close(1000)  # the client leaves (the tab is closed)
        await asyncio.gather(*tasks)
        assert registry.absent(since=129.0) == []  # gone at 130: not yet past the grace
        assert registry.absent(since=130.0) == ["es-day-1"]
        assert registry.absent(since=200.0) == ["es-day-1"]  # (on a call: asked again later)
        registry.settled("es-day-1")
        assert registry.absent(since=200.0) == []

    asyncio.run(scenario())


def test_tokens_are_asked_about_when_the_access_revision_grows_or_a_socket_opened():
    """A line with thousands of agents asked the store about every token four times a
    second; now only when something may have ended (the store's access revision grew) or
    a socket opened since the last ask (its token not yet judged by a sweep)."""

    async def scenario() -> tuple[list[set[str]], int | None, int | None]:
        asked: list[set[str]] = []
        valid, revision = {"t1", "t2"}, [7]

        def store(tokens: Collection[str]) -> dict[str, float]:
            asked.append(set(tokens))
            return forever(valid & set(tokens))

        registry = AgentSockets(still_valid=store, revision=lambda: revision[0])
        one, two = FakeSocket(), FakeSocket()
        tasks = [asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "t1", cast(WebSocket, one)), {"type": "hello"}))]  # fmt: skip
        await one.greeted.wait()
        await registry.check()  # (a socket opened: asked)
        await registry.check()  # (nothing since: not asked)
        tasks.append(asyncio.create_task(registry.serve(
            AgentSocket("es-day-2", "t2", cast(WebSocket, two)), {"type": "hello"})))  # fmt: skip
        await two.greeted.wait()
        await registry.check()  # (another opened: asked)
        await registry.check()
        valid.discard("t1")
        revision[0] += 1  # (the store says so in the transaction that revokes it)
        await registry.check()
        await asyncio.wait_for(tasks[0], 10)
        await two.close(1000)
        await asyncio.wait_for(tasks[1], 10)
        return asked, one.closed, two.closed

    asked, one, two = asyncio.run(scenario())
    assert asked == [{"t1"}, {"t1", "t2"}, {"t1", "t2"}]
    assert (one, two) == (4401, 1000)


def test_the_sweep_outlives_a_check_that_fails_unexpectedly():
    """A check that failed with anything but the store's errors ended the sweep: from then
    on no revoked token's socket was ever closed."""

    async def scenario() -> int | None:
        asked = 0

        def store(tokens: Collection[str]) -> dict[str, float]:
            nonlocal asked
            asked += 1
            if asked == 1:
                raise ValueError("a bug, once")
            return {}  # (then: the token is revoked)

        registry = AgentSockets(still_valid=store)
        one = FakeSocket()
        serving = asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "t1", cast(WebSocket, one)), {"type": "hello"}))  # fmt: skip
        await one.greeted.wait()
        sweep = asyncio.create_task(registry.sweep())
        try:
            await asyncio.wait_for(serving, 10)
        finally:
            sweep.cancel()
        return one.closed

    assert asyncio.run(scenario()) == 4401


def told(act: Callable[[AgentSockets], None]) -> list[dict[str, Any]]:
    """What one agent's socket is sent, after its hello, while `act` tells the registry
    things (an "end" after them, to know when all came)."""

    async def scenario() -> list[dict[str, Any]]:
        registry = AgentSockets(still_valid=forever)
        one = FakeSocket()
        serving = asyncio.create_task(registry.serve(
            AgentSocket("es-day-1", "t1", cast(WebSocket, one)), {"type": "hello"}))  # fmt: skip
        await one.greeted.wait()
        act(registry)
        registry.send("es-day-1", {"type": "end"})
        await asyncio.wait_for(ended(one), 10)
        await one.close(1000)
        await asyncio.wait_for(serving, 10)
        return one.sent

    return asyncio.run(scenario())


def test_a_state_is_told_once_however_many_events_ask():
    """One change of an agent's state makes several events (a failed connect: the offer
    withdrawn and the agent not ready), and each told the agent's state as it is now: the
    desktop (and every bot of a load test) was sent each state twice."""
    failed = {"type": "state", "state": "not_ready", "reason": "agent-failed"}

    def act(registry: AgentSockets) -> None:
        for state in (failed, dict(failed), {**failed, "state": "available", "reason": None},
                      failed):  # fmt: skip
            registry.tell_state("es-day-1", state)

    sent = told(act)
    assert [(m["type"], m.get("state")) for m in sent] == [
        ("hello", None), ("state", "not_ready"), ("state", "available"), ("state", "not_ready"),
        ("end", None)]  # fmt: skip


def test_a_state_after_an_offer_is_told_even_if_it_was_told_before_the_offer():
    """An offer shows the call as offered on the desktop (desktop.js: `reserved`) without a
    state message; the state the agent is in after it must still be told. A command's
    news is published once its writes land, with the agent's state as it is *then*: an
    offer whose caller hung up meanwhile tells "available" again, then the offer, then
    (the hang-up's news) "available" once more. Dropping that last one as told already
    left the desktop showing an offer that was gone, with Accept and Decline."""
    available = {"type": "state", "state": "available", "reason": None, "call_sid": None}

    def act(registry: AgentSockets) -> None:
        registry.tell_state("es-day-1", available)
        registry.send("es-day-1", {"type": "offer", "call_sid": "CA1"})
        registry.send("es-day-1", {"type": "withdrawn", "call_sid": "CA1"})
        registry.tell_state("es-day-1", dict(available))

    sent = told(act)
    assert [(m["type"], m.get("state")) for m in sent] == [
        ("hello", None), ("state", "available"), ("offer", None), ("withdrawn", None),
        ("state", "available"), ("end", None)]  # fmt: skip


def test_only_sockets_open_and_not_yet_asked_about_make_a_sweep_ask():
    """A sweep with nothing new asks nothing (it no longer visits every socket to know):
    a socket that opened while the store was being asked is asked about by the next sweep;
    one that opened and closed between two sweeps makes none ask."""

    async def scenario() -> list[set[str]]:
        loop = asyncio.get_running_loop()
        asked: list[set[str]] = []
        asking, answer = asyncio.Event(), threading.Event()

        def store(tokens: Collection[str]) -> dict[str, float]:
            asked.append(set(tokens))
            if len(asked) == 1:  # (the first ask is slow: a socket opens meanwhile)
                loop.call_soon_threadsafe(asking.set)
                answer.wait(10)
            return forever(tokens)

        registry = AgentSockets(still_valid=store, revision=lambda: 7)
        sockets = [FakeSocket() for _ in range(3)]

        async def opened(i: int) -> asyncio.Task[None]:
            """Socket i served (token t{i}), once it has been greeted."""
            task = asyncio.create_task(registry.serve(
                AgentSocket(f"es-day-{i}", f"t{i}", cast(WebSocket, sockets[i])),
                {"type": "hello"}))  # fmt: skip
            await sockets[i].greeted.wait()
            return task

        first = await opened(0)
        check = asyncio.create_task(registry.check())
        await asyncio.wait_for(asking.wait(), 10)
        second = await opened(1)
        answer.set()
        await check  # (asked about t0 only)
        await registry.check()  # (t1 opened during that ask: asked now)
        await registry.check()  # (nothing new)
        third = await opened(2)
        await sockets[2].close(1000)
        await asyncio.wait_for(third, 10)
        await registry.check()  # (it came and went: nothing to ask)
        for s, task in ((sockets[0], first), (sockets[1], second)):
            await s.close(1000)
            await asyncio.wait_for(task, 10)
        return asked

    assert asyncio.run(scenario()) == [{"t0"}, {"t0", "t1"}]


def test_a_token_that_runs_out_by_time_is_asked_about_again_then_and_its_socket_closed():
    """A session's idle or 12-hour limit changes no revision: the ask says when each token
    runs out, and the first check after that moment asks again (the session may have been
    used meanwhile), closing the socket of one that ran out; before it, nothing is asked."""

    async def scenario() -> tuple[list[float], int | None, bool]:
        now = [1_000.0]
        runs_out = {"t1": 1_060.0, "t2": math.inf}
        asked: list[float] = []

        def store(tokens: Collection[str]) -> dict[str, float]:
            asked.append(now[0])
            return {t: runs_out[t] for t in tokens if now[0] < runs_out[t]}

        registry = AgentSockets(still_valid=store, revision=lambda: 7,
                                token_clock=lambda: now[0])  # fmt: skip
        one, two = FakeSocket(), FakeSocket()
        tasks = [asyncio.create_task(registry.serve(
            AgentSocket(f"es-day-{i}", f"t{i}", cast(WebSocket, s)), {"type": "hello"}))
            for i, s in ((1, one), (2, two))]  # fmt: skip
        await one.greeted.wait()
        await two.greeted.wait()
        await registry.check()  # (both new: asked at 1,000)
        now[0] = 1_059.0
        await registry.check()  # (nothing ran out yet: not asked)
        runs_out["t1"] = 1_100.0  # (used meanwhile: the session's idle limit moved on)
        now[0] = 1_060.0
        await registry.check()  # (asked: t1 holds until 1,100)
        now[0] = 1_099.0
        await registry.check()  # (not asked)
        now[0] = 1_100.0
        await registry.check()  # (asked: t1 ran out)
        await asyncio.wait_for(tasks[0], 10)
        now[0] = 1_100.0 + BACKSTOP - 1
        await registry.check()  # (t2 never runs out: not asked)
        now[0] = 1_100.0 + BACKSTOP
        await registry.check()  # (asked all the same: a row deleted by hand grows nothing)
        await two.close(1000)
        await asyncio.wait_for(tasks[1], 10)
        return asked, one.closed, two.closed == 1000

    asked, closed, other_left_as_it_was = asyncio.run(scenario())
    assert asked == [1_000.0, 1_060.0, 1_100.0, 1_100.0 + BACKSTOP]
    assert closed == 4401
    assert other_left_as_it_was
