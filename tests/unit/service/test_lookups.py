"""LookupWorkers: look-ups in worker threads, each answered once, by its deadline."""

from __future__ import annotations

import threading

from hotline.ivr.interpreter import Lookup, LookupResult
from hotline.records.port import LookupRequest
from hotline.service.lookups import LookupWorkers


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Answering:
    def lookup(self, request: LookupRequest) -> LookupResult:
        return LookupResult("found", {"op": request.operation, **request.params})


class Raising:
    def lookup(self, request: LookupRequest) -> LookupResult:
        raise ConnectionError("record system unreachable")


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.started.set()
        self.release.wait(timeout=60)
        return LookupResult("found")


def ask(connector: str) -> Lookup:
    return Lookup(connector, "verify", {"agency_id": "123455"})


def test_each_look_up_is_answered_once_with_its_ticket():
    workers = LookupWorkers(connectors={"dir": Answering()}, wall=Wall())
    for i in range(3):
        workers.start(10 + i, f"CA{i}", ask("dir"))
    workers.settle(10)
    answers = workers.answers()
    assert sorted((a.call_sid, a.ticket) for a in answers) == [(f"CA{i}", 10 + i) for i in range(3)]
    assert all(a.result == LookupResult("found", {"op": "verify", "agency_id": "123455"})
               for a in answers)  # fmt: skip
    assert workers.answers() == []
    assert workers.running() == 0
    workers.close()


def test_a_connector_that_raises_or_is_unknown_answers_error(caplog):
    workers = LookupWorkers(connectors={"dir": Raising()}, wall=Wall())
    workers.start(1, "CA1", ask("dir"))
    workers.start(2, "CA2", ask("nowhere"))
    workers.settle(10)
    assert {(a.call_sid, a.result.status) for a in workers.answers()} == {
        ("CA1", "error"),
        ("CA2", "error"),
    }
    assert "connector 'dir' failed on 'verify': ConnectionError" in caplog.text
    assert "123455" not in caplog.text  # what it was asked is never logged
    workers.close()


def test_a_hanging_connector_is_answered_error_at_its_deadline_once():
    wall, hanging = Wall(), Hanging()
    workers = LookupWorkers(connectors={"dir": hanging}, wall=wall, deadline=8.0)
    workers.start(3, "CA1", ask("dir"))
    wall.now += 7.9
    assert workers.answers() == []
    wall.now += 0.1
    [answer] = workers.answers()
    assert answer.result.status == "error"
    wall.now += 60
    assert workers.answers() == []
    hanging.release.set()
    workers.close()


def test_a_look_up_past_its_deadline_before_it_started_never_runs():
    wall, hanging, counted = Wall(), Hanging(), Counting()
    workers = LookupWorkers(connectors={"hang": hanging, "count": counted}, wall=wall,
                            deadline=8.0, workers=1)  # fmt: skip
    workers.start(4, "CA1", ask("hang"))  # takes the only worker
    assert hanging.started.wait(10)
    workers.start(5, "CA2", ask("count"))  # waits its turn
    wall.now += 8
    assert {a.call_sid: a.result.status for a in workers.answers()} == {
        "CA1": "error",
        "CA2": "error",
    }
    hanging.release.set()
    workers.start(6, "CA3", ask("count"))
    workers.settle(10)
    assert [a.call_sid for a in workers.answers()] == ["CA3"]
    assert counted.asked == 1  # CA3's, never CA2's
    workers.close()


def test_the_workers_never_hold_up_shutdown():
    hanging = Hanging()
    workers = LookupWorkers(connectors={"dir": hanging}, wall=Wall())
    workers.start(7, "CA1", ask("dir"))
    threads = [t for t in threading.enumerate() if t.name.startswith("hotline-lookup")]
    assert threads
    assert all(t.daemon for t in threads)
    workers.close()
    hanging.release.set()


class Counting:
    def __init__(self) -> None:
        self.asked = 0

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.asked += 1
        return LookupResult("found")


class Recording:
    def __init__(self) -> None:
        self.requests: list[LookupRequest] = []

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.requests.append(request)
        return LookupResult("not_found")


def test_the_ivr_asks_as_itself_on_the_call_with_no_purpose():
    recording = Recording()
    workers = LookupWorkers(connectors={"dir": recording}, wall=Wall())
    workers.start(1, "CA1", Lookup("dir", "verify", {"agency_id": "123455", "pin": "2468"},
                                   frozenset({"pin"})))  # fmt: skip
    workers.settle(10)
    assert recording.requests == [
        LookupRequest("verify", {"agency_id": "123455", "pin": "2468"}, "ivr", "", "CA1")
    ]
    assert "2468" not in repr(recording.requests[0])  # a PIN never shows in a log line
    workers.close()
