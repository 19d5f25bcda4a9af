"""The ACD engine: matches waiting calls with available agents, runs offers and escalations.

Indexes, so a decision never scans every agent or every call:

* each (queue, step) has a pool of available agents who serve that queue and first meet
  its requirement at that step, ordered by the selection policy. A call at step i looks
  at the heads of pools 0..i of its queue.
* each (queue, step) has a heap of waiting calls ordered by priority (with aging), then
  first-queued time, then arrival order. An agent looks at the heads of the steps it
  qualifies for, in the queues it serves, tier by tier.

Entries are removed lazily: an agent's entries carry the agent's `epoch`, which changes
with every state change, and a call's entry carries the call's `token`, which changes each
time it is (re)placed. A stale entry is dropped when it reaches the head.

Invariant after every public method returns: no available agent may take any waiting call.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from hotline.domain.agent import Agent, AgentState, NotReadyReason, QueueMembership
from hotline.domain.call import Call, CallState
from hotline.domain.clock import Scheduler
from hotline.domain.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackAccepted,
    CallCompleted,
    CallEscalated,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    Event,
    OfferWithdrawn,
)
from hotline.domain.queue import Queue
from hotline.errors import (
    InvalidTransition,
    UnknownAgent,
    UnknownCall,
    UnknownQueue,
)
from hotline.routing.checks import refuse_bad_queues
from hotline.routing.selection import SelectionPolicy, sort_key

# (Final: compiled, constants rather than look-ups in the module's namespace per call)
heappush: Final = heapq.heappush
heappop: Final = heapq.heappop
heapify: Final = heapq.heapify

_BUSY = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)

# (-base priority, first queued at, sequence, ticket, ticket token when pushed)
_CallEntry = tuple[float, float, int, "_Ticket", int]


class _PoolEntry:
    """An available agent's place in a pool: ordered by the policy's key (`first`,
    `second`), then `seq`, when they became ready (unique in a pool); `epoch`, the agent's
    when pushed. (A native record compared field by field, compiled, rather than nested
    tuples compared through Python: the same order.)"""

    __slots__ = ("agent", "epoch", "first", "second", "seq")

    def __init__(self, key: tuple[float, float], seq: int, agent: _AgentRecord, epoch: int) -> None:
        self.first, self.second = key
        self.seq = seq
        self.agent = agent
        self.epoch = epoch

    def live(self) -> bool:
        """The agent is still available since they were pushed."""
        return self.epoch == self.agent.epoch and self.agent.state is AgentState.AVAILABLE


def _ahead(a: _PoolEntry, b: _PoolEntry) -> bool:
    """(a.first, a.second, a.seq) < (b.first, b.second, b.seq)"""
    if a.first != b.first:
        return a.first < b.first
    if a.second != b.second:
        return a.second < b.second
    return a.seq < b.seq


def _pool_push(pool: list[_PoolEntry], entry: _PoolEntry) -> None:
    """`heapq.heappush` with `_ahead`."""
    pool.append(entry)
    _sift_up(pool, len(pool) - 1)


def _sift_up(pool: list[_PoolEntry], pos: int) -> None:
    entry = pool[pos]
    while pos > 0:
        up = (pos - 1) >> 1
        parent = pool[up]
        if not _ahead(entry, parent):
            break
        pool[pos] = parent
        pos = up
    pool[pos] = entry


def _pool_pop(pool: list[_PoolEntry]) -> None:
    """`heapq.heappop` with `_ahead` (the head is dropped)."""
    last = pool.pop()
    if pool:
        pool[0] = last
        _sift_down(pool, 0)


def _sift_down(pool: list[_PoolEntry], pos: int) -> None:
    n = len(pool)
    entry = pool[pos]
    child = 2 * pos + 1
    while child < n:
        right = child + 1
        if right < n and _ahead(pool[right], pool[child]):
            child = right
        below = pool[child]
        if not _ahead(below, entry):
            break
        pool[pos] = below
        pos = child
        child = 2 * pos + 1
    pool[pos] = entry


class _QueueRecord:
    __slots__ = ("deadlines", "pools", "queue", "rate", "waiting")

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.rate = queue.aging_per_minute / 60.0
        self.waiting: list[list[_CallEntry]] = [[] for _ in queue.steps]
        self.pools: list[list[_PoolEntry]] = [[] for _ in queue.steps]
        self.deadlines = [s.seconds for s in queue.steps]


class _AgentRecord:
    __slots__ = (
        "agent",
        "epoch",
        "idle_since",
        "last_offer",
        "logout_pending",
        "min_step",
        "pools",
        "ready_seq",
        "reason",
        "state",
        "state_since",
        "then",
        "ticket",
        "tiers",
    )

    def __init__(self, agent: Agent, now: float) -> None:
        self.agent = agent
        self.state = AgentState.NOT_READY
        self.reason: str | None = NotReadyReason.LOGIN
        self.state_since = now
        self.idle_since = now
        self.epoch = 0
        self.ready_seq = 0
        self.last_offer = 0
        self.ticket: _Ticket | None = None
        self.logout_pending = False
        self.min_step: dict[str, int] = {}
        self.pools: list[tuple[list[_PoolEntry], int]] = []  # (pool, score)
        self.tiers: list[list[_QueueRecord]] = []
        self.then: str | None = None  # not ready for this reason when their wrap-up ends


class _StateSeconds:
    """Agent-seconds spent in each state, over all agents: a field per state rather than
    a dict keyed by the enum (compiled, no hashing and no boxed floats per change)."""

    def __init__(self) -> None:
        self.offline = 0.0
        self.available = 0.0
        self.reserved = 0.0
        self.on_call = 0.0
        self.wrap_up = 0.0
        self.not_ready = 0.0

    def add(self, state: AgentState, seconds: float) -> None:
        if state is AgentState.ON_CALL:
            self.on_call += seconds
        elif state is AgentState.AVAILABLE:
            self.available += seconds
        elif state is AgentState.RESERVED:
            self.reserved += seconds
        elif state is AgentState.WRAP_UP:
            self.wrap_up += seconds
        elif state is AgentState.NOT_READY:
            self.not_ready += seconds
        else:
            assert state is AgentState.OFFLINE
            self.offline += seconds

    def as_dict(self) -> dict[AgentState, float]:
        """Every state, in the enum's order."""
        return {
            AgentState.OFFLINE: self.offline,
            AgentState.AVAILABLE: self.available,
            AgentState.RESERVED: self.reserved,
            AgentState.ON_CALL: self.on_call,
            AgentState.WRAP_UP: self.wrap_up,
            AgentState.NOT_READY: self.not_ready,
        }


