"""The log-on audit and what an audit entry's `source` may hold (found by an independent
review): an address is an address, not any text after an IPv6 `%`, and a log-on whose
entry cannot be written opens no session and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hotline.errors import EntryRefused
from hotline.records.audit import Entry, append, rows
from hotline.service.accounts import Accounts
from hotline.store.accounts import AccountStore

from .live_fixtures import Live, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)

PASSWORD = "correct horse battery staple"
# what uvicorn hands on as the client's host from X-Forwarded-For (a proxy it trusts):
# Python's ipaddress takes anything after % as an IPv6 scope id (newlines, NUL, 200 chars)
SCOPED = "fe80::1%" + "x" * 100 + "\n2026-11-25 admin logged on from 10.0.0.1"


def accounts(live: Live) -> Accounts:
    return Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                    key=live.settings.sealing_key())  # fmt: skip


@pytest.mark.parametrize("source", [SCOPED, "fe80::1%\x00", "::1%" + "a" * 60])
def test_an_audit_source_is_an_address_not_any_text_after_a_percent(
    tmp_path: Path, source: str
) -> None:
    """`_check` asks ipaddress.ip_address, which accepts `addr%<anything>`: control
    characters and more than the column's 64 characters get in (PostgreSQL then fails the
    whole transaction, SQLite stores it)."""
    live = Live(sqlite_url(tmp_path))
    with live.store.engine.begin() as c, pytest.raises(EntryRefused):
        append(c, Entry(at=1.0, actor="ana", role="agent", action="session.logon",
                        source=source))  # fmt: skip


def test_a_failed_log_on_from_a_scoped_address_is_refused_and_audited_on_postgresql(
    pg_url: str,  # noqa: F811 (the fixture)
) -> None:
    """The client's host goes to the audit entry unchecked for length: on PostgreSQL
    (source VARCHAR(64)) the failed log-on's transaction fails: a 500 instead of 401, and
    the failure is in no audit entry (a guesser's attempts leave no trace)."""
    live = Live(pg_url)
    accounts(live).add("bea", "agent", password=PASSWORD, agent_id="en-day-1")
    client = TestClient(live.app, base_url=live.public_url, raise_server_exceptions=False,
                        client=("fe80::1%" + "x" * 80, 50000))  # fmt: skip
    r = client.post("/api/session", json={"username": "bea", "password": "wrong password!",
                                          "banner_acknowledged": True})  # fmt: skip
    assert r.status_code == 401, r.text
    with live.store.engine.connect() as c:
        trail = [e for e in rows(c) if e.action == "session.logon"]
    assert [(e.actor, e.outcome) for e in trail] == [("bea", "refused")]
    assert trail[0].source is None or len(trail[0].source) <= 64


def test_a_log_on_that_cannot_be_audited_says_so(tmp_path: Path) -> None:
    """The desk answers 503 lookup-not-audited when the trail cannot be written; a log-on
    whose audit entry cannot be written is a bare 500 'internal-error'."""
    live = Live(sqlite_url(tmp_path))
    new = accounts(live).add("bea", "supervisor", password=PASSWORD)
    with live.store.engine.begin() as c:
        c.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"))  # fmt: skip
    client = TestClient(live.app, base_url=live.public_url, raise_server_exceptions=False)
    from hotline.service.accounts import totp_code

    for password in ("wrong password!", PASSWORD):
        live.wall.now += 30
        r = client.post("/api/session", json={
            "username": "bea", "password": password, "banner_acknowledged": True,
            "code": totp_code(new.totp_secret or "", live.wall())})  # fmt: skip
        assert r.status_code == 503, (password, r.status_code, r.text)
        assert "audit" in r.json()["message"]
        assert "set-cookie" not in r.headers  # no session without its log-on entry
