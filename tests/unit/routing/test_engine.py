"""The ACD's decisions, step by step, as exact event traces."""

from __future__ import annotations

import pytest

from hotline.domain.agent import AgentState, NotReadyReason
from hotline.domain.call import CallState
from hotline.domain.events import (
    AgentLoggedOut,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackAccepted,
    CallCompleted,
    CallEscalated,
    CallOffered,
    CallOverflowed,
    CallQueued,
    OfferWithdrawn,
)
from hotline.domain.queue import Overflow
from hotline.errors import ConfigError, InvalidTransition, UnknownAgent, UnknownCall, UnknownQueue
from hotline.routing import SelectionPolicy

from .harness import Bench, agent, queue

SPANISH = queue("es", ({"es": 4}, 20), ({"es": 1}, 40), ({"interpreter": 1}, None))


def test_longest_idle_agent_gets_the_call():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5))
    b.at(10)
    b.router.login(agent("a2", en=5))
    b.at(20)
    b.call("c1", "en")
    assert b.offers() == [(20, "c1", "a1")]


def test_escalation_widens_the_circle_step_by_step():
    b = Bench(SPANISH)
    b.router.login(agent("basic", es=2))
    b.router.login(agent("interp", interpreter=1, en=5))
    b.call("c1", "es")
    b.at(19.9)
    assert b.offers() == []
    b.at(20)
    assert b.trace(CallEscalated, CallOffered) == [
        ("CallEscalated", 20, "c1", "es", 1),
        ("CallOffered", 20, "c1", "basic", "es"),
    ]


def test_interpreter_pool_is_the_last_resort():
    b = Bench(SPANISH)
    b.router.login(agent("interp", interpreter=1, en=5))
    b.call("c1", "es")
    b.at(59)
    assert b.offers() == []
    b.at(60)
    assert b.offers() == [(60, "c1", "interp")]


def test_a_native_speaker_is_preferred_while_the_call_is_at_step_one():
    b = Bench(SPANISH)
    b.router.login(agent("basic", es=2))  # idle longer, but not eligible yet
    b.at(5)
    b.router.login(agent("native", es=5))
    b.call("c1", "es")
    assert b.offers() == [(5, "c1", "native")]


def test_higher_priority_first_then_fifo():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.call("low1", "en", priority=0)
    b.at(1)
    b.call("high", "en", priority=10)
    b.at(2)
    b.call("low2", "en", priority=0)
    for i, a in enumerate(("a1", "a2", "a3")):
        b.at(3 + i)
        b.router.login(agent(a, en=3))
    assert b.offers() == [(3, "high", "a1"), (4, "low1", "a2"), (5, "low2", "a3")]


def test_aging_lets_an_old_low_priority_call_overtake():
    # 1 point per minute: after 3 minutes 'old' (priority 0) outranks a fresh priority 2.
    b = Bench(queue("en", ({"en": 1}, None), aging=1.0))
    b.call("old", "en", priority=0)
    b.at(180)
    b.call("new", "en", priority=2)
    b.at(181)
    b.router.login(agent("a1", en=3))
    assert b.offers() == [(181, "old", "a1")]


def test_without_enough_aging_priority_wins():
    b = Bench(queue("en", ({"en": 1}, None), aging=1.0))
    b.call("old", "en", priority=0)
    b.at(60)
    b.call("new", "en", priority=2)
    b.at(61)
    b.router.login(agent("a1", en=3))
    assert b.offers() == [(61, "new", "a1")]


def test_ring_no_answer_makes_agent_not_ready_and_call_keeps_its_place():
    b = Bench(queue("en", ({"en": 1}, None)), offer_timeout=10)
    b.router.login(agent("sleepy", en=5))
    b.call("c1", "en")
    b.at(1)
    b.call("c2", "en")
    b.at(10)
    assert b.router.agent("sleepy").state is AgentState.NOT_READY
    assert b.router.agent("sleepy").reason == NotReadyReason.RING_NO_ANSWER
    b.router.login(agent("awake", en=5))
    assert b.offers() == [(0, "c1", "sleepy"), (10, "c1", "awake")]
    assert ("OfferWithdrawn", 10, "c1", "sleepy", "ring-no-answer") in b.trace(OfferWithdrawn)


