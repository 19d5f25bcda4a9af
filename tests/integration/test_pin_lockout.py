"""An agency ID is locked after too many wrong PINs over all calls (the flow's `lockout:`):
the directory is not asked while it is, the caller goes on unverified, and each refusal is
in the audit trail. The counts live in the store, so every call and every node sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from hotline.ivr.interpreter import Guard, Lookup, LookupResult
from hotline.records.audit import rows
from hotline.records.port import LookupRequest
from hotline.service.lookups import LookupWorkers
from hotline.store.db import connect, migrate
from hotline.store.guards import LookupGuards
from hotline.store.tables import lookup_guard
from hotline.testing.connectors import InMemoryConnector

from .live_fixtures import (  # noqa: F401 (pg_url is a fixture)
    Live,
    call_form,
    directory,
    gather_url,
    keep_english,
    pg_url,
    sqlite_url,
    through_lookup,
)

HOUR = 3600.0
UNVERIFIED = "You will be connected as an unverified caller."
VERIFIED = "Thank you. You are verified."
TRY_AGAIN = "We could not verify those details. Please try again."


class Counting:
    """The demo directory, counting the PIN checks it is asked."""

    def __init__(self, inner: InMemoryConnector) -> None:
        self.inner = inner
        self.pin_checks = 0

    def lookup(self, request: LookupRequest) -> LookupResult:
        self.pin_checks += request.operation == "verify"
        return self.inner.lookup(request)


@pytest.fixture
def counting() -> Counting:
    return Counting(directory())


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path: Path, counting: Counting) -> Live:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return Live(url, connectors={"agency_directory": counting})


def officer(live: Live, sid: str, number: str = "+12025550142") -> str:
    """An agency officer calls from a number not on file; returns the agency ID's step."""
    step = keep_english(live, sid, number)
    return gather_url(
        through_lookup(live, sid, live.carrier.post(step, call_form(sid, Digits="1")).text)
    )


def attempt(live: Live, sid: str, step: str, agency_id: str, pin: str) -> str:
    """Enter agency ID and PIN at `step`; returns the reply once the PIN check answered."""
    pin_step = gather_url(live.carrier.post(step, call_form(sid, Digits=f"{agency_id}#")).text)
    reply = live.carrier.post(pin_step, call_form(sid, Digits=f"{pin}#")).text
    return through_lookup(live, sid, reply)


def pin_checks_audited(live: Live) -> list[tuple[str, str]]:
    with live.store.engine.connect() as c:
        checks = [r for r in rows(c) if r.object == "agency_directory.verify"]
        return [(r.outcome, json.loads(r.details)["result"]) for r in checks]


def test_five_wrong_pins_over_two_calls_lock_the_agency_id_for_an_hour(live, counting):
    first = "CA" + "1" * 32
    step = officer(live, first)
    for _ in range(2):
        reply = attempt(live, first, step, "123455", "1111")
        assert TRY_AGAIN in reply
        step = gather_url(reply)
    assert UNVERIFIED in attempt(live, first, step, "123455", "1111")  # three a call

    second = "CA" + "2" * 32
    step = officer(live, second, "+12025550143")
    for _ in range(2):  # the fourth and fifth wrong PIN of the hour
        step = gather_url(attempt(live, second, step, "123455", "9999"))
    assert counting.pin_checks == 5
    reply = attempt(live, second, step, "123455", "2468")  # right, but the ID is locked
    assert UNVERIFIED in reply
    assert VERIFIED not in reply
    assert counting.pin_checks == 5  # the directory was not asked
    assert live.store.call(second).attributes["verification"] == "unverified"
    assert pin_checks_audited(live) == [("ok", "not_found")] * 5 + [("refused", "locked")]

    other = "CA" + "3" * 32  # another agency's ID is not locked
    assert VERIFIED in attempt(live, other, officer(live, other, "+12025550144"), "400010", "1357")

    live.wall.now += HOUR - 60  # the first failure is not an hour old yet
    fourth = "CA" + "4" * 32
    assert UNVERIFIED in attempt(live, fourth, officer(live, fourth), "123455", "2468")
    live.wall.now += 60
    fifth = "CA" + "5" * 32
    assert VERIFIED in attempt(live, fifth, officer(live, fifth), "123455", "2468")
    assert counting.pin_checks == 7


