"""A callback whose dial-back was asked for just before a restart, which the carrier may
never have heard: recovered on its agent with no word of the dial-back yet. Their agent
leaves and the next agent's phone answers within the minute the board waits for that
word. Exact effects, no I/O."""

from __future__ import annotations

from typing import Any

from hotline.switchboard import commands as c
from hotline.switchboard.board import AGENT_GONE_AFTER, PENDING_FOR, Switchboard
from hotline.switchboard.effects import DialBack
from hotline.switchboard.events import stored
from hotline.switchboard.records import CallRow

from .test_board import CALLER, NUMBER, kinds
from .test_callback_conference import SID, board, conference

RESTART = 100.0  # the line's first moment after the restart
DIAL_BACK = (CALLER, "dial-back", 0)


def recovered_dialling_back(b: Switchboard) -> None:
    """Before the restart a1 accepted CA1 (a callback), a1's phone answered and the line
    asked for the caller's dial-back; after it a1 is logged in again and the call is
    theirs, the dial-back unconfirmed (the caller's own call is over). Then a1 hangs up
    their phone and the call waits for the next agent."""
    b.handle(c.Login("a1", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 1, True, False, agent="a1", answered=6.0, dialling_back=True)
    b.handle(c.Recover([found], {SID: "completed"}), RESTART)
    b.handle(c.AgentLegEnded(SID, 1), RESTART + 1)
    b.handle(c.Tick(), RESTART + 2 + AGENT_GONE_AFTER)  # the caller did not hang up: a1 went
    assert (b.agent_state("a1")["state"], b.agent_state("a1")["reason"]) == (
        "not_ready", "agent-hung-up")  # fmt: skip


def test_an_unconfirmed_dial_back_is_made_when_the_next_agents_phone_answers():
    """The board took the dial-back as made: a2's phone answering was taken as bridged to
    the caller, nobody was dialled, and the minute's check then saw a bridged call and
    did nothing. a2 sat alone in the conference; the caller was never called back."""
    out: Any
    b = board()
    recovered_dialling_back(b)
    b.handle(c.Login("a2", ready=True), RESTART + 10)
    assert conference(b.handle(c.Accept("a2", SID), RESTART + 11)) == [("agent:a2", "join", 2)]
    out = b.handle(c.LegAnswered(SID, 2), RESTART + 12)
    assert conference(out) == [DIAL_BACK]
    assert b.call_legs(SID)["calling_back"] is True  # type: ignore[index]
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)  # the minute's check: dialled already
    assert conference(out) == []
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), RESTART + 70)
    assert "called-back" in kinds(out)
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_dial_back_the_carrier_confirms_after_a_restart_is_not_made_twice():
    """The first dial-back did go out: the caller picks it up while no agent is on the
    call, waits on hold in the conference, and a2's phone answering takes them off hold
    (no second dial-back, then or at the minute's check)."""
    out: Any
    b = board()
    recovered_dialling_back(b)
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True), RESTART + 8)
    assert conference(out) == [("caller", "hold", 0)]
    b.handle(c.Login("a2", ready=True), RESTART + 10)
    b.handle(c.Accept("a2", SID), RESTART + 11)
    out = b.handle(c.LegAnswered(SID, 2), RESTART + 12)
    assert conference(out) == [("caller", "resume", 0)]
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)
    assert conference(out) == []


def test_an_unconfirmed_dial_back_is_not_put_on_hold_when_the_next_agents_phone_fails():
    """a2's phone cannot be reached: the caller, who may not be on the line at all, is
    not put on hold in the conference (the board then took them as there, and the next
    agent's phone answering took them off hold rather than dialling them)."""
    out: Any
    b = board()
    recovered_dialling_back(b)
    b.handle(c.Login("a2", ready=True), RESTART + 10)
    b.handle(c.Accept("a2", SID), RESTART + 11)
    out = b.handle(c.CarrierRefused(SID, 2), RESTART + 12)
    assert conference(out) == []
    assert b.call_legs(SID)["held"] is False  # type: ignore[index]
    b.handle(c.SetReady("a1", True), RESTART + 20)
    b.handle(c.Accept("a1", SID), RESTART + 21)
    out = b.handle(c.LegAnswered(SID, 3), RESTART + 22)
    assert conference(out) == [DIAL_BACK]


def test_an_unconfirmed_dial_back_is_made_when_the_next_agents_phone_answers_after_a_minute():
    """a2's phone still rings at the minute's check (a connect of its own): its answer
    dials the caller, as within the minute."""
    b = board()
    recovered_dialling_back(b)
    b.handle(c.Login("a2", ready=True), RESTART + 50)
    b.handle(c.Accept("a2", SID), RESTART + 51)
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == []
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 65)) == [DIAL_BACK]


