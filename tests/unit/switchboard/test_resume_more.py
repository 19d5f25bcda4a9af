"""A recovered call whose queue the line no longer has (removing a queue takes a restart);
who else is on a recovered call's conference."""

from __future__ import annotations

from hotline.switchboard import commands as c
from hotline.switchboard.records import CallRow
from tests.unit.switchboard.test_floor import CALLER, NUMBERS, floor


def test_a_bridged_call_of_a_queue_the_line_no_longer_has_does_not_stop_the_start():
    """It goes on detached (closed by its status), not on its agent: the router has no
    such queue; the line's start goes on."""
    f = floor()
    f.handle("national", c.Login("n1", ready=False), 50.0)
    gone = CallRow("CA1", "national", CALLER, NUMBERS["national"], "en", "gone", 0, "answered",
                   {"caller_type": "public"}, None, 0.0)  # fmt: skip
    f.handle("national", c.Recover([c.Recovered(gone, 5.0, 1, False, True, agent="n1")],
                                   {"CA1": "in-progress"}), 50.0)  # fmt: skip
    assert f.boards["national"].knows("CA1")


def test_an_interpreter_and_supervisors_are_the_lines_again_only_on_a_call_its_agent_has_again():
    """On a call its agent has again, they can be let go and can leave; on one that goes on
    detached (its agent not back), nobody could do either, so the line keeps none."""
    f = floor()
    f.handle("national", c.Login("s1", ready=False), 50.0)
    supervisors = (("sue", "whisper"), ("sam", "listen"))
    calls = [
        c.Recovered(
            row(sid, "en"),
            5.0,
            1,
            False,
            True,
            agent=agent,
            interpreter=True,
            supervisors=supervisors,
        )
        for sid, agent in (("CA1", "s1"), ("CA2", ""))
    ]
    f.handle("national", c.Recover(calls, {"CA1": "in-progress", "CA2": "in-progress"}), 50.0)
    board = f.boards["national"]
    legs = board.call_legs("CA1")
    assert legs is not None
    assert (legs["interpreter"], legs["supervisors"]) == (True, {"sue": "whisper", "sam": "listen"})
    legs = board.call_legs("CA2")
    assert legs is not None
    assert (legs["connected"], legs["interpreter"], legs["supervisors"]) == (True, False, {})


def row(sid: str, queue: str) -> CallRow:
    return CallRow(sid, "national", CALLER, NUMBERS["national"], "en", queue, 0, "answered",
                   {"caller_type": "public"}, None, 0.0)  # fmt: skip
