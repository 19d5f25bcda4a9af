"""An agency ID is locked after too many wrong PINs over all calls (the flow's `lockout:`):
the directory is not asked while it is, the caller goes on unverified, and each refusal is
in the audit trail. The counts live in the store, so every call and every node sees them."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select, text

from hotline.ivr.interpreter import Guard, Lookup, LookupResult
from hotline.records.audit import rows
from hotline.records.port import LookupRequest
from hotline.service.lookups import ANSWER_WITHIN, LOOKUP_DEADLINE, LookupWorkers
from hotline.store.db import MIGRATIONS, connect, migrate
from hotline.store.guards import LookupGuards, guard_key
from hotline.store.tables import lookup_guard
from hotline.testing.connectors import InMemoryConnector

from .live_fixtures import (  # noqa: F401 (pg_url is a fixture)
    FakeWall,
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

    def fail(at: float, window: float, limit: int) -> bool:
        tried = guards.attempt("k", at, window=window, limit=limit, answer_within=30)
        if tried.id is not None:
            guards.answered("k", tried.id, at, failed=True)
        return tried.id is not None

    for i in range(4):
        assert fail(t + i, HOUR, 5)
    assert fail(t + 120, 60, 20)
    assert guards.failures("k", t + 121, window=HOUR) == 5
    assert not fail(t + 122, HOUR, 5)
    assert fail(t + 123, 60, 20)  # the minute's: one so far


def migrated(tmp_path: Path) -> SAEngine:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    return engine


# -- look-ups of one key at the same moment: attempts under way are not failures ----------

KEY = guard_key("agency_directory.verify", "123455")
TIMEOUT = 30.0  # seconds a test waits for what must happen at once (never reached)


class Seen(logging.Handler):
    """What became of the look-ups so far: the PIN checks asked of the directory (by
    `Gated`), and the look-ups logged as not made, yet ("waits": their key is busy) or at
    all ("locked")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.changed = threading.Condition()
        self.pin_checks = 0
        self.logged: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        kind = "waits" if " waits: " in message else "locked" if "'locked'" in message else ""
        if kind:
            with self.changed:
                self.logged.append(kind)
                self.changed.notify_all()

    def asked(self) -> None:
        with self.changed:
            self.pin_checks += 1
            self.changed.notify_all()

    def decided(self, n: int) -> tuple[int, list[str]]:
        """The PIN checks asked and the look-ups logged, once `n` look-ups were (the gate
        shut: what the others were told is told before they are)."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.pin_checks + len(self.logged) >= n,
                                         timeout=TIMEOUT)  # fmt: skip
            return self.pin_checks, list(self.logged)


class Gated:
    """The demo directory; its PIN checks are counted as they are asked (in `seen`), and
    answer only while the test holds the gate open."""

    def __init__(self, seen: Seen) -> None:
        self.inner = directory()
        self.open = threading.Event()
        self.seen = seen

    def lookup(self, request: LookupRequest) -> LookupResult:
        if request.operation == "verify":
            self.seen.asked()
            if not self.open.wait(timeout=TIMEOUT):
                raise TimeoutError("the test never opened the gate")
        return self.inner.lookup(request)


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Iterator[Seen]:
    caplog.set_level(logging.INFO, logger="hotline.records")
    handler = Seen()
    logger = logging.getLogger("hotline.records")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def gated(seen: Seen) -> Iterator[Gated]:
    connector = Gated(seen)
    yield connector
    connector.open.set()  # no worker thread outlives the test


@pytest.fixture(params=["sqlite", "postgresql"])
def guards(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LookupGuards]:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    migrate(engine)
    yield LookupGuards(Engine(engine))
    engine.dispose()


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def workers(guards: LookupGuards, gated: Gated, wall: FakeWall) -> Iterator[LookupWorkers]:
    """Eight workers, as `hotline serve` has, and the lockout of the demo's flow."""
    workers = LookupWorkers(connectors={"agency_directory": gated}, wall=wall, guards=guards,
                            guard_clock=wall, workers=8)  # fmt: skip
    yield workers
    workers.close()


