"""Patience per caller type and per queue: agency officers who never hang up, a queue whose
callers wait longer than the line's; a caller type's own patience comes first."""

from __future__ import annotations

import math

from hotline.sim.distributions import Fixed
from hotline.sim.driver import Simulation
from hotline.sim.scenario_file import parse_scenario

SCENARIO = """\
name: patience
seed: 3
arrivals:
  calls_per_day: 2400
  hourly_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
languages:
  en: {name: English, share: 0.5}
  es: {name: Spanish, share: 0.5}
callers:
  - {type: agency, share: 0.3, priority: 0, queue: "{language}", patience: never}
  - {type: public, share: 0.7, queue: "{language}"}
durations:
  handle: {distribution: exponential, mean: 300}
  patience: {distribution: exponential, mean: 30}
queues:
  - {name: en, steps: [{require: {en: 1}}]}
  - {name: es, steps: [{require: {es: 1}}], patience: never}
agents:
  - {name: en, count: 7, skills: {en: 5}}
  - {name: es, count: 7, skills: {es: 5}}
"""


def test_patience_is_read_per_caller_type_and_per_queue():
    s = parse_scenario(SCENARIO)
    agency, public = s.caller_types
    assert agency.patience == Fixed(math.inf)
    assert public.patience is None
    assert s.patience_of(public, "es") == Fixed(math.inf)
    assert s.patience_of(public, "en") is None  # the line's
    assert s.patience_of(agency, "en") == Fixed(math.inf)  # the caller type's comes first


def test_callers_who_never_hang_up_never_abandon():
    # 50 calls an hour per language at 300 s on 7 agents: 60 % load; against a 30 s
    # patience some 7 % of the ~840 public callers in English hang up over the day (62
    # with this seed): far from zero, where the callers who never hang up must stay
    s = parse_scenario(SCENARIO)
    abandoned: dict[tuple[str, str], int] = {}
    kinds: dict[str, str] = {}

    def trace(ev: object) -> None:
        name = type(ev).__name__
        if name == "CallArrived":
            kinds[ev.call_id] = ev.caller_type  # type: ignore[attr-defined]
        elif name == "CallAbandoned":
            key = (kinds[ev.call_id], ev.queue)  # type: ignore[attr-defined]
            abandoned[key] = abandoned.get(key, 0) + 1

    Simulation(scenario=s, trace=trace).run()
    assert abandoned.get(("public", "en"), 0) > 20
    assert abandoned.get(("agency", "en"), 0) == 0  # agency officers never hang up
    assert abandoned.get(("public", "es"), 0) == 0  # nor does anyone in the es queue
    assert abandoned.get(("agency", "es"), 0) == 0
