"""Accounts on SQLite and the machine's PostgreSQL, on a virtual clock: Argon2id hashes,
TOTP codes used once, the lockout with one answer for every refusal, idle and absolute
session limits, one session per user, passwords refused for length or commonness."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from hotline.errors import LogOnRefused, PasswordRefused, SessionEnded, UnknownUser
from hotline.service.accounts import (
    FAILURE_WINDOW,
    IDLE_LIMIT,
    REFUSED,
    SESSION_LIMIT,
    Accounts,
    password_problem,
    totp_code,
)
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate

from .live_fixtures import pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)

PASSWORD = "correct horse battery staple"
START = 1_800_000_000.0  # a step boundary (divisible by 30), 2027-01-15


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def accounts(request, tmp_path):
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    migrate(engine)
    yield Accounts(store=AccountStore(engine=engine), clock=Clock())
    engine.dispose()


def code(accounts: Accounts, secret: str | None, later: float = 0.0) -> str:
    assert secret is not None
    return totp_code(secret, accounts.clock() + later)


def test_a_user_logs_on_with_password_and_code_and_only_the_hash_is_kept(accounts):
    new = accounts.add("ana", "supervisor", password=PASSWORD)
    assert new.totp_uri is not None
    assert new.totp_uri.startswith("otpauth://totp/Hotline:ana?")
    session = accounts.log_on("ana", PASSWORD, code(accounts, new.totp_secret), source="127.0.0.1")
    assert (session.username, session.role) == ("ana", "supervisor")
    assert accounts.session(session.token).username == "ana"
    with accounts.store.engine.connect() as c:
        rows = str(c.execute(text("SELECT * FROM users")).all())
        sessions = str(c.execute(text("SELECT * FROM web_sessions")).all())
    assert PASSWORD not in rows
    assert "$argon2id$" in rows
    assert session.token not in sessions


def test_a_code_is_accepted_once_and_a_stale_one_never(accounts):
    new = accounts.add("ben", "agent", password=PASSWORD)
    first = code(accounts, new.totp_secret)
    accounts.log_on("ben", PASSWORD, first, source="a")
    with pytest.raises(LogOnRefused):  # the same code again, within its 30 s
        accounts.log_on("ben", PASSWORD, first, source="a")
    accounts.clock.now += 30  # the next step's code is new: accepted
    accounts.log_on("ben", PASSWORD, code(accounts, new.totp_secret), source="a")
    with pytest.raises(LogOnRefused):  # a code from two minutes ago
        accounts.log_on("ben", PASSWORD, code(accounts, new.totp_secret, -120), source="a")
    with pytest.raises(LogOnRefused):
        accounts.log_on("ben", PASSWORD, None, source="a")


def test_five_failures_in_15_minutes_lock_until_unlocked_with_one_answer_for_all(accounts):
    new = accounts.add("cai", "admin", password=PASSWORD)
    answers = set()
    for wrong in ("nope-nope-1", "nope-nope-2", "nope-nope-3", "nope-nope-4", "nope-nope-5"):
        accounts.clock.now += 60
        with pytest.raises(LogOnRefused) as e:
            accounts.log_on("cai", wrong, code(accounts, new.totp_secret), source="a")
        answers.add(e.value.message)
    assert accounts.locked("cai")
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused) as e:  # the right password and code: still locked
        accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="a")
    answers.add(e.value.message)
    accounts.clock.now += 24 * 3600  # a lock does not wear off
    with pytest.raises(LogOnRefused) as e:
        accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="a")
    for name in ("nobody", "x" * 200):  # unknown names, even absurd ones, are answered alike
        with pytest.raises(LogOnRefused) as e:
            accounts.log_on(name, PASSWORD, "123456", source="a")
        answers.add(e.value.message)
    assert answers == {REFUSED}
    assert accounts.unlock("cai")
    accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="a")


def test_failures_spread_over_more_than_15_minutes_do_not_lock(accounts):
    new = accounts.add("dee", "planner", password=PASSWORD)
    for _ in range(8):
        accounts.clock.now += FAILURE_WINDOW / 4 + 1
        with pytest.raises(LogOnRefused):
            accounts.log_on("dee", "wrong password", code(accounts, new.totp_secret), source="a")
    assert not accounts.locked("dee")
    accounts.clock.now += 30
    accounts.log_on("dee", PASSWORD, code(accounts, new.totp_secret), source="a")


def test_an_unknown_name_locks_alike(accounts):
    for _ in range(5):
        with pytest.raises(LogOnRefused):
            accounts.log_on("mallory", "whatever-123", "000000", source="a")
    assert accounts.locked("mallory")


def test_sessions_lock_when_idle_and_end_after_12_hours(accounts):
    new = accounts.add("eve", "supervisor", password=PASSWORD)
    s = accounts.log_on("eve", PASSWORD, code(accounts, new.totp_secret), source="a")
    for _ in range(3):  # in use: never idle; each look keeps it open
        accounts.clock.now += IDLE_LIMIT - 60
        accounts.session(s.token)
    accounts.clock.now += IDLE_LIMIT
    with pytest.raises(SessionEnded, match="30 minutes"):
        accounts.session(s.token)
    with pytest.raises(SessionEnded):  # and it stays ended
        accounts.session(s.token)
    accounts.clock.now += 30
    s = accounts.log_on("eve", PASSWORD, code(accounts, new.totp_secret), source="a")
    started = accounts.clock.now
    while accounts.clock.now - started < SESSION_LIMIT - IDLE_LIMIT:
        accounts.clock.now += IDLE_LIMIT - 1
        accounts.session(s.token)
    accounts.clock.now = started + SESSION_LIMIT
    with pytest.raises(SessionEnded, match="12 hours"):
        accounts.session(s.token)


def test_one_session_per_user_unless_allowed(accounts):
    one = accounts.add("fay", "agent", password=PASSWORD, agent_id="en-day-1")
    first = accounts.log_on("fay", PASSWORD, code(accounts, one.totp_secret), source="a")
    accounts.clock.now += 30
    second = accounts.log_on("fay", PASSWORD, code(accounts, one.totp_secret), source="b")
    with pytest.raises(SessionEnded, match="newer log-on"):
        accounts.session(first.token)
    assert accounts.session(second.token).agent_id == "en-day-1"
    many = accounts.add("gus", "supervisor", password=PASSWORD, multi_session=True)
    a = accounts.log_on("gus", PASSWORD, code(accounts, many.totp_secret), source="a")
    accounts.clock.now += 30
    b = accounts.log_on("gus", PASSWORD, code(accounts, many.totp_secret), source="b")
    assert {accounts.session(a.token).username, accounts.session(b.token).username} == {"gus"}


def test_disable_reset_and_log_off_end_sessions(accounts):
    new = accounts.add("hal", "auditor", password=PASSWORD)
    s = accounts.log_on("hal", PASSWORD, code(accounts, new.totp_secret), source="a")
    accounts.disable("hal")
    with pytest.raises(SessionEnded):
        accounts.session(s.token)
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):  # disabled: the same answer as a wrong password
        accounts.log_on("hal", PASSWORD, code(accounts, new.totp_secret), source="a")
    accounts.enable("hal")
    reset = accounts.reset("hal")
    assert reset.password != PASSWORD
    assert reset.totp_secret != new.totp_secret
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):  # the old secret's codes no longer work
        accounts.log_on("hal", reset.password, code(accounts, new.totp_secret), source="a")
    s = accounts.log_on("hal", reset.password, code(accounts, reset.totp_secret), source="a")
    accounts.log_off(s.token)
    with pytest.raises(SessionEnded):
        accounts.session(s.token)


def test_passwords_are_refused_for_length_or_commonness_not_composition():
    assert password_problem("ab3$efg", mfa=True) == "a password needs at least 8 characters"
    assert password_problem("allsmallletters", mfa=True) is None  # no composition rules
    assert "commonest" in (password_problem("password123", mfa=True) or "")
    assert "commonest" in (password_problem("Sunshine1", mfa=True) or "")  # case ignored
    assert "without MFA" in (password_problem("fourteen-chars", mfa=False) or "")
    assert password_problem("fifteen-chars!!", mfa=False) is None


def test_administration_refuses_what_it_cannot_do(accounts):
    with pytest.raises(PasswordRefused):
        accounts.add("ivy", "agent", password="qwertyuiop")
    with pytest.raises(UnknownUser, match="no role"):
        accounts.add("ivy", "boss", password=PASSWORD)
    accounts.add("ivy", "agent", password=PASSWORD)
    with pytest.raises(UnknownUser, match="already"):
        accounts.add("ivy", "agent", password=PASSWORD)
    with pytest.raises(UnknownUser, match="no user"):
        accounts.reset("nobody")
    generated = accounts.add("jon", "agent", mfa=False)  # a generated password is long enough
    assert len(generated.password) >= 15
    assert generated.totp_secret is None
    accounts.log_on("jon", generated.password, None, source="a")


def test_attempts_count_before_the_password_is_checked(accounts):
    """Five guesses in flight (each counted, none answered yet) leave no room for a sixth,
    even with the right password and code: guesses sent at once cannot outrun the lock."""
    new = accounts.add("kim", "agent", password=PASSWORD)
    for _ in range(5):
        assert accounts.store.attempt("kim", accounts.clock(), window=FAILURE_WINDOW, limit=5)
    with pytest.raises(LogOnRefused):
        accounts.log_on("kim", PASSWORD, code(accounts, new.totp_secret), source="a")
    assert accounts.locked("kim")


def test_many_guesses_at_once_lock_the_name_after_five(accounts):
    accounts.add("lee", "agent", password=PASSWORD)
    with ThreadPoolExecutor(8) as pool:
        refused = list(pool.map(lambda i: guess(accounts, "lee", f"wrong guess {i:03}"), range(24)))
    assert refused == [True] * 24
    failures, locked_at = accounts.store.guard("lee")
    assert locked_at is not None
    assert len(failures) == 5  # the five that were checked; the rest were turned away


def guess(accounts: Accounts, username: str, password: str) -> bool:
    try:
        accounts.log_on(username, password, "000000", source="a")
    except LogOnRefused:
        return True
    return False
