"""A restart loses everything held in memory; the store and the carrier bring it back:
queued callers keep their place, callers in the IVR start it over, calls that ended
meanwhile are closed, calls on an agent close when they end. Nothing is lost or taken twice."""

from __future__ import annotations

from .live_fixtures import LINE, Live, call_form, gather_url, sqlite_url


def to_queue(
    live: Live, sid: str, number: str, *, callback: bool = False, url: str | None = None
) -> None:
    if url is None:
        r = live.carrier.post("/voice/incoming", call_form(sid, From=number, To=LINE))
        url = gather_url(r.text)
    url = gather_url(live.carrier.post(url, call_form(sid, Digits="1")).text)
    r = live.carrier.post(url, call_form(sid, Digits="2"))
    if "<Gather" in r.text:  # the callback offer
        live.carrier.post(gather_url(r.text), call_form(sid, Digits="1" if callback else "2"))
    if callback:
        live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))


def test_a_restart_keeps_every_call(tmp_path):
    db = sqlite_url(tmp_path)
    a = Live(db)
    # CA04 calls first but takes long in the IVR: it queues last, and must stay last
    r = a.carrier.post("/voice/incoming", call_form("CA04", From="+12025550104", To=LINE))
    slow = gather_url(r.text)
    a.wall.now += 1
    to_queue(a, "CA01", "+12025550101")  # waits on the line
    a.wall.now += 5
    to_queue(a, "CA02", "+12025550102")  # waits on the line, after CA01
    a.wall.now += 5
    to_queue(a, "CA05", "+12025550105")  # will hang up while the server is down
    a.wall.now += 5
    to_queue(a, "CA06", "+12025550106", callback=True)  # hung up, to be called back
    a.wall.now += 5
    ivr = gather_url(
        a.carrier.post("/voice/incoming", call_form("CA03", From="+12025550103", To=LINE)).text
    )
    to_queue(a, "CA04", "+12025550104", url=slow)
    agent = a.agent("en-day-1")
    a.http.post("/api/agent/login", headers=agent)
    a.http.post("/api/agent/ready", headers=agent)  # takes the longest waiting: CA01
    assert a.http.get("/api/agent/me", headers=agent).json()["call_sid"] == "CA01"
    a.http.post("/api/agent/calls/CA01/accept", headers=agent)
    # the carrier tells us the agent's leg answered: the caller is talking to someone
    a.carrier.post("/voice/agent-leg?sid=CA01&a=1", call_form("CA01LEG", CallStatus="in-progress"))
    assert (row := a.store.call("CA01")) is not None
    assert row.state == "answered"
    assert a.line.writer.waiting() == 0  # everything that happened is in the store

    # the server dies; its memory is gone. The carrier knows which calls are still live.
    b = Live(db)
    b.wall.now = a.wall.now + 30
    b.control.statuses = dict.fromkeys(("CA01", "CA02", "CA03", "CA04"), "in-progress")
    b.control.statuses |= {"CA05": "completed", "CA06": "completed"}
    recovered = b.line.recover(b.control.statuses)
    assert recovered == {"on a call": 1, "queued": 3, "abandoned": 1, "ivr": 1}
    assert (row := b.store.call("CA05")) is not None
    assert row.state == "abandoned"

    # agents come back: the queue is served in the order callers first queued
    taken = []
    for agent_id in ("en-day-2", "en-day-3", "en-day-4"):
        headers = b.agent(agent_id)
        b.http.post("/api/agent/login", headers=headers)
        sid = b.http.post("/api/agent/ready", headers=headers).json()["call_sid"]
        b.http.post(f"/api/agent/calls/{sid}/accept", headers=headers)
        taken.append(sid)
    assert taken == ["CA02", "CA06", "CA04"]
    assert [c for c, _ in b.control.connected] == ["CA02", "CA04"]
    b.called_back("CA06")  # the callback: en-day-3's phone first, then the caller
    assert [d[1] for d in b.control.dialled_back] == ["+12025550106"]

    # the caller who was in the IVR is taken through it again
    r = b.carrier.post(ivr, call_form("CA03", Digits="1"))
    assert "Thank you for calling the National Hotline" in r.text
    assert "ivr-resumed" in b.events("CA03")

    # the call that was on an agent closes when it ends
    b.carrier.post("/voice/status", call_form("CA01", CallStatus="completed"))
    assert (row := b.store.call("CA01")) is not None
    assert row.state == "completed"

    # nothing answered twice
    for sid in ("CA01", "CA02", "CA04", "CA06"):
        assert b.events(sid).count("CallAnswered") == 1, sid


def test_a_restart_adds_no_second_call_queued_and_no_second_callback_offer(tmp_path):
    db = sqlite_url(tmp_path)
    a = Live(db)
    sid = "CA" + "7" * 32
    to_queue(a, sid, "+12025550107")  # stays on the line; nobody staffed: a long wait
    r = a.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert "/voice/hold-key" in r.text  # the hold loop's callback offer, once
    b = Live(db)
    b.wall.now = a.wall.now + 30
    assert b.line.recover({sid: "in-progress"}) == {"queued": 1}
    r = b.carrier.post(f"/voice/wait?sid={sid}&n=2", call_form(sid))
    assert "You are number 1 in line" in r.text
    assert "hold-key" not in r.text  # offered before the restart: not again
    kinds = b.events(sid)
    assert kinds.count("CallQueued") == 1
    assert kinds.count("CallRequeued") == 1  # the restart says what it did
    assert kinds.count("callback-offered") == 1


def test_a_refused_command_writes_nothing(tmp_path):
    live = Live(sqlite_url(tmp_path))
    sid = "CA" + "8" * 32
    to_queue(live, sid, "+12025550108", callback=True)  # waits to be called back
    before = live.store.events(sid)
    # a dial-back leg's failure for a call nobody is dialling back: the ACD refuses it
    r = live.carrier.post(
        f"/voice/status?call={sid}", call_form("CA" + "9" * 32, CallStatus="no-answer")
    )
    assert r.status_code == 200
    assert live.store.events(sid) == before
    assert (row := live.store.call(sid)) is not None
    assert row.state == "queued"
    for n in range(2):  # refused again and again: nothing is counted either
        live.carrier.post(
            f"/voice/status?call={sid}", call_form(f"CB{n:032d}", CallStatus="no-answer")
        )
    # the first real dial-back the caller misses is their first, so they are tried again
    agent = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    live.http.post(f"/api/agent/calls/{sid}/accept", headers=agent)
    live.carrier.post(f"/voice/status?call={sid}", call_form("CC" + "1" * 32, CallStatus="busy"))
    assert (row := live.store.call(sid)) is not None
    assert row.state == "queued"
