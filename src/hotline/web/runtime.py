"""What every router of the server's lines shares: the lock each command runs under, the webhook
URLs, the agents' sockets, the event hub, the carrier's call control, and the one way a
command is run (`use_case`, `voice`): under the lock, its writes handed to the writer as
one unit of work; once they have landed (or the wait for them gave up: the store is slow
or down, and callers are served from memory), its events are published and its effects
carried out, in the order the commands ran. So a carrier is never asked to bridge a call,
nor an agent offered one, that a restart would not know about, while the store keeps up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import Response
from starlette.datastructures import FormData

from hotline.domain.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentStateChanged,
    CallAnswered,
    CallCompleted,
    CallOffered,
    OfferWithdrawn,
)
from hotline.errors import HotlineError, LineStopped, StoreUnavailable
from hotline.records.audit import AuditTrail
from hotline.service.hub import EventHub
from hotline.service.live import LineSetup, LiveLine, Reloaded
from hotline.service.prompt_audio import PromptAudio
from hotline.service.recovery import carrier_statuses
from hotline.service.settings import Settings
from hotline.service.stats import LiveStats
from hotline.switchboard.effects import (
    Connect,
    DialBack,
    EndCall,
    EndLeg,
    Leg,
    Offer,
    Park,
    Withdraw,
)
from hotline.switchboard.events import AgentLegAnswered, CalledBack
from hotline.telephony.control import CallControl, CallGone
from hotline.telephony.webhooks import Webhooks
from hotline.web import forms
from hotline.web.errors import Refused
from hotline.web.sockets import AgentSockets
from hotline.web.threads import Threads

log = logging.getLogger("hotline.web")
XML = "application/xml"
TICK = 0.2  # seconds between timer ticks (offer timeouts, look-ups answered, writes retried)
RELOAD_EVERY = 2.0  # seconds between looks at the lines' configuration in the store
RECHECK_CARRIER = 30.0  # seconds between status look-ups of calls the carrier could not tell
PRESENCE_GRACE = 30.0  # seconds (the line's) an agent's desktop may be gone before not ready
# the events that change an agent's state (each names the agent)
AGENT_NEWS = (AgentStateChanged, AgentLoggedIn, AgentLoggedOut, CallOffered, OfferWithdrawn,
              CallAnswered, CallCompleted)  # fmt: skip
# the events of what happens on an agent's call (its conference): told to its agent
PURGE_EVERY = 3600.0  # seconds between retention purges
CARRIER_THREADS = 32  # carrier requests under way at once (at 0.3 s each, ~100 a second)
SPEECH_THREADS = 2  # renders of prompt audio at once (each an espeak-ng process)
STOP_WAIT = 10.0  # seconds a stopping line waits for its carrier requests, then its store
# seconds its stop then waits, at most, for the carrier requests still queued: its leases go
# (and its next leader starts) once they are out, so that its requests reach the carrier
# before the next leader's
CARRIER_DRAIN = 60.0
AUDIT_TICK = 5.0  # seconds between asking whether an audit checkpoint is due
CALL_NEWS = (AgentLegAnswered.kind, CalledBack.kind, "hold", "transferred", "consult",
             "interpreter", "supervised")  # fmt: skip


class _Held:
    """A command's events and effects, held until its writes are in the store."""

    __slots__ = ("done", "effects", "news")

    def __init__(self, news: list[Any], effects: list[Any]) -> None:
        self.news, self.effects = news, effects
        self.done = False  # its wait for the store is over


