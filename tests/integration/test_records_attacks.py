"""Attacks on the agents' case-record look-ups, found by an independent review: a
connector that raises, records wider or odder than the policy declares, and what the
withheld fields could tell about the values they hide."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hotline.ivr.interpreter import LookupResult
from hotline.records.port import LookupRequest
from hotline.testing.connectors import Entry, InMemoryConnector

from .live_fixtures import Live, queue_public_caller
from .test_records_desk import CASE, SID, Asked, answered_by, desk_live, trail


def lenient(live: Live) -> TestClient:
    """A client that answers 500 rather than raising the server's exception."""
    return live.client(raise_server_exceptions=False)


class Raising(Asked):
    """A case system whose connector breaks the port's promise and raises."""

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.requests.append(request)
        raise RuntimeError(f"driver said: bad value {request.params}")


class Wide(Asked):
    """A case system whose record has more fields than the policy declares, some of them
    named in ways an audit entry's field list does not accept."""

    def __init__(self, extra: dict[str, str]) -> None:
        super().__init__()
        self.inner = InMemoryConnector(records={"case": [Entry({"case_id": CASE["case_id"]},
                                                              {**CASE, **extra})]})  # fmt: skip


def test_a_connector_that_raises_is_an_audited_error_not_a_500(tmp_path: Path) -> None:
    """The IVR's look-ups catch a connector that raises (`service.lookups._ask`); the
    desk does not: a 500, and the look-up that reached the case system is not audited."""
    cases = Raising()
    live = desk_live(tmp_path, cases)
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    r = lenient(live).post(
        "/api/agent/records/lookup",
        headers=agent,
        json={"reference": CASE["case_id"], "purpose": "child-safety-check"},
    )
    assert len(cases.requests) == 1  # the case system was asked ...
    assert r.status_code == 200, r.text  # ... so the answer is an (audited) error
    assert r.json()["status"] == "error"
    assert "HC-100200" not in r.json()["reason"]
    [entry] = trail(live)
    assert entry["outcome"] == "error"


@pytest.mark.parametrize("extra", [
    {"date of birth": "2010-01-01"},                        # a column alias with a space
    {"worker-email": "w@example.org"},                      # a hyphen
    {f"extra_{i}": "x" for i in range(40)},                 # a wide record (> 32 fields)
], ids=["space", "hyphen", "wide"])  # fmt: skip
def test_a_record_with_more_or_oddly_named_fields_is_still_shown_and_audited(
    tmp_path: Path, extra: dict[str, str]
) -> None:
    """Undeclared fields are withheld, and their names go into the audit entry's
    `withheld` list, which refuses a name that is not [A-Za-z_][A-Za-z0-9_.]* or more than
    32 names: every look-up of such a record is a 503 (the IVR's audit filters and caps
    the names; the desk does not). A record system adding a column denies the service."""
    live = desk_live(tmp_path, Wide(extra))
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    r = live.http.post(
        "/api/agent/records/lookup",
        headers=agent,
        json={"reference": CASE["case_id"], "purpose": "child-safety-check"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["disclosed"] == {"case_id": "HC-100200", "status": "open"}
    assert len(trail(live)) == 1


class TwoCases(Asked):
    """Two cases, the second with no court order recorded (the SQL connector drops a
    NULL column, the HTTP connector a null or missing field)."""

    def __init__(self) -> None:
        super().__init__()
        other = {k: v for k, v in CASE.items() if k != "court_order_in_force"}
        other["case_id"] = "HC-100201"
        self.inner = InMemoryConnector(records={"case": [
            Entry({"case_id": CASE["case_id"]}, CASE),
            Entry({"case_id": "HC-100201"}, other)]})  # fmt: skip


def test_what_is_withheld_does_not_tell_which_withheld_fields_hold_a_value(
    tmp_path: Path,
) -> None:
    """`withheld` names only the fields the record system returned, so an agent the
    policy shows nothing of a field still learns whether it holds a value (is there a
    court order on this child's case?), and the audit trail records it too."""
    live = desk_live(tmp_path, TwoCases())
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    answers = [live.http.post("/api/agent/records/lookup", headers=agent,
                              json={"reference": ref, "purpose": "child-safety-check"}).json()
               for ref in (CASE["case_id"], "HC-100201")]  # fmt: skip
    assert "court_order_in_force" not in answers[0]["disclosed"]
    assert sorted(answers[0]["withheld"]) == sorted(answers[1]["withheld"])
