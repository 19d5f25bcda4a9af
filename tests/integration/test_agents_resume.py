"""Agents across a restart (or a takeover: the same rebuild from the store): each agent is
logged in again as they were, ready or not and for which reason; a call an agent was
talking on is theirs again (they hold it, hang it up, wrap it up), a wrap-up goes on to its
own end, and nobody is offered a call they cannot take. Agents whose desktop does not come
back are set not ready after the grace period, as when a desktop goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotline.sim.scenario import DISPOSITIONS
from hotline.sim.scenario_file import load_scenario
from hotline.web.runtime import PRESENCE_GRACE

from .live_fixtures import ROOT, Live, call_form, keep_english, queue_public_caller, sqlite_url

SID = "CA" + "5" * 32  # en-day-1 talks to this caller across the restart
LEG = "CA" + "6" * 32
DONE = "CA" + "7" * 32  # en-day-4 wraps this call up across the restart
NEW = "CA" + "8" * 32  # a caller after the restart


def answered_by(live: Live, sid: str, number: str, agent_id: str) -> dict[str, str]:
    """A public caller queued and answered by `agent_id` (logged in here), whose leg answered."""
    queue_public_caller(live, sid, number)
    agent = live.agent(agent_id)
    live.http.post("/api/agent/login", headers=agent)
    assert live.http.post("/api/agent/ready", headers=agent).json()["call_sid"] == sid
    assert live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent).status_code == 200
    leg = call_form("CA" + sid[-1] * 31 + "0", CallStatus="in-progress")
    live.carrier.post(f"/voice/agent-leg?sid={sid}&a=1", leg)
    return agent


def wrap_up_seconds(live: Live, sid: str) -> float:
    row = live.store.call(sid)
    assert row is not None
    assert row.queue is not None
    scenario = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    return next(q.wrap_up_seconds for q in scenario.queues if q.name == row.queue)


def before_the_restart(tmp_path: Path) -> tuple[str, float, float]:
    """en-day-1 on a call, en-day-2 not ready for training, en-day-3 available, en-day-4
    wrapping up, en-day-5 logged out; returns the store, when en-day-4's wrap-up began and
    how long it lasts."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    answered_by(a, DONE, "+12025550107", "en-day-4")
    a.wall.now += 60
    a.carrier.post("/voice/status", call_form(DONE, CallStatus="completed"))
    wrap_began = a.wall.now
    answered_by(a, SID, "+12025550101", "en-day-1")
    for agent_id, then in (("en-day-2", "not-ready?reason=training"), ("en-day-3", "ready"),
                           ("en-day-5", "logout")):  # fmt: skip
        headers = a.agent(agent_id)
        a.http.post("/api/agent/login", headers=headers)
        assert a.http.post(f"/api/agent/{then}", headers=headers).status_code == 200
    a.line.flush()
    return db, wrap_began, wrap_up_seconds(a, DONE)


def restarted(db: str, at: float, statuses: dict[str, str], **settings: Any) -> Live:
    """The server started again on the store at `at` (`settings`: Live's), its open calls
    recovered with what the carrier says of them (`statuses`)."""
    live = Live(db, **settings)
    live.wall.now = at
    live.line.recover(statuses)
    return live