def test_decline_returns_the_call_and_sets_not_ready():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5))
    b.router.login(agent("a2", en=5))
    b.call("c1", "en")
    b.router.decline("c1", "a1")
    assert b.router.agent("a1").reason == NotReadyReason.DECLINED
    assert b.offers() == [(0, "c1", "a1"), (0, "c1", "a2")]


def test_answer_complete_and_wrap_up():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=30))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.at(2)
    b.router.answer("c1", "a1")
    b.at(100)
    b.router.complete("c1")
    assert b.router.agent("a1").state is AgentState.WRAP_UP
    b.call("c2", "en")
    b.at(129.9)
    assert b.offers() == [(0, "c1", "a1")]
    b.at(130)
    assert b.offers() == [(0, "c1", "a1"), (130, "c2", "a1")]
    assert b.trace(CallAnswered, CallCompleted) == [
        ("CallAnswered", 2, "c1", "a1", "en", 2),
        ("CallCompleted", 100, "c1", "a1", "en", 98),
    ]
    assert b.calls["c1"].state is CallState.COMPLETED


def test_agent_may_end_wrap_up_early():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=30))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.router.answer("c1", "a1")
    b.at(10)
    b.router.complete("c1")
    b.router.set_ready("a1")
    b.call("c2", "en")
    b.at(24)  # the stale wrap-up timer at t=40 ... is after this; ring until t=25
    assert b.router.agent("a1").state is AgentState.RESERVED
    b.at(40)  # the stale wrap-up timer fires while a1 is not-ready (ring-no-answer at 25)
    assert b.offers() == [(0, "c1", "a1"), (10, "c2", "a1")]
    assert b.router.agent("a1").state is AgentState.NOT_READY


def test_abandon_while_waiting():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.call("c1", "en")
    b.at(42)
    b.router.abandon("c1")
    assert b.trace(CallAbandoned) == [("CallAbandoned", 42, "c1", "en", 42)]
    b.router.login(agent("a1", en=5))
    assert b.offers() == []


def test_abandon_while_ringing_frees_the_agent_for_the_next_call():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.call("c2", "en")
    b.at(3)
    b.router.abandon("c1")
    assert b.offers() == [(0, "c1", "a1"), (3, "c2", "a1")]
    assert ("OfferWithdrawn", 3, "c1", "a1", "caller-hung-up") in b.trace(OfferWithdrawn)


def test_overflow_to_another_queue_keeps_seniority():
    b = Bench(
        queue("es", ({"es": 3}, 30), overflow=Overflow(queue="en")),
        queue("en", ({"en": 1}, None)),
    )
    b.call("es-call", "es")
    b.at(10)
    b.call("en-call", "en")
    b.at(30)
    b.router.login(agent("a1", en=5))
    assert b.trace(CallOverflowed) == [("CallOverflowed", 30, "es-call", "es", "en", None)]
    assert b.offers() == [(30, "es-call", "a1")]


def test_overflow_to_a_fallback_leaves_the_acd():
    b = Bench(
        queue(
            "mam",
            ({"mam": 3}, 20),
            ({"interpreter": 1}, 600),
            overflow=Overflow(fallback="voicemail"),
        )
    )
    c = b.call("c1", "mam")
    b.at(620)
    assert c.state is CallState.OVERFLOWED
    assert b.trace(CallOverflowed) == [("CallOverflowed", 620, "c1", "mam", None, "voicemail")]
    assert b.router.waiting() == []


def test_a_ringing_call_overflows_only_if_the_offer_fails():
    b = Bench(queue("q", ({"x": 1}, 20), overflow=Overflow(fallback="voicemail")), offer_timeout=15)
    b.at(10)
    b.router.login(agent("a1", x=1))
    b.call("c1", "q")
    b.at(15)  # offered at 10, rings until 25; the step's limit is at 30
    b.router.login(agent("late", x=1))
    b.at(25)  # ring-no-answer at 25: back in the queue, 'late' gets it
    assert b.offers() == [(10, "c1", "a1"), (25, "c1", "late")]
    b.at(40)  # the step timer fired at 30 while ringing; ring-no-answer again at 40
    assert b.calls["c1"].state is CallState.OVERFLOWED


