"""The auditor's search of the audit trail over HTTP (`GET /api/audit/entries` and
`/api/audit/checkpoints`): newest first, each filter, paging both ways, every malformed
filter a 400 with why, other roles refused, and every reading itself an `audit.read`
entry written before the answer (none written, nothing answered: a 503)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hotline.records.audit import AuditTrail, Entry, FileSink, append, rows
from hotline.records.checkpoint import Signer
from hotline.service.accounts import Accounts, totp_code
from hotline.store.accounts import AccountStore
from hotline.store.repository import token_digest
from hotline.web.auth import COOKIE, CSRF_HEADER

from .live_fixtures import Live, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)

PASSWORD = "correct horse battery staple"
T0 = 1_796_000_000.0  # 2026-11-30T00:53:20Z
ADDRESS = "192.0.2.9"


@pytest.fixture
def live(tmp_path: Path) -> Live:
    return Live(sqlite_url(tmp_path))


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Live:
    """A live app on SQLite, then on PostgreSQL (the prefix filters, the paging queries)."""
    if request.param == "sqlite":
        return Live(sqlite_url(tmp_path))
    return Live(request.getfixturevalue("pg_url"))


@pytest.fixture
def client(live: Live) -> TestClient:
    """The app as a browser at ADDRESS reaches it (the audit entries' source)."""
    return TestClient(live.app, base_url=live.public_url, client=(ADDRESS, 50000))


def log_on(live: Live, client: TestClient, username: str, role: str) -> dict[str, str]:
    """A new account of `role`, logged on: the headers its page sends."""
    accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                        key=live.settings.sealing_key())  # fmt: skip
    new = accounts.add(username, role, password=PASSWORD,
                       agent_id="en-day-1" if role == "agent" else None)  # fmt: skip
    live.wall.now += 30  # a fresh TOTP step
    code = totp_code(new.totp_secret or "", live.wall())
    r = client.post("/api/session", json={"username": username, "password": PASSWORD,
                                          "code": code, "banner_acknowledged": True})  # fmt: skip
    assert r.status_code == 200, r.text
    return {"Cookie": f"{COOKIE}={r.cookies[COOKIE]}", CSRF_HEADER: r.json()["csrf"]}


def add(live: Live, *entries: Entry) -> list[int]:
    with live.store.engine.begin() as c:
        return [append(c, e) for e in entries]


def trail(live: Live) -> list[tuple[int, str, str, str | None]]:
    with live.store.engine.connect() as c:
        return [(r.seq, r.actor, r.action, r.object) for r in rows(c)]


def reads(live: Live) -> list[dict[str, Any]]:
    with live.store.engine.connect() as c:
        return [r.as_json() for r in rows(c) if r.action == "audit.read"]


