"""The HTTP connector against a real record system on 127.0.0.1: answers, failures,
retries, the circuit breaker, injection attempts."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from hotline.records.http import HttpConnector, HttpSecrets, HttpSettings
from hotline.records.port import LookupRequest

from .server import BLOCK, FIXTURES, Answer, RecordSystem, fixture, running

CASE_FIELDS: dict[str, Any] = {
    "case_id": {"type": "string"},
    "status": {"type": "string"},
    "case_type": {"type": "string"},
    "assigned_worker": {"type": "string"},
    "worker_phone": {"type": "string", "required": False},
    "last_contact_date": {"type": "date"},
    "next_review_date": {"type": "date", "required": False},
    "safety_plan_in_place": {"type": "boolean"},
    "open_referrals": {"type": "integer"},
    "court_order_in_force": {"type": "boolean"},
    "notes_summary": {"type": "string", "required": False},
}


class Clock:
    """A clock the tests move; `sleep` moves it and keeps the delays asked for."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def settings(base_url: str, **changes: Any) -> HttpSettings:
    raw: dict[str, Any] = {
        "kind": "http",
        "base_url": base_url,
        "read_timeout": 5.0,
        "retry": {"attempts": 3, "base_delay": 0.2, "max_delay": 2.0},
        "breaker": {"failures": 3, "cool_down": 30},
        "operations": {
            "case": {"path": "/cases/{case_id}", "fields": CASE_FIELDS},
            "case_by_query": {
                "path": "/cases",
                "query": {"id": "case_id"},
                "fields": CASE_FIELDS,
            },
            "case_by_post": {
                "method": "POST",
                "path": "/search-by-reference",
                "body": {"reference": "case_id"},
                "fields": CASE_FIELDS,
            },
            "strict_case": {
                "path": "/cases/{case_id}",
                "fields": CASE_FIELDS,
                "unknown_fields": "refuse",
            },
        },
    }
    raw.update(changes)
    return HttpSettings.model_validate(raw)


def case(case_id: str = "HC-104233", operation: str = "case") -> LookupRequest:
    return LookupRequest(operation, {"case_id": case_id}, "agent-17", "safeguarding", "CA1")


@pytest.fixture
def system() -> Iterator[RecordSystem]:
    with running() as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


def connector(system_url: str, clock: Clock, seed: int = 7, **changes: Any) -> HttpConnector:
    return HttpConnector(settings=settings(system_url, **changes), secrets=HttpSecrets("t0ken"),
                         clock=clock, sleep=clock.sleep, rng=random.Random(seed))  # fmt: skip


def test_a_case_is_found_with_the_schemas_fields_as_text(system, clock):
    result = connector(system.url, clock).lookup(case())
    assert result.status == "found"
    recorded = json.loads((FIXTURES / "case_found.json").read_text())
    assert result.data == {
        **{k: str(v) for k, v in recorded.items() if not isinstance(v, bool)},
        "safety_plan_in_place": "true",
        "court_order_in_force": "false",
    }
    [seen] = system.seen
    assert (seen.method, seen.target) == ("GET", "/cases/HC-104233")
    assert seen.headers["Authorization"] == "Bearer t0ken"


def test_a_404_is_not_found(system, clock):
    system.otherwise = Answer(404, b'{"error": "no such case"}')
    assert connector(system.url, clock).lookup(case("HC-000000")).status == "not_found"


def test_a_field_the_schema_does_not_declare_is_dropped_or_refused(system, clock):
    system.otherwise = fixture("case_extra_field.json")
    c = connector(system.url, clock)
    dropped = c.lookup(case())
    assert dropped.status == "found"
    assert "internal_risk_score" not in dropped.data
    refused = c.lookup(case(operation="strict_case"))
    assert refused.status == "error"
    assert refused.data["reason"] == (
        "the answer does not fit the schema: the answer has fields the schema does not "
        "declare: 'internal_risk_score'"
    )


def test_an_answer_of_the_wrong_type_is_an_error_naming_the_field(system, clock):
    system.otherwise = fixture("case_wrong_type.json")
    result = connector(system.url, clock).lookup(case())
    assert result.status == "error"
    assert result.data["reason"] == (
        "the answer does not fit the schema: the field 'safety_plan_in_place' should be a "
        "boolean, not a JSON string"
    )


def test_a_missing_required_field_is_an_error(system, clock):
    recorded = json.loads((FIXTURES / "case_found.json").read_text())
    del recorded["open_referrals"]
    system.otherwise = Answer(200, json.dumps(recorded).encode())
    result = connector(system.url, clock).lookup(case())
    assert result.data["reason"] == (
        "the answer does not fit the schema: the required field 'open_referrals' is missing"
    )


def test_malformed_json_is_an_error(system, clock):
    system.otherwise = fixture("case_truncated.json")
    result = connector(system.url, clock).lookup(case())
    assert result.status == "error"
    assert result.data["reason"] == "the answer is not JSON"


def test_a_502_then_a_503_then_an_answer_is_found_after_two_jittered_delays(system, clock):
    system.script = [Answer(502), Answer(503)]
    result = connector(system.url, clock, seed=11).lookup(case())
    assert result.status == "found"
    assert len(system.seen) == 3
    rng = random.Random(11)  # full jitter: uniform from 0 to 0.2, then to 0.4
    assert clock.slept == [rng.uniform(0, 0.2), rng.uniform(0, 0.4)]


