"""A line added to the store while the server runs, the harder cases (an independent
review found them): a new line that cannot be served never stops the next start, one added
between a standby's claim and its build is not served without its lease, and agents who
work on it join it in their state."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from hotline.service.bootstrap import build_line
from hotline.service.lines import import_line
from hotline.service.settings import Settings

from .live_fixtures import (
    LINE,
    ROOT,
    SECRET_KEY,
    TOKEN,
    VICTIMS,
    Live,
    call_form,
    sqlite_url,
)
from .test_agents_resume import answered_by, me

VICTIM = "Victim support helpline"
SCENARIO = ROOT / "scenarios" / "victim-support.yaml"
FLOW = ROOT / "scenarios" / "victim-support.flow.yaml"


def settings_for(db: str) -> Settings:
    return Settings(database_url=db, twilio_auth_token=SecretStr(TOKEN), line_number=LINE,
                    secret_key=SecretStr(SECRET_KEY),
                    scenario=ROOT / "scenarios" / "national-hotline.yaml",
                    flow=ROOT / "scenarios" / "national-hotline.flow.yaml")  # fmt: skip


def add_new_lines(live: Live) -> list[str]:
    """What `LineRuntime.reload_lines` does for new lines: read them off the lock, then add
    them in one use case."""
    new = live.line.new_lines()
    live.line.begin()
    try:
        added = live.line.add_lines(new)
    finally:
        live.line.end()
    live.line.flush()
    return added


# -- defects


def test_a_new_line_left_out_for_want_of_a_flow_does_not_stop_the_next_start(
    tmp_path: Path,
) -> None:
    """docs/live.md: "a new line that cannot be served (no flow, ...) is logged and left
    out". The running server does so (test_line_added), but the next start reads every line
    of the store with `line_setups`, which raises for it: the whole server (every line)
    does not start again. In a cluster the leader even claims the broken line's lease
    (Node.renew claims every line of the store), and at the next takeover the standby's
    build fails the same way, gives the leases up and exits: no node can lead any line."""
    db = sqlite_url(tmp_path)
    settings = settings_for(db)
    first = build_line(settings)  # the server runs, the national line in the store
    flowless = tmp_path / "victim-support.yaml"  # the same line, naming no flow
    flowless.write_text(SCENARIO.read_text().replace(", flow: victim-support.flow.yaml}", "}"))
    import_line(first.store, flowless, number=VICTIMS, timezone="America/New_York")
    assert first.line.new_lines() == []  # the running server leaves it out, and goes on

    again = build_line(settings)  # the next start (a restart, or a standby's takeover)
    assert list(again.line.setups) == ["National hotline (US)"]


# -- agents who work on a new line join it in their state


def test_an_agent_on_a_call_joins_a_new_line_not_ready_and_is_freed_with_the_call(
    tmp_path: Path,
) -> None:
    live = Live(sqlite_url(tmp_path))
    sid = "CA" + "9" * 32
    answered_by(live, sid, "+12025550111", "en-day-7")  # en-day-7 also works on the new line
    import_line(live.store, SCENARIO, number=VICTIMS, timezone="America/New_York", flow=FLOW)
    assert add_new_lines(live) == [VICTIM]
    there = live.line.boards[VICTIM].agent_state("en-day-7")
    assert there["state"] == "not_ready"
    assert me(live, "en-day-7")["call_sid"] == sid
    live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert me(live, "en-day-7")["state"] == "wrap_up"
    r = live.http.post("/api/agent/wrap-up", json={"code": "resolved", "notes": "",
                                                   "ready": True},
                       headers=live.agent("en-day-7"))  # fmt: skip
    assert r.status_code in (200, 409), r.text
    if r.status_code == 409:  # (no such code on the line: end it by time)
        live.wall.now += 3600
        me(live, "en-day-7")
        live.http.post("/api/agent/ready", headers=live.agent("en-day-7"))
    assert me(live, "en-day-7")["state"] == "available"
    assert live.line.boards[VICTIM].agent_state("en-day-7")["state"] == "available"


def test_an_agent_on_a_break_joins_a_new_line_on_the_same_break(tmp_path: Path) -> None:
    live = Live(sqlite_url(tmp_path))
    agent = live.agent("en-day-8")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/not-ready?reason=training", headers=agent)
    import_line(live.store, SCENARIO, number=VICTIMS, timezone="America/New_York", flow=FLOW)
    assert add_new_lines(live) == [VICTIM]
    there = live.line.boards[VICTIM].agent_state("en-day-8")
    assert (there["state"], there.get("reason")) == ("not_ready", "training")


def test_a_line_added_between_a_standbys_claim_and_its_build_writes_nothing_unfenced(
    tmp_path: Path,
) -> None:
    """A standby claims the leases of the lines in the store (`try_to_lead`), then builds
    the line (`build` in `web.app.create_node`), which reads the store's lines again and serves
    every one of them, `serves` not asked: a line imported in between is served at once
    with no lease of this node. The start's own writes for it (en-day-7, logged in, logs in
    to it too) are refused by the fence and set aside for good: lost, not retried."""
    from hotline.service.node import Node
    from hotline.store.leases import Leases
    from hotline.testing.control import RecordingCallControl

    db = sqlite_url(tmp_path)
    settings = settings_for(db)
    before = build_line(settings)  # a leader ran; en-day-7 was logged in when it died
    before.line.begin()
    before.line.login("en-day-7")
    before.line.end()
    before.line.flush()
    leased = Leases(engine=before.store.engine, node="b", ttl=60.0)
    leased.join()
    lost: list[str] = []
    b = Node(leases=leased, groups=lambda: [[x["name"]] for x in before.store.lines()],
             on_lost=lost.append)  # fmt: skip
    assert b.claim()  # b claims the national line
    import_line(before.store, SCENARIO, number=VICTIMS, timezone="America/New_York", flow=FLOW)
    parts = build_line(
        settings, control=RecordingCallControl(), fence=b.fence, serves=lambda line: line in b.led()
    )  # fmt: skip  (as create_node's build)
    served_unled = VICTIM in parts.line.setups and VICTIM not in b.led()
    assert parts.line.health.set_aside == 0, parts.line.health.last_error
    assert not served_unled  # served only once its lease is this node's