def recovered_on_the_line_for_a_ringing_phone(b: Switchboard) -> Any:
    """Before the restart the caller had been called back and was on the line, in the
    call's conference (their agent gone, or a cold transfer of the call), and a2's phone
    rang for it (its second connect, not answered); after it a2 is logged in again and
    the call is theirs. Returns the recovery's outcome."""
    b.handle(c.Login("a2", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 2, True, False, agent="a2", answered=6.0, on_the_line=True)
    return b.handle(c.Recover([found], {SID: "completed"}), RESTART)


def test_a_caller_on_the_line_for_a_ringing_phone_is_not_dialled_again_after_a_restart():
    """The caller waits on hold in the conference (asked again: the carrier may not have
    heard it), and a2's phone answering takes them off hold: the recovery took the call as
    a callback not yet called back, and a2's answer dialled the caller a second time."""
    b = board()
    assert conference(recovered_on_the_line_for_a_ringing_phone(b)) == [("caller", "hold", 0)]
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 5)) == [("caller", "resume", 0)]
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == []


def test_a_caller_on_the_line_for_a_phone_that_never_reports_waits_for_the_next_agent():
    """a2's dial never reached the carrier (no word of it within the minute): its leg
    leaves the conference and the caller waits on hold there for the next agent, whose
    phone answering takes them off hold (not stuck with a2, and not dialled a second time,
    as they were)."""
    b = board()
    recovered_on_the_line_for_a_ringing_phone(b)
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)
    assert conference(out) == [("agent:a2", "drop", 0)]
    assert (b.agent_state("a2")["state"], b.agent_state("a2")["reason"]) == (
        "not_ready", "agent-no-answer")  # fmt: skip
    b.handle(c.Login("a1", ready=True), RESTART + PENDING_FOR + 2)
    assert conference(b.handle(c.Accept("a1", SID), RESTART + PENDING_FOR + 3)) == [
        ("agent:a1", "join", 3)]  # fmt: skip
    out = b.handle(c.LegAnswered(SID, 3), RESTART + PENDING_FOR + 4)
    assert conference(out) == [("caller", "resume", 0)]


LEG = "CA" + "8" * 32  # the dial-back's own call


def recovered_called_back(b: Switchboard, state: str, leg_status: str | None, **found: Any) -> Any:
    """Before the restart the caller was called back and was on the line through LEG
    (`found`: what else the store's events say); the carrier's word on LEG now is
    `leg_status` (None: it does not know the call). Returns the recovery's outcome."""
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, state,
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    recovered = c.Recovered(row, 2.0, found.pop("attempts", 1), True, found.pop("bridged", False),
                            on_the_line=True, dial_back_leg=LEG, **found)  # fmt: skip
    return b.handle(c.Recover([recovered], {SID: "completed", LEG: leg_status}), RESTART)


def test_a_called_back_caller_waiting_who_hung_up_while_the_line_was_down_is_not_waited_for():
    """They waited on hold in the conference for an agent and hung up while no server led
    the line (the carrier's word on it lost): the call closes as abandoned, as that word
    would have closed it, and their leg is asked nothing. Before, they were put on hold
    again and the next agent joined an empty conference."""
    b = board()
    out = recovered_called_back(b, "queued", "completed")
    assert out.result == {"hung up": 1}
    assert conference(out) == []
    assert "CallAbandoned" in kinds(out)
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    assert b.agent_state("a2")["state"] == "available"  # (offered nothing)


def test_a_called_back_caller_the_carrier_no_longer_knows_is_taken_as_gone():
    b = board()
    out = recovered_called_back(b, "queued", None)
    assert (out.result, conference(out)) == ({"hung up": 1}, [])


def test_a_called_back_caller_still_on_the_line_is_held_again():
    b = board()
    out = recovered_called_back(b, "queued", "in-progress")
    assert (out.result, conference(out)) == ({"queued": 1}, [("caller", "hold", 0)])


def test_a_called_back_caller_who_hung_up_on_their_agent_while_the_line_was_down_ends_the_call():
    """They talked to a1 and hung up while no server led the line: the call completes
    and a1 wraps it up (before, a1 stayed on a call with nobody, until they hung up)."""
    b = board()
    b.handle(c.Login("a1", ready=False), RESTART)
    out = recovered_called_back(b, "answered", "completed", bridged=True, agent="a1",
                                answered=6.0, held_before=True)  # fmt: skip
    assert out.result == {"hung up": 1}
    assert conference(out) == []  # (not taken off hold: gone)
    assert "CallCompleted" in kinds(out)
    assert b.agent_state("a1")["state"] == "wrap_up"


def recovered_with_no_word_of_the_leg(b: Switchboard) -> Any:
    """As `recovered_called_back` with the caller waiting on hold, the carrier unable to
    say anything of LEG at the start (left out of the statuses)."""
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "queued",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 1, True, False, on_the_line=True, dial_back_leg=LEG)
    return b.handle(c.Recover([found], {SID: "completed"}), RESTART)