def test_the_store_keeps_no_agency_id_in_clear_and_the_purge_forgets_old_failures(live):
    sid = "CA" + "6" * 32
    step = officer(live, sid)
    attempt(live, sid, step, "123455", "1111")
    with live.store.engine.connect() as c:
        (kept,) = c.execute(select(lookup_guard)).all()
    assert "123455" not in str(tuple(kept))  # the key is not kept in clear
    assert kept.failures == [live.wall.now]

    live.store.purge(live.wall.now + 6 * 86400, {}, actor="test")  # within a week: kept
    with live.store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(lookup_guard)).scalar_one() == 1
    live.store.purge(live.wall.now + 7 * 86400, {}, actor="test")
    with live.store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(lookup_guard)).scalar_one() == 0


def test_a_right_pin_takes_back_only_its_own_attempt(live, counting):
    sid = "CA" + "7" * 32
    step = officer(live, sid)
    for _ in range(2):
        step = gather_url(attempt(live, sid, step, "123455", "1111"))
    other = "CA" + "8" * 32
    step_two = officer(live, other, "+12025550145")
    step_two = gather_url(attempt(live, other, step_two, "123455", "1111"))
    assert VERIFIED in attempt(live, other, step_two, "123455", "2468")  # another officer
    third = "CA" + "9" * 32
    step = officer(live, third, "+12025550146")
    for _ in range(2):  # the fourth and fifth wrong PIN: the right one did not wipe three
        step = gather_url(attempt(live, third, step, "123455", "0000"))
    assert UNVERIFIED in attempt(live, third, step, "123455", "2468")  # (no fourth try a call)
    fourth = "CA" + "0" * 32
    assert UNVERIFIED in attempt(live, fourth, officer(live, fourth), "123455", "2468")
    assert pin_checks_audited(live)[-1] == ("refused", "locked")
    assert counting.pin_checks == 6  # 2 + 2 + 2: the last two were not asked


def test_an_attempt_that_cannot_be_counted_is_not_made(tmp_path, counting):
    """With its store unable to count (here: a database without the table), a look-up
    with a lockout is answered "error" and the directory is never asked (fail closed)."""
    workers = LookupWorkers(connectors={"agency_directory": counting}, wall=lambda: 0.0,
                            guards=LookupGuards(Engine(connect(sqlite_url(tmp_path)))))  # fmt: skip
    try:
        workers.start(1, "CA1", Lookup("agency_directory", "verify",
                                       {"agency_id": "123455", "pin": "2468"},
                                       guard=Guard("123455", 5, 3600.0)))  # fmt: skip
        workers.settle(30)
        (answer,) = workers.answers()
    finally:
        workers.close()
    assert answer.result.status == "error"
    assert counting.pin_checks == 0


class Engine:
    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine


def test_lockouts_of_several_windows_on_one_key_each_count_their_own(tmp_path):
    """(review) Two flows guard one key, five an hour and twenty a minute: the second's
    attempts do not cut the first's hour of history."""
    guards = LookupGuards(Engine(migrated(tmp_path)))
    t = 1_796_000_000.0
    for i in range(4):
        assert guards.attempt("k", t + i, window=HOUR, limit=5)
    assert guards.attempt("k", t + 120, window=60, limit=20)
    assert guards.failures("k", t + 121, window=HOUR) == 5
    assert not guards.attempt("k", t + 122, window=HOUR, limit=5)
    assert guards.attempt("k", t + 123, window=60, limit=20)  # the minute's: one so far


def migrated(tmp_path: Path) -> SAEngine:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    return engine