def me(live: Live, agent_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = live.http.get("/api/agent/me", headers=live.agent(agent_id)).json()
    return answer


def test_a_restart_resumes_every_agent_where_they_were(tmp_path):
    db, wrap_began, wrap = before_the_restart(tmp_path)
    b = Live(db)  # the server restarts: its line is rebuilt from the store
    b.wall.now = wrap_began + 5
    assert b.line.recover({SID: "in-progress"}) == {"on a call": 1}
    with b.running():
        assert (me(b, "en-day-1")["state"], me(b, "en-day-1")["call_sid"]) == ("on_call", SID)
        resting = me(b, "en-day-2")
        assert (resting["state"], resting["reason"]) == ("not_ready", "training")
        assert me(b, "en-day-3")["state"] == "available"
        assert me(b, "en-day-4")["state"] == "wrap_up"
        assert me(b, "en-day-5")["state"] == "offline"

        # the call is en-day-1's again: they hold it (a conference operation)
        first = b.agent("en-day-1")
        r = b.http.post("/api/agent/hold", json={"hold": True}, headers=first)
        assert r.status_code == 200, r.text
        b.control.until(lambda: (SID, "caller", "hold", "talk", "") in b.control.legs)

        # a new caller goes to the one agent who is free, not to those engaged
        step = keep_english(b, NEW, "+12025550108")
        b.carrier.post(step, call_form(NEW, Digits="2"))  # a member of the public
        assert (me(b, "en-day-3")["state"], me(b, "en-day-3")["call_sid"]) == ("reserved", NEW)
        r = b.http.post(f"/api/agent/calls/{NEW}/accept", headers=b.agent("en-day-3"))
        assert r.status_code == 200, r.text

        # en-day-4's wrap-up ends when it would have without the restart
        b.wall.now = wrap_began + wrap - 1
        assert me(b, "en-day-4")["state"] == "wrap_up"
        b.wall.now = wrap_began + wrap + 1
        assert me(b, "en-day-4")["state"] == "available"
        assert [d for k, d in b.store.events(DONE) if k == "wrapped-up"] == [
            {"agent_id": "en-day-4", "code": "timeout", "notes": ""}  # the call's own form
        ]

        # the caller hangs up: en-day-1 wraps the call up, as after any call
        b.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
        assert me(b, "en-day-1")["state"] == "wrap_up"
    assert b.store.call(SID).state == "completed"  # type: ignore[union-attr]
    assert "CompletedAfterRestart" not in b.events(SID)  # closed as a call of its agent


def test_an_agent_whose_call_ended_while_the_line_was_down_wraps_it_up(tmp_path):
    db, wrap_began, _ = before_the_restart(tmp_path)
    b = Live(db)
    b.wall.now = wrap_began + 5
    assert b.line.recover({SID: "completed"}) == {"completed": 1}
    assert b.store.call(SID).state == "completed"  # type: ignore[union-attr]
    with b.running():
        assert me(b, "en-day-1")["state"] == "wrap_up"
        code = DISPOSITIONS[0]
        r = b.http.post("/api/agent/wrap-up", json={"code": code, "notes": "cut off"},
                        headers=b.agent("en-day-1"))  # fmt: skip
        assert r.json()["state"] == "available", r.text
    assert [d for k, d in b.store.events(SID) if k == "wrapped-up"] == [
        {"agent_id": "en-day-1", "code": code, "notes": "cut off"}
    ]


def test_resumed_agents_whose_desktop_never_comes_back_are_set_not_ready(tmp_path):
    db, wrap_began, _ = before_the_restart(tmp_path)
    b = restarted(db, wrap_began + 5, {SID: "in-progress"})
    with b.running():
        assert me(b, "en-day-3")["state"] == "available"
        b.wall.now += PRESENCE_GRACE + 1
        wait_for(lambda: me(b, "en-day-3")["state"] == "not_ready")
        assert me(b, "en-day-3")["reason"] == "connection-lost"
        assert (me(b, "en-day-1")["state"], me(b, "en-day-1")["call_sid"]) == ("on_call", SID)


def test_the_store_keeps_each_agents_state_as_it_changes(tmp_path):
    live = Live(sqlite_url(tmp_path))
    answered_by(live, SID, "+12025550101", "en-day-1")
    live.line.flush()
    kept = live.store.agent_states()["en-day-1"]
    assert (kept.state, kept.call_sid, kept.queue) == ("on_call", SID, live.store.call(SID).queue)  # type: ignore[union-attr]
    live.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    live.line.flush()
    kept = live.store.agent_states()["en-day-1"]
    assert (kept.state, kept.call_sid, kept.since) == ("wrap_up", SID, live.wall.now)
    live.http.post("/api/agent/logout", headers=live.agent("en-day-1"))
    live.wall.now += wrap_up_seconds(live, SID) + 1
    me(live, "en-day-1")  # (a request: the wrap-up's end fires, then the log-out)
    live.line.flush()
    assert live.store.agent_states()["en-day-1"].state == "offline"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until the ticker (real time) did what the line's clock made due."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come to hold"
        time.sleep(0.05)
