"""A call a start cannot rebuild: the board names it (CallNotRecovered), and once it is
among those left, closes it and has its caller told, if the carrier may have them still."""

from __future__ import annotations

import pytest

from hotline.errors import CallNotRecovered
from hotline.switchboard import commands as c
from hotline.switchboard.effects import ChangeCall, EndCall
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
    ("state", "status", "closed", "told"),
    [
        ("queued", "in-progress", "abandoned", True),
        ("answered", "in-progress", "completed", True),
        ("queued", None, "abandoned", True),  # (the carrier could not say: it may have them)
        ("queued", "completed", "abandoned", False),  # (gone: nobody to tell)
    ],
)
def test_a_call_left_is_closed_and_its_caller_told_if_they_may_be_there(
    state, status, closed, told
):
    f = floor()
    statuses = {} if status is None else {"CA2": status}
    calls = [c.Recovered(row("CA1", "queued"), 5.0, 0, False, False)]
    left = [(row("CA2", state), "KeyError")]
    handled = f.handle("national", c.Recover(calls, statuses, left=left), 50.0)
    assert handled.result == {"not recovered": 1, "queued": 1}
    effects = [e for _, outcome in handled.steps for e in outcome.effects]
    events = [e for _, outcome in handled.steps for e in outcome.events]
    assert [e.as_dict() for e in events if isinstance(e, NotRecovered)] == [
        {"at": 50.0, "call_id": "CA2", "cause": "KeyError"}
    ]
    assert [e.changes for e in effects if isinstance(e, ChangeCall) and e.sid == "CA2"] == [
        {"state": closed}
    ]
    assert [e.call_sid for e in effects if isinstance(e, EndCall)] == (["CA2"] if told else [])
    board = f.boards["national"]
    assert not board.knows("CA2")
    assert board.knows("CA1")
