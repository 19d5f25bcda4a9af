"""The router's count of agents serving each queue (`Router.serving`) against what
`agents()` shows through re-indexing, and an agent update refused (a queue the router does
not have) changing nothing."""

from __future__ import annotations

import pytest

from hotline.errors import UnknownQueue

from .harness import Bench, agent, queue


def shown(b: Bench) -> dict[str, int]:
    """The pass the wait estimates made before the count: agents by queue they show."""
    counted = dict.fromkeys(b.router.serving(), 0)
    for view in b.router.agents():
        for name in set(view.queues):
            counted[name] += 1
    return counted


def test_the_count_follows_skills_queues_and_requirements_as_they_change():
    b = Bench(queue("en", ({"en": 4}, 20), ({"en": 1}, None)), queue("es", ({"es": 3}, None)))
    b.router.login(agent("a1", en=2))  # en at its second step only
    b.router.login(agent("a2", ("es",), es=3, en=5), ready=False)
    b.router.login(agent("a3", en=5, es=5))
    assert b.router.serving() == shown(b) == {"en": 2, "es": 2}
    b.router.update_agent(agent("a2", ("en", "es"), es=3, en=5))  # one more queue
    assert b.router.serving() == shown(b) == {"en": 3, "es": 2}
    b.router.update_queue(queue("es", ({"es": 4}, None)))  # a2 no longer meets es
    assert b.router.serving() == shown(b) == {"en": 3, "es": 1}
    b.router.update_queue(queue("en", ({"en": 4}, 20), ({"en": 3}, None)))  # nor a1 en
    assert b.router.serving() == shown(b) == {"en": 2, "es": 1}
    b.call("c1", "es")  # offered to a3, who answers and asks to log out
    b.router.answer("c1", "a3")
    assert b.router.logout("a3") is False
    b.router.update_agent(agent("a3", ("es",), es=5))  # re-indexed while on the call
    assert b.router.serving() == shown(b) == {"en": 1, "es": 1}
    b.router.complete("c1")  # (no wrap-up: logged out now)
    assert b.router.serving() == shown(b) == {"en": 1, "es": 0}


def test_an_agent_update_refused_half_way_leaves_the_agent_serving_as_before():
    """`_reindex` keeps the count equal to what `agents()` shows when `_index` fails
    half-way, but the record itself is left half indexed: `min_step` names only the queues
    indexed before the unknown one, while the old pool places stay live (the epoch did not
    move) and `tiers` is the old one. The agent then shows, and is counted as, serving
    'en' only, yet is offered an 'es' call: the estimate for 'es' says nobody serves it.
    (Pre-existing in `update_agent`; a line's configuration refuses an unknown queue, so
    only a direct caller of the router reaches it.)"""
    b = Bench(queue("en", ({"en": 1}, None)), queue("es", ({"es": 1}, None)))
    b.router.login(agent("a1", ("es", "en"), en=5, es=5))
    with pytest.raises(UnknownQueue):
        b.router.update_agent(agent("a1", ("en", "xx", "es"), en=5, es=5))
    # refused whole: the agent serves what they served before
    assert b.router.agent("a1").queues == ("es", "en")
    assert b.router.serving() == {"en": 1, "es": 1}
