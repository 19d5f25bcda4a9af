"""Golden transcripts of the national hotline's demo flow: what each kind of caller hears
and where the call ends. Regenerate after an intended change with
HOTLINE_UPDATE_GOLDEN=1 pytest tests/unit/ivr/test_demo_flow.py, then read the diff."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from hotline.ivr.flow_file import load_flow
from hotline.ivr.interpreter import (
    CallStarted,
    Enqueue,
    Gather,
    Hangup,
    Lookup,
    Say,
    advance,
    start,
)
from hotline.records.port import LookupRequest
from hotline.service.flow_console import to_input
from hotline.testing.connectors import InMemoryConnector

ROOT = Path(__file__).resolve().parents[3]
FLOW = ROOT / "scenarios" / "national-hotline.flow.yaml"
DIRECTORY = ROOT / "scenarios" / "demo-agency-directory.yaml"
GOLDEN = Path(__file__).parent / "golden"
AFTERNOON = datetime(2026, 11, 25, 14, 0)
NIGHT = datetime(2026, 11, 25, 23, 30)

CASES = {
    # a US caller who just waits through the language question, then asks for help
    "us-public-stays-on-line": ("+12025550143", AFTERNOON, "normal", {}, ["timeout", "2"], None),
    # a Mexican number: Spanish is offered first; a verified officer with an urgent case
    "mx-agency-urgent": (
        "+525512345678",
        AFTERNOON,
        "normal",
        {},
        ["1", "1", "123455#", "2468#", "1"],
        "found",
    ),
    # an officer calling from a number registered to their agency: verified by it, no PIN
    "us-agency-registered-number": (
        "+12025550999",
        AFTERNOON,
        "normal",
        {},
        ["1", "1", "2"],
        None,
    ),
    # wrong PIN three times: answered as an unverified officer
    "agency-three-failures": (
        "+12025550143",
        AFTERNOON,
        "normal",
        {},
        ["1", "1", "123455#", "1111#", "123455#", "2222#", "123455#", "3333#"],
        None,
    ),
    # the directory is down: unverified, not stuck
    "agency-directory-down": (
        "+12025550143",
        AFTERNOON,
        "normal",
        {},
        ["1", "1", "123455#", "2468#"],
        "error",
    ),
    # Spanish at night with a long wait: accepts a callback
    "es-night-callback": ("+525512345678", NIGHT, "normal", {"es": 900}, ["1", "2", "1"], None),
    # K'iche' from the second page of the language menu: the interpreter path
    "kiche-interpreter": ("+12025550143", AFTERNOON, "normal", {}, ["2", "9", "5"], None),
    # a Korean caller answers by voice
    "ko-speech-agency-unsure-then-sure": (
        "+82212345678",
        AFTERNOON,
        "normal",
        {},
        ["1", "기관@0.2", "기관", "400010#", "1357#", "2"],
        None,
    ),
    # emergency mode adds a notice; an Arabic caller from Egypt
    "eg-emergency-mode": ("+20223456789", AFTERNOON, "emergency", {}, ["1", "2"], None),
}


def transcript(case: str) -> str:
    caller, at, mode, waits, tokens, forced = CASES[case]
    flow = load_flow(FLOW)
    directory = InMemoryConnector.from_file(DIRECTORY)
    if forced == "error":
        directory.broken = True
    lines: list[str] = []
    step = start(flow, CallStarted(caller, "+18005550100", at, mode, waits))
    inputs = iter(tokens)
    while True:
        pending: Gather | Lookup | None = None
        for a in step.actions:
            if isinstance(a, Gather):
                lines += [f"ivr[{p.language}]: {p.text}" for p in a.prompts if isinstance(p, Say)]
                how = (
                    [f"gather {a.num_digits} keys"] + ["speech"] * a.speech + ["secret"] * a.secret
                )
                lines.append(f"  ({', '.join(how)})")
                pending = a
            elif isinstance(a, Say):
                lines.append(f"ivr[{a.language}]: {a.text}")
            elif isinstance(a, Lookup):
                lines.append(f"  {a!r}")
                pending = a
            elif isinstance(a, Enqueue):
                lines.append(
                    f"ENQUEUE {a.queue} priority={a.priority} language={a.language} "
                    f"callback={a.callback} {dict(a.attributes)}"
                )
            elif isinstance(a, Hangup):
                lines.append("HANGUP")
        if step.session.ended:
            lines.append(f"outcome: {step.session.outcome}")
            return "\n".join(lines) + "\n"
        if isinstance(pending, Lookup):
            result = directory.lookup(LookupRequest(pending.operation, pending.params))
            lines.append(f"  -> {result.status}")
            step = advance(flow, step.session, result)
            continue
        assert pending is not None
        token = next(inputs, "timeout")
        lines.append(f"caller: {'****' if pending.secret else token}")
        step = advance(flow, step.session, to_input(token))


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    got = transcript(case)
    path = GOLDEN / f"{case}.txt"
    if os.environ.get("HOTLINE_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_the_demo_flow_validates_against_the_national_scenario():
    from hotline.sim.scenario_file import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    flow = load_flow(FLOW, line_queues=[q.name for q in scenario.queues])
    voiced = [t for t in flow.languages if flow.voiced(t)]
    assert len(voiced) >= 12
    # every scenario language is offered by the flow
    assert {lang.tag for lang in scenario.languages} <= set(flow.languages)


def menu_of(caller: str, keys: list[str]) -> Gather:
    """The Gather a caller from `caller` hears after pressing `keys` in the demo flow."""
    flow = load_flow(FLOW)
    step = start(flow, CallStarted(caller, "+18005550100", local_time=AFTERNOON))
    for key in keys:
        step = advance(flow, step.session, to_input(key))
    (gather,) = [a for a in step.actions if isinstance(a, Gather)]
    return gather


def test_a_kreyol_caller_is_asked_for_keys_the_others_for_keys_or_words():
    """The carrier recognises no speech in Haitian Creole: the caller-type menu listens for
    keys alone (and its prompt names only keys), where a Spanish caller may say a word."""
    ht = menu_of("+50937001234", ["1"])  # kept Kreyòl, then: officer or public?
    assert ht.language == "ht"
    assert (ht.speech, ht.hints) == (False, ())
    (prompt,) = [p for p in ht.prompts if isinstance(p, Say)]
    assert "peze 1" in prompt.text
    assert " di " not in prompt.text  # ("say": nothing would hear it)
    es = menu_of("+525512345678", ["1"])
    assert es.language == "es"
    assert es.speech
    assert "agencia" in es.hints
