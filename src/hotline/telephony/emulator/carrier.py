"""The emulated carrier: places scripted calls, executes the TwiML it gets back, and serves
the REST calls Hotline makes (redirect a live call, place an outbound call, conferences and
their participants: see `conference.py`).

Time runs `speed` times faster than the wall clock: a 6 s Gather timeout waits 6/speed s."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import logging
import math
import secrets
import time
import wave
import xml.etree.ElementTree as ET
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from hotline.telephony.emulator.conference import (
    Conference,
    Participant,
    add_conference_api,
    client_identity,
    twiml_flag,
)
from hotline.telephony.emulator.phones import BrowserPhones, Invitation

KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)  # seconds, under the server's 5 s
log = logging.getLogger("hotline.emulator")
PARTICIPANT = "participant"  # the label of the legs the carrier dials into conferences
AGENT_RING = 20.0  # seconds an agent's phone rings before the carrier gives up on it
HANG_UP = "<Response><Hangup/></Response>"
APOLOGY = "<Response><Say>An application error occurred.</Say><Hangup/></Response>"


@dataclass
class CallerScript:
    """What one caller does: the keys or words they give at each prompt, in order (then
    silence), how long they will wait in the queue, how long they talk to an agent, and
    how long their phone rings before they pick up a call back."""

    number: str
    answers: list[str]
    patience: float  # seconds in queue before hanging up
    talk: float  # seconds with the agent
    label: str = ""
    to: str = ""  # the number they dial (the carrier's line number if empty)
    rings: float = 2.0  # seconds a call placed to them rings before they pick up


@dataclass
class EmulatedCall:
    sid: str
    script: CallerScript
    heard: list[str] = field(default_factory=list)
    outcome: str = "in-progress"  # answered, abandoned, voicemail, callback, transferred, ...
    agent: str | None = None
    # when the line's answer that queued them came (carrier time): their patience runs
    # from then
    queued_at: float | None = None
    answered_after: float | None = None
    updates: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    ended: bool = False
    # the caller hung up (or the line hung them up): over for the carrier from this moment
    # (later updates refused, 404), though its task ends the call a step later
    hung_up: bool = False
    canceled: bool = False  # ended through the API while it rang (never answered)
    # who calls whom, sent with every webhook of the call as the carrier does
    parties: dict[str, str] = field(default_factory=dict)
    # a participant's leg the carrier dialled: "browser" (a Device answered it) or
    # "emulator" (the emulator answered in its callee's stead); "" until answered
    answered_by: str = ""
    # playing a page of the queue's hold loop (one that leads to /voice/wait, the first
    # with the line's prompt as it queued them too): their patience runs out mid-prompt
    holding: bool = False
    # a call the carrier places (a dial-back), not picked up yet: its status is "ringing"
    ringing: bool = False


class Carrier:
    def __init__(
        self,
        *,
        hotline_url: str,
        auth_token: str,
        account_sid: str,
        line_number: str,
        speed: float = 1.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] | None = None,
        retry_for: float = 0.0,
        fallback_url: str | None = None,
        api_key: tuple[str, str] | None = None,
    ) -> None:
        """`retry_for`: keep retrying a webhook that cannot connect for this many (wall)
        seconds, as a carrier with a fallback URL to a restarting server would;
        `fallback_url`: the number's voice fallback URL, asked (signed for it, with
        `ErrorCode` and `ErrorUrl`) when a call's first request to `hotline_url` fails, as
        Twilio does; its later requests (actions, redirects) have no fallback; `api_key`:
        the API key (sid, secret) browser phones' access tokens are signed with (None: no
        browser can register; `signal_app` serves them)."""
        self.hotline_url = hotline_url.rstrip("/")
        self.fallback_url = fallback_url.rstrip("/") if fallback_url else None
        self.fallbacks = 0  # calls whose first request went to the fallback URL
        self.validator = RequestValidator(auth_token)
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.line_number = line_number
        self.speed = speed
        # an idle connection is dropped well before the server's keep-alive ends (uvicorn's
        # is 5 s): one reused just as the server closes it fails with no answer at all
        self.client = client or httpx.AsyncClient(timeout=20, limits=KEEP_ALIVE)
        self.loop_time = clock or (lambda: asyncio.get_running_loop().time())
        self.calls: dict[str, EmulatedCall] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.webhooks = 0
        self.failures = 0
        self.media_failures = 0  # `<Play>`s of the line's own audio that could not be played
        self.latencies: list[float] = []  # seconds per answered webhook, for benchmarks
        self.retry_for = retry_for
        self.agents_not_answering: set[str] = set()  # their phones ring out when dialled
        self.refuse_connects = 0  # the first connect of the next this many calls is refused
        self.refused: list[str] = []  # the calls whose connect was refused
        # by friendly name (a name whose conference ended is taken by the next one)
        self.conferences: dict[str, Conference] = {}
        self.participant_ring = 1.0  # seconds a participant's phone rings before they answer
        self.agent_ring = AGENT_RING  # seconds before a ringing leg gives up (no Timeout given)
        self._conference_changed = asyncio.Event()
        self.phones = BrowserPhones(
            account_sid=account_sid, api_key=api_key, on_change=self._changed,
            on_hang_up=self._browser_hung_up,
        )  # fmt: skip

    # -- the REST API Hotline calls

    def rest_app(self) -> FastAPI:
        app = FastAPI(title="carrier emulator")
        base = f"/2010-04-01/Accounts/{self.account_sid}"

        def authorised(request: Request) -> bool:
            expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            return secrets.compare_digest(
                request.headers.get("Authorization", ""), f"Basic {expected}"
            )

        @app.post(base + "/Calls/{sid}.json")
        async def update(request: Request, sid: str) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            form = await request.form()
            call = self.calls.get(sid)
            if call is None or call.ended or call.hung_up:
                return JSONResponse({"code": 20404, "message": "not found", "status": 404}, 404)
            if form.get("Status") in ("completed", "canceled"):
                if call.ringing:  # (never answered: it ends canceled)
                    call.canceled = True
                    self.hang_up(call)
                elif form.get("Status") == "completed":  # (canceled leaves a call answered)
                    self.hang_up(call)
            elif isinstance(form.get("Twiml"), str):
                if self.refuse_connects > 0 and sid not in self.refused:  # an API fault
                    self.refuse_connects -= 1
                    self.refused.append(sid)
                    fault = {"code": 20500, "message": "Internal Server Error", "status": 500}
                    return JSONResponse(fault, 500)
                call.updates.put_nowait(str(form["Twiml"]))
            return JSONResponse(
                {"sid": sid, "status": "in-progress", "account_sid": self.account_sid}
            )

        @app.get(base + "/Calls/{sid}.json")
        async def fetch(request: Request, sid: str) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            call = self.calls.get(sid)
            if call is None:
                return JSONResponse({"code": 20404, "message": "not found", "status": 404}, 404)
            status = "canceled" if call.canceled else "completed" if call.ended or call.hung_up \
                else "ringing" if call.ringing else "in-progress"  # fmt: skip
            return JSONResponse({"sid": sid, "status": status, "account_sid": self.account_sid})

        @app.post(base + "/Calls.json")
        async def create(request: Request) -> JSONResponse:
            if not authorised(request):
                return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            form = await request.form()
            to, twiml = str(form.get("To", "")), str(form.get("Twiml", ""))
            status_url = str(form.get("StatusCallback", ""))
            events = {str(e) for e in form.getlist("StatusCallbackEvent")}
            # the caller who hung up to be called back (the last one from that number)
            origin = next(
                (c for c in reversed(self.calls.values())
                 if c.script.number == to and c.outcome == "hung-up-by-ivr"),
                None,
            )  # fmt: skip
            sid = self.new_sid()
            script = origin.script if origin else CallerScript(to, [], 0, 60)
            call = EmulatedCall(sid, script, ringing=True)
            call.parties = {"From": str(form.get("From", "")), "To": to,
                            "Direction": "outbound-api"}  # fmt: skip
            self.calls[sid] = call
            told = status_url if "answered" in events else ""
            self._spawn(self._outbound(call, twiml, status_url, origin, answered_url=told))
            return JSONResponse({"sid": sid, "status": "queued", "account_sid": self.account_sid})

        add_conference_api(app, self, base, authorised)
        return app

    def signal_app(self) -> FastAPI:
        """The browser phones' signalling websocket (`/signal`), served on its own port over
        TLS (the SDK connects to wss:// only): see `phones.py`."""
        return self.phones.app()

    # -- placing calls

    def new_sid(self) -> str:
        return f"CA{next(self._ids):032x}"

    def place(self, script: CallerScript) -> EmulatedCall:
        call = EmulatedCall(self.new_sid(), script)
        self.calls[call.sid] = call
        self._spawn(self._inbound(call))
        return call

    def hang_up(self, call: EmulatedCall) -> None:
        """The caller hangs up (or the line hangs them up) now: the call leaves whatever it
        is doing at its next step, and the carrier refuses its updates from this moment,
        as a carrier does a completed call's (a connect sent as the caller hung up is
        refused, not carried out on a call that is gone)."""
        call.hung_up = True
        call.updates.put_nowait(HANG_UP)

    async def hang_up_callers(self) -> int:
        """Every caller still on hangs up (the end of a run), 50 every quarter second: all
        at once (4,157 at 100 times the national line's rate), their status callbacks
        waited in the client's pools past its time limit, and their calls stayed open in
        the line's store. Returns how many hung up."""
        cut = [c for c in self.callers() if not c.ended]
        for i, call in enumerate(cut):
            self.hang_up(call)  # (its updates refused from now on)
            if i % 50 == 49:
                await asyncio.sleep(0.25)
        return len(cut)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait until every call has ended."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _inbound(self, call: EmulatedCall) -> None:
        to = call.script.to or self.line_number
        base = call.parties = {"From": call.script.number, "To": to, "Direction": "inbound"}
        try:
            first = f"{self.hotline_url}/voice/incoming"
            answer = await self.tried(call, first, base) if self.fallback_url else None
            if answer is not None:
                twiml = answer
            elif self.fallback_url is None:
                twiml = await self.post(call, first, base)
            else:  # the voice URL failed: its fallback, as the carrier does
                self.fallbacks += 1
                fallback = f"{self.fallback_url}/voice/incoming"
                twiml = await self.post(call, fallback, {**base, "ErrorCode": "11200",
                                                         "ErrorUrl": first})  # fmt: skip
            await self.execute(call, twiml)
        except Exception:  # logged with its trace: one emulated call failing ends only it
            log.exception("call %s failed", call.sid)
            call.outcome = "failed"
        await self.end(call, f"{self.hotline_url}/voice/status")

    async def _outbound(
        self,
        call: EmulatedCall,
        twiml: str,
        status_url: str,
        origin: EmulatedCall | None,
        *,
        answered_url: str = "",
    ) -> None:
        """An outbound call: it rings, is picked up (`answered_url` hears it, as a status
        callback asked for the answered event), runs its TwiML, and reports its end. Hung
        up through the API while it rings, it ends `canceled`, never picked up; new TwiML
        sent while it rings is what it runs once picked up."""
        picks_up = self.now() + call.script.rings
        while (update := await self.wait(picks_up - self.now(), call)) is not None:
            twiml = update
            if call.hung_up:  # (canceled, or the callee's own hang-up: it runs that)
                break
        call.ringing = False
        if call.canceled:
            call.ended, call.outcome = True, "canceled"
            if status_url:
                await self.post(call, status_url, {"CallStatus": "canceled"}, expect_twiml=False)
            return
        try:
            if answered_url:
                await self.post(call, answered_url, {"CallStatus": "in-progress"},
                                expect_twiml=False)  # fmt: skip
            await self.execute(call, twiml)
        except Exception:  # logged with its trace: one emulated call failing ends only it
            log.exception("outbound call %s failed", call.sid)
        if origin is not None and call.agent:
            origin.outcome, origin.agent = "called-back", call.agent
        await self.end(call, status_url)

    async def end(self, call: EmulatedCall, status_url: str) -> None:
        call.ended = True
        if call.outcome == "in-progress":
            call.outcome = "completed"
        if status_url:
            await self.post(
                call,
                status_url,
                {"CallStatus": "completed", "CallDuration": "1"},
                expect_twiml=False,
            )

    async def post(
        self, call: EmulatedCall, url: str, extra: dict[str, str], *, expect_twiml: bool = True
    ) -> str:
        """The answer to a webhook; if it never comes, the carrier's own: it apologises and
        hangs up. An update the carrier took while the webhook was in flight takes the
        call over instead of the answer (TwiML expected: a status callback's answer is
        not the call's next page)."""
        answer = await self.tried(call, url, extra)
        if expect_twiml and (update := taken(call)) is not None:
            return update
        if answer is not None:
            return answer
        if expect_twiml:
            return APOLOGY
        return ""

    async def tried(self, call: EmulatedCall, url: str, extra: dict[str, str]) -> str | None:
        """The answer to a webhook, tried again as the carrier does; None if it never came."""
        form = {"CallSid": call.sid, "AccountSid": self.account_sid, **call.parties, **extra}
        signature = self.validator.compute_signature(url, form)
        give_up = time.monotonic() + self.retry_for
        attempt = 0
        while attempt < 3 or time.monotonic() < give_up:  # the carrier retries a failed webhook
            attempt += 1
            try:
                began = time.perf_counter()
                r = await self.client.post(
                    url, data=form, headers={"X-Twilio-Signature": signature}
                )
                self.webhooks += 1
                if r.status_code == 200:
                    self.latencies.append(time.perf_counter() - began)
                    return r.text
                log.warning("webhook %s answered %s: %s", url, r.status_code, r.text[:200])
                self.failures += 1
                if r.status_code < 500:
                    break
            except httpx.HTTPError as e:
                log.warning("webhook %s failed (attempt %d): %s", url, attempt, e)
                self.failures += 1
                if attempt >= 3:
                    await asyncio.sleep(0.2)
        return None

    def now(self) -> float:
        """Carrier time (seconds): the loop's clock, `speed` times faster."""
        return self.loop_time() * self.speed

    async def wait(
        self,
        seconds: float,
        call: EmulatedCall | None = None,
        *,
        until: asyncio.Event | None = None,
    ) -> str | None:
        """Wait `seconds` of carrier time (math.inf: no limit); a REST update of the call cuts
        it short (its TwiML is returned), and so does `until` being set. A queued caller
        whose patience ends meanwhile hangs up then, mid-prompt (see `_gives_up`)."""
        gives_up = False
        if call is not None and call.holding and call.queued_at is not None:
            left = call.queued_at + call.script.patience - self.now()
            if left < seconds:
                seconds, gives_up = left, True
        delay = max(seconds, 0.0) / self.speed
        timeout = delay if math.isfinite(delay) else None
        if call is None:
            await asyncio.sleep(delay)
            return None
        if until is None:
            try:
                got: str | None = await asyncio.wait_for(call.updates.get(), timeout)
            except TimeoutError:
                got = None
        else:
            update = asyncio.ensure_future(call.updates.get())
            woken = asyncio.ensure_future(until.wait())
            try:
                await asyncio.wait((update, woken), timeout=timeout, return_when=FIRST_COMPLETED)
            finally:  # a get cancelled before it took its update leaves it in the queue
                update.cancel()
                woken.cancel()
            got = update.result() if update.done() and not update.cancelled() else None
            gives_up = gives_up and not until.is_set()
        if got is None and gives_up:
            return self._gives_up(call)
        if got is not None:  # out of the hold loop (to an agent, or hung up)
            call.holding = False
        return got

    @staticmethod
    def _gives_up(call: EmulatedCall) -> str:
        """A queued caller's patience ends. One rule for the race with the line's connect:
        an update the carrier took before this moment wins (the caller was put through
        first); else the caller hangs up, and the call ends with no step between (so the
        carrier refuses its updates from this moment, 404 as for any call that ended: the
        line frees the agent it was connecting and counts the call abandoned)."""
        call.holding = False
        if (update := taken(call)) is not None:  # (answered 200) before the caller hung up
            return update
        call.outcome = "abandoned"
        return HANG_UP

    # -- executing TwiML

    async def execute(self, call: EmulatedCall, twiml: str) -> None:
        answers = iter(call.script.answers)
        next_twiml: str | None = twiml
        while next_twiml is not None and not call.ended:
            try:
                verbs = list(ET.fromstring(next_twiml))
            except ET.ParseError:
                call.outcome = "bad-twiml"
                return
            next_twiml = None
            call.holding = any(
                v.tag == "Redirect" and "/voice/wait" in (v.text or "") for v in verbs
            )  # (not a page the loop ends with: a dial, a recording, a hang-up)
            if call.holding and call.queued_at is None:
                # the line's answer that queued them (its prompt, then the loop): their wait
                # counts from here, as the line and the simulator count it (from the loop's
                # first request, after the prompt, each caller had its length of patience
                # more, and one put through during it, most of them, none to lose)
                call.queued_at = self.now()
            for verb in verbs:
                result = await self._verb(call, verb, answers)
                if result == "":  # the call ends here
                    return
                if result is not None:
                    next_twiml = result
                    break
            # an update that came as the page ran out; one that came after the update the
            # page was left for waits its turn (a call's updates apply in order: a
            # hang-up, then a connect, is a hang-up; `post` has one that came during a
            # webhook win over its answer)
            if next_twiml is None:
                next_twiml = taken(call)

    async def _speak(self, call: EmulatedCall, el: ET.Element) -> str | None:
        if el.tag == "Say":
            text = el.text or ""
            call.heard.append(text)
            return await self.wait(len(text) / 14.0, call)  # about 150 words a minute
        url = (el.text or "").strip()
        if not url.startswith(tuple(f"{u}/" for u in (self.hotline_url, self.fallback_url) if u)):
            call.heard.append(f"[play {url}]")  # (not ours: never fetched, only loopback is)
            return await self.wait(5.0, call)
        seconds = await self._fetched(call, url)
        return None if seconds is None else await self.wait(seconds, call)

    async def _fetched(self, call: EmulatedCall, url: str) -> float | None:
        """A `<Play>` of the line's own audio, fetched as the carrier does: its length in
        seconds, and what was said in `heard` as `[audio N.N s]`; None if it could not be
        played (counted in `media_failures`; the carrier goes on to the next verb)."""
        try:
            r = await self.client.get(url)
        except httpx.HTTPError as e:
            failed = type(e).__name__
        else:
            failed = f"{r.status_code} {r.headers.get('content-type', '')}"
            if r.status_code == 200 and r.headers.get("content-type") == "audio/wav":
                try:
                    with wave.open(io.BytesIO(r.content)) as w:
                        seconds = float(w.getnframes() / w.getframerate())
                except (wave.Error, EOFError, ZeroDivisionError):
                    failed = "not a WAV file"
                else:
                    call.heard.append(f"[audio {seconds:.1f} s]")
                    return seconds
        log.warning("could not play %s: %s", url[:120], failed)
        self.media_failures += 1
        call.heard.append(f"[audio failed: {failed}]")
        return None

    async def _verb(self, call: EmulatedCall, v: ET.Element, answers: Iterator[str]) -> str | None:
        """Carry out one verb: None to go on to the next, TwiML to switch to, "" to end."""
        tag = v.tag
        if tag in ("Say", "Play"):
            return await self._speak(call, v)
        if tag == "Pause":
            return await self.wait(float(v.get("length", "1")), call)
        if tag == "Hangup":
            if call.outcome == "in-progress" and call.queued_at is None:
                call.outcome = "hung-up-by-ivr"
            return ""
        if tag == "Redirect":
            url = v.text or ""
            since = call.queued_at  # (set as this page came: see `execute`)
            if (
                "/voice/wait" in url
                and since is not None
                and self.now() - since > call.script.patience
            ):
                call.outcome = "abandoned"
                return ""
            return await self.post(call, url, {})
        if tag == "Gather":
            for child in v:
                update = await self._speak(call, child)
                if update is not None:
                    return update
            answer = next(answers, None)
            keys = set(answer or "") <= set("0123456789*#")
            heard = keys or "speech" in v.get("input", "")  # (words to a Gather that
            if answer is None or answer == "timeout" or not heard:  # listens for keys: unheard)
                return await self.wait(float(v.get("timeout", "5")), call)
            update = await self.wait(1.0, call)
            if update is not None:
                return update
            action = v.get("action", "")
            if keys:
                return await self.post(call, action, {"Digits": keyed(answer, v)})
            return await self.post(call, action, {"SpeechResult": answer, "Confidence": "0.9"})
        if tag == "Enqueue":  # the carrier's own queue: play waitUrl until dequeued
            wait_url = v.get("waitUrl", "")
            while wait_url:
                # (an update that came meanwhile is heard by the hold page's first wait)
                answer = await self.tried(call, wait_url, {"QueuePosition": "1"})
                hold = APOLOGY if answer is None else answer
                for el in ET.fromstring(hold):
                    update = await self._verb(call, el, answers) if el.tag != "Redirect" else None
                    if update == "":
                        return ""
                    if update is not None:  # dequeued: the REST update takes over
                        return update
                now = self.loop_time() * self.speed
                call.queued_at = call.queued_at if call.queued_at is not None else now
                if now - call.queued_at > call.script.patience:
                    call.outcome = "abandoned"
                    return ""
            return None
        if tag == "Record":
            call.outcome = "voicemail"
            update = await self.wait(10.0, call)
            if update is not None:  # (hung up, or taken out, mid-message)
                return update
            return await self.post(
                call,
                v.get("action", ""),
                {"RecordingUrl": f"https://recordings.invalid/{call.sid}"},
            )
        if tag == "Dial":
            room = v.find("Conference")
            if room is not None:
                return await self._dial_conference(call, v, room)
            client = v.find("Client")
            if client is None:
                call.outcome = "transferred"
                return ""
            action = v.get("action", "")
            agent = client.text or ""
            if agent in self.agents_not_answering:  # their phone rings out
                update = await self.wait(self.agent_ring, call)
                if update is not None:
                    return update
                return (
                    await self.post(call, action, {"DialCallStatus": "no-answer"}) if action else ""
                )
            answered_url = client.get("statusCallback")
            if answered_url:  # the agent's leg answers; it has a CallSid of its own
                leg = {"CallSid": self.new_sid(), "ParentCallSid": call.sid}
                await self.post(
                    call, answered_url, {**leg, "CallStatus": "in-progress"}, expect_twiml=False
                )
            call.agent = agent
            if call.queued_at is not None:
                call.answered_after = self.loop_time() * self.speed - call.queued_at
            if call.outcome == "in-progress":
                call.outcome = "answered"
            update = await self.wait(call.script.talk, call)
            if update is not None:
                return update
            return await self.post(call, action, {"DialCallStatus": "completed"}) if action else ""
        return None  # a verb we do not know is skipped, as carriers do

    # -- conferences

    def conference(self, name_or_sid: str) -> Conference | None:
        """The conference of that friendly name, or of that sid."""
        found = self.conferences.get(name_or_sid)
        return found or next((c for c in self.conferences.values() if c.sid == name_or_sid), None)

    def conference_named(self, name: str) -> Conference:
        """The live conference called `name`, or a new one (status init until someone joins)."""
        found = self.conferences.get(name)
        if found is not None and found.status != "completed":
            return found
        conference = Conference(
            name, f"CF{next(self._ids):032x}", self.account_sid, on_change=self._changed
        )
        self.conferences[name] = conference
        return conference

    def _changed(self) -> None:
        self._conference_changed.set()
        self._conference_changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (at most `timeout` wall seconds, else TimeoutError) until `predicate()` holds:
        it is checked again after every change of any conference (a log line, a participant
        dialled, ringing, joining or leaving, a flag), a participant's leg ending, and every
        change of a browser phone (see `phones.py`)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._conference_changed.wait()

    def callers(self) -> list[EmulatedCall]:
        """The calls of callers (placed, or dialled back), not the legs it dials into
        conferences."""
        return [c for c in self.calls.values() if c.script.label != PARTICIPANT]

    def new_leg(self, to: str) -> EmulatedCall:
        """A call the carrier places to a conference participant (a REST update reaches it)."""
        leg = EmulatedCall(self.new_sid(), CallerScript(to, [], 0.0, math.inf, PARTICIPANT))
        self.calls[leg.sid] = leg
        return leg

    def dial_participant(
        self, conference: Conference, p: Participant, timeout: float | None
    ) -> None:
        """Dial a participant the REST API added: it rings, then joins or rings out (after
        `timeout` seconds, `agent_ring` if None), in the background."""
        conference.add(p)
        self._spawn(
            self._participant_leg(conference, p, self.agent_ring if timeout is None else timeout)
        )

    def _browser_hung_up(self, leg_sid: str) -> None:
        """The Device that answered a leg hung up: the leg leaves its conference."""
        for conference in self.conferences.values():
            p = conference.participants.get(leg_sid)
            if p is not None:
                conference.leave(p, self.now())

    async def _dial_conference(
        self, call: EmulatedCall, dial: ET.Element, room: ET.Element
    ) -> str | None:
        """<Dial><Conference>: the call joins the room until it hangs up (its talk counts from
        when someone else is there), a REST update takes it out, or it is taken out (the
        conference ended, its participant removed: then the Dial's action)."""
        conference = self.conference_named((room.text or "").strip())
        p = Participant(
            room.get("participantLabel") or call.sid,
            call,
            call.script.to or self.line_number,
            call.script.number,
            muted=twiml_flag(room.get("muted")),
            end_conference_on_exit=twiml_flag(room.get("endConferenceOnExit")),
            dialled_in=True,
        )
        conference.add(p)
        conference.join(p, self.now())
        update = await self._confer(call, conference, p, talk=call.script.talk)
        if update is not None:
            return update
        action = dial.get("action", "")
        return await self.post(call, action, {"DialCallStatus": "completed"}) if action else ""

    async def _confer(
        self, call: EmulatedCall, conference: Conference, p: Participant, talk: float
    ) -> str | None:
        """Keep `call` in the conference: the TwiML of a REST update of the call (it has left
        for it), "" when its talk ran out (it hung up), None when it was taken out."""
        while True:
            p.wake.clear()  # before looking: a change from now on wakes the wait below
            if p.status != "connected":
                return None
            remaining = math.inf if p.talk_from is None else p.talk_from + talk - self.now()
            if remaining <= 0:
                conference.leave(p, self.now())
                return ""
            update = await self.wait(remaining, call, until=p.wake)
            if update is not None:
                conference.leave(p, self.now())
                return update

    async def _participant_leg(
        self, conference: Conference, p: Participant, timeout: float
    ) -> None:
        """A participant's leg: it rings, then joins or rings out, then stays until taken
        out or hung up; its status callback hears the events it asked for. A client leg
        (`client:NAME`) rings NAME's browser phones if a browser has connected as NAME
        (joining when one answers; ringing out when none does in `timeout`, or all refuse);
        otherwise the emulator answers it after `participant_ring`, unless NAME is one of
        `agents_not_answering` or `timeout` is shorter (then it rings out)."""
        leg = p.call
        target = client_identity(p.to)
        invitation: Invitation | None = None
        try:
            await self._leg_status(conference, p, "initiated", "initiated")
            conference.ring(p)
            await self._leg_status(conference, p, "ringing", "ringing")
            browser = target is not None and self.phones.reaches(target)
            if target is not None and browser:
                invitation = await self.phones.invite(
                    leg.sid, target, params=p.to.partition("?")[2], from_=p.from_, to=p.to,
                    wake=p.wake,
                )  # fmt: skip
            rings_out = browser or target in self.agents_not_answering
            rings_out = rings_out or timeout < self.participant_ring
            ring = timeout if rings_out else self.participant_ring
            update = await self.wait(ring, leg, until=p.wake)
            if invitation is not None:
                await self.phones.stop_ringing(invitation)
                rings_out = invitation.answered_by is None
            if update is not None or p.status != "ringing":  # hung up, taken out, ended
                conference.leave(p, self.now())
                leg.outcome = "canceled"
            elif rings_out:
                conference.no_answer(p, self.now())
                leg.outcome = "no-answer"
            else:
                leg.answered_by = "browser" if invitation is not None else "emulator"
                conference.join(p, self.now())
                leg.outcome = "answered"
                await self._leg_status(conference, p, "answered", "in-progress")
                update = await self._confer(leg, conference, p, talk=math.inf)
                await self.phones.hang_up(leg.sid)
                if update is not None:  # TwiML for the leg: it left the conference for it
                    await self.execute(leg, update)
                leg.outcome = "completed"
            await self._leg_status(conference, p, "completed", leg.outcome)
        except Exception:  # logged with its trace: one failing leg ends only it
            log.exception("participant %s failed", leg.sid)
            conference.leave(p, self.now())
            leg.outcome = "failed"
        finally:
            if invitation is not None:
                await self.phones.stop_ringing(invitation)
                await self.phones.hang_up(leg.sid)
        leg.ended = True
        self._changed()

    async def _leg_status(
        self, conference: Conference, p: Participant, event: str, status: str
    ) -> None:
        if p.status_callback and event in p.events:
            form = {
                "CallStatus": status,
                "ConferenceSid": conference.sid,
                "ParticipantLabel": p.label,
                "To": p.to,
                "From": p.from_,
                "Direction": "outbound-api",
            }
            await self.post(p.call, p.status_callback, form, expect_twiml=False)


def taken(call: EmulatedCall) -> str | None:
    """The call's next update the carrier took, if any (the call leaves its hold loop)."""
    if call.updates.empty():
        return None
    call.holding = False
    return call.updates.get_nowait()


def keyed(answer: str, gather: ET.Element) -> str:
    """The digits the carrier reports for what the caller keyed: up to `finishOnKey` (not
    included) and at most `numDigits`, as the carrier collects them."""
    finish = gather.get("finishOnKey", "#")
    digits = answer.split(finish)[0] if finish else answer
    limit = gather.get("numDigits")
    return digits[: int(limit)] if limit and limit.isdigit() else digits
