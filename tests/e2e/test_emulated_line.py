"""The whole line on loopback: Hotline and the carrier emulator as two HTTP servers, agent
bots on the agents' API (websocket + REST), scripted callers at the scenario's rate."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from hotline.service.demo import Demo
from hotline.store.tables import call_events
from hotline.telephony.emulator.carrier import CallerScript

FINAL = {"completed", "abandoned", "overflowed"}


def demo_run(tmp_path: Path, *, seed: int, calls: int, drain: float = 120, refuse_connects: int = 0,
             patient_callers: bool = False, also: Sequence[CallerScript] = ()) -> Demo:  # fmt: skip
    """The demo's line at 50 times the callers' speed at 10:00: `calls` callers placed, then
    `drain` seconds for the calls in progress to end, then stopped; `refuse_connects`: the
    carrier refuses the first connect of that many calls; `also`: callers placed first."""

    async def run() -> Demo:
        d = Demo(database_url=f"sqlite:///{tmp_path / 'line.sqlite3'}", speed=50, hour=10,
                 seed=seed, patient_callers=patient_callers)  # fmt: skip
        await d.start()
        d.carrier.refuse_connects = refuse_connects
        for script in also:
            d.carrier.place(script)
        await d.traffic(calls=calls, seconds=None)
        await d.finish(drain_seconds=drain)
        return d

    return asyncio.run(run())


def test_every_emulated_call_ends_and_hotline_accounts_for_it(tmp_path):
    kreyol = CallerScript("+50937001234", ["1", "2", "2"], 10_000, 60, label="public/ht")
    d = demo_run(tmp_path, seed=3, calls=30, also=[kreyol])
    inbound = [c for c in d.carrier.calls.values() if c.script.answers]  # not dial-back legs
    assert len(inbound) == 31
    assert all(c.ended for c in d.carrier.calls.values())
    outcomes = Counter(c.outcome for c in inbound)
    assert set(outcomes) <= {"answered", "abandoned", "voicemail", "hung-up-by-ivr", "called-back"}
    assert outcomes["answered"] >= 20  # 57 agents on shift at 10:00 for a few calls
    assert d.carrier.failures == 0  # every webhook was signed, accepted and answered
    # Hotline saw every call, and closed each one the way the caller lived it
    for c in inbound:
        row = d.line.store.call(c.sid)
        assert row is not None, c.sid
        assert row.state in FINAL, (c.sid, row.state, c.outcome)
        if c.outcome == "answered":
            assert row.state == "completed"
            assert "CallAnswered" in [k for k, _ in d.line.store.events(c.sid)]
        if c.outcome == "abandoned":
            assert row.state == "abandoned"
    # callers heard their own language
    spanish = [c for c in inbound if c.script.label.endswith("/es")]
    assert all(any("oprima" in h for h in c.heard) for c in spanish)
    # Kreyòl, which the carrier has no voice for, as audio the carrier fetched from the line
    [haitian] = [c for c in inbound if c.script.label.endswith("/ht")]
    assert haitian.outcome == "answered"
    assert all(h.startswith("[audio ") and h != "[audio 0.0 s]" for h in haitian.heard[:3])
    assert not any("Mèsi" in h for h in haitian.heard)
    assert d.carrier.media_failures == 0
    # agency officers were verified by a look-up that ran off the webhook, while on hold
    agency = [c for c in inbound if c.script.label.startswith("agency/")]
    assert agency
    for c in agency:
        row = d.line.store.call(c.sid)
        assert row is not None
        assert row.attributes.get("verification") == "verified", c.sid
        assert ("lookup", "found") in [(k, e.get("status")) for k, e in d.line.store.events(c.sid)]


def test_a_connect_the_carrier_refuses_is_offered_again_and_answered(tmp_path):
    # (refused connects cost the callers their turns: they wait as long as it takes)
    d = demo_run(tmp_path, seed=5, calls=8, refuse_connects=3, patient_callers=True)
    assert len(d.carrier.refused) == 3
    assert d.carrier.failures == 0
    for sid in d.carrier.refused:
        call = d.carrier.calls[sid]
        assert call.outcome == "answered", (sid, call.outcome)
        kinds = [k for k, _ in d.line.store.events(sid)]
        assert kinds.count("CallOffered") >= 2  # offered again after the refusal
        assert "CallAnswered" in kinds
        row = d.line.store.call(sid)
        assert row is not None
        assert row.state == "completed"


def test_both_lines_of_the_demo_answer_and_share_agents_one_call_at_a_time(tmp_path):
    d = demo_run(tmp_path, seed=8, calls=60)
    assert d.carrier.failures == 0
    by_line = d.outcomes_by_line()
    assert list(by_line) == ["National hotline (US)", "Victim support helpline"]
    assert by_line["Victim support helpline"]["answered"] >= 1
    victims = [c for c in d.carrier.calls.values() if c.script.to == "+18005550200"]
    for c in victims:
        row = d.line.store.call(c.sid)
        assert row is not None
        assert (row.line, row.called) == ("Victim support helpline", "+18005550200")
        assert row.queue in ("support-en", "support-es")
    # every agent's calls, across both lines, one after another: from the offer until the
    # call is completed or abandoned, or the offer withdrawn
    with d.line.store.engine.connect() as conn:
        rows = conn.execute(select(call_events.c.call_sid, call_events.c.at, call_events.c.kind,
                                call_events.c.data).order_by(call_events.c.id)).all()  # fmt: skip
    line_of = {sid: ("victims" if call.script.to == "+18005550200" else "national")
               for sid, call in d.carrier.calls.items()}  # fmt: skip
    open_: dict[str, tuple[str, float, str]] = {}  # sid -> (agent, since, line)
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for sid, at, kind, data in rows:
        if kind == "CallOffered":
            open_[sid] = (data["agent_id"], at, line_of.get(sid, "?"))
        elif kind in ("CallCompleted", "CallAbandoned", "OfferWithdrawn") and sid in open_:
            agent, since, line = open_.pop(sid)
            spans.setdefault(agent, []).append((since, at, line))
    assert not open_
    shared = {"en-day-7", "en-day-8", "es-day-6"}
    assert all(len(d.line.floor.lines_of[a]) == 2 for a in shared)
    worked = {line for a in shared for _, _, line in spans.get(a, [])}
    assert worked, "no shared agent took a call"
    for agent, mine in spans.items():
        mine.sort()
        for (_, end, _), (start, _, _) in itertools.pairwise(mine):
            assert start >= end, (agent, mine)


def test_the_demo_ends_with_calls_still_going_and_each_is_closed_with_no_webhook_failing(
    tmp_path,
):
    # the drain ends before the calls do: the callers still on hang up, their calls end as
    # such calls do, and only then do the servers stop (a time-out cancelled the calls'
    # tasks mid-call, and the legs they had dialled went on asking a server that had gone)
    d = demo_run(tmp_path, seed=4, calls=20, drain=0.5)
    inbound = [c for c in d.carrier.calls.values() if c.script.answers]
    assert len(inbound) == 20
    assert sum(1 for c in inbound if c.hung_up) >= 5  # (cut: their calls were going on)
    assert all(c.ended for c in d.carrier.calls.values())
    assert d.carrier.failures == 0
    rows = {c.sid: d.line.store.call(c.sid) for c in inbound}
    assert [sid for sid, row in rows.items() if row is None or row.state not in FINAL] == []
