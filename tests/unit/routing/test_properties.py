"""Invariants of the ACD under random workloads (hypothesis).

* no call is lost or duplicated: every call enqueued ends exactly once (completed,
  abandoned or overflowed to a fallback) once agents are there to take it;
* no agent holds two calls;
* FIFO within a priority: a call is never offered to an agent who could have taken an
  older call of the same queue and priority that is still waiting;
* work conservation: after every operation no available agent may take a waiting call;
* the count of agents serving each queue (for wait estimates) is what the agents show;
* the indexed router decides exactly as the full-scan reference does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.domain.agent import Agent, AgentState, QueueMembership
from hotline.domain.call import Call, CallState
from hotline.domain.clock import Scheduler
from hotline.domain.events import (
    CallAbandoned,
    CallCompleted,
    CallOffered,
    CallOverflowed,
    Event,
    OfferWithdrawn,
)
from hotline.domain.queue import EscalationStep, Overflow, Queue
from hotline.domain.skills import Requirement
from hotline.routing import Router, SelectionPolicy
from hotline.routing.fullscan import FullScanRouter

SKILLS = ("a", "b", "c")


@st.composite
def queues(draw: st.DrawFn) -> list[Queue]:
    n = draw(st.integers(1, 3))
    out = []
    for i in range(n):
        n_steps = draw(st.integers(1, 3))
        steps = []
        for j in range(n_steps):
            req = draw(
                st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=0, max_size=2)
            )
            last = j == n_steps - 1
            limit = draw(st.none() if last else st.integers(1, 60)) if not last else None
            steps.append(
                EscalationStep(Requirement.of(req), None if limit is None else float(limit))
            )
        overflow = None
        # overflow only forward (to a later queue) or to a fallback: never a loop
        kind = draw(
            st.sampled_from(["none", "fallback", "queue"] if i < n - 1 else ["none", "fallback"])
        )
        if kind != "none":
            final = steps[-1]
            steps[-1] = EscalationStep(final.requirement, float(draw(st.integers(1, 60))))
            overflow = (
                Overflow(fallback="voicemail")
                if kind == "fallback"
                else Overflow(queue=f"q{draw(st.integers(i + 1, n - 1))}")
            )
        out.append(
            Queue(
                f"q{i}",
                tuple(steps),
                overflow,
                float(draw(st.sampled_from([0, 5]))),
                float(draw(st.sampled_from([0, 1, 30]))),
            )
        )
    return out


@st.composite
def agents(draw: st.DrawFn, names: list[str]) -> list[Agent]:
    out = []
    for k in range(draw(st.integers(1, 6))):
        skills = draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3))
        members: tuple[QueueMembership, ...] = ()
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
            members = tuple(QueueMembership(q, draw(st.integers(1, 2))) for q in chosen)
        out.append(Agent(f"ag{k}", f"ag{k}", skills, members))
    return out


OPS = (
    "call",
    "call",
    "call",
    "wait",
    "answer",
    "answer",
    "complete",
    "abandon",
    "decline",
    "login",
    "logout",
    "not_ready",
    "ready",
)


@dataclass
class Run:
    """Applies an op list to one router, choosing targets from its own state."""

    router_class: type[Router]
    qs: list[Queue]
    roster: list[Agent]
    policy: SelectionPolicy
    events: list[Event] = field(default_factory=list)
    calls: dict[str, Call] = field(default_factory=dict)
    holding: dict[str, str] = field(default_factory=dict)  # agent -> call
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = Scheduler()
        self.router = self.router_class(
            queues=self.qs,
            scheduler=self.clock,
            on_event=self._on,
            policy=self.policy,
            offer_timeout=10.0,
        )
        self.logged: set[str] = set()

    def _on(self, ev: Event) -> None:
        self.events.append(ev)
        if isinstance(ev, CallOffered):
            if ev.agent_id in self.holding:
                self.failures.append(
                    f"{ev.agent_id} offered {ev.call_id} while holding {self.holding[ev.agent_id]}"
                )
            self.holding[ev.agent_id] = ev.call_id
            self._check_fifo(ev)
        elif isinstance(ev, OfferWithdrawn | CallCompleted):
            self.holding.pop(ev.agent_id, None)

    def _check_fifo(self, ev: CallOffered) -> None:
        offered = self.calls[ev.call_id]
        for other, _ in self.router.waiting():
            if (
                other.queue == offered.queue
                and other.priority == offered.priority
                and (other.first_queued_at or 0) < (offered.first_queued_at or 0)
                and self.router.can_take(ev.agent_id, other.id)
            ):
                self.failures.append(f"FIFO: {ev.call_id} offered before older {other.id}")

    def check_work_conserving(self) -> None:
        for view in self.router.agents():
            if view.state is not AgentState.AVAILABLE:
                continue
            for call, _ in self.router.waiting():
                if self.router.can_take(view.agent_id, call.id):
                    self.failures.append(f"{view.agent_id} idle while {call.id} waits")

    def check_serving(self) -> None:
        """The router's count of agents serving each queue is what its agents show."""
        counted = {q.name: 0 for q in self.qs}
        for view in self.router.agents():
            for name in view.queues:
                counted[name] += 1
        if self.router.serving() != counted:
            self.failures.append(f"serving {self.router.serving()} != {counted}")

    def _pick(self, items: list[str], k: int) -> str | None:
        return sorted(items)[k % len(items)] if items else None

    def apply(self, op: str, k: int, dt: int) -> None:
        r = self.router
        self.clock.run(until=self.clock.now + dt / 10)
        live = {c.id: c for c in self.calls.values() if not c.state.is_final}
        if op == "call":
            new_id = f"c{len(self.calls)}"
            call = Call(new_id, "x", "public", self.clock.now, priority=k % 3)
            self.calls[new_id] = call
            r.enqueue(call, self.qs[k % len(self.qs)].name)
        elif op == "answer":
            cid = self._pick([i for i, c in live.items() if c.state is CallState.OFFERED], k)
            if cid:
                r.answer(cid, live[cid].agent_id or "")
        elif op == "decline":
            cid = self._pick([i for i, c in live.items() if c.state is CallState.OFFERED], k)
            if cid:
                r.decline(cid, live[cid].agent_id or "")
        elif op == "complete":
            cid = self._pick([i for i, c in live.items() if c.state is CallState.ANSWERED], k)
            if cid:
                r.complete(cid)
        elif op == "abandon":
            cid = self._pick(
                [i for i, c in live.items() if c.state in (CallState.QUEUED, CallState.OFFERED)], k
            )
            if cid:
                r.abandon(cid)
        elif op == "login":
            free = [a for a in self.roster if a.id not in {v.agent_id for v in r.agents()}]
            if free:
                r.login(free[k % len(free)])
        elif op == "logout":
            aid = self._pick([v.agent_id for v in r.agents()], k)
            if aid:
                r.logout(aid)
        elif op == "not_ready":
            ids = [
                v.agent_id
                for v in r.agents()
                if v.state in (AgentState.AVAILABLE, AgentState.WRAP_UP)
            ]
            aid = self._pick(ids, k)
            if aid:
                r.set_not_ready(aid, "break")
        elif op == "ready":
            ids = [
                v.agent_id
                for v in r.agents()
                if v.state in (AgentState.NOT_READY, AgentState.WRAP_UP)
            ]
            aid = self._pick(ids, k)
            if aid:
                r.set_ready(aid)
        self.check_work_conserving()
        self.check_serving()

    def drain(self) -> None:
        """A universal agent joins; everyone answers; every call must reach an end."""
        universal = Agent("universal", "universal", dict.fromkeys(SKILLS, 5))
        if "universal" not in {v.agent_id for v in self.router.agents()}:
            self.router.login(universal)
        for view in list(self.router.agents()):
            if view.state is AgentState.NOT_READY:
                self.router.set_ready(view.agent_id)
        for _ in range(10 * len(self.calls) + 50):
            live = [c for c in self.calls.values() if not c.state.is_final]
            if not live:
                return
            for c in live:
                if c.state is CallState.OFFERED:
                    self.router.answer(c.id, c.agent_id or "")
                elif c.state is CallState.ANSWERED:
                    self.router.complete(c.id)
            for view in list(self.router.agents()):
                if view.state is AgentState.NOT_READY:
                    self.router.set_ready(view.agent_id)
            self.clock.run(until=self.clock.now + 5)
        self.failures.append(
            "calls never finished: "
            + ", ".join(c.id for c in self.calls.values() if not c.state.is_final)
        )


scenario = st.data()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invariants_hold_and_full_scan_agrees(data: st.DataObject) -> None:
    qs = data.draw(queues())
    roster = data.draw(agents([q.name for q in qs]))
    policy = data.draw(st.sampled_from(list(SelectionPolicy)))
    ops = data.draw(
        st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 20), st.integers(0, 300)), max_size=60
        )
    )
    runs = [Run(cls, qs, roster, policy) for cls in (Router, FullScanRouter)]
    for run in runs:
        for op in ops:
            run.apply(*op)
        run.drain()
        assert run.failures == []
        ends = [
            e.call_id
            for e in run.events
            if isinstance(e, CallCompleted | CallAbandoned)
            or (isinstance(e, CallOverflowed) and e.fallback is not None)
        ]
        assert sorted(ends) == sorted(run.calls), "every call ends exactly once"
    indexed, scanned = runs
    assert indexed.events == scanned.events
