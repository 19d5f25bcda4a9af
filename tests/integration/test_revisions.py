"""The store's revisions (store.revisions) grow in the transaction of every change a
server must hear of by one cheap read: `access` with every token or session that ends and
every user disabled (the sockets' sweep judges tokens again only then), `lines` with every
line imported or changed, whatever the clock of whoever changed it says."""

from __future__ import annotations

import pytest

from hotline.errors import SessionEnded
from hotline.service.accounts import IDLE_LIMIT, Accounts, totp_code
from hotline.service.lines import import_line

from .live_fixtures import LINE, ROOT, VICTIMS, Live
from .test_sessions import PASSWORD, accounts, live  # noqa: F401 (a fixture)

NATIONAL, HELPLINE = "National hotline (US)", "Victim support helpline"


def log_on(on: Live, a: Accounts, username: str, secret: str | None) -> str:
    on.wall.now += 30  # (a fresh TOTP step: each code is used once)
    return a.log_on(username, PASSWORD, totp_code(secret or "", on.wall()),
                    source="127.0.0.1").token  # fmt: skip


def test_every_way_a_token_or_session_ends_grows_the_access_revision(live):  # noqa: F811
    a, store = accounts(live), live.store
    seen: list[int] = [store.access_revision()]

    def grew() -> bool:
        seen.append(store.access_revision())
        return seen[-1] > seen[-2]

    store.issue_token("en-day-1", live.wall())
    assert not grew()  # (a first token ends nothing)
    store.issue_token("en-day-1", live.wall())
    assert grew()  # the old token ended
    assert store.revoke_token("en-day-1")
    assert grew()
    assert not store.revoke_token("en-day-1")
    assert not grew()
    ana = a.add("ana", "agent", password=PASSWORD, agent_id="en-day-2")
    log_on(live, a, "ana", ana.totp_secret)
    assert not grew()
    log_on(live, a, "ana", ana.totp_secret)
    assert grew()  # the older session ended (one session each)
    token = log_on(live, a, "ana", ana.totp_secret)
    assert grew()
    a.log_off(token)
    assert grew()
    token = log_on(live, a, "ana", ana.totp_secret)
    live.wall.now += IDLE_LIMIT
    assert token not in a.open_sessions([token])  # (ran out by time: no revision says so)
    with pytest.raises(SessionEnded, match="without use"):
        a.session(token)  # (asked, it ends in the store)
    assert grew()
    log_on(live, a, "ana", ana.totp_secret)
    store.issue_token("en-day-2", live.wall())
    a.reset("ana")
    assert grew()
    ben = a.add("ben", "supervisor", password=PASSWORD)
    log_on(live, a, "ben", ben.totp_secret)
    grew()
    a.disable("ben")
    assert grew()
    a.enable("ben")
    assert not grew()


def test_every_change_of_a_line_grows_the_lines_revision_whatever_its_clock(
    live,  # noqa: F811
):
    store = live.store
    seen: list[int] = [store.lines_revision()]

    def grew() -> bool:
        seen.append(store.lines_revision())
        return seen[-1] > seen[-2]

    for name, number in (("national-hotline", LINE), ("victim-support", VICTIMS)):
        import_line(store, ROOT / "scenarios" / f"{name}.yaml", number=number,
                    timezone="America/New_York")  # fmt: skip
        assert grew()
    ahead = 10_000_000_000.0  # (a host whose clock is far ahead changed the national line)
    store.set_line(NATIONAL, ahead, expect=store.line_revisions([NATIONAL])[NATIONAL],
                   mode="holiday")  # fmt: skip
    assert grew()
    # one whose clock is behind changes the helpline: its change is stamped before the
    # national line's (the newest stamp of all did not move); the revision still grows
    store.set_line(HELPLINE, 0.0, expect=store.line_revisions([HELPLINE])[HELPLINE],
                   mode="holiday")  # fmt: skip
    assert grew()
    assert not grew()
