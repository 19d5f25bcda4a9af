"""A router on a virtual clock with its events recorded, for tests."""

from __future__ import annotations

from collections.abc import Mapping

from hotline.domain.agent import Agent, QueueMembership
from hotline.domain.call import Call
from hotline.domain.clock import Scheduler
from hotline.domain.events import CallOffered, Event
from hotline.domain.queue import EscalationStep, Overflow, Queue
from hotline.domain.skills import Requirement
from hotline.routing import Router, SelectionPolicy


def queue(
    name: str,
    *steps: tuple[Mapping[str, int], float | None],
    overflow: Overflow | None = None,
    wrap_up: float = 0.0,
    aging: float = 0.0,
) -> Queue:
    return Queue(
        name,
        tuple(EscalationStep(Requirement.of(req), secs) for req, secs in steps),
        overflow,
        wrap_up,
        aging,
    )


def agent(agent_id: str, queues: tuple[str | tuple[str, int], ...] = (), **skills: int) -> Agent:
    members = tuple(
        QueueMembership(q) if isinstance(q, str) else QueueMembership(*q) for q in queues
    )
    return Agent(agent_id, agent_id, dict(skills), members)


class Bench:
    def __init__(
        self,
        *queues: Queue,
        policy: SelectionPolicy = SelectionPolicy.LONGEST_IDLE,
        router_class: type[Router] = Router,
        offer_timeout: float = 15.0,
    ) -> None:
        self.clock = Scheduler()
        self.events: list[Event] = []
        self.router = router_class(
            queues=queues,
            scheduler=self.clock,
            on_event=self.events.append,
            policy=policy,
            offer_timeout=offer_timeout,
        )
        self.calls: dict[str, Call] = {}

    def call(self, call_id: str, queue: str, *, priority: int = 0, language: str = "en") -> Call:
        c = Call(call_id, language, "public", self.clock.now, priority)
        self.calls[call_id] = c
        self.router.enqueue(c, queue)
        return c

    def at(self, t: float) -> None:
        self.clock.run(until=t)

    def trace(self, *kinds: type) -> list[tuple[object, ...]]:
        """Events (of the given kinds) as tuples of their fields, without the class."""
        out = []
        for e in self.events:
            if not kinds or type(e) in kinds:
                out.append((type(e).__name__, *e.values()))
        return out

    def offers(self) -> list[tuple[float, str, str]]:
        return [(e.at, e.call_id, e.agent_id) for e in self.events if isinstance(e, CallOffered)]