def test_a_dial_back_the_carrier_could_not_tell_of_at_the_start_is_asked_again():
    """The caller is taken as on the line (on hold again) and the leg is asked about
    again, as an ordinary call is; still going on, nothing changes."""
    b = board()
    out = recovered_with_no_word_of_the_leg(b)
    assert (out.result, conference(out)) == ({"queued": 1}, [("caller", "hold", 0)])
    assert b.unverified() == [LEG]
    out = b.handle(c.Recheck({LEG: "in-progress"}), RESTART + 30)
    assert (kinds(out), b.unverified()) == ([], [])
    assert b.call_legs(SID)["held"] is True  # type: ignore[index]


def test_a_dial_back_found_ended_by_a_later_check_closes_the_call():
    b = board()
    recovered_with_no_word_of_the_leg(b)
    out = b.handle(c.Recheck({LEG: "completed"}), RESTART + 30)
    assert "CallAbandoned" in kinds(out)
    assert b.unverified() == []
    b.handle(c.Login("a2", ready=True), RESTART + 31)
    assert b.agent_state("a2")["state"] == "available"  # (offered nothing)


def test_a_check_that_lands_after_the_dial_backs_own_word_changes_nothing():
    """The leg's own word (the caller hangs up now) closes the call; the check asked
    before it, landing after, finds nothing to do."""
    b = board()
    recovered_with_no_word_of_the_leg(b)
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True, leg=LEG), RESTART + 5)
    assert "CallAbandoned" in kinds(out)
    assert b.unverified() == []
    assert kinds(b.handle(c.Recheck({LEG: "completed"}), RESTART + 30)) == []


def test_a_late_word_of_another_leg_leaves_the_dial_back_to_be_checked():
    b = board()
    recovered_with_no_word_of_the_leg(b)
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg="CA" + "9" * 32),
             RESTART + 5)  # fmt: skip
    assert b.unverified() == [LEG]


def test_a_dial_back_to_be_checked_is_still_checked_after_a_transfer_to_a_queue():
    """The next agent takes the call (their phone answers: the caller comes off hold) and
    sends it to a queue: the leg, which the carrier still has not told of, is still asked
    about (a new record of the call, which kept it)."""
    b = board()
    recovered_with_no_word_of_the_leg(b)
    b.handle(c.Login("a2", ready=True), RESTART + 10)
    b.handle(c.Accept("a2", SID), RESTART + 11)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 12)) == [("caller", "resume", 0)]
    b.handle(c.Transfer("a2", queue="en"), RESTART + 20)
    assert b.unverified() == [LEG]
    out = b.handle(c.Recheck({LEG: "completed"}), RESTART + 30)
    assert "CallAbandoned" in kinds(out)


def test_a_called_back_caller_who_hangs_up_while_the_next_agents_phone_rings_abandons():
    """Waiting on hold for the next agent, whose phone rings, they hang up: nobody talked
    to them on this try, so the call is abandoned and the agent free, as an ordinary
    caller who hangs up while an agent's phone rings (it was completed, and the agent
    sent to wrap up a call they never had)."""
    b = board()
    recovered_on_the_line_for_a_ringing_phone(b)
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True, leg=LEG), RESTART + 5)
    assert kinds(out) == ["OfferWithdrawn", "CallAbandoned", "AgentStateChanged"]
    assert b.agent_state("a2")["state"] == "available"


def test_a_called_back_caller_who_hung_up_while_the_line_was_down_with_a_phone_ringing():
    b = board()
    b.handle(c.Login("a2", ready=False), RESTART)
    out = recovered_called_back(b, "answered", "completed", attempts=2, agent="a2",
                                answered=6.0)  # fmt: skip
    assert (out.result, conference(out)) == ({"hung up": 1}, [])
    assert kinds(out) == ["AgentStateChanged", "OfferWithdrawn", "CallAbandoned",
                          "AgentStateChanged"]  # (a2 on the call again, then free)  # fmt: skip
    assert b.agent_state("a2")["state"] == "available"


def test_the_carriers_taking_a_dial_back_is_written_with_its_calls_sid():
    """Said while the caller's answer is awaited (a restart then asks about that call);
    once they answered (their word came first), it is not."""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"})  # (no word of LEG at the start)
    out = b.handle(c.CarrierDialledBack(SID, LEG, 50_000), RESTART + 1)
    assert [stored(e) for e in out.events] == [
        ("dial-back-placed", SID, {"leg": LEG, "dial": 50_000})]  # fmt: skip
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == []  # (it went out)
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG), RESTART + 70)
    assert kinds(b.handle(c.CarrierDialledBack(SID, LEG), RESTART + 71)) == []