class _Ticket:
    """A call's place in the ACD, from enqueue until it is answered and ends, or leaves."""

    __slots__ = ("agent", "base", "call", "epoch", "offer_token", "queue", "seq", "step", "token")

    def __init__(self, call: Call, queue: _QueueRecord, seq: int) -> None:
        self.call = call
        self.queue = queue
        self.seq = seq
        self.step = 0
        self.base = 0.0
        self.token = 0
        self.epoch = 0  # bumped on overflow, so timers of the old queue fall silent
        self.offer_token = 0
        self.agent: _AgentRecord | None = None


class EventSink:
    """Where a router's events go, for a driver that wants them by a compiled call: pass one
    as the router's `on_event` and the router calls its `routed` directly (compiled, a call
    through Python per event costs more than most handlers). Any other callable works."""

    def routed(self, event: Event) -> None:
        raise NotImplementedError

    def __call__(self, event: Event) -> None:
        self.routed(event)


class _Forward(EventSink):
    """A plain callable as a sink."""

    def __init__(self, on_event: Callable[[Event], None]) -> None:
        self.on_event = on_event

    def routed(self, event: Event) -> None:
        self.on_event(event)


@dataclass(frozen=True, slots=True)
class AgentView:
    """A read-only look at an agent, for wallboards, tests and reports."""

    agent_id: str
    state: AgentState
    reason: str | None
    call_id: str | None
    queues: tuple[str, ...]
    logout_pending: bool = False  # logs out once their call and wrap-up end
    state_since: float = 0.0  # when they entered their state (the line's clock)
    then: str | None = None  # wrapping up: not ready for this reason when it ends (None: ready)


