"""Lines that share agents are led by one node: the groups a node leads (service.spread)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from hotline.service.spread import groups, weights


def test_lines_sharing_an_agent_are_one_group_and_the_others_their_own():
    lines = ["victims", "national", "youth", "elders", "debt"]
    on = {"a1": ["national"], "a2": ["national", "victims"], "a3": ["youth"],
          "a4": ["elders", "youth"], "a5": ["debt"]}  # fmt: skip
    assert groups(lines, on) == [("debt",), ("elders", "youth"), ("national", "victims")]


def test_a_chain_of_shared_agents_joins_every_line_on_it():
    lines = [f"line{i:02}" for i in range(12)]
    on = {f"a{i}": [lines[i], lines[i + 1]] for i in range(11)}  # l0-l1, l1-l2, ...
    assert groups(lines, dict(random.Random(4).sample(sorted(on.items()), len(on)))) == [
        tuple(lines)
    ]


def test_a_line_no_agent_works_on_is_a_group_and_an_unknown_line_is_left_out():
    assert groups(["national", "night"], {"a1": ["national", "gone"]}) == [
        ("national",), ("night",)
    ]  # fmt: skip


@given(st.dictionaries(st.sampled_from([f"a{i}" for i in range(8)]),
                       st.lists(st.sampled_from("ABCDEFG"), max_size=3)))  # fmt: skip
def test_groups_part_the_lines_and_no_agent_spans_two(on):
    lines = list("ABCDEFG")
    found = groups(lines, on)
    assert sorted(x for g in found for x in g) == lines  # every line once
    where = {x: i for i, g in enumerate(found) for x in g}
    for mine in on.values():
        assert len({where[x] for x in mine}) <= 1  # an agent's lines are in one group
    for g in found:  # and a group is no larger than its agents make it: connected
        reached, todo = {g[0]}, [g[0]]
        while todo:
            x = todo.pop()
            for mine in on.values():
                if x in mine:
                    todo += [y for y in mine if y not in reached]
                    reached.update(mine)
        assert reached == set(g)


def test_a_group_weighs_its_agents_each_once_and_one_with_none_weighs_one():
    found = [("national", "victims"), ("night",), ("youth",)]
    on = {"a1": ["national"], "a2": ["national", "victims"], "a3": ["victims", "gone"],
          "a4": ["youth"], "a5": ["gone"], "a6": ["youth"]}  # fmt: skip
    assert weights(found, on) == {("national", "victims"): 3, ("night",): 1, ("youth",): 2}
