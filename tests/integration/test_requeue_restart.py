"""A call transferred back to a queue, whose next agent's phone rings as the server
restarts. Nobody has talked to the caller since the transfer (the switchboard's new
record after `_requeue`): the recovery must take the call as a connect under way (the
carrier's word on that dial decides), not as one on a call with the new agent because
the first agent's leg once answered; a hang-up then is that queue's abandonment, as it
is without the restart."""

from __future__ import annotations

from pathlib import Path

from .live_fixtures import Live, call_form, sqlite_url
from .test_hardening import accepted, to_hold

SID = "CA" + "4" * 32


def transferred_back_and_ringing(tmp_path: Path) -> Live:
    """en-day-1 talks to the caller and transfers them to queue `en`; en-day-2 accepts
    them there (the call's second connect) and the server stops while en-day-2's phone
    rings; it starts again on the store."""
    db = sqlite_url(tmp_path)
    a = Live(db)
    to_hold(a, SID)
    first = accepted(a, SID, "en-day-1")
    a.leg_answered(SID, attempt=1)  # they talk
    r = a.http.post("/api/agent/transfer", json={"queue": "en"}, headers=first)
    assert r.status_code == 200, r.text
    accepted(a, SID, "en-day-2")  # en-day-2's phone rings
    a.line.flush()
    b = Live(db)
    b.wall.now = a.wall.now + 5
    return b


def test_a_call_back_in_a_queue_ringing_its_next_agent_at_a_restart_is_connecting(
    tmp_path: Path,
) -> None:
    b = transferred_back_and_ringing(tmp_path)
    assert b.line.recover({SID: "in-progress"}) == {"connecting": 1}  # (not "on a call")
    legs = b.line.call_legs(SID)
    assert legs is not None
    assert legs["connected"] is False  # (en-day-2's phone rings: nothing to hold or transfer)


def test_a_caller_back_in_a_queue_who_hangs_up_as_the_next_agent_rings_after_a_restart_abandoned(
    tmp_path: Path,
) -> None:
    b = transferred_back_and_ringing(tmp_path)
    b.line.recover({SID: "in-progress"})
    b.carrier.post("/voice/status", call_form(SID, CallStatus="completed"))
    row = b.store.call(SID)
    assert row is not None
    assert row.state == "abandoned"  # as without the restart (was: completed)
