"""The reference matcher: the same router, deciding by scanning every agent and every call.

It makes the same decisions as the indexed `Router` (a property test compares their event
traces) and is the naive baseline of `bench/bench_routing.py`.
"""

from __future__ import annotations

from hotline.domain.agent import AgentState
from hotline.domain.call import CallState
from hotline.routing.engine import Router, _AgentRecord, _Ticket


class FullScanRouter(Router):
    def _best_agent_for(self, ticket: _Ticket) -> _AgentRecord | None:
        queue = ticket.queue.queue
        best: _AgentRecord | None = None
        best_key: tuple[tuple[float, float], int] | None = None
        for agent in self._agents.values():
            step = agent.min_step.get(queue.name)
            if agent.state is not AgentState.AVAILABLE or step is None or step > ticket.step:
                continue
            score = queue.steps[step].requirement.score(agent.agent.skills)
            policy_key = self._policy.key(
                idle_since=agent.idle_since, score=score, last_offer=agent.last_offer
            )
            key = (policy_key, agent.ready_seq)
            if best_key is None or key < best_key:
                best, best_key = agent, key
        return best

    def _best_call_for(self, agent: _AgentRecord) -> _Ticket | None:
        now = self._clock.now
        tier_of = {qr.queue.name: i for i, tier in enumerate(agent.tiers) for qr in tier}
        best: _Ticket | None = None
        best_key: tuple[int, float, float, int] | None = None
        for ticket in self._tickets.values():
            name = ticket.queue.queue.name
            step = agent.min_step.get(name)
            if ticket.call.state is not CallState.QUEUED or step is None or step > ticket.step:
                continue
            first = ticket.call.first_queued_at or 0.0
            key = (tier_of[name], -(ticket.base + ticket.queue.rate * now), first, ticket.seq)
            if best_key is None or key < best_key:
                best, best_key = ticket, key
        return best
