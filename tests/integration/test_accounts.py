"""Accounts on SQLite and the machine's PostgreSQL, on a virtual clock: Argon2id hashes,
TOTP secrets sealed with the key (those kept in clear before still work, and are sealed at
a log-on or by `rekey`), TOTP codes used once, the lockout with one answer for every
refusal, idle and absolute session limits, one session per user, passwords refused for
length or commonness."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from hotline.errors import (
    LogOnRefused,
    PasswordRefused,
    SessionEnded,
    SettingsInvalid,
    UnknownUser,
)
from hotline.records.audit import rows
from hotline.service.accounts import (
    FAILURE_WINDOW,
    FAILURES_TO_HOLD,
    FAILURES_TO_LOCK,
    IDLE_LIMIT,
    LOCK_WINDOW,
    REFUSED,
    SESSION_LIMIT,
    Accounts,
    guard_key,
    password_problem,
    totp_code,
)
from hotline.service.sealing import SealingKey, new_key
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
    yield Accounts(store=AccountStore(engine=engine), clock=Clock(),
                   key=SealingKey.parse(new_key()))  # fmt: skip
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


def test_five_failures_from_one_address_hold_it_off_the_name_not_the_others(accounts):
    """Anyone can send a name five wrong passwords: that holds their address off the name
    for 15 minutes, with one answer for every refusal; the name's owner logs on from
    their own address all along."""
    new = accounts.add("cai", "admin", password=PASSWORD)
    answers = set()
    for wrong in ("nope-nope-1", "nope-nope-2", "nope-nope-3", "nope-nope-4", "nope-nope-5"):
        accounts.clock.now += 60
        with pytest.raises(LogOnRefused) as e:
            accounts.log_on("cai", wrong, code(accounts, new.totp_secret), source="203.0.113.9")
        answers.add(e.value.message)
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused) as e:  # the right password and code, from there: held
        accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="203.0.113.9")
    answers.add(e.value.message)
    for name in ("nobody", "x" * 200):  # unknown names, even absurd ones, are answered alike
        with pytest.raises(LogOnRefused) as e:
            accounts.log_on(name, PASSWORD, "123456", source="203.0.113.9")
        answers.add(e.value.message)
    assert answers == {REFUSED}
    assert not accounts.locked("cai")
    accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="198.51.100.7")
    accounts.clock.now += FAILURE_WINDOW - 4 * 60  # the first failure is over 15 minutes old
    accounts.log_on("cai", PASSWORD, code(accounts, new.totp_secret), source="203.0.113.9")


def test_a_hundred_failures_within_a_day_lock_the_name_until_unlocked(accounts):
    """Failures from many addresses (each held off after its fifth) add up for the name:
    the hundredth within a day locks it, from everywhere, and a lock does not wear off."""
    new = accounts.add("cat", "admin", password=PASSWORD)
    for _ in range(FAILURES_TO_LOCK - 1):  # 99 failures counted (as log-ons count them)
        assert accounts.store.attempt("cat", accounts.clock(), window=LOCK_WINDOW,
                                      limit=FAILURES_TO_LOCK)  # fmt: skip
    with pytest.raises(LogOnRefused):  # the hundredth
        accounts.log_on("cat", "wrong-password", code(accounts, new.totp_secret), source="a")
    assert accounts.locked("cat")
    with accounts.store.engine.connect() as c:
        last = [e for e in rows(c) if e.action == "session.logon"][-1]
    assert json.loads(last.details) == {"reason": "wrong password or code",
                                        "result": "name locked"}  # fmt: skip
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):  # the right password and code, from another address
        accounts.log_on("cat", PASSWORD, code(accounts, new.totp_secret), source="b")
    accounts.clock.now += LOCK_WINDOW + 60
    with pytest.raises(LogOnRefused):
        accounts.log_on("cat", PASSWORD, code(accounts, new.totp_secret), source="b")
    assert accounts.unlock("cat")
    accounts.log_on("cat", PASSWORD, code(accounts, new.totp_secret), source="b")


def test_a_locked_name_still_logs_on_from_where_it_logged_on_lately(accounts):
    """Others' guesses lock a name, not its owner out: from an address the name logged on
    from in the last 30 days (with its present password), a lock does not apply; the lock
    stays for everywhere else until an administrator lifts it. A locked name's refusals
    from elsewhere count nothing, so they hold no address off either; a reset forgets the
    addresses."""
    new = accounts.add("cal", "agent", password=PASSWORD)
    accounts.log_on("cal", PASSWORD, code(accounts, new.totp_secret), source="192.0.2.10")
    for _ in range(FAILURES_TO_LOCK):
        accounts.store.attempt("cal", accounts.clock(), window=LOCK_WINDOW, limit=FAILURES_TO_LOCK)
    assert not accounts.store.attempt("cal", accounts.clock(), window=LOCK_WINDOW,
                                      limit=FAILURES_TO_LOCK)  # fmt: skip
    assert accounts.locked("cal")
    for _ in range(FAILURES_TO_HOLD + 1):
        accounts.clock.now += 30
        with pytest.raises(LogOnRefused):  # elsewhere: locked (uncounted)
            accounts.log_on("cal", PASSWORD, code(accounts, new.totp_secret), source="b")
    assert accounts.store.guard(guard_key("cal", "b")) == ([], None)
    accounts.clock.now += 29 * 86400  # within 30 days of the log-on
    accounts.log_on("cal", PASSWORD, code(accounts, new.totp_secret), source="192.0.2.10")
    assert accounts.locked("cal")  # (for everywhere else)
    again = accounts.reset("cal")  # a new password (and unlocked): the address forgotten
    for _ in range(FAILURES_TO_LOCK):
        accounts.store.attempt("cal", accounts.clock(), window=LOCK_WINDOW, limit=FAILURES_TO_LOCK)
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):
        accounts.log_on("cal", again.password, code(accounts, again.totp_secret),
                        source="192.0.2.10")  # fmt: skip


def test_a_client_with_no_address_is_never_where_a_name_logged_on_from(accounts):
    new = accounts.add("cub", "agent", password=PASSWORD)
    accounts.log_on("cub", PASSWORD, code(accounts, new.totp_secret), source="unknown")
    for _ in range(FAILURES_TO_LOCK):
        accounts.store.attempt("cub", accounts.clock(), window=LOCK_WINDOW, limit=FAILURES_TO_LOCK)
    accounts.store.attempt("cub", accounts.clock(), window=LOCK_WINDOW, limit=FAILURES_TO_LOCK)
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):  # (any client with no address would be it)
        accounts.log_on("cub", PASSWORD, code(accounts, new.totp_secret), source="unknown")


def test_failures_from_a_known_address_count_against_the_name_all_the_same(accounts):
    new = accounts.add("cob", "agent", password=PASSWORD)
    accounts.log_on("cob", PASSWORD, code(accounts, new.totp_secret), source="192.0.2.20")
    for _ in range(3):
        with pytest.raises(LogOnRefused):
            accounts.log_on("cob", "wrong password", "000000", source="192.0.2.20")
    assert len(accounts.store.guard("cob")[0]) == 3


def test_an_ipv6_address_is_held_off_with_its_64_neighbours(accounts):
    new = accounts.add("cay", "agent", password=PASSWORD)
    for i in range(FAILURES_TO_HOLD):  # five addresses of one /64
        with pytest.raises(LogOnRefused):
            accounts.log_on("cay", "wrong password", "000000", source=f"2001:db8:0:1::{i + 1}")
    accounts.clock.now += 30
    with pytest.raises(LogOnRefused):  # a sixth address of it: held off
        accounts.log_on("cay", PASSWORD, code(accounts, new.totp_secret), source="2001:db8:0:1::ff")
    accounts.log_on("cay", PASSWORD, code(accounts, new.totp_secret), source="2001:db8:0:2::1")
    for _ in range(FAILURES_TO_HOLD):  # behind NAT64, an IPv4 client is its own address
        with pytest.raises(LogOnRefused):
            accounts.log_on("cay", "wrong password", "000000", source="64:ff9b::c000:201")
    accounts.clock.now += 30
    accounts.log_on("cay", PASSWORD, code(accounts, new.totp_secret), source="64:ff9b::c000:202")


def test_failures_spread_over_more_than_15_minutes_do_not_hold_an_address_off(accounts):
    new = accounts.add("dee", "planner", password=PASSWORD)
    for _ in range(8):
        accounts.clock.now += FAILURE_WINDOW / 4 + 1
        with pytest.raises(LogOnRefused):
            accounts.log_on("dee", "wrong password", code(accounts, new.totp_secret), source="a")
    assert not accounts.locked("dee")
    accounts.clock.now += 30
    accounts.log_on("dee", PASSWORD, code(accounts, new.totp_secret), source="a")


def test_an_unknown_name_locks_alike(accounts):
    for _ in range(FAILURES_TO_LOCK - 1):
        accounts.store.attempt("mallory", accounts.clock(), window=LOCK_WINDOW,
                               limit=FAILURES_TO_LOCK)  # fmt: skip
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
    """Five guesses in flight from one address (each counted, none answered yet) leave no
    room for a sixth from there, even with the right password and code: guesses sent at
    once cannot outrun the limit."""
    new = accounts.add("kim", "agent", password=PASSWORD)
    for _ in range(FAILURES_TO_HOLD):
        assert accounts.store.attempt(
            guard_key("kim", "a"),
            accounts.clock(),
            window=FAILURE_WINDOW,
            limit=FAILURES_TO_HOLD,
            lock=False,
        )
    with pytest.raises(LogOnRefused):
        accounts.log_on("kim", PASSWORD, code(accounts, new.totp_secret), source="a")
    accounts.log_on("kim", PASSWORD, code(accounts, new.totp_secret), source="b")


def test_many_guesses_at_once_from_one_address_are_checked_five_times(accounts):
    """24 guesses at once: five are checked, the rest turned away; none is counted against
    the name (one address cannot lock it in a burst)."""
    accounts.add("lee", "agent", password=PASSWORD)
    with ThreadPoolExecutor(8) as pool:
        refused = list(pool.map(lambda i: guess(accounts, "lee", f"wrong guess {i:03}"), range(24)))
    assert refused == [True] * 24
    failures, held = accounts.store.guard(guard_key("lee", "a"))
    assert (len(failures), held) == (5, None)  # the five that were checked; not locked
    failures, locked_at = accounts.store.guard("lee")
    assert (len(failures), locked_at) == (5, None)  # the name's: those five only


def guess(accounts: Accounts, username: str, password: str) -> bool:
    try:
        accounts.log_on(username, password, "000000", source="a")
    except LogOnRefused:
        return True
    return False


# -- TOTP secrets sealed at rest


def stored_secret(accounts: Accounts, username: str) -> str:
    with accounts.store.engine.connect() as c:
        return str(
            c.execute(
                text("SELECT totp_secret FROM users WHERE username = :u"), {"u": username}
            ).scalar_one()
        )


def set_stored_secret(accounts: Accounts, username: str, value: str) -> None:
    with accounts.store.engine.begin() as c:
        c.execute(text("UPDATE users SET totp_secret = :v WHERE username = :u"),
                  {"v": value, "u": username})  # fmt: skip


def other(accounts: Accounts, key: SealingKey | None) -> Accounts:
    """The same store and clock, another key (or none)."""
    return Accounts(store=accounts.store, clock=accounts.clock, key=key)


def test_the_database_holds_the_secret_sealed_and_a_log_on_opens_it(accounts):
    new = accounts.add("mia", "supervisor", password=PASSWORD)
    assert new.totp_secret is not None
    stored = stored_secret(accounts, "mia")
    assert accounts.key is not None
    assert stored.startswith(f"v1:{accounts.key.key_id}:")
    with accounts.store.engine.connect() as c:
        assert new.totp_secret not in str(c.execute(text("SELECT * FROM users")).all())
    accounts.log_on("mia", PASSWORD, code(accounts, new.totp_secret), source="a")
    reset = accounts.reset("mia")
    assert reset.totp_secret is not None
    assert reset.totp_secret not in stored_secret(accounts, "mia")
    accounts.clock.now += 30
    accounts.log_on("mia", reset.password, code(accounts, reset.totp_secret), source="a")


def test_without_the_key_an_mfa_account_cannot_be_made_and_the_message_says_how(accounts):
    accounts.add("nia", "agent", password=PASSWORD)
    keyless = other(accounts, None)
    for attempt in (lambda: keyless.add("ned", "agent", password=PASSWORD),
                    lambda: keyless.reset("nia"), keyless.rekey):  # fmt: skip
        with pytest.raises(SettingsInvalid) as e:
            attempt()
        assert "HOTLINE_SECRET_KEY is not set" in e.value.message
        assert "hotline secret-key" in e.value.message
    assert keyless.store.user("ned") is None
    plain = keyless.add("ned", "agent", mfa=False)  # no secret to seal: no key needed
    keyless.log_on("ned", plain.password, None, source="a")


def test_a_log_on_without_the_key_is_refused_and_the_operator_told_why(accounts, caplog):
    new = accounts.add("oli", "agent", password=PASSWORD)
    with caplog.at_level(logging.ERROR, logger="hotline.accounts"), \
            pytest.raises(LogOnRefused, match=REFUSED):  # fmt: skip
        other(accounts, None).log_on("oli", PASSWORD, code(accounts, new.totp_secret),
                                     source="a")  # fmt: skip
    assert "log-on of 'oli' refused: HOTLINE_SECRET_KEY is not set" in caplog.text


def test_a_wrong_key_refuses_the_log_on_and_logs_the_cause_without_secrets(accounts, caplog):
    new = accounts.add("pat", "agent", password=PASSWORD)
    assert new.totp_secret is not None
    key_text = new_key()
    wrong = other(accounts, SealingKey.parse(key_text))
    with caplog.at_level(logging.ERROR, logger="hotline.accounts"), \
            pytest.raises(LogOnRefused, match=REFUSED):  # fmt: skip
        wrong.log_on("pat", PASSWORD, code(accounts, new.totp_secret), source="a")
    assert "log-on of 'pat' refused: its TOTP secret was sealed under another key" in caplog.text
    for secret in (key_text, new.totp_secret, stored_secret(accounts, "pat"), PASSWORD):
        assert secret not in caplog.text
    # the right key still opens it (the refusal counted as one failure, no more)
    accounts.log_on("pat", PASSWORD, code(accounts, new.totp_secret), source="a")


def test_a_sealed_secret_copied_to_another_user_does_not_open(accounts, caplog):
    ann = accounts.add("qua", "agent", password=PASSWORD)
    accounts.add("ray", "agent", password=PASSWORD)
    set_stored_secret(accounts, "ray", stored_secret(accounts, "qua"))
    with caplog.at_level(logging.ERROR, logger="hotline.accounts"), \
            pytest.raises(LogOnRefused):  # fmt: skip
        accounts.log_on("ray", PASSWORD, code(accounts, ann.totp_secret), source="a")
    assert "copied from another user" in caplog.text


def test_a_secret_kept_in_clear_before_still_works_and_is_sealed_at_the_log_on(accounts):
    new = accounts.add("sol", "agent", password=PASSWORD)
    assert new.totp_secret is not None
    set_stored_secret(accounts, "sol", new.totp_secret)  # as a row from before 0004
    accounts.log_on("sol", PASSWORD, code(accounts, new.totp_secret), source="a")
    stored = stored_secret(accounts, "sol")
    assert stored.startswith("v1:")
    assert new.totp_secret not in stored
    accounts.clock.now += 30
    accounts.log_on("sol", PASSWORD, code(accounts, new.totp_secret), source="a")


def test_a_failed_log_on_leaves_a_clear_secret_as_it_was(accounts):
    new = accounts.add("tia", "agent", password=PASSWORD)
    assert new.totp_secret is not None
    set_stored_secret(accounts, "tia", new.totp_secret)
    with pytest.raises(LogOnRefused):
        accounts.log_on("tia", "wrong password", code(accounts, new.totp_secret), source="a")
    assert stored_secret(accounts, "tia") == new.totp_secret


def test_rekey_seals_every_secret_in_clear_once(accounts):
    clear = {name: accounts.add(name, "agent", password=PASSWORD).totp_secret
             for name in ("uma", "val")}  # fmt: skip
    accounts.add("wes", "agent", mfa=False)
    sealed_before = stored_secret(accounts, "val")
    set_stored_secret(accounts, "uma", clear["uma"] or "")
    assert accounts.rekey() == 1
    assert accounts.rekey() == 0
    assert stored_secret(accounts, "uma").startswith("v1:")
    assert stored_secret(accounts, "val") == sealed_before  # a sealed one is left alone
    accounts.log_on("uma", PASSWORD, code(accounts, clear["uma"]), source="a")


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_database_of_0003_keeps_its_secrets_through_migration_0004(db, request, tmp_path):
    """A real upgrade: a row written in clear under 0003, then 0004 (which widens the
    column on PostgreSQL), then a log-on that seals it."""
    url = sqlite_url(tmp_path) if db == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    try:
        assert migrate(engine, to="0003") == ["0001", "0002", "0003"]
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        with engine.begin() as c:  # what 0003's code wrote: the secret in clear
            c.execute(text("INSERT INTO users (username, role, agent_id, password_hash, mfa, "
                           "totp_secret, totp_last_step, multi_session, disabled, created_at, "
                           "password_set_at) VALUES ('xan', 'agent', NULL, :h, :t, :s, NULL, "
                           ":f, :f, 0, 0)"),
                      {"t": True, "f": False, "s": secret,
                       "h": PasswordHasher().hash(PASSWORD)})  # fmt: skip
        assert migrate(engine) == [f"{n:04d}" for n in range(4, 13)]
        now = Accounts(store=AccountStore(engine=engine), clock=Clock(),
                       key=SealingKey.parse(new_key()))  # fmt: skip
        now.log_on("xan", PASSWORD, totp_code(secret, now.clock()), source="a")
        stored = stored_secret(now, "xan")
        assert stored.startswith("v1:")
        assert secret not in stored
    finally:
        engine.dispose()
