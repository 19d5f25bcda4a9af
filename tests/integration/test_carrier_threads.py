"""The carrier's requests (connects, conference legs, dial-backs) run in threads of their
own. In the event loop's shared threads, a carrier that stalled (each request may wait up
to its time-out) held every one of them, and the work that waits there waited too: a
caller's webhook for a call the line does not hold (the store read of `lost`), an agent
socket's token check, a reload of the lines' configuration."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import math
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotline.testing.control import RecordingCallControl
from hotline.web import runtime
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


class Heard(logging.Handler):
    """Calls `then` when the runtime logs a message that starts with `text`."""

    def __init__(self, text: str, then: Callable[[], None]) -> None:
        super().__init__()
        self.text, self.then = text, then

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.text):
            self.then()


DRAINING = "the line stopped with 2 requests to the carrier still to go out"  # (hold, resume)
LEFT = "2 requests to the carrier were still to go out"


def on_a_call(tmp_path: Path, carrier: StalledLegs) -> tuple[Live, LineRuntime, str]:
    """A line whose agent en-day-1 talks to a caller (the call's sid), and a runtime for
    it that has not begun to run."""
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
    return live, rt, sid


def stop_while_the_carrier_stalls(tmp_path: Path, carrier: StalledLegs) -> tuple[str, list[Any]]:
    """A call on hold and resumed while the carrier stalls on the hold (the resume waits its
    turn), then the line stops (handed to another node, whose event loop goes on): the
    call's sid, and the conference requests sent by the time the stop was over."""
    live, rt, sid = on_a_call(tmp_path, carrier)
    sent: list[Any] = []

    async def run() -> None:
        async with rt.running():
            carrier.gate.clear()  # the carrier stalls
            await rt.use_case(lambda: live.line.hold_call("en-day-1", True))
            assert await asyncio.to_thread(carrier.waiting.acquire, timeout=STALL)
            await rt.use_case(lambda: live.line.hold_call("en-day-1", False))
        sent.extend(carrier.legs)
        carrier.gate.set()  # (it answers again)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        if left:  # (what still waited on it)
            await asyncio.wait(left, timeout=STALL)

    asyncio.run(run())
    return sid, sent


def test_a_line_stops_only_once_what_it_asked_of_the_carrier_went_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop waits its while for the carrier's outcomes, lands its writes, and then
    waits for the hold and the resume to go out, in order, before it is over (and the
    line's leases go): the line's next leader rebuilds the call from the store, which
    holds both as done, and its own requests must not reach the carrier before them."""
    monkeypatch.setattr(runtime, "STOP_WAIT", 0.2)
    monkeypatch.setattr(runtime, "CARRIER_DRAIN", 10.0)  # (a test that fails fails in 10 s)
    carrier = StalledLegs()
    heard = Heard(DRAINING, carrier.gate.set)  # the carrier answers again as the stop waits
    logging.getLogger("hotline.web").addHandler(heard)
    try:
        sid, sent = stop_while_the_carrier_stalls(tmp_path, carrier)
    finally:
        logging.getLogger("hotline.web").removeHandler(heard)
    assert sent[-2:] == [(sid, "caller", "hold", "talk", ""),
                         (sid, "caller", "resume", "talk", "")]  # fmt: skip


def test_what_a_line_asked_of_a_carrier_stalled_past_its_stop_still_goes_out_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A carrier stalled past the stop's longest wait: the stop is over (and the leases go)
    with the requests still queued, and says so; once the carrier answers again, they go
    out, in order. Dropped, the caller would hear hold music with their agent on the line
    (or, for a dropped `drop`, an agent's phone would stay in a caller's conference)."""
    monkeypatch.setattr(runtime, "STOP_WAIT", 0.2)
    monkeypatch.setattr(runtime, "CARRIER_DRAIN", 0.2)
    carrier = StalledLegs()
    sid, sent = stop_while_the_carrier_stalls(tmp_path, carrier)
    assert sid not in {leg[0] for leg in sent}  # the stop was over before they went out
    assert any(r.getMessage().startswith(LEFT) for r in caplog.records)
    assert carrier.legs[-2:] == [(sid, "caller", "hold", "talk", ""),
                                 (sid, "caller", "resume", "talk", "")]  # fmt: skip


def test_a_request_still_waiting_its_turn_as_the_loop_ends_is_closed_not_left_unawaited(
    tmp_path: Path,
) -> None:
    """The event loop ends (the process stops, or a test's loop) with the caller's resume
    waiting for the hold, which the carrier stalls on: the resume's coroutine is closed as
    its wait is cancelled, not left for the collector to warn of as never awaited."""
    carrier = StalledLegs()
    live, rt, _ = on_a_call(tmp_path, carrier)

    async def run() -> None:
        carrier.gate.clear()  # the carrier stalls
        await rt.use_case(lambda: live.line.hold_call("en-day-1", True))
        assert await asyncio.to_thread(carrier.waiting.acquire, timeout=STALL)
        await rt.use_case(lambda: live.line.hold_call("en-day-1", False))

    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        try:
            asyncio.run(run())  # (ends with the resume waiting its turn: cancelled)
        finally:
            carrier.gate.set()
        gc.collect()
    assert [str(w.message) for w in heard if "never awaited" in str(w.message)] == []


TAKEN_FOR = 10.0  # seconds the loop's one shared thread is held at most (a stop takes ms)


def test_a_line_stops_while_the_loops_shared_threads_are_all_busy(tmp_path: Path) -> None:
    """Its last writes and its audit trail's last checkpoint wait in a thread of the stop's
    own: a node stops its groups at once, and where the loop's few shared threads are
    taken (by the other groups' stops, each waiting seconds for a store that is away),
    they would wait their turn."""
    carrier = StalledLegs()
    live, rt, _ = on_a_call(tmp_path, carrier)
    free = threading.Event()
    freed_anyway = threading.Timer(TAKEN_FOR, free.set)  # (where the stop waited for it)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        taken = loop.run_in_executor(None, free.wait, STALL)  # the one shared thread
        freed_anyway.start()
        try:
            async with rt.running():
                await rt.use_case(lambda: live.line.hold_call("en-day-1", True))
            stopped_with_the_thread_taken = not free.is_set()
        finally:
            free.set()
            freed_anyway.cancel()
        await taken
        assert stopped_with_the_thread_taken

    asyncio.run(run())
