"""LookupWorkers: look-ups in worker threads, each answered once, by its deadline."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from hotline.ivr.interpreter import Lookup, LookupResult
from hotline.service.lookups import LookupWorkers


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Answering:
    def lookup(self, operation: str, params: Mapping[str, str]) -> LookupResult:
        return LookupResult("found", {"op": operation, **params})


class Raising:
    def lookup(self, operation: str, params: Mapping[str, str]) -> LookupResult:
        raise ConnectionError("record system unreachable")


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()

    def lookup(self, operation: str, params: Mapping[str, str]) -> LookupResult:
        self.release.wait(timeout=60)
        return LookupResult("found")


def ask(connector: str) -> Lookup:
    return Lookup(connector, "verify", {"agency_id": "123455"})


def test_each_look_up_is_answered_once_with_its_ticket():
    workers = LookupWorkers(connectors={"dir": Answering()}, wall=Wall())
    tickets = [workers.start(f"CA{i}", ask("dir")) for i in range(3)]
    workers.settle(10)
    answers = workers.answers()
    assert sorted((a.call_sid, a.ticket) for a in answers) == [
        (f"CA{i}", t) for i, t in enumerate(tickets)
    ]
    assert all(a.result == LookupResult("found", {"op": "verify", "agency_id": "123455"})
               for a in answers)  # fmt: skip
    assert workers.answers() == []
    assert workers.running() == 0
    workers.close()


def test_a_connector_that_raises_or_is_unknown_answers_error(caplog):
    workers = LookupWorkers(connectors={"dir": Raising()}, wall=Wall())
    workers.start("CA1", ask("dir"))
    workers.start("CA2", ask("nowhere"))
    workers.settle(10)
    assert {(a.call_sid, a.result.status) for a in workers.answers()} == {
        ("CA1", "error"),
        ("CA2", "error"),
    }
    assert "connector 'dir' failed" in caplog.text
    workers.close()


def test_a_hanging_connector_is_answered_error_at_its_deadline_once():
    wall, hanging = Wall(), Hanging()
    workers = LookupWorkers(connectors={"dir": hanging}, wall=wall, deadline=8.0)
    workers.start("CA1", ask("dir"))
    wall.now += 7.9
    assert workers.answers() == []
    wall.now += 0.1
    [answer] = workers.answers()
    assert answer.result.status == "error"
    wall.now += 60
    assert workers.answers() == []
    hanging.release.set()
    workers.close()
