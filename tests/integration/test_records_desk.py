"""Case records looked up from the agent desktop's API, on the call the agent is on: only
what the disclosure policy allows for the agent's role, the purpose they state and the
caller's verification (as the IVR set it) is shown, every other field withheld with why;
every look-up is in the audit trail (never a value), and one that cannot be audited is
refused with nothing shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hotline.ivr.interpreter import LookupResult
from hotline.records.audit import rows
from hotline.records.desk import RecordDesk, RecordSource
from hotline.records.policy import Policy
from hotline.records.port import Connector, LookupRequest
from hotline.testing.connectors import Entry, InMemoryConnector

from .live_fixtures import (
    LINE,
    ROOT,
    Live,
    call_form,
    directory,
    gather_url,
    queue_public_caller,
    sqlite_url,
    through_lookup,
)

SID = "CA" + "3" * 32
LEG = "CA" + "4" * 32
CASE = {"case_id": "HC-100200", "status": "open", "case_type": "child_protection",
        "assigned_worker": "Demo Worker 07", "worker_phone": "+12025550107",
        "last_contact_date": "2026-11-02", "next_review_date": "2026-11-30",
        "safety_plan_in_place": "yes", "open_referrals": "2", "court_order_in_force": "no",
        "notes_summary": "Weekly check-ins agreed."}  # fmt: skip
SOURCE = RecordSource(record_type="case", connector="case_records", operation="case",
                      key="case_id")  # fmt: skip


class Asked:
    """The case system: what it was asked, and its answers (or none: it is down)."""

    def __init__(self, down: bool = False) -> None:
        self.inner = InMemoryConnector(records={"case": [Entry({"case_id": CASE["case_id"]},
                                                              CASE)]})  # fmt: skip
        self.requests: list[LookupRequest] = []
        self.down = down

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.requests.append(request)
        if self.down:
            return LookupResult("error", {"reason": "the case system timed out after 4 s"})
        return self.inner.lookup(request)


def desk_live(tmp_path: Path, cases: Asked, **options: Any) -> Live:
    connectors: dict[str, Connector] = {"agency_directory": directory(), "case_records": cases}

    def desk(live: Live) -> RecordDesk:
        return RecordDesk(policy=Policy.load(ROOT / "scenarios" / "disclosure-policy.yaml"),
                          sources={"case": SOURCE}, connectors=connectors,
                          engine=live.store.engine, clock=live.wall)  # fmt: skip

    return Live(sqlite_url(tmp_path), connectors=connectors, desk=desk, **options)


@pytest.fixture
def cases() -> Asked:
    return Asked()


@pytest.fixture
def live(tmp_path: Path, cases: Asked) -> Live:
    return desk_live(tmp_path, cases)


def answered_by(live: Live, agent_id: str) -> dict[str, str]:
    agent = live.agent(agent_id)
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == SID
    assert live.http.post(f"/api/agent/calls/{SID}/accept", headers=agent).status_code == 200
    live.carrier.post(f"/voice/agent-leg?sid={SID}&a=1", call_form(LEG, CallStatus="in-progress"))
    return agent


def verified_officer_queued(live: Live) -> None:
    """An agency officer verifies with agency ID and PIN and asks for the agency queue."""
    first = live.carrier.post("/voice/incoming", call_form(SID, From="+12025550144", To=LINE))
    url = gather_url(first.text)
    url = gather_url(live.carrier.post(url, call_form(SID, Digits="1")).text)  # English
    officer = live.carrier.post(url, call_form(SID, Digits="1")).text  # (not a registered number)
    url = gather_url(through_lookup(live, SID, officer))
    url = gather_url(live.carrier.post(url, call_form(SID, Digits="123455#")).text)
    hold = live.carrier.post(url, call_form(SID, Digits="2468#")).text
    reply = through_lookup(live, SID, hold)
    assert "You are verified." in reply
    queued = live.carrier.post(gather_url(reply), call_form(SID, Digits="2")).text
    assert "/voice/wait?sid=" in queued


def look_up(live: Live, agent: dict[str, str], reference: str = CASE["case_id"],
            purpose: str = "child-safety-check") -> tuple[int, dict[str, Any]]:  # fmt: skip
    r = live.http.post("/api/agent/records/lookup", headers=agent,
                       json={"reference": reference, "purpose": purpose})  # fmt: skip
    return r.status_code, r.json()


def trail(live: Live) -> list[dict[str, Any]]:
    with live.store.engine.connect() as c:
        return [r.as_json() for r in rows(c) if r.action == "record.lookup" and r.role == "agent"]


def test_a_public_callers_case_shows_only_that_it_exists_and_says_why_the_rest_is_withheld(
    live, cases
):
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    status, shown = look_up(live, agent)
    assert status == 200
    assert (shown["status"], shown["verification"]) == ("found", "none")
    assert shown["disclosed"] == {"case_id": "HC-100200", "status": "open"}
    withheld = shown["withheld"]
    assert isinstance(withheld, dict)
    assert sorted(withheld) == sorted(set(CASE) - {"case_id", "status"})
    assert "verification too low: needs number (rule safety-check)" in withheld["worker_phone"]
    assert "+12025550107" not in str(shown)  # the phone number never left the server
    [asked] = cases.requests
    assert (asked.requester, asked.purpose, asked.call_sid, dict(asked.params)) == (
        "en-day-1", "child-safety-check", SID, {"case_id": "HC-100200"})  # fmt: skip
    [entry] = trail(live)
    assert (entry["actor"], entry["object"], entry["outcome"]) == (
        "en-day-1",
        "case:HC-100200",
        "ok",
    )
    assert entry["details"] == {
        "call": SID, "connector": "case_records", "purpose": "child-safety-check",
        "verification": "none", "result": "found", "fields": ["case_id", "status"],
        "withheld": sorted(withheld)}  # fmt: skip
    assert "Demo Worker" not in str(entry)


def test_a_verified_officer_coordinating_sees_what_the_rule_for_it_allows(live):
    verified_officer_queued(live)
    agent = answered_by(live, "records-early-1")
    status, shown = look_up(live, agent, purpose="case-coordination")
    assert (status, shown["verification"]) == (200, "verified")
    assert sorted(shown["disclosed"]) == sorted(
        ["case_id", "status", "case_type", "assigned_worker", "worker_phone",
         "next_review_date", "open_referrals"])  # fmt: skip
    assert "not in any rule" in shown["withheld"]["notes_summary"]


def test_an_officer_on_a_registered_number_is_verified_by_it_and_sees_what_that_allows(live):
    first = live.carrier.post("/voice/incoming", call_form(SID, From="+12025550999", To=LINE))
    url = gather_url(first.text)
    url = gather_url(live.carrier.post(url, call_form(SID, Digits="1")).text)  # English
    officer = live.carrier.post(url, call_form(SID, Digits="1")).text
    reply = through_lookup(live, SID, officer)  # no ID or PIN asked
    assert "You are verified." in reply
    queued = live.carrier.post(gather_url(reply), call_form(SID, Digits="2")).text
    assert "/voice/wait?sid=" in queued
    agent = answered_by(live, "records-early-1")
    status, shown = look_up(live, agent)  # a safety check: the number level is enough
    assert (status, shown["verification"]) == (200, "number")
    assert sorted(shown["disclosed"]) == sorted(
        ["case_id", "status", "safety_plan_in_place", "assigned_worker", "worker_phone",
         "last_contact_date"])  # fmt: skip
    status, shown = look_up(live, agent, purpose="case-coordination")  # this needs the PIN
    assert "verification too low: needs verified" in shown["withheld"]["case_type"]


def test_a_look_up_needs_a_call_a_known_purpose_and_a_sane_reference(live):
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    status, body = look_up(live, agent)
    assert (status, body["message"]) == (409, "look a record up during a call you are on")
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    status, body = look_up(live, agent, purpose="curiosity")
    assert (status, body["error_id"]) == (400, "policy-error")
    assert "no purpose 'curiosity'" in str(body["message"])
    status, body = look_up(live, agent, reference="HC-1\x00")
    assert status == 400
    assert trail(live) == []  # nothing was asked, nothing to audit


def test_a_look_up_meant_for_another_call_is_refused_unasked_and_unaudited(live, cases):
    """The desktop names the call a look-up is for; sent again after a takeover, when the
    agent is on another call by then, it is refused (409): no case system asked, no entry."""
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    asked = {"reference": CASE["case_id"], "purpose": "child-safety-check"}
    r = live.http.post(f"/api/agent/records/lookup?call=CA{'9' * 32}", headers=agent,
                       json=asked)  # fmt: skip
    assert (r.status_code, r.json()["error_id"]) == (409, "not-this-call")
    assert (cases.requests, trail(live)) == ([], [])
    r = live.http.post(f"/api/agent/records/lookup?call={SID}", headers=agent, json=asked)
    assert r.status_code == 200, r.text
    assert len(cases.requests) == len(trail(live)) == 1


def test_an_injection_attempt_reaches_the_case_system_only_as_a_value(live, cases):
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    status, shown = look_up(live, agent, reference="' OR 1=1 --")
    assert (status, shown["status"], shown["disclosed"]) == (200, "not_found", {})
    assert dict(cases.requests[0].params) == {"case_id": "' OR 1=1 --"}
    assert trail(live)[0]["details"]["result"] == "not_found"


def test_a_case_system_that_is_down_is_said_so_and_audited(tmp_path):
    live = desk_live(tmp_path, Asked(down=True))
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    status, shown = look_up(live, agent)
    assert (status, shown["status"], shown["disclosed"]) == (200, "error", {})
    assert shown["reason"] == "the case system timed out after 4 s"
    assert trail(live)[0]["outcome"] == "error"
    assert live.http.get("/api/agent/me", headers=agent).json()["state"] == "on_call"


def test_a_look_up_that_cannot_be_audited_shows_nothing(live):
    queue_public_caller(live, SID, "+12025550101")
    agent = answered_by(live, "en-day-1")
    with live.store.engine.begin() as c:
        c.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"))  # fmt: skip
    status, body = look_up(live, agent)
    assert (status, body["error_id"]) == (503, "lookup-not-audited")
    assert "HC-100200" not in str(body)
    assert "open" not in str(body)


def test_a_server_with_no_disclosure_policy_offers_no_look_ups(tmp_path):
    live = Live(sqlite_url(tmp_path))
    agent = live.agent("en-day-1")
    r = live.http.get("/api/agent/records", headers=agent)
    assert (r.status_code, r.json()["error_id"]) == (404, "no-records")
    r = live.http.post("/api/agent/records/lookup", headers=agent,
                       json={"reference": "HC-1", "purpose": "child-safety-check"})  # fmt: skip
    assert r.status_code == 404
