"""Nodes share the load, not the count of groups (service.node): a group weighs the agents
on its lines (service.spread), a node claims while its load is below its share, and a
node above its share hands over only a group it can give and stay at or above it, so the
hand-overs end and no group goes back and forth. Driven through the nodes' own rounds
(`claim`, then `hand_over` of what `handing` says, as web.node_app does) on the real
lease store, SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hotline.service.bootstrap import store_for
from hotline.service.lines import import_line
from hotline.service.node import Node, loads
from hotline.service.spread import Layout
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases, leases

from .live_fixtures import LINE, pg_url, sqlite_url  # noqa: F401 (a fixture)
from .test_cli import run
from .test_node_spread import HELPLINE, NATIONAL, two_lines_apart
from .test_node_spread_review import FLOW, YOUTH, YOUTH_NUMBER, youth_line
from .test_nodes import Clock

Weights = dict[tuple[str, ...], int]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    migrate(engine)
    yield engine
    engine.dispose()


class Floor:
    """Nodes over one store, their groups weighed by `weights` (as the agents make them)."""

    def __init__(self, engine: Engine, weights: Weights) -> None:
        self.engine = engine
        self.weights = weights
        self.nodes: dict[str, Node] = {}
        self.handed: list[tuple[str, tuple[str, ...]]] = []  # (who, which group), in order
        self.excess_before: list[float] = []  # the excess as each hand-over began
        self.lost: list[str] = []

    def join(self, name: str) -> Node:
        leased = Leases(engine=self.engine, node=name, ttl=600.0)
        leased.join()
        self.nodes[name] = Node(leases=leased, groups=lambda: list(self.weights),
                                weigh=self.weights.__getitem__, monotonic=Clock(),
                                on_lost=self.lost.append)  # fmt: skip
        return self.nodes[name]

    def leave(self, name: str) -> None:
        """A node gone (its leases and its entry: as it dies, once they run out)."""
        self.nodes.pop(name).leases.leave()

    def round(self) -> bool:
        """Each node's round, one after the other; whether anything moved."""
        moved = False
        for name, node in self.nodes.items():
            moved |= bool(node.claim())
            if node.handing is not None:
                self.handed.append((name, node.handing))
                self.excess_before.append(self.excess())
                node.hand_over(node.handing)
                moved = True
        return moved

    def settle(self, rounds: int = 200) -> None:
        """Rounds until one moves nothing (and a few more, which must move nothing)."""
        self.handed, self.excess_before = [], []
        for _ in range(rounds):
            if not self.round():
                break
        else:
            raise AssertionError(f"still moving after {rounds} rounds: {self.handed}")
        assert [self.round() for _ in range(3)] == [False] * 3

    def led(self) -> dict[str, list[str]]:
        return {name: sorted(node.led()) for name, node in self.nodes.items()}

    def loads(self) -> dict[str, int]:
        now, held, _ = leases(self.engine)
        counted = loads(self.weights, [x for x in held if x.expires_at > now])
        return {name: counted[name] for name in self.nodes}

    def excess(self) -> float:
        share = sum(self.weights.values()) / len(self.nodes)
        return sum(max(0.0, x - share) for x in self.loads().values())


def test_a_node_that_joins_takes_the_small_groups_and_leaves_the_big_one(engine):
    floor = Floor(engine, {("big",): 10, ("s1",): 1, ("s2",): 1})
    a = floor.join("a")
    assert a.claim() == [("big",), ("s1",), ("s2",)]  # alone: its share is everything
    assert a.handing is None
    floor.join("b")  # the share: 12 / 2 = 6; giving the big group would leave a at 2
    floor.settle()
    assert floor.handed == [("a", ("s2",)), ("a", ("s1",))]  # the last by name first
    assert floor.led() == {"a": ["big"], "b": ["s1", "s2"]}
    assert floor.loads() == {"a": 10, "b": 2}
    assert floor.lost == []


@pytest.mark.parametrize(
    ("weights", "handed", "led"),
    [
        ({("p",): 5, ("q",): 5}, [("a", ("q",))], {"a": ["p"], "b": ["q"]}),
        ({("p",): 4, ("q",): 4, ("r",): 4}, [("a", ("r",))], {"a": ["p", "q"], "b": ["r"]}),
        # the heaviest it can give and stay at or above its share (16 / 2 = 8): 6, not 2
        # then the heaviest that still leaves it at or above: 2
        ({("p",): 2, ("q",): 6, ("r",): 6, ("s",): 2}, [("a", ("r",)), ("a", ("s",))],
         {"a": ["p", "q"], "b": ["r", "s"]}),
    ],
)  # fmt: skip
def test_a_node_that_joins_is_handed_groups_until_no_hand_over_would_even_the_load(
    engine, weights, handed, led
):
    floor = Floor(engine, weights)
    floor.join("a").claim()
    floor.join("b")
    floor.settle()
    assert floor.handed == handed
    assert floor.led() == led