def test_tiers_decide_between_queues_before_waiting_time():
    b = Bench(queue("es", ({"es": 1}, None)), queue("en", ({"en": 1}, None)))
    b.call("en-old", "en")
    b.at(60)
    b.call("es-new", "es")
    b.router.login(agent("bilingual", ("es", ("en", 2)), es=5, en=4))
    assert b.offers() == [(60, "es-new", "bilingual")]


def test_same_tier_takes_the_oldest_call_across_queues():
    b = Bench(queue("es", ({"es": 1}, None)), queue("en", ({"en": 1}, None)))
    b.call("en-old", "en")
    b.at(60)
    b.call("es-new", "es")
    b.router.login(agent("bilingual", ("es", "en"), es=5, en=4))
    assert b.offers() == [(60, "en-old", "bilingual")]


def test_agent_only_serves_listed_queues():
    b = Bench(queue("es", ({"es": 1}, None)), queue("en", ({"en": 1}, None)))
    b.router.login(agent("es-only", ("es",), es=5, en=5))
    b.call("c1", "en")
    assert b.offers() == []
    assert b.router.agent("es-only").queues == ("es",)


def test_most_skilled_policy():
    b = Bench(queue("es", ({"es": 1}, None)), policy=SelectionPolicy.MOST_SKILLED)
    b.router.login(agent("basic", es=2))
    b.at(5)
    b.router.login(agent("native", es=5))
    b.call("c1", "es")
    assert b.offers() == [(5, "c1", "native")]


def test_round_robin_policy_rotates():
    b = Bench(queue("en", ({"en": 1}, None)), policy=SelectionPolicy.ROUND_ROBIN)
    for a in ("a1", "a2", "a3"):
        b.router.login(agent(a, en=5))
    for i in range(6):
        b.call(f"c{i}", "en")
        b.router.answer(f"c{i}", b.offers()[-1][2])
        b.router.complete(f"c{i}")
    assert [o[2] for o in b.offers()] == ["a1", "a2", "a3", "a1", "a2", "a3"]


def test_longest_idle_resets_after_each_call():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5))
    b.router.login(agent("a2", en=5))
    b.call("c1", "en")
    b.router.answer("c1", "a1")
    b.at(5)
    b.router.complete("c1")
    b.call("c2", "en")
    assert b.offers() == [(0, "c1", "a1"), (5, "c2", "a2")]


def test_logout_waits_for_the_call_to_end():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=10))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.router.answer("c1", "a1")
    assert b.router.logout("a1") is False
    b.at(60)
    b.router.complete("c1")
    b.at(70)
    assert b.trace(AgentLoggedOut) == [("AgentLoggedOut", 70, "a1")]
    with pytest.raises(UnknownAgent):
        b.router.agent("a1")


def test_not_ready_agent_gets_no_calls_until_ready():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5), ready=False)
    b.call("c1", "en")
    assert b.offers() == []
    b.at(30)
    b.router.set_ready("a1")
    assert b.offers() == [(30, "c1", "a1")]
    assert b.trace(AgentStateChanged)[0] == (
        "AgentStateChanged",
        0,
        "a1",
        AgentState.NOT_READY,
        "login",
    )


def test_state_seconds_account_for_every_agent_second():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=10))
    b.router.login(agent("a1", en=5))
    b.at(5)
    b.call("c1", "en")
    b.at(7)
    b.router.answer("c1", "a1")
    b.at(67)
    b.router.complete("c1")
    b.at(100)
    s = b.router.state_seconds()
    assert s[AgentState.RESERVED] == 2
    assert s[AgentState.ON_CALL] == 60
    assert s[AgentState.WRAP_UP] == 10
    assert s[AgentState.AVAILABLE] == 5 + 23
    assert sum(s.values()) == 100


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda b: b.call("x", "nope"), UnknownQueue),
        (lambda b: b.router.answer("ghost", "a1"), UnknownCall),
        (lambda b: b.router.set_ready("ghost"), UnknownAgent),
        (lambda b: b.router.answer("c1", "a1"), InvalidTransition),  # c1 waits, not offered
        (lambda b: b.router.complete("c1"), InvalidTransition),
        (lambda b: b.router.login(agent("a1", en=5)), InvalidTransition),
        (lambda b: b.router.enqueue(b.calls["c1"], "en"), InvalidTransition),
    ],
)
def test_impossible_operations_are_refused_without_changing_anything(action, error):
    b = Bench(queue("en", ({"en": 1}, None)), queue("fr", ({"fr": 1}, None)))
    b.router.login(agent("a1", ("fr",), fr=5, en=5))
    b.call("c1", "en")
    before = list(b.events)
    with pytest.raises(error):
        action(b)
    assert b.events == before
    assert [c.id for c, _ in b.router.waiting()] == ["c1"]


