"""The switchboard: one line's calls and agents, driven by typed commands.

`handle(command, now)` first fires the timers that fell due by `now` (offer timeouts,
escalations, wrap-ups), then carries out the command, and returns its result with the
events (numbered in one sequence per line) and the effects it led to. A refused command
(one of our errors) returns nothing: what it had emitted is dropped, while the events of
the timers fired before it are handed out with the next command's.

The switchboard keeps one `CallRecord` per open call and drops it when the call ends;
the hold loop, the callback rules and the step order of a call live here and nowhere else.

A driver without a store (the simulator) builds the switchboard with `store_rows=False`:
then it asks for no `OpenCall`/`ChangeCall` effects, and everything else (results,
events, the other effects, the call records) is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeVar, cast
from zoneinfo import ZoneInfo

from hotline.domain.agent import AgentState
from hotline.domain.call import Call, CallState
from hotline.domain.clock import Scheduler
from hotline.domain.events import (
    AgentLoggedOut,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallCompleted,
    CallOffered,
    CallOverflowed,
    Event,
    OfferWithdrawn,
)
from hotline.errors import CallNotRecovered, InvalidTransition, UnknownAgent, UnknownCall
from hotline.ivr.catalog import Value
from hotline.ivr.interpreter import (
    Action,
    CallStarted,
    Enqueue,
    Lookup,
    LookupResult,
    Say,
    Session,
    advance,
    start,
)
from hotline.ivr.languages import callable_number, voice
from hotline.ivr.model import Flow
from hotline.routing.checks import refuse_bad_queues
from hotline.routing.engine import AgentView, EventSink, Router
from hotline.switchboard import commands as c
from hotline.switchboard.commands import (
    Accept,
    AddInterpreter,
    AfterWrapUp,
    AgentLegEnded,
    AgentStatus,
    Arrive,
    CallerInput,
    CarrierDialledBack,
    CarrierRefused,
    CarrierStatus,
    Command,
    Decline,
    DialDone,
    FinishTransfer,
    HangUp,
    HearLookup,
    HoldCall,
    HoldPoll,
    HoldState,
    LegAnswered,
    LegStatus,
    Login,
    Logout,
    LookupAnswered,
    Recheck,
    Reconfigure,
    Recover,
    ResumeIvr,
    ResumeWrapUp,
    Route,
    SetReady,
    Supervise,
    TakeCallback,
    Tick,
    Transfer,
    Voicemail,
    WrapUp,
)
from hotline.switchboard.effects import (
    ChangeCall,
    Connect,
    DialBack,
    DropLookup,
    Effect,
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
    AgentLegFailed,
    AnyEvent,
    CallbackNotReached,
    CallbackOffered,
    CalledBack,
    CallHeld,
    CallRefused,
    ClosedAfterRestart,
    CompletedAfterRestart,
    Connecting,
    Consulted,
    DialBackPlaced,
    InterpreterLeg,
    IvrEnded,
    IvrResumed,
    IvrStarted,
    LookedUp,
    NotRecovered,
    Supervised,
    Transferred,
    VoicemailLeft,
    WrappedUp,
)
from hotline.switchboard.line import LineConfig
from hotline.switchboard.records import CallRecord, CallRow

R = TypeVar("R")
TIMED_OUT: Final = "timeout"  # the code of a wrap-up that ended without the agent's
# (Final: compiled, they are constants rather than look-ups in the module's namespace)
CALLBACK_TRIES: Final = 3  # dial-backs before a callback caller who never answers is given up
# the end of a dial-back the line itself cancelled as it rang (its agent hung up): not the
# caller's miss, so not one of their tries (the carrier says so of no other dial-back's end)
WITHDRAWN: Final = "canceled"
LIVE: Final = ("queued", "ringing", "in-progress")  # carrier statuses of a call going on
ENDED: Final = ("completed", "busy", "failed", "no-answer", "canceled")
TALKED: Final = ("completed", "answered")  # DialCallStatus values of a bridge that happened
JOINED: Final = ("in-progress", "answered")  # statuses of a leg that answered
IN_IVR: Final = CallState.IN_IVR.value
NOTHING: Final[tuple[()]] = ()  # (shared by the outcomes that emit nothing)
CALLER: Final = "caller"  # the caller's label in their call's conference
INTERPRETER: Final = "interpreter"  # the interpreter's
CONSULTED: Final = "consult"  # the not-ready reason of an agent consulted for a transfer
SUPERVISING: Final = ("listen", "whisper", "barge")  # how a supervisor is on a call
AGENT_GONE_AFTER: Final = 3.0  # seconds an agent's leg's end waits for the caller's own
PENDING_FOR: Final = 60.0  # seconds a dial in flight at a restart may take to report (rings ~30 s)

log = logging.getLogger("hotline.switchboard")


class Outcome(Generic[R]):
    """What one command came to: its result, then the events (`first_seq` is the first
    one's number in the line's sequence) and the effects, in the order they happened."""

    def __init__(
        self, result: R, events: Sequence[AnyEvent], effects: Sequence[Effect], first_seq: int
    ) -> None:
        self.result: Final = result
        self.events: Final = events
        self.effects: Final = effects
        self.first_seq: Final = first_seq


def caller_call(row: CallRow, leg: str) -> str:
    """The call a caller is on: their own, or a callback's dial-back (`leg`; "": none)."""
    return leg if row.callback_number is not None else row.sid


def may_go_on(sid: str, statuses: Mapping[str, str | None]) -> bool:
    """Whether a call may still go on at the carrier: it said so, or could not say."""
    return statuses.get(sid, "in-progress") in LIVE


def calling_back(r: CallRecord) -> bool:
    """The agent's phone answered the call's last connect and the callback's caller is
    being called back into it: their phone rings (the agent can only hang up)."""
    return r.dialled_back and not r.bridged and not r.caller_answered \
        and r.answered_connect == r.connects  # fmt: skip


