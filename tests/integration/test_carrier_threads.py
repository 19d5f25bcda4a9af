"""The carrier's requests (connects, conference legs, dial-backs) run in threads of their
own. In the event loop's shared threads, a carrier that stalled (each request may wait up
to its time-out) held every one of them, and the work that waits there waited too: a
caller's webhook for a call the line does not hold (the store read of `lost`), an agent
socket's token check, a reload of the lines' configuration."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from pathlib import Path
from typing import Any

from hotline.testing.control import RecordingCallControl
from hotline.web.runtime import LineRuntime

from .live_fixtures import LINE, Live, call_form, queue_public_caller, sqlite_url

SHARED = 4  # the loop's shared threads in this test (as on a machine of 0 cores + 4)
STALLED = SHARED  # connects stalled at once, each on a call of its own: as many as would
# fill the shared threads (where they ran before, and the webhook then waited for them)
STALL = 30.0  # seconds a stalled connect waits for the carrier at most


class StalledCarrier(RecordingCallControl):
    """A carrier whose connects wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = threading.Semaphore(0)  # released as each connect begins to wait
        self.timed_out = 0

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        self.waiting.release()
        if not self.gate.wait(STALL):
            self.timed_out += 1
        super().connect(call_sid, agent_id, attempt)


def test_a_callers_webhook_is_answered_while_the_carrier_stalls(tmp_path: Path) -> None:
    carrier = StalledCarrier()
    live = Live(sqlite_url(tmp_path), control=carrier, settle=False)
    portal = live.http.portal
    assert portal is not None

    def few_shared_threads() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(SHARED))

    portal.call(few_shared_threads)
    try:
        sids = [f"CA{n:032d}" for n in range(STALLED)]
        for n, sid in enumerate(sids):
            queue_public_caller(live, sid, f"+1202555{n:04d}")
        for n, sid in enumerate(sids):  # (offered in the order they queued)
            agent = live.agent(f"en-day-{n + 1}")
            live.http.post("/api/agent/login", headers=agent)
            assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
            r = live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
            assert r.status_code == 200, r.text
        for _ in range(STALLED):  # every connect is under way, waiting on the carrier
            assert carrier.waiting.acquire(timeout=STALL)

        lost = "CA" + "9" * 32  # a call whose state went with a node that could not write it
        r = live.carrier.post(f"/voice/wait?sid={lost}&n=4",
                              call_form(lost, From="+12025550999", To=LINE))  # fmt: skip
        assert "Thank you for calling the National Hotline" in r.text  # it starts over
        assert carrier.timed_out == 0  # answered while every connect still stalled
    finally:
        carrier.gate.set()
    carrier.until(lambda: len(carrier.connected) == STALLED)
    assert carrier.timed_out == 0


class StalledLegs(RecordingCallControl):
    """A carrier that, while the test holds its gate, stalls the conference requests."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()  # (it answers, until the test says otherwise)
        self.waiting = threading.Semaphore(0)  # released as each stalled request begins

    def leg(self, call_sid: str, label: str, action: str, **kw: Any) -> None:
        if not self.gate.is_set():
            self.waiting.release()
            self.gate.wait(STALL)
        super().leg(call_sid, label, action, **kw)


def test_a_line_that_stopped_still_sends_in_order_what_it_asked_of_the_carrier(
    tmp_path: Path,
) -> None:
    """The line stops (handed to another node, whose event loop goes on) while the carrier
    stalls on the caller's hold, and the resume asked after it waits its turn. The stop
    waits its while, then is over; once the carrier answers again, the resume still goes
    out, after the hold: the store holds both as done, and the line's next leader rebuilds
    the call from it (resumed), never asking the carrier again. Dropped, the caller would
    hear hold music with their agent on the line (or, for a dropped `drop`, an agent's
    phone would stay in a caller's conference)."""
    carrier = StalledLegs()
    live = Live(sqlite_url(tmp_path), control=carrier)
    sid = "CA" + "1" * 32
    queue_public_caller(live, sid, "+12025550111")
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    live.leg_answered(sid)
    rt = LineRuntime(settings=live.settings, line=live.line, control=carrier,
                     still_valid=lambda tokens: dict.fromkeys(tokens, math.inf),
                     token_clock=live.wall)  # fmt: skip

    async def run() -> None:
        async with rt.running():
            carrier.gate.clear()  # the carrier stalls
            await rt.use_case(lambda: live.line.hold_call("en-day-1", True))
            assert await asyncio.to_thread(carrier.waiting.acquire, timeout=STALL)
            await rt.use_case(lambda: live.line.hold_call("en-day-1", False))
        carrier.gate.set()  # it answers again, after the stop
        left = asyncio.all_tasks() - {asyncio.current_task()}
        if left:  # (the hold's request, then what came after it)
            await asyncio.wait(left, timeout=STALL)

    asyncio.run(run())
    assert carrier.legs[-2:] == [(sid, "caller", "hold", "talk", ""),
                                 (sid, "caller", "resume", "talk", "")]  # fmt: skip
