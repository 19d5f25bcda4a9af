"""Every node kind, driven through the pure interpreter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from hotline.ivr.interpreter import (
    Action,
    Digits,
    Enqueue,
    Gather,
    Guard,
    HangUp,
    Hangup,
    Input,
    Lookup,
    LookupResult,
    Play,
    Record,
    Say,
    Session,
    Speech,
    Timeout,
    Transfer,
    advance,
    start,
)
from hotline.ivr.model import Flow

from .conftest import call

MENU = {
    "menu": {
        "prompt": "menu",
        "choices": [
            {"key": 1, "words": "words_sales", "next": "sales"},
            {"key": 2, "words": "words_help", "next": "help"},
        ],
        "default": "help",
        "retries": 2,
    }
}
SALES = {"enqueue": {"queue": "sales", "priority": 3, "prompt": "hold"}}
HELP = {"enqueue": {"queue": "help"}}


def said(actions: Sequence[Action]) -> list[str]:
    out = []
    for a in actions:
        if isinstance(a, Gather):
            out += [p.text for p in a.prompts if isinstance(p, Say)]
        elif isinstance(a, Say):
            out.append(a.text)
    return out


def run(flow: Flow, inputs: list[Input], **kw: Any) -> tuple[Session, list[Action]]:
    step = start(flow, call(**kw))
    actions = list(step.actions)
    for event in inputs:
        step = advance(flow, step.session, event)
        actions += step.actions
    return step.session, actions


def test_say_play_and_hangup(make_flow):
    flow = make_flow(
        {
            "start": {"say": "hello", "next": "music"},
            "music": {"play": "https://example.org/hold.wav", "next": "end"},
            "end": {"hangup": "bye"},
        }
    )
    s, actions = run(flow, [])
    assert actions == [
        Say("Hello.", "en", "Polly.Joanna"),
        Play("https://example.org/hold.wav"),
        Say("Goodbye.", "en", "Polly.Joanna"),
        Hangup(),
    ]
    assert s.outcome == "hung-up"
    assert s.ended


def test_menu_by_key_and_by_speech(make_flow):
    flow = make_flow({"start": MENU, "sales": SALES, "help": HELP})
    step = start(flow, call())
    (gather,) = step.actions
    assert isinstance(gather, Gather)
    assert gather.speech
    assert gather.num_digits == 1
    assert "buy" in gather.hints
    _, actions = run(flow, [Digits("1")])
    assert actions[-1] == Enqueue("sales", 3, "en", {})
    assert said(actions)[-1] == "Please hold."
    _s, actions = run(flow, [Speech("I need SUPPORT please", 0.9)])
    assert actions[-1] == Enqueue("help", 0, "en", {})


def test_menu_reprompts_on_unknown_keys_and_unsure_speech_then_takes_the_default(make_flow):
    flow = make_flow({"start": MENU, "sales": SALES, "help": HELP})
    step = start(flow, call())
    step = advance(flow, step.session, Digits("7"))
    assert said(step.actions) == ["Not valid.", "Press 1 for sales, 2 for help."]
    step = advance(flow, step.session, Speech("sales", 0.2))  # too unsure to act on
    assert said(step.actions) == ["Not valid.", "Press 1 for sales, 2 for help."]
    step = advance(flow, step.session, Timeout())
    assert step.session.outcome == "enqueued"
    assert step.actions[-1] == Enqueue("help", 0, "en", {})


def test_menu_timeout_says_no_input(make_flow):
    flow = make_flow({"start": MENU, "sales": SALES, "help": HELP})
    step = advance(flow, start(flow, call()).session, Timeout())
    assert said(step.actions)[0] == "Nothing heard."


def test_language_detected_from_the_callers_number_is_confirmed_by_waiting(make_flow):
    flow = make_flow(
        {
            "start": {
                "language": {
                    "detect": True,
                    "options": [
                        {"key": 1, "language": "en"},
                        {"key": 2, "language": "es"},
                        {"key": 3, "language": "quc", "announce_in": "es"},
                    ],
                },
                "next": "hello",
            },
            "hello": {"say": "hello", "next": "q"},
            "q": {"enqueue": {"queue": "{language}"}},
        }
    )
    step = start(flow, call("+525512345678"))  # Mexico City
    assert said(step.actions) == ["Para español oprima 1."]
    _s, actions = run(flow, [Timeout()], caller="+525512345678")
    assert said(actions)[-1] == "Hola."
    assert actions[-1] == Enqueue("es", 0, "es", {})
    # pressing 2 instead opens the full menu, each language announced in itself
    step = advance(flow, start(flow, call("+525512345678")).session, Digits("2"))
    assert said(step.actions) == [
        "For English, press 1.",
        "Para español, oprima 2.",
        "Para K'iche', oprima 3.",
    ]
    step = advance(flow, step.session, Digits("1"))
    assert step.actions[-1] == Enqueue("en", 0, "en", {})


def test_an_interpreted_language_goes_to_the_interpreter_path_not_english(make_flow):
    flow = make_flow(
        {
            "start": {
                "language": {
                    "options": [{"key": 1, "language": "en"}, {"key": 2, "language": "quc"}]
                },
                "next": "hello",
            },
            "hello": {"say": "hello", "next": "q"},
            "q": {"enqueue": {"queue": "en"}},
        }
    )
    _s, actions = run(flow, [Digits("2")])
    assert actions[-1] == Enqueue("quc", 0, "quc", {})
    assert "Hello." not in said(actions[1:])  # nothing played in English after the menu


def test_language_menu_pages_and_default_after_retries(make_flow):
    flow = make_flow(
        {
            "start": {
                "language": {"options": [{"key": 1, "language": "en"}, {"key": 9, "next": "more"}]},
                "next": "q",
            },
            "more": {"language": {"options": [{"key": 1, "language": "es"}]}, "next": "q"},
            "q": {"enqueue": {"queue": "{language}"}},
        }
    )
    step = start(flow, call())
    assert said(step.actions) == ["For English, press 1.", "More languages: 9."]
    _, actions = run(flow, [Digits("9"), Digits("1")])
    assert actions[-1] == Enqueue("es", 0, "es", {})
    _s, actions = run(flow, [Digits("5"), Timeout(), Digits("8")])  # three failures
    assert actions[-1] == Enqueue("en", 0, "en", {})


def collect_flow(make_flow: Callable[..., Flow], **collect: Any) -> Flow:
    spec = {"prompt": "code", "var": "code", "min_length": 4, "max_length": 6, **collect}
    return make_flow(
        {
            "start": {"collect": spec, "next": "ok", "failed": "nope"},
            "ok": {"enqueue": {"queue": "sales", "attributes": {"code": "{code}"}}},
            "nope": {"enqueue": {"queue": "help"}},
        }
    )


def test_collect_validates_length_pattern_and_checksum(make_flow):
    flow = collect_flow(make_flow, pattern="4.*", checksum="luhn")
    step = start(flow, call())
    assert step.actions[0] == Gather(
        (Say("Enter your code.", "en", "Polly.Joanna"),), True, False, 6, "#", 6.0, "en"
    )
    _, actions = run(flow, [Digits("400010#")])  # Luhn-valid, starts with 4
    assert actions[-1] == Enqueue("sales", 0, "en", {"code": "400010"})
    for bad in ("123#", "400011#", "123455#", "4000100#"):  # short, checksum, pattern, long
        step = advance(flow, start(flow, call()).session, Digits(bad))
        assert said(step.actions)[0] == "Not valid.", bad
    _s, actions = run(flow, [Digits("1"), Digits("2"), Digits("3")])
    assert actions[-1] == Enqueue("help", 0, "en", {})


def test_a_secret_is_masked_passed_to_the_lookup_once_then_erased(make_flow):
    flow = make_flow(
        {
            "start": {
                "collect": {"prompt": "pin", "var": "pin", "max_length": 8, "secret": True},
                "next": "check",
                "failed": "nope",
            },
            "check": {
                "lookup": {
                    "connector": "directory",
                    "operation": "verify",
                    "params": {"pin": "{pin}", "who": "{caller}"},
                    "save": "agent",
                    "keep": ["team"],
                },
                "next": "ok",
                "not_found": "nope",
                "error": "nope",
            },
            "ok": {"enqueue": {"queue": "sales", "attributes": {"team": "{agent.team}"}}},
            "nope": {"enqueue": {"queue": "help"}},
        }
    )
    step = start(flow, call())
    assert isinstance(step.actions[0], Gather)
    assert step.actions[0].secret
    step = advance(flow, step.session, Digits("2468#"))
    (lookup,) = step.actions
    assert lookup == Lookup(
        "directory", "verify", {"pin": "2468", "who": "+12025550143"}, frozenset({"pin"})
    )
    assert "2468" not in repr(lookup)
    assert "2468" not in repr(step.session)
    assert step.session.waiting == "lookup"
    ignored = advance(flow, step.session, Digits("5"))  # keys while we look up
    assert ignored.actions == ()
    assert ignored.session == step.session
    done = advance(flow, step.session, LookupResult("found", {"team": "north", "home": "x"}))
    assert done.actions[-1] == Enqueue("sales", 0, "en", {"team": "north"})
    assert "pin" not in done.session.vars  # used once, then gone
    assert "agent.home" not in done.session.vars  # a field the flow does not keep
    failed = advance(flow, step.session, Timeout())  # the connector never answered
    assert failed.actions[-1] == Enqueue("help", 0, "en", {})


def test_set_and_branch_on_variables_counters_and_time_of_day(make_flow):
    flow = make_flow(
        {
            "start": {"set": {"tries": {"add": 1}, "kind": "x-{caller_country}"}, "next": "b"},
            "b": {
                "branch": [
                    {
                        "when": {"all": [{"var": "tries", "gte": 2}, {"kind": "x-US"}]},
                        "next": "help",
                    },
                    {
                        "when": {"time": {"from": "22:00", "to": "06:00", "days": "weekdays"}},
                        "next": "night",
                    },
                    {"when": {"not": {"var": "tries", "lt": 1}}, "next": "start"},
                ],
                "otherwise": "help",
            },
            "help": HELP,
            "night": {"enqueue": {"queue": "sales"}},
        }
    )
    # 14:00: second pass through `start` makes tries 2 -> help
    s, actions = run(flow, [])
    assert actions[-1] == Enqueue("help", 0, "en", {})
    assert s.vars["tries"] == "2"
    # Thursday 02:00 belongs to Wednesday night (a weekday)
    s, actions = run(flow, [], local_time=datetime(2026, 11, 26, 2, 0))
    assert actions[-1] == Enqueue("sales", 0, "en", {})
    # Saturday 23:00 is not a weekday night
    s, actions = run(flow, [], local_time=datetime(2026, 11, 28, 23, 0))
    assert actions[-1] == Enqueue("help", 0, "en", {})


CALLBACK = {
    "start": {
        "offer_callback": {"prompt": "offer", "queue": "{language}", "min_wait": 300},
        "next": "q",
    },
    "q": {"enqueue": {"queue": "{language}", "prompt": "hold", "callback_prompt": "called_back"}},
}


@pytest.mark.parametrize(
    ("wait", "keys", "outcome"),
    [
        (100, [], "enqueued"),
        (400, [Digits("1")], "callback"),
        (400, [Digits("2")], "enqueued"),
        (400, [Timeout()], "enqueued"),
    ],
)
def test_callback_is_offered_only_when_the_wait_is_long(make_flow, wait, keys, outcome):
    flow = make_flow(CALLBACK)
    s, actions = run(flow, keys, waits={"en": wait})
    assert s.outcome == outcome
    if outcome == "callback":
        assert actions[-3:] == [
            Say("We will call you back.", "en", "Polly.Joanna"),
            Enqueue("en", 0, "en", {}, True, "+12025550143"),
            Hangup(),
        ]
    if wait == 400:
        assert said(actions)[0] == "The wait is 7 minutes. Press 1 for a callback."


def test_callback_prompt_uses_the_callers_language_formats(make_flow):
    flow = make_flow(CALLBACK)
    step = start(flow, call(language="es", waits={"es": 3600}))
    assert said(step.actions) == ["La espera es de 60 minutos. Oprima 1 para que le llamemos."]


def test_transfer_and_voicemail(make_flow):
    flow = make_flow(
        {
            "start": {
                "menu": {"prompt": "menu", "choices": [{"key": 1, "next": "out"}], "default": "vm"}
            },
            "out": {"transfer": {"number": "+12025550199", "prompt": "hold"}},
            "vm": {"voicemail": {"prompt": "bye", "max_seconds": 60}},
        }
    )
    s, actions = run(flow, [Digits("1")])
    assert actions[-1] == Transfer("+12025550199")
    assert s.outcome == "transferred"
    s, actions = run(flow, [Timeout(), Timeout(), Timeout()])
    assert actions[-2:] == [Record(60), Hangup()]
    assert s.outcome == "voicemail"


def test_hang_up_ends_the_call_and_later_events_do_nothing(make_flow):
    flow = make_flow({"start": MENU, "sales": SALES, "help": HELP})
    step = advance(flow, start(flow, call()).session, HangUp())
    assert step.session.outcome == "caller-hung-up"
    assert step.actions == ()
    later = advance(flow, step.session, Digits("1"))
    assert later.actions == ()
    assert later.session == step.session


def test_a_flow_that_runs_away_puts_the_caller_in_the_fallback_queue(make_flow):
    # a legal loop (the menu has an exit) that a caller keeps choosing
    flow = make_flow(
        {
            "start": {
                "menu": {
                    "prompt": "menu",
                    "choices": [{"key": 1, "next": "start"}, {"key": 2, "next": "help"}],
                    "default": "help",
                }
            },
            "help": HELP,
        },
        defaults={"max_steps": 10},
    )
    s, actions = run(flow, [Digits("1")] * 20)
    assert s.outcome == "enqueued"
    assert actions[-1] == Enqueue("help", 0, "en", {})
    assert s.steps == 10


def test_subflows_are_inlined_and_return_to_the_caller(make_flow):
    flow = make_flow(
        {
            "start": {"subflow": "greet", "next": "q"},
            "q": {"enqueue": {"queue": "sales"}},
        },
        subflows={"greet": {"start": "hi", "nodes": {"hi": {"say": "hello", "next": "return"}}}},
    )
    assert "start/hi" in flow.nodes
    _s, actions = run(flow, [])
    assert said(actions) == ["Hello."]
    assert actions[-1] == Enqueue("sales", 0, "en", {})


def test_odd_waits_digits_and_numbers_never_raise(make_flow):
    flow = make_flow(CALLBACK)
    _, actions = run(flow, [Digits("2")], waits={"en": float("inf")})
    assert said(actions)[0].startswith("The wait is 24 hours")  # capped at a day
    s, _ = run(flow, [], waits={"en": float("nan")})
    assert s.outcome == "enqueued"
    s, _ = run(flow, [Digits("1")], caller="anonymous", waits={"en": 900})
    assert s.outcome == "enqueued"  # no callback offered to a withheld number
    flow = collect_flow(make_flow, checksum="luhn")
    step = advance(flow, start(flow, call()).session, Digits("²²²²"))
    assert said(step.actions)[0] == "Not valid."


def test_a_preselected_interpreted_language_goes_straight_to_the_interpreter(make_flow):
    flow = make_flow({"start": MENU, "sales": SALES, "help": HELP})
    _, actions = run(flow, [], language="quc")
    assert actions == [Enqueue("quc", 0, "quc", {})]


def test_a_lookup_with_a_lockout_names_its_key_and_a_locked_answer_has_its_own_way(make_flow):
    check = {
        "lookup": {
            "connector": "directory",
            "operation": "verify",
            "params": {"id": "{code}", "pin": "{pin}"},
            "lockout": {"key": "{code}", "failures": 5, "minutes": 60},
        },
        "next": "ok",
        "not_found": "nope",
        "error": "nope",
    }
    nodes = {
        "start": {"collect": {"prompt": "code", "var": "code", "max_length": 6}, "next": "pin",
                  "failed": "nope"},
        "pin": {"collect": {"prompt": "pin", "var": "pin", "max_length": 8, "secret": True},
                "next": "check", "failed": "nope"},
        "check": check,
        "ok": SALES,
        "nope": HELP,
        "locked": {"enqueue": {"queue": "help", "priority": 7}},
    }  # fmt: skip
    flow = make_flow({**nodes, "check": {**check, "locked": "locked"}})
    session, actions = run(flow, [Digits("123455#"), Digits("2468#")])
    lookup = actions[-1]
    assert isinstance(lookup, Lookup)
    assert lookup.guard == Guard("123455", 5, 3600.0)
    assert "2468" not in repr(lookup)
    assert advance(flow, session, LookupResult("locked")).actions[-1] == Enqueue(
        "help", 7, "en", {}
    )
    assert advance(flow, session, LookupResult("not_found")).actions[-1] == Enqueue(
        "help", 0, "en", {}
    )

    plain = make_flow({k: v for k, v in nodes.items() if k != "locked"})  # as not found
    session, _ = run(plain, [Digits("123455#"), Digits("2468#")])
    assert advance(plain, session, LookupResult("locked")).actions[-1] == Enqueue(
        "help", 0, "en", {}
    )
