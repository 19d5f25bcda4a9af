"""The live driver: one line's IVR sessions and ACD, fed by carrier webhooks and agents.

Every public method is one use case: it first lets the real-time scheduler catch up with
the wall clock (timers that fell due fire first), then changes the core and writes what
happened to the store. The web adapter holds one lock around each call, so the core is
only ever touched by one request at a time. What must reach the outside world (an offer
to an agent's browser, a call to connect) is put in `outbox` for the adapters to carry out.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from hotline.domain.agent import Agent, AgentState
from hotline.domain.call import Call, CallState
from hotline.domain.events import (
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallCompleted,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    Event,
    OfferWithdrawn,
)
from hotline.errors import HotlineError, InvalidTransition, UnknownAgent, UnknownCall
from hotline.ivr.catalog import Value
from hotline.ivr.connector import Connector
from hotline.ivr.interpreter import (
    Action,
    CallStarted,
    Digits,
    Enqueue,
    Input,
    Lookup,
    LookupResult,
    Say,
    Session,
    Speech,
    Timeout,
    advance,
    start,
)
from hotline.ivr.languages import callable_number, voice
from hotline.ivr.line import LineFlow
from hotline.ivr.model import Flow
from hotline.routing.engine import Router
from hotline.service.clock import RealTimeScheduler
from hotline.service.health import WriteHealth
from hotline.service.hub import News
from hotline.service.lookups import Answer, LookupWorkers
from hotline.service.stats import right_now
from hotline.service.unit_of_work import (
    AddCall,
    AppendEvent,
    CallRow,
    SaveReply,
    UpdateCall,
    Write,
)
from hotline.service.writer import Writer
from hotline.sim.scenario import Scenario
from hotline.store.repository import Store


class UnknownNumber(HotlineError):
    error_id = "unknown-number"


@dataclass(frozen=True, slots=True)
class Offer:
    """Tell an agent's browser that a call is offered to them."""

    agent_id: str
    call_sid: str
    caller: str
    language: str
    queue: str
    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Withdraw:
    agent_id: str
    call_sid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Bridge the caller to the agent who accepted (the carrier's REST API); `attempt`
    counts the connects of this call, so each one's callbacks are told apart."""

    call_sid: str
    agent_id: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class DialBack:
    """Call back a caller who kept their place, straight through to the agent who took it."""

    call_sid: str
    number: str
    agent_id: str


Command = Offer | Withdraw | Connect | DialBack
AgentStatus = dict[str, str | None]
CALLBACK_TRIES = 3  # dial-backs before a callback caller who never answers is given up
HoldState = Literal["waiting", "offer-callback", "connecting", "voicemail", "gone"]
HOLD_CALLBACK_AFTER = 300.0  # estimated seconds still to wait before a callback is offered
LIVE = ("queued", "ringing", "in-progress")  # carrier statuses of a call still going on
TALKED = ("completed", "answered")  # DialCallStatus values of a bridge that happened
AGENT_LEG_ANSWERED = "agent-leg-answered"  # event: the agent picked up, the bridge is up
CONNECTING = "connecting"  # event: an accepted call is being bridged (its attempt number)
CALLBACK_OFFERED = "callback-offered"  # event: the hold loop offered a callback (once a call)
PENDING_FOR = 60.0  # seconds a dial in flight at a restart may take to report (rings ~30 s)
COMMIT_WAIT = 0.5  # seconds a reply waits for its unit of work to land (then goes anyway)
REPLIES_KEPT = 100_000  # replies remembered for carrier retries (the store keeps them all)


def agents_of(scenario: Scenario) -> dict[str, Agent]:
    """The scenario's agent groups as named agents (`es-day-3`)."""
    out = {}
    for g in scenario.agent_groups:
        for i in range(1, g.count + 1):
            a = Agent(f"{g.name}-{i}", f"{g.name} {i}", dict(g.skills), g.queues)
            out[a.id] = a
    return out


log = logging.getLogger("hotline.live")


@dataclass(slots=True, eq=False)
class CallRecord:
    """Everything the line keeps of one open call, dropped when the call ends."""

    row: CallRow | None = None  # who called, with what attributes (the store's row)
    ivr: tuple[Flow, Session] | None = None  # the IVR session, while in the IVR
    inputs: int = 0  # IVR inputs so far in this run (the webhook's step)
    generation: int = 1  # IVR runs (a restart begins a new one)
    call: Call | None = None  # in the ACD
    since: float | None = None  # recovered: when it first queued
    connects: int = 0  # connects to an agent tried
    callback_tries: int = 0  # dial-backs not answered
    looking: tuple[int, Lookup] | None = None  # the look-up under way: ticket, what it asked
    heard: list[Action] | None = None  # what the flow said once it answered, not yet heard
    resumable: bool = False  # in the IVR when the server stopped: start it over
    detached: bool = False  # answered before a restart: closed by its status
    offered_callback: bool = False  # the hold loop offered a callback (once a call)
    unverified: bool = False  # recovered while the carrier could not say it still went on
    bridged: bool = False  # the agent's leg answered the last connect
    pending: bool = False  # dialling an agent when the server restarted


class LiveLine:
    def __init__(
        self,
        *,
        scenario: Scenario,
        flow: LineFlow,
        store: Store,
        connectors: Mapping[str, Connector],
        number: str,
        timezone: str,
        wall: Callable[[], float] = time.time,
        commit_wait: float = COMMIT_WAIT,
        lookup_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`commit_wait`: seconds a reply waits for its writes to land before it is sent
        anyway (the writes wait in order; callers are never held by the store).
        `lookup_clock`: what a look-up's deadline is measured on; real seconds, even when
        `wall` runs faster (the demo), as a record system takes real time to answer."""
        self.scenario = scenario
        self.line_flow = flow
        self.store = store
        self.number = number
        self.zone = ZoneInfo(timezone)
        self.wall = wall
        self.scheduler = RealTimeScheduler(wall=wall)
        self.router = Router(
            queues=scenario.queues,
            scheduler=self.scheduler,
            on_event=self._on_event,
            policy=scenario.policy,
            offer_timeout=scenario.offer_timeout,
        )
        self.roster = agents_of(scenario)
        self.records: dict[str, CallRecord] = {}  # the open calls
        self.outbox: list[Command] = []
        self.news: list[News] = []  # the current command's events, for the hub
        # The current command's writes: `commit` hands them to the writer as one unit of
        # work; the core never waits on (or fails with) the store.
        self.writes: list[Write] = []
        # Replies given, so a retry is answered alike even while the store is down (the
        # store keeps them across restarts; `recover` loads those of open calls).
        self.replies: OrderedDict[tuple[str, str], str] = OrderedDict()
        # overflowed to voicemail: the caller's next hold-loop request records (this mark
        # outlives the call's record, until that request or the caller's hang-up)
        self.to_voicemail: set[str] = set()
        self.handle_mean = scenario.handle.mean
        self.health = WriteHealth(wall=wall)
        self.commit_wait = commit_wait
        self.writer = Writer(store=store, health=self.health, stuck_after=commit_wait)
        # Record look-ups run in workers, never in a command; their answers are applied by
        # `tick` (a record's `looking` and `heard`).
        self.lookups = LookupWorkers(connectors=connectors, wall=lookup_clock)
        self.in_command = False

    # -- the store

    def _add(self, write: Write) -> None:
        self.writes.append(write)

    def _event(
        self,
        sid: str | None,
        at: float,
        kind: str,
        data: Mapping[str, object],
        event: Event | None = None,
    ) -> None:
        """An event of the call: written with the command, and news for the hub after."""
        self.writes.append(AppendEvent(sid, at, kind, data))
        self.news.append(News(at, kind, sid, data, event))

    def _update(self, sid: str, at: float, **values: object) -> None:
        self.writes.append(UpdateCall(sid, at, values))

    def reply(self, sid: str, step: str) -> str | None:
        """The TwiML already given to this carrier callback (a retry gets it again)."""
        return self.replies.get((sid, step))

    def answered(self, sid: str, step: str, twiml: str) -> None:
        """Keep the reply to a carrier callback, written with the changes it caused."""
        self.replies[(sid, step)] = twiml
        if len(self.replies) > REPLIES_KEPT:
            self.replies.popitem(last=False)
        self._add(SaveReply(sid, step, twiml, self.wall()))

    def commit(self) -> Future[bool] | None:
        """The command is done: its writes go to the writer as one unit of work."""
        writes, self.writes = self.writes, []
        return self.writer.submit(writes)

    def flush(self) -> None:
        """Commit, then try every waiting unit of work now, in this thread."""
        self.commit()
        self.writer.drain()

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """A refused command writes nothing, tells nothing and asks nothing of the world."""
        del self.writes[mark[0] :]
        del self.outbox[mark[1] :]
        del self.news[mark[2] :]

    def take_news(self) -> list[News]:
        """The events of the commands run since the last call, in order (for the hub)."""
        news, self.news = self.news, []
        return news

    def _forget(self, sid: str) -> None:
        """The call is over for this line: nothing of it stays in memory (but the mark
        that sends an overflowed caller to voicemail, which their next request takes)."""
        r = self.records.pop(sid, None)
        if r is not None and r.looking is not None:  # its answer is no longer wanted
            self.lookups.drop(r.looking[0])

    def held(self) -> dict[str, int]:
        """What this line holds in memory for calls, where it holds any (nothing once every
        call has ended and its timers have run; the replies kept for carrier retries are
        bounded by REPLIES_KEPT and not counted)."""
        counts = {"calls": len(self.records), "to_voicemail": len(self.to_voicemail),
                  "acd": self.router.calls_held(), "look-ups": self.lookups.running(),
                  "timers": len(self.scheduler)}  # fmt: skip
        return {name: n for name, n in counts.items() if n}

    # -- what the adapters ask of a call

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

    def resumable(self, sid: str) -> bool:
        """In the IVR when the server stopped: its next request starts the flow over."""
        r = self.records.get(sid)
        return r is not None and r.resumable

    def in_ivr(self) -> int:
        """How many callers are in the IVR now."""
        return sum(1 for r in self.records.values() if r.ivr is not None)

    def in_acd(self, sid: str) -> bool:
        r = self.records.get(sid)
        return r is not None and r.call is not None

    def unverified(self) -> list[str]:
        """Calls recovered while the carrier could not say whether they still went on."""
        return sorted(sid for sid, r in self.records.items() if r.unverified)

    def voicemail(self, sid: str, recording_url: str) -> None:
        """A caller's voicemail: its URL is kept in order with every other write."""
        self._event(sid, self.wall(), "voicemail", {"recording": recording_url})

    # -- time

    def tick(self) -> None:
        """Fire every timer that fell due (offer timeouts, escalations, wrap-ups) and take
        the look-ups that answered; inside a command (`begin`), only its first tick does,
        so a refused command can be rolled back without losing what really happened."""
        if not self.in_command:
            self.scheduler.run(until=self.wall())
            for answer in self.lookups.answers():
                try:
                    self._looked_up(answer)
                except Exception:  # one caller's broken answer must not stop the others'
                    log.exception("the answer to a look-up for call %s failed", answer.call_sid)

    def begin(self) -> tuple[int, int, int]:
        """A command starts: due timers fire now, then the buffers' marks for `rollback`."""
        self.in_command = False
        self.tick()
        self.in_command = True
        return len(self.writes), len(self.outbox), len(self.news)

    def end(self) -> None:
        self.in_command = False

    # -- calls

    def incoming(self, sid: str, caller: str, called: str) -> list[Action]:
        self.tick()
        if called != self.number:
            self._event(sid, self.wall(), "refused", {"called": called})
            raise UnknownNumber(f"no line answers {called}")
        flow = self.line_flow.flow
        now = self.wall()
        waits = {q.name: self.estimated_wait(q.name) for q in self.scenario.queues}
        local = datetime.fromtimestamp(now, self.zone).replace(tzinfo=None)
        step = start(flow, CallStarted(caller, called, local, "normal", waits))
        row = CallRow(sid, flow.name, caller, called, step.session.language, None, 0,
                      CallState.IN_IVR.value, {}, None, now)  # fmt: skip
        self.records[sid] = CallRecord(row=row)
        self._add(AddCall(row, now))
        self._event(sid, now, "ivr-started", {"flow": flow.name, "version": flow.version})
        return self._after_ivr(sid, flow, step.session, list(step.actions))

    def resume_ivr(self, sid: str) -> list[Action]:
        """A caller who was in the IVR when the server stopped starts the flow over (the
        session lived in memory); their call keeps its record."""
        self.tick()
        r = self.records[sid]
        r.resumable = False
        row = r.row
        assert row is not None
        flow = self.line_flow.flow
        local = datetime.fromtimestamp(self.wall(), self.zone).replace(tzinfo=None)
        waits = {q.name: self.estimated_wait(q.name) for q in self.scenario.queues}
        step = start(flow, CallStarted(row.caller, row.called, local, "normal", waits))
        r.inputs = 0
        r.generation += 1
        self._event(sid, self.wall(), "ivr-resumed", {"generation": r.generation})
        return self._after_ivr(sid, flow, step.session, list(step.actions))

    def recover(self, statuses: Mapping[str, str | None]) -> dict[str, int]:
        """After a restart: rebuild the ACD from the store's open calls, with what the
        carrier said of each (`statuses`: None if it does not know the call; a call left
        out is one the carrier could not be asked about). Queued callers (and callbacks,
        and calls accepted but never bridged to the agent) get their place back, by when
        they first queued; IVR callers resume; calls that ended meanwhile are closed.
        Calls whose status is unknown keep their place and are in `unverified`."""
        self.tick()
        done: dict[str, int] = {}
        now = self.wall()
        for row in self.store.open_calls():
            known = row.sid in statuses
            status = statuses.get(row.sid)
            callback = row.callback_number is not None and row.state in (
                "queued", "offered", "answered",
            )  # fmt: skip
            if known and status not in LIVE and not callback:
                state = "completed" if row.state == "answered" else "abandoned"
                self._update(row.sid, now, state=state)
                self._event(
                    row.sid,
                    now,
                    "closed-after-restart",
                    {"carrier": status or "unknown"},
                )
                done[state] = done.get(state, 0) + 1
                continue
            history = self.store.events(row.sid)
            attempts = [int(d.get("attempt", 0)) for k, d in history if k == CONNECTING]
            r = self.records[row.sid] = CallRecord(
                row=row,
                since=self.store.first_event_at(row.sid, "CallQueued"),
                # the next connect gets a number (and callback URLs) of its own
                connects=max(attempts, default=0),
                offered_callback=any(k == CALLBACK_OFFERED for k, _ in history),
                unverified=not known and not callback,
            )
            bridged = row.state == "answered" and any(k == AGENT_LEG_ANSWERED for k, _ in history)
            if row.state == "in_ivr":
                r.resumable = True
                done["ivr"] = done.get("ivr", 0) + 1
            elif bridged:
                r.detached = True
                done["on a call"] = done.get("on a call", 0) + 1
            elif row.state == "answered" and attempts and not callback:
                # the agent's phone was ringing: the carrier's word on that dial decides
                r.pending = True
                self.scheduler.at(now + PENDING_FOR, self._no_word, row.sid)
                done["connecting"] = done.get("connecting", 0) + 1
            else:  # queued or offered (or a callback being dialled): back in its place
                self._back_in_place(row.sid, callback=callback)
                done["queued"] = done.get("queued", 0) + 1
        self.replies.update(self.store.replies(list(self.records)))
        self.flush()
        return done

    def recheck(self, statuses: Mapping[str, str | None]) -> None:
        """What the carrier now says of calls recovered while it could not: those that
        ended are closed; those it still cannot say stay in `unverified`."""
        self.tick()
        for sid, status in statuses.items():
            if (r := self.records.get(sid)) is not None:
                r.unverified = False
            if status not in LIVE:
                self.status(sid, status or "completed")

    def ivr_input(self, sid: str, event: Input) -> list[Action]:
        self.tick()
        r = self.records.get(sid)
        if r is None or r.ivr is None:
            return []
        flow, session = r.ivr
        r.inputs += 1
        step = advance(flow, session, event)
        return self._after_ivr(sid, flow, step.session, list(step.actions))

    def _after_ivr(
        self, sid: str, flow: Flow, session: Session, actions: list[Action]
    ) -> list[Action]:
        """Keep the flow's session, or end it; a look-up (always a step's last action) is
        started in a worker and the caller hears what came before it."""
        r = self.records[sid]
        if actions and isinstance(actions[-1], Lookup):
            lookup = actions.pop()
            assert isinstance(lookup, Lookup)
            r.ivr = (flow, session)
            r.looking = (self.lookups.start(sid, lookup), lookup)
            return actions
        if session.ended:
            r.ivr = None
            self._ivr_ended(sid, session, actions)
        else:
            r.ivr = (flow, session)
        return actions

    def _looked_up(self, answer: Answer) -> None:
        """A look-up answered (or timed out): the flow goes on with its result."""
        sid = answer.call_sid
        r = self.records.get(sid)
        if r is None or r.looking is None or r.looking[0] != answer.ticket or r.ivr is None:
            return  # the caller hung up, or the IVR started over, meanwhile
        lookup = r.looking[1]
        r.looking = None
        flow, session = r.ivr
        result = answer.result
        try:
            step = advance(flow, session, result)
        except Exception:  # not silenced: logged, and the flow goes on as if it had failed
            log.exception("the flow could not use the answer to a look-up for call %s", sid)
            result = LookupResult("error")
            step = advance(flow, session, result)
        self._event(sid, self.wall(), "lookup", {"connector": lookup.connector,
                    "operation": lookup.operation, "status": result.status})  # fmt: skip
        heard = self._after_ivr(sid, flow, step.session, list(step.actions))
        # kept for the caller's next request even if the flow ended here (and the call was
        # forgotten): their status callback, or that request, forgets it
        r = self.records.setdefault(sid, r)
        r.heard = (r.heard or []) + heard

    def waiting_on_lookup(self, sid: str) -> bool:
        """Whether the caller is on hold for a look-up, or has not yet heard its answer."""
        r = self.records.get(sid)
        return r is not None and (r.looking is not None or r.heard is not None)

    def looked_up(self, sid: str) -> list[Action] | None:
        """What a caller whose look-up ran hears next (once): None while it still runs."""
        self.tick()
        r = self.records.get(sid)
        if r is not None and r.looking is not None:
            return None
        if r is None or r.heard is None:
            raise UnknownCall(f"call {sid} is not waiting for a look-up")
        heard, r.heard = r.heard, None
        if r.row is None or (r.ivr is None and r.call is None):  # the flow ended with it
            self._forget(sid)
        return heard

    def _ivr_ended(self, sid: str, session: Session, actions: list[Action]) -> None:
        now = self.wall()
        queued = [a for a in actions if isinstance(a, Enqueue)]
        self._event(sid, now, "ivr-ended", {"outcome": session.outcome or ""})
        if not queued:
            state = "abandoned" if session.outcome == "caller-hung-up" else "completed"
            self._update(sid, now, state=state)
            self._forget(sid)
            return
        q = queued[0]
        caller_type = q.attributes.get("caller_type", "public")
        call = Call(sid, q.language, caller_type, now, q.priority)
        call.enter_ivr(now)
        r = self.records[sid]
        r.call = call
        self._update(sid, now, language=q.language, queue=q.queue, priority=q.priority,
            attributes=dict(q.attributes), callback_number=q.callback_number,
        )  # fmt: skip
        row = r.row
        assert row is not None
        r.row = CallRow(row.sid, row.line, row.caller, row.called, q.language, q.queue,
                                 q.priority, row.state, dict(q.attributes), q.callback_number,
                                 row.arrived_at)  # fmt: skip
        self._on_event(CallArrived(now, sid, q.language, caller_type))  # into the ACD
        # a callback even if an agent is offered the call at once: the caller hangs up
        self.router.enqueue(call, q.queue, callback=q.callback)

    def hold(self, sid: str) -> tuple[HoldState, list[Say]]:
        """Where a caller in the hold loop stands, and what they hear now."""
        self.tick()
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
        catalog = self.line_flow.flow.catalog
        says = [
            Say(text, call.language, voice(call.language).carrier_voice)
            for text in [catalog.render("hold_position", call.language, values)]
            if text
        ]
        row = r.row
        if (
            wait >= HOLD_CALLBACK_AFTER
            and not r.offered_callback
            and not call.callback
            and row is not None
            and callable_number(row.caller)
            and (text := catalog.render("callback_offer", call.language, values))
        ):
            r.offered_callback = True  # once per call (kept, for after a restart)
            self._event(sid, self.wall(), CALLBACK_OFFERED, {"wait": round(wait)})
            return "offer-callback", [
                *says,
                Say(text, call.language, voice(call.language).carrier_voice),
            ]
        return "waiting", says

    def take_callback(self, sid: str) -> list[Say] | None:
        """A waiting caller accepted the callback offered in the hold loop: they hang up and
        keep their place. Returns the confirmation to play, None if no longer waiting."""
        self.tick()
        r = self.records.get(sid)
        call, row = (r.call, r.row) if r is not None else (None, None)
        if r is None or call is None or call.state is not CallState.QUEUED or row is None:
            return None
        self.router.accept_callback(sid)
        r.row = CallRow(
            row.sid, row.line, row.caller, row.called, row.language, row.queue, row.priority,
            row.state, row.attributes, row.caller, row.arrived_at,
        )  # fmt: skip
        self._update(sid, self.wall(), callback_number=row.caller)
        text = self.line_flow.flow.catalog.render("callback_confirmed", call.language)
        return [Say(text, call.language, voice(call.language).carrier_voice)] if text else []

    def status(self, sid: str, status: str, *, dial_back: bool = False) -> None:
        """The carrier's call status callback: a caller who hung up leaves the line.
        `dial_back`: the status is of the outbound leg that called a callback caller."""
        self.tick()
        r = self.records.get(sid)
        if (
            dial_back
            and status in ("busy", "failed", "no-answer", "canceled")
            and r is not None
            and r.call is not None
        ):
            self._callback_missed(sid, status)
            return
        if status not in ("completed", "busy", "failed", "no-answer", "canceled"):
            return
        now = self.wall()
        self.to_voicemail.discard(sid)  # hung up before the hold loop sent them to record
        if r is None:
            return  # not a call of this line (or one that ended)
        if r.detached:  # answered before a restart; now it is over
            self._forget(sid)
            self._update(sid, now, state="completed")
            self._event(sid, now, "completed-after-restart", {"status": status})
            return
        if r.resumable or r.pending:  # hung up in the IVR, or ringing
            self._forget(sid)
            self._update(sid, now, state="abandoned")
            return
        if r.ivr is not None:
            self._forget(sid)
            self._update(sid, now, state="abandoned")
            self._event(sid, now, "ivr-ended", {"outcome": "caller-hung-up"})
            return
        call = r.call
        if call is None:
            self._forget(sid)
            return
        if call.callback and not dial_back:
            return  # the caller hung up on purpose: they keep their place (or are dialled)
        if call.state in (CallState.QUEUED, CallState.OFFERED):
            self.router.abandon(sid)
        elif call.state is CallState.ANSWERED:
            if dial_back or r.bridged:
                self.router.complete(sid)
            else:  # hung up while the agent's phone rang: nobody talked to them
                self.router.abandon(sid, before_bridge=True)

    def _callback_missed(self, sid: str, status: str) -> None:
        """The caller did not pick up the callback: free the agent and keep the caller's
        place for another try, up to CALLBACK_TRIES dial-backs; then the call is closed."""
        r = self.records[sid]
        old = r.call
        if old is None or old.state is not CallState.ANSWERED:
            raise InvalidTransition(f"nobody is calling {sid} back")
        now = self.wall()
        tries = r.callback_tries + 1
        self._event(sid, now, "callback-not-reached", {"status": status, "try": tries})
        row = r.row
        since = old.first_queued_at
        self.router.complete(sid)  # the agent's attempt is over (they go to wrap-up): the
        if tries >= CALLBACK_TRIES or row is None or row.queue is None:  # call is forgotten
            self._update(sid, now, state="abandoned")
            return
        call = Call(sid, old.language, old.caller_type, old.arrived_at, old.priority)
        call.enter_ivr(old.arrived_at)
        self.records[sid] = CallRecord(row=row, call=call, since=r.since, connects=r.connects,
                                       callback_tries=tries)  # fmt: skip
        self.router.enqueue(call, row.queue, since, callback=True)

    # -- agents

    def agent(self, agent_id: str) -> Agent:
        if agent_id not in self.roster:
            raise UnknownAgent(f"no agent {agent_id!r} on this line")
        return self.roster[agent_id]

    # each agent use case returns the agent's state afterwards, for the API to show

    def login(self, agent_id: str) -> AgentStatus:
        self.tick()
        self.router.login(self.agent(agent_id), ready=False)
        return self.agent_state(agent_id)

    def set_ready(self, agent_id: str, ready: bool, reason: str = "break") -> AgentStatus:
        self.tick()
        if ready:
            self.router.set_ready(agent_id)
        else:
            self.router.set_not_ready(agent_id, reason)
        return self.agent_state(agent_id)

    def logout(self, agent_id: str) -> AgentStatus:
        self.tick()
        self.router.logout(agent_id)
        return self.agent_state(agent_id)

    def accept(self, agent_id: str, call_sid: str) -> AgentStatus:
        self.tick()
        self.router.answer(call_sid, agent_id)
        r = self.records[call_sid]
        row = r.row
        if r.call is not None and r.call.callback and row is not None and row.callback_number:
            self.outbox.append(DialBack(call_sid, row.callback_number, agent_id))
        else:
            r.connects += 1
            attempt = r.connects
            r.bridged = False
            self._event(call_sid, self.wall(), CONNECTING,
                {"attempt": attempt, "agent": agent_id},
            )  # fmt: skip
            self.outbox.append(Connect(call_sid, agent_id, attempt))
        return self.agent_state(agent_id)

    def dial_done(self, sid: str, dial_status: str, attempt: int) -> bool:
        """The carrier's report on a bridge to an agent. If the agent's leg was not
        answered (no-answer, busy, failed, ...), the caller goes back to their place in the
        queue and the agent is set not ready. True if the caller is still waiting (back to
        the hold loop); False once they talked to an agent or are gone."""
        self.tick()
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
                r.bridged = True
            return False
        if attempt == r.connects and call.state is CallState.ANSWERED:
            self._event(sid, self.wall(), "agent-leg-failed",
                {"status": dial_status, "agent": call.agent_id, "attempt": attempt},
            )  # fmt: skip
            self.router.connect_failed(sid, f"agent-{dial_status}")
        return sid in self.to_voicemail or call.state in (
            CallState.QUEUED, CallState.OFFERED, CallState.ANSWERED,
        )  # fmt: skip

    def agent_leg_answered(self, sid: str, attempt: int) -> None:
        """The agent picked up: from now on the caller has talked to someone."""
        self._event(sid, self.wall(), AGENT_LEG_ANSWERED, {"attempt": attempt})
        r = self.records.get(sid)
        if r is None:
            return
        if r.pending:  # dialled before the restart, answered after it
            r.pending = False
            r.detached = True
        elif attempt == r.connects:
            r.bridged = True

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
        assert row is not None
        assert row.queue is not None
        kind = row.attributes.get("caller_type", "public")
        call = Call(sid, row.language, kind, row.arrived_at, row.priority)
        call.enter_ivr(row.arrived_at)
        r.call = call
        self.router.enqueue(call, row.queue, r.since, callback=callback)

    def carrier_refused(self, sid: str, attempt: int | None) -> None:
        """The carrier's REST API would not connect the call to its agent (`attempt`), or
        would not dial a callback caller (None): the agent is freed, the caller keeps their
        place."""
        self.tick()
        if attempt is None:
            self.status(sid, "failed", dial_back=True)
        else:
            self.dial_done(sid, "failed", attempt)

    def decline(self, agent_id: str, call_sid: str) -> AgentStatus:
        self.tick()
        self.router.decline(call_sid, agent_id)
        return self.agent_state(agent_id)

    def agent_state(self, agent_id: str) -> AgentStatus:
        self.tick()
        self.agent(agent_id)
        try:
            view = self.router.agent(agent_id)
        except UnknownAgent:
            return {"agent_id": agent_id, "state": AgentState.OFFLINE.value, "call_sid": None}
        return {
            "agent_id": agent_id,
            "state": view.state.value,
            "reason": view.reason,
            "call_sid": view.call_id,
        }

    def right_now(self) -> dict[str, object]:
        """Who waits where and for how long, and the agents by state (for supervisors)."""
        waiting = [(c.queue or "", c.language, c.first_queued_at or self.wall())
                   for c, _ in self.router.waiting()]  # fmt: skip
        views = [(v.state.value, v.queues) for v in self.router.agents()]  # who logged in
        others = len(set(self.roster) - {v.agent_id for v in self.router.agents()})
        agents = views + [(AgentState.OFFLINE.value, ())] * others
        return right_now(waiting, agents, self.wall())

    # -- estimates

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
        serving = sum(
            1
            for v in self.router.agents()
            if queue in v.queues and v.state is not AgentState.OFFLINE
        )
        return position * self.handle_mean / max(serving, 1)

    # -- events from the core

    def _on_event(self, e: Event) -> None:
        data = {k: getattr(e, k) for k in type(e)._fields}
        kind = type(e).__name__
        sid = getattr(e, "call_id", None)
        now = self.wall()
        self._event(
            sid,
            now,
            kind,
            {k: v for k, v in data.items() if isinstance(v, str | int | float | bool | None)},
            e,
        )
        if isinstance(
            e,
            CallQueued
            | CallRequeued
            | CallOffered
            | OfferWithdrawn
            | CallAnswered
            | CallAbandoned
            | CallCompleted,
        ):
            r = self.records.get(e.call_id)
            call = r.call if r is not None else None
            if call is not None:  # a withdrawn offer is emitted before the call is re-queued
                state = "queued" if isinstance(e, OfferWithdrawn) else call.state.value
                self._update(e.call_id, now, state=state, queue=call.queue)
        if isinstance(e, CallOffered):
            r = self.records[e.call_id]
            call, row = r.call, r.row
            assert call is not None
            self.outbox.append(
                Offer(e.agent_id, e.call_id, row.caller if row else "", call.language,
                      e.queue, dict(row.attributes) if row else {})
            )  # fmt: skip
        elif isinstance(e, CallOverflowed) and e.to_queue is None:
            # out of the ACD to a fallback (voicemail): the hold loop sends them there
            self.to_voicemail.add(e.call_id)
            self._update(e.call_id, now, state="overflowed")
        elif isinstance(e, OfferWithdrawn):
            self.outbox.append(Withdraw(e.agent_id, e.call_id, e.reason))
        if isinstance(e, CallAbandoned | CallCompleted | CallOverflowed) and (
            not isinstance(e, CallOverflowed) or e.to_queue is None
        ):
            self._forget(e.call_id)


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
