"""The live driver: the server's lines (a switchboard each, on one floor of shared
agents), fed by carrier webhooks and agents' requests.

Each public method is one use case: it hands the line the command belongs to (by the
called number, or the call it names; an agent's request goes to the floor) one command at
the wall clock's time and turns what came of it into the command's writes (one unit of work, for
the writer), its news (for the hub) and its effects: what must reach an agent's browser
or the carrier goes to `outbox` for the adapters; look-ups go to the workers. The web
adapter holds one lock around each use case, so the switchboard sees one at a time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from hotline.domain.agent import AgentState, NotReadyReason
from hotline.domain.events import (
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    OfferWithdrawn,
)
from hotline.errors import CallNotRecovered, HotlineError, LineStopped, UnknownAgent
from hotline.ivr.interpreter import Action, Digits, Input, Say, Speech, Timeout
from hotline.ivr.line import LineFlow
from hotline.records.audit import record_entry
from hotline.records.port import Connector
from hotline.routing.engine import AgentView
from hotline.service.health import WriteHealth
from hotline.service.hub import News
from hotline.service.lines import load_line
from hotline.service.lookups import LookupWorkers
from hotline.service.stats import right_now
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    SaveAgent,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.service.writer import Writer
from hotline.sim.scenario import Scenario
from hotline.store.guards import LookupGuards
from hotline.store.repository import Happened, Store
from hotline.switchboard import commands as c
from hotline.switchboard.board import (
    CONSULTED,
    SUPERVISING,
    WITHDRAWN,
    Outcome,
    Switchboard,
    caller_call,
    may_go_on,
)
from hotline.switchboard.commands import AgentStatus, Command, HoldState
from hotline.switchboard.effects import (
    ChangeCall,
    Connect,
    DialBack,
    DropLookup,
    EndCall,
    EndLeg,
    Leg,
    Offer,
    OpenCall,
    Park,
    StartLookup,
    Withdraw,
)
from hotline.switchboard.events import (
    AgentLegAnswered,
    AnyEvent,
    CallbackNotReached,
    CallbackOffered,
    CalledBack,
    CallHeld,
    Connecting,
    Consulted,
    DialBackPlaced,
    InterpreterLeg,
    LineEvent,
    Supervised,
    Transferred,
    stored,
)
from hotline.switchboard.floor import Floor, agents_of
from hotline.switchboard.line import LineConfig, line_of
from hotline.switchboard.records import CallRow
from hotline.yamlfile import read_text

R = TypeVar("R")
# what the adapters carry out
Outgoing = Offer | Withdraw | Connect | DialBack | Leg | EndLeg | Park | EndCall
COMMIT_WAIT = 0.5  # seconds a reply waits for its unit of work to land (then goes anyway)
REPLIES_KEPT = 100_000  # replies (and calls' lines) remembered for late carrier callbacks
STOPPED = (
    "this server no longer serves the line (handed over to another node, or "
    "stopping): nothing was done; try again shortly"
)

log = logging.getLogger("hotline.live")


def row_state(e: AnyEvent) -> dict[str, object] | None:
    """What an ACD event says of its call's row in the store (its state and queue)."""
    if isinstance(e, CallQueued | CallRequeued):
        return {"state": "queued", "queue": e.queue}
    if isinstance(e, OfferWithdrawn):  # (emitted before the call is back in its queue)
        return {"state": "queued"}
    if isinstance(e, CallOffered):
        return {"state": "offered", "queue": e.queue}
    if isinstance(e, CallAnswered):
        return {"state": "answered", "queue": e.queue}
    if isinstance(e, CallAbandoned):
        return {"state": "abandoned"}
    if isinstance(e, CallCompleted):
        return {"state": "completed"}
    if isinstance(e, CallOverflowed):
        if e.to_queue is None:
            return {"state": "overflowed"}
        return {"state": "queued", "queue": e.to_queue}
    return None


def _first(history: Sequence[Happened], kind: str) -> float | None:
    """When the call's first event of `kind` happened (None: none did)."""
    return min((e.at for e in history if e.kind == kind), default=None)


REQUEUED = CallRequeued.__name__  # (the router's events are kept by their class's name)


def in_conference(history: Sequence[tuple[str, Mapping[str, object]]]) -> dict[str, Any]:
    """From a call's events, what its conference held besides its caller and agent (for
    `Recovered`): whether the caller was left on hold (and whether they were ever on it:
    put on it by an agent, or waiting there for one), whom the agent was consulting, an
    interpreter, and the supervisors with how each was on it."""
    held, held_before, consult, interpreter = False, False, "", False
    called_back = False  # (a callback's caller on the line waits on hold for an agent)
    supervisors: dict[str, str] = {}
    for kind, data in history:
        if kind == CallHeld.kind:
            held = bool(data.get("held"))
            held_before = held_before or held
        elif kind == CalledBack.kind:
            called_back = True
            held_before = held_before or not data.get("agent_id")
        elif kind == CallbackNotReached.kind:  # (not on the line: dialled again later)
            called_back = False
        elif kind == Consulted.kind:  # (the caller on hold while it lasts)
            consult = str(data.get("to_agent", "")) if data.get("stage") == "started" else ""
            held_before = held_before or bool(consult)
        elif kind in (Transferred.kind, REQUEUED):  # off hold: to the new agent, or back
            held, consult = False, ""  # in a queue (the next agent's answer takes them off)
            if kind == REQUEUED:  # a caller called back waits on hold in the conference;
                held_before = called_back  # any other leaves it for the hold loop (and
                # joins the next agent's afresh)
        elif kind == InterpreterLeg.kind:  # (added; removed, or not reached: off it)
            interpreter = data.get("stage") == "added"
        elif kind == Supervised.kind:  # (a mode; left, or not reached: off it)
            name, mode = str(data.get("supervisor", "")), str(data.get("mode", ""))
            if mode in SUPERVISING:
                supervisors[name] = mode
            else:
                supervisors.pop(name, None)
    return {"held": held, "held_before": held_before, "consult": consult,
            "interpreter": interpreter, "supervisors": tuple(supervisors.items())}  # fmt: skip