class LineRuntime:
    def __init__(
        self,
        *,
        settings: Settings,
        line: LiveLine,
        control: CallControl,
        still_valid: Callable[[Collection[str]], Mapping[str, float]],
        token_clock: Callable[[], float],
        revision: Callable[[], int] | None = None,
        trail: AuditTrail | None = None,
    ) -> None:
        """`still_valid(tokens)`: those of the sockets' tokens still good, each with when
        it runs out on `token_clock` (a sweep asks: `AgentSockets`); `revision()`: the
        store's access revision (the sweep asks only when it grows, or a token runs out).
        `trail`: the audit trail whose signed checkpoints the server writes when due."""
        self.settings = settings
        self.trail = trail
        self.line = line
        self.control = control
        self.webhooks = Webhooks(settings.public_url)
        self.lock = asyncio.Lock()
        self.sockets = AgentSockets(still_valid=still_valid, revision=revision, clock=line.wall,
                                    token_clock=token_clock)  # fmt: skip
        self.presence_grace = PRESENCE_GRACE
        self.hub = EventHub()
        self.stats = {name: _stats_of(s) for name, s in line.setups.items()}
        self.hub.subscribe(lambda p: self.stats[p.news.line](p))
        self.hub.subscribe(self._tell_agent)
        # each command's events and effects, held until its writes are in the store
        self._held: deque[_Held] = deque()
        self._background: set[asyncio.Task[None]] = set()
        # the last carrier request under way for each call's conference (each waits for
        # the one before it, so a hold and its resume reach the carrier in that order)
        self._chains: dict[str, asyncio.Task[None]] = {}
        # the carrier's requests, in threads of their own: one that stalls (each may wait
        # up to its time-out) holds those, never the shared threads a caller's webhook, an
        # agent's socket or a reload waits for
        self._carrier = Threads(CARRIER_THREADS, "hotline-carrier")
        # called before the line acts (a command, the carrier work it asks for): one node
        # of several stops there once it may no longer trust its leases (service.node)
        self.before_acting: Callable[[], None] = lambda: None
        self.node: Callable[[], dict[str, Any]] | None = None  # (for /healthz)
        # prompts the carrier has no voice for, played as audio (None: its voice reads them),
        # rendered in threads of their own (never the shared ones a webhook waits for)
        self.audio: PromptAudio | None = None
        self.speaking = Threads(SPEECH_THREADS, "hotline-speech")
        self._reloading = asyncio.Lock()

    # -- running a command

    def _command(self, fn: Callable[[], Any]) -> Any:
        """Run one use case on the line (under the lock): timers that fell due fire first;
        a command the core refuses changes nothing (raised to the caller's handler)."""
        self.before_acting()
        self.line.begin()
        try:
            return fn()
        finally:
            self.line.end()

    def _after(self) -> tuple[concurrent.futures.Future[bool] | None, _Held]:
        """The command is done: its unit of work goes to the writer; its events and effects
        are held (in order) until `_release`. Returns the landing and what is held."""
        effects, self.line.outbox[:] = list(self.line.outbox), []
        news = self.line.take_news()
        landing = self.line.commit()  # (LineStopped if the line stopped: nothing held)
        held = _Held(news, effects)
        self._held.append(held)
        return landing, held

    async def _finish(
        self, landing: concurrent.futures.Future[bool] | None, held: _Held | None
    ) -> None:
        """Wait for the command's writes to land (see `_committed`), then publish and carry
        out what it and every command before it held."""
        try:
            await self._committed(landing)
        finally:
            self._release(held)

    def _release(self, done: _Held | None) -> None:
        """The command's wait is over; what it held goes out once every command before it
        is done waiting too (a later command with nothing to write releases nothing of
        an earlier one's)."""
        if done is not None:
            done.done = True
        while self._held and self._held[0].done:
            held = self._held.popleft()
            self.hub.publish(held.news)
            self._dispatch(held.effects)

    async def use_case(self, fn: Callable[[], Any]) -> Any:
        landing, held = None, None
        try:
            async with self.lock:
                try:
                    return self._command(fn)
                finally:
                    landing, held = self._after()
        finally:  # (a refused command may still have fired timers: their writes land)
            await self._finish(landing, held)

    async def voice(
        self,
        form: FormData,
        step: str,
        work: Callable[[str], str],
        fallback: Callable[[str], str],
    ) -> Response:
        """One idempotent carrier callback: a retry gets the first answer again."""
        sid = forms.call_sid(form)
        landing, held = None, None
        try:
            try:
                async with self.lock:
                    try:
                        seen = self.line.reply(sid, step)
                        if seen is not None:
                            return Response(seen, media_type=XML)
                        twiml = self._command(lambda: work(sid))
                        self.line.answered(sid, step, twiml)
                    finally:
                        landing, held = self._after()
            except (Refused, LineStopped):  # (the line stopped here: 503, never answered
                raise  # as done; asked again, it reaches the line's next leader)
            except HotlineError as e:  # the core refused (e.g. a status for a call it closed)
                log.warning("%s for %s: %s", step, sid, e.message)
                twiml = fallback(sid)
            except Exception:  # a caller on the line must never get a 500
                log.exception("%s for %s failed", step, sid)
                twiml = fallback(sid)
            return Response(twiml, media_type=XML)
        finally:  # the reply waits (briefly) for what the callback changed to land
            await self._finish(landing, held)

    async def _committed(self, landing: concurrent.futures.Future[bool] | None) -> None:
        """Wait (outside the lock) for the command's unit of work to be tried, at most
        `line.commit_wait`; not at all while the store is stalled. Either way its writes
        are queued in order and land when the store takes them."""
        if landing is None or self.line.writer.stuck():
            return
        with contextlib.suppress(TimeoutError):  # the store is slow: the writes wait in order
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(landing)),
                                   self.line.commit_wait)  # fmt: skip

    # -- effects

    def _dispatch(self, effects: list[Any]) -> None:
        """Carry out what the core asked for (slow work in tasks, off the lock)."""
        if effects:
            self.before_acting()
        for c in effects:
            if isinstance(c, Offer):
                context = self.line.offer_context(c.call_sid, c.agent_id)
                self.sockets.send(c.agent_id, {"type": "offer", **c.as_dict(), **context})
            elif isinstance(c, Withdraw):
                self.sockets.send(c.agent_id, {"type": "withdrawn", **c.as_dict()})
            elif isinstance(c, DialBack):
                self._spawn(self._connect(c))
            elif isinstance(c, Connect):
                self._in_order(c.call_sid, self._connect(c))
            elif isinstance(c, Leg | Park):
                self._in_order(c.call_sid, self._conference(c))
            elif isinstance(c, EndLeg):
                self._in_order(c.call_sid, self._end_leg(c))
            elif isinstance(c, EndCall):
                self._in_order(c.call_sid, self._end_call(c))

    def _in_order(self, sid: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` once the call's carrier requests before it are done."""
        before = self._chains.get(sid)

        async def after() -> None:
            if before is not None:
                try:
                    await asyncio.wait([before])  # (its failures are its own, logged there)
                except asyncio.CancelledError:  # (the loop ends): `work` never began
                    work.close()
                    raise
            await work

        task = asyncio.get_running_loop().create_task(after())
        self._chains[sid] = task
        self._background.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._background.discard(t)
            if self._chains.get(sid) is t:
                del self._chains[sid]

        task.add_done_callback(done)

    async def _carrier_done(self, seconds: float) -> None:
        """Wait, at most `seconds`, until no request to the carrier is under way or queued
        (those asked meanwhile included)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while self._background:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.wait(set(self._background), timeout=left)

    async def _conference(self, c: Leg | Park) -> None:
        """A participant operation on the call's conference. A participant the carrier
        would not dial in comes back to the line as one not reached; any other failure
        is logged (the call goes on as it was)."""
        self.before_acting()  # (it ran after the check of the command that asked)
        try:
            if isinstance(c, Park):
                await self._carrier.run(self.control.park, c.call_sid, c.attempt)
            else:
                await self._carrier.run(self.control.leg, c.call_sid, c.label, c.action,
                                        mode=c.mode, coach=c.coach, attempt=c.attempt)  # fmt: skip
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            what = "park" if isinstance(c, Park) else f"{c.action} {c.label} on"
            log.error("could not %s call %s: %s", what, c.call_sid, e)
            if isinstance(c, Leg) and c.action == "join":
                if c.attempt:  # an agent's connect: the caller keeps their place
                    await self._carrier_said(c.call_sid, functools.partial(
                        self.line.carrier_refused, c.call_sid, c.attempt))  # fmt: skip
                else:
                    await self._carrier_said(c.call_sid, functools.partial(
                        self.line.leg_status, c.call_sid, c.label, "failed"))  # fmt: skip

    async def _end_leg(self, c: EndLeg) -> None:
        """Hang up a leg, or cancel one still ringing (see `EndLeg`); one that has ended by
        now (its agent, or the caller called back, hung up first) is as wanted."""
        self.before_acting()
        try:
            await self._carrier.run(self.control.cancel if c.ringing else self.control.hang_up,
                                    c.leg_sid)  # fmt: skip
        except CallGone:
            log.info("leg %s of call %s had ended already", c.leg_sid, c.call_sid)
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            log.error("could not hang up leg %s of call %s: %s", c.leg_sid, c.call_sid, e)

    async def _end_call(self, c: EndCall) -> None:
        """End a caller's call with the words that it could not be kept; one that has
        ended by now is as wanted."""
        self.before_acting()
        try:
            await self._carrier.run(self.control.end_call, c.call_sid)
        except CallGone:
            log.info("call %s had ended already", c.call_sid)
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            log.error("could not end call %s: %s", c.call_sid, e)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _connect(self, c: Connect | DialBack) -> None:
        self.before_acting()  # (it ran after the check of the command that asked)
        try:  # any failure is logged, and comes back to the line as a command
            if isinstance(c, DialBack):
                leg = await self._carrier.run(
                    self.control.dial_back, c.call_sid, c.number, c.caller_id,
                    self.webhooks.status(call=c.call_sid, dial=c.dial),
                )  # fmt: skip
            else:
                await self._carrier.run(self.control.connect, c.call_sid, c.agent_id, c.attempt)
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            # the caller keeps their place, the agent is freed: a command like any other;
            # a caller the carrier says is gone hung up as their agent accepted: the call
            # ends, and the agent is not held to it
            attempt = c.attempt if isinstance(c, Connect) else None
            gone = isinstance(e, CallGone) and attempt is not None
            whom = "its caller" if isinstance(c, DialBack) else c.agent_id
            if gone:
                log.info("call %s ended as it was connected to %s (its caller hung up): %s",
                         c.call_sid, whom, e)  # fmt: skip
            else:
                log.error("could not connect call %s to %s: %s", c.call_sid, whom, e)
            dial = c.dial if isinstance(c, DialBack) else 0
            await self._carrier_said(c.call_sid, functools.partial(
                self.line.carrier_refused, c.call_sid, attempt, gone=gone, dial=dial))  # fmt: skip
        else:
            if isinstance(c, DialBack):  # (its call's sid kept: a restart asks about it)
                await self._carrier_said(c.call_sid, functools.partial(
                    self.line.dialled_back, c.call_sid, leg, c.dial), "the line's next leader may "
                    "call the caller back a second time (the carrier's word on this dial-back "
                    "is all it has)")  # fmt: skip

    async def _carrier_said(
        self, sid: str, fn: Callable[[], Any],
        then: str = "the line's next leader asks the carrier about the call",
    ) -> None:  # fmt: skip
        """What a carrier request came to (its failure, a dial-back's call), back to the
        line as a command; one that comes after the line stopped (its request outlasted the
        stop's wait) cannot be: said, not recorded, with what comes of it (`then`)."""
        try:
            await self.use_case(fn)
        except LineStopped:
            log.error("the carrier's word on call %s came after the line stopped: not "
                      "recorded; %s", sid, then)  # fmt: skip

    def _tell_agent(self, p: Any) -> None:
        """An agent's state changed: their desktop hears their state as it is now (on the
        line they are engaged on, whichever line's event this was). Something happened on
        their call: they hear what, and who is on it now (an agent consulted hears it too)."""
        news = p.news
        if news.kind in CALL_NEWS:
            legs = self.line.call_legs(news.call_sid) if news.call_sid else None
            told = {"type": "call", "kind": news.kind, "call_sid": news.call_sid,
                    "data": dict(news.data), "legs": legs}  # fmt: skip
            if news.kind == "transferred" and news.call_sid and news.data.get("to_agent"):
                told["context"] = self.line.offer_context(  # (the new agent's)
                    news.call_sid, str(news.data["to_agent"])
                )
            for agent_id in {news.data.get("agent_id"), news.data.get("to_agent")}:
                if isinstance(agent_id, str) and agent_id and self.sockets.has(agent_id):
                    self.sockets.send(agent_id, told)
            return
        e = news.event
        if not isinstance(e, AGENT_NEWS) or not self.sockets.has(e.agent_id):
            return
        try:
            state = self.line.floor.agent_state(e.agent_id)
        except HotlineError:  # (an agent a new configuration left out, now gone)
            return
        self.sockets.tell_state(e.agent_id, {"type": "state", **state})

    # -- what runs while the server does

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.use_case(self.line.tick)  # also retries writes waiting for the store
            except Exception:  # the ticker must outlive any one failure
                log.exception("timer tick failed")
            for agent_id in self.sockets.absent(self.line.wall() - self.presence_grace):
                try:  # (each on its own: one failure does not keep the others available)
                    if await self.use_case(functools.partial(self.line.presence_lost, agent_id)):
                        self.sockets.settled(agent_id)
                except Exception:  # logged, not silenced: it stays absent, asked again next tick
                    log.exception("setting %s not ready (desktop gone) failed", agent_id)

    async def _purge(self) -> None:
        """What is older than its retention (HOTLINE_RETENTION_DAYS) goes, at the start and
        every PURGE_EVERY seconds after (each purge in the audit trail)."""
        keep = self.settings.retention_days  # ({}: keep all; the counters still go)
        while True:
            try:
                gone = await asyncio.to_thread(self.line.store.purge, time.time(), keep,
                                               actor="system")  # fmt: skip
                if any(gone.values()):
                    log.info("purged past their retention: %s",
                             ", ".join(f"{n} {k}" for k, n in gone.items()))  # fmt: skip
            except Exception:  # logged, not silenced: the next round tries again
                log.exception("the retention purge failed")
            await asyncio.sleep(PURGE_EVERY)

    async def _checkpoints(self) -> None:
        """The audit trail's signed checkpoints: every `every` entries, and at least every
        minute even when nothing was logged (asked every AUDIT_TICK seconds)."""
        trail = self.trail
        if trail is None:
            return
        while True:
            try:
                await asyncio.to_thread(trail.tick, time.time())
            except Exception:  # logged, not silenced: the next tick tries again
                log.exception("the audit trail's checkpoint could not be written")
            await asyncio.sleep(AUDIT_TICK)

    async def _recheck_carrier(self) -> None:
        """Calls recovered while the carrier could not say whether they were still live
        keep their place; ask again until it can."""
        while True:
            await asyncio.sleep(RECHECK_CARRIER)
            sids = self.line.unverified()
            if not sids:
                continue
            try:
                statuses = await self._carrier.run(
                    carrier_statuses, self.control, sids, deadline=10.0
                )
                await self.use_case(functools.partial(self.line.recheck, statuses))
            except Exception:  # the loop must outlive any one failure
                log.exception("asking the carrier about recovered calls failed")

    async def reload_lines(self) -> Reloaded:
        """The lines' configuration as the store holds it now, used from each line's next
        routing decision (what changed, and what was refused, by line); a line added to
        the store is served from now (if this server is to serve it)."""
        async with self._reloading:  # (one at a time: a reload read before another added
            # a line would find it served and leave it on the configuration it read)
            configs = await asyncio.to_thread(self.line.configs)
            done: Reloaded = await self.use_case(functools.partial(self.line.reconfigure,
                                                                   configs))  # fmt: skip
            new = await asyncio.to_thread(self.line.new_lines)
            if new:
                added: list[str] = await self.use_case(functools.partial(self._add, new))
                done = replace(done, added=added)
            return done

    def _add(self, setups: list[LineSetup]) -> list[str]:
        """The new lines served, each with its figures (before its first event is told)."""
        added = self.line.add_lines(setups)
        for setup in setups:
            if setup.name in added:
                self.stats.setdefault(setup.name, _stats_of(setup))
        return added

    async def _reload_lines(self) -> None:
        """A line imported again into the store (`hotline line import`) is used from its
        next routing decision, a new one is served: the store's revision is read every
        RELOAD_EVERY seconds (the admin pages' changes reload at once)."""
        store = self.line.store
        seen: int | None = None  # (the first look reloads: a change made as the lines were
        # built, or while the store could not say, is not missed)
        while True:
            await asyncio.sleep(RELOAD_EVERY)
            try:
                revision = await asyncio.to_thread(store.lines_revision)
                # (a new line whose lease this node now holds is served now, unchanged)
                if revision != seen or any(map(self.line.serves, self.line.awaiting)):
                    seen = revision  # (a configuration refused is not read until changed)
                    await self.reload_lines()
            except StoreUnavailable:
                pass  # the health check and the writer say so; the lines keep theirs
            except HotlineError as e:  # e.g. a line in the store no longer valid
                log.error("the lines' configuration in the store is refused: %s", e.message)
            except Exception:  # the loop must outlive any one failure
                log.exception("reading the lines' configuration failed")

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """The server's lifetime: timers, carrier re-checks and the sockets' sweep; at the
        end, what waits for the store lands if it takes it."""
        loops = (
            self._ticker,
            self._recheck_carrier,
            self._reload_lines,
            self.sockets.sweep,
            self._checkpoints,
        )
        # agents logged in already (resumed from the store) have no desktop here yet
        self.sockets.expect({v.agent_id for b in self.line.boards.values() for v in b.agents()})
        tasks = [asyncio.create_task(t()) for t in loops]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            try:
                await self._stop()
            finally:
                self._carrier.close()
                self.speaking.close()

    async def _stop(self) -> None:
        """The line stops: its carrier requests' outcomes land, then its writes, then the
        requests still queued go out (its leases go after: see `CARRIER_DRAIN`)."""
        await self._carrier_done(STOP_WAIT)  # (those under way and those they lead to)
        self.sockets.close_all()  # (nothing more will be told them from here)
        # the line stops: a command from now is refused (503: its sender tries again,
        # and reaches the line's next leader), never run with writes nothing would land
        self.line.writer.close()
        # (in a thread of its own: a node stops its groups at once, and each may wait
        # seconds for a store that is away, where the loop's few shared threads would take
        # them a few at a time)
        own = Threads(1, "hotline-stop")
        try:
            left = await own.run(self.line.writer.finish, STOP_WAIT)
            if left:
                log.error("%d writes could not land in the store before the line stopped "
                          "(%s): they are lost; the store holds the line as it was before "
                          "them", left, self.line.writer.health.last_error)  # fmt: skip
            self.line.lookups.close()
            if self.trail is not None:  # a last checkpoint, over every entry written
                try:
                    await own.run(self.trail.checkpoint, time.time())
                except Exception:  # logged, not silenced: `hotline audit verify` tells the rest
                    log.exception("the audit trail's last checkpoint could not be written")
        finally:
            own.close()
        self.line.store.close()  # (its pool's connections: a line handed to another
        # node keeps none open here)
        if self._background:  # the requests still queued go out, in order, before the
            # stop is over and the line's leases go: never after its next leader's
            log.warning("the line stopped with %d requests to the carrier still to go out: "
                        "its leases go once they are (%g s at most)", len(self._background),
                        CARRIER_DRAIN)  # fmt: skip
            await self._carrier_done(CARRIER_DRAIN)
        if self._background:
            calls = sorted(self._chains)
            log.error("%d requests to the carrier were still to go out %g s after the line "
                      "stopped: they go out after its leases go, perhaps after its next "
                      "leader's own, or never if this process ends now (calls %s)",
                      len(self._background), CARRIER_DRAIN,
                      ", ".join(calls[:10]) + (" ..." if len(calls) > 10 else ""))  # fmt: skip


def _stats_of(setup: LineSetup) -> LiveStats:
    """A line's figures for its wallboard."""
    s = setup.scenario
    return LiveStats(answer_within=s.answer_within,
                     wrap_up={q.name: q.wrap_up_seconds for q in s.queues},
                     zone=ZoneInfo(setup.timezone))  # fmt: skip
