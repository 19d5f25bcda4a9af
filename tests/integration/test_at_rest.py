"""Sensitive fields sealed at rest, on SQLite and PostgreSQL: a call's attributes and the
wrap-up's notes are ciphertext in their columns (read with SQL), read back as written,
bound to their row; rows in clear from before still read and `rekey` seals them; a key
rotation (HOTLINE_PREVIOUS_SECRET_KEYS) re-seals everything, the TOTP secrets too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from hotline.errors import SealedSecretUnreadable, SealedValueUnreadable, WriteRefused
from hotline.service.accounts import Accounts
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.unit_of_work import AddCall, AppendEvent, UpdateCall
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.store.tables import call_events, calls
from hotline.switchboard.records import CallRow

from .live_fixtures import Live, pg_url, queue_public_caller, sqlite_url  # noqa: F401
from .test_serve_hardening import hotline

AGENCY = "Springfield Sheriff Office"
NOTES = "caller fears her neighbour at 12 Elm Street"
PASSWORD = "correct horse battery staple"


def key_of(text_key: str, *older: str) -> Keyring:
    return Keyring(SealingKey.parse(text_key), [SealingKey.parse(k) for k in older])


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = connect(url)
    migrate(engine)
    yield engine
    engine.dispose()


def row(sid: str, attributes: dict[str, str]) -> CallRow:
    return CallRow(sid, "national", "+12025550143", "+18005550100", "en", "en", 0, "queued",
                   attributes, None, 10.0)  # fmt: skip


def fill(store: Store, sid: str) -> None:
    """A call verified as an agency, and its wrap-up with notes."""
    store.commit([
        AddCall(row(sid, {"caller_type": "agency"}), 10.0),
        UpdateCall(sid, 11.0, {"attributes": {"caller_type": "agency", "agency": AGENCY}}),
        AppendEvent(sid, 12.0, "wrapped-up", {"agent_id": "en-1", "code": "advice",
                                              "notes": NOTES}),
        AppendEvent(sid, 12.0, "ivr-ended", {"outcome": "queued"}),
    ])  # fmt: skip


def raw(engine: Engine) -> str:
    """Every call's attributes and every event's data, as the database holds them."""
    with engine.connect() as c:
        attributes = [str(v) for v in c.execute(text("SELECT attributes FROM calls")).scalars()]
        data = [str(v) for v in c.execute(text("SELECT data FROM call_events")).scalars()]
    return "\n".join(attributes + data)


def test_the_columns_hold_no_clear_text_and_read_back_as_written(engine):
    store = Store(engine=engine, key=key_of(new_key()))
    fill(store, "CA1")
    held = raw(engine)
    for clear in (AGENCY, "Springfield", NOTES, "Elm Street", "caller_type", "advice"):
        assert clear not in held
    assert held.count('"sealed"') + held.count("'sealed'") == 2  # attributes, the wrap-up
    assert "queued" in held  # an event without free text is kept as it is
    call = store.call("CA1")
    assert call is not None
    assert call.attributes == {"caller_type": "agency", "agency": AGENCY}
    assert [c.attributes for c in store.open_calls()] == [call.attributes]
    assert store.events("CA1") == [
        ("wrapped-up", {"agent_id": "en-1", "code": "advice", "notes": NOTES}),
        ("ivr-ended", {"outcome": "queued"}),
    ]


def test_a_sealed_value_copied_to_another_row_does_not_open(engine):
    store = Store(engine=engine, key=key_of(new_key()))
    fill(store, "CA1")
    fill(store, "CA2")
    with engine.begin() as c:
        c.execute(text("UPDATE calls SET attributes = (SELECT attributes FROM calls "
                       "WHERE sid = 'CA1') WHERE sid = 'CA2'"))  # fmt: skip
        c.execute(text("UPDATE call_events SET data = (SELECT data FROM call_events WHERE "
                       "call_sid = 'CA1' AND kind = 'wrapped-up') WHERE call_sid = 'CA2' "
                       "AND kind = 'wrapped-up'"))  # fmt: skip
    with pytest.raises(SealedValueUnreadable) as e:
        store.call("CA2")
    assert "calls.attributes of 'CA2'" in e.value.message
    assert "copied from another row" in e.value.message
    assert AGENCY not in e.value.message
    with pytest.raises(SealedValueUnreadable) as e:
        store.events("CA2")
    assert "call_events.data of 'CA2/wrapped-up'" in e.value.message
    assert NOTES not in e.value.message
    assert store.events("CA1")[0][1]["notes"] == NOTES  # the original still opens


def test_a_store_without_a_key_refuses_to_write_and_to_read_what_is_sealed(engine):
    old = new_key()
    with pytest.raises(WriteRefused) as refused:
        Store(engine=engine).commit([AddCall(row("CA1", {"agency": AGENCY}), 10.0)])
    assert refused.value.message == ("calls.attributes is sealed at rest and this store has "
                                     "no key: set HOTLINE_SECRET_KEY (`hotline secret-key` "
                                     "makes one)")  # fmt: skip
    assert raw(engine) == ""  # nothing written
    sealed = Store(engine=engine, key=key_of(old))
    fill(sealed, "CA1")
    with pytest.raises(SealedValueUnreadable) as e:
        Store(engine=engine).call("CA1")
    assert f"key id {sealed.key.key_id!r}" in e.value.message  # type: ignore[union-attr]
    assert old not in e.value.message


def test_rows_in_clear_from_before_still_read_and_rekey_seals_them(engine):
    with engine.begin() as c:
        c.execute(insert(calls).values(
            sid="CAold", line="national", caller="+12025550143", called="+18005550100",
            language="en", queue="en", priority=0, state="queued",
            attributes={"agency": AGENCY}, arrived_at=1.0, updated_at=1.0))  # fmt: skip
        c.execute(insert(call_events).values(call_sid="CAold", at=2.0, kind="wrapped-up",
                                             data={"code": "advice", "notes": NOTES}))  # fmt: skip
    store = Store(engine=engine, key=key_of(new_key()))
    old = store.call("CAold")
    assert old is not None
    assert old.attributes == {"agency": AGENCY}
    assert store.events("CAold") == [("wrapped-up", {"code": "advice", "notes": NOTES})]
    assert AGENCY in raw(engine)
    assert store.rekey_total() == 2
    assert list(store.rekey()) == [(1, 1), (1, 1)]
    held = raw(engine)
    assert AGENCY not in held
    assert NOTES not in held
    assert store.call("CAold") == old
    assert store.events("CAold") == [("wrapped-up", {"code": "advice", "notes": NOTES})]
    assert list(store.rekey()) == [(1, 0), (1, 0)]  # idempotent


def test_a_rotation_reseals_everything_and_the_old_key_is_needed_no_more(engine):
    old, new = new_key(), new_key()
    before = Store(engine=engine, key=key_of(old))
    for sid in ("CA1", "CA2", "CA3"):
        fill(before, sid)
    accounts = Accounts(store=AccountStore(engine=engine), clock=lambda: 100.0,
                        key=key_of(old), actor="os:test")  # fmt: skip
    made = accounts.add("ana", "admin", password=PASSWORD)
    assert made.totp_secret is not None

    alone = Store(engine=engine, key=key_of(new))
    with pytest.raises(SealedValueUnreadable) as e:
        alone.call("CA1")
    old_id = before.key.key_id  # type: ignore[union-attr]
    assert f"key id {old_id!r}" in e.value.message
    assert "HOTLINE_PREVIOUS_SECRET_KEYS" in e.value.message
    assert old not in e.value.message
    assert new not in e.value.message

    sealed_before = AccountStore(engine=engine).user("ana")
    assert sealed_before is not None
    assert sealed_before.totp_secret is not None  # a log-on meanwhile opens it with either
    assert key_of(new, old).open(sealed_before.totp_secret, username="ana") == made.totp_secret
    with pytest.raises(SealedSecretUnreadable, match=f"key id '{old_id}'"):
        key_of(new).open(sealed_before.totp_secret, username="ana")

    rotating = Store(engine=engine, key=key_of(new, old))
    assert rotating.rekey_total() == 6
    steps = rotating.rekey(batch=2)
    assert next(steps) == (2, 2)  # then interrupted: that batch is committed
    steps.close()
    assert sum(done for _, done in rotating.rekey(batch=2)) == 4  # run again: the rest
    rotated = Accounts(store=AccountStore(engine=engine), clock=lambda: 100.0,
                       key=key_of(new, old), actor="os:test")  # fmt: skip
    assert rotated.rekey() == 1
    assert rotated.rekey() == 0
    assert sum(done for _, done in rotating.rekey(batch=2)) == 0

    for sid in ("CA1", "CA2", "CA3"):
        call = alone.call(sid)
        assert call is not None
        assert call.attributes["agency"] == AGENCY
        assert alone.events(sid)[0][1]["notes"] == NOTES
    stored = AccountStore(engine=engine).user("ana")
    assert stored is not None
    assert stored.totp_secret is not None
    assert SealingKey.parse(new).open(stored.totp_secret, username="ana") == made.totp_secret
    with pytest.raises(SealedSecretUnreadable):
        SealingKey.parse(old).open(stored.totp_secret, username="ana")


def test_a_live_call_keeps_its_collected_answers_sealed(tmp_path):
    live = Live(sqlite_url(tmp_path))
    queue_public_caller(live, "CA1", "+12025550143")
    row = live.store.call("CA1")
    assert row is not None
    assert row.attributes.get("caller_type") == "public"
    assert ("CallArrived", {"at": live.wall.now, "call_id": "CA1", "language": "en",
                            "caller_type": "public"}) in live.store.events("CA1")  # fmt: skip
    held = raw(live.store.engine)
    assert held.count('"sealed"') == 2  # the call's attributes, CallArrived
    assert "caller_type" not in held
    assert '"public"' not in held


def test_hotline_rekey_rotates_the_keys_as_an_operator_runs_it(tmp_path):
    old, new = new_key(), new_key()
    url = sqlite_url(tmp_path)
    engine = connect(url)
    migrate(engine)
    fill(Store(engine=engine, key=key_of(old)), "CA1")
    env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_SECRET_KEY": new}
    refused = hotline("rekey", env=env)
    assert refused.returncode == 1, refused.stderr
    assert "was sealed under a key that is not given" in refused.stderr
    assert old not in refused.stderr
    assert new not in refused.stderr
    done = hotline("rekey", env=env | {"HOTLINE_PREVIOUS_SECRET_KEYS": f'["{old}"]'})
    assert done.returncode == 0, done.stderr
    new_id = SealingKey.parse(new).key_id
    assert f"sealed anew under key {new_id}: 2 of 2 rows; TOTP secrets: 0" in done.stderr
    again = hotline("rekey", env=env | {"HOTLINE_PREVIOUS_SECRET_KEYS": f"{old},"})
    assert f"sealed anew under key {new_id}: 0 of 2 rows" in again.stderr, again.stderr
    call = Store(engine=engine, key=key_of(new)).call("CA1")
    assert call is not None
    assert call.attributes["agency"] == AGENCY
    bad = hotline("rekey", env=env | {"HOTLINE_PREVIOUS_SECRET_KEYS": "not-a-key"})
    assert bad.returncode == 2
    assert "HOTLINE_PREVIOUS_SECRET_KEYS key 1 is not a key of 32 bytes" in bad.stderr
    assert "not-a-key" not in bad.stderr
    engine.dispose()