class Router:
    """The ACD. Drive it with calls and agent actions; it emits events and sets timers."""

    def __init__(
        self,
        *,
        queues: Sequence[Queue],
        scheduler: Scheduler,
        on_event: Callable[[Event], None],
        policy: SelectionPolicy = SelectionPolicy.LONGEST_IDLE,
        offer_timeout: float = 15.0,
    ) -> None:
        refuse_bad_queues(queues)
        if offer_timeout <= 0:
            raise ValueError("offer_timeout must be positive")
        self._queues = {q.name: _QueueRecord(q) for q in queues}
        self._clock = scheduler
        self._sink = on_event if isinstance(on_event, EventSink) else _Forward(on_event)
        self._policy = policy
        self._offer_timeout = offer_timeout
        self._agents: dict[str, _AgentRecord] = {}
        # agents logged in who may be offered each queue's calls (at some step), kept as
        # they log in, out or are indexed again: every arrival estimates waits from it
        self._serving: dict[str, int] = {q.name: 0 for q in queues}
        self._tickets: dict[str, _Ticket] = {}
        self._seq = 0  # the last number handed out (tickets, offers, agents ready)
        self._seconds = _StateSeconds()

    def _emit(self, event: Event) -> None:
        self._sink.routed(event)

    def _next(self) -> int:
        """The next number of the router's sequence, 1 first (an int: compiled, no call of
        the builtin `next` on an iterator through Python)."""
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ calls

    def enqueue(
        self, call: Call, queue: str, since: float | None = None, *, callback: bool = False
    ) -> None:
        """The call joins `queue` (with its own priority); it is offered at once if it can be.
        `since`: when it first queued, for a call restored after a restart (keeps its place).
        `callback`: the caller chose to be called back instead of waiting on the line."""
        qr = self._queue(queue)
        if call.state not in (CallState.ARRIVED, CallState.IN_IVR):
            raise InvalidTransition(f"call {call.id} is {call.state.value}, cannot be queued")
        if call.id in self._tickets:
            raise InvalidTransition(f"call {call.id} is already in the ACD")
        now = self._clock.now
        call.first_queued_at = now if since is None else min(since, now)
        ticket = _Ticket(call, qr, self._next())
        self._tickets[call.id] = ticket
        call.callback = callback
        if callback:  # said before the call can be offered, so an offer knows to dial back
            self._place(ticket, qr, now, requeued=since is not None, then_callback=True)
        else:
            self._place(ticket, qr, now, requeued=since is not None)

    def answer(self, call_id: str, agent_id: str) -> None:
        ticket = self._ticket(call_id)
        call = ticket.call
        agent = ticket.agent
        if call.state is not CallState.OFFERED or agent is None or agent.agent.id != agent_id:
            raise InvalidTransition(f"call {call_id} is not being offered to agent {agent_id}")
        now = self._clock.now
        call.state = CallState.ANSWERED
        call.answered_at = now
        self._set_state(agent, AgentState.ON_CALL)
        assert call.first_queued_at is not None
        self._emit(
            CallAnswered(
                now, call_id, agent_id, ticket.queue.queue.name, now - call.first_queued_at
            )
        )

    def decline(self, call_id: str, agent_id: str) -> None:
        """The agent refuses the offer: they go not-ready and the call keeps its place."""
        ticket = self._ticket(call_id)
        agent = ticket.agent
        if (
            ticket.call.state is not CallState.OFFERED
            or agent is None
            or agent.agent.id != agent_id
        ):
            raise InvalidTransition(f"call {call_id} is not being offered to agent {agent_id}")
        self._withdraw(ticket, NotReadyReason.DECLINED)

    def connect_failed(self, call_id: str, reason: str) -> None:
        """The agent accepted but their phone could not be reached (no answer, busy,
        failed): they go not-ready with `reason`, and the call goes back to its place in
        the queue, as after a ring-no-answer."""
        ticket = self._ticket(call_id)
        agent = ticket.agent
        if ticket.call.state is not CallState.ANSWERED or agent is None:
            raise InvalidTransition(f"call {call_id} is not connecting to an agent")
        ticket.call.answered_at = None
        self._withdraw(ticket, reason)

    def abandon(self, call_id: str, *, before_bridge: bool = False) -> None:
        """The caller hung up before being answered (waiting or while an agent's phone rang).
        `before_bridge`: the agent had accepted, but the caller hung up before the carrier
        connected them (nobody talked to the caller); the agent is free again."""
        ticket = self._ticket(call_id)
        call = ticket.call
        now = self._clock.now
        agent = ticket.agent
        ringing = call.state is CallState.OFFERED or (
            before_bridge and call.state is CallState.ANSWERED
        )
        if ringing and agent is not None:
            self._emit(OfferWithdrawn(now, call_id, agent.agent.id, "caller-hung-up"))
        elif call.state is not CallState.QUEUED:
            raise InvalidTransition(f"call {call_id} is {call.state.value}, it cannot abandon")
        call.state = CallState.ABANDONED
        call.ended_at = now
        del self._tickets[call_id]
        assert call.first_queued_at is not None
        self._emit(CallAbandoned(now, call_id, call.queue, now - call.first_queued_at))
        if agent is not None and agent.ticket is ticket:
            agent.ticket = None
            self._agent_free(agent, keep_idle_since=True)

    def accept_callback(self, call_id: str) -> None:
        """The waiting caller takes a callback: they hang up but keep their place; when an
        agent is offered the call, the platform dials them back."""
        ticket = self._ticket(call_id)
        call = ticket.call
        if call.state is not CallState.QUEUED or call.callback:
            raise InvalidTransition(f"call {call_id} is not waiting on the line")
        call.callback = True
        self._emit(CallbackAccepted(self._clock.now, call_id, ticket.queue.queue.name))

    def complete(self, call_id: str) -> None:
        """An answered call ended; its agent goes to wrap-up."""
        ticket = self._ticket(call_id)
        call = ticket.call
        agent = ticket.agent
        if call.state is not CallState.ANSWERED or agent is None:
            raise InvalidTransition(f"call {call_id} is {call.state.value}, not answered")
        now = self._clock.now
        call.state = CallState.COMPLETED
        call.ended_at = now
        del self._tickets[call_id]
        agent.ticket = None
        self._set_state(agent, AgentState.WRAP_UP)
        assert call.answered_at is not None
        self._emit(
            CallCompleted(
                now, call_id, agent.agent.id, ticket.queue.queue.name, now - call.answered_at
            )
        )
        self._wrap_up_or_free(agent, ticket.queue.queue.wrap_up_seconds)

    def hand_over(self, call_id: str, agent_id: str, *, consulted: str = "") -> None:
        """An answered call passes to another agent (a transfer): they are on it from now,
        and its agent goes to wrap-up as after a call. The new agent must be available,
        or not ready for `consulted` (the reason they were set to while consulted)."""
        ticket = self._ticket(call_id)
        call = ticket.call
        old = ticket.agent
        if call.state is not CallState.ANSWERED or old is None:
            raise InvalidTransition(f"call {call_id} is {call.state.value}, not answered")
        new = self._agent(agent_id)
        if new is old:
            raise InvalidTransition(f"call {call_id} is agent {agent_id}'s already")
        free = new.state is AgentState.AVAILABLE or (
            consulted != "" and new.state is AgentState.NOT_READY and new.reason == consulted
        )
        if not free:
            raise InvalidTransition(
                f"agent {agent_id} is {new.state.value}: a call passes only to an available agent"
            )
        now = self._clock.now
        old.ticket = None
        new.ticket = ticket
        ticket.agent = new
        call.agent_id = agent_id
        new.last_offer = self._next()  # (a transfer counts as an offer when choosing)
        self._set_state(new, AgentState.ON_CALL)
        self._emit(AgentStateChanged(now, agent_id, AgentState.ON_CALL))
        self._set_state(old, AgentState.WRAP_UP)
        self._emit(AgentStateChanged(now, old.agent.id, AgentState.WRAP_UP))
        self._wrap_up_or_free(old, ticket.queue.queue.wrap_up_seconds)

    def resume_call(
        self, call: Call, queue: str, agent_id: str, since: float, answered_at: float
    ) -> None:
        """After a restart: a call its agent was talking to before it, theirs again. The
        agent (logged in, not engaged) is on it from now, as after an answer; the call
        keeps when it first queued (`since`) and when it was answered (`answered_at`)."""
        qr = self._queue(queue)
        if call.id in self._tickets:
            raise InvalidTransition(f"call {call.id} is already in the ACD")
        agent = self._agent(agent_id)
        if agent.state in _BUSY:
            raise InvalidTransition(f"agent {agent_id} is {agent.state.value} already")
        now = self._clock.now
        call.first_queued_at = min(since, now)
        call.queue = queue
        call.queued_at = call.first_queued_at
        call.state = CallState.ANSWERED
        call.answered_at = min(answered_at, now)
        call.agent_id = agent_id
        ticket = _Ticket(call, qr, self._next())
        ticket.agent = agent
        self._tickets[call.id] = ticket
        agent.ticket = ticket
        self._set_state(agent, AgentState.ON_CALL)
        self._emit(AgentStateChanged(now, agent_id, AgentState.ON_CALL))

    def resume_wrap_up(self, agent_id: str, until: float) -> None:
        """After a restart: an agent (logged in, not engaged) who was wrapping up a call
        before it wraps up until `until` (the line's clock), as after the call."""
        agent = self._agent(agent_id)
        if agent.state in _BUSY:
            raise InvalidTransition(f"agent {agent_id} is {agent.state.value} already")
        now = self._clock.now
        self._set_state(agent, AgentState.WRAP_UP)
        self._emit(AgentStateChanged(now, agent_id, AgentState.WRAP_UP))
        self._wrap_up_or_free(agent, max(0.0, until - now))

    def _wrap_up_or_free(self, agent: _AgentRecord, wrap: float) -> None:
        if wrap > 0:
            self._clock.at(self._clock.now + wrap, self._wrap_up_over, agent, agent.epoch)
        else:
            self._agent_free(agent)

    # ------------------------------------------------------------------ agents

    def login(self, agent: Agent, *, ready: bool = True) -> None:
        existing = self._agents.get(agent.id)
        if existing is not None and existing.logout_pending:
            existing.logout_pending = False  # back before the last call ended: stay on
            return
        if existing is not None:
            raise InvalidTransition(f"agent {agent.id} is already logged in")
        now = self._clock.now
        record = _AgentRecord(agent, now)
        self._index(record)
        self._agents[agent.id] = record
        self._count_serving(record, 1)
        self._emit(AgentLoggedIn(now, agent.id))
        if ready:
            self.set_ready(agent.id)
        else:
            self._emit(AgentStateChanged(now, agent.id, AgentState.NOT_READY, record.reason))

    def _index(self, record: _AgentRecord) -> None:
        """Where the agent may be offered calls: the first step of each queue they meet."""
        agent = record.agent
        memberships = agent.queues or tuple(QueueMembership(name) for name in self._queues)
        tiers: dict[int, list[_QueueRecord]] = {}
        record.min_step, record.pools = {}, []
        for m in memberships:
            qr = self._queue(m.queue)
            step = next(
                (j for j, s in enumerate(qr.queue.steps) if s.requirement.met_by(agent.skills)),
                None,
            )
            if step is None:
                continue  # serves the queue but meets none of its steps: never offered
            record.min_step[m.queue] = step
            score = qr.queue.steps[step].requirement.score(agent.skills)
            record.pools.append((qr.pools[step], score))
            tiers.setdefault(m.tier, []).append(qr)
        record.tiers = [tiers[t] for t in sorted(tiers)]

    def _reindex(self, record: _AgentRecord, agent: Agent | None = None) -> None:
        """An agent logged in, indexed again (and counted again where they serve); with
        `agent`, their new skills and queues, a queue the router does not have refused
        before anything changes."""
        if agent is not None:
            for m in agent.queues:
                self._queue(m.queue)
            record.agent = agent
        self._count_serving(record, -1)
        self._index(record)
        self._count_serving(record, 1)

    def _count_serving(self, record: _AgentRecord, sign: int) -> None:
        for name in record.min_step:
            self._serving[name] += sign

    def update_agent(self, agent: Agent) -> None:
        """The agent's skills or queues changed: the next routing decision uses them. An
        agent logged in is indexed again now (an available one may be offered at once a
        call they now qualify for); a call they are on or offered stays theirs."""
        record = self._agents.get(agent.id)
        if record is None:
            return  # not logged in: their next login uses the new skills
        self._reindex(record, agent)
        if record.state is AgentState.AVAILABLE:
            self._agent_free(record, keep_idle_since=True)  # (their old pool places lapse)

    def update_queue(self, queue: Queue) -> None:
        """A queue's steps (requirements, times) or its wrap-up, aging or overflow changed,
        with as many steps as before: the next routing decision uses them; every agent
        logged in is indexed again. Calls keep the step they reached."""
        qr = self._queue(queue.name)
        if len(queue.steps) != len(qr.queue.steps):
            raise InvalidTransition(
                f"queue {queue.name!r} would go from {len(qr.queue.steps)} to "
                f"{len(queue.steps)} steps while calls may wait in it: that takes a restart"
            )
        refuse_bad_queues([*(q.queue for q in self._queues.values()
                             if q.queue.name != queue.name), queue])  # fmt: skip
        qr.queue, qr.rate = queue, queue.aging_per_minute / 60.0
        qr.deadlines = [s.seconds for s in queue.steps]
        for record in list(self._agents.values()):
            self._reindex(record)
            if record.state is AgentState.AVAILABLE:
                self._agent_free(record, keep_idle_since=True)

    def logout(self, agent_id: str) -> bool:
        """Log out now if the agent is free, else as soon as their call and wrap-up end."""
        agent = self._agent(agent_id)
        if agent.state in _BUSY:
            agent.logout_pending = True
            return False
        self._logout_now(agent)
        return True

    def set_ready(self, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is AgentState.AVAILABLE:
            return
        if agent.state not in (AgentState.NOT_READY, AgentState.WRAP_UP):
            raise InvalidTransition(f"agent {agent_id} is {agent.state.value}, cannot be ready")
        agent.then = None
        self._agent_free(agent)

    def set_not_ready(self, agent_id: str, reason: str) -> None:
        agent = self._agent(agent_id)
        if agent.state not in (AgentState.AVAILABLE, AgentState.WRAP_UP, AgentState.NOT_READY):
            raise InvalidTransition(
                f"agent {agent_id} is {agent.state.value}; not-ready is possible once the call ends"
            )
        agent.then = None
        if agent.logout_pending:
            self._logout_now(agent)  # asked to log out when free: free now
            return
        self._set_state(agent, AgentState.NOT_READY, reason)
        self._emit(AgentStateChanged(self._clock.now, agent_id, AgentState.NOT_READY, reason))

    # ------------------------------------------------------------------ queries

    def agent(self, agent_id: str) -> AgentView:
        a = self._agent(agent_id)
        return AgentView(
            agent_id,
            a.state,
            a.reason if a.state is AgentState.NOT_READY else None,
            a.ticket.call.id if a.ticket else None,
            tuple(a.min_step),
            a.logout_pending,
            a.state_since,
            a.then if a.state is AgentState.WRAP_UP else None,
        )

    def agents(self) -> Iterator[AgentView]:
        for agent_id in self._agents:
            yield self.agent(agent_id)

    def serving(self) -> dict[str, int]:
        """By queue, the agents logged in who may be offered its calls (at some step of
        it): those whose `AgentView.queues` name it."""
        return dict(self._serving)

    def calls_held(self) -> int:
        """Calls the ACD holds (waiting, offered or answered); a finished one is let go."""
        return len(self._tickets)

    def waiting(self) -> list[tuple[Call, int]]:
        """Calls waiting (not ringing), with the step each has reached, in enqueue order."""
        return [
            (t.call, t.step) for t in self._tickets.values() if t.call.state is CallState.QUEUED
        ]

    def call(self, call_id: str) -> Call:
        return self._ticket(call_id).call

    def queue(self, name: str) -> Queue:
        return self._queue(name).queue

    def can_take(self, agent_id: str, call_id: str) -> bool:
        """Whether this agent is allowed to answer this call at its current step."""
        agent, ticket = self._agent(agent_id), self._ticket(call_id)
        step = agent.min_step.get(ticket.queue.queue.name)
        return step is not None and step <= ticket.step

    def state_seconds(self) -> dict[AgentState, float]:
        """Agent-seconds spent in each state so far, over all agents."""
        now = self._clock.now
        totals = self._seconds.as_dict()
        for a in self._agents.values():
            totals[a.state] += now - a.state_since
        return totals

    def best_agent_for(self, call_id: str) -> str | None:
        """Who the router would offer this waiting call to now (no side effects)."""
        agent = self._best_agent_for(self._ticket(call_id))
        return agent.agent.id if agent else None

    def best_call_for(self, agent_id: str) -> str | None:
        """Which waiting call this agent would be offered now (no side effects)."""
        ticket = self._best_call_for(self._agent(agent_id))
        return ticket.call.id if ticket else None

    # ------------------------------------------------------------------ decisions

    def _best_agent_for(self, ticket: _Ticket) -> _AgentRecord | None:
        best: _PoolEntry | None = None
        pools = ticket.queue.pools
        for step in range(min(ticket.step, len(pools) - 1) + 1):
            pool = pools[step]
            while pool:
                head = pool[0]
                if head.live():
                    if best is None or _ahead(head, best):
                        best = head
                    break
                _pool_pop(pool)
        return best.agent if best else None

    def _best_call_for(self, agent: _AgentRecord) -> _Ticket | None:
        now = self._clock.now
        min_step = agent.min_step
        for tier in agent.tiers:
            best: _Ticket | None = None
            best_key: tuple[float, float, int] | None = None
            for qr in tier:
                rate = qr.rate
                waiting = qr.waiting
                for step in range(min_step[qr.queue.name], len(waiting)):
                    heap = waiting[step]
                    while heap:
                        head = heap[0]
                        t = head[3]
                        if head[4] == t.token and t.call.state is CallState.QUEUED:
                            key = (-(t.base + rate * now), head[1], head[2])
                            if best_key is None or key < best_key:
                                best, best_key = t, key
                            break
                        heappop(heap)
            if best is not None:
                return best
        return None

    # ------------------------------------------------------------------ mechanics

    def _place(
        self,
        ticket: _Ticket,
        qr: _QueueRecord,
        now: float,
        *,
        requeued: bool = False,
        then_callback: bool = False,
    ) -> None:
        """Put a call at step 0 of a queue (on enqueue and on overflow); `requeued`: it is
        back in the place it had (CallRequeued, not a second CallQueued)."""
        call = ticket.call
        call.state = CallState.QUEUED
        call.queue = qr.queue.name
        call.queued_at = now
        assert call.first_queued_at is not None
        ticket.queue = qr
        ticket.step = 0
        ticket.epoch += 1
        ticket.base = call.priority - qr.rate * call.first_queued_at
        if requeued:
            self._emit(
                CallRequeued(now, call.id, qr.queue.name, call.priority, call.first_queued_at)
            )
        else:
            self._emit(CallQueued(now, call.id, qr.queue.name, call.priority))
        if then_callback:
            self._emit(CallbackAccepted(now, call.id, qr.queue.name))
        limit = qr.deadlines[0]
        if limit is not None:
            self._clock.at(now + limit, self._escalate, ticket, ticket.epoch, 0)
        self._seat(ticket)

    def _seat(self, ticket: _Ticket) -> None:
        """Offer a waiting call to the best agent who may take it, or let it wait."""
        agent = self._best_agent_for(ticket)
        if agent is not None:
            self._offer(ticket, agent)
            return
        ticket.token += 1
        heap = ticket.queue.waiting[ticket.step]
        heappush(
            heap,
            (-ticket.base, ticket.call.first_queued_at or 0.0, ticket.seq, ticket, ticket.token),
        )
        if len(heap) > 2 * len(self._tickets) + 32:
            # stale entries of calls that escalated, abandoned or were offered: a heap no
            # agent looks at (nobody meets its step) would otherwise only grow
            heap[:] = [
                e for e in heap if e[4] == e[3].token and e[3].call.state is CallState.QUEUED
            ]
            heapify(heap)

    def _escalate(self, ticket: _Ticket, epoch: int, step: int) -> None:
        call = ticket.call
        if (
            ticket.epoch != epoch
            or ticket.step != step
            or call.state
            not in (
                CallState.QUEUED,
                CallState.OFFERED,
            )
        ):
            return
        qr = ticket.queue
        ticket.step = step + 1
        now = self._clock.now
        if ticket.step == len(qr.waiting):
            if call.state is CallState.QUEUED:
                self._overflow(ticket)
            return  # a ringing call overflows only if the offer fails
        self._emit(CallEscalated(now, call.id, qr.queue.name, ticket.step))
        limit = qr.deadlines[ticket.step]
        if limit is not None:
            self._clock.at(now + limit, self._escalate, ticket, epoch, ticket.step)
        if call.state is CallState.QUEUED:
            self._seat(ticket)

    def _overflow(self, ticket: _Ticket) -> None:
        qr = ticket.queue
        overflow = qr.queue.overflow
        assert overflow is not None  # checked: a last step with a limit has an overflow
        call = ticket.call
        now = self._clock.now
        self._emit(CallOverflowed(now, call.id, qr.queue.name, overflow.queue, overflow.fallback))
        if overflow.queue is not None:
            self._place(ticket, self._queues[overflow.queue], now)
            return
        call.state = CallState.OVERFLOWED
        call.ended_at = now
        del self._tickets[call.id]

    def _offer(self, ticket: _Ticket, agent: _AgentRecord) -> None:
        now = self._clock.now
        call = ticket.call
        self._set_state(agent, AgentState.RESERVED)
        agent.ticket = ticket
        agent.last_offer = self._next()
        call.state = CallState.OFFERED
        call.offered_at = now
        call.agent_id = agent.agent.id
        ticket.agent = agent
        ticket.offer_token += 1
        self._emit(CallOffered(now, call.id, agent.agent.id, ticket.queue.queue.name))
        if agent.agent.auto_answer:
            self.answer(call.id, agent.agent.id)
        else:
            self._clock.at(
                now + self._offer_timeout, self._ring_no_answer, ticket, ticket.offer_token
            )

    def _ring_no_answer(self, ticket: _Ticket, offer_token: int) -> None:
        if ticket.offer_token == offer_token and ticket.call.state is CallState.OFFERED:
            self._withdraw(ticket, NotReadyReason.RING_NO_ANSWER)

    def _withdraw(self, ticket: _Ticket, reason: str) -> None:
        """The offer failed through the agent: agent not-ready, call back in its place."""
        agent = ticket.agent
        assert agent is not None
        now = self._clock.now
        call = ticket.call
        self._emit(OfferWithdrawn(now, call.id, agent.agent.id, reason))
        agent.ticket = None
        ticket.agent = None
        call.state = CallState.QUEUED
        call.agent_id = None
        self._set_state(agent, AgentState.NOT_READY, reason)
        self._emit(AgentStateChanged(now, agent.agent.id, AgentState.NOT_READY, reason))
        if agent.logout_pending:
            self._logout_now(agent)
        if ticket.step == len(ticket.queue.waiting):
            self._overflow(ticket)
        else:
            self._seat(ticket)

    def _wrap_up_over(self, agent: _AgentRecord, epoch: int) -> None:
        if agent.epoch == epoch and agent.state is AgentState.WRAP_UP:
            then, agent.then = agent.then, None
            if then is None:
                self._agent_free(agent)
            else:
                self.set_not_ready(agent.agent.id, then)

    def after_wrap_up(self, agent_id: str, reason: str | None) -> None:
        """What the agent will be when their wrap-up's time runs out: available (None) or
        not ready for `reason`."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise InvalidTransition(f"agent {agent_id} is {agent.state.value}, not wrapping up")
        agent.then = reason

    def _agent_free(self, agent: _AgentRecord, *, keep_idle_since: bool = False) -> None:
        """The agent can take a call: log out if asked to, else take one or join the pools."""
        if agent.logout_pending:
            self._logout_now(agent)
            return
        now = self._clock.now
        self._set_state(agent, AgentState.AVAILABLE)
        if not keep_idle_since:
            agent.idle_since = now
        agent.ready_seq = self._next()
        self._emit(AgentStateChanged(now, agent.agent.id, AgentState.AVAILABLE))
        ticket = self._best_call_for(agent)
        if ticket is not None:
            self._offer(ticket, agent)
            return
        policy = self._policy
        limit = 2 * len(self._agents) + 32
        for pool, score in agent.pools:
            key = sort_key(
                policy, idle_since=agent.idle_since, score=score, last_offer=agent.last_offer
            )
            _pool_push(pool, _PoolEntry(key, agent.ready_seq, agent, agent.epoch))
            if len(pool) > limit:
                _compact(pool)

    def _logout_now(self, agent: _AgentRecord) -> None:
        self._set_state(agent, AgentState.OFFLINE)
        self._count_serving(agent, -1)
        del self._agents[agent.agent.id]
        self._emit(AgentLoggedOut(self._clock.now, agent.agent.id))

    def _set_state(self, agent: _AgentRecord, state: AgentState, reason: str | None = None) -> None:
        now = self._clock.now
        self._seconds.add(agent.state, now - agent.state_since)
        agent.state = state
        agent.state_since = now
        agent.reason = reason
        agent.epoch += 1

    def _queue(self, name: str) -> _QueueRecord:
        try:
            return self._queues[name]
        except KeyError:
            raise UnknownQueue(f"no queue named {name!r}") from None

    def _agent(self, agent_id: str) -> _AgentRecord:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"agent {agent_id!r} is not logged in") from None

    def _ticket(self, call_id: str) -> _Ticket:
        try:
            return self._tickets[call_id]
        except KeyError:
            raise UnknownCall(f"call {call_id!r} is not in the ACD") from None


def _compact(pool: list[_PoolEntry]) -> None:
    """Drop stale entries of agents who left the pool since they were pushed."""
    pool[:] = [e for e in pool if e.live()]
    for pos in reversed(range(len(pool) // 2)):  # (heapq.heapify)
        _sift_down(pool, pos)