def test_a_node_with_one_big_group_and_one_with_small_ones_hand_nothing_over(engine):
    """By count, the node with three small groups led more than its share (2) and handed
    one to the node with the big one; by load that node is already above its share."""
    floor = Floor(engine, {("big",): 10, ("s1",): 1, ("s2",): 1, ("s3",): 1})
    a, b = floor.join("a"), floor.join("b")  # both up before either claims: 13 / 2 each
    assert a.claim() == [("big",)]  # heaviest first; 10 is above the share: no more
    assert b.claim() == [("s1",), ("s2",), ("s3",)]
    floor.settle()
    assert floor.handed == []
    assert floor.loads() == {"a": 10, "b": 3}


def test_the_groups_of_a_node_gone_are_taken_whatever_they_weigh(engine):
    floor = Floor(engine, {("big",): 10, ("s1",): 1, ("s2",): 1})
    a, b = floor.join("a"), floor.join("b")
    a.claim(), b.claim()
    assert floor.led() == {"a": ["big"], "b": ["s1", "s2"]}
    floor.leave("a")  # b alone: everything is its share
    assert b.claim() == [("big",)]
    floor.join("a")
    floor.leave("b")
    assert floor.nodes["a"].claim() == [("big",), ("s1",), ("s2",)]


def test_a_node_up_later_with_every_group_led_and_even_loads_stands_by(engine):
    floor = Floor(engine, {("p",): 3, ("q",): 3})
    floor.join("a").claim()
    floor.join("b")
    floor.settle()
    floor.join("c")  # the share: 2; a and b lead 3, but giving 3 would leave them at 0
    assert floor.handed == [("a", ("q",))]
    floor.settle()
    assert floor.handed == []
    assert floor.led() == {"a": ["p"], "b": ["q"], "c": []}


@pytest.mark.parametrize("seed", range(12))
def test_hand_overs_always_end_and_each_lowers_the_excess(tmp_path, seed):
    """Random weights, nodes that join one by one after the first led everything: each
    hand-over lowers the excess (the loads above the share, summed), so they end."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    try:
        draw = random.Random(seed)
        weights: Weights = {(f"g{i:02}",): draw.choice([1, 1, 2, 3, 5, 8, 13, 40])
                   for i in range(draw.randint(2, 9))}  # fmt: skip
        floor = Floor(engine, weights)
        floor.join("n0").claim()
        for n in range(1, draw.randint(2, 4)):
            floor.join(f"n{n}")
            floor.settle()
            after = [*floor.excess_before, floor.excess()][1:]
            assert all(b < a for a, b in zip(floor.excess_before, after, strict=True)), (
                weights, floor.handed)  # fmt: skip
        assert sorted(x for node in floor.nodes.values() for x in node.led()) == sorted(
            x for g in weights for x in g
        )  # every group led, by one node
        assert floor.lost == []
    finally:
        engine.dispose()


def test_a_layouts_groups_weigh_the_agents_on_their_lines(tmp_path):
    settings = two_lines_apart(tmp_path)
    layout = Layout(store=store_for(settings)[0], home=LINE)
    try:
        assert [(g, layout.weight(g)) for g in layout.groups()] == [
            ((NATIONAL,), 122), ((HELPLINE,), 24)
        ]  # fmt: skip
        # a line sharing three of the national line's agents, and 24 of its own: one group,
        # each agent counted once
        import_line(layout.store, youth_line(tmp_path, sharing=True), number=YOUTH_NUMBER,
                    flow=FLOW)  # fmt: skip
        assert [(g, layout.weight(g)) for g in layout.groups()] == [
            ((NATIONAL, YOUTH), 146), ((HELPLINE,), 24)
        ]  # fmt: skip
    finally:
        layout.store.engine.dispose()


def test_hotline_nodes_shows_each_nodes_load(tmp_path):
    settings = two_lines_apart(tmp_path)  # the national line's 122 agents, the helpline's 24
    engine = connect(settings.database_url)
    try:
        for name, line in (("node-a", NATIONAL), ("node-b", HELPLINE)):
            leased = Leases(engine=engine, node=name, ttl=600.0)
            leased.join()
            assert leased.claim(line) is not None
        Leases(engine=engine, node="node-c", ttl=600.0).join()  # a standby
    finally:
        engine.dispose()
    listed = run("nodes", env={"HOTLINE_DATABASE_URL": settings.database_url, "COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    rows = {cells[0]: cells[-1] for x in listed.stdout.splitlines()
            if len(cells := [c.strip() for c in x.strip("│ ").split("│")]) == 5}  # fmt: skip
    assert {k: rows[k] for k in ("node-a", "node-b", "node-c")} == {
        "node-a": "122", "node-b": "24", "node-c": "0"
    }  # fmt: skip
    assert "load: agents on the lines a node leads (of 146)" in listed.stdout
