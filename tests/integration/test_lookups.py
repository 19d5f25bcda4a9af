"""Record look-ups run off the webhook: the caller hears a short hold while a worker asks
the record system, and the answer comes back to the line as a command."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline.ivr.interpreter import LookupResult
from hotline.records.audit import rows
from hotline.records.port import LookupRequest
from hotline.service.lookups import LOOKUP_DEADLINE
from hotline.testing.connectors import InMemoryConnector

from .live_fixtures import (
    LINE,
    ROOT,
    Live,
    call_form,
    directory,
    gather_url,
    lookup_url,
    queue_public_caller,
    sqlite_url,
    through_lookup,
)


class HeldConnector:
    """The demo's directory, answering a PIN check only once the test lets it (whether a
    number is registered, at once)."""

    def __init__(self, inner: InMemoryConnector) -> None:
        self.inner = inner
        self.release = threading.Event()

    def lookup(self, request: LookupRequest) -> LookupResult:
        if request.operation == "verify" and not self.release.wait(timeout=60):
            raise TimeoutError("the test never let the look-up answer")
        return self.inner.lookup(request)


@pytest.fixture
def held() -> Iterator[HeldConnector]:
    connector = HeldConnector(directory())
    yield connector
    connector.release.set()  # no worker thread outlives the test


@pytest.fixture
def live(tmp_path: Path, held: HeldConnector) -> Live:
    return Live(sqlite_url(tmp_path), connectors={"agency_directory": held})


AGENCIES = {"123455": "2468", "400010": "1357"}  # the demo directory's IDs and PINs


def to_pin(live: Live, sid: str, number: str, agency: str = "123455") -> str:
    """An agency officer calls (from a number not registered to an agency) and enters
    their agency ID; returns where their PIN goes."""
    first = live.carrier.post("/voice/incoming", call_form(sid, From=number, To=LINE))
    url = gather_url(first.text)
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="1")).text)  # English
    officer = live.carrier.post(url, call_form(sid, Digits="1")).text  # (number: registered?)
    url = gather_url(through_lookup(live, sid, officer))
    return gather_url(live.carrier.post(url, call_form(sid, Digits=f"{agency}#")).text)


def enter_pin(
    live: Live, sid: str, number: str, at: str | None = None, agency: str = "123455"
) -> str:
    """An agency officer calls and enters agency ID and PIN (`at`: where the PIN goes, if
    they got that far already); returns the reply to the PIN."""
    url = at or to_pin(live, sid, number, agency)
    return live.carrier.post(url, call_form(sid, Digits=f"{AGENCIES[agency]}#")).text


def test_ten_pin_checks_at_once_leave_a_queued_callers_hold_step_answered(live, held):
    queued = "CA" + "9" * 32
    queue_public_caller(live, queued, "+12025550199")
    officers = [f"CA{i:032d}" for i in range(1, 11)]
    # five of each agency: as many as one agency ID's lockout lets try at once
    agency = {sid: sorted(AGENCIES)[i % 2] for i, sid in enumerate(officers)}
    at = {sid: to_pin(live, sid, f"+120255501{i:02d}", agency[sid])
          for i, sid in enumerate(officers)}  # fmt: skip
    holds = {sid: enter_pin(live, sid, "", at[sid], agency[sid]) for sid in officers}
    for twiml in holds.values():  # each hears a short hold, not the answer
        assert lookup_url(twiml) is not None, twiml
        assert "<Pause" in twiml
        assert "verified" not in twiml
    assert live.line.lookups.running() == 10

    # every record look-up is still waiting on the record system, and yet:
    r = live.carrier.post(f"/voice/wait?sid={queued}&n=1", call_form(queued))
    assert "You are number 1 in line" in r.text
    first = lookup_url(holds[officers[0]])
    assert first is not None
    again = live.carrier.post(first, call_form(officers[0])).text
    assert first.replace("n=1", "n=2") == lookup_url(again)  # still on hold, a step further

    held.release.set()
    live.line.lookups.settle(30)
    for sid in officers:
        reply = through_lookup(live, sid, holds[sid])
        assert "Thank you. You are verified." in reply
        assert "If this is about an urgent case" in reply
        assert ("lookup", "found") in [(k, d.get("status")) for k, d in live.store.events(sid)]
        # the flow goes on from where the look-up left it: the next step is the next input
        r = live.carrier.post(gather_url(reply), call_form(sid, Digits="1"))
        assert "/voice/wait?sid=" in r.text


def test_a_connector_that_hangs_is_given_up_and_the_call_goes_on(live, held):
    sid = "CA" + "4" * 32
    hold = enter_pin(live, sid, "+12025550177")
    live.wall.now += LOOKUP_DEADLINE
    reply = live.carrier.post(lookup_url(hold), call_form(sid)).text
    assert "Verification is not available at the moment." in reply
    assert "You will be connected as an unverified caller." in reply
    assert "/voice/wait?sid=" in reply
    assert ("lookup", "error") in [(k, d.get("status")) for k, d in live.store.events(sid)]
    assert live.store.call(sid).attributes["verification"] == "unverified"
    # the record system answers at last: too late, and nothing comes of it
    held.release.set()
    live.line.lookups.settle(30)
    live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert [k for k, _ in live.store.events(sid)].count("lookup") == 2  # number, PIN: once each
    assert live.store.call(sid).attributes["verification"] == "unverified"


def test_a_caller_who_hangs_up_during_a_look_up_leaves_nothing_behind(live, held):
    sid = "CA" + "5" * 32
    hold = enter_pin(live, sid, "+12025550166")
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert not live.line.waiting_on_lookup(sid)
    held.release.set()
    live.line.lookups.settle(30)
    live.line.tick()
    assert live.events(sid).count("lookup") == 1  # the number's check; the PIN's never lands
    assert live.store.call(sid).state == "abandoned"
    # the hold's redirect, if the carrier still sent it, is refused, not answered
    r = live.carrier.post(lookup_url(hold), call_form(sid))
    assert r.status_code == 409
    assert r.json()["error_id"] == "out-of-order"


def test_a_gather_while_a_look_up_runs_is_refused(live):
    sid = "CA" + "6" * 32
    enter_pin(live, sid, "+12025550155")
    step = f"/voice/gather?sid={sid}&g=1&step=5"
    r = live.carrier.post(step, call_form(sid, Digits="1"))
    assert r.status_code == 409


class Broken:
    def lookup(self, request: LookupRequest) -> LookupResult:
        return LookupResult("error")


def test_a_flow_that_ends_with_the_answer_is_heard_to_the_end(tmp_path):
    """The answer hangs up (no queue): the caller hears the flow's last words and goodbye."""
    scenarios = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", scenarios)
    shared = scenarios / "common" / "agency-verification.flow.yaml"
    text = shared.read_text()
    ends = "unavailable: {say: verify_unavailable, next: bye}\n      bye: {hangup: goodbye}"
    shared.write_text(
        text.replace("unavailable: {say: verify_unavailable, next: unverified}", ends)
    )
    live = Live(sqlite_url(tmp_path), connectors={"agency_directory": Broken()},
                flow=scenarios / "national-hotline.flow.yaml")  # fmt: skip
    sid = "CA" + "7" * 32
    hold = enter_pin(live, sid, "+12025550144")
    live.line.lookups.settle(10)
    url = lookup_url(hold)
    assert url is not None
    r = live.carrier.post(url, call_form(sid))
    assert r.status_code == 200
    assert "Verification is not available at the moment." in r.text
    assert "<Hangup" in r.text
    assert live.carrier.post(url, call_form(sid)).text == r.text  # a retry: the same
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert not live.line.waiting_on_lookup(sid)


