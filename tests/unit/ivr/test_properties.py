"""Whatever a caller does, the call ends in a queue, a transfer, voicemail or a hang-up,
within a bounded number of inputs, and the interpreter never raises."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.ivr.flow_file import load_flow
from hotline.ivr.interpreter import (
    CallStarted,
    Digits,
    Enqueue,
    HangUp,
    LookupResult,
    Speech,
    Timeout,
    advance,
    start,
)

ROOT = Path(__file__).resolve().parents[3]
FLOW = load_flow(ROOT / "scenarios" / "national-hotline.flow.yaml")

events = st.one_of(
    st.builds(Digits, st.text(alphabet="0123456789*#", min_size=0, max_size=12)),
    st.builds(Speech, st.text(max_size=30), st.floats(min_value=0, max_value=1)),
    st.just(Timeout()),
    st.builds(
        LookupResult,
        st.sampled_from(["found", "not_found", "error"]),
        st.dictionaries(st.sampled_from(["name", "kind"]), st.text(max_size=10), max_size=2),
    ),
    st.just(HangUp()) | st.just(Timeout()),  # hang-ups rarer than other inputs
)
calls = st.builds(
    CallStarted,
    caller=st.sampled_from(
        ["+12025550143", "+525512345678", "+82212345678", "+50222345678", "+999", "garbage"]
    ),
    called=st.just("+18005550100"),
    local_time=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
    mode=st.sampled_from(["normal", "holiday", "emergency", "unknown-mode"]),
    waits=st.dictionaries(st.sampled_from(sorted(FLOW.queues)), st.floats(0, 7200), max_size=5),
    language=st.none() | st.sampled_from([*FLOW.languages, "xx"]),
)  # fmt: skip

# Each input either counts a retry at a node (at most `retries` per node) or moves to
# another node (at most max_steps); the default retries are 2.
BOUND = FLOW.max_steps * 4


@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(call=calls, inputs=st.lists(events, max_size=40))
def test_any_caller_reaches_an_end(call, inputs):
    step = start(FLOW, call)
    fed = 0
    pending = list(inputs)
    while not step.session.ended:
        assert fed <= BOUND, step.session
        if pending:
            event = pending.pop(0)
        elif step.session.waiting == "lookup":
            event = LookupResult("error")
        else:
            event = Timeout()  # the caller falls silent: retries run out, defaults apply
        step = advance(FLOW, step.session, event)
        fed += 1
    assert step.session.outcome in (
        "enqueued",
        "callback",
        "transferred",
        "voicemail",
        "hung-up",
        "caller-hung-up",
    )
    queued = [a for a in step.actions if isinstance(a, Enqueue)]
    if step.session.outcome in ("enqueued", "callback"):
        assert len(queued) == 1
        assert queued[0].queue in FLOW.queues
    # secrets never outlive the look-up that used them, and never show in a repr
    assert "pin" not in step.session.vars or "pin" in step.session.secrets


@settings(max_examples=100, deadline=timedelta(seconds=2))
@given(call=calls, inputs=st.lists(events, max_size=60))
def test_events_after_the_end_change_nothing(call, inputs):
    step = start(FLOW, call)
    for e in inputs:
        step = advance(FLOW, step.session, e)
    ended = advance(FLOW, step.session, HangUp())
    assert ended.session.ended
    again = advance(FLOW, ended.session, Digits("1"))
    assert again.actions == ()
    assert again.session == ended.session
