"""The emulator's callers draw their patience and talk as the simulator draws them from the
same scenario: a caller type's or a queue's own patience before the line's, a language's
own handle time before the line's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hotline.ivr.flow_file import load_flow
from hotline.sim.scenario_file import parse_scenario
from hotline.telephony.emulator.callers import CallerMix

FLOW = Path(__file__).resolve().parents[3] / "scenarios" / "national-hotline.flow.yaml"
SCENARIO = """\
name: callers
arrivals:
  calls_per_day: 2400
  hourly_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
languages:
  en: {name: English, share: 0.4}
  es: {name: Spanish, share: 0.4}
  quc: {name: "K'iche'", share: 0.2, handle: {distribution: fixed, value: 480}}
callers:
  - {type: agency, share: 0.3, priority: 10, queue: "{language}", patience: never}
  - {type: public, share: 0.7, queue: "{language}"}
durations:
  handle: {distribution: fixed, value: 300}
  patience: {distribution: fixed, value: 60}
queues:
  - {name: en, steps: [{require: {en: 1}}]}
  - {name: es, steps: [{require: {es: 1}}], patience: {distribution: fixed, value: 90}}
  - {name: quc, steps: [{require: {quc: 1}}]}
agents:
  - {name: all, count: 3, skills: {en: 5, es: 5, quc: 5}}
"""


def test_callers_wait_and_talk_as_the_scenario_says_for_their_type_queue_and_language():
    mix = CallerMix(parse_scenario(SCENARIO), load_flow(FLOW), np.random.default_rng(5))
    drawn: dict[str, set[tuple[float, float]]] = {}
    for _ in range(200):
        script = mix.next()
        drawn.setdefault(script.label, set()).add((script.patience, script.talk))
    assert drawn == {
        "public/en": {(60.0, 300.0)},  # the line's
        "public/es": {(90.0, 300.0)},  # their queue's patience
        "public/quc": {(60.0, 480.0)},  # their language's handle time
        "agency/en": {(math.inf, 300.0)},  # their type's patience, before their queue's
        "agency/es": {(math.inf, 300.0)},
        "agency/quc": {(math.inf, 480.0)},
    }