def recovered_dialling_back_with(
    b: Switchboard, statuses: dict[str, str | None], dial: int = 0, leg: str = LEG
) -> Any:
    """a1's phone answered a callback (its first connect) and the caller's dial-back was
    placed (`leg`; `dial`, its number if written) before the restart, with no word of it
    since: recovered on a1, with what the carrier says now (`statuses`). Returns the
    recovery's outcome."""
    b.handle(c.Login("a1", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 1, True, False, agent="a1", answered=6.0, dialling_back=True,
                        dial_back_leg=leg, dial=dial)  # fmt: skip
    return b.handle(c.Recover([found], statuses), RESTART)


def test_a_dial_back_answered_while_the_line_was_down_is_not_made_again():
    """The caller picked up while no server led the line, the carrier's word lost: they
    talk to a1, and nobody dials them a second time (before, the line waited a minute
    for a word that would never come, then dialled them again)."""
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "in-progress"})
    assert (out.result, conference(out)) == ({"on a call": 1}, [])
    assert [stored(e) for e in out.events if stored(e)[0] == "called-back"] == [
        ("called-back", SID, {"agent_id": "a1", "leg": LEG})]  # fmt: skip
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == []


def test_a_dial_back_answered_and_hung_up_while_the_line_was_down_completes_the_call():
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "completed"})
    assert (out.result, conference(out)) == ({"hung up": 1}, [])
    assert "CallCompleted" in kinds(out)
    assert b.agent_state("a1")["state"] == "wrap_up"


def test_a_dial_back_missed_while_the_line_was_down_is_a_try_not_reached():
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "no-answer"})
    assert (out.result, conference(out)) == ({"callback not reached": 1}, [("agent:a1", "drop", 0)])
    assert "callback-not-reached" in kinds(out)
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    assert b.agent_state("a2")["call_sid"] == SID  # (offered again: its place kept)


def test_a_dial_back_still_ringing_at_the_start_is_not_made_again():
    """It went out; its word comes to this line: nothing is asked of the carrier, and the
    minute's check does not dial the caller a second time."""
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "ringing"})
    assert (out.result, conference(out)) == ({"on a call": 1}, [])
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == []
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG), RESTART + 70)
    assert "called-back" in kinds(out)
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def recovered_waiting_with_a_dial_back_out(b: Switchboard, status: str) -> Any:
    """a1's phone answered a callback and the caller's dial-back was placed (LEG); a1 hung
    up while it rang, and the caller waits in the queue again, with no word of LEG before
    the restart. The carrier says `status` of LEG now. Returns the recovery's outcome."""
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "queued",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 1, True, False, dial_back_leg=LEG)
    return b.handle(c.Recover([found], {SID: "completed", LEG: status}), RESTART)


def test_a_dial_back_answered_after_its_agent_left_waits_on_hold_after_a_restart():
    """The caller picked up while the line was down: on hold in the conference for the
    next agent, whose phone answering takes them off hold (before, it dialled them a
    second time)."""
    b = board()
    out = recovered_waiting_with_a_dial_back_out(b, "in-progress")
    assert (out.result, conference(out)) == ({"queued": 1}, [("caller", "hold", 0)])
    assert [stored(e) for e in out.events if stored(e)[0] == "called-back"] == [
        ("called-back", SID, {"agent_id": "", "leg": LEG})]  # fmt: skip
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    b.handle(c.Accept("a2", SID), RESTART + 2)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 3)) == [("caller", "resume", 0)]


def test_a_dial_back_still_ringing_after_its_agent_left_is_not_made_a_second_time():
    b = board()
    out = recovered_waiting_with_a_dial_back_out(b, "ringing")
    assert (out.result, conference(out)) == ({"queued": 1}, [])
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    b.handle(c.Accept("a2", SID), RESTART + 2)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 3)) == []  # (no second dial)


def test_a_dial_back_missed_after_its_agent_left_is_made_again_by_the_next_agent():
    b = board()
    out = recovered_waiting_with_a_dial_back_out(b, "no-answer")
    assert (out.result, conference(out)) == ({"callback not reached": 1}, [])
    assert "callback-not-reached" in kinds(out)
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    b.handle(c.Accept("a2", SID), RESTART + 2)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 3)) == [DIAL_BACK]


def test_a_dial_back_answered_and_hung_up_after_its_agent_left_abandons():
    b = board()
    out = recovered_waiting_with_a_dial_back_out(b, "completed")
    assert (out.result, conference(out)) == ({"hung up": 1}, [])
    assert "CallAbandoned" in kinds(out)