def test_invalid_queues_are_refused_with_every_problem():
    with pytest.raises(ConfigError) as e:
        Bench(queue("a", ({"x": 1}, 10)), queue("b", ({"x": 9}, None)))
    text = str(e.value)
    assert "no overflow" in text
    assert "outside 1..5" in text


def test_answering_someone_elses_offer_is_refused():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.router.login(agent("a1", en=5))
    b.router.login(agent("a2", en=5))
    b.call("c1", "en")
    with pytest.raises(InvalidTransition):
        b.router.answer("c1", "a2")
    b.router.answer("c1", "a1")
    assert b.trace(CallQueued) == [("CallQueued", 0, "c1", "en", 0)]


def test_a_callback_keeps_the_callers_place():
    b = Bench(queue("en", ({"en": 1}, None)))
    b.call("c1", "en")
    b.at(10)
    b.call("c2", "en")
    b.at(70)
    b.router.accept_callback("c1")
    assert b.calls["c1"].callback
    assert ("CallbackAccepted", 70, "c1", "en") in b.trace(CallbackAccepted)
    b.router.login(agent("a1", en=5))
    assert b.offers() == [(70, "c1", "a1")]  # still first in line
    with pytest.raises(InvalidTransition):
        b.router.accept_callback("c1")  # ringing now, and already a callback


def test_logging_in_again_before_the_last_call_ends_keeps_the_session():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=30))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.router.answer("c1", "a1")
    assert b.router.logout("a1") is False  # shift over, call still going
    b.router.login(agent("a1", en=5))  # next shift starts: stays on
    b.at(60)
    b.router.complete("c1")
    b.at(100)
    assert b.router.agent("a1").state is AgentState.AVAILABLE
    assert b.trace(AgentLoggedOut) == []


def test_a_pending_logout_happens_when_the_agent_goes_not_ready():
    b = Bench(queue("en", ({"en": 1}, None), wrap_up=60))
    b.router.login(agent("a1", en=5))
    b.call("c1", "en")
    b.router.answer("c1", "a1")
    b.router.complete("c1")
    b.router.logout("a1")
    b.router.set_not_ready("a1", "break")
    assert b.trace(AgentLoggedOut) == [("AgentLoggedOut", 0, "a1")]


def test_waiting_heaps_nobody_looks_at_do_not_grow():
    # nobody speaks French at level 5, so no agent ever looks at step 0's heap
    b = Bench(queue("q", ({"fr": 5}, 30), ({}, None)))
    b.router.login(agent("a1", en=5))
    for i in range(3000):
        b.call(f"c{i}", "q")
        b.at(b.clock.now + 31)
        b.router.answer(f"c{i}", "a1")
        b.router.complete(f"c{i}")
    step0 = b.router._queues["q"].waiting[0]
    assert len(step0) < 100


def test_serving_counts_the_agents_who_may_be_offered_each_queue():
    b = Bench(queue("en", ({"en": 1}, None)), queue("es", ({"es": 3}, None)))
    b.router.login(agent("a1", en=5, es=1))  # meets no step of es: not counted there
    b.router.login(agent("a2", en=2, es=4))
    assert b.router.serving() == {"en": 2, "es": 1}
    b.router.update_agent(agent("a1", ("es",), es=5))  # now es only
    assert b.router.serving() == {"en": 1, "es": 2}
    b.router.update_queue(queue("es", ({"es": 5}, None)))  # a2 no longer meets it
    assert b.router.serving() == {"en": 1, "es": 1}
    b.call("c1", "en")  # offered to a2, who asks to log out: counted until the call ends
    b.router.answer("c1", "a2")
    b.router.logout("a2")
    assert b.router.serving() == {"en": 1, "es": 1}
    b.router.complete("c1")
    b.router.logout("a1")
    assert b.router.serving() == {"en": 0, "es": 0}
