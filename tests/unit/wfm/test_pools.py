"""Pools chosen by the planner: candidates from the skill mix, the exact partition, the
staffing to weekly targets, the simulator's check, and the errors a planner can cause."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from hotline.errors import ConfigError
from hotline.sim.driver import Simulation
from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import parse_scenario
from hotline.wfm.demand import weekly_demand
from hotline.wfm.pools import (
    Checking,
    PoolTarget,
    SkillMix,
    Uncoverable,
    best_partitions,
    candidate_pools,
    choose_pools,
    interpreter_route,
    requirement,
    ring_loss,
    scenario_mix,
    simulate_languages,
    weekly_figures,
)
from hotline.wfm.skill_mix import parse_skill_mix
from hotline.wfm.staffing import Target, erlang_c_table

# A small line: English and Spanish (bilingual Spanish agents), French and Haitian Creole
# (agents who speak both), and two interpreted Mayan languages nobody speaks, which the
# interpreter line (English speakers with the `interpreter` skill) may answer.
SMALL = """\
name: small multilingual line
seed: 3
arrivals:
  calls_per_day: 900
  hourly_profile: [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
languages:
  en: {name: English, share: 0.6}
  es: {name: Spanish, share: 0.18}
  fr: {name: French, share: 0.06}
  ht: {name: Haitian Creole, share: 0.06}
  quc: {name: "K'iche'", share: 0.05, handle: &slow {distribution: lognormal, mean: 480, sd: 200}}
  mam: {name: Mam, share: 0.05, handle: *slow}
skills: [interpreter]
callers:
  - {type: public, share: 1, queue: "{language}"}
durations:
  handle: {distribution: lognormal, mean: 300, sd: 160}
  patience: {distribution: exponential, mean: 240}
routing: {answer_delay: 3}
service_level: {answer_within: 10}
queues:
  - {name: en, wrap_up_seconds: 30, steps: [{require: {en: 4}}]}
  - {name: es, wrap_up_seconds: 30, steps: [{require: {es: 4}}]}
  - name: fr
    wrap_up_seconds: 30
    steps: [{require: {fr: 4}, seconds: 20}, {require: {interpreter: 1}}]
  - name: ht
    wrap_up_seconds: 30
    steps: [{require: {ht: 4}, seconds: 20}, {require: {interpreter: 1}}]
  - name: quc
    wrap_up_seconds: 30
    steps: [{require: {quc: 3}, seconds: 20}, {require: {interpreter: 1}, seconds: 600}]
    overflow: {fallback: voicemail}
  - name: mam
    wrap_up_seconds: 30
    steps: [{require: {mam: 3}, seconds: 20}, {require: {interpreter: 1}, seconds: 600}]
    overflow: {fallback: voicemail}
agents:
  - {name: en, count: 10, skills: {en: 5}}
  - {name: es, count: 4, skills: {es: 5, en: 4}, queues: [es]}
  - {name: ht-fr, count: 2, skills: {ht: 5, fr: 4, en: 4}, queues: [ht, fr]}
  - {name: interp, count: 2, skills: {en: 5, interpreter: 1}, queues: [fr, ht, quc, mam]}
"""

MAYAN = frozenset({"quc", "mam"})
TARGET = Target(0.9, 10)


def small() -> Scenario:
    return parse_scenario(SMALL)


def test_candidates_are_the_sets_of_queues_one_profile_answers():
    s = small()
    d = weekly_demand(s)
    got = {(p.queues, p.interpreted, p.profile.name)
           for p in candidate_pools(s, d, scenario_mix(s), MAYAN)}  # fmt: skip
    assert got == {
        # a queue alone: the scenario's English agents, else a dedicated speaker
        (("en",), (), "en"),
        (("es",), (), "es-dedicated"),
        (("fr",), (), "fr-dedicated"),
        (("ht",), (), "ht-dedicated"),
        (("quc",), (), "quc-dedicated"),
        (("mam",), (), "mam-dedicated"),
        # the bilingual Spanish agents answer English too (en 4 meets the en queue's step)
        (("en", "es"), (), "es"),
        # the French and Creole speakers: every set of en, fr and ht
        (("en", "fr"), (), "ht-fr"),
        (("en", "ht"), (), "ht-fr"),
        (("fr", "ht"), (), "ht-fr"),
        (("en", "fr", "ht"), (), "ht-fr"),
        # the interpreter line: English, and the interpreted languages from the start
        (("en", "quc"), ("quc",), "interp"),
        (("en", "mam"), ("mam",), "interp"),
        (("quc", "mam"), ("quc", "mam"), "interp"),
        (("en", "quc", "mam"), ("quc", "mam"), "interp"),
    }
    # not interpreted: the interpreter line may not take them from the start
    plain = candidate_pools(s, d, scenario_mix(s), frozenset())
    assert not any(p.interpreted for p in plain)
    assert len(plain) == 11
    # at most one queue a pool: the dedicated pools, one per queue
    assert [p.queues for p in candidate_pools(s, d, scenario_mix(s), MAYAN, largest=1)] == [
        ("en",), ("es",), ("fr",), ("ht",), ("quc",), ("mam",)
    ]  # fmt: skip


def test_the_interpreter_line_takes_the_queue_from_the_start_and_keeps_its_overflow():
    quc = small().queues[4]
    routed = interpreter_route(quc, 1)
    assert [(str(st.requirement), st.seconds) for st in routed.steps] == [("interpreter>=1", 620.0)]
    assert routed.overflow == quc.overflow
    assert routed.wrap_up_seconds == quc.wrap_up_seconds


def test_a_language_the_skill_mix_cannot_answer_is_named_with_what_it_would_take():
    s = small()
    with pytest.raises(Uncoverable) as e:
        choose_pools(s, target=TARGET, mix=scenario_mix(s, dedicated=False))
    assert str(e.value) == (
        "the skill mix cannot answer 2 languages: "
        "quc (queue quc): no profile of the skill mix meets quc>=3; it would take agents "
        "with quc>=3, or marking quc `interpreted: true` in the line's flow (or "
        "--interpreted) for the interpreter line (interp) to answer it; "
        "mam (queue mam): no profile of the skill mix meets mam>=3; it would take agents "
        "with mam>=3, or marking mam `interpreted: true` in the line's flow (or "
        "--interpreted) for the interpreter line (interp) to answer it"
    )
    # interpreted, the interpreter line answers them: nothing is missing
    assert choose_pools(s, target=TARGET, mix=scenario_mix(s, dedicated=False),
                        interpreted=MAYAN).plan.paid_hours > 0  # fmt: skip
    # a mix of English speakers only: Spanish has no interpreter step at all
    english = SkillMix(scenario_mix(s).profiles[:1], "English only")
    with pytest.raises(Uncoverable) as e:
        choose_pools(s, target=TARGET, mix=english, interpreted=MAYAN)
    assert [g.language for g in e.value.gaps] == ["es", "fr", "ht", "quc", "mam"]
    assert str(e.value.gaps[0]) == (
        "es (queue es): no profile of the skill mix meets es>=4; it would take agents with es>=4"
    )
    assert str(e.value.gaps[3]) == (
        "quc (queue quc): no profile of the skill mix meets quc>=3; it would take agents "
        "with quc>=3, or agents with interpreter>=1 (the interpreter line)"
    )


def test_the_partitions_are_the_cheapest_exact_covers_in_order():
    s = small()
    d = weekly_demand(s)
    pools = candidate_pools(s, d, scenario_mix(s), MAYAN)
    members = np.zeros((len(d.pools), len(pools)))
    for j, p in enumerate(pools):
        members[[d.pools.index(q) for q in p.queues], j] = 1.0
    cost = np.random.default_rng(5).uniform(10, 100, len(pools))  # distinct costs
    found = best_partitions(cost, members, 6)
    # every exact cover by brute force, cheapest first
    covers = [
        list(c)
        for k in range(1, len(d.pools) + 1)
        for c in itertools.combinations(range(len(pools)), k)
        if (members[:, list(c)].sum(axis=1) == 1).all()
    ]
    covers.sort(key=lambda c: cost[c].sum())
    assert [sorted(f) for f in found] == covers[:6]
    # asked for more than there are: every one, once
    every = best_partitions(cost, members, len(covers) + 3)
    assert [sorted(f) for f in every] == covers


def test_agents_added_for_a_weekly_abandonment_target_are_as_few_as_can_be():
    rate = np.array([[20.0], [45.0], [90.0]])  # calls per hour in three intervals
    aht, patience = np.array([330.0]), np.array([240.0])
    floor = erlang_c_table(calls_per_hour=rate, aht_seconds=aht, target=TARGET)[:, 0]
    cap = 0.004
    n = requirement(rate, aht, patience, target=TARGET, to=[PoolTarget(0.9, 0.0, cap)],
                    model="erlang-c")[:, 0]  # fmt: skip
    assert weekly_figures(n, rate[:, 0], 330.0, 240.0, 10.0)[1] <= cap
    fewest = min(
        sum(more)
        for more in itertools.product(range(6), repeat=3)
        if weekly_figures(floor + np.array(more), rate[:, 0], 330.0, 240.0, 10.0)[1] <= cap
    )
    assert (n >= floor).all()
    assert (n - floor).sum() == fewest > 0


def test_the_ring_loses_the_callers_the_model_says():
    """A queue with agents to spare: every caller is answered at once but hears the phone
    ring 3 s, and those whose patience is shorter hang up: 1 - exp(-3/240) = 1.24 %."""
    s = Scenario.single_queue(calls_per_hour=100, aht_seconds=300, agents=60, hours=48,
                              patience_seconds=240, seed=11)  # fmt: skip
    r = Simulation(scenario=replace(s, answer_delay=3.0)).run().report
    expected = float(ring_loss(240.0, 3.0))
    assert expected == pytest.approx(1 - np.exp(-3 / 240))
    # ~4,800 calls: the binomial standard error is 0.16 points; 4 of them
    se = np.sqrt(expected * (1 - expected) / r["offered"])
    assert abs(r["abandon_rate"] - expected) < 4 * se


CHECK = Checking(seed=1, weeks=2, z=2.0)  # (two standard errors: the default margin)


@pytest.fixture(scope="module")
def chosen():
    return choose_pools(small(), target=TARGET, interpreted=MAYAN, model="erlang-a",
                        checking=CHECK)  # fmt: skip


def test_the_planner_pools_bilinguals_and_sends_the_mayan_languages_to_the_interpreter(chosen):
    assert chosen.sufficient is True
    by_queue = {q: p for p in chosen.pools for q in p.queues}
    # K'iche' and Mam: both answered by the interpreter line, in one pool
    assert by_queue["quc"] is by_queue["mam"]
    assert by_queue["quc"].interpreted == ("quc", "mam")
    assert by_queue["quc"].profile.name == "interp"
    quc = next(q for q in chosen.replay.queues if q.name == "quc")
    assert [str(st.requirement) for st in quc.steps] == ["interpreter>=1"]
    # French and Creole share the agents who speak both
    assert by_queue["fr"] is by_queue["ht"]
    assert by_queue["fr"].profile.name == "ht-fr"
    # the same line in dedicated pools, checked the same way, costs more
    dedicated = choose_pools(small(), target=TARGET, interpreted=MAYAN, model="erlang-a",
                             checking=CHECK, largest=1)  # fmt: skip
    assert dedicated.sufficient is True
    assert [p.name for p in dedicated.pools] == ["en", "es", "fr", "ht", "quc", "mam"]
    assert chosen.plan.paid_hours < 0.85 * dedicated.plan.paid_hours


def test_pooling_decisions_are_reproducible_with_a_fixed_seed(chosen):
    again = choose_pools(small(), target=TARGET, interpreted=MAYAN, model="erlang-a",
                         checking=CHECK)  # fmt: skip
    assert again.pools == chosen.pools
    assert again.targets == chosen.targets
    assert again.tried == chosen.tried
    assert again.languages == chosen.languages
    assert [p.schedule.shifts for p in again.plan.pools] == [
        p.schedule.shifts for p in chosen.plan.pools
    ]


def test_a_plan_called_sufficient_meets_its_target_on_a_fresh_seed(chosen):
    # eight fresh weeks: each language's figures have a standard error of at most about
    # 0.5 point, and the planner asked for 2 of its own (two weeks') standard errors
    fresh = Checking(seed=2024, weeks=8, z=0.0)
    results, report = simulate_languages(chosen.replay, target=TARGET, max_abandon=0.03,
                                         checking=fresh)  # fmt: skip
    assert report["unfinished"] == 0
    for r in results:
        assert r.offered > 1000, r.language
        assert r.service_level >= 0.9, r
        assert r.abandon_rate <= 0.03, r


def test_a_skill_mix_file_names_the_line_of_each_mistake():
    s = small()
    mix = parse_skill_mix(
        "profiles:\n  - {name: tri, skills: {en: 4, fr: 4, es: 5}}\ndedicated_speakers: true\n",
        s,
    )
    assert mix.profiles[0].skills == (("en", 4), ("es", 5), ("fr", 4))
    queues = ("en", "es", "fr", "ht", "quc", "mam")
    assert {p.name for p in mix.profiles[1:]} == {f"{q}-dedicated" for q in queues}
    with pytest.raises(ConfigError) as e:
        parse_skill_mix(
            "profiles:\n  - {name: a, skills: {en: 4, de: 3}}\n  - {name: a, skills: {fr: 9}}\n",
            s,
            filename="mix.yaml",
        )
    assert [str(p) for p in e.value.problems] == [
        "mix.yaml:2:31: profiles.0.skills.de: unknown skill or language 'de' (fix: use one "
        "the scenario declares: en, es, fr, ht, interpreter, mam, quc)",
        "mix.yaml:3:6: profiles.1.name: profile 'a' is named twice (fix: give each its own name)",
        "mix.yaml:3:24: profiles.1.skills.fr: level 9 is outside 1..5",
    ]
    with pytest.raises(ConfigError, match="profiles"):
        parse_skill_mix("profiles: []\n", s, filename="mix.yaml")