def recovered_ringing_with_a_dial_back_out(b: Switchboard, status: str | None) -> Any:
    """As `recovered_waiting_with_a_dial_back_out`, and a2 accepted the call: a2's phone
    rang for it (its second connect) as the line stopped; a2 is logged in again and the
    call is theirs. The carrier says `status` of LEG now."""
    b.handle(c.Login("a2", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 2, True, False, agent="a2", answered=6.0, dial_back_leg=LEG)
    return b.handle(c.Recover([found], {SID: "completed", LEG: status}), RESTART)


def test_a_dial_back_answered_while_the_next_agents_phone_rang_is_not_made_again():
    """The caller picked up while the line was down: on hold in the conference for a2's
    phone, whose answer takes them off hold (before, it dialled them a second time)."""
    b = board()
    out = recovered_ringing_with_a_dial_back_out(b, "in-progress")
    assert (out.result, conference(out)) == ({"on a call": 1}, [("caller", "hold", 0)])
    assert "called-back" in kinds(out)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 3)) == [("caller", "resume", 0)]
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_dial_back_ringing_while_the_next_agents_phone_rang_is_asked_about_again():
    """Not made a second time when a2's phone answers; its word, if lost, is asked of the
    carrier again: answered, the caller is with a2."""
    b = board()
    out = recovered_ringing_with_a_dial_back_out(b, "ringing")
    assert (out.result, conference(out)) == ({"on a call": 1}, [])
    assert b.unverified() == [LEG]
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 3)) == []  # (no second dial)
    assert b.call_legs(SID)["connected"] is False  # type: ignore[index]  # (nobody there yet:
    b.handle(c.Recheck({LEG: "ringing"}), RESTART + 30)  # a2 waits for the caller's answer)
    assert b.unverified() == [LEG]  # (still ringing: asked again)
    out = b.handle(c.Recheck({LEG: "in-progress"}), RESTART + 60)
    assert [stored(e) for e in out.events] == [
        ("called-back", SID, {"agent_id": "a2", "leg": LEG})]  # fmt: skip
    assert b.unverified() == []
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_dial_back_ringing_at_the_start_found_answered_later_waits_for_the_ringing_phone():
    """The caller's answer, found by the check: on hold in the conference for a2, whose
    phone still rings (not taken as talking to a2, who is not in it yet); a2's phone
    answering takes them off hold, and a2's phone that never reports is given up after
    the minute, the caller waiting on for the next agent."""
    b = board()
    recovered_ringing_with_a_dial_back_out(b, "ringing")
    out = b.handle(c.Recheck({LEG: "in-progress"}), RESTART + 30)
    assert [stored(e) for e in out.events] == [
        ("called-back", SID, {"agent_id": "", "leg": LEG})]  # fmt: skip
    assert (conference(out), b.unverified()) == ([("caller", "hold", 0)], [])
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 31)) == [("caller", "resume", 0)]


def test_a_ringing_phone_that_never_reports_is_given_up_with_a_dial_back_ringing_too():
    """Before, the line took the dial-back placed for the agent who left as this phone's
    own (its answer dials the caller): the minute's check did nothing, and a2 stayed on a
    call they could neither hang up nor pass on. The caller is not put on hold: not in
    the conference yet (their answer puts them on hold for the next agent)."""
    b = board()
    recovered_ringing_with_a_dial_back_out(b, "ringing")
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)  # (the caller, whose phone rings,
    assert conference(out) == [("agent:a2", "drop", 0)]  # is not in the conference to hold)
    assert (b.agent_state("a2")["state"], b.agent_state("a2")["reason"]) == (
        "not_ready", "agent-no-answer")  # fmt: skip


def test_a_dial_back_answered_and_hung_up_while_the_next_agents_phone_rang_abandons():
    b = board()
    out = recovered_ringing_with_a_dial_back_out(b, "completed")
    assert (out.result, conference(out)) == ({"hung up": 1}, [])
    assert "CallAbandoned" in kinds(out)
    assert b.agent_state("a2")["state"] == "available"


def test_a_dial_back_still_ringing_at_the_start_whose_word_is_lost_is_found_missed_later():
    """Its no-answer went to nobody (it came before the start served webhooks): asked of
    the carrier again, it is a try not reached, and a1 is freed from the conference."""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed", LEG: "ringing"})
    assert b.unverified() == [LEG]
    out = b.handle(c.Recheck({LEG: "no-answer"}), RESTART + 30)
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]
    assert b.unverified() == []


def test_a_callbacks_tries_count_across_a_restart():
    """Two dial-backs missed before the restart: the third one missed closes the call
    (before, a restart started the count over, and the caller could be dialled without
    end)."""
    b = board()
    b.handle(c.Login("a1", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 3, True, False, agent="a1", answered=6.0, dialling_back=True,
                        dial_back_leg=LEG, callback_tries=2)  # fmt: skip
    out = b.handle(c.Recover([found], {SID: "completed", LEG: "no-answer"}), RESTART)
    assert [stored(e) for e in out.events if stored(e)[0] == "callback-not-reached"] == [
        ("callback-not-reached", SID, {"status": "no-answer", "tries": 3})]  # fmt: skip
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    assert b.agent_state("a2")["call_sid"] is None  # (closed: offered to nobody)


def missed_after_its_agent_left(b: Switchboard, tries: int) -> Any:
    """`tries` tries missed before the restart; a1's phone answered the next and the
    caller's phone rings; a1 hangs up (the call waits for the next agent), and the caller
    does not pick up. Returns the outcome of that miss."""
    b.handle(c.Login("a1", ready=False), RESTART)
    row = CallRow(SID, "test", CALLER, NUMBER, "en", "en", 0, "answered",
                  {"caller_type": "public"}, CALLER, 1.0)  # fmt: skip
    found = c.Recovered(row, 2.0, 2, True, False, agent="a1", answered=6.0, dialling_back=True,
                        dial_back_leg=LEG, callback_tries=tries)  # fmt: skip
    b.handle(c.Recover([found], {SID: "completed", LEG: "ringing"}), RESTART)
    b.handle(c.AgentLegEnded(SID, 2), RESTART + 1)
    b.handle(c.Tick(), RESTART + 2 + AGENT_GONE_AFTER)  # (a1 went: the call waits again)
    return b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG), RESTART + 60)


