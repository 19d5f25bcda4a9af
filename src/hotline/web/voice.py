"""The carrier's voice webhooks: each request is checked (signature first, then its form
and query), becomes one command on the line, and its outcome becomes TwiML. The URLs the
TwiML names are built by `telephony.webhooks.Webhooks`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from hotline.errors import HotlineError
from hotline.ivr.interpreter import Action, Gather, Hangup, Play, Record, Say
from hotline.service.health import Throttle
from hotline.service.live import to_input
from hotline.service.prompt_audio import TOKEN_MAX, PromptAudioUnknown
from hotline.telephony.speech import SpeechUnavailable
from hotline.telephony.twiml import hold_twiml, ivr_twiml, looking_up_twiml, message_twiml
from hotline.web import forms
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime

log = logging.getLogger("hotline.web")
HOLD_PAUSE = 15
NOT_REACHED = ("no-answer", "busy", "failed", "canceled")  # a dialled leg that never answered
LABEL = re.compile(r"caller|interpreter|(agent|supervisor):[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
AUDIO_TOKEN = re.compile(r"v1:[0-9a-f]{8}:[A-Za-z0-9_=-]{40,}")  # (service.sealing's form)


def voice_router(rt: LineRuntime) -> APIRouter:
    router = APIRouter(prefix="/voice", responses=responses(400, 403, 413))
    line, hooks = rt.line, rt.webhooks
    validator = RequestValidator(rt.settings.webhook_secret())
    refusals = Throttle(logger=log, every=60.0, wall=line.wall)
    unspoken = Throttle(logger=log, every=60.0, wall=line.wall)

    async def signed_form(request: Request) -> FormData:
        body = await forms.read_body(request)
        form = forms.parse_form(request, body)
        query = f"?{request.url.query}" if request.url.query else ""
        checked = hooks.public + request.url.path + query
        signature = request.headers.get("X-Twilio-Signature", "")
        # the whole form, every value of a repeated key, as the carrier signs it
        if not signature or not validator.validate(checked, form, signature):
            refusals(
                logging.WARNING,
                "refused a webhook: %s X-Twilio-Signature for %s (is HOTLINE_PUBLIC_URL the "
                "address the carrier calls?)",
                "wrong" if signature else "no", checked[:300],
            )  # fmt: skip
            raise Refused(403, "bad-signature", "missing or wrong X-Twilio-Signature")
        return form

    def query_sid(request: Request, name: str = "sid") -> str:
        value = request.query_params.get(name, "")
        if not forms.CALL_SID.fullmatch(value):
            raise Refused(400, "bad-query", f"{name} is missing or not a call id")
        return value

    def query_int(
        request: Request, name: str, default: int | None = None, *,
        digits: re.Pattern[str] = forms.SMALL_NUMBER,
    ) -> int:  # fmt: skip
        value = request.query_params.get(name)
        if value is None and default is not None:
            return default
        if value is None or not digits.fullmatch(value):
            raise Refused(400, "bad-query", f"{name} is missing or not a small whole number")
        return int(value)

    def heard(sid: str, prompts: Sequence[Say | Play]) -> list[Say | Play]:
        """Prompts as the carrier is told them: one in a language it has no voice for as
        audio it fetches from us (`PromptAudio`), if the line has it."""
        audio = rt.audio
        if audio is None:
            return list(prompts)
        out: list[Say | Play] = []
        for p in prompts:
            token = None
            if isinstance(p, Say) and audio.plays(p.language):
                token = audio.token(p.text, p.language, sid)  # (None: too long to play)
            out.append(p if token is None else Play(hooks.audio(sid, token)))
        return out

    def heard_actions(sid: str, actions: Sequence[Action]) -> list[Action]:
        """An IVR step's actions, each prompt in them as `heard` says."""
        out: list[Action] = []
        for a in actions:
            if isinstance(a, Say | Play):
                out.extend(heard(sid, [a]))
            elif isinstance(a, Gather):
                out.append(dataclasses.replace(a, prompts=tuple(heard(sid, a.prompts))))
            else:
                out.append(a)
        return out

    def ivr_reply(sid: str, actions: list[Action], step: int) -> str:
        """An IVR step's TwiML; while the step's look-up runs, a short hold instead."""
        actions = heard_actions(sid, actions)
        g = line.generation(sid)
        if (ticket := line.lookup_ticket(sid)) is not None:
            return looking_up_twiml(actions, continue_url=hooks.lookup(sid, g, ticket, 1))
        return ivr_twiml(
            actions,
            gather_url=hooks.gather(sid, g, step),
            timeout_url=hooks.gather(sid, g, step, timeout=True),
            wait_url=hooks.wait(sid, 1),
            voicemail_url=hooks.voicemail(sid),
        )

    async def lost(sid: str) -> bool:
        """A call neither the line nor the store knows: its state went with a node that
        could not write it (the database refused writes, then the node stopped). Its caller
        is on the line still: they start over, as a new call, never hung up on."""
        if line.knows(sid):
            return False
        try:
            return await asyncio.to_thread(line.store.call, sid) is None
        except HotlineError:  # the store cannot say: as before (the caller is kept)
            return False

    def start_over(sid: str, form: FormData) -> str | None:
        """A lost call (`lost`) starts over as a new call, if the line still does not know
        it (under the lock): the menu from its beginning."""
        if line.knows(sid):
            return None
        log.warning("call %s is unknown here (its state was lost): it starts over", sid)
        caller = forms.optional(form, "From", max_length=64) or ""
        actions = line.incoming(sid, caller, forms.optional(form, "To", max_length=64) or "")
        if actions is None:
            return message_twiml("Sorry, this number is not in service. Goodbye.")
        return ivr_reply(sid, actions, 1)

    def same_call(sid: str, call_sid: str) -> None:
        """A step of call `sid`'s (its URL names it: the IVR's, the look-up's and the hold
        loop's) that the carrier asked for another call (its CallSid) is refused: its
        answer would be kept as that call's."""
        if call_sid != sid:
            raise Refused(409, "out-of-order", f"a step of call {sid} asked for call "
                          f"{forms.short(call_sid)}")  # fmt: skip

    def again(retry_url: str) -> Callable[[str], str]:
        """The fallback while a caller is on the line: a short pause, then the same request."""
        return lambda _sid: hold_twiml([], wait_url=retry_url, pause=3)

    @router.post("/incoming")
    async def incoming(request: Request) -> Response:
        form = await signed_form(request)
        caller, called = forms.text(form, "From"), forms.text(form, "To")

        def work(sid: str) -> str:
            actions = line.incoming(sid, caller, called)
            if actions is None:
                log.warning("call %s to an unknown number %s", sid, forms.short(called))
                return message_twiml("Sorry, this number is not in service. Goodbye.")
            return ivr_reply(sid, actions, 1)

        return await rt.voice(form, "incoming", work, again(hooks.incoming()))

    @router.post("/gather")
    async def gather(request: Request) -> Response:
        form = await signed_form(request)
        sid, step = query_sid(request), query_int(request, "step")
        g, timeout = query_int(request, "g", 1), query_int(request, "timeout", 0)
        confidence = forms.optional(form, "Confidence", max_length=32)
        try:
            conf = float(confidence) if confidence is not None else None
        except ValueError:
            conf = None
        event = to_input(
            forms.digits(form), forms.optional(form, "SpeechResult", max_length=1024), conf,
            bool(timeout),
        )  # fmt: skip

        fresh = await lost(sid)

        def work(call_sid: str) -> str:
            same_call(sid, call_sid)
            if fresh and (over := start_over(sid, form)) is not None:
                return over
            if line.resumable(sid):  # the server restarted mid-IVR
                return ivr_reply(sid, line.resume_ivr(sid), 1)
            if line.ivr_run(sid) != (g, step - 1) or line.lookup_ticket(sid) is not None:
                raise Refused(409, "out-of-order", f"step {step} of call {sid} is not the next one")
            return ivr_reply(sid, line.ivr_input(sid, event), step + 1)

        retry = hooks.gather(sid, g, step, timeout=bool(timeout))
        return await rt.voice(form, f"gather:{g}:{step}", work, again(retry))

    @router.post("/lookup")
    async def lookup(request: Request) -> Response:
        """A caller on hold while their record look-up runs (`t`: which look-up, `n`: the
        how-manieth time they came back): the flow's answer once it is in, else more hold."""
        form = await signed_form(request)
        sid, g = query_sid(request), query_int(request, "g", 1)
        ticket, n = query_int(request, "t"), query_int(request, "n")

        fresh = await lost(sid)

        def work(call_sid: str) -> str:
            same_call(sid, call_sid)
            if fresh and (over := start_over(sid, form)) is not None:
                return over
            if line.resumable(sid):  # the server restarted meanwhile
                return ivr_reply(sid, line.resume_ivr(sid), 1)
            if not line.waiting_on_lookup(sid) and line.in_acd(sid):
                # queued by the look-up's answer before a restart: on to the hold loop
                return hold_twiml([], wait_url=hooks.wait(sid, 1), pause=1)
            # (a flow that ended with the answer has forgotten the call's IVR run)
            if line.generation(sid) != g or not line.waiting_on_lookup(sid):
                raise Refused(409, "out-of-order", f"look-up {ticket} of call {sid} is not current")
            actions = line.looked_up(sid)
            if actions is None:
                now_on = line.lookup_ticket(sid)
                assert now_on is not None
                return looking_up_twiml([], continue_url=hooks.lookup(sid, g, now_on, n + 1))
            run = line.ivr_run(sid)
            return ivr_reply(sid, actions, (run[1] if run else 0) + 1)

        here = hooks.lookup(sid, g, ticket, n)
        return await rt.voice(form, f"lookup:{g}:{ticket}:{n}", work, again(here))

    @router.post("/wait")
    async def wait(request: Request) -> Response:
        """The hold loop; `a` counts the times the caller came back to it after a connect
        to an agent failed, so each round's steps are told apart."""
        form = await signed_form(request)
        sid, n, a = query_sid(request), query_int(request, "n"), query_int(request, "a", 0)
        nxt = hooks.wait(sid, n + 1, a)
        fresh = await lost(sid)

        def work(call_sid: str) -> str:
            same_call(sid, call_sid)
            if fresh and (over := start_over(sid, form)) is not None:
                return over
            state, prompts = line.hold(sid)
            if state == "waiting":
                return hold_twiml(heard(sid, prompts), wait_url=nxt, pause=HOLD_PAUSE)
            if state == "offer-callback":
                return hold_twiml(heard(sid, prompts), wait_url=nxt, pause=HOLD_PAUSE,
                                  gather_url=hooks.hold_key(sid, n, a))  # fmt: skip
            if state == "connecting":  # the REST redirect to the agent is on its way
                return hold_twiml([], wait_url=nxt, pause=2)
            if state == "voicemail":
                return ivr_twiml([Record(120), Hangup()], gather_url=nxt, timeout_url=nxt,
                                 wait_url=nxt, voicemail_url=hooks.voicemail(sid))  # fmt: skip
            return message_twiml("Thank you for calling. Goodbye.")

        step = f"wait:{a}:{n}" if a else f"wait:{n}"
        return await rt.voice(form, step, work, again(hooks.wait(sid, n, a)))

    @router.post("/hold-key")
    async def hold_key(request: Request) -> Response:
        """The caller's answer to the callback offer in the hold loop (1 = call me back)."""
        form = await signed_form(request)
        sid, n, a = query_sid(request), query_int(request, "n"), query_int(request, "a", 0)
        keyed = forms.digits(form)
        fresh = await lost(sid)

        def work(call_sid: str) -> str:
            same_call(sid, call_sid)
            if fresh and (over := start_over(sid, form)) is not None:
                return over
            if keyed == "1" and (confirmation := line.take_callback(sid)) is not None:
                r = hooks.wait(sid, n + 1, a)  # (no further step: the call hangs up)
                return ivr_twiml([*heard(sid, confirmation), Hangup()], gather_url=r, timeout_url=r,
                                 wait_url=r, voicemail_url=hooks.voicemail(sid))  # fmt: skip
            return hold_twiml([], wait_url=hooks.wait(sid, n + 1, a), pause=1)

        step = f"hold-key:{a}:{n}" if a else f"hold-key:{n}"
        return await rt.voice(form, step, work, again(hooks.wait(sid, n, a)))

    @router.post("/status")
    async def status(request: Request) -> Response:
        """`?call=` names the caller's call when this is the dial-back leg of a callback,
        `d` which dial-back of it (none on a dial-back asked for before the line said)."""
        form = await signed_form(request)
        call = query_sid(request, "call") if "call" in request.query_params else None
        dial = query_int(request, "d", 0, digits=forms.DIAL) if call is not None else 0
        call_status = forms.status(form)

        def work(sid: str) -> str:
            if call is None:
                line.status(sid, call_status)
            else:  # (the leg's own sid: a restart asks the carrier about it)
                line.status(call, call_status, dial_back=True, leg=sid, dial=dial)
            return "<Response/>"

        # (a dial-back's word is kept apart from a call's own: its CallSid is its own call's,
        # and no plain status of a call with that id may be taken for a retry of it)
        step = f"status:{call_status}" if call is None else f"dial-back-status:{call_status}"
        return await rt.voice(form, step, work, lambda _sid: "<Response/>")

    @router.post("/dial-done")
    async def dial_done(request: Request) -> Response:
        """The end of the bridge to an agent (`a`: which connect of the call). If the
        agent's phone was not answered, the caller goes back to the hold loop."""
        form = await signed_form(request)
        sid, a = query_sid(request), query_int(request, "a", 1)
        dial_status = forms.status(form, "DialCallStatus")
        back = hooks.wait(sid, 1, a)

        def work(call_sid: str) -> str:
            same_call(sid, call_sid)
            if line.dial_done(sid, dial_status, a):
                return hold_twiml([], wait_url=back, pause=1)
            return message_twiml("Goodbye.")

        fallback = lambda _s: hold_twiml([], wait_url=back, pause=1)  # noqa: E731
        return await rt.voice(form, f"dial-done:{a}", work, fallback)

    @router.post("/agent-leg")
    async def agent_leg(request: Request) -> Response:
        """Status callbacks of the agent's leg of a bridge: its answer means the caller is
        talking to someone (kept, so a restart knows the call was bridged)."""
        form = await signed_form(request)
        sid, a = query_sid(request), query_int(request, "a", 1)
        leg_status = forms.status(form)

        def work(leg: str) -> str:
            if leg_status in ("in-progress", "answered"):
                line.agent_leg_answered(sid, a, leg)
            elif leg_status in NOT_REACHED:  # the caller waits in the conference: parked
                line.dial_done(sid, leg_status, a, in_conference=True)
            elif leg_status == "completed":  # the agent hung up (or was dropped)
                line.agent_leg_ended(sid, a)
            return "<Response/>"

        # the form's CallSid is the agent's leg: its own id, one reply per status
        return await rt.voice(form, f"agent-leg:{leg_status}", work, lambda _s: "<Response/>")

    @router.post("/leg")
    async def leg(request: Request) -> Response:
        """Status callbacks of a participant dialled into a call's conference (a consulted
        agent, an interpreter, a supervisor): answered, not reached, or gone."""
        form = await signed_form(request)
        sid = query_sid(request)
        label = request.query_params.get("label", "")
        if not LABEL.fullmatch(label):
            raise Refused(400, "bad-query", "label is missing or not a participant's label")
        leg_status = forms.status(form)

        def work(_leg: str) -> str:
            line.leg_status(sid, label, leg_status)
            return "<Response/>"

        return await rt.voice(form, f"leg:{leg_status}", work, lambda _s: "<Response/>")

    @router.get("/audio", responses=responses(404, 503))
    async def audio(request: Request) -> Response:
        """A prompt of call `sid` the carrier has no voice for, as audio (WAV), fetched as
        its TwiML's `<Play>` says. Unsigned (a carrier does not sign what it fetches):
        `p` is the prompt's text, sealed with the line's key for this call."""
        sid, token = query_sid(request), request.query_params.get("p", "")
        if len(token) > TOKEN_MAX or not AUDIO_TOKEN.fullmatch(token):
            raise Refused(400, "bad-query", "p is missing or not a prompt's audio token")
        if rt.audio is None:
            raise Refused(404, PromptAudioUnknown.error_id, "this line plays no prompt as audio")
        try:
            wav = await rt.audio.wav(token, sid)
        except PromptAudioUnknown as e:
            raise Refused(404, e.error_id, str(e)) from None
        except SpeechUnavailable as e:  # (its reason logged: not for whoever asked)
            unspoken(logging.ERROR, "a prompt of call %s could not be spoken: %s", sid, e)
            raise Refused(503, e.error_id, "the prompt could not be spoken; try again") from None
        return Response(wav, media_type="audio/wav")

    @router.post("/voicemail")
    async def voicemail(request: Request) -> Response:
        form = await signed_form(request)
        recording = forms.text(form, "RecordingUrl", max_length=2048)
        if not recording.startswith(("https://", "http://")):
            raise Refused(400, "bad-body", "RecordingUrl is not an http(s) URL")

        def work(call_sid: str) -> str:
            line.voicemail(call_sid, recording)
            return "<Response><Hangup/></Response>"

        # a failure is retried by the carrier (503), so the recording's URL is never lost
        return await rt.voice(form, "voicemail", work, fallback=_retry_later)

    return router


def _retry_later(_sid: str) -> str:
    raise Refused(503, "store-unavailable", "the recording could not be kept; retry")
