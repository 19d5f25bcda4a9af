"""The whole line on loopback: Hotline and the carrier emulator as two HTTP servers, agent
bots on the agents' API (websocket + REST), scripted callers at the scenario's rate."""

from __future__ import annotations

import asyncio
from collections import Counter

from hotline.service.demo import Demo

FINAL = {"completed", "abandoned", "overflowed"}


def test_every_emulated_call_ends_and_hotline_accounts_for_it(tmp_path):
    async def run() -> Demo:
        d = Demo(database_url=f"sqlite:///{tmp_path / 'line.sqlite3'}", speed=50, hour=10, seed=3)
        await d.start()
        await d.traffic(calls=30, seconds=None)
        await d.finish(drain_seconds=120)
        return d

    d = asyncio.run(run())
    inbound = [c for c in d.carrier.calls.values() if c.script.answers]  # not dial-back legs
    assert len(inbound) == 30
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
    # agency officers were verified by a look-up that ran off the webhook, while on hold
    agency = [c for c in inbound if c.script.label.startswith("agency/")]
    assert agency
    for c in agency:
        row = d.line.store.call(c.sid)
        assert row is not None
        assert row.attributes.get("verification") == "verified", c.sid
        assert ("lookup", "found") in [(k, e.get("status")) for k, e in d.line.store.events(c.sid)]


def test_a_connect_the_carrier_refuses_is_offered_again_and_answered(tmp_path):
    async def run() -> Demo:
        d = Demo(database_url=f"sqlite:///{tmp_path / 'line.sqlite3'}", speed=50, hour=10, seed=5)
        await d.start()
        d.carrier.refuse_connects = 3
        await d.traffic(calls=8, seconds=None)
        await d.finish(drain_seconds=120)
        return d

    d = asyncio.run(run())
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