def test_a_restart_after_the_answer_queued_the_caller_sends_their_next_poll_to_hold(tmp_path):
    db = sqlite_url(tmp_path)
    first = Live(db, connectors={"agency_directory": Broken()})
    sid = "CA" + "8" * 32
    hold = enter_pin(first, sid, "+12025550133")
    first.line.lookups.settle(10)
    first.line.tick()  # the line takes the answer: unverified, and queued
    first.line.flush()
    row = first.store.call(sid)
    assert row is not None
    assert row.state == "queued"
    again = Live(db)  # the server restarts before the caller's next poll
    again.wall.now = first.wall.now + 2
    again.line.recover({sid: "in-progress"})
    url = lookup_url(hold)
    assert url is not None
    r = again.carrier.post(url, call_form(sid))
    assert r.status_code == 200
    assert "/voice/wait?sid=" in r.text


class NoneForTheFirst:
    """Breaks its promise on the first PIN check (answers None, not a LookupResult); then
    answers well."""

    def __init__(self) -> None:
        self.inner = directory()
        self.asked = 0
        self.lock = threading.Lock()

    def lookup(self, request: LookupRequest) -> LookupResult:
        with self.lock:
            self.asked += request.operation == "verify"
            first = request.operation == "verify" and self.asked == 1
        return None if first else self.inner.lookup(request)  # type: ignore[return-value]


