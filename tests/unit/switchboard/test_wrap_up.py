"""Closing a call's wrap-up with a disposition code: the agent's code and notes in an
event of the call, then the state they chose; the time limit closes it with "timeout";
a line without codes emits nothing of the kind (exact traces, no I/O)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hotline.errors import InvalidTransition
from hotline.switchboard import commands as c
from hotline.switchboard.board import Switchboard
from hotline.switchboard.events import WrappedUp, stored

from .test_board import arrive, board, kinds

CODES = ("resolved", "referred")


def coded() -> Switchboard:
    b = board()
    return Switchboard(line=replace(b.line, dispositions=CODES), start=0.0)


def talked(b: Switchboard) -> None:
    """a1 answers CA1 and talks until 100 s: then in wrap-up (30 s)."""
    b.handle(c.Login("a1", ready=True), 0.0)
    arrive(b, "CA1", 1.0)
    b.handle(c.Accept("a1", "CA1"), 8.0)
    b.handle(c.LegAnswered("CA1", 1), 10.0)
    b.handle(c.CarrierStatus("CA1", "completed"), 100.0)
    assert b.agent_state("a1")["state"] == "wrap_up"


def test_an_agent_closes_the_wrap_up_with_a_code_and_notes_then_the_state_they_chose():
    b = coded()
    talked(b)
    out = b.handle(c.WrapUp("a1", "referred", "sent to the local office", ready=False,
                            reason="lunch"), 110.0)  # fmt: skip
    assert out.events[0] == WrappedUp(110.0, "CA1", "a1", "referred", "sent to the local office")
    assert stored(out.events[0]) == ("wrapped-up", "CA1", {
        "agent_id": "a1", "code": "referred", "notes": "sent to the local office"})  # fmt: skip
    assert (out.result["state"], out.result["reason"]) == ("not_ready", "lunch")
    assert kinds(b.handle(c.Tick(), 131.0)) == []  # the time limit has nothing left to close
    assert b.held() == {}


def test_the_time_limit_closes_a_wrap_up_with_the_timeout_code():
    b = coded()
    talked(b)
    out = b.handle(c.Tick(), 130.0)
    assert kinds(out) == ["AgentStateChanged", "wrapped-up"]
    assert out.events[1] == WrappedUp(130.0, "CA1", "a1", "timeout", "")
    assert b.agent_state("a1")["state"] == "available"
    with pytest.raises(InvalidTransition, match="not wrapping up"):  # too late: closed
        b.handle(c.WrapUp("a1", "resolved"), 131.0)
    assert b.held() == {}


def test_a_code_the_line_does_not_have_is_refused_and_changes_nothing():
    b = coded()
    talked(b)
    with pytest.raises(InvalidTransition, match="not a disposition code"):
        b.handle(c.WrapUp("a1", "sold-insurance"), 105.0)
    assert b.agent_state("a1")["state"] == "wrap_up"
    out = b.handle(c.WrapUp("a1", "resolved"), 106.0)
    assert out.result["state"] == "available"


def test_a_line_without_codes_has_no_wrap_up_events():
    b = board()  # (the simulator's lines: its agents give no codes)
    talked(b)
    out = b.handle(c.Tick(), 130.0)
    assert kinds(out) == ["AgentStateChanged"]
    with pytest.raises(InvalidTransition):
        b.handle(c.WrapUp("a1", "resolved"), 131.0)
