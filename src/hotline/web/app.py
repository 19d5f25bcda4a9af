"""The FastAPI app: carrier webhooks (TwiML), the agents' REST and websocket API, /healthz.

The carrier never sees a 500: a bad signature is a 403, a malformed body a 400 (checked
before anything else is read from the request), and anything that goes wrong while a
caller is on the line answers with TwiML that keeps them where they were (in the queue,
with a pause and a retry) rather than dropping the call. `web.errors` turns every refusal
into `{"error_id", "message"}`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from hotline.errors import (
    HotlineError,
    InvalidTransition,
    RoutingError,
    UnknownAgent,
    UnknownCall,
)
from hotline.ivr.interpreter import Action, Hangup, Record
from hotline.service.health import Throttle
from hotline.service.live import (
    Connect,
    DialBack,
    LiveLine,
    Offer,
    UnknownNumber,
    Withdraw,
    to_input,
)
from hotline.service.recovery import carrier_statuses
from hotline.service.settings import Settings
from hotline.store.db import DatabaseFile, is_current
from hotline.telephony.control import CallControl
from hotline.telephony.twiml import hold_twiml, ivr_twiml, looking_up_twiml, message_twiml
from hotline.web import docs, forms
from hotline.web.errors import Refused, install, responses
from hotline.web.sockets import AgentSocket, AgentSockets

log = logging.getLogger("hotline.web")
XML = "application/xml"
HOLD_PAUSE = 15
HEALTH_TIMEOUT = 3.0  # seconds /healthz waits for the database
RECHECK_CARRIER = 30.0  # seconds between status look-ups of calls the carrier could not tell
AGENT_ERRORS = responses(400, 401, 404, 409, 503)


def create_app(*, settings: Settings, line: LiveLine, control: CallControl) -> FastAPI:
    """The app for one line. Nothing is created at import; `hotline serve` calls this."""
    validator = RequestValidator(settings.webhook_secret())
    public = settings.public_url.rstrip("/")
    lock = asyncio.Lock()
    sockets = AgentSockets(still_valid=line.store.valid_tokens)
    background: set[asyncio.Task[None]] = set()
    database_file = DatabaseFile.of(line.store.engine)
    refusals = Throttle(logger=log, every=60.0, wall=line.wall)
    file_alarm = Throttle(logger=log, every=60.0, wall=line.wall)

    def url(path: str, **query: object) -> str:
        """A webhook URL of ours; every value is escaped."""
        return f"{public}{path}?{urlencode(query)}" if query else f"{public}{path}"

    def dispatch() -> None:
        """Carry out what the core asked for (under the lock; slow work in threads)."""
        commands, line.outbox[:] = list(line.outbox), []
        for c in commands:
            if isinstance(c, Offer | Withdraw):
                message = {"type": "offer" if isinstance(c, Offer) else "withdrawn", **asdict(c)}
                sockets.send(c.agent_id, message)
            elif isinstance(c, Connect | DialBack):
                spawn(_connect(c))

    def spawn(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        background.add(task)
        task.add_done_callback(background.discard)

    async def _connect(c: Connect | DialBack) -> None:
        try:  # any failure is logged; the agent sees the call did not connect
            if isinstance(c, DialBack):
                status_url = url("/voice/status", call=c.call_sid)
                await asyncio.to_thread(
                    control.dial_back, c.number, settings.line_number, c.agent_id, status_url
                )
            else:
                await asyncio.to_thread(control.connect, c.call_sid, c.agent_id, c.attempt)
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            log.error("could not connect call %s to %s: %s", c.call_sid, c.agent_id, e)
            # the caller keeps their place, the agent is freed: a command like any other
            attempt = c.attempt if isinstance(c, Connect) else None
            await use_case(functools.partial(line.carrier_refused, c.call_sid, attempt))

    def command(fn: Callable[[], Any]) -> Any:
        """Run one command on the line (under the lock): timers that fell due fire first;
        if the command is refused, what it had buffered is dropped (it writes nothing)."""
        mark = line.begin()
        try:
            return fn()
        except Exception:  # not silenced: undone, then raised to the caller's handler
            line.rollback(mark)
            raise
        finally:
            line.end()

    async def use_case(fn: Callable[[], Any]) -> Any:
        landing = None
        try:
            async with lock:
                try:
                    return command(fn)
                finally:
                    dispatch()
                    landing = line.commit()
        finally:  # (a refused command may still have fired timers: their writes land)
            await committed(landing)

    async def committed(landing: concurrent.futures.Future[bool] | None) -> None:
        """Wait (outside the lock) for the command's unit of work to be tried, at most
        `line.commit_wait`; not at all while the store is stalled. Either way its writes
        are queued in order and land when the store takes them."""
        if landing is None or line.writer.stuck():
            return
        with contextlib.suppress(TimeoutError):  # the store is slow: the writes wait in order
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(landing)),
                                   line.commit_wait)  # fmt: skip

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.2)
            try:
                await use_case(line.tick)  # also retries writes waiting for the store
            except Exception:  # the ticker must outlive any one failure
                log.exception("timer tick failed")

    async def recheck_carrier() -> None:
        """Calls recovered while the carrier could not say whether they were still live
        keep their place; ask again until it can."""
        while True:
            await asyncio.sleep(RECHECK_CARRIER)
            if not line.unverified:
                continue
            sids = sorted(line.unverified)
            try:
                statuses = await asyncio.to_thread(carrier_statuses, control, sids, deadline=10.0)
                await use_case(functools.partial(line.recheck, statuses))
            except Exception:  # the loop must outlive any one failure
                log.exception("asking the carrier about recovered calls failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(t()) for t in (ticker, recheck_carrier, sockets.sweep)]
        yield
        for t in tasks:
            t.cancel()
        await asyncio.to_thread(line.writer.drain)  # what waits lands, if the store takes it
        line.writer.close()
        line.lookups.close()

    app = FastAPI(
        title="Hotline",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would be built from the request's Host header
    )
    install(app)
    docs.mount(app)
    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The document as the app answers: malformed requests get our 400, never the
        framework's 422, so its responses and schemas are not declared."""
        schema = framework_openapi()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def signed_form(request: Request) -> FormData:
        body = await forms.read_body(request)
        form = forms.parse_form(request, body)
        checked = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
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

    def query_int(request: Request, name: str, default: int | None = None) -> int:
        value = request.query_params.get(name)
        if value is None and default is not None:
            return default
        if value is None or not forms.SMALL_NUMBER.fullmatch(value):
            raise Refused(400, "bad-query", f"{name} is missing or not a small whole number")
        return int(value)

    async def voice(
        form: FormData, step: str, work: Callable[[str], str], fallback: Callable[[str], str]
    ) -> Response:
        """One idempotent carrier callback: a retry gets the first answer again."""
        sid = forms.call_sid(form)
        landing = None
        try:
            try:
                async with lock:
                    try:
                        seen = line.reply(sid, step)
                        if seen is not None:
                            return Response(seen, media_type=XML)
                        twiml = command(lambda: work(sid))
                        line.answered(sid, step, twiml)
                    finally:
                        dispatch()
                        landing = line.commit()
            except Refused:
                raise
            except HotlineError as e:  # the core refused (e.g. a status for a call it closed)
                log.warning("%s for %s: %s", step, sid, e.message)
                twiml = fallback(sid)
            except Exception:  # a caller on the line must never get a 500
                log.exception("%s for %s failed", step, sid)
                twiml = fallback(sid)
            return Response(twiml, media_type=XML)
        finally:  # the reply waits (briefly) for what the callback changed to land
            await committed(landing)

    def urls(sid: str, step: int) -> dict[str, str]:
        g = line.generation.get(sid, 1)
        return {
            "gather_url": url("/voice/gather", sid=sid, g=g, step=step),
            "wait_url": url("/voice/wait", sid=sid, n=1),
            "voicemail_url": url("/voice/voicemail", sid=sid),
        }

    def lookup_url(sid: str, n: int) -> str:
        ticket, _ = line.looking[sid]
        return url("/voice/lookup", sid=sid, g=line.generation.get(sid, 1), t=ticket, n=n)

    def ivr_reply(sid: str, actions: list[Action], step: int) -> str:
        """An IVR step's TwiML; while the step's look-up runs, a short hold instead."""
        if sid in line.looking:
            return looking_up_twiml(actions, continue_url=lookup_url(sid, 1))
        return ivr_twiml(actions, **urls(sid, step))

    def again(retry_url: str) -> Callable[[str], str]:
        """The fallback while a caller is on the line: a short pause, then the same request."""
        return lambda _sid: hold_twiml([], wait_url=retry_url, pause=3)

    voice_errors = responses(400, 403, 413)

    @app.post("/voice/incoming", responses=voice_errors)
    async def incoming(request: Request) -> Response:
        form = await signed_form(request)
        caller, called = forms.text(form, "From"), forms.text(form, "To")

        def work(sid: str) -> str:
            try:
                actions = line.incoming(sid, caller, called)
            except UnknownNumber:
                log.warning("call %s to an unknown number %s", sid, forms.short(called))
                return message_twiml("Sorry, this number is not in service. Goodbye.")
            return ivr_reply(sid, actions, 1)

        return await voice(form, "incoming", work, again(url("/voice/incoming")))

    @app.post("/voice/gather", responses=voice_errors)
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

        def work(call_sid: str) -> str:
            if call_sid == sid and sid in line.resumable:  # the server restarted mid-IVR
                return ivr_reply(sid, line.resume_ivr(sid), 1)
            if (
                call_sid != sid
                or line.inputs.get(sid) != step - 1
                or line.generation.get(sid) != g
                or sid in line.looking
            ):
                raise Refused(409, "out-of-order", f"step {step} of call {sid} is not the next one")
            return ivr_reply(sid, line.ivr_input(sid, event), step + 1)

        retry = url("/voice/gather", sid=sid, g=g, step=step, **({"timeout": 1} if timeout else {}))
        return await voice(form, f"gather:{g}:{step}", work, again(retry))

    @app.post("/voice/lookup", responses=voice_errors)
    async def lookup(request: Request) -> Response:
        """A caller on hold while their record look-up runs (`t`: which look-up, `n`: the
        how-manieth time they came back): the flow's answer once it is in, else more hold."""
        form = await signed_form(request)
        sid, g = query_sid(request), query_int(request, "g", 1)
        ticket, n = query_int(request, "t"), query_int(request, "n")
        here = url("/voice/lookup", sid=sid, g=g, t=ticket, n=n)

        def work(call_sid: str) -> str:
            if call_sid == sid and sid in line.resumable:  # the server restarted meanwhile
                return ivr_reply(sid, line.resume_ivr(sid), 1)
            if call_sid != sid or line.generation.get(sid) != g or not line.waiting_on_lookup(sid):
                raise Refused(409, "out-of-order", f"look-up {ticket} of call {sid} is not current")
            actions = line.looked_up(sid)
            if actions is None:
                return looking_up_twiml([], continue_url=lookup_url(sid, n + 1))
            return ivr_reply(sid, actions, line.inputs[sid] + 1)

        return await voice(form, f"lookup:{g}:{ticket}:{n}", work, again(here))

    def wait_url(sid: str, n: int, a: int) -> str:
        return url("/voice/wait", sid=sid, n=n, **({"a": a} if a else {}))

    @app.post("/voice/wait", responses=voice_errors)
    async def wait(request: Request) -> Response:
        """The hold loop; `a` counts the times the caller came back to it after a connect
        to an agent failed, so each round's steps are told apart."""
        form = await signed_form(request)
        sid, n, a = query_sid(request), query_int(request, "n"), query_int(request, "a", 0)
        nxt = wait_url(sid, n + 1, a)

        def work(_sid: str) -> str:
            state, prompts = line.hold(sid)
            if state == "waiting":
                return hold_twiml(prompts, wait_url=nxt, pause=HOLD_PAUSE)
            if state == "offer-callback":
                return hold_twiml(
                    prompts, wait_url=nxt, pause=HOLD_PAUSE,
                    gather_url=url("/voice/hold-key", sid=sid, n=n, **({"a": a} if a else {})),
                )  # fmt: skip
            if state == "connecting":  # the REST redirect to the agent is on its way
                return hold_twiml([], wait_url=nxt, pause=2)
            if state == "voicemail":
                return ivr_twiml([Record(120), Hangup()], **{**urls(sid, 0), "wait_url": nxt})
            return message_twiml("Thank you for calling. Goodbye.")

        step = f"wait:{a}:{n}" if a else f"wait:{n}"
        return await voice(form, step, work, again(wait_url(sid, n, a)))

    @app.post("/voice/hold-key", responses=voice_errors)
    async def hold_key(request: Request) -> Response:
        """The caller's answer to the callback offer in the hold loop (1 = call me back)."""
        form = await signed_form(request)
        sid, n, a = query_sid(request), query_int(request, "n"), query_int(request, "a", 0)
        keyed = forms.digits(form)

        def work(_sid: str) -> str:
            if keyed == "1" and (confirmation := line.take_callback(sid)) is not None:
                return ivr_twiml([*confirmation, Hangup()], **urls(sid, 0))
            return hold_twiml([], wait_url=wait_url(sid, n + 1, a), pause=1)

        step = f"hold-key:{a}:{n}" if a else f"hold-key:{n}"
        return await voice(form, step, work, again(wait_url(sid, n, a)))

    @app.post("/voice/status", responses=voice_errors)
    async def status(request: Request) -> Response:
        """`?call=` names the caller's call when this is the dial-back leg of a callback."""
        form = await signed_form(request)
        call = query_sid(request, "call") if "call" in request.query_params else None
        call_status = forms.status(form)

        def work(sid: str) -> str:
            line.status(call or sid, call_status, dial_back=call is not None)
            return "<Response/>"

        return await voice(form, f"status:{call_status}", work, lambda _sid: "<Response/>")

    @app.post("/voice/dial-done", responses=voice_errors)
    async def dial_done(request: Request) -> Response:
        """The end of the bridge to an agent (`a`: which connect of the call). If the
        agent's phone was not answered, the caller goes back to the hold loop."""
        form = await signed_form(request)
        sid, a = query_sid(request), query_int(request, "a", 1)
        dial_status = forms.status(form, "DialCallStatus")

        def work(_sid: str) -> str:
            if line.dial_done(sid, dial_status, a):
                return hold_twiml([], wait_url=wait_url(sid, 1, a), pause=1)
            return message_twiml("Goodbye.")

        return await voice(
            form, f"dial-done:{a}", work, lambda _s: hold_twiml([], wait_url=wait_url(sid, 1, a),
                                                                 pause=1)
        )  # fmt: skip

    @app.post("/voice/agent-leg", responses=voice_errors)
    async def agent_leg(request: Request) -> Response:
        """Status callbacks of the agent's leg of a bridge: its answer means the caller is
        talking to someone (kept, so a restart knows the call was bridged)."""
        form = await signed_form(request)
        sid, a = query_sid(request), query_int(request, "a", 1)
        leg_status = forms.status(form)

        def work(_leg: str) -> str:
            if leg_status in ("in-progress", "answered"):
                line.agent_leg_answered(sid, a)
            return "<Response/>"

        # the form's CallSid is the agent's leg: its own id, one reply per status
        return await voice(form, f"agent-leg:{leg_status}", work, lambda _s: "<Response/>")

    @app.post("/voice/voicemail", responses=voice_errors)
    async def voicemail(request: Request) -> Response:
        form = await signed_form(request)
        recording = forms.text(form, "RecordingUrl", max_length=2048)
        if not recording.startswith(("https://", "http://")):
            raise Refused(400, "bad-body", "RecordingUrl is not an http(s) URL")

        def work(call_sid: str) -> str:
            line.voicemail(call_sid, recording)
            return "<Response><Hangup/></Response>"

        # a failure is retried by the carrier (503), so the recording's URL is never lost
        return await voice(form, "voicemail", work, fallback=_retry_later)

    probing: list[asyncio.Future[bool]] = []  # the one schema check under way, if any

    async def probe() -> bool:
        """Whether the schema is current, asking the database at most once at a time (a
        stalled database must not tie up a thread per health check)."""
        if not probing or probing[0].done():
            probing[:] = [asyncio.ensure_future(asyncio.to_thread(is_current, line.store.engine))]
        return await asyncio.wait_for(asyncio.shield(probing[0]), HEALTH_TIMEOUT)

    @app.get("/healthz", responses=responses(503))
    async def healthz() -> JSONResponse:
        """Ready to take calls: the database answers with the current schema, its file is
        the one we opened, and writes are landing."""
        writes = asdict(line.health.snapshot(line.writer.waiting()))
        body: dict[str, Any] = {
            "flow": line.line_flow.flow.name,
            "version": line.line_flow.flow.version,
            "writes": {k: v for k, v in writes.items() if k != "healthy"},
            "agent_sockets": len(sockets),
        }
        problem = database_file.problem() if database_file is not None else None
        if problem is not None:
            file_alarm(logging.ERROR, "%s while the server runs: writes are not reaching "
                       "it; restore the file or restart the server", problem)  # fmt: skip
            return JSONResponse({**body, "ready": False, "database": problem}, status_code=503)
        try:
            current = await probe()
        except TimeoutError:
            database = f"did not answer within {HEALTH_TIMEOUT:g} s"
            return JSONResponse({**body, "ready": False, "database": database}, status_code=503)
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(
                {**body, "ready": False, "database": type(e).__name__}, status_code=503
            )
        ready = current and writes["healthy"]
        body |= {"ready": ready, "database": "ok", "schema": "current" if current else "old"}
        return JSONResponse(body, status_code=200 if ready else 503)

    # -- the agents' API

    bearer = HTTPBearer(auto_error=False, description="A token from `hotline agent-token`")

    def agent_of(token: str | None) -> str:
        if not token:
            raise Refused(401, "no-token", "send Authorization: Bearer <agent token>")
        agent_id = line.store.agent_for_token(token)
        if agent_id is None:
            raise Refused(401, "bad-token", "unknown or revoked agent token")
        return agent_id

    # (annotations are strings here: FastAPI cannot see names local to create_app in them)
    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        return agent_of(credentials.credentials if credentials is not None else None)

    async def agent_call(fn: Callable[[], Awaitable[Any] | Any]) -> JSONResponse:
        try:
            result = await use_case(fn)
        except (UnknownAgent, UnknownCall) as e:
            raise Refused(404, e.error_id, e.message) from None
        except (InvalidTransition, RoutingError) as e:
            raise Refused(409, e.error_id, e.message) from None
        return JSONResponse(result if isinstance(result, dict) else {"ok": True})

    @app.get("/api/agent/me", responses=AGENT_ERRORS)
    async def me(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.agent_state(agent_id))

    @app.post("/api/agent/login", responses=AGENT_ERRORS)
    async def login(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.login(agent_id))

    @app.post("/api/agent/ready", responses=AGENT_ERRORS)
    async def ready(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.set_ready(agent_id, True))

    @app.post("/api/agent/not-ready", responses=AGENT_ERRORS)
    async def not_ready(reason: str = "break", agent_id: str = Depends(authorised)) -> JSONResponse:
        if forms.CONTROL.search(reason) or not reason or len(reason) > 32:
            raise Refused(400, "bad-request", "reason is 1 to 32 characters, no control ones")
        return await agent_call(lambda: line.set_ready(agent_id, False, reason))

    @app.post("/api/agent/logout", responses=AGENT_ERRORS)
    async def logout(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.logout(agent_id))

    @app.post("/api/agent/calls/{call_sid}/accept", responses=AGENT_ERRORS)
    async def accept(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.accept(agent_id, known_sid(call_sid)))

    @app.post("/api/agent/calls/{call_sid}/decline", responses=AGENT_ERRORS)
    async def decline(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.decline(agent_id, known_sid(call_sid)))

    def known_sid(call_sid: str) -> str:
        if not forms.CALL_SID.fullmatch(call_sid):
            raise Refused(400, "bad-request", f"{forms.short(call_sid)} is not a call id")
        return call_sid

    @app.websocket("/api/agent/ws")
    async def agent_socket(ws: WebSocket, token: str | None = None) -> None:
        try:
            agent_id = await asyncio.to_thread(agent_of, token)  # the store, off the loop
        except Refused:
            await ws.close(code=4401)
            return
        try:
            state = await use_case(lambda: line.agent_state(agent_id))
        except RoutingError:  # a token of an agent no longer on this line
            await ws.close(code=4404)
            return
        await ws.accept()
        await sockets.serve(AgentSocket(agent_id, token or "", ws), {"type": "hello", **state})

    return app


def _retry_later(_sid: str) -> str:
    raise Refused(503, "store-unavailable", "the recording could not be kept; retry")
