"""A line's configuration as the switchboard is built from it: frozen, complete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline.domain.agent import Agent
from hotline.domain.queue import Queue
from hotline.ivr.model import Flow
from hotline.routing.selection import SelectionPolicy
from hotline.sim.scenario import Scenario

HOLD_CALLBACK_AFTER = 300.0  # a live line's default: offered when the estimate is this long


@dataclass(frozen=True, slots=True)
class CallbackRule:
    """When the hold loop offers a caller a callback: once a call, to a caller with a
    number we can call who does not already wait for one, once they have waited
    `offer_after` seconds and the estimated wait still to go is `offer_if_wait` or more."""

    offer_after: float = 0.0
    offer_if_wait: float = HOLD_CALLBACK_AFTER


@dataclass(frozen=True, slots=True)
class LineConfig:
    name: str
    number: str
    timezone: str  # IANA name: the flow's opening hours are in the line's local time
    flow: Flow | None  # None: callers' ways through the IVR are given (`Route`)
    queues: tuple[Queue, ...]
    agents: Mapping[str, Agent]  # by their stable ids
    policy: SelectionPolicy = SelectionPolicy.LONGEST_IDLE
    offer_timeout: float = 15.0
    handle_mean: float = 300.0  # seconds; the first estimate of waits
    callbacks: CallbackRule = CallbackRule()
    mode: str = "normal"  # one of LINE_MODES: what the flow's `mode` branches see
    dispositions: tuple[str, ...] = ()  # the codes an agent wraps a call up with


def agents_of(scenario: Scenario, *, auto_answer: bool = False) -> dict[str, Agent]:
    """The scenario's agent groups as named agents (`es-day-3`)."""
    out = {}
    for g in scenario.agent_groups:
        for agent_id in g.ids():
            head, _, k = agent_id.rpartition("-")
            name = f"{head} {k}"
            out[agent_id] = Agent(agent_id, name, dict(g.skills), g.queues, auto_answer)
    return out


def line_of(
    scenario: Scenario,
    *,
    flow: Flow | None,
    number: str,
    timezone: str,
    auto_answer: bool = False,
    mode: str = "normal",
) -> LineConfig:
    """The line a scenario describes (`auto_answer`: its agents pick up at once)."""
    cb = scenario.callbacks
    return LineConfig(
        name=scenario.name,
        number=number,
        timezone=timezone,
        flow=flow,
        queues=scenario.queues,
        agents=agents_of(scenario, auto_answer=auto_answer),
        policy=scenario.policy,
        offer_timeout=scenario.offer_timeout,
        handle_mean=scenario.handle.mean,
        callbacks=CallbackRule() if cb is None else CallbackRule(cb.offer_after, 0.0),
        mode=mode,
        dispositions=scenario.dispositions,
    )