def test_a_callbacks_tries_count_across_its_agent_leaving_while_it_rings():
    """That miss is the second try, not the first."""
    out = missed_after_its_agent_left(board(), 1)
    assert [stored(e) for e in out.events] == [
        ("callback-not-reached", SID, {"status": "no-answer", "tries": 2})]  # fmt: skip


def test_a_callbacks_third_miss_after_its_agent_left_closes_it():
    """As the third miss with an agent on the call does (before, the caller waited on in
    the queue, to be dialled a fourth time)."""
    b = board()
    out = missed_after_its_agent_left(b, 2)
    assert kinds(out) == ["callback-not-reached", "CallAbandoned"]
    b.handle(c.Login("a2", ready=True), RESTART + 61)
    assert b.agent_state("a2")["call_sid"] is None  # (closed: offered to nobody)


def test_a_dial_back_the_carrier_no_longer_knows_with_the_next_phone_ringing_is_a_miss():
    """Not a caller who hung up (the call closed): a try not reached, as in every other
    spot a dial-back the carrier does not know is taken."""
    b = board()
    out = recovered_ringing_with_a_dial_back_out(b, None)
    assert out.result == {"callback not reached": 1}
    assert "callback-not-reached" in kinds(out)


def test_a_caller_missed_after_their_agent_left_is_not_left_on_hold_for_the_next():
    """a1 left while the caller's phone rang, and the caller did not pick up: a2's phone
    answering dials them, and their answer bridges them with no hold left over (before, a
    caller not on the line yet was put on hold in the conference, and that stale hold
    refused the agent's own and let the caller hear a consultation)."""
    b = board()
    missed_after_its_agent_left(b, 0)
    b.handle(c.Login("a2", ready=True), RESTART + 61)
    b.handle(c.Accept("a2", SID), RESTART + 62)
    assert conference(b.handle(c.LegAnswered(SID, 3), RESTART + 63)) == [DIAL_BACK]
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg="CA" + "9" * 32),
             RESTART + 70)  # fmt: skip
    assert b.call_legs(SID)["held"] is False  # type: ignore[index]
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


LEG2 = "CA" + "9" * 32  # a second dial-back's own call
BEFORE = 50_000  # the first dial-back's number: asked for before the restart (at 50 s)


def dialled_a_second_time(b: Switchboard) -> int:
    """The carrier could not say at the start what became of the dial-back LEG (BEFORE)
    and no word of it came within the minute: a1 still on the call, the caller is dialled
    again. Returns that second dial-back's number."""
    recovered_dialling_back_with(b, {SID: "completed"})
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)
    assert conference(out) == [DIAL_BACK]
    (dial_back,) = out.effects
    assert isinstance(dial_back, DialBack)
    assert dial_back.dial == (RESTART + PENDING_FOR) * 1000  # (the check's moment)
    return dial_back.dial


def test_a_late_miss_of_the_first_dial_back_does_not_drop_the_agent():
    """The first dial-back's no-answer, late, was taken as the caller's: a1 was dropped and
    the call sent back to the queue, while the second dial-back rang (and the caller, once
    they answered it, sat in the conference with nobody)."""
    b = board()
    second = dialled_a_second_time(b)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 65)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])
    assert (b.agent_state("a1")["state"], b.agent_state("a1")["call_sid"]) == ("on_call", SID)
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG2, dial=second),
                   RESTART + 70)  # fmt: skip
    assert [stored(e) for e in out.events] == [
        ("called-back", SID, {"agent_id": "a1", "leg": LEG2})]  # fmt: skip
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_miss_of_the_second_dial_back_after_the_caller_took_the_first_is_not_theirs():
    """The caller picked up the first dial-back, late: they talk to a1 (it joins the same
    conference). The second then finds their phone busy; that miss is not theirs."""
    b = board()
    second = dialled_a_second_time(b)
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 65)  # fmt: skip
    assert "called-back" in kinds(out)
    out = b.handle(c.CarrierStatus(SID, "busy", dial_back=True, leg=LEG2, dial=second),
                   RESTART + 66)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]
    out = b.handle(c.CarrierStatus(SID, "completed", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 200)  # fmt: skip
    assert "CallCompleted" in kinds(out)  # (their hang-up still ends the call)
    assert b.agent_state("a1")["state"] == "wrap_up"


def test_a_miss_of_the_dial_back_awaited_is_still_a_try_not_reached():
    b = board()
    second = dialled_a_second_time(b)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG2, dial=second),
                   RESTART + 90)  # fmt: skip
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]