def dial_back_of(
    history: Sequence[tuple[str, Mapping[str, object]]],
) -> tuple[bool, str, int]:
    """A callback's dial-back as its events tell: whether the caller is on the line through
    it (their last dial-back answered, not missed: they talk to their agent, or wait on
    hold for the next), and its own call's sid: the one they are on the line through, else
    the last one the carrier took with no word of it since, answered or missed (its agent
    may have gone meanwhile: the next agent waits for that dial-back's answer too); "":
    none known, or written before the sid was kept. Then the number below which the call's
    dial-backs are over (`CallRecord.dial`): that last one's (`DialBack.dial`), or one
    above the one missed last; 0: none known, or the caller is on the line, whom no miss
    concerns."""
    placed, dial = "", 0
    for i in range(len(history) - 1, -1, -1):
        kind, data = history[i]
        if kind == CalledBack.kind:
            return True, str(data.get("leg", "")), 0
        if kind == CallbackNotReached.kind:
            if not placed:  # (none placed since: the one missed, placed before it, is over)
                missed = next((_dial(d) for k, d in reversed(history[:i])
                               if k == DialBackPlaced.kind), 0)  # fmt: skip
                dial = missed + 1 if missed else 0
            return False, placed, dial
        if kind == DialBackPlaced.kind and not placed:
            placed, dial = str(data.get("leg", "")), _dial(data)
    return False, placed, dial


def _not_rebuilt(row: CallRow, cause: str, history: Sequence[Happened]) -> c.NotRebuilt:
    """A call left at a start, with what its events say of its caller (`c.NotRebuilt`)."""
    told = [(e.kind, e.data) for e in history]
    leg = dial_back_of(told)[1] if row.callback_number is not None else ""
    there = in_conference(told)
    return c.NotRebuilt(row, cause, leg, bool(there["held"] or there["held_before"]),
                        str(there["consult"]))  # fmt: skip


def _may_be_talking(gone: c.NotRebuilt, statuses: Mapping[str, str | None]) -> bool:
    """Whether a call left at a start may have its agent talking on it still: one answered
    whose caller's call may go on (a callback's: its dial-back's; none placed, no caller
    comes: the line no longer knows the call)."""
    caller = caller_call(gone.row, gone.leg)
    return gone.row.state == "answered" and bool(caller) and may_go_on(caller, statuses)


def _dial(data: Mapping[str, object]) -> int:
    """A `dial-back-placed` event's number (0: written before it was kept)."""
    number = data.get("dial", 0)
    return number if isinstance(number, int) else 0


@dataclass(frozen=True)
class Reloaded:
    """What a reload of the lines' configuration did, by line: what changed, and why a
    line's new configuration was refused (it keeps its own until a restart)."""

    changed: dict[str, list[str]]
    refused: dict[str, str]
    added: list[str] = field(default_factory=list)  # lines served from now


PRESENCE_LOST = "connection-lost"  # the not-ready reason of an agent whose desktop went
# the not-ready reason of an agent whose call goes on after a restart without them being
# held to it (their phone was ringing for it as the line stopped): they say when they are free
AFTER_RESTART = "after-restart"
AVAILABLE, NOT_READY = AgentState.AVAILABLE.value, AgentState.NOT_READY.value
OFFLINE = AgentState.OFFLINE.value
ON_CALL, WRAP_UP = AgentState.ON_CALL.value, AgentState.WRAP_UP.value


@dataclass(frozen=True)
class LineSetup:
    """One line as the server answers it: its scenario (queues, agents, policies), flow,
    number and time zone."""

    scenario: Scenario
    flow: LineFlow
    number: str
    timezone: str
    mode: str = "normal"  # one of LINE_MODES

    @property
    def name(self) -> str:
        return self.scenario.name


def _touched(steps: Sequence[tuple[str, Outcome[Any]]]) -> set[str]:
    """The agents whose state the steps may have changed."""
    return set().union(*(agents_of(o) for _, o in steps))


def line_setup(store: Store, meta: Mapping[str, Any], flow_path: str | Path | None) -> LineSetup:
    """A line of the store (`meta`: as `Store.lines` gives it) as the server answers it,
    validated as a scenario file is, with its active flow version as the store keeps it
    (its catalogs and includes beside the flow's file; `flow_path` if the store names none)."""
    scenario = load_line(store, meta["name"])
    path = meta["flow_path"] or flow_path
    if path is None:
        raise HotlineError(f"line {meta['name']!r} has no flow: hotline line import FILE "
                           "--flow FLOW_FILE")  # fmt: skip
    queues = [q.name for q in scenario.queues]
    if meta["flow"] is not None:
        source = store.flow_source(meta["flow"], meta["flow_version"])
        flow = LineFlow(path=path, line_queues=queues, source=source)
    else:
        flow = LineFlow(path=path, line_queues=queues)
        store.record_flow(flow.flow.name, flow.flow.version, read_text(path), time.time())
    return LineSetup(scenario, flow, meta["number"], meta["timezone"], meta["mode"])