def pin_check(pin: str) -> Lookup:
    return Lookup("agency_directory", "verify", {"agency_id": "123455", "pin": pin},
                  guard=Guard("123455", 5, HOUR))  # fmt: skip


def answered(workers: LookupWorkers) -> list[str]:
    """The statuses of the look-ups answered, in the order of their tickets."""
    workers.settle(TIMEOUT)
    return [a.result.status for a in sorted(workers.answers(), key=lambda a: a.ticket)]


def test_eight_officers_of_one_agency_verified_at_once_are_all_verified(
    workers, gated, seen, guards, wall
):
    """Five PIN checks under way fill the lockout's limit: the other three wait for them
    (nobody failed, so none is "locked"), and are checked as places free."""
    for i in range(8):
        workers.start(i, f"CA{i}", pin_check("2468"))
    assert seen.decided(8) == (5, ["waits"] * 3)
    assert workers.answers() == []
    gated.open.set()
    assert answered(workers) == ["found"] * 8
    assert seen.pin_checks == 8
    assert seen.logged == ["waits"] * 3
    assert guards.failures(KEY, wall(), window=HOUR) == 0


def test_the_sixth_pin_check_after_five_wrong_is_locked_without_asking(
    workers, gated, seen, caplog
):
    gated.open.set()
    for i in range(5):
        workers.start(i, f"CA{i}", pin_check("1111"))
        assert answered(workers) == ["not_found"]
    workers.start(5, "CA5", pin_check("2468"))
    assert answered(workers) == ["locked"]
    assert seen.pin_checks == 5
    (locked,) = [r.getMessage() for r in caplog.records if "'locked'" in r.getMessage()]
    assert locked == ("a look-up on call CA5 is answered 'locked': its key had 5 failures "
                      "within 60 minutes")  # fmt: skip


def test_wrong_pins_at_once_are_checked_no_more_than_the_limit_allows(workers, gated, seen):
    """With four failures counted, three wrong PINs at once: one is checked, the others
    wait for its answer, and then the key is locked; the fifth failure is the last."""
    gated.open.set()
    for i in range(4):
        workers.start(i, f"CA{i}", pin_check("1111"))
        assert answered(workers) == ["not_found"]
    gated.open.clear()
    for i in range(4, 7):
        workers.start(i, f"CA{i}", pin_check(f"{i}{i}{i}{i}"))
    assert seen.decided(7) == (5, ["waits"] * 2)
    gated.open.set()
    assert sorted(answered(workers)) == ["locked", "locked", "not_found"]
    assert seen.pin_checks == 5


def test_attempts_a_crashed_process_left_under_way_end_with_their_window(
    workers, guards, gated, seen, wall
):
    """A process died with five PIN checks under way: while they are within their time
    the key is busy (a look-up waits, until its deadline); then they count as failures
    (their answers may have been "not found"), and they end with their window."""
    gated.open.set()
    crashed = wall()
    for _ in range(5):
        tried = guards.attempt(KEY, crashed, window=HOUR, limit=5, answer_within=ANSWER_WITHIN)
        assert tried.id is not None

    wall.now = crashed + 1
    workers.start(1, "CA1", pin_check("2468"))
    assert seen.decided(1) == (0, ["waits"])
    wall.now += LOOKUP_DEADLINE
    assert [a.result.status for a in workers.answers()] == ["error"]  # the caller goes on

    wall.now = crashed + ANSWER_WITHIN
    workers.start(2, "CA2", pin_check("2468"))
    assert answered(workers) == ["locked"]
    assert guards.failures(KEY, wall(), window=HOUR) == 5

    wall.now = crashed + HOUR
    workers.start(3, "CA3", pin_check("2468"))
    assert answered(workers) == ["found"]
    assert seen.pin_checks == 1  # the look-up that waited was never made


