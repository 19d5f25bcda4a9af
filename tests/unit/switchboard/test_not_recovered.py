"""A call a start cannot rebuild: the board names it (CallNotRecovered), and once it is
among those left, closes it and has its caller told, if the carrier may have them still."""

from __future__ import annotations

import pytest

from hotline.errors import CallNotRecovered
from hotline.switchboard import commands as c
from hotline.switchboard.effects import ChangeCall, EndCall, Leg
from hotline.switchboard.events import NotRecovered
from hotline.switchboard.records import CallRow
from tests.unit.switchboard.test_floor import CALLER, NUMBERS, floor


def row(sid: str, state: str, queue: str | None = "en") -> CallRow:
    return CallRow(sid, "national", CALLER, NUMBERS["national"], "en", queue, 0, state,
                   {"caller_type": "public"}, None, 0.0)  # fmt: skip


def test_a_call_whose_rebuilding_fails_is_named_with_the_kind_of_fault():
    f = floor()
    broken = row("CA2", "queued", queue=None)  # (a queued call with no queue)
    calls = [c.Recovered(row("CA1", "queued"), 5.0, 0, False, False),
             c.Recovered(broken, 6.0, 0, False, False)]  # fmt: skip
    with pytest.raises(CallNotRecovered) as e:
        f.handle("national", c.Recover(calls, {"CA1": "in-progress", "CA2": "in-progress"}), 50.0)
    assert (e.value.sid, e.value.cause) == ("CA2", "AssertionError")
    assert e.value.message == "call CA2 could not be recovered (AssertionError)"


@pytest.mark.parametrize(
    ("state", "callback", "leg", "statuses", "closed", "told"),
    [
        ("queued", False, "", {"CA2": "in-progress"}, "abandoned", "CA2"),
        ("in_ivr", False, "", {"CA2": "ringing"}, "abandoned", "CA2"),
        ("queued", False, "", {}, "abandoned", "CA2"),  # (the carrier could not say)
        ("queued", False, "", {"CA2": "completed"}, "abandoned", None),  # (gone: nobody to tell)
        # answered: its caller talks to an agent, who must not be cut off
        ("answered", False, "", {"CA2": "in-progress"}, "completed", None),
        # a callback: its caller on the line through a dial-back is told there; one not on
        # the line (to be called back) has nobody to tell, nor one an agent answered
        ("queued", True, "CA2LEG", {"CA2": "completed", "CA2LEG": "in-progress"}, "abandoned",
         "CA2LEG"),
        ("queued", True, "CA2LEG", {"CA2": "completed", "CA2LEG": "completed"}, "abandoned",
         None),
        ("queued", True, "", {"CA2": "completed"}, "abandoned", None),
        ("answered", True, "CA2LEG", {"CA2LEG": "in-progress"}, "completed", None),
    ],
)  # fmt: skip
def test_a_call_left_is_closed_and_a_caller_alone_told_if_they_may_be_there(
    state, callback, leg, statuses, closed, told
):
    f = floor()
    calls = [c.Recovered(row("CA1", "queued"), 5.0, 0, False, False)]
    broken = row("CA2", state)
    if callback:
        broken = broken.changed(callback_number="+12025550102")
    handled = f.handle("national", c.Recover(calls, {"CA1": "in-progress", **statuses},
                                             left=[(broken, "KeyError", leg)]), 50.0)  # fmt: skip
    assert handled.result == {"not recovered": 1, "queued": 1}
    effects = [e for _, outcome in handled.steps for e in outcome.effects]
    events = [e for _, outcome in handled.steps for e in outcome.events]
    assert [e.as_dict() for e in events if isinstance(e, NotRecovered)] == [
        {"at": 50.0, "call_id": "CA2", "cause": "KeyError"}
    ]
    assert [e.changes for e in effects if isinstance(e, ChangeCall) and e.sid == "CA2"] == [
        {"state": closed}
    ]
    assert [e.call_sid for e in effects if isinstance(e, EndCall)] == ([told] if told else [])
    # a caller an agent answered is taken off hold (if they were on it), never cut off
    resumed = [("CA2", "caller", "resume")] if state == "answered" else []
    assert [(e.call_sid, e.label, e.action) for e in effects if isinstance(e, Leg)] == resumed
    board = f.boards["national"]
    assert not board.knows("CA2")
    assert board.knows("CA1")