def test_a_late_miss_of_a_superseded_dial_back_after_the_call_was_queued_again_is_no_news():
    """The second dial-back was missed (the caller keeps their place, a try counted); the
    first one's miss, later, is not a second try."""
    b = board()
    second = dialled_a_second_time(b)
    b.handle(c.CarrierStatus(SID, "busy", dial_back=True, leg=LEG2, dial=second), RESTART + 90)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 95)  # fmt: skip
    assert kinds(out) == []


def test_the_carriers_taking_of_a_superseded_dial_back_is_not_written():
    """(A restart would ask the carrier about that call, not the one awaited.)"""
    b = board()
    second = dialled_a_second_time(b)
    assert kinds(b.handle(c.CarrierDialledBack(SID, LEG, BEFORE), RESTART + 62)) == []
    out = b.handle(c.CarrierDialledBack(SID, LEG2, second), RESTART + 62)
    assert [stored(e) for e in out.events] == [
        ("dial-back-placed", SID, {"leg": LEG2, "dial": second})]  # fmt: skip


def test_a_late_miss_of_a_superseded_dial_back_after_the_agent_hung_up_is_no_news():
    """a1 hangs up their phone while the second dial-back rings (the caller will wait on
    hold for the next agent if they pick up): the first one's miss, later, is not a try
    (it counted one, and the next agent's phone answering would have dialled them a third
    time while the second still rang)."""
    b = board()
    dialled_a_second_time(b)
    b.handle(c.AgentLegEnded(SID, 1), RESTART + 61)
    b.handle(c.Tick(), RESTART + 62 + AGENT_GONE_AFTER)
    assert b.agent_state("a1")["reason"] == "agent-hung-up"
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 70)  # fmt: skip
    assert kinds(out) == []
    b.handle(c.Login("a2", ready=True), RESTART + 71)
    b.handle(c.Accept("a2", SID), RESTART + 72)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 73)) == []  # (it still rings)


def test_a_miss_of_the_dial_back_placed_before_a_restart_is_a_try_not_reached():
    """(Its number unknown to the line that started: a numbered miss is taken.)"""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"})
    out = b.handle(c.CarrierStatus(SID, "busy", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 20)  # fmt: skip
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]


def test_a_refused_second_dial_back_while_the_caller_talks_through_the_first_is_no_miss():
    """The caller picked up the first dial-back, late, as the carrier refused the second
    (or its request timed out): the refusal is not theirs, and a1 is not dropped."""
    b = board()
    second = dialled_a_second_time(b)
    b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG, dial=BEFORE),
             RESTART + 65)  # fmt: skip
    out = b.handle(c.CarrierRefused(SID, None, dial=second), RESTART + 66)
    assert (kinds(out), conference(out)) == ([], [])
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_a_refused_dial_back_awaited_is_a_try_not_reached():
    b = board()
    second = dialled_a_second_time(b)
    out = b.handle(c.CarrierRefused(SID, None, dial=second), RESTART + 61)
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]


def test_an_earlier_dial_backs_late_miss_is_no_news_after_a_second_restart():
    """The line dialled the caller a second time (LEG2, its placing written with its
    number) and stopped again; the next start finds LEG2 ringing. The first dial-back's
    miss, late, is not the caller's; LEG2's is."""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed", LEG2: "ringing"}, dial=160_000, leg=LEG2)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 5)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG2, dial=160_000),
                   RESTART + 30)  # fmt: skip
    assert "callback-not-reached" in kinds(out)


def test_a_miss_of_a_dial_back_later_than_the_one_written_is_the_callers():
    """The last dial-back written (BEFORE) may not be the last made: a line that could not
    learn of it dialled again and stopped before writing so. A miss of a later one is the
    caller's (ignored, it left a1 in a silent conference, and the minute's check did
    nothing: the word had come)."""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"}, dial=BEFORE)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG2,
                                   dial=BEFORE + 60_000), RESTART + 20)  # fmt: skip
    assert "callback-not-reached" in kinds(out)
    assert conference(out) == [("agent:a1", "drop", 0)]