class LiveLine:
    def __init__(
        self,
        *,
        lines: Sequence[LineSetup],
        store: Store,
        connectors: Mapping[str, Connector],
        wall: Callable[[], float] = time.time,
        commit_wait: float = COMMIT_WAIT,
        lookup_clock: Callable[[], float] = time.monotonic,
        serves: Callable[[str], bool] = lambda _line: True,
        home: bool = True,
        shared: bool = False,
    ) -> None:
        """`lines`: the first answers numbers no line has (with a refusal); `home`: whether
        it is the settings' line, which also recovers the open calls of lines no longer in
        the store (a node that serves other lines leaves them to the node that serves it).
        `serves(line)`: whether a line added to the store is served here (one node of
        several serves only the lines whose lease it holds: service.node).
        `commit_wait`: seconds a reply waits for its writes to land before it is sent
        anyway (the writes wait in order; callers are never held by the store).
        `lookup_clock`: what a look-up's deadline is measured on; real seconds, even when
        `wall` runs faster (the demo), as a record system takes real time to answer.
        `shared`: other nodes share the store (their lockouts' times are the database's)."""
        if not lines:
            raise ValueError("a server needs at least one line")
        self.setups = {s.name: s for s in lines}
        self.store = store
        self.wall = wall
        self.serves = serves
        self.home = home
        self.awaiting: set[str] = set()  # lines new in the store not (yet) this server's
        # the connectors of the agents' record look-ups, which no flow may use (it has none
        # of them: `bootstrap.build_line`); an upload naming one is refused
        self.desk_connectors: frozenset[str] = frozenset()
        self.boards = {s.name: self._board_of(s) for s in lines}
        self.floor = Floor(self.boards)
        self.first = lines[0].name
        self.by_number = {s.number: s.name for s in lines}
        self.roster = {a: agent for b in self.boards.values() for a, agent in b.line.agents.items()}
        self.outbox: list[Outgoing] = []
        self.news: list[News] = []  # the current command's events, for the hub
        # The current command's writes: `commit` hands them to the writer as one unit of
        # work; the switchboard never waits on (or fails with) the store.
        self.writes: list[Write] = []
        # Replies given, so a retry is answered alike even while the store is down (the
        # store keeps them across restarts; `recover` loads those of open calls).
        self.replies: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.lately: OrderedDict[str, str] = OrderedDict()  # the last calls' lines, bounded
        self.health = WriteHealth(wall=wall)
        self.commit_wait = commit_wait
        self.writer = Writer(store=store, health=self.health, stuck_after=commit_wait)
        # Record look-ups run in workers, never in a command; their answers come back as
        # commands at the next `tick` (or the start of the next use case).
        # (each in the audit trail, in a transaction of its own: none answers unaudited)
        self.lookups = LookupWorkers(
            connectors=connectors,
            wall=lookup_clock,
            audit=lambda e: record_entry(self.store.engine, e),
            guards=LookupGuards(store, database_clock=shared),
            guard_clock=wall,
        )
        self.command_at: float | None = None  # the time of the use case under way
        # each agent's state as last kept in the store (one row per agent, not per call)
        self.kept_agents: dict[str, SaveAgent] = {}
        self.keeping: set[str] | None = None  # agents to keep at the end of a start

    def _board_of(self, s: LineSetup) -> Switchboard:
        config = line_of(s.scenario, flow=s.flow.flow, number=s.number, timezone=s.timezone,
                         mode=s.mode)  # fmt: skip
        return Switchboard(line=config, start=self.wall())

    def line_of(self, sid: str) -> str:
        """The line a call is on, or was on if it ended lately (a recording's callback
        comes after the caller left the queue); the first line, for a call none knows."""
        line = next((name for name, b in self.boards.items() if b.knows(sid)), None)
        return line or self.lately.get(sid, self.first)

    def knows(self, sid: str) -> bool:
        """Whether a line has the call open, or had it lately."""
        return sid in self.lately or any(b.knows(sid) for b in self.boards.values())

    def _board(self, sid: str) -> Switchboard:
        return self.boards[self.line_of(sid)]

    # -- running commands

    def _run(self, command: Command[R], line: str | None = None) -> R:
        """One command at the use case's time (so no timer fires after the use case began);
        its steps, on every line it touched, become writes, news and effects. Refused
        (LineStopped) once the lines have stopped here, before it changes anything: none
        of its writes could land, so its sender must not hear it was done."""
        if self.writer.closed:
            raise LineStopped(STOPPED)
        now = self.command_at if self.command_at is not None else self.wall()
        if line is None:
            sid = getattr(command, "sid", None)
            line = self.first if sid is None else self.line_of(sid)
        try:
            handled = self.floor.handle(line, command, now)
        except Exception:  # refused: it changed nothing, but what came before it did
            untold = self.floor.take_untold()
            for name, outcome in untold:
                self._apply(name, outcome)
            self._keep(_touched(untold))
            raise
        for name, outcome in handled.steps:
            self._apply(name, outcome)
        touched = _touched(handled.steps)  # (and the agent who asked: a log-out on a call
        if (agent_id := getattr(command, "agent_id", None)) is not None:  # is no event)
            touched.add(agent_id)
        self._keep(touched)
        return handled.result

    def _keep(self, agent_ids: Collection[str]) -> None:
        """The state of these agents, kept in the store where it changed (with the call
        they are on or wrap up, its queue, and since when): a restart resumes it."""
        if self.keeping is not None:  # (a start resuming agents: kept once at its end)
            self.keeping.update(agent_ids)
            return
        for agent_id in sorted(agent_ids):
            try:
                home = self.floor.home(agent_id)
            except UnknownAgent:
                continue
            board = self.boards[home]
            state = board.agent_state(agent_id)
            kept = self.kept_agents.get(agent_id)
            sid, queue, since = state.get("call_sid"), None, board.now
            if state["state"] == WRAP_UP:  # the call they wrap up
                if (wrapped := board.wrapping.get(agent_id)) is not None:
                    sid, queue = wrapped
                elif kept is not None and kept.state in (ON_CALL, WRAP_UP):
                    sid, queue = kept.call_sid, kept.queue
                if kept is not None and kept.state == WRAP_UP and kept.call_sid == sid:
                    since = kept.since  # (the same wrap-up, resumed)
            elif sid is not None and (r := board.records.get(sid)) is not None:
                queue = r.call.queue if r.call is not None else r.row.queue
            reason = state.get("reason")  # (wrapping up: what they chose for after it)
            if state["state"] == WRAP_UP:
                reason = board.after_wrap_up_of(agent_id)
            now = SaveAgent(agent_id, state["state"] or "", reason, sid, queue, since, home,
                            board.leaving(agent_id))  # fmt: skip
            if kept is None or replace(kept, since=since) != now:
                self.kept_agents[agent_id] = now
                self.writes.append(now)

    def _apply(self, line: str, outcome: Outcome[object]) -> None:
        """Writes for the store (the new calls' rows first, then each event with what it
        says of its call's row, then the other changes), news for the hub, effects out."""
        now = self.boards[line].now
        for f in outcome.effects:
            if isinstance(f, OpenCall):
                self.writes.append(AddCall(f.row, now))
                self._lately(f.row.sid, line)
        for e in outcome.events:
            kind, sid, data = stored(e)
            self.writes.append(AppendEvent(sid, e.at, kind, data, line))
            if sid is not None and (values := row_state(e)) is not None:
                self.writes.append(UpdateCall(sid, e.at, values, line))
            core = None if isinstance(e, LineEvent) else e
            self.news.append(News(e.at, kind, sid, data, core, line))
        for f in outcome.effects:
            if isinstance(f, ChangeCall):
                self.writes.append(UpdateCall(f.sid, now, f.changes, line))
            elif isinstance(f, StartLookup):
                self.lookups.start(f.ticket, f.call_sid, f.lookup)
            elif isinstance(f, DropLookup):
                self.lookups.drop(f.ticket)
            elif not isinstance(f, OpenCall):
                self.outbox.append(f)

    def _lately(self, sid: str, line: str) -> None:
        """A call this node has (or had lately): the last REPLIES_KEPT, with their lines."""
        self.lately[sid] = line
        if len(self.lately) > REPLIES_KEPT:
            self.lately.popitem(last=False)

    def tick(self) -> None:
        """Fire every timer that fell due (offer timeouts, escalations, wrap-ups) and hand
        the switchboard the look-ups that answered (not during a use case: `begin` did)."""
        if self.command_at is None:
            self._fire()

    def _fire(self) -> None:
        self._run(c.Tick())
        for answer in self.lookups.answers():
            try:
                self._run(c.LookupAnswered(answer.call_sid, answer.ticket, answer.result))
            except Exception:  # one caller's broken answer must not stop the others'
                log.exception("the answer to a look-up for call %s failed", answer.call_sid)

    def begin(self) -> None:
        """A use case starts, at one time for all it does: the timers due by then fire
        first. (A command the core refuses changes nothing and so writes nothing; what
        the use case did before it stands, and is written.)"""
        self.command_at = self.wall()
        self._fire()

    def end(self) -> None:
        self.command_at = None

    # -- the store

    def reply(self, sid: str, step: str) -> str | None:
        """The TwiML already given to this carrier callback (a retry gets it again)."""
        return self.replies.get((sid, step))

    def answered(self, sid: str, step: str, twiml: str) -> None:
        """Keep the reply to a carrier callback, written with the changes it caused."""
        self.replies[(sid, step)] = twiml
        if len(self.replies) > REPLIES_KEPT:
            self.replies.popitem(last=False)
        self.writes.append(SaveReply(sid, step, twiml, self.wall(), self.line_of(sid)))

    def commit(self) -> Future[bool] | None:
        """The use case is done: its writes go to the writer as one unit of work."""
        writes, self.writes = self.writes, []
        return self.writer.submit(writes)

    def flush(self) -> None:
        """Commit, then try every waiting unit of work now, in this thread."""
        self.commit()
        self.writer.drain()

    def take_news(self) -> list[News]:
        """The events of the use cases run since the last call, in order (for the hub)."""
        news, self.news = self.news, []
        return news

    def held(self) -> dict[str, int]:
        """What the lines hold in memory for calls, where they hold any (nothing once every
        call has ended and its timers have run; the replies kept for carrier retries and
        the last calls' lines are bounded by REPLIES_KEPT and not counted)."""
        held: Counter[str] = Counter()
        for b in self.boards.values():
            held.update(b.held())
        if running := self.lookups.running():
            held["look-ups"] = running
        return dict(held)

    # -- what the adapters ask of a call

    def ivr_run(self, sid: str) -> tuple[int, int] | None:
        return self._board(sid).ivr_run(sid)

    def generation(self, sid: str) -> int:
        return self._board(sid).generation(sid)

    def lookup_ticket(self, sid: str) -> int | None:
        return self._board(sid).lookup_ticket(sid)

    def waiting_on_lookup(self, sid: str) -> bool:
        return self._board(sid).waiting_on_lookup(sid)

    def resumable(self, sid: str) -> bool:
        return self._board(sid).resumable(sid)

    def in_ivr(self) -> int:
        return sum(b.in_ivr() for b in self.boards.values())

    def in_acd(self, sid: str) -> bool:
        return self._board(sid).in_acd(sid)

    def unverified(self) -> list[str]:
        return sorted(sid for b in self.boards.values() for sid in b.unverified())

    # -- calls

    def incoming(self, sid: str, caller: str, called: str) -> list[Action] | None:
        """What the caller hears first (None: no line answers `called`)."""
        return self._run(c.Arrive(sid, caller, called), self.by_number.get(called, self.first))

    def resume_ivr(self, sid: str) -> list[Action]:
        return self._run(c.ResumeIvr(sid))

    def ivr_input(self, sid: str, event: Input) -> list[Action]:
        return self._run(c.CallerInput(sid, event))

    def looked_up(self, sid: str) -> list[Action] | None:
        """What the flow said once the caller's look-up answered; None while it runs."""
        return self._run(c.HearLookup(sid))

    def hold(self, sid: str) -> tuple[HoldState, list[Say]]:
        return self._run(c.HoldPoll(sid))

    def take_callback(self, sid: str) -> list[Say] | None:
        return self._run(c.TakeCallback(sid))

    def status(
        self, sid: str, status: str, *, dial_back: bool = False, leg: str = "", dial: int = 0
    ) -> None:
        self._run(c.CarrierStatus(sid, status, dial_back, leg, dial))

    def dialled_back(self, sid: str, leg: str, dial: int) -> None:
        """The carrier took a callback's dial-back (`dial`, `DialBack.dial`): `leg`, its own
        call's sid."""
        self._run(c.CarrierDialledBack(sid, leg, dial))

    def voicemail(self, sid: str, recording_url: str) -> None:
        self._run(c.Voicemail(sid, recording_url))

    def dial_done(
        self, sid: str, dial_status: str, attempt: int, *, in_conference: bool = False
    ) -> bool:
        return self._run(c.DialDone(sid, dial_status, attempt, in_conference))

    def leg_status(self, sid: str, label: str, status: str) -> None:
        self._run(c.LegStatus(sid, label, status))

    def agent_leg_ended(self, sid: str, attempt: int) -> None:
        self._run(c.AgentLegEnded(sid, attempt))

    def agent_leg_answered(self, sid: str, attempt: int, leg: str = "") -> None:
        """`leg`: the leg's own id, which the line may hang up if it answers for a connect
        that is over; not given for a call this node never had (a failed node's call whose
        state was lost: its caller and agent talk on, and nothing here may cut them off)."""
        self._run(c.LegAnswered(sid, attempt, leg if self.knows(sid) else ""))

    def carrier_refused(
        self, sid: str, attempt: int | None, *, gone: bool = False, dial: int = 0
    ) -> None:
        self._run(c.CarrierRefused(sid, attempt, gone, dial))

    def recover(
        self, statuses: Mapping[str, str | None], left: Mapping[str, str] | None = None
    ) -> dict[str, int]:
        """After a restart: rebuild the lines served here from the store's open calls (each
        on the line of the number it called), with what the carrier said of each
        (`statuses`, see `commands.Recover`), and their agents as they were: those logged in
        are logged in again first, each bridged call goes back to its agent, then each
        agent resumes their state (ready or not and why, what is left of a wrap-up). The
        calls and agents of lines another node serves are theirs: left as they are.
        `left`: calls not rebuilt but closed, each with the fault an earlier try met (see
        `commands.Recover`). A call whose rebuilding fails raises CallNotRecovered with
        nothing written and this line half-built: `bootstrap.build_line` builds another,
        with that call left."""
        left = left or {}
        leaving: dict[str, list[c.NotRebuilt]] = {name: [] for name in self.boards}
        in_store = {meta["name"]: meta["number"] for meta in self.store.lines()}
        on_lines = self.store.agents_lines()
        self.kept_agents = self.store.agent_states()
        back = {a: s for a, s in sorted(self.kept_agents.items())
                if s.state != OFFLINE and a in self.floor.lines_of}  # fmt: skip
        self.keeping = set()  # (their states are kept as they end up, not each step's)
        for agent_id, kept in self.kept_agents.items():  # on no line now: logged out (were
            if kept.state != OFFLINE and agent_id not in self.floor.lines_of \
                    and not set(on_lines.get(agent_id, ())) & in_store.keys():  # fmt: skip
                gone = SaveAgent(agent_id, OFFLINE, None, None, None, self.wall(), self.first)
                self.kept_agents[agent_id] = gone  # they put on one again, they would start
                self.writes.append(gone)  # logged in)
        for agent_id in back:
            self._run(c.Login(agent_id, ready=False))
        on_call = {s.call_sid: a for a, s in back.items()
                   if s.state == ON_CALL and s.call_sid}  # fmt: skip
        found: dict[str, list[c.Recovered]] = {name: [] for name in self.boards}
        ours = self._ours(in_store)
        histories = self.store.histories([row.sid for row, _ in ours])
        for row, line in ours:
            if row.sid in left:
                leaving[line].append(_not_rebuilt(row, left[row.sid], histories[row.sid]))
                continue
            try:
                found[line].append(self._found(row, histories[row.sid], on_call))
            except Exception as e:  # (its kind only: its text may hold the call's data)
                raise CallNotRecovered(row.sid, type(e).__name__) from e
            if row.line not in in_store and row.called not in in_store.values():
                log.warning("call %s called %s, on a line no longer in the store: recovered "
                            "on %r", row.sid, row.called, line)  # fmt: skip
        done: Counter[str] = Counter()
        for line, calls in found.items():
            counts: dict[str, int] = self._run(c.Recover(calls, statuses, leaving[line]), line)
            done.update(counts)
            for recovered in calls:  # (had here, as a call opened here: see `knows`)
                self._lately(recovered.row.sid, line)
        talking = {gone.row.sid for calls in leaving.values() for gone in calls
                   if _may_be_talking(gone, statuses)}  # fmt: skip
        for agent_id, kept in back.items():
            try:
                self._resume_agent(agent_id, kept, talking)
            except HotlineError as e:  # one agent's state must not stop the line's start
                log.warning("agent %s could not resume their state (%s): %s", agent_id,
                            kept.state, e)  # fmt: skip
        touched, self.keeping = self.keeping, None
        self._keep(touched)
        if back:
            log.info("agents logged in again as they were: %d", len(back))
        self.replies.update(self.store.replies([sid for b in self.boards.values()
                                                for sid in b.records]))  # fmt: skip
        self.flush()
        return dict(done)

    def _found(
        self, row: CallRow, happened: Sequence[Happened], on_call: Mapping[str, str]
    ) -> c.Recovered:
        """An open call as its events tell it (`happened`; `on_call`: each call's agent,
        logged in again, by the call's sid)."""
        history = [(e.kind, e.data) for e in happened]
        # the connects whose agent's leg answered since the call last went back to a
        # queue (a transfer there: its caller talked to an agent no longer on it, and
        # the next agent's phone may be ringing, as `_requeue`'s new record says); a
        # warm transfer's connect is to a phone in the call already, which answered
        legs: set[int] = set()
        connect = 0  # (the last connect tried so far: their numbers only grow)
        for k, d in history:
            if k == REQUEUED:
                legs.clear()
            elif k == Connecting.kind:
                connect = max(connect, int(str(d.get("attempt", 0))))
            elif k == AgentLegAnswered.kind:
                legs.add(int(str(d.get("attempt", 0))))
            elif k == Transferred.kind and d.get("warm") is True:
                legs.add(connect)
        # a callback's caller is dialled once its agent's phone answers: it is on a call
        # only if the last connect's did and the caller is on the line (their last
        # dial-back answered, not missed: a called-back caller whose agent went waits
        # there); the last connect's phone answered with the caller not on the line,
        # their dial-back was asked for (it may not have reached the carrier)
        callback = row.callback_number is not None
        on_the_line, dial_back_leg, dial = dial_back_of(history) if callback else (False, "", 0)
        leg_answered = connect in legs
        return c.Recovered(
            row=row,
            since=_first(happened, "CallQueued"),
            attempts=connect,
            offered_callback=any(k == CallbackOffered.kind for k, _ in history),
            bridged=leg_answered and on_the_line if callback else bool(legs),
            **in_conference(history),
            agent=on_call.get(row.sid, ""),
            answered=_first(happened, "CallAnswered"),
            on_the_line=on_the_line,
            dialling_back=callback and leg_answered and not on_the_line,
            dial_back_leg=dial_back_leg,
            dial=dial,
            callback_tries=sum(k == CallbackNotReached.kind and d.get("status") != WITHDRAWN
                               for k, d in history),
        )  # fmt: skip

    def recovering(self) -> list[str]:
        """What `recover` asks the carrier about: the store's open calls it rebuilds here,
        and callbacks' dial-backs (`dial_back_of`: those through which callers called back
        are on the line, their own calls long over, and those placed with no word since).
        Another node's calls are left to it, neither read nor asked of the carrier (a
        takeover of one group does not wait for the carrier's word on every other group's
        calls)."""
        in_store = {meta["name"]: meta["number"] for meta in self.store.lines()}
        ours = [row for row, _line in self._ours(in_store)]
        callbacks = [row.sid for row in ours if row.callback_number is not None]
        histories = self.store.histories(callbacks)
        legs = (dial_back_of([(e.kind, e.data) for e in histories[sid]])[1] for sid in callbacks)
        return [row.sid for row in ours] + [leg for leg in legs if leg]

    def _ours(self, in_store: Mapping[str, str]) -> list[tuple[CallRow, str]]:
        """The store's open calls recovered here, each with the line that recovers it."""
        placed = ((row, self._recovers(row, in_store)) for row in self.store.open_calls())
        return [(row, line) for row, line in placed if line is not None]

    def _recovers(self, row: CallRow, in_store: Mapping[str, str]) -> str | None:
        """The line served here that recovers an open call (as `spread.Placement` sends its
        webhooks): that of the number it called, else its own line if no line has the
        number now, else (neither is in the store) the first line if it is the settings';
        None: another node's."""
        if (line := self.by_number.get(row.called)) is not None:
            return line
        if row.called in in_store.values():
            return None  # (the number of a line served elsewhere)
        if row.line in self.boards:
            return row.line
        if row.line in in_store or not self.home:
            return None
        return self.first

    def _resume_agent(self, agent_id: str, kept: SaveAgent, talking: Collection[str]) -> None:
        """An agent logged in again (not ready) resumes the state the store kept, unless
        the recovery engaged them already (their call is theirs again). One on a call that
        was not rebuilt (`talking`: they may be talking on it still) is not ready
        (`after-restart`) until they say they are free. (A call not rebuilt is not one the
        line had: its agent's phone answering later is not hung up.)"""
        state = self.floor.agent_state(agent_id)
        if (state["state"], state.get("reason")) != (NOT_READY, NotReadyReason.LOGIN):
            pass
        elif kept.state == ON_CALL and kept.call_sid in talking:
            self._run(c.SetReady(agent_id, False, AFTER_RESTART))
        else:
            self._resume_state(agent_id, kept)
        if kept.leaving:  # a log-out asked on the call: once it and its wrap-up end
            self._run(c.Logout(agent_id))

    def _resume_state(self, agent_id: str, kept: SaveAgent) -> None:
        consulted = kept.state == NOT_READY and kept.reason == CONSULTED  # (the restart ended it)
        if kept.state in (AVAILABLE, AgentState.RESERVED.value) or consulted:
            self._run(c.SetReady(agent_id, True))  # (an offer ringing is made again)
        elif kept.state == NOT_READY:
            if kept.reason and kept.reason != NotReadyReason.LOGIN:
                self._run(c.SetReady(agent_id, False, kept.reason))
        elif kept.state == ON_CALL and kept.call_sid \
                and any(b.knows(kept.call_sid) for b in self.boards.values()):  # fmt: skip
            self._run(c.SetReady(agent_id, False, AFTER_RESTART))
        else:  # wrapping up, or their call ended while the line was down: wrap-up
            since = kept.since if kept.state == WRAP_UP else self.wall()
            line = kept.line if kept.line in self.boards else self.floor.home(agent_id)
            then = kept.reason if kept.state == WRAP_UP else None  # (chosen for after it)
            self._run(c.ResumeWrapUp(agent_id, kept.call_sid or "", kept.queue or "", since,
                                     then), line)  # fmt: skip

    def recheck(self, statuses: Mapping[str, str | None]) -> None:
        """The carrier's word on what `unverified` listed, to the line that asked (a
        dial-back's call is not one any line knows by its own sid)."""
        for line, board in self.boards.items():
            asked = set(board.unverified())
            some = {sid: status for sid, status in statuses.items() if sid in asked}
            if some:
                self._run(c.Recheck(some), line)

    # -- the lines' configuration

    def new_lines(self) -> list[LineSetup]:
        """The lines added to the store since the start that this server is to serve (read
        outside the lock: it reads the store and the flow files); one that cannot be
        served (no flow, a flow refused) is logged and left out, the others are served.
        Those not this server's yet are `awaiting` (ask again once `serves` says so)."""
        out, awaiting = [], set()
        for meta in self.store.lines():
            name = meta["name"]
            if name in self.setups:
                continue
            if not self.serves(name):
                awaiting.add(name)  # (not yet: its lease may be ours soon)
                continue
            try:
                out.append(line_setup(self.store, meta, None))
            except HotlineError as e:
                log.error("the new line %r cannot be served: %s", name, e.message)
        self.awaiting = awaiting  # (one assignment: the reload loop reads it meanwhile)
        return out

    def add_lines(self, setups: Sequence[LineSetup]) -> list[str]:
        """Serve these lines from now (`new_lines`): a switchboard each on the floor, and
        the agents on them who are logged in join them in their state. A line whose number
        another line has is refused (logged)."""
        added = []
        for setup in setups:
            name = setup.name
            if name in self.boards:
                continue
            if setup.number in self.by_number:
                log.error("line %r cannot be served: its number %s is line %r's", name,
                          setup.number, self.by_number[setup.number])  # fmt: skip
                continue
            board = self._board_of(setup)
            self.setups[name], self.boards[name] = setup, board
            self.by_number[setup.number] = name
            self.roster.update(board.line.agents)
            self.floor.add(name, board)
            self._run(c.Reconfigure(board.line), name)  # (those logged in join it)
            added.append(name)
            log.info("line %r (%s) is served from now", name, setup.number)
        return added

    def configs(self) -> dict[str, tuple[LineConfig, LineFlow]]:
        """The store's configuration of each line served, validated as at the start (read
        outside the lock: it reads the store and the flow files). A line added to the store
        is served through `new_lines`; a line removed takes a restart."""
        out = {}
        for meta in self.store.lines():
            name = meta["name"]
            setup = self.setups.get(name)
            if setup is None:
                continue  # (new: `new_lines`)
            scenario = load_line(self.store, name)
            flow = setup.flow
            active = (meta["flow"], meta["flow_version"])
            if meta["flow_path"] and active != (flow.flow.name, flow.flow.version):
                flow = LineFlow(
                    path=meta["flow_path"], line_queues=[q.name for q in scenario.queues],
                    source=self.store.flow_source(*active),
                )  # fmt: skip
            config = line_of(scenario, flow=flow.flow, number=setup.number,
                             timezone=setup.timezone, mode=meta["mode"])  # fmt: skip
            out[name] = (config, flow)
        return out

    def reconfigure(self, configs: Mapping[str, tuple[LineConfig, LineFlow]]) -> Reloaded:
        """Each line whose configuration changed uses it from its next routing decision
        (see `commands.Reconfigure`); a line whose change is refused keeps its own and the
        refusal is logged. Returns what changed, and what was refused, by line."""
        done, refused = {}, {}
        for name, (config, flow) in configs.items():
            if config == self.boards[name].line:
                continue
            try:
                changed = self._run(c.Reconfigure(config), name)
            except HotlineError as e:
                log.error("the new configuration of line %r is refused: %s", name, e.message)
                refused[name] = e.message
                continue
            self.setups[name] = replace(self.setups[name], flow=flow)
            done[name] = changed
            log.info("line %r reconfigured: %s", name, ", ".join(changed) or "no change")
        return Reloaded(done, refused)

    # -- agents (each use case gives the agent's state afterwards, for the API to show)

    def login(self, agent_id: str) -> AgentStatus:
        return self._run(c.Login(agent_id))

    def set_ready(self, agent_id: str, ready: bool, reason: str = "break") -> AgentStatus:
        return self._run(c.SetReady(agent_id, ready, reason))

    def logout(self, agent_id: str) -> AgentStatus:
        return self._run(c.Logout(agent_id))

    def wrap_up(
        self, agent_id: str, code: str, notes: str, *, ready: bool, reason: str = "break"
    ) -> AgentStatus:
        return self._run(c.WrapUp(agent_id, code, notes, ready, reason))

    def accept(self, agent_id: str, call_sid: str) -> AgentStatus:
        return self._run(c.Accept(agent_id, call_sid))

    def decline(self, agent_id: str, call_sid: str) -> AgentStatus:
        return self._run(c.Decline(agent_id, call_sid))

    def after_wrap_up(self, agent_id: str, ready: bool, reason: str = "break") -> AgentStatus:
        return self._run(c.AfterWrapUp(agent_id, ready, reason))

    def hold_call(self, agent_id: str, hold: bool) -> AgentStatus:
        return self._run(c.HoldCall(agent_id, hold))

    def hang_up(self, agent_id: str) -> AgentStatus:
        return self._run(c.HangUp(agent_id))

    def transfer(
        self, agent_id: str, *, queue: str = "", to_agent: str = "", warm: bool = False
    ) -> AgentStatus:
        return self._run(c.Transfer(agent_id, queue, to_agent, warm))

    def finish_transfer(self, agent_id: str, complete: bool) -> AgentStatus:
        return self._run(c.FinishTransfer(agent_id, complete))

    def add_interpreter(self, agent_id: str, on: bool) -> AgentStatus:
        return self._run(c.AddInterpreter(agent_id, on))

    def supervise(self, sid: str, supervisor: str, mode: str) -> None:
        self._run(c.Supervise(sid, supervisor, mode))

    def transfer_targets(self, agent_id: str) -> dict[str, object]:
        """The queues of the line the agent is engaged on (or their first), and its other
        agents who are available now."""
        board = self.boards[self.floor.home(agent_id)]
        free = sorted(v.agent_id for v in board.agents()
                      if v.agent_id != agent_id and v.state is AgentState.AVAILABLE)  # fmt: skip
        return {"line": board.name, "queues": [q.name for q in board.line.queues],
                "agents": [{"agent_id": a, "name": board.line.agents[a].name}
                           for a in free if a in board.line.agents]}  # fmt: skip

    def call_legs(self, sid: str) -> dict[str, object] | None:
        """Who else is on the call's conference, and whether the caller is on hold."""
        return self._board(sid).call_legs(sid)

    def agent_state(self, agent_id: str) -> AgentStatus:
        self.tick()
        return self.floor.agent_state(agent_id)

    def presence_lost(self, agent_id: str) -> bool:
        """The agent's desktop has been gone past the grace period: if they could be
        offered a call they are set not ready (an offer ringing now is declined, so the
        caller goes to the next agent). A call they are on, or its wrap-up, goes on: False
        (ask again later); True once nothing more is to be done."""
        try:
            state = self.floor.agent_state(agent_id)
        except UnknownAgent:  # (an agent a new configuration left out: gone)
            return True
        if state["state"] == "reserved" and state["call_sid"] is not None:
            self.decline(agent_id, state["call_sid"])
            self.set_ready(agent_id, False, PRESENCE_LOST)
        elif state["state"] == "available":
            self.set_ready(agent_id, False, PRESENCE_LOST)
        return state["state"] not in ("on_call", "wrap_up")

    def wrap_up_context(self, agent_id: str) -> dict[str, object] | None:
        """For a desktop that (re)connects while its agent wraps up: the call, the line's
        disposition codes and the wrap-up's limit (None: not wrapping up on a coded line)."""
        for board in self.boards.values():
            if (wrapped := board.wrapping.get(agent_id)) is not None:
                call_id, queue = wrapped
                wrap = next((q.wrap_up_seconds for q in board.line.queues if q.name == queue), 0)
                return {"call_sid": call_id, "line": board.name, "line_number": board.number,
                        "queue": queue, "dispositions": list(board.line.dispositions),
                        "wrap_up_seconds": wrap}  # fmt: skip
        return None

    def offer_context(self, sid: str, agent_id: str | None = None) -> dict[str, object]:
        """What an agent's desktop shows with an offer besides the offer itself: the line
        (its name and number) and how long the caller has waited in the queue; for a
        desktop that reconnects, the call's caller, language, queue and attributes too;
        whether the agent (`agent_id`) lacks the caller's language (an interpreter helps)."""
        board = self._board(sid)
        r = board.records.get(sid)
        agent = board.line.agents.get(agent_id or "")
        lacks = r is not None and agent is not None and agent.skills.get(r.row.language, 0) == 0
        queued = r.call.first_queued_at if r is not None and r.call is not None else None
        waited = 0.0 if queued is None else max(0.0, board.now - queued)
        out: dict[str, object] = {"line": board.name, "line_number": board.number,
                                  "waited_seconds": round(waited, 1),
                                  "dispositions": list(board.line.dispositions)}  # fmt: skip
        language = r.row.language if r is not None else None
        declared = board.flow.languages.get(language or "") if board.flow is not None else None
        if declared is not None:  # the language's own name, as the flow's menu says it
            out["language_name"] = declared.name
        if r is not None:
            wrap = next((q.wrap_up_seconds for q in board.line.queues if q.name == r.row.queue), 0)
            out |= {"caller": r.row.caller, "language": r.row.language, "queue": r.row.queue,
                    "attributes": dict(r.row.attributes), "wrap_up_seconds": wrap}  # fmt: skip
        if lacks:
            out["agent_lacks_language"] = True
        if r is not None and r.call is not None and r.call.callback:  # (called back once
            out["call_back"] = r.row.callback_number or r.row.caller  # the agent's phone answers)
        return out

    def languages(self) -> set[str]:
        """The languages the lines' flows speak."""
        flows = [b.flow for b in self.boards.values() if b.flow is not None]
        return {lang for flow in flows for lang in flow.languages}

    def right_now(self, line: str) -> dict[str, object]:
        """Who waits on the line and for how long, and its agents by state (for
        supervisors; an agent on several lines counts on each)."""
        board = self.boards[line]
        logged_in = list(board.agents())
        roster = board.line.agents
        tags = {lang.tag for lang in self.setups[line].scenario.languages}
        steps = {q.name: q.steps for q in board.line.queues}

        def speaks(v: AgentView) -> tuple[str, ...]:
            """The languages of the steps the agent meets in the queues they serve (an
            interpreter's step names no language)."""
            agent = roster.get(v.agent_id)
            return () if agent is None else tuple(sorted({
                name for q in v.queues for step in steps.get(q, ())
                if step.requirement.met_by(agent.skills)
                for name in step.requirement.skill_names() if name in tags}))  # fmt: skip

        views = [(v.state.value, v.queues, speaks(v)) for v in logged_in]
        others = len(set(roster) - {v.agent_id for v in logged_in})
        agents = views + [(AgentState.OFFLINE.value, (), ())] * others
        now = self.wall()
        return {
            **right_now(board.waiting(), agents, now),
            "agent_list": [
                {"agent_id": v.agent_id, "state": v.state.value, "reason": v.reason,
                 "seconds_in_state": round(max(0.0, now - v.state_since), 1),
                 "call_sid": v.call_id}
                for v in sorted(logged_in, key=lambda v: v.agent_id)
            ],
        }  # fmt: skip


def to_input(
    digits: str | None, speech: str | None, confidence: float | None, timed_out: bool
) -> Input:
    """The carrier's Gather result as an IVR input."""
    if timed_out:
        return Timeout()
    if digits:
        return Digits(digits)
    if speech:
        return Speech(speech, confidence if confidence is not None else 0.0)
    return Timeout()
