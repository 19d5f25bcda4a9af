"""Scenario files: the shipped one loads; every kind of mistake is named with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.errors import ConfigError
from hotline.sim.scenario_file import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
name: tiny
arrivals:
  calls_per_day: 240
  hourly_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
languages:
  en: {name: English, share: 0.7}
  es: {name: Spanish, share: 0.3}
skills: [interpreter]
callers:
  - {type: public, share: 1, queue: "{language}"}
durations:
  handle: {distribution: exponential, mean: 300}
  patience: {distribution: exponential, mean: 120}
queues:
  - name: en
    steps:
      - {require: {en: 3}}
  - name: es
    steps:
      - {require: {es: 4}, seconds: 20}
      - {require: {interpreter: 1}}
agents:
  - {name: en, count: 2, skills: {en: 5, interpreter: 1}}
  - name: es
    count: 1
    skills: {es: 5, en: 3}
    shifts: [{start: "08:00", hours: 8, days: weekdays}]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_scenario(text, filename="s.yaml")
    return [str(p) for p in e.value.problems]


def test_good_file_loads():
    s = parse_scenario(GOOD)
    assert [q.name for q in s.queues] == ["en", "es"]
    assert s.agent_groups[1].shifts[0].days == frozenset(range(5))
    assert s.agent_groups[1].shifts[0].start == 8.0


def test_shipped_national_scenario_is_valid_and_as_promised():
    s = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
    assert s.calls_per_day == 7000
    assert len(s.languages) >= 12
    assert [lang.tag for lang in s.languages[:2]] == ["en", "es"]
    assert {c.name for c in s.caller_types} == {"agency", "public"}
    agency = next(c for c in s.caller_types if c.name == "agency")
    public = next(c for c in s.caller_types if c.name == "public")
    assert agency.priority > public.priority


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("{require: {es: 4}, seconds: 20}", "{require: {de: 4}, seconds: 20}"),
            "s.yaml:21:20: queues.1.steps.0.require.de: unknown skill or language 'de'",
        ),
        (
            ("calls_per_day: 240", "calls_per_day: -5"),
            "s.yaml:3:3: arrivals.calls_per_day: the call rate must be positive",
        ),
        (
            ("1, 1, 1, 1, 1, 1]", "1, 1, 1, 1, 1]"),
            "s.yaml:4:3: arrivals.hourly_profile: hourly_profile has 23 values but must have 24",
        ),
        (
            ("      - {require: {en: 3}}", "      - {require: {en: 3, interpreter: 2}}"),
            "s.yaml:17:5: queues.0.steps: no agent group meets any step of queue 'en'",
        ),
        (
            (
                "      - {require: {interpreter: 1}}",
                "      - {require: {interpreter: 1}, seconds: 30}",
            ),
            "s.yaml:22:37: queues.1.steps.1.seconds: the last step of 'es' has a time limit "
            "but the queue has no overflow",
        ),
        (
            ('queue: "{language}"', 'queue: "public-{language}"'),
            "s.yaml:11:30: callers.0.queue: public callers speaking 'en' go to queue "
            "'public-en', which does not exist",
        ),
        (
            (
                "patience: {distribution: exponential, mean: 120}",
                "patience: {distribution: gamma, mean: 120}",
            ),
            "s.yaml:14:3: durations.patience: Input tag 'gamma' found",
        ),
        (('start: "08:00"', 'start: "8 am"'), "shifts.0.start: a time of day like"),
        (("name: tiny", "name: tiny\nnmae: oops"), "s.yaml:2:1: nmae: is not a known setting"),
    ],
)
def test_each_mistake_is_reported_at_its_line(change, expected):
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("calls_per_day: 240", "calls_per_day: 0").replace("share: 0.7", "share: -1")
    found = problems(text)
    assert len(found) == 2, found


def test_callbacks_setting():
    s = parse_scenario(GOOD + "callbacks: {offer_after_seconds: 45, accept_share: 0.3}\n")
    assert s.callbacks is not None
    assert (s.callbacks.offer_after, s.callbacks.accept) == (45, 0.3)
    found = problems(GOOD + "callbacks: {offer_after_seconds: 45, accept_share: 1.3}\n")
    assert any("callbacks.accept_share: a share between 0 and 1" in p for p in found), found


def test_agents_who_pick_up_after_the_ring_timeout():
    found = problems(GOOD + "routing: {offer_timeout: 15, answer_delay: 16}\n")
    assert any("every call would go unanswered" in p for p in found), found


def test_a_caller_type_whose_languages_add_up_to_zero():
    found = problems(
        GOOD.replace('queue: "{language}"}', 'queue: "{language}", languages: {en: 0}}')
    )
    assert any("language shares add up to zero" in p for p in found), found


def test_empty_agent_list():
    text = GOOD[: GOOD.index("agents:")] + "agents: []\n"
    found = problems(text)
    assert any("no agents: nobody would answer" in p for p in found), found


def test_overflow_loop_is_impossible():
    text = GOOD.replace(
        "      - {require: {en: 3}}",
        "      - {require: {en: 3}, seconds: 10}\n    overflow: {queue: es}",
    ).replace(
        "      - {require: {interpreter: 1}}",
        "      - {require: {interpreter: 1}, seconds: 10}\n    overflow: {queue: en}",
    )
    found = problems(text)
    assert any("overflow loop: en -> es -> en" in p for p in found), found


def test_yaml_syntax_error_names_the_line():
    found = problems(
        GOOD.replace("  en: {name: English, share: 0.7}", "  en: {name: English, share: 0.7")
    )
    assert found[0].startswith("s.yaml:8:"), found
    assert "not valid YAML" in found[0]


def test_duplicate_key():
    found = problems(GOOD.replace("name: tiny", "name: tiny\nname: again"))
    assert found == ["s.yaml:2:1: key 'name' appears twice (fix: keep one)"]


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_scenario(bad)


def test_not_a_mapping():
    assert problems("- just\n- a list\n") == ["s.yaml:1: expected a mapping of settings"]


def test_names_longer_than_the_store_keeps_are_refused_where_they_stand():
    long = "x" * 65
    text = GOOD.replace("name: tiny", f"name: {long}").replace("- name: es\n", f"- name: {long}\n")
    text = text.replace("{name: en, count: 2", "{name: " + "a" * 63 + ", count: 2")
    assert problems(text.replace('queue: "{language}"', f'queue: "{long}"')) != []
    found = problems(text)
    assert "s.yaml:1:1: name: longer than 64 characters" in found
    assert any(p.startswith("s.yaml:") and "queues.1.name: longer than 64" in p for p in found)
    assert any(f"agent id '{'a' * 63}-1' is longer than 64 characters" in p for p in found)