def test_an_answer_that_comes_after_its_time_still_settles_its_attempt(guards):
    t = 1_796_000_000.0
    slow = guards.attempt("k", t, window=HOUR, limit=2, answer_within=30)
    fast = guards.attempt("k", t, window=HOUR, limit=2, answer_within=30)
    assert slow.id is not None
    assert fast.id is not None
    busy = guards.attempt("k", t + 1, window=HOUR, limit=2, answer_within=30)
    assert (busy.id, busy.locked, busy.failures, busy.under_way) == (None, False, 0, 2)
    guards.answered("k", fast.id, t + 2, failed=True)
    assert guards.failures("k", t + 29, window=HOUR) == 1  # the slow one: still under way
    late = guards.attempt("k", t + 30, window=HOUR, limit=2, answer_within=30)
    assert (late.id, late.locked, late.failures, late.unanswered) == (None, True, 2, 1)
    guards.answered("k", slow.id, t + 31, failed=False)  # found, at last: taken back
    assert guards.failures("k", t + 31, window=HOUR) == 1


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_migration_0012_keeps_the_failures_and_a_downgrade_counts_attempts_under_way(
    db, request, tmp_path
):
    url = sqlite_url(tmp_path) if db == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    try:
        migrate(engine, to="0011")
        t = 1_796_000_000.0
        with engine.begin() as c:  # what 0011's code wrote: a failure (or an attempt)
            c.execute(text("INSERT INTO lookup_guard (key_sha256, failures, last_at) "
                           "VALUES ('k', :f, :t)"), {"f": json.dumps([t]), "t": t})  # fmt: skip
        assert migrate(engine) == ["0012"]
        guards = LookupGuards(Engine(engine))
        assert guards.failures("k", t + 1, window=HOUR) == 1
        tried = guards.attempt("k", t + 2, window=HOUR, limit=5, answer_within=30)
        assert tried.id is not None
        assert guards.failures("k", t + 3, window=HOUR) == 1  # under way: not a failure

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as c:
            config.attributes["connection"] = c
            command.downgrade(config, "0011")
        with engine.connect() as c:
            (failures,) = c.execute(text("SELECT failures FROM lookup_guard")).one()
        assert (json.loads(failures) if isinstance(failures, str) else failures) == [t, t + 2]
    finally:
        engine.dispose()


class AnswersFailTwice(LookupGuards):
    """The store fails to take the first two answers (a moment's outage), then takes them;
    `recorded` is set once one is."""

    def __init__(self, store: Engine) -> None:
        super().__init__(store)
        self.refused = 0
        self.recorded = threading.Event()

    def answered(self, name: str, attempt: str, now: float, *, failed: bool) -> None:
        if self.refused < 2:
            self.refused += 1
            raise RuntimeError("the database is away")
        super().answered(name, attempt, now, failed=failed)
        self.recorded.set()


def test_an_answer_the_store_could_not_take_at_once_is_recorded_when_it_can(tmp_path, counting):
    """A right PIN checked while the store fails for a moment: its attempt's answer is
    recorded once the store is back, so it never counts as a failure (five such and a
    whole agency would be locked out for the window)."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    guards = AnswersFailTwice(Engine(engine))
    now = 1_796_000_000.0
    workers = LookupWorkers(connectors={"agency_directory": counting}, wall=lambda: 0.0,
                            guards=guards, guard_clock=lambda: now)  # fmt: skip
    try:
        workers.start(1, "CA1", pin_check("2468"))
        workers.settle(30)
        (answer,) = workers.answers()
        assert answer.result.status == "found"
        assert guards.recorded.wait(10), "the answer was never recorded"
    finally:
        workers.close()
    assert guards.refused == 2
    key = guard_key("agency_directory.verify", "123455")
    assert guards.failures(key, now + ANSWER_WITHIN + 1, window=HOUR) == 0
    later = guards.attempt(key, now + 1, window=HOUR, limit=5, answer_within=ANSWER_WITHIN)
    assert later.under_way == 0  # (nothing left under way: the attempt was taken back)
    engine.dispose()
