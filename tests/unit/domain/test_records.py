"""Events are immutable values; the build compiles the core (setup.py)."""

from __future__ import annotations

import pytest

import hotline.domain.events as events_module
import hotline.routing.engine as engine_module
from hotline.domain.agent import AgentState
from hotline.domain.call import Call, CallState
from hotline.domain.events import AgentStateChanged, CallAnswered, CallOffered


def test_events_compare_by_type_and_fields():
    a = CallOffered(1.0, "c1", "a1", "en")
    assert a == CallOffered(1.0, "c1", "a1", "en")
    assert a != CallOffered(1.0, "c1", "a2", "en")
    assert a != ("CallOffered", 1.0, "c1", "a1", "en")
    assert hash(a) == hash(CallOffered(1.0, "c1", "a1", "en"))
    assert len({a, CallOffered(1.0, "c1", "a1", "en")}) == 1
    assert repr(a) == "CallOffered(at=1.0, call_id='c1', agent_id='a1', queue='en')"
    assert AgentStateChanged(0.0, "a1", AgentState.AVAILABLE).reason is None


def test_events_cannot_be_changed():
    e = CallAnswered(1.0, "c1", "a1", "en", 2.5)
    with pytest.raises(AttributeError):
        e.waited = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        e.extra = 1  # type: ignore[attr-defined]
    assert e.waited == 2.5


def test_a_call_starts_arrived_and_its_identity_is_fixed():
    c = Call("c1", "es", "public", 3.0, priority=2)
    assert c.state is CallState.ARRIVED
    c.enter_ivr(3.0)
    assert c.state.value == "in_ivr"  # (mypy would narrow `c.state` to ARRIVED above)
    with pytest.raises(ValueError, match="cannot enter the IVR"):
        c.enter_ivr(4.0)
    with pytest.raises(AttributeError):
        setattr(c, "id", "other")  # noqa: B010 - a runtime check, not a typing one


def test_the_core_is_compiled():
    # setup.py compiles these with mypyc; a pure-Python install (HOTLINE_PURE_PYTHON=1) is
    # for debugging only and is not what the suite or the benchmarks measure.
    for module in (events_module, engine_module):
        assert module.__file__ is not None
        assert module.__file__.endswith(".so"), module.__file__