def test_a_connector_breaking_its_promise_fails_that_look_up_only(tmp_path):
    live = Live(sqlite_url(tmp_path), connectors={"agency_directory": NoneForTheFirst()})
    one, two = "CA" + "1" * 32, "CA" + "2" * 32
    hold_one = enter_pin(live, one, "+12025550122")
    live.line.lookups.settle(10)
    hold_two = enter_pin(live, two, "+12025550123")
    live.line.lookups.settle(10)
    assert "Verification is not available" in through_lookup(live, one, hold_one)
    assert "Thank you. You are verified." in through_lookup(live, two, hold_two)


def audit_rows(live: Live) -> list[dict[str, object]]:
    with live.store.engine.connect() as c:
        return [r.as_json() for r in rows(c)]


def test_every_ivr_look_up_is_in_the_audit_trail_without_its_pin(live, held):
    sid = "CA" + "7" * 32
    hold = enter_pin(live, sid, "+12025550144")
    held.release.set()
    live.line.lookups.settle(30)
    assert "Thank you. You are verified." in through_lookup(live, sid, hold)
    number, entry = audit_rows(live)
    assert (number["object"], number["details"]["result"]) == (  # type: ignore[index]
        "agency_directory.registered_number",
        "not_found",
    )
    assert (entry["actor"], entry["role"], entry["action"], entry["outcome"], entry["object"]) == (
        "ivr", "system", "record.lookup", "ok", "agency_directory.verify")  # fmt: skip
    assert entry["details"] == {"call": sid, "connector": "agency_directory", "operation": "verify",
                                "result": "found", "fields": ["kind", "name"]}  # fmt: skip
    with live.store.engine.connect() as c:  # the PIN and agency id appear nowhere in it
        text_of_trail = " ".join(str(v) for r in c.execute(text("SELECT * FROM audit_entries"))
                                 for v in r)  # fmt: skip
    assert "2468" not in text_of_trail
    assert "123455" not in text_of_trail


def test_a_look_up_that_cannot_be_audited_is_answered_as_an_error(live, held):
    with live.store.engine.begin() as c:  # (the trail refuses every new entry)
        c.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"))  # fmt: skip
    sid = "CA" + "8" * 32
    hold = enter_pin(live, sid, "+12025550133")
    held.release.set()
    live.line.lookups.settle(30)
    reply = through_lookup(live, sid, hold)
    assert "Verification is not available at the moment." in reply  # fail closed
    assert live.store.call(sid).attributes["verification"] == "unverified"
    assert audit_rows(live) == []
