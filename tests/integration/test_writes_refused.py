"""The writer and a database that refuses writes (its rights revoked, a read-only replica):
"permission denied" is the store being unavailable, not a write that can never succeed, so
the units wait and land once writes are taken again (the takeover tests kill their leader
with nothing to write: they would not see units dropped)."""

from __future__ import annotations

from .live_fixtures import Live, call_form, pg_role, pg_url  # noqa: F401 (fixtures)

SID = "CA" + "d" * 32


def test_units_refused_for_want_of_rights_wait_and_land_once_writes_are_taken(pg_role):  # noqa: F811
    live = Live(pg_role.url)
    try:
        pg_role.writes(allowed=False)
        r = live.carrier.post("/voice/incoming", call_form(SID, From="+12025550150",
                                                           To="+18005550100"))  # fmt: skip
        assert r.status_code == 200
        assert "<Gather" in r.text  # served from memory
        live.line.flush()
        assert live.line.writer.waiting() > 0  # kept, not dropped
        assert live.line.health.set_aside == 0, live.line.health.last_error
        assert "permission denied" in (live.line.health.last_error or "")
        pg_role.writes(allowed=True)
        live.line.health.retry_at = 0.0  # (past the back-off)
        live.line.flush()
        assert live.line.writer.waiting() == 0
        assert live.store.call(SID) is not None
    finally:
        live.line.writer.close()
        live.store.engine.dispose()
