"""Review of f7a99ba (a connect the carrier refuses as 'call gone'): it claims the call
ends as abandoned and its agent is left free; not so for a call that had talked before."""

from __future__ import annotations

from hotline.switchboard import commands as c
from tests.unit.switchboard.test_board import arrive, board, kinds


def test_a_gone_connect_after_a_transfer_to_a_queue_leaves_the_new_agent_free():
    """A call transferred back to a queue keeps `talked` (its first agent spoke to it).
    The caller hangs up as the next agent accepts: the carrier refuses the connect as
    gone, and `_carrier_refused` ends the call through `_status("completed")`, which for a
    call that talked *completes* it: the new agent, who never spoke to the caller, goes
    to wrap-up (30 s here) and is counted as having answered it, rather than staying
    available with the call abandoned."""
    b = board()
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 7.0)
    b.handle(c.LegAnswered("CA1", 1), 8.0)  # a1 talks to the caller
    b.handle(c.Transfer("a1", "en", "", False), 20.0)  # back to the queue
    b.handle(c.Login("a2", ready=True), 21.0)  # offered to a2
    b.handle(c.Accept("a2", "CA1"), 22.0)  # connect #2 goes out; the caller has hung up
    out = b.handle(c.CarrierRefused("CA1", 2, gone=True), 23.0)
    assert "CallCompleted" not in kinds(out), kinds(out)
    assert b.agent_state("a2")["state"] == "available"