def search(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/api/audit/entries", params=params, headers=headers)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def seqs(answer: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in answer["entries"]]


def test_an_auditor_sees_the_trail_newest_first_and_each_search_is_itself_in_it(live, client):
    bea = log_on(live, client, "bea", "agent")
    aud = log_on(live, client, "aud", "auditor")
    first = search(client, aud)
    assert [(e["seq"], e["action"], e["object"]) for e in first["entries"]] == [
        (4, "session.logon", None),
        (3, "user.add", "user:aud"),
        (2, "session.logon", None),
        (1, "user.add", "user:bea"),
    ]
    assert [e["actor"] for e in first["entries"] if e["action"] == "session.logon"] == [
        "aud",
        "bea",
    ]
    assert (first["next"], first["previous"]) == (None, None)
    logon = first["entries"][0]
    assert logon["at"] == "2026-11-25T19:01:00.00Z"  # the wall's 14:00 New York, two log-ons on
    assert logon["session"] == token_digest(aud["Cookie"].split("=", 1)[1])[:16]
    assert set(logon) >= {"seq", "at_cs", "role", "source", "object", "details", "entry_hash"}

    second = search(client, aud, action="audit.read")
    assert len(second["entries"]) == 1  # the first search, written before it was answered
    read = second["entries"][0]
    assert (read["seq"], read["object"]) == (5, "audit-trail")
    assert (read["actor"], read["role"], read["source"]) == ("aud", "auditor", ADDRESS)
    assert read["session"] == logon["session"]
    assert read["details"] == {"count": 4, "from_seq": 1, "to_seq": 4}
    assert [r["details"] for r in reads(live)] == [
        {"count": 4, "from_seq": 1, "to_seq": 4},
        {"action": "audit.read", "count": 1, "from_seq": 5, "to_seq": 5},
    ]
    r = client.get("/api/audit/entries", headers=bea)
    assert (r.status_code, r.json()["error_id"]) == (403, "wrong-role")
    r = client.get("/api/audit/checkpoints", headers=bea)
    assert (r.status_code, r.json()["error_id"]) == (403, "wrong-role")
    assert client.get("/api/audit/entries").status_code == 401  # (no one to name: not kept)
    tried = search(client, aud, action="audit.read", outcome="refused")["entries"]
    assert [(e["actor"], e["role"], e["object"], e["details"]) for e in tried] == [
        ("bea", "agent", "audit-checkpoints", {"error_id": "wrong-role"}),
        ("bea", "agent", "audit-trail", {"error_id": "wrong-role"}),
    ]
    assert tried[0]["session"] == token_digest(bea["Cookie"].split("=", 1)[1])[:16]


def test_each_filter_narrows_the_search(both):
    live, client = both, TestClient(both.app, base_url=both.public_url, client=(ADDRESS, 1))
    aud = log_on(live, client, "aud", "auditor")
    made = add(
        live,
        Entry(at=T0, actor="ann", role="agent", action="record.lookup", object="case:1"),
        Entry(at=T0 + 1, actor="ann", role="agent", action="record.lookup", object="case:12",
              outcome="refused"),
        Entry(at=T0 + 86_400, actor="bob", role="agent", action="record.lookup",
              object="CASE:1"),
        Entry(at=T0 + 86_401, actor="bob", role="admin", action="record_x.change",
              object="case_1"),
        Entry(at=T0 + 86_402, actor="annie", role="agent", action="records.lookup",
              object="casex1", outcome="error"),
    )  # fmt: skip
    ann1, ann12, bob1, bob_x, annie = made

    assert seqs(search(client, aud, actor="ann")) == [ann12, ann1]  # exact: not annie
    assert seqs(search(client, aud, action="record.lookup")) == [bob1, ann12, ann1]
    assert seqs(search(client, aud, action="record.")) == [bob1, ann12, ann1]  # not records.
    assert seqs(search(client, aud, object="case:1")) == [ann1]  # exact, case and all
    assert seqs(search(client, aud, object="case:1*")) == [ann12, ann1]  # not CASE:1
    assert seqs(search(client, aud, object="case_*")) == [bob_x]  # _ is no wildcard
    assert seqs(search(client, aud, outcome="refused")) == [ann12]
    assert seqs(search(client, aud, since="2026-12-01", action="record.")) == [bob1]
    assert seqs(search(client, aud, until="2026-11-30", actor="ann")) == [ann12, ann1]
    assert seqs(search(client, aud, until="2026-11-30T00:53:21Z", actor="ann")) == [ann1]
    assert seqs(search(client, aud, since="2026-11-30T00:53:21", actor="ann")) == [ann12]
    assert seqs(search(client, aud, since="2026-11-30T01:53:21+01:00", actor="ann")) == [ann12]
    assert seqs(search(client, aud, actor="bob", action="record.", outcome="ok")) == [bob1]
    assert seqs(search(client, aud, outcome="error", object="casex1")) == [annie]
    assert seqs(search(client, aud, actor="nobody")) == []
    last = reads(live)[-1]["details"]
    assert last == {"actor": "nobody", "count": 0}  # no range: nothing was read
    since = [r["details"] for r in reads(live) if "since" in r["details"]]
    assert since[0] == {"since": "2026-12-01T00:00:00.00Z", "action": "record.", "count": 1,
                        "from_seq": bob1, "to_seq": bob1}  # fmt: skip


def test_pages_go_older_and_newer_by_sequence_number(both):
    live, client = both, TestClient(both.app, base_url=both.public_url, client=(ADDRESS, 1))
    aud = log_on(live, client, "aud", "auditor")
    made = add(live, *(Entry(at=T0 + i, actor="cat", role="agent", action="record.lookup",
                             object=f"case:{i}") for i in range(7)))  # fmt: skip
    newest = made[::-1]
    page1 = search(client, aud, actor="cat", limit=3)
    assert (seqs(page1), page1["previous"]) == (newest[0:3], None)
    assert page1["next"] == {"before": newest[2]}
    page2 = search(client, aud, actor="cat", limit=3, **page1["next"])
    assert seqs(page2) == newest[3:6]
    assert page2["previous"] == {"after": newest[3]}
    page3 = search(client, aud, actor="cat", limit=3, **page2["next"])
    assert (seqs(page3), page3["next"]) == (newest[6:], None)
    back = search(client, aud, actor="cat", limit=3, **page3["previous"])
    assert seqs(back) == newest[3:6]
    assert back["next"] == {"before": newest[5]}
    top = search(client, aud, actor="cat", limit=3, **back["previous"])
    assert (seqs(top), top["previous"]) == (newest[0:3], None)
    assert top["next"] == {"before": newest[2]}
    empty = search(client, aud, actor="cat", limit=3, after=newest[0])
    assert (seqs(empty), empty["next"], empty["previous"]) == ([], {"before": newest[0] + 1}, None)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("limit=0", "limit: from 1 to 500"),
        ("limit=501", "limit: from 1 to 500"),
        ("limit=ten", "limit: from 1 to 500"),
        ("before=-1", "before: an entry's sequence number"),
        ("after=99999999999999999999", "after: an entry's sequence number"),
        ("before=3&after=1", "one page at a time"),
        ("since=yesterday", "since: a UTC date or time"),
        ("until=2026-13-01", "until: a UTC date or time"),
        ("since=2026-12-01&until=2026-11-30", "since: earlier than until"),
        ("outcome=maybe", "outcome: one of ok, refused, error"),
        ("action=Record.Lookup", "action: like record.lookup"),
        ("action=record..lookup", "action: like record.lookup"),
        ("object=*", "object: an object, or a prefix"),
        ("object=" + "x" * 129, "object: from 1 to 128 characters"),
        ("actor=ann%0Aadmin", "actor: from 1 to 128 characters, no control characters"),
        ("acter=ann", "unknown filter 'acter'"),
        ("actor=ann&actor=bob", "actor: give each filter once"),
    ],
)
def test_a_malformed_filter_is_a_400_saying_why_and_reads_nothing(live, client, query, why):
    aud = log_on(live, client, "aud", "auditor")
    r = client.get(f"/api/audit/entries?{query}", headers=aud)
    assert (r.status_code, r.json()["error_id"]) == (400, "bad-filter"), r.text
    assert why in r.json()["message"]
    assert "entries" not in r.json()
    assert reads(live) == []


