"""What a callback's stored events say of its dial-back (`service.live.dial_back_of`),
which a restart asks the carrier about: its own call's sid, and whether the caller is on
the line through it."""

from __future__ import annotations

from collections.abc import Mapping

from hotline.service.live import REQUEUED, dial_back_of

OLD, NEW = "CA" + "1" * 32, "CA" + "2" * 32
History = list[tuple[str, Mapping[str, object]]]


def connect(n: int) -> History:
    return [("connecting", {"attempt": n}), ("agent-leg-answered", {"attempt": n})]


def test_a_dial_back_placed_for_the_last_connect_is_asked_about():
    history: History = [*connect(1), ("dial-back-placed", {"leg": NEW})]
    assert dial_back_of(history) == (False, NEW, 0)  # (placed before its number was kept)


def test_the_last_of_two_placed_for_one_connect_is_asked_about():
    """(A restart made it again, with no word of the first.)"""
    history: History = [*connect(1), ("dial-back-placed", {"leg": OLD, "dial": 5000}),
                        ("dial-back-placed", {"leg": NEW, "dial": 65000})]  # fmt: skip
    assert dial_back_of(history) == (False, NEW, 65000)


def test_a_dial_back_of_an_earlier_try_is_not():
    """Missed, and the next agent's phone answered: that try's dial-back is not placed
    yet, and the missed one's call says nothing of it."""
    history: History = [*connect(1), ("dial-back-placed", {"leg": OLD}),
               ("callback-not-reached", {"status": "no-answer", "tries": 1}),
               (REQUEUED, {}), *connect(2)]  # fmt: skip
    assert dial_back_of(history) == (False, "", 0)


def test_a_missed_dial_back_is_over():
    """(Its number is one a late second word of its miss cannot be a try under: the call's
    record starts above it after a restart, as it did before.)"""
    history: History = [*connect(1), ("dial-back-placed", {"leg": OLD, "dial": 5000}),
               ("callback-not-reached", {"status": "failed", "tries": 1}),
               (REQUEUED, {}), *connect(2)]  # fmt: skip
    assert dial_back_of(history) == (False, "", 5001)


def test_a_dial_back_placed_after_a_miss_is_the_one_awaited():
    history: History = [*connect(1), ("dial-back-placed", {"leg": OLD, "dial": 5000}),
               ("callback-not-reached", {"status": "busy", "tries": 1}), (REQUEUED, {}),
               *connect(2), ("dial-back-placed", {"leg": NEW, "dial": 9000})]  # fmt: skip
    assert dial_back_of(history) == (False, NEW, 9000)


def test_a_caller_on_the_line_is_so_through_the_call_they_answered():
    answered = ("called-back", {"agent_id": "a1", "leg": NEW})
    history: History = [*connect(1), ("dial-back-placed", {"leg": NEW}), answered, (REQUEUED, {}),
               *connect(2)]  # fmt: skip
    assert dial_back_of(history) == (True, NEW, 0)


def test_a_dial_back_placed_for_an_agent_who_left_is_the_next_agents_to_wait_for():
    """The agent hung up while their caller's phone rang; the next agent's phone answered
    (the line does not dial the caller again for it: the one ringing may yet be answered):
    the dial-back placed before is the one a restart asks about."""
    history: History = [*connect(1), ("dial-back-placed", {"leg": OLD, "dial": 5000}), *connect(2)]
    assert dial_back_of(history) == (False, OLD, 5000)


def test_a_caller_called_back_before_the_sids_were_kept_is_on_the_line_through_no_known_call():
    assert dial_back_of([*connect(1), ("called-back", {"agent_id": "a1"})]) == (True, "", 0)


def test_a_callback_never_dialled_back_has_none():
    assert dial_back_of([("callback-offered", {}), *connect(1)]) == (False, "", 0)
