"""Review 2 of commit c87250a: the e2e test of a database refusing writes passes even if
the writer dropped the units it refused ("permission denied" taken for a write that can
never succeed: a mutant of `never_succeeds` that adds ProgrammingError passes it), since
its leader is killed with nothing to write. This guards the writer itself: PostgreSQL's
"permission denied" and "read-only transaction" keep the units, which land once writes
are taken again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from hotline.store.db import connect, migrate

from .live_fixtures import PG, Live, call_form, pg_url  # noqa: F401

WRITES = "INSERT, UPDATE, DELETE"
SID = "CA" + "d" * 32


@pytest.fixture
def role_url(pg_url: str) -> Iterator[tuple[str, str, str]]:  # noqa: F811
    role = f"hl_{uuid.uuid4().hex[:10]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    engine = connect(pg_url)
    migrate(engine)
    engine.dispose()
    admin = connect(PG)
    try:
        with admin.begin() as c:
            c.execute(text(f"CREATE ROLE {role} LOGIN"))
            c.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            c.execute(text(f"GRANT SELECT, {WRITES} ON ALL TABLES IN SCHEMA {schema} TO {role}"))
            c.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
        yield pg_url.replace("postgres@", f"{role}@", 1), role, schema
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def grant(role: str, schema: str, allowed: bool) -> None:
    admin = connect(PG)
    with admin.begin() as c:
        if allowed:
            c.execute(text(f"GRANT {WRITES} ON ALL TABLES IN SCHEMA {schema} TO {role}"))
        else:
            c.execute(text(f"REVOKE {WRITES} ON ALL TABLES IN SCHEMA {schema} FROM {role}"))
    admin.dispose()


def test_units_refused_for_want_of_rights_wait_and_land_once_writes_are_taken(role_url):
    url, role, schema = role_url
    live = Live(url)
    try:
        grant(role, schema, allowed=False)
        r = live.carrier.post("/voice/incoming", call_form(SID, From="+12025550150",
                                                           To="+18005550100"))  # fmt: skip
        assert r.status_code == 200
        assert "<Gather" in r.text  # served from memory
        live.line.flush()
        assert live.line.writer.waiting() > 0  # kept, not dropped
        assert live.line.health.set_aside == 0, live.line.health.last_error
        assert "permission denied" in (live.line.health.last_error or "")
        grant(role, schema, allowed=True)
        live.line.health.retry_at = 0.0  # (past the back-off)
        live.line.flush()
        assert live.line.writer.waiting() == 0
        assert live.store.call(SID) is not None
    finally:
        live.line.writer.close()
        live.store.engine.dispose()
