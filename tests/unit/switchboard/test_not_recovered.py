"""A call a start cannot rebuild: the board names it (CallNotRecovered), and once it is
among those left, closes it and has its caller told, if the carrier may have them still."""

from __future__ import annotations

import pytest

from hotline.errors import CallNotRecovered
from hotline.switchboard import commands as c
from hotline.switchboard.effects import ChangeCall, EndCall, Leg
from hotline.switchboard.events import Consulted, NotRecovered
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


LIVE, OVER = "in-progress", "completed"


RESUMED = [("CA2", "caller", "resume")]
CONSULT_ENDED = [("CA2", "agent:en-day-2", "drop"), *RESUMED]


@pytest.mark.parametrize(
    ("state", "callback", "leg", "held", "consult", "statuses", "told", "legs"),
    [
        # a caller waiting alone is told, if the carrier may have them still
        ("queued", False, "", False, "", {"CA2": LIVE}, "CA2", []),
        ("in_ivr", False, "", False, "", {"CA2": "ringing"}, "CA2", []),
        ("queued", False, "", False, "", {}, "CA2", []),  # (the carrier could not say)
        ("queued", False, "", False, "", {"CA2": OVER}, None, []),  # (nobody to tell)
        # answered: its caller talks to an agent, who must not be cut off; a consultation
        # on it ends, and a caller who was on hold is taken off it again
        ("answered", False, "", False, "", {"CA2": LIVE}, None, []),
        ("answered", False, "", True, "", {"CA2": LIVE}, None, RESUMED),
        ("answered", False, "", True, "en-day-2", {"CA2": LIVE}, None, CONSULT_ENDED),
        ("answered", False, "", True, "", {"CA2": OVER}, None, []),  # (over: nothing)
        # a callback: its caller on the line through a dial-back (or called by one still)
        # is told there; one not called has nobody to tell; one an agent answered, on the
        # line, is as any other answered call
        ("queued", True, "CA2LEG", False, "", {"CA2": OVER, "CA2LEG": LIVE}, "CA2LEG", []),
        ("queued", True, "CA2LEG", True, "", {"CA2": OVER, "CA2LEG": "ringing"}, "CA2LEG", []),
        ("queued", True, "CA2LEG", False, "", {"CA2": OVER, "CA2LEG": OVER}, None, []),
        ("queued", True, "", False, "", {"CA2": OVER}, None, []),
        ("answered", True, "CA2LEG", True, "", {"CA2LEG": LIVE}, None, RESUMED),
        ("answered", True, "CA2LEG", False, "", {"CA2LEG": LIVE}, None, []),
        ("answered", True, "CA2LEG", True, "en-day-2", {"CA2LEG": LIVE}, None, CONSULT_ENDED),
        ("answered", True, "", True, "", {"CA2": OVER}, None, []),
    ],
)  # fmt: skip
def test_a_call_left_is_closed_and_a_caller_alone_told_if_they_may_be_there(
    state, callback, leg, held, consult, statuses, told, legs
):
    f = floor()
    calls = [c.Recovered(row("CA1", "queued"), 5.0, 0, False, False)]
    broken = row("CA2", state)
    if callback:
        broken = broken.changed(callback_number="+12025550102")
    left = [c.NotRebuilt(broken, "KeyError", leg, held, consult)]
    handled = f.handle("national", c.Recover(calls, {"CA1": LIVE, **statuses}, left), 50.0)
    assert handled.result == {"not recovered": 1, "queued": 1}
    effects = [e for _, outcome in handled.steps for e in outcome.effects]
    events = [e for _, outcome in handled.steps for e in outcome.events]
    assert [e.as_dict() for e in events if isinstance(e, NotRecovered)] == [
        {"at": 50.0, "call_id": "CA2", "cause": "KeyError"}
    ]
    ended = [(e.call_id, e.to_agent, e.stage) for e in events if isinstance(e, Consulted)]
    assert ended == ([("CA2", consult, "restart")] if legs == CONSULT_ENDED else [])
    closed = "completed" if state == "answered" else "abandoned"
    assert [e.changes for e in effects if isinstance(e, ChangeCall) and e.sid == "CA2"] == [
        {"state": closed}
    ]
    assert [e.call_sid for e in effects if isinstance(e, EndCall)] == ([told] if told else [])
    assert [(e.call_sid, e.label, e.action) for e in effects if isinstance(e, Leg)] == legs
    board = f.boards["national"]
    assert not board.knows("CA2")
    assert board.knows("CA1")
