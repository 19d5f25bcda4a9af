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


def test_a_dial_back_that_does_not_reach_the_caller_asks_no_outcome_the_call_gets_one():
    b = coded()
    arrive(b, "CA1", 0.0)
    b.handle(c.TakeCallback("CA1"), 10.0)
    b.handle(c.CarrierStatus("CA1", "completed"), 11.0)  # hung up to be called back
    b.handle(c.Login("a1", ready=True), 12.0)
    b.handle(c.Accept("a1", "CA1"), 13.0)  # dialled back
    b.handle(c.CarrierStatus("CA1", "no-answer", dial_back=True), 40.0)  # not reached
    with pytest.raises(InvalidTransition, match="not wrapping up"):
        b.handle(c.WrapUp("a1", "resolved"), 45.0)  # the call is not over: no outcome yet
    later = b.handle(c.Tick(), 70.0)  # the missed try's wrap-up ends without an event
    assert "wrapped-up" not in kinds(later)
    b.handle(c.Accept("a1", "CA1"), 71.0)  # offered again, reached this time
    b.handle(c.CarrierStatus("CA1", "completed", dial_back=True), 120.0)
    out = b.handle(c.WrapUp("a1", "referred"), 125.0)
    assert [e for e in out.events if isinstance(e, WrappedUp)] == [
        WrappedUp(125.0, "CA1", "a1", "referred", "")
    ]


def test_a_line_may_not_name_timeout_as_one_of_its_codes():
    from pathlib import Path

    from hotline.errors import ConfigError
    from hotline.sim.scenario_file import parse_scenario

    path = Path(__file__).resolve().parents[3] / "scenarios" / "national-hotline.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  offer_timeout: 15\n", "  offer_timeout: 15\n  dispositions: [timeout, resolved]\n"
    )
    with pytest.raises(ConfigError, match="'timeout' is kept"):
        parse_scenario(text, filename="line.yaml", base=path.parent)
    own = parse_scenario(text.replace("[timeout, resolved]", "[resolved, sent-to-police]"),
                         filename="line.yaml", base=path.parent)  # fmt: skip
    assert own.dispositions == ("resolved", "sent-to-police")