def test_a_caller_who_answers_a_dial_back_the_line_did_not_know_of_waits_on_hold():
    """The carrier says the last dial-back written was missed: the caller keeps their
    place. But a later one (its placing never written) rang on, and they answer it: they are
    in the call's conference, held there for the next agent, whose phone answering takes
    them off hold (their answer was dropped: alone in the conference, they were dialled a
    third time, found busy, and that agent was dropped too)."""
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "no-answer"}, dial=BEFORE)
    assert "callback-not-reached" in kinds(out)
    out = b.handle(c.CarrierStatus(SID, "in-progress", dial_back=True, leg=LEG2,
                                   dial=BEFORE + 60_000), RESTART + 20)  # fmt: skip
    assert conference(out) == [("caller", "hold", 0)]
    assert [stored(e) for e in out.events] == [
        ("called-back", SID, {"agent_id": "", "leg": LEG2})]  # fmt: skip
    b.handle(c.Login("a2", ready=True), RESTART + 21)
    b.handle(c.Accept("a2", SID), RESTART + 22)
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 23)) == [("caller", "resume", 0)]
    assert b.call_legs(SID)["connected"] is True  # type: ignore[index]


def test_an_earlier_dial_backs_late_miss_is_no_news_when_the_carrier_cannot_say_of_the_last():
    """The carrier could not say at the start what became of LEG2 (the last written): a
    miss of the dial-back before it is still not the caller's, nor news of LEG2's (with
    no word of LEG2 within the minute, the caller is dialled again: that miss made the
    line take LEG2 as gone out, and nobody ever dialled them)."""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"}, dial=160_000, leg=LEG2)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 5)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])
    assert (b.agent_state("a1")["state"], b.agent_state("a1")["call_sid"]) == ("on_call", SID)
    assert conference(b.handle(c.Tick(), RESTART + PENDING_FOR + 1)) == [DIAL_BACK]


def test_a_dial_back_made_after_a_restart_is_numbered_above_those_written_before_it():
    """Whatever the clocks: the node that wrote LEG's number ran far ahead of this one's.
    The dial-back made again a minute after the start is numbered above it, so LEG's late
    miss is still known for an earlier dial-back's."""
    ahead = 10**13  # (a clock some 250 years ahead)
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"}, dial=ahead)
    out = b.handle(c.Tick(), RESTART + PENDING_FOR + 1)
    (dial_back,) = out.effects
    assert isinstance(dial_back, DialBack)
    assert dial_back.dial == ahead + 1
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=ahead),
                   RESTART + 65)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])


def test_after_a_later_dial_backs_miss_the_written_ones_late_miss_is_no_news():
    """(BEFORE's miss is then neither a try nor a refusal.)"""
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"}, dial=BEFORE)
    b.handle(c.CarrierStatus(SID, "busy", dial_back=True, leg=LEG2, dial=BEFORE + 60_000),
             RESTART + 20)  # fmt: skip
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 25)  # fmt: skip
    assert kinds(out) == []


def test_a_dial_backs_miss_heard_of_at_the_start_is_not_taken_again_when_its_word_comes():
    """The carrier said at the start that LEG was missed (a try); LEG's own no-answer,
    delayed, then comes as a2's phone rings for the call: it is not a second try, and a2
    is not dropped."""
    b = board()
    out = recovered_dialling_back_with(b, {SID: "completed", LEG: "no-answer"}, dial=BEFORE)
    assert "callback-not-reached" in kinds(out)
    b.handle(c.Login("a2", ready=True), RESTART + 1)
    assert conference(b.handle(c.Accept("a2", SID), RESTART + 2)) == [("agent:a2", "join", 2)]
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG, dial=BEFORE),
                   RESTART + 3)  # fmt: skip
    assert (kinds(out), conference(out)) == ([], [])
    assert conference(b.handle(c.LegAnswered(SID, 2), RESTART + 4)) == [DIAL_BACK]


def test_a_dial_back_made_after_a_later_ones_miss_is_numbered_above_it():
    """A miss of a dial-back numbered far ahead (made by a node whose clock ran ahead,
    not written) is taken; the next agent's phone answering dials the caller with a number
    above it, whose own miss is then the caller's too (not ignored as an earlier one's)."""
    ahead = 10**13
    b = board()
    recovered_dialling_back_with(b, {SID: "completed"}, dial=BEFORE)
    out = b.handle(c.CarrierStatus(SID, "no-answer", dial_back=True, leg=LEG2, dial=ahead),
                   RESTART + 20)  # fmt: skip
    assert "callback-not-reached" in kinds(out)
    b.handle(c.Login("a2", ready=True), RESTART + 21)
    b.handle(c.Accept("a2", SID), RESTART + 22)
    (dial_back,) = b.handle(c.LegAnswered(SID, 2), RESTART + 23).effects
    assert isinstance(dial_back, DialBack)
    assert dial_back.dial == ahead + 1
    out = b.handle(c.CarrierStatus(SID, "busy", dial_back=True, dial=dial_back.dial),
                   RESTART + 40)  # fmt: skip
    assert "callback-not-reached" in kinds(out)