def test_a_search_that_cannot_be_audited_answers_503_and_shows_nothing(live, client):
    aud = log_on(live, client, "aud", "auditor")
    before = trail(live)
    with live.store.engine.begin() as c:
        c.execute(text("CREATE TRIGGER no_audit BEFORE INSERT ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'x'); END"))  # fmt: skip
    for path in ("/api/audit/entries", "/api/audit/checkpoints"):
        r = client.get(path, headers=aud)
        assert (r.status_code, r.json()["error_id"]) == (503, "read-not-audited"), path
        assert set(r.json()) == {"error_id", "message"}
        assert "nothing is shown" in r.json()["message"]
    assert trail(live) == before


def test_the_latest_checkpoints_are_shown_and_their_reading_audited(live, client, tmp_path):
    aud = log_on(live, client, "aud", "auditor")
    signer = Signer.generate("hotline.example.org/audit")
    trail_ = AuditTrail(engine=live.store.engine, signer=signer, sink=FileSink(tmp_path / "s"))
    assert client.get("/api/audit/checkpoints", headers=aud).json() == {"checkpoints": []}
    trail_.checkpoint(T0)  # the account added, its log-on, the reading above
    add(live, Entry(at=T0 + 1, actor="ann", role="agent", action="record.lookup"))
    trail_.checkpoint(T0 + 60)
    r = client.get("/api/audit/checkpoints", params={"limit": 1}, headers=aud)
    assert r.status_code == 200, r.text
    (latest,) = r.json()["checkpoints"]
    assert (latest["id"], latest["size"], latest["at"]) == (2, 4, "2026-11-30T00:54:20.00Z")
    assert latest["note"].startswith("hotline.example.org/audit\n4\n")
    assert [(r["object"], r["details"]) for r in reads(live)] == [
        ("audit-checkpoints", {"count": 0}),
        ("audit-checkpoints", {"count": 1, "checkpoint_size": 4}),
    ]
    r = client.get("/api/audit/checkpoints", params={"limit": 21}, headers=aud)
    assert (r.status_code, r.json()["error_id"]) == (400, "bad-request")


def test_the_audit_page_loads_nothing_from_elsewhere_and_no_inline_code(client):
    r = client.get("/audit")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert '<script src="/static/audit.js" defer></script>' in r.text
    assert "<script>" not in r.text
    assert client.get("/static/audit.js").status_code == 200
