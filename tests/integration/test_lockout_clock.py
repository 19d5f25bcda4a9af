"""Nodes that share the store share the IVR's lockouts (store.guards): on the database's
clock, as the leases are, so a node whose clock is an hour off counts alike."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import Engine as SAEngine

from hotline.store.guards import LookupGuards

from .live_fixtures import pg_url  # noqa: F401 (a fixture)
from .test_node_load import engine as engine  # (a fixture: the store on each database)
from .test_review_lockout import Engine

WINDOW = 15 * 60.0  # the demo flow's lockout window


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["an hour ahead", "an hour behind"])
def test_an_attempt_of_a_node_whose_clock_is_off_counts_on_the_others_alike(
    engine: SAEngine, skew: float
) -> None:
    """The node whose clock is off starts an attempt whose answer is due at once and never
    comes: the other node counts it as a failure (the limit, 1, reached: locked). On the
    nodes' own clocks, an hour ahead it would seem under way for the hour (the key busy),
    an hour behind it would seem outside every window (a guess nobody counts)."""
    now = time.time()
    off = LookupGuards(Engine(engine), database_clock=True)
    other = LookupGuards(Engine(engine), database_clock=True)
    assert off.attempt("k", now + skew, window=WINDOW, limit=1, answer_within=0).id
    seen = other.attempt("k", now, window=WINDOW, limit=1, answer_within=30)
    assert (seen.id, seen.locked, seen.unanswered, seen.under_way) == (None, True, 1, 0)
    assert off.failures("k", now + skew, window=WINDOW) == 1


def test_the_clock_given_is_used_when_the_store_is_one_processs(engine: SAEngine) -> None:
    """(One process, the demo's faster clock, the tests' fake clocks.) An attempt an hour
    ahead on the clock given is under way until its answer is due on that clock."""
    now = time.time()
    guards = LookupGuards(Engine(engine))
    assert guards.attempt("k", now + 3600, window=WINDOW, limit=1, answer_within=30).id
    seen = guards.attempt("k", now + 3600 + 1, window=WINDOW, limit=1, answer_within=30)
    assert (seen.id, seen.locked, seen.under_way) == (None, False, 1)