class Switchboard:
    def __init__(
        self,
        *,
        line: LineConfig,
        start: float = 0.0,
        router_class: type[Router] = Router,
        store_rows: bool = True,
    ) -> None:
        """`start`: the time of the line's first command (seconds, on the drivers' clock);
        `router_class`: the ACD (the full-scan one, to check the indexed one against);
        `store_rows`: whether the driver keeps the calls' rows (`OpenCall`, `ChangeCall`)."""
        self.line = line
        self.store_rows = store_rows
        self.name, self.number = line.name, line.number
        self.flow = line.flow  # the version new calls start on (calls keep their own)
        self.zone = ZoneInfo(line.timezone)
        self.scheduler = Scheduler(start=start)
        self.router = router_class(
            queues=line.queues,
            scheduler=self.scheduler,
            on_event=_RouterEvents(self),
            policy=line.policy,
            offer_timeout=line.offer_timeout,
        )
        self.records: dict[str, CallRecord] = {}  # the open calls
        # the call each agent is wrapping up (on a line with disposition codes), until they
        # close it with a code or its time runs out
        self.wrapping: dict[str, tuple[str, str]] = {}  # agent -> (call, its queue)
        # the agents consulted for a warm transfer, and the call (not ready for it until
        # it ends: a change of their state meanwhile ends it)
        self.consulting: dict[str, str] = {}  # agent -> call
        # overflowed to voicemail: the caller's next hold-loop request records (this mark
        # outlives the call's record, until that request or the caller's hang-up)
        self.to_voicemail: set[str] = set()
        self.seq = 0  # events handed out so far
        self._tickets = 0  # look-ups started so far
        # the last dial-back's number (`DialBack.dial`): the line's clock in milliseconds,
        # or one more than the last if that is not later; never below a number a restart
        # found written (`Recovered.dial`), nor below its call's record's (`CallRecord.dial`).
        # So a dial-back made after another was written, or heard of, has the larger
        # number, whatever the clocks of the nodes that made them.
        self._dials = 0
        self._events: list[AnyEvent] = []
        self._effects: list[Effect] = []

    def handle(self, command: Command[R], now: float, *, before_due: bool = False) -> Outcome[R]:
        """`before_due`: carried out ahead of the timers due at `now` itself (they stay due:
        the floor's, for a state another line's step at the same time gave the agent)."""
        if before_due:
            self.scheduler.run_before(now)
        else:
            self.scheduler.run_to(now)  # (its clock never goes back, whatever the drivers')
        events_before, effects_before = len(self._events), len(self._effects)
        try:
            result = self._carry_out(command)
        except Exception:  # refused (or broken): nothing it emitted goes out
            del self._events[events_before:]
            del self._effects[effects_before:]
            raise
        # (the truth of the lists, not of a `Sequence`: compiled, a length rather than a
        # call through Python)
        emitted, caused = self._events, self._effects
        events: Sequence[AnyEvent] = NOTHING
        if emitted:
            events = emitted
            self._events = []
        effects: Sequence[Effect] = NOTHING
        if caused:
            effects = caused
            self._effects = []
        first = self.seq + 1
        self.seq += len(events)
        return Outcome(cast(R, result), events, effects, first)

    def _carry_out(self, command: Command[Any]) -> object:
        """The command's handler. (A chain of type tests, the commonest first, rather than
        a table of bound methods: compiled, each test compares with a static type and each
        branch is a direct call; the classes are imported by name for that.)"""
        kind = type(command)
        if kind is Arrive:
            return self._arrive(cast(c.Arrive, command))
        if kind is Route:
            self._route(cast(c.Route, command))
            return None
        if kind is LegAnswered:
            self._leg_answered(cast(c.LegAnswered, command))
            return None
        if kind is CarrierStatus:
            self._status(cast(c.CarrierStatus, command))
            return None
        if kind is Tick:
            return None  # nothing more: `handle` has fired the timers that fell due
        if kind is HoldPoll:
            return self._hold(cast(c.HoldPoll, command))
        if kind is TakeCallback:
            return self._take_callback(cast(c.TakeCallback, command))
        if kind is DialDone:
            return self._dial_done(cast(c.DialDone, command))
        if kind is CarrierDialledBack:
            self._dial_back_placed(cast(c.CarrierDialledBack, command))
            return None
        if kind is CallerInput:
            return self._caller_input(cast(c.CallerInput, command))
        if kind is Accept:
            return self._accept(cast(c.Accept, command))
        if kind is Decline:
            return self._decline(cast(c.Decline, command))
        if kind is Login:
            return self._login(cast(c.Login, command))
        if kind is Logout:
            return self._logout(cast(c.Logout, command))
        if kind is SetReady:
            return self._set_ready(cast(c.SetReady, command))
        if kind is WrapUp:
            return self._wrap_up(cast(c.WrapUp, command))
        if kind is LookupAnswered:
            self._looked_up(cast(c.LookupAnswered, command))
            return None
        if kind is HearLookup:
            return self._hear_lookup(cast(c.HearLookup, command))
        if kind is ResumeIvr:
            return self._resume_ivr(cast(c.ResumeIvr, command))
        if kind is CarrierRefused:
            self._carrier_refused(cast(c.CarrierRefused, command))
            return None
        if kind is Voicemail:
            self._voicemail(cast(c.Voicemail, command))
            return None
        if kind is AfterWrapUp:
            return self._after_wrap_up(cast(c.AfterWrapUp, command))
        if kind is HoldCall:
            return self._hold_call(cast(c.HoldCall, command))
        if kind is HangUp:
            return self._hang_up(cast(c.HangUp, command))
        if kind is Transfer:
            return self._transfer(cast(c.Transfer, command))
        if kind is FinishTransfer:
            return self._finish_transfer(cast(c.FinishTransfer, command))
        if kind is AddInterpreter:
            return self._interpreter(cast(c.AddInterpreter, command))
        if kind is Supervise:
            self._supervise(cast(c.Supervise, command))
            return None
        if kind is LegStatus:
            self._leg_status(cast(c.LegStatus, command))
            return None
        if kind is AgentLegEnded:
            self._agent_left(cast(c.AgentLegEnded, command))
            return None
        if kind is Reconfigure:
            return self._reconfigure(cast(c.Reconfigure, command))
        if kind is Recover:
            return self._recover(cast(c.Recover, command))
        if kind is Recheck:
            self._recheck(cast(c.Recheck, command))
            return None
        if kind is ResumeWrapUp:
            return self._resume_wrap_up(cast(c.ResumeWrapUp, command))
        raise KeyError(kind)

    @property
    def now(self) -> float:
        """The line's time: a timer's own while it fires, else the last command's."""
        return self.scheduler.now

    def next_timer(self) -> float | None:
        """When the next timer falls due (a `Tick` then fires it)."""
        return self.scheduler.next_time()

    def due(self, now: float) -> bool:
        """Whether a command at `now` would first fire a timer."""
        when = self.scheduler.next_time()
        return when is not None and when <= now

    # -- what the drivers may ask

    def ivr_run(self, sid: str) -> tuple[int, int] | None:
        """The call's IVR run and the inputs it has had (None: not in the IVR)."""
        r = self.records.get(sid)
        return None if r is None or r.ivr is None else (r.generation, r.inputs)

    def generation(self, sid: str) -> int:
        """The call's IVR run (1 for a call the line does not hold)."""
        r = self.records.get(sid)
        return 1 if r is None else r.generation

    def lookup_ticket(self, sid: str) -> int | None:
        """The ticket of the call's look-up under way, if one is."""
        r = self.records.get(sid)
        return None if r is None or r.looking is None else r.looking[0]

    def waiting_on_lookup(self, sid: str) -> bool:
        """Whether the caller is on hold for a look-up, or has not yet heard its answer."""
        r = self.records.get(sid)
        return r is not None and (r.looking is not None or r.heard is not None)

    def resumable(self, sid: str) -> bool:
        """In the IVR when the server stopped: its next request starts the flow over."""
        r = self.records.get(sid)
        return r is not None and r.resumable

    def in_ivr(self) -> int:
        """How many callers are in the IVR now."""
        return sum(1 for r in self.records.values() if r.ivr is not None)

    def knows(self, sid: str) -> bool:
        """Whether the call is this line's (open, or on its way to voicemail)."""
        return sid in self.records or sid in self.to_voicemail

    def in_acd(self, sid: str) -> bool:
        r = self.records.get(sid)
        return r is not None and r.call is not None

    def unverified(self) -> list[str]:
        """Calls recovered while the carrier could not say whether they still went on (and
        dial-backs' calls, through which callers called back were on the line)."""
        calls = [sid for sid, r in self.records.items() if r.unverified]
        return sorted(calls + [r.unverified_leg for r in self.records.values()
                               if r.unverified_leg])  # fmt: skip

    def held(self) -> dict[str, int]:
        """What the switchboard holds for calls, where it holds any (nothing once every
        call has ended and its timers have run)."""
        counts = {"calls": len(self.records), "to_voicemail": len(self.to_voicemail),
                  "acd": self.router.calls_held(), "timers": len(self.scheduler),
                  "wrapping": len(self.wrapping)}  # fmt: skip
        return {name: n for name, n in counts.items() if n}

    def waiting(self) -> list[tuple[str, str, float]]:
        """Who waits: (queue, language, since when), longest first within each queue."""
        return [(call.queue or "", call.language, call.first_queued_at or self.now)
                for call, _ in self.router.waiting()]  # fmt: skip

    def state_seconds(self) -> dict[AgentState, float]:
        """Agent-seconds spent in each state so far, over all agents."""
        return self.router.state_seconds()

    def agents(self) -> Iterator[AgentView]:
        """The agents logged in."""
        return self.router.agents()

    def leaving(self, agent_id: str) -> bool:
        """Whether the agent asked to log out, which they do once their call ends."""
        try:
            return self.router.agent(agent_id).logout_pending
        except UnknownAgent:
            return False

    def agent_state(self, agent_id: str) -> AgentStatus:
        try:
            view = self.router.agent(agent_id)
        except UnknownAgent:
            if agent_id not in self.line.agents:
                raise UnknownAgent(f"no agent {agent_id!r} on line {self.name!r}") from None
            return offline(agent_id)
        return {"agent_id": agent_id, "state": view.state.value, "reason": view.reason,
                "call_sid": view.call_id}  # fmt: skip

    def position(self, sid: str) -> int:
        call = self.records[sid].call
        assert call is not None
        ahead = [c for c, _ in self.router.waiting() if c.queue == call.queue]
        return 1 + next((i for i, c in enumerate(ahead) if c.id == sid), len(ahead))

    def estimated_wait(self, queue: str, position: int | None = None) -> float:
        """Seconds until a new (or the `position`th) caller is answered: callers ahead times
        the mean handle time, shared by the agents serving the queue (a first estimate)."""
        if position is None:
            position = 1 + sum(1 for c, _ in self.router.waiting() if c.queue == queue)
        return self._wait_of(position, self.router.serving().get(queue, 0))

    def _wait_of(self, position: int, serving: int) -> float:
        return position * self.line.handle_mean / max(serving, 1)

    def estimated_waits(self) -> dict[str, float]:
        """`estimated_wait` of a new caller in each of the line's queues, from one pass over
        the waiting calls and the router's count of agents serving each queue (a pass over
        the agents made every arrival cost O(agents): 5 ms with 1,400 agents)."""
        ahead: dict[str, int] = {}
        for call, _ in self.router.waiting():
            if call.queue is not None:
                ahead[call.queue] = ahead.get(call.queue, 0) + 1
        serving = self.router.serving()
        return {q.name: self._wait_of(1 + ahead.get(q.name, 0), serving.get(q.name, 0))
                for q in self.line.queues}  # fmt: skip

    # -- emitting

    def _emit(self, event: AnyEvent) -> None:
        self._events.append(event)

    def _forget(self, sid: str) -> None:
        """The call is over for this line: nothing of it stays (but the mark that sends an
        overflowed caller to voicemail, which their next request takes)."""
        r = self.records.get(sid)  # (get and del: compiled, no method called through Python)
        if r is None:
            return
        del self.records[sid]
        if r.looking is not None:  # its answer is no longer wanted
            self._effects.append(DropLookup(r.looking[0]))

    def _open(self, row: CallRow) -> None:
        if self.store_rows:
            self._effects.append(OpenCall(row))

    def _change(self, sid: str, **values: object) -> None:
        if self.store_rows:
            self._effects.append(ChangeCall(sid, values))

    # -- the IVR

    def _started(self, caller: str, called: str) -> tuple[Flow, Session, list[Action]]:
        flow = self.flow
        assert flow is not None
        local = datetime.fromtimestamp(self.now, self.zone).replace(tzinfo=None)
        waits = self.estimated_waits()
        step = start(flow, CallStarted(caller, called, local, self.line.mode, waits))
        return flow, step.session, list(step.actions)

    def _arrive(self, cmd: c.Arrive) -> list[Action] | None:
        sid, now = cmd.sid, self.now
        if cmd.called != self.number:
            self._emit(CallRefused(now, sid, cmd.called))
            return None
        if self.flow is None:  # its way through the IVR comes as a `Route`
            row = CallRow(sid, self.name, cmd.caller, cmd.called, "", None, 0,
                          IN_IVR, {}, None, now)  # fmt: skip
            self.records[sid] = CallRecord(row=row)
            self._open(row)
            return []
        flow, session, actions = self._started(cmd.caller, cmd.called)
        row = CallRow(sid, self.name, cmd.caller, cmd.called, session.language, None, 0,
                      IN_IVR, {}, None, now)  # fmt: skip
        self.records[sid] = CallRecord(row=row)
        self._open(row)
        self._emit(IvrStarted(now, sid, flow.name, flow.version))
        return self._after_ivr(sid, flow, session, actions)

    def _resume_ivr(self, cmd: c.ResumeIvr) -> list[Action]:
        r = self._record(cmd.sid)
        r.resumable = False
        flow, session, actions = self._started(r.row.caller, r.row.called)
        r.inputs = 0
        r.generation += 1
        self._emit(IvrResumed(self.now, cmd.sid, r.generation))
        return self._after_ivr(cmd.sid, flow, session, actions)

    def _caller_input(self, cmd: c.CallerInput) -> list[Action]:
        r = self.records.get(cmd.sid)
        if r is None or r.ivr is None:
            return []
        flow, session = r.ivr
        r.inputs += 1
        step = advance(flow, session, cmd.input)
        return self._after_ivr(cmd.sid, flow, step.session, list(step.actions))

    def _after_ivr(
        self, sid: str, flow: Flow, session: Session, actions: list[Action]
    ) -> list[Action]:
        """Keep the flow's session, or end it; a look-up (always a step's last action) is
        started as an effect and the caller hears what came before it."""
        r = self.records[sid]
        if actions and isinstance(actions[-1], Lookup):
            lookup = actions.pop()
            assert isinstance(lookup, Lookup)
            self._tickets += 1
            r.ivr = (flow, session)
            r.looking = (self._tickets, lookup)
            self._effects.append(StartLookup(self._tickets, sid, lookup))
            return actions
        if session.ended:
            r.ivr = None
            self._ivr_ended(sid, session, actions)
        else:
            r.ivr = (flow, session)
        return actions

    def _looked_up(self, cmd: c.LookupAnswered) -> None:
        """A look-up answered (or timed out): the flow goes on with its result."""
        sid = cmd.sid
        r = self.records.get(sid)
        if r is None or r.looking is None or r.looking[0] != cmd.ticket or r.ivr is None:
            return  # the caller hung up, or the IVR started over, meanwhile
        lookup = r.looking[1]
        r.looking = None
        flow, session = r.ivr
        result = cmd.result
        try:
            step = advance(flow, session, result)
        except Exception:  # not silenced: logged, and the flow goes on as if it had failed
            log.exception("the flow could not use the answer to a look-up for call %s", sid)
            result = LookupResult("error")
            step = advance(flow, session, result)
        self._emit(LookedUp(self.now, sid, lookup.connector, lookup.operation, result.status))
        heard = self._after_ivr(sid, flow, step.session, list(step.actions))
        # kept for the caller's next request even if the flow ended here (and the call was
        # forgotten): their status callback, or that request, forgets it
        r = self.records.setdefault(sid, r)
        r.heard = (r.heard or []) + heard

    def _hear_lookup(self, cmd: c.HearLookup) -> list[Action] | None:
        """What the flow said once the look-up answered (None: it is still running)."""
        r = self.records.get(cmd.sid)
        if r is not None and r.looking is not None:
            return None
        if r is None or r.heard is None:
            raise UnknownCall(f"call {cmd.sid} is not waiting for a look-up")
        heard, r.heard = r.heard, None
        if r.ivr is None and r.call is None:  # the flow ended with it
            self._forget(cmd.sid)
        return heard

    def _ivr_ended(self, sid: str, session: Session, actions: list[Action]) -> None:
        queued = [a for a in actions if isinstance(a, Enqueue)]
        self._emit(IvrEnded(self.now, sid, session.outcome or ""))
        if not queued:
            state = "abandoned" if session.outcome == "caller-hung-up" else "completed"
            self._change(sid, state=state)
            self._forget(sid)
            return
        self._join_queue(sid, queued[0])

    def _route(self, cmd: c.Route) -> None:
        r = self._record(cmd.sid)
        if r.ivr is not None or r.call is not None:
            raise InvalidTransition(f"call {cmd.sid} is not waiting for its way through")
        self._join_queue(cmd.sid, cmd.enqueue)

    def _join_queue(self, sid: str, q: Enqueue) -> None:
        """The IVR sent the caller to a queue: they arrive in the ACD."""
        language, queue, priority, attributes = q.language, q.queue, q.priority, q.attributes
        number = q.callback_number
        copied = dict(attributes)  # the row's (and, compiled, a dict's get is a direct call)
        caller_type = copied.get("caller_type", "public")
        r = self.records[sid]
        row = r.row
        call = r.call = Call(sid, language, caller_type, row.arrived_at, priority)
        call.enter_ivr(row.arrived_at)
        if self.store_rows:
            self._effects.append(ChangeCall(sid, {
                "language": language, "queue": queue, "priority": priority,
                "attributes": dict(attributes), "callback_number": number}))  # fmt: skip
        r.row = CallRow(row.sid, row.line, row.caller, row.called, language, queue, priority,
                        row.state, copied, number, row.arrived_at)  # fmt: skip
        self._emit(CallArrived(self.now, sid, language, caller_type))  # into the ACD
        # a callback even if an agent is offered the call at once: the caller hangs up
        self.router.enqueue(call, queue, callback=q.callback)

    # -- the hold loop and callbacks

    def _hold(self, cmd: c.HoldPoll) -> tuple[HoldState, list[Say]]:
        sid = cmd.sid
        if sid in self.to_voicemail:
            self.to_voicemail.discard(sid)
            return "voicemail", []
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or call.queue is None:
            return "gone", []
        if call.state is not CallState.QUEUED:
            return "connecting", []  # offered or answered: the carrier is being redirected
        position = self.position(sid)
        wait = self.estimated_wait(call.queue, position)
        values: dict[str, Value] = {"position": position, "wait": timedelta(seconds=wait)}
        catalog = None if self.flow is None else self.flow.catalog
        carrier_voice = voice(call.language).carrier_voice if catalog is not None else ""
        says = []
        offer: str | None = None
        if catalog is not None:
            says = [Say(text, call.language, carrier_voice)
                    for text in [catalog.render("hold_position", call.language, values)]
                    if text]  # fmt: skip
            offer = catalog.render("callback_offer", call.language, values)
        rule = self.line.callbacks
        queued_at = self.now if call.first_queued_at is None else call.first_queued_at
        if (
            not r.offered_callback
            and not call.callback
            and self.now >= queued_at + rule.offer_after  # (a sum, as drivers compute it)
            and wait >= rule.offer_if_wait
            and (catalog is None or offer)
            and callable_number(r.row.caller)
        ):
            r.offered_callback = True  # once per call (its event says so after a restart)
            self._emit(CallbackOffered(self.now, sid, round(wait)))
            return "offer-callback", [*says, *([Say(offer, call.language, carrier_voice)]
                                              if offer else [])]  # fmt: skip
        return "waiting", says

    def _take_callback(self, cmd: c.TakeCallback) -> list[Say] | None:
        sid = cmd.sid
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or call.state is not CallState.QUEUED:
            return None
        self.router.accept_callback(sid)
        r.row = r.row.changed(callback_number=r.row.caller)
        self._change(sid, callback_number=r.row.caller)
        if self.flow is None:
            return []
        text = self.flow.catalog.render("callback_confirmed", call.language)
        return [Say(text, call.language, voice(call.language).carrier_voice)] if text else []

    def _voicemail(self, cmd: c.Voicemail) -> None:
        self._emit(VoicemailLeft(self.now, cmd.sid, cmd.recording_url))

    # -- the carrier

    def _status(self, cmd: c.CarrierStatus) -> None:
        sid, status, dial_back = cmd.sid, cmd.status, cmd.dial_back
        r = self.records.get(sid)
        if dial_back and r is not None and r.call is not None and not r.call.callback:
            # (a dial-back leg's word for a call nobody is to call back: its caller is on
            # the line, maybe talking to their agent; taken, it would end or requeue them)
            raise InvalidTransition(f"call {sid} is not a callback: no dial-back of it can "
                                    "report")  # fmt: skip
        missed = status in ENDED and status != "completed"
        if dial_back and r is not None:
            if not (missed and 0 < cmd.dial < r.dial):  # (any word of a dial-back not over
                r.dial_back_unconfirmed = False  # says whether the one awaited went out)
            if cmd.leg in ("", r.unverified_leg):  # (that leg's word is newer than what a
                r.unverified_leg = ""  # restart asked; "": a word that names no leg)
        answered = r is not None and r.call is not None and r.call.state is CallState.ANSWERED
        if dial_back and missed and r is not None and r.call is not None:
            if cmd.dial and (r.caller_answered or cmd.dial < r.dial):
                # a miss of a dial-back over for the line (the caller was dialled again, or
                # its miss was taken), or once the caller answered one (they cannot have
                # missed another as they talk)
                log.info("call %s: a dial-back's %r ignored (not the one awaited)", sid, status)
                return
            # dial-backs up to this one are over (a later one than the line knew: a failed
            # node made it, and did not write it; 0: the one awaited, or none known)
            over = max(r.dial, cmd.dial)
            over = over + 1 if over else 0
            if answered or not r.dialled_back:
                self._callback_missed(sid, status, over)  # (refused if nobody calls them)
            else:  # (their agent left while it rang) the next agent dials them again
                r.dial = over
                r.dialled_back = False
                r.callback_tries += status != WITHDRAWN
                self._emit(CallbackNotReached(self.now, sid, status, r.callback_tries))
                if r.callback_tries >= CALLBACK_TRIES:  # (as `_callback_missed` closes it)
                    self.router.abandon(sid)
            return
        if dial_back and status == "in-progress" and r is not None and r.call is not None:
            # (a dial-back the line did not know was out, its placing never written by a
            # node that failed: the caller is in the call's conference through it all the same)
            r.dialled_back = r.caller_answered = True
            if r.bridged:
                return
            if not answered or r.answered_connect != r.connects:  # their agent left (or the
                # next one's phone rings): on hold in the conference for the next one (said:
                self._caller_waits(sid, r.connects)  # a restart finds them)
                self._emit(CalledBack(self.now, sid, "", cmd.leg))
            else:  # they talk to their agent (there)
                r.bridged = r.talked = True
                self._emit(CalledBack(self.now, sid, r.call.agent_id or "", cmd.leg))
            return
        if status not in ENDED:
            return
        self.to_voicemail.discard(sid)  # hung up before the hold loop sent them to record
        if r is None:
            return  # not a call of this line (or one that ended)
        if r.detached:  # answered before a restart; now it is over
            self._forget(sid)
            self._change(sid, state="completed")
            self._emit(CompletedAfterRestart(self.now, sid, status))
            return
        if r.resumable or r.pending:  # hung up in the IVR, or ringing
            self._forget(sid)
            self._change(sid, state="abandoned")
            return
        if r.ivr is not None:
            self._forget(sid)
            self._change(sid, state="abandoned")
            self._emit(IvrEnded(self.now, sid, "caller-hung-up"))
            return
        call = r.call
        if call is None:
            self._forget(sid)
            return
        if call.callback and not dial_back:
            return  # the caller hung up on purpose: they keep their place (or are dialled)
        if call.state in (CallState.QUEUED, CallState.OFFERED):
            self.router.abandon(sid)
        elif call.state is CallState.ANSWERED:  # (a dial-back's end: its caller talked to
            # their agent, unless they waited for this one, whose phone rang)
            if (dial_back and not r.held) or r.bridged or r.talked:
                agent_id, consulted = call.agent_id or "", r.consult
                self.router.complete(sid)
                if consulted is not None:  # hung up while their agent consulted another
                    del self.consulting[consulted]
                    self._emit(Consulted(self.now, sid, agent_id, consulted, "caller-hung-up"))
                    self._release(consulted)
            else:  # hung up while the agent's phone rang: nobody talked to them
                self.router.abandon(sid, before_bridge=True)

    def _callback_missed(self, sid: str, status: str, dial: int) -> None:
        """The caller did not pick up the callback: free the agent and keep the caller's
        place for another try, up to CALLBACK_TRIES dial-backs (one its agent cancelled,
        WITHDRAWN, is not counted); then the call is closed.
        `dial`: the call's record's from now (`CallRecord.dial`)."""
        r = self.records[sid]
        old = r.call
        if old is None or old.state is not CallState.ANSWERED:
            raise InvalidTransition(f"nobody is calling {sid} back")
        tries = r.callback_tries + (status != WITHDRAWN)
        self._emit(CallbackNotReached(self.now, sid, status, tries))
        self._effects.append(Leg(sid, agent_label(old.agent_id or ""), "drop"))  # (alone in it)
        row = r.row
        since = old.first_queued_at
        self.router.complete(sid)  # the agent's attempt is over (they go to wrap-up): the
        self.wrapping.pop(old.agent_id or "", None)  # (no outcome: the call is not over)
        if tries >= CALLBACK_TRIES or row.queue is None:  # call is forgotten
            self._change(sid, state="abandoned")
            return
        call = Call(sid, old.language, old.caller_type, old.arrived_at, old.priority)
        call.enter_ivr(old.arrived_at)
        again = self.records[sid] = CallRecord(
            row=row, call=call, since=r.since, connects=r.connects, callback_tries=tries
        )
        again.dial = dial  # (a late miss of this or an earlier dial-back is not a try)
        self.router.enqueue(call, row.queue, since, callback=True)

    def _dial_done(self, cmd: c.DialDone) -> bool:
        """If the agent's leg was not answered (no-answer, busy, failed, ...), the caller
        goes back to their place in the queue and the agent is set not ready."""
        back = self._dial_ended(cmd.sid, cmd.status, cmd.attempt)
        if back and cmd.in_conference:
            self._caller_waits(cmd.sid, cmd.attempt)
        return back

    def _dial_back_placed(self, cmd: c.CarrierDialledBack) -> None:
        """The carrier took the dial-back: it went out (a restart need not make it again),
        and its own call is kept for a restart to ask about. Said only while it is the
        caller's next word that is awaited (their answer or miss may come first)."""
        r = self.records.get(cmd.sid)
        if r is None or r.call is None or not r.call.callback or not r.dialled_back \
                or r.caller_answered or 0 < cmd.dial < r.dial:  # fmt: skip
            return  # (the last: a dial-back over, superseded or missed)
        r.dial_back_unconfirmed = False
        r.dial_back_leg = cmd.leg
        self._emit(DialBackPlaced(self.now, cmd.sid, cmd.leg, cmd.dial))

    def _caller_waits(self, sid: str, attempt: int) -> None:
        """The caller, in their conference, waits for an agent again: back to the hold loop;
        a caller called back (whose own call is over) on hold in the conference instead,
        until the next agent's leg answers; one not called back yet (or whose dial-back the
        carrier has not confirmed since a restart) is not on the line."""
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or not call.callback:
            self._effects.append(Park(sid, attempt))
        elif r.caller_answered and not r.held:
            r.held = True
            self._effects.append(Leg(sid, CALLER, "hold"))

    def _dial_ended(self, sid: str, dial_status: str, attempt: int) -> bool:
        r = self.records.get(sid)
        if r is not None and r.pending:  # the dial in flight at the restart has ended
            r.pending = False
            if dial_status in TALKED:
                r.detached = True
                return False
            self._back_in_place(sid)
            return True
        call = r.call if r is not None else None
        if r is None or call is None:
            return sid in self.to_voicemail  # overflowed meanwhile: the hold loop records
        if dial_status in TALKED:  # they talked (whether or not the leg's answer reached us)
            if attempt == r.connects:
                r.bridged = r.talked = True
            return False
        if attempt == r.connects and call.state is CallState.ANSWERED:
            self._emit(AgentLegFailed(self.now, sid, dial_status, call.agent_id or "", attempt))
            self.router.connect_failed(sid, f"agent-{dial_status}")
        return sid in self.to_voicemail or call.state in (
            CallState.QUEUED, CallState.OFFERED, CallState.ANSWERED,
        )  # fmt: skip

    def _leg_answered(self, cmd: c.LegAnswered) -> None:
        """The agent picked up: from now on the caller has talked to someone. A leg that
        answers for a connect already over (the call ended as its agent was dialled, a later
        connect replaced it, or the line gave it up and the caller waits again) is no news
        of the call: it is hung up, given its id, so its agent is not left alone in a room.
        (A leg of a later connect than the line knows is the call's: a node that failed
        did not write that connect, and its caller and agent talk on.)"""
        r = self.records.get(cmd.sid)
        call = r.call if r is not None else None
        if (
            r is None
            or cmd.attempt < r.connects
            or (call is not None and call.state is not CallState.ANSWERED and not r.pending)
        ):
            if cmd.leg and cmd.leg != cmd.sid:  # (never the caller's own call)
                self._effects.append(EndLeg(cmd.sid, cmd.leg))
            return
        agent_id = (call.agent_id if call is not None else None) or ""
        self._emit(AgentLegAnswered(self.now, cmd.sid, cmd.attempt, agent_id))
        if r.pending:  # dialled before the restart, answered after it
            r.pending = False
            r.detached = True
        elif cmd.attempt != r.connects:  # (a later connect than the line knows)
            return
        r.answered_connect = cmd.attempt
        if call is not None and call.callback and (not r.dialled_back or r.dial_back_unconfirmed):
            r.dialled_back = True  # (the caller's answer bridges them: see `_status`)
            r.dial_back_unconfirmed = False  # (the one before the restart may never have gone out)
            self._dial_back(cmd.sid, r)
        elif call is not None and call.callback and not r.caller_answered:
            pass  # (dialled back for an agent who left, their phone still rings: their
            # answer bridges them, as `_status` says)
        else:
            r.bridged = r.talked = True
            if r.held:  # a caller called back waited on hold for this agent
                r.held = False
                self._effects.append(Leg(cmd.sid, CALLER, "resume"))

    def _carrier_refused(self, cmd: c.CarrierRefused) -> None:
        """The agent is freed, the caller keeps their place; a caller the carrier says is
        gone hung up as their agent accepted: the call ends so, and their agent, who did
        nothing wrong, is free (not set not ready, as for a phone that failed to answer)."""
        r = self.records.get(cmd.sid)
        call = r.call if r is not None else None
        if cmd.gone and r is not None and call is not None and cmd.attempt == r.connects \
                and call.state is CallState.ANSWERED and not r.bridged:  # fmt: skip
            self._status(c.CarrierStatus(cmd.sid, "completed"))
            return
        if cmd.attempt is None:
            self._status(c.CarrierStatus(cmd.sid, "failed", dial_back=True, dial=cmd.dial))
        else:  # (the caller may have joined the conference before the agent's dial failed)
            self._dial_done(c.DialDone(cmd.sid, "failed", cmd.attempt, in_conference=True))

    def _callback_no_word(self, sid: str, attempt: int) -> None:
        """A callback's agent's phone was ringing at the restart and never answered: it
        leaves the conference, and the caller keeps their place off the line (or, one
        called back before, on hold in the conference)."""
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or r.connects != attempt or r.bridged \
                or r.answered_connect == attempt:  # (its phone answered)  # fmt: skip
            return
        if call.state is CallState.ANSWERED:
            self._effects.append(Leg(sid, agent_label(call.agent_id or ""), "drop"))
            self._dial_done(c.DialDone(sid, "no-answer", attempt, in_conference=True))

    def _dial_back_no_word(self, sid: str, attempt: int) -> None:
        """A callback's dial-back asked for before the restart: no word of it since (neither
        the caller's answer nor a miss; a dial-back that went out has ended by now), so it
        never reached the carrier. Its agent still in the conference, the caller is dialled
        now; their agent gone, the next agent's phone answering dials them."""
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or not r.dial_back_unconfirmed:
            return  # (the word came, or the next agent's phone answered and dialled them)
        r.dial_back_unconfirmed = False
        if call.state is CallState.ANSWERED and r.connects == attempt:
            self._dial_back(sid, r)
        else:
            r.dialled_back = False

    def _dial_back(self, sid: str, r: CallRecord) -> None:
        """Dial the callback's caller back, this dial-back now the one awaited (`r.dial`)."""
        self._dials = max(self._dials + 1, int(self.now * 1000), r.dial)  # (r.dial: not over)
        r.dial = self._dials
        r.dial_back_leg = ""  # (its call's sid once the carrier placed it)
        number = r.row.callback_number or r.row.caller
        self._effects.append(DialBack(sid, number, self.line.number, self._dials))

    def _no_word(self, sid: str) -> None:
        """A dial in flight at the restart never reported: the caller goes back in place."""
        r = self.records.get(sid)
        if r is not None and r.pending:
            r.pending = False
            self._back_in_place(sid)

    def _back_in_place(self, sid: str, *, callback: bool = False) -> None:
        """The call (known from its row) joins its queue again where it first queued."""
        r = self.records[sid]
        row = r.row
        assert row.queue is not None
        queue = row.queue
        if not self._has_queue(queue):  # removed while the line was down: its first queue
            queue = self.line.queues[0].name
            log.warning("call %s waited in queue %r, which line %r no longer has: it waits "
                        "in %r", row.sid, row.queue, self.name, queue)  # fmt: skip
            r.row = row = row.changed(queue=queue)
            self._change(row.sid, queue=queue)
        call = r.call = _call_of(row)
        self.router.enqueue(call, queue, r.since, callback=callback)

    # -- agents

    def _agent(self, agent_id: str) -> None:
        """An agent of the line (or one still logged in whom a new configuration left out:
        they finish and log out)."""
        if agent_id not in self.line.agents:
            self.router.agent(agent_id)  # UnknownAgent if not logged in either

    def _wrap_up(self, cmd: c.WrapUp) -> AgentStatus:
        """The agent closes their wrap-up with a code of the line's and notes, then is ready
        (or not ready for the reason they gave)."""
        agent_id = cmd.agent_id
        self._agent(agent_id)
        wrapped = self.wrapping.get(agent_id)
        if wrapped is None or self.router.agent(agent_id).state is not AgentState.WRAP_UP:
            raise InvalidTransition(f"agent {agent_id} is not wrapping up a call")
        call_id = wrapped[0]
        if cmd.code not in self.line.dispositions:
            codes = ", ".join(self.line.dispositions)
            raise InvalidTransition(
                f"{cmd.code!r} is not a disposition code of line {self.name!r} ({codes})"
            )
        del self.wrapping[agent_id]
        self._emit(WrappedUp(self.now, call_id, agent_id, cmd.code, cmd.notes))
        if cmd.ready:
            self.router.set_ready(agent_id)
        else:
            self.router.set_not_ready(agent_id, cmd.reason)
        return self.agent_state(agent_id)

    def _after_wrap_up(self, cmd: c.AfterWrapUp) -> AgentStatus:
        self._agent(cmd.agent_id)
        self.router.after_wrap_up(cmd.agent_id, None if cmd.ready else cmd.reason)
        return self.agent_state(cmd.agent_id)

    def _login(self, cmd: c.Login) -> AgentStatus:
        self._agent(cmd.agent_id)
        self.router.login(self.line.agents[cmd.agent_id], ready=cmd.ready)
        return self.agent_state(cmd.agent_id)

    def _set_ready(self, cmd: c.SetReady) -> AgentStatus:
        self._agent(cmd.agent_id)
        if cmd.ready:
            self.router.set_ready(cmd.agent_id)
        else:
            self.router.set_not_ready(cmd.agent_id, cmd.reason)
        return self.agent_state(cmd.agent_id)

    def _logout(self, cmd: c.Logout) -> AgentStatus:
        self._agent(cmd.agent_id)
        if self.router.logout(cmd.agent_id) and cmd.agent_id not in self.line.agents:
            return offline(cmd.agent_id)  # (one a new configuration left out: gone)
        return self.agent_state(cmd.agent_id)

    def _accept(self, cmd: c.Accept) -> AgentStatus:
        self._agent(cmd.agent_id)
        self.router.answer(cmd.sid, cmd.agent_id)
        return self.agent_state(cmd.agent_id)

    def _decline(self, cmd: c.Decline) -> AgentStatus:
        self._agent(cmd.agent_id)
        self.router.decline(cmd.sid, cmd.agent_id)
        return self.agent_state(cmd.agent_id)

    # -- on a call: the call's conference

    def _on_call(self, agent_id: str) -> tuple[str, CallRecord]:
        """The call the agent is on, once their leg answered."""
        self._agent(agent_id)
        view = self.router.agent(agent_id)
        sid = view.call_id
        r = self.records.get(sid or "")
        if sid is None or r is None or view.state is not AgentState.ON_CALL:
            raise InvalidTransition(f"agent {agent_id} is not on a call")
        if not r.bridged and not r.detached:
            raise InvalidTransition(f"call {sid} is not connected to agent {agent_id} yet")
        return sid, r

    def _hold_call(self, cmd: c.HoldCall) -> AgentStatus:
        agent_id = cmd.agent_id
        sid, r = self._on_call(agent_id)
        if r.consult is not None:
            raise InvalidTransition(
                f"the caller waits on hold while {r.consult} is consulted: complete or cancel "
                "the transfer"
            )
        if r.held == cmd.hold:
            raise InvalidTransition(f"call {sid} is {'already' if r.held else 'not'} on hold")
        r.held = cmd.hold
        self._emit(CallHeld(self.now, sid, agent_id, cmd.hold))
        self._effects.append(Leg(sid, CALLER, "hold" if cmd.hold else "resume"))
        return self.agent_state(agent_id)

    def _hang_up(self, cmd: c.HangUp) -> AgentStatus:
        """The carrier hangs the caller up; the call then ends as when they hang up (the
        agent goes to wrap-up when the carrier reports it). A callback's caller whose
        dial-back still rings is not called any longer: the carrier cancels that call (one
        they picked up meanwhile goes on, with the agent), and its end (`canceled`) is a
        dial-back not answered, as any other (`_callback_missed`: the caller keeps their
        place, the agent wraps up)."""
        ringing = self._dial_back_ringing(cmd.agent_id)
        if ringing is not None:
            sid, r = ringing
            if not r.dial_back_leg:
                raise InvalidTransition(
                    f"the caller of call {sid} is being called back and the carrier has not "
                    "placed that call yet: hang up again in a moment"
                )
            self._effects.append(EndLeg(sid, r.dial_back_leg, ringing=True))
            return self.agent_state(cmd.agent_id)
        sid, r = self._on_call(cmd.agent_id)
        if r.consult is not None:
            raise InvalidTransition(
                f"{r.consult} is being consulted about call {sid}: complete or cancel the "
                "transfer first"
            )
        self._hang_up_caller(sid, r)
        return self.agent_state(cmd.agent_id)

    def _dial_back_ringing(self, agent_id: str) -> tuple[str, CallRecord] | None:
        """The callback the agent is on, if their phone answered and the caller's dial-back
        has not been answered yet."""
        self._agent(agent_id)
        view = self.router.agent(agent_id)
        r = self.records.get(view.call_id or "")
        if view.state is not AgentState.ON_CALL or r is None or not calling_back(r):
            return None
        return view.call_id or "", r

    def _hang_up_caller(self, sid: str, r: CallRecord) -> None:
        """The carrier ends the caller's call; a caller called back is on a call of the
        carrier's own, so their leg is dropped from the conference (which ends that call)."""
        called_back = r.call is not None and r.call.callback
        self._effects.append(Leg(sid, CALLER, "drop" if called_back else "hangup"))

    def _transfer(self, cmd: c.Transfer) -> AgentStatus:
        """To a queue: the caller goes back to the hold loop, into that queue with the
        time they first queued (so they keep their place), and the agent to wrap-up. To
        an agent (available, on this line): cold, the call is theirs at once; warm, they
        are consulted first (not ready, their phone dialled in) with the caller on hold."""
        agent_id = cmd.agent_id
        sid, r = self._on_call(agent_id)
        if r.consult is not None:
            raise InvalidTransition(f"a transfer to {r.consult} is under way")
        if (cmd.queue == "") == (cmd.to_agent == ""):
            raise InvalidTransition("a transfer goes to one queue or to one agent")
        now = self.now
        if cmd.queue:
            if cmd.warm:
                raise InvalidTransition("a warm transfer goes to an agent (who is consulted)")
            self.router.queue(cmd.queue)  # (UnknownQueue)
            self._emit(Transferred(now, sid, agent_id, cmd.queue, "", False))
            self._requeue(sid, r, cmd.queue)
            return self.agent_state(agent_id)
        target = cmd.to_agent
        if target == agent_id:
            raise InvalidTransition(f"call {sid} is agent {agent_id}'s already")
        if target not in self.line.agents:
            raise UnknownAgent(f"no agent {target!r} on line {self.name!r}")
        state = self.agent_state(target)["state"]
        if state != AgentState.AVAILABLE.value:
            raise InvalidTransition(
                f"agent {target} is {(state or '').replace('_', ' ')}: a call passes only to "
                "an available agent"
            )
        if not cmd.warm:
            self._emit(Transferred(now, sid, agent_id, "", target, False))
            self._hand_over(sid, r, agent_id, target, consulted="", resume=r.held)
            return self.agent_state(agent_id)
        self.router.set_not_ready(target, CONSULTED)
        self.consulting[target] = sid  # (from now on, their leaving that state ends it)
        r.consult, r.consult_answered = target, False
        self._emit(Consulted(now, sid, agent_id, target, "started"))
        if not r.held:
            self._effects.append(Leg(sid, CALLER, "hold"))
        self._effects.append(Leg(sid, agent_label(target), "join"))
        return self.agent_state(agent_id)

    def _finish_transfer(self, cmd: c.FinishTransfer) -> AgentStatus:
        agent_id = cmd.agent_id
        sid, r = self._on_call(agent_id)
        target = r.consult
        if target is None:
            raise InvalidTransition(f"agent {agent_id} is not consulting anyone")
        if not cmd.complete:
            self._end_consult(sid, r, agent_id, "cancelled")
            self._release(target)
            return self.agent_state(agent_id)
        self._complete_transfer(sid, r, agent_id, target)
        return self.agent_state(agent_id)

    def _complete_transfer(self, sid: str, r: CallRecord, agent_id: str, target: str) -> None:
        """The consulted agent takes the call (once their phone has answered)."""
        if not r.consult_answered:
            raise InvalidTransition(f"{target} has not answered yet: wait, or cancel the transfer")
        del self.consulting[target]
        try:
            self._hand_over(sid, r, agent_id, target, consulted=CONSULTED, resume=True)
        except Exception:  # refused: the consultation goes on as it was
            self.consulting[target] = sid
            raise
        r.consult = None
        self._emit(Transferred(self.now, sid, agent_id, "", target, True))

    def _end_consult(self, sid: str, r: CallRecord, agent_id: str, stage: str) -> str:
        """The consultation ends without a transfer: the consulted agent's phone leaves the
        call and the caller comes back to their agent (off hold, unless the agent held
        them); returns who was consulted."""
        target = r.consult
        assert target is not None
        r.consult = None
        self.consulting.pop(target, None)
        self._emit(Consulted(self.now, sid, agent_id, target, stage))
        self._effects.append(Leg(sid, agent_label(target), "drop"))
        if not r.held:
            self._effects.append(Leg(sid, CALLER, "resume"))
        return target

    def _hand_over(
        self, sid: str, r: CallRecord, agent_id: str, target: str, *, consulted: str,
        resume: bool,
    ) -> None:  # fmt: skip
        """The call passes to `target` (their phone dialled in, unless consulted: then it
        is in already), and its agent leaves it for wrap-up; a supervisor's whisper goes
        to the new agent, and the caller comes off hold (`resume`). Refused before any
        change if the router refuses."""
        call = r.call
        assert call is not None
        queue = call.queue or ""
        self.router.hand_over(sid, target, consulted=consulted)
        r.connects += 1  # (the old agent's leg, dropped, no longer speaks for the call)
        self._emit(Connecting(self.now, sid, r.connects, target))
        if not consulted:  # a connect of its own: its callbacks say whether they answered
            r.bridged = False
            self._effects.append(Leg(sid, agent_label(target), "join", attempt=r.connects))
        self._effects.append(Leg(sid, agent_label(agent_id), "drop"))
        for name, mode in r.supervisors.items():
            if mode == "whisper":
                self._effects.append(Leg(sid, supervisor_label(name), "mode", mode,
                                         agent_label(target)))  # fmt: skip
        r.held = False
        if resume:
            self._effects.append(Leg(sid, CALLER, "resume"))
        if self.line.dispositions and self._wraps(queue):
            self.wrapping[agent_id] = (sid, queue)

    def _requeue(self, sid: str, r: CallRecord, queue: str) -> None:
        """The call's agent is done with it (to wrap-up); it waits in `queue` again, from
        the time it first queued, and the caller goes back to the hold loop (the call's
        conference ends as they leave it: its interpreter and supervisors are off it). A
        caller called back stays in the conference, on hold: everyone else leaves it."""
        old = r.call
        assert old is not None
        agent_id = old.agent_id or ""
        others = [*(supervisor_label(name) for name in r.supervisors),
                  *(["interpreter"] if r.interpreter else []), agent_label(agent_id)]  # fmt: skip
        for name in r.supervisors:
            self._emit(Supervised(self.now, sid, agent_id, name, "left"))
        if r.interpreter:
            self._emit(InterpreterLeg(self.now, sid, agent_id, r.row.language, "removed"))
        if r.dialled_back:
            self._effects.extend(Leg(sid, label, "drop") for label in others)
        since = old.first_queued_at
        self.router.complete(sid)  # (its record is forgotten with it: a new one follows)
        call = Call(sid, old.language, old.caller_type, old.arrived_at, old.priority)
        call.enter_ivr(old.arrived_at)
        row = r.row.changed(queue=queue)
        # (a new record: until an agent's leg answers again, a hang-up is one before an
        # agent talked to them, in this queue, as a hang-up while they wait here is)
        again = self.records[sid] = CallRecord(row=row, call=call, since=r.since,
                                               connects=r.connects)  # fmt: skip
        again.dialled_back, again.unverified_leg = r.dialled_back, r.unverified_leg
        again.caller_answered, again.dial = r.caller_answered, r.dial
        self._change(sid, queue=queue)
        self.router.enqueue(call, queue, since)
        call.callback = old.callback  # (its agent dials them back, or joins them: not a
        self._caller_waits(sid, r.connects)  # second callback taken, for the figures)

    def _release(self, agent_id: str) -> None:
        """A consulted agent who did not take the call is ready again (if still consulted)."""
        if self._consulted(agent_id):
            self.router.set_ready(agent_id)

    def _consulted(self, agent_id: str) -> bool:
        """Whether the agent is still not ready for a consultation."""
        view = self.router.agent(agent_id)
        return view.state is AgentState.NOT_READY and view.reason == CONSULTED

    def _agent_left(self, cmd: c.AgentLegEnded) -> None:
        """The call's agent's leg ended. If the caller has not hung up within
        AGENT_GONE_AFTER (their own end and the agent's leg's cross: the carrier reports
        both when the caller leaves), the agent hung up: see `_agent_gone`."""
        self.scheduler.at(self.now + AGENT_GONE_AFTER, self._agent_gone, cmd.sid, cmd.attempt)

    def _agent_gone(self, sid: str, attempt: int) -> None:
        """The call's agent hung up their phone: the call ends (the caller is hung up on),
        unless a consultation was under way: then the consulted agent takes the call if
        their phone answered, else the caller goes back to their place in the queue."""
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None or call.state is not CallState.ANSWERED:
            return  # (the call ended, or went back to the queue, meanwhile)
        if attempt == r.connects and r.dialled_back and not r.bridged:
            # they hung up while their caller was being called back: the caller (whose
            # phone rings on) waits on hold for the next agent, if they pick up
            self._emit(AgentLegFailed(self.now, sid, "hung-up", call.agent_id or "", attempt))
            self.router.connect_failed(sid, "agent-hung-up")
            return
        if attempt != r.connects or not r.bridged:
            return  # an earlier agent's leg, dropped on a transfer
        agent_id = call.agent_id or ""
        target = r.consult
        if target is not None and r.consult_answered:
            self._complete_transfer(sid, r, agent_id, target)
        elif target is not None:
            self._end_consult(sid, r, agent_id, "cancelled")
            self._release(target)
            self._requeue(sid, r, call.queue or "")
        else:
            self._hang_up_caller(sid, r)

    def _interpreter(self, cmd: c.AddInterpreter) -> AgentStatus:
        agent_id = cmd.agent_id
        sid, r = self._on_call(agent_id)
        if r.interpreter == cmd.on:
            raise InvalidTransition(
                f"an interpreter is {'already' if r.interpreter else 'not'} on call {sid}"
            )
        r.interpreter = cmd.on
        stage = "added" if cmd.on else "removed"
        self._emit(InterpreterLeg(self.now, sid, agent_id, r.row.language, stage))
        self._effects.append(Leg(sid, INTERPRETER, "join" if cmd.on else "drop"))
        return self.agent_state(agent_id)

    def _supervise(self, cmd: c.Supervise) -> None:
        sid, name, mode = cmd.sid, cmd.supervisor, cmd.mode
        if mode not in SUPERVISING and mode != "leave":
            raise InvalidTransition(f"{mode!r} is not listen, whisper, barge or leave")
        r = self._record(sid)
        call = r.call
        if call is None or call.state is not CallState.ANSWERED or not (r.bridged or r.detached):
            raise InvalidTransition(f"call {sid} is not on an agent")
        agent = call.agent_id or ""
        current = r.supervisors.get(name)
        label = supervisor_label(name)
        if mode == "leave":
            if current is None:
                raise InvalidTransition(f"{name} is not on call {sid}")
            del r.supervisors[name]
            self._effects.append(Leg(sid, label, "drop"))
            self._emit(Supervised(self.now, sid, agent, name, "left"))
            return
        if current == mode:
            raise InvalidTransition(f"{name} is on call {sid} in {mode} already")
        r.supervisors[name] = mode
        action = "join" if current is None else "mode"
        self._effects.append(Leg(sid, label, action, "talk" if mode == "barge" else mode,
                                 agent_label(agent) if mode == "whisper" else ""))  # fmt: skip
        self._emit(Supervised(self.now, sid, agent, name, mode))

    def _leg_status(self, cmd: c.LegStatus) -> None:
        """A consulted agent's phone answered (the transfer can be completed), or did not
        (they go not ready) or hung up: the consultation ends and the caller comes back to
        their agent. The agent a call was handed to after a consultation hung up: the call
        ends. An interpreter or supervisor not reached, or gone, is off the call."""
        sid, label, status = cmd.sid, cmd.label, cmd.status
        r = self.records.get(sid)
        call = r.call if r is not None else None
        if r is None or call is None:
            return  # the call ended meanwhile
        agent = call.agent_id or ""
        joined, ended = status in JOINED, status in ENDED
        stage = "left" if status == "completed" else f"not-reached:{status}"
        if r.consult is not None and label == agent_label(r.consult):
            if joined:
                r.consult_answered = True
            elif ended:
                target = self._end_consult(sid, r, agent, stage)
                if status == "completed":
                    self._release(target)
                elif self._consulted(target):
                    self.router.set_not_ready(target, f"agent-{status}")
        elif label == agent_label(agent) and status == "completed":
            self._agent_left(c.AgentLegEnded(sid, r.connects))
        elif label == INTERPRETER and r.interpreter and ended:
            r.interpreter = False
            self._emit(InterpreterLeg(self.now, sid, agent, r.row.language, stage))
        elif label.startswith("supervisor:") and ended:
            name = label.removeprefix("supervisor:")
            if r.supervisors.pop(name, None) is not None:
                self._emit(Supervised(self.now, sid, agent, name, stage))

    def call_legs(self, sid: str) -> dict[str, object] | None:
        """Whether the agent's phone is connected to the caller (`calling_back`: it
        answered, and a callback's caller is being called back: their phone rings), and who
        is on the call's conference besides them (None: not a call of this line)."""
        r = self.records.get(sid)
        if r is None:
            return None
        return {"connected": r.bridged or r.detached, "held": r.held, "consult": r.consult,
                "interpreter": r.interpreter, "supervisors": dict(r.supervisors),
                "calling_back": calling_back(r)}  # fmt: skip

    # -- the line

    def _reconfigure(self, cmd: c.Reconfigure) -> list[str]:
        new, old = cmd.line, self.line
        if new.number != old.number or new.name != old.name:
            raise InvalidTransition("a line's name and number change only with a restart")
        before = {q.name: q for q in old.queues}
        after = {q.name: q for q in new.queues}
        if set(before) != set(after) or any(
            len(q.steps) != len(before[name].steps) for name, q in after.items()
        ):
            raise InvalidTransition(
                f"line {new.name!r}: adding or removing a queue, or changing how many steps "
                "one has, takes a restart (the line keeps its configuration)"
            )
        refuse_bad_queues(new.queues)  # (before any change: refused whole)
        changed = []
        for name, q in after.items():
            if q != before[name]:
                self.router.update_queue(q)
                changed.append(f"queue {name}")
        for agent_id, agent in new.agents.items():
            if old.agents.get(agent_id) != agent:
                self.router.update_agent(agent)
                changed.append(f"agent {agent_id}")
        changed += [f"agent {a} removed" for a in sorted(set(old.agents) - set(new.agents))]
        if new.flow is not None and (old.flow is None or (new.flow.name, new.flow.version)
                                     != (old.flow.name, old.flow.version)):  # fmt: skip
            self.flow = new.flow  # for new calls; a call keeps the version it started on
            changed.append(f"flow {new.flow.name} v{new.flow.version}")
        if new.mode != old.mode:
            changed.append(f"mode {new.mode}")  # (new calls' flows branch on it)
        self.line = new
        return changed

    def _recover(self, cmd: c.Recover) -> dict[str, int]:
        """Each call rebuilt (or closed: `left`, and those the carrier says are over). One
        whose rebuilding fails raises CallNotRecovered, naming it, with the line half-built:
        its driver builds the line afresh, that call among those left (one call must not
        keep the line from starting, nor close any other)."""
        done: dict[str, int] = {}
        for gone in cmd.left:
            self._not_recovered(gone, cmd.statuses)
            done["not recovered"] = done.get("not recovered", 0) + 1
        for found in cmd.calls:
            try:
                what = self._recover_call(found, cmd.statuses)
            except Exception as e:  # (its kind only: its text may hold the call's data)
                raise CallNotRecovered(found.row.sid, type(e).__name__) from e
            done[what] = done.get(what, 0) + 1
        return done

    def _not_recovered(self, gone: c.NotRebuilt, statuses: Mapping[str, str | None]) -> None:
        """A call a start could not rebuild is closed. A caller waiting alone (in the IVR,
        the hold loop, or for a callback's dial-back: on hold through it, or called by it
        still) is told to call again as their call ends, if the carrier may have them
        still. One an agent answered is not cut off by the line: their talk goes on
        without it. As at a restart that has it again (`_reattach`), a consultation on it
        ends (the consulted agent's phone leaves), and a caller who was on hold is taken
        off it again (nobody else could: the line no longer knows the call); its agent is
        not ready until they say so (`LiveLine.recover`). Nothing else of it is rebuilt: a
        callback's caller not called yet is not called back."""
        row, sid = gone.row, gone.row.sid
        self._close_at_start(row)
        self._emit(NotRecovered(self.now, sid, gone.cause))
        caller = caller_call(row, gone.leg)
        if not caller or not may_go_on(caller, statuses):
            return
        if row.state != "answered":
            self._effects.append(EndCall(caller))
            return
        if gone.consult:
            self._emit(Consulted(self.now, sid, "", gone.consult, "restart"))
            self._effects.append(Leg(sid, agent_label(gone.consult), "drop"))
        if gone.held or gone.consult:
            self._effects.append(Leg(sid, CALLER, "resume"))

    def _close_at_start(self, row: CallRow) -> str:
        """A call a start does not rebuild, closed: completed if an agent had answered it,
        else abandoned (returned)."""
        state = "completed" if row.state == "answered" else "abandoned"
        self._change(row.sid, state=state)
        return state

    def _recover_call(self, found: c.Recovered, statuses: Mapping[str, str | None]) -> str:
        """One open call rebuilt, or closed if the carrier says it is over: what became of
        it, for `Recover`'s counts."""
        row = found.row
        known = row.sid in statuses
        status = statuses.get(row.sid)
        callback = row.callback_number is not None and row.state in (
            "queued", "offered", "answered",
        )  # fmt: skip
        if not may_go_on(row.sid, statuses) and not callback:
            state = self._close_at_start(row)
            self._emit(ClosedAfterRestart(self.now, row.sid, status or "unknown"))
            return state
        r = self.records[row.sid] = CallRecord(
            row=row,
            since=found.since,
            connects=found.attempts,  # the next connect gets a number of its own
            offered_callback=found.offered_callback,
            unverified=not known and not callback,
            callback_tries=found.callback_tries,
        )
        r.dial = found.dial  # (an earlier dial-back's late miss is not the caller's)
        self._dials = max(self._dials, found.dial)  # (this line's are later still)
        mark = len(self._effects)
        if row.state == "in_ivr":
            r.resumable = True
            what = "ivr"
        elif row.state == "answered" and found.bridged:
            what = "on a call"
            theirs = self._resume_call(r, found, callback=callback)
            if not theirs:
                r.detached = True
            self._reattach(row.sid, r, found, theirs=theirs)
        elif row.state == "answered" and found.attempts and not callback:
            # the agent's phone was ringing: the carrier's word on that dial decides
            r.pending = True
            self.scheduler.at(self.now + PENDING_FOR, self._no_word, row.sid)
            what = "connecting"
        elif callback and row.state == "answered" and self._resume_call(r, found, callback=True):
            what = "on a call"
            if found.dialling_back:  # (the carrier's word on the dial-back decides,
                r.dialled_back = True  # within PENDING_FOR; none, and it is asked again)
                r.dial_back_unconfirmed = True
                r.answered_connect = found.attempts  # (its agent's phone answered)
                self.scheduler.at(self.now + PENDING_FOR, self._dial_back_no_word, row.sid,
                                  found.attempts)  # fmt: skip
                what = self._dial_back_asked(row.sid, r, found.dial_back_leg,
                                             statuses) or what  # fmt: skip
            elif found.attempts:  # (its agent's phone was ringing: the carrier's word on
                leg = found.dial_back_leg  # it decides, within PENDING_FOR)
                if found.on_the_line:  # a caller called back waits on hold for it, there
                    r.dialled_back = r.caller_answered = True
                    self._hold_again(row.sid, r)
                else:  # (dialled back before their agent left, no word since: answered
                    # meanwhile, they wait on hold for this phone; answered and hung up,
                    # they had waited so)
                    r.held = statuses.get(leg, "") == "completed"
                    what = self._dial_back_asked(row.sid, r, leg, statuses) or what
                self.scheduler.at(self.now + PENDING_FOR,
                                  self._callback_no_word, row.sid, found.attempts)  # fmt: skip
        else:  # queued or offered (or a callback being dialled): back in its place
            self._back_in_place(row.sid, callback=callback)
            what = "queued"
            if callback and found.on_the_line:  # called back, on hold for an agent
                r.dialled_back = r.caller_answered = True
                self._hold_again(row.sid, r)
            elif callback:  # (dialled back before its agent left, no word of it since)
                what = self._dial_back_asked(row.sid, r, found.dial_back_leg,
                                             statuses) or what  # fmt: skip
        leg = found.dial_back_leg
        if callback and found.on_the_line and leg and leg not in statuses:
            r.unverified_leg = leg  # (the carrier could not say: asked again)
        elif callback and found.on_the_line and not may_go_on(leg, statuses):
            # called back, they hung up while the line was down (the carrier's word on
            # it lost): as that word would have; nothing is asked about their leg
            asked = self._effects[mark:]
            self._effects[mark:] = [
                e for e in asked if not (isinstance(e, Leg) and e.label == CALLER)
            ]
            what = self._dial_back_word(row.sid, r, leg, statuses[leg]) or what
        return what

    def _dial_back_asked(
        self, sid: str, r: CallRecord, leg: str, statuses: Mapping[str, str | None]
    ) -> str | None:
        """A dial-back the carrier took before the restart (`leg`: its call), with no word
        of it since (for this agent, or for one who left while it rang): it is not made a
        second time, and what the carrier says of it now is taken as its word
        (`_dial_back_word`). None if the carrier was not asked or could not say (it is
        made again: within PENDING_FOR with no word, or when the next agent's phone
        answers); else as `_dial_back_word`."""
        if not leg or leg not in statuses:
            return None
        r.dialled_back, r.dial_back_unconfirmed = True, False  # (it went out)
        r.dial_back_leg = leg
        return self._dial_back_word(sid, r, leg, statuses[leg])

    def _dial_back_word(self, sid: str, r: CallRecord, leg: str, status: str | None) -> str | None:
        """What the carrier says of `leg`, the call of a dial-back of `sid` with no word of
        it since a restart (asked at the start, or again): still ringing, its own word
        comes (and it is asked again meanwhile, in case that word is lost); answered, a
        caller taken as on the line stays so, one awaited is as that word would have made
        them; ended (None: the carrier no longer knows it), as its end would have been.
        What became of the call, for `Recover`'s counts (None: it goes on)."""
        if status in ("queued", "ringing"):
            r.unverified_leg = leg
            return None
        r.unverified_leg = ""
        on_the_line = r.caller_answered
        if status == "in-progress" and on_the_line:
            return None
        said = status or ("completed" if on_the_line else "failed")
        self._status(c.CarrierStatus(sid, said, dial_back=True, leg=leg))
        if said == "in-progress":
            return None
        return "hung up" if said == "completed" else "callback not reached"

    def _resume_call(self, r: CallRecord, found: c.Recovered, *, callback: bool = False) -> bool:
        """A bridged call (or a `callback` being dialled back) back on its agent (logged in
        again, not engaged), who can hang it up, hold and transfer a bridged one, and wraps
        it up after; False if it cannot be theirs (no agent, one the line or the queue no
        longer has, or one engaged: it goes on detached, closed by its status)."""
        row = r.row
        if not found.agent or row.queue is None or not self._has_queue(row.queue):
            return False
        try:
            if self.router.agent(found.agent).state in (AgentState.RESERVED, AgentState.ON_CALL,
                                                        AgentState.WRAP_UP):  # fmt: skip
                return False
        except UnknownAgent:
            return False
        call = _call_of(row)
        call.callback = callback
        since = found.since or row.arrived_at
        self.router.resume_call(call, row.queue, found.agent, since, found.answered or since)
        r.call = call
        if found.bridged:  # the agent's leg answered (a callback's caller was called back)
            r.bridged = r.talked = True
            r.answered_connect = found.attempts
            r.dialled_back = r.caller_answered = callback
        return True

    def _has_queue(self, name: str) -> bool:
        return any(q.name == name for q in self.line.queues)

    def _resume_wrap_up(self, cmd: c.ResumeWrapUp) -> AgentStatus:
        """What is left of the wrap-up (its form with it); none left, it closes with
        `timeout` as one that runs out does, and the agent is ready."""
        agent_id = cmd.agent_id
        wrap = next((q.wrap_up_seconds for q in self.line.queues if q.name == cmd.queue), 0.0)
        form = self.line.dispositions and cmd.call_sid and wrap > 0
        if cmd.since + wrap <= self.now:
            if form:  # (the change out of it closes it: `timeout`)
                self.wrapping[agent_id] = (cmd.call_sid, cmd.queue)
            if cmd.then is None:
                self.router.set_ready(agent_id)
            else:
                self.router.set_not_ready(agent_id, cmd.then)
        else:
            self.router.resume_wrap_up(agent_id, cmd.since + wrap)
            if cmd.then is not None:
                self.router.after_wrap_up(agent_id, cmd.then)
            if form:  # (after the change to wrap-up, which would close it)
                self.wrapping[agent_id] = (cmd.call_sid, cmd.queue)
        return self.agent_state(agent_id)

    def after_wrap_up_of(self, agent_id: str) -> str | None:
        """What a wrapping-up agent chose for after it: not ready for this reason (None:
        ready, or not wrapping up)."""
        return self.router.agent(agent_id).then

    def _reattach(self, sid: str, r: CallRecord, found: c.Recovered, *, theirs: bool) -> None:
        """A consultation under way across a restart ends (the consulted agent's phone
        leaves, the caller comes off hold to their agent); a caller left on hold stays on
        it when the call is their agent's again (who takes them off it), and comes off it
        when it is not (nobody could). An interpreter and supervisors in the conference
        stay in it; on a call that is its agent's again the line knows them again (the
        agent can let the interpreter go, each supervisor can change how they are on it or
        leave, their legs' ends are theirs); on one that is not, nobody could do any of it
        (a supervisor hangs their own phone up)."""
        if theirs:
            r.interpreter = found.interpreter
            r.supervisors = dict(found.supervisors)
        if found.consult:
            self._emit(Consulted(self.now, sid, "", found.consult, "restart"))
            self._effects.append(Leg(sid, agent_label(found.consult), "drop"))
        if found.held and theirs and not found.consult:
            self._hold_again(sid, r)
        elif found.held or found.consult or found.held_before:  # (off hold: the carrier is
            self._effects.append(Leg(sid, CALLER, "resume"))  # told so again, in case the
            # line stopped between writing it and asking the carrier)

    def _hold_again(self, sid: str, r: CallRecord) -> None:
        """A caller the store has on hold stays on it, and the carrier is told so again:
        the line that put them on hold may have stopped between writing it and asking the
        carrier, and the agent must not believe a caller cannot hear them who can. (Asked
        of a caller on hold already, it changes nothing: the carrier may start its music
        over.)"""
        r.held = True
        self._effects.append(Leg(sid, CALLER, "hold"))

    def _recheck(self, cmd: c.Recheck) -> None:
        """Those that ended are closed; those it still cannot say stay unverified. A
        dial-back's call: as its own word would have been (`_dial_back_word`)."""
        legs = {r.unverified_leg: sid for sid, r in self.records.items() if r.unverified_leg}
        for sid, status in cmd.statuses.items():
            if (call := legs.get(sid)) is not None:
                if (r := self.records.get(call)) is not None and r.unverified_leg == sid:
                    self._dial_back_word(call, r, sid, status)
                continue
            if (r := self.records.get(sid)) is not None:
                r.unverified = False
            if status not in LIVE:
                self._status(c.CarrierStatus(sid, status or "completed"))

    def _record(self, sid: str) -> CallRecord:
        r = self.records.get(sid)
        if r is None:
            raise UnknownCall(f"call {sid} is not open on this line")
        return r

    # -- what the router reports

    def _on_router_event(self, e: Event) -> None:
        self._events.append(e)
        if isinstance(e, CallOffered):
            r = self.records[e.call_id]
            call = r.call
            assert call is not None
            self._effects.append(Offer(e.agent_id, e.call_id, r.row.caller, call.language,
                                       e.queue, dict(r.row.attributes)))  # fmt: skip
        elif isinstance(e, CallAnswered):
            self._connect(e)
        elif isinstance(e, OfferWithdrawn):
            self._effects.append(Withdraw(e.agent_id, e.call_id, e.reason))
        elif isinstance(e, (CallAbandoned, CallCompleted)):  # (a tuple: no union built per event)
            self._forget(e.call_id)
            if type(e) is CallCompleted and self.line.dispositions and self._wraps(e.queue):
                self.wrapping[e.agent_id] = (e.call_id, e.queue)
        elif self.wrapping and isinstance(e, (AgentStateChanged, AgentLoggedOut)):
            wrapped = self.wrapping.pop(e.agent_id, None)
            if wrapped is not None:  # out of wrap-up without a code: its time ran out (or
                # the agent's own state change, a log-out, a supervisor's change)
                self._emit(WrappedUp(e.at, wrapped[0], e.agent_id, TIMED_OUT, ""))
        elif isinstance(e, CallOverflowed) and e.to_queue is None:
            # out of the ACD to a fallback (voicemail): the hold loop sends them there; a
            # caller called back waits in their conference, outside it: they are hung up
            gone = self.records.get(e.call_id)
            if gone is not None and gone.dialled_back:
                self._effects.append(Leg(e.call_id, CALLER, "drop"))
            else:
                self.to_voicemail.add(e.call_id)
            self._forget(e.call_id)
        if self.consulting and isinstance(e, (AgentStateChanged, AgentLoggedOut)):
            self._consulted_left(e)

    def _consulted_left(self, e: AgentStateChanged | AgentLoggedOut) -> None:
        """A consulted agent's state changed (not by the consultation's end: that forgets
        them first): they left it, so it ends."""
        sid = self.consulting.get(e.agent_id)
        r = self.records.get(sid or "")
        if sid is not None and r is not None and r.consult == e.agent_id:
            call = r.call
            self._end_consult(sid, r, (call.agent_id if call else None) or "", "left")

    def _wraps(self, queue: str) -> bool:
        """Whether the queue's calls have a wrap-up (a time after the call)."""
        return any(q.name == queue and q.wrap_up_seconds > 0 for q in self.line.queues)

    def _connect(self, e: CallAnswered) -> None:
        """An agent answered the call: bridge them. A callback's caller is off the line:
        the agent's phone is dialled into the call's conference first, and the caller is
        called back into it once it answers (see `_leg_answered`)."""
        r = self.records[e.call_id]
        r.connects += 1
        r.bridged = False
        self._emit(Connecting(self.now, e.call_id, r.connects, e.agent_id))
        if r.call is not None and r.call.callback:
            self._effects.append(Leg(e.call_id, agent_label(e.agent_id), "join",
                                     attempt=r.connects))  # fmt: skip
        else:
            self._effects.append(Connect(e.call_id, e.agent_id, r.connects))


class _RouterEvents(EventSink):
    """The router's events to the switchboard (a compiled call each, not one through Python)."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board

    def routed(self, event: Event) -> None:
        self.board._on_router_event(event)


def _call_of(row: CallRow) -> Call:
    """A recovered call (known from its row) as the router takes it: past the IVR."""
    call = Call(row.sid, row.language, row.attributes.get("caller_type", "public"),
                row.arrived_at, row.priority)  # fmt: skip
    call.enter_ivr(row.arrived_at)
    return call


def agent_label(agent_id: str) -> str:
    """An agent's label in a call's conference."""
    return f"agent:{agent_id}"


def supervisor_label(name: str) -> str:
    return f"supervisor:{name}"


def offline(agent_id: str) -> AgentStatus:
    return {"agent_id": agent_id, "state": AgentState.OFFLINE.value, "call_sid": None}
