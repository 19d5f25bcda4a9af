"""A recovered call whose queue the line no longer has (removing a queue takes a restart)."""

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
