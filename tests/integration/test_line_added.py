"""A line imported into the store while the server runs (`hotline line import`) is served
from then on, without a restart: its number answers with its own flow, its agents take its
calls, agents logged in who work on it too join it in their state, and the wallboard shows
it. One that cannot be served (no flow) is left out, and the others go on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hotline.errors import StoreUnavailable
from hotline.service.lines import import_line
from hotline.store.repository import Store

from .live_fixtures import ROOT, VICTIMS, Live, call_form, sqlite_url

CALLER = "+12025550143"
SID = "CA" + "3" * 32


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Until the server's reload (it looks at the store every 2 s, real time) did it."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come to hold"
        time.sleep(0.1)


def stats(live: Live) -> dict[str, Any]:
    answer: dict[str, Any] = live.http.get("/api/stats", headers=live.agent("supervisor")).json()
    return answer


def test_a_line_imported_while_the_server_runs_is_served_from_then_on(tmp_path):
    live = Live(sqlite_url(tmp_path))
    with live.running():
        shared = live.agent("en-day-7")  # works on the national line, and on the new one
        live.http.post("/api/agent/login", headers=shared)
        live.http.post("/api/agent/ready", headers=shared)
        before = live.carrier.post("/voice/incoming", call_form(SID, From=CALLER, To=VICTIMS))
        assert "Victim" not in before.text  # no line has the number yet: refused

        import_line(live.store, ROOT / "scenarios" / "victim-support.yaml", number=VICTIMS,
                    timezone="America/New_York",
                    flow=ROOT / "scenarios" / "victim-support.flow.yaml")  # fmt: skip
        wait_for(lambda: "Victim support helpline" in stats(live)["lines"])

        new = stats(live)["lines"]["Victim support helpline"]
        assert new["number"] == VICTIMS
        assert new["now"]["agents"]["available"] == 1  # en-day-7 joined it, available
        sid = "CA" + "4" * 32
        r = live.carrier.post("/voice/incoming", call_form(sid, From=CALLER, To=VICTIMS))
        assert r.status_code == 200
        assert "<Gather" in r.text  # the helpline's own flow answers
        assert live.line.line_of(sid) == "Victim support helpline"
        counsellor = live.agent("vs-day-1")  # an agent of the new line only logs in to it
        r = live.http.post("/api/agent/login", headers=counsellor)
        assert r.status_code == 200, r.text
    row = live.store.call(sid)
    assert row is not None
    assert row.line == "Victim support helpline"


def test_a_new_line_without_a_flow_is_left_out_and_the_others_go_on(tmp_path, caplog):
    source = (ROOT / "scenarios" / "victim-support.yaml").read_text()
    flowless = tmp_path / "victim-support.yaml"  # the same line, naming no flow
    flowless.write_text(source.replace(", flow: victim-support.flow.yaml}", "}"))
    live = Live(sqlite_url(tmp_path))
    with live.running():
        import_line(live.store, flowless, number=VICTIMS, timezone="America/New_York")
        wait_for(lambda: "cannot be served" in caplog.text)
        assert "has no flow" in caplog.text
        assert list(stats(live)["lines"]) == ["National hotline (US)"]
        r = live.carrier.post("/voice/incoming", call_form(SID, From=CALLER, To="+18005550100"))
        assert "<Gather" in r.text  # the national line is served as before


class FirstReadFails(Store):
    """The store, whose database fails the first read of the lines' revision (a takeover
    under a database blip)."""

    failed = False

    def lines_revision(self) -> int:
        if not self.failed:
            self.failed = True
            raise StoreUnavailable("the database failed: connection reset")
        return super().lines_revision()


def test_a_line_imported_after_a_failed_first_look_is_still_served(tmp_path):
    """The loop that looks for lines imported read the revision once before it began, and
    a failure there ended it: no line imported afterwards was served until a restart."""
    live = Live(sqlite_url(tmp_path), store_class=FirstReadFails)
    store = live.store
    assert isinstance(store, FirstReadFails)
    with live.running():
        wait_for(lambda: store.failed)
        import_line(live.store, ROOT / "scenarios" / "victim-support.yaml", number=VICTIMS,
                    timezone="America/New_York",
                    flow=ROOT / "scenarios" / "victim-support.flow.yaml")  # fmt: skip
        wait_for(lambda: "Victim support helpline" in stats(live)["lines"])