def test_a_500_is_not_tried_again(system, clock):
    system.script = [Answer(500)]
    result = connector(system.url, clock).lookup(case())
    assert result.data["reason"] == "the record system failed (HTTP 500)"
    assert len(system.seen) == 1


def test_a_refusal_is_an_error_not_tried_again(system, clock):
    system.otherwise = Answer(403, b"{}")
    result = connector(system.url, clock).lookup(case())
    assert result.data["reason"] == "the record system refused the look-up (HTTP 403)"
    assert len(system.seen) == 1


def test_unavailable_every_time_is_an_error_after_the_attempts(system, clock):
    system.otherwise = Answer(503)
    result = connector(system.url, clock).lookup(case())
    assert result.data["reason"] == "the record system is unavailable (HTTP 503), 3 times"
    assert len(system.seen) == 3


def test_the_backoff_stops_at_the_deadline(system, clock):
    system.otherwise = Answer(504)
    # delays drawn up to 10 s, then 20 s (capped at max_delay 30): past a 12 s deadline
    c = connector(system.url, clock, seed=3, deadline=12.0,
                  retry={"attempts": 10, "base_delay": 10.0, "max_delay": 30.0})  # fmt: skip
    result = c.lookup(case())
    assert result.status == "error"
    assert result.data["reason"].startswith(
        "the record system is unavailable (HTTP 504); no "
        "time left to try again before the deadline of 12 s"
    )
    assert clock.now <= 100.0 + 12.0  # no delay was slept past the deadline
    assert len(system.seen) == len(clock.slept) + 1 < 10


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed


def test_a_system_that_cannot_be_reached_is_tried_again_then_an_error(clock):
    c = connector(f"http://127.0.0.1:{closed_port()}", clock, seed=5)
    result = c.lookup(case())
    assert result.status == "error"
    assert result.data["reason"] == "cannot connect to the record system (ConnectError), 3 times"
    rng = random.Random(5)
    assert clock.slept == [rng.uniform(0, 0.2), rng.uniform(0, 0.4)]


def test_a_system_that_does_not_answer_in_time_is_an_error_not_tried_again(system):
    system.otherwise = BLOCK
    c = HttpConnector(settings=settings(system.url, read_timeout=0.3))
    result = c.lookup(case())
    assert system.blocked.is_set()
    assert result.status == "error"
    assert result.data["reason"] == ("the record system did not answer in time (ReadTimeout)")
    assert len(system.seen) == 1
    system.release.set()


def test_the_circuit_opens_after_failures_in_a_row_then_lets_one_through(system, clock):
    system.otherwise = Answer(500)
    c = connector(system.url, clock)
    for _ in range(3):
        assert c.lookup(case()).data["reason"] == "the record system failed (HTTP 500)"
    assert state(c) == "open"
    refused = c.lookup(case())
    assert refused.data["reason"] == (
        "the record system failed 3 look-ups in a row: not asked again for 30 s (circuit open)"
    )
    assert len(system.seen) == 3  # the open circuit did not ask
    clock.now += 29.9
    assert c.lookup(case()).status == "error"
    assert len(system.seen) == 3
    clock.now += 0.1
    assert state(c) == "half_open"
    assert c.lookup(case()).status == "error"  # the trial fails: open again
    assert len(system.seen) == 4
    assert state(c) == "open"
    clock.now += 30
    system.otherwise = fixture("case_found.json")
    assert c.lookup(case()).status == "found"  # the trial succeeds: closed
    assert state(c) == "closed"
    assert c.lookup(case()).status == "found"
    assert len(system.seen) == 6


def test_answers_that_are_not_failures_of_the_system_keep_the_circuit_closed(system, clock):
    system.otherwise = Answer(404, b"{}")
    c = connector(system.url, clock)
    for _ in range(5):
        assert c.lookup(case()).status == "not_found"
    assert state(c) == "closed"


def state(c: HttpConnector) -> str:
    return c.breaker.state


INJECTIONS = ["' OR 1=1 --", "../../etc/passwd", "..", "HC-1%00", "HC-1\x00x", "a/b?c=d#e"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_attempt_reaches_the_system_as_one_value(system, clock, value):
    c = connector(system.url, clock)
    for operation in ("case", "case_by_query", "case_by_post"):
        c.lookup(case(value, operation))
    by_path, by_query, by_post = system.seen
    target = urlsplit(by_path.target)
    assert target.path.count("/") == 2
    assert target.path.startswith("/cases/")
    assert unquote(target.path.removeprefix("/cases/")) == value
    assert target.query == ""
    query = urlsplit(by_query.target)
    assert query.path == "/cases"
    assert parse_qs(query.query, keep_blank_values=True) == {"id": [value]}
    assert by_post.target == "/search-by-reference"
    assert json.loads(by_post.body) == {"reference": value}


def test_an_unknown_operation_or_a_missing_parameter_is_an_error(system, clock):
    c = connector(system.url, clock)
    unknown = c.lookup(LookupRequest("find_person", {"name": "x"}, "agent-1", "p", "CA1"))
    assert unknown.data["reason"] == "unknown operation 'find_person'"
    lacking = c.lookup(LookupRequest("case", {"case": "HC-1"}, "agent-1", "p", "CA1"))
    assert lacking.data["reason"] == "the look-up lacks the parameter 'case_id'"
    assert system.seen == []


def test_no_reason_quotes_what_was_asked(clock):
    c = connector(f"http://127.0.0.1:{closed_port()}", clock)
    result = c.lookup(case("HC-SECRET-REFERENCE"))
    assert "SECRET" not in result.data["reason"]
