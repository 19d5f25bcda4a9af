"""The FastAPI app: carrier webhooks (TwiML), the agents' REST and websocket API, /healthz.

Only this module turns errors into HTTP statuses. The carrier never sees a 500: a bad
signature is a 403, a malformed body a 400, and anything that goes wrong while a caller is
on the line answers with TwiML that keeps them where they were (in the queue, with a
pause and a retry) rather than dropping the call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from hotline.errors import HotlineError, InvalidTransition, RoutingError, UnknownAgent
from hotline.ivr.interpreter import Hangup, Record
from hotline.service.live import (
    Connect,
    DialBack,
    LiveLine,
    Offer,
    UnknownNumber,
    Withdraw,
    to_input,
)
from hotline.service.settings import Settings
from hotline.store.db import StoreUnavailable, is_current
from hotline.telephony.control import CallControl
from hotline.telephony.twiml import hold_twiml, ivr_twiml, message_twiml

log = logging.getLogger("hotline.web")
MAX_BODY = 64 * 1024  # carrier callbacks are a few hundred bytes
XML = "application/xml"
HOLD_PAUSE = 15


class _Refused(Exception):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        self.status, self.error_id, self.message = status, error_id, message


def create_app(*, settings: Settings, line: LiveLine, control: CallControl) -> FastAPI:
    """The app for one line. Nothing is created at import; `hotline serve` calls this."""
    if settings.twilio_auth_token is None:
        raise HotlineError("HOTLINE_TWILIO_AUTH_TOKEN is not set: webhooks could not be verified")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    public = settings.public_url.rstrip("/")
    lock = asyncio.Lock()
    sockets: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
    background: set[asyncio.Task[None]] = set()

    def dispatch() -> None:
        """Carry out what the core asked for (under the lock; slow work in threads)."""
        commands, line.outbox[:] = list(line.outbox), []
        for c in commands:
            if isinstance(c, Offer | Withdraw):
                message = {"type": "offer" if isinstance(c, Offer) else "withdrawn", **asdict(c)}
                for q in sockets.get(c.agent_id, ()):
                    q.put_nowait(message)
            elif isinstance(c, Connect | DialBack):
                task = asyncio.get_running_loop().create_task(_connect(c))
                background.add(task)
                task.add_done_callback(background.discard)

    async def _connect(c: Connect | DialBack) -> None:
        try:  # any failure is logged; the agent sees the call did not connect
            if isinstance(c, DialBack):
                status_url = f"{public}/voice/status?call={c.call_sid}"
                await asyncio.to_thread(
                    control.dial_back, c.number, settings.line_number, c.agent_id, status_url
                )
            else:
                await asyncio.to_thread(control.connect, c.call_sid, c.agent_id)
        except Exception as e:  # noqa: BLE001 - a carrier failure must not kill the server
            log.error("could not connect call %s to %s: %s", c.call_sid, c.agent_id, e)

    async def use_case(fn: Callable[[], Any]) -> Any:
        async with lock:
            try:
                return fn()
            finally:
                dispatch()
                persist()

    def persist() -> None:
        """Write what the line buffered; if the store is down it stays buffered (and the
        caller is served regardless): the ticker tries again."""
        try:
            line.flush()
        except StoreUnavailable as e:
            log.error("store unavailable, %d writes waiting: %s", len(line.writes), e.message)

    # Replies given in this process, so a retry is answered alike even while the store is
    # down; the store keeps them across restarts.
    replies: OrderedDict[tuple[str, str], str] = OrderedDict()

    def remember(sid: str, step: str, twiml: str) -> None:
        replies[(sid, step)] = twiml
        if len(replies) > 100_000:
            replies.popitem(last=False)

    def stored_reply(sid: str, step: str) -> str | None:
        try:
            return line.store.reply_for(sid, step)
        except StoreUnavailable:
            return None

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.2)
            try:
                await use_case(line.tick)
            except Exception:  # the ticker must outlive any one failure
                log.exception("timer tick failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(ticker())
        yield
        task.cancel()

    app = FastAPI(title="Hotline", lifespan=lifespan, docs_url="/api/docs")

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_r: Request, e: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"error_id": e.error_id, "message": e.message}, status_code=503)

    @app.exception_handler(_Refused)
    async def _refused(_r: Request, e: _Refused) -> JSONResponse:
        return JSONResponse({"error_id": e.error_id, "message": e.message}, status_code=e.status)

    async def signed_form(request: Request) -> FormData:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            raise _Refused(413, "body-too-large", f"a callback is at most {MAX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise _Refused(413, "body-too-large", f"a callback is at most {MAX_BODY} bytes")
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - any parse failure is the sender's fault
            raise _Refused(400, "bad-body", "the body is not a form") from None
        url = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params = {k: str(v) for k, v in form.multi_items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, params, signature):
            raise _Refused(403, "bad-signature", "missing or wrong X-Twilio-Signature")
        return form

    def field(form: FormData, name: str) -> str:
        value = form.get(name)
        if not isinstance(value, str) or not value or len(value) > 256:
            raise _Refused(400, "bad-body", f"{name} is missing or malformed")
        return value

    async def voice(
        form: FormData, step: str, work: Callable[[str], str], fallback: Callable[[str], str]
    ) -> Response:
        """One idempotent carrier callback: a retry gets the first answer again."""
        sid = field(form, "CallSid")
        try:
            async with lock:
                try:
                    seen = replies.get((sid, step)) or stored_reply(sid, step)
                    if seen is not None:
                        return Response(seen, media_type=XML)
                    twiml = work(sid)
                    remember(sid, step, twiml)
                    line.buffer_reply(sid, step, twiml)
                finally:
                    dispatch()
                    persist()
        except _Refused:
            raise
        except HotlineError as e:  # the core refused (e.g. a status for a call it closed)
            log.warning("%s for %s: %s", step, sid, e.message)
            twiml = fallback(sid)
        except Exception:  # a caller on the line must never get a 500
            log.exception("%s for %s failed", step, sid)
            twiml = fallback(sid)
        return Response(twiml, media_type=XML)

    def urls(sid: str, step: int) -> dict[str, str]:
        g = line.generation.get(sid, 1)
        return {
            "gather_url": f"{public}/voice/gather?sid={sid}&g={g}&step={step}",
            "wait_url": f"{public}/voice/wait?sid={sid}&n=1",
            "voicemail_url": f"{public}/voice/voicemail?sid={sid}",
        }

    def again(url: str) -> Callable[[str], str]:
        """The fallback while a caller is on the line: a short pause, then the same request."""
        return lambda _sid: hold_twiml([], wait_url=url, pause=3)

    @app.post("/voice/incoming")
    async def incoming(request: Request) -> Response:
        form = await signed_form(request)

        def work(sid: str) -> str:
            try:
                actions = line.incoming(sid, field(form, "From"), field(form, "To"))
            except UnknownNumber:
                log.warning("call %s to an unknown number %s", sid, form.get("To"))
                return message_twiml("Sorry, this number is not in service. Goodbye.")
            return ivr_twiml(actions, **urls(sid, 1))

        return await voice(form, "incoming", work, again(f"{public}/voice/incoming"))

    @app.post("/voice/gather")
    async def gather(
        request: Request, sid: str, step: int, g: int = 1, timeout: int = 0
    ) -> Response:
        form = await signed_form(request)
        confidence = form.get("Confidence")
        try:
            conf = float(confidence) if isinstance(confidence, str) else None
        except ValueError:
            conf = None
        digits, speech = form.get("Digits"), form.get("SpeechResult")
        event = to_input(
            digits if isinstance(digits, str) else None,
            speech if isinstance(speech, str) else None,
            conf,
            bool(timeout),
        )

        def work(call_sid: str) -> str:
            if call_sid == sid and sid in line.resumable:  # the server restarted mid-IVR
                return ivr_twiml(line.resume_ivr(sid), **urls(sid, 1))
            if call_sid != sid or line.inputs.get(sid) != step - 1 or line.generation.get(sid) != g:
                raise _Refused(
                    409, "out-of-order", f"step {step} of call {sid} is not the next one"
                )
            return ivr_twiml(line.ivr_input(sid, event), **urls(sid, step + 1))

        url = f"{public}/voice/gather?sid={sid}&g={g}&step={step}" + (
            "&timeout=1" if timeout else ""
        )
        return await voice(form, f"gather:{g}:{step}", work, again(url))

    @app.post("/voice/wait")
    async def wait(request: Request, sid: str, n: int) -> Response:
        form = await signed_form(request)
        nxt = f"{public}/voice/wait?sid={sid}&n={n + 1}"

        def work(_sid: str) -> str:
            state, prompts = line.hold(sid)
            if state == "waiting":
                return hold_twiml(prompts, wait_url=nxt, pause=HOLD_PAUSE)
            if state == "offer-callback":
                return hold_twiml(
                    prompts, wait_url=nxt, pause=HOLD_PAUSE,
                    gather_url=f"{public}/voice/hold-key?sid={sid}&n={n}",
                )  # fmt: skip
            if state == "connecting":  # the REST redirect to the agent is on its way
                return hold_twiml([], wait_url=nxt, pause=2)
            if state == "voicemail":
                return ivr_twiml([Record(120), Hangup()], **{**urls(sid, 0), "wait_url": nxt})
            return message_twiml("Thank you for calling. Goodbye.")

        return await voice(form, f"wait:{n}", work, again(f"{public}/voice/wait?sid={sid}&n={n}"))

    @app.post("/voice/hold-key")
    async def hold_key(request: Request, sid: str, n: int) -> Response:
        """The caller's answer to the callback offer in the hold loop (1 = call me back)."""
        form = await signed_form(request)
        digits = form.get("Digits")

        def work(_sid: str) -> str:
            if digits == "1" and (confirmation := line.take_callback(sid)) is not None:
                return ivr_twiml([*confirmation, Hangup()], **urls(sid, 0))
            return hold_twiml([], wait_url=f"{public}/voice/wait?sid={sid}&n={n + 1}", pause=1)

        return await voice(
            form, f"hold-key:{n}", work, again(f"{public}/voice/wait?sid={sid}&n={n}")
        )

    @app.post("/voice/status")
    async def status(request: Request, call: str | None = None) -> Response:
        """`?call=` names the caller's call when this is the dial-back leg of a callback."""
        form = await signed_form(request)
        call_status = field(form, "CallStatus")

        def work(sid: str) -> str:
            line.status(call or sid, call_status, dial_back=call is not None)
            return "<Response/>"

        return await voice(form, f"status:{call_status}", work, lambda _sid: "<Response/>")

    @app.post("/voice/dial-done")
    async def dial_done(request: Request, sid: str) -> Response:
        form = await signed_form(request)
        return await voice(
            form,
            "dial-done",
            lambda _s: message_twiml("Goodbye."),
            lambda _s: "<Response><Hangup/></Response>",
        )

    @app.post("/voice/voicemail")
    async def voicemail(request: Request, sid: str) -> Response:
        form = await signed_form(request)

        def work(call_sid: str) -> str:
            line.store.append_event(
                call_sid, line.wall(), "voicemail", {"recording": str(form.get("RecordingUrl", ""))}
            )
            return "<Response><Hangup/></Response>"

        return await voice(form, "voicemail", work, lambda _s: "<Response><Hangup/></Response>")

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            current = await asyncio.to_thread(is_current, line.store.engine)
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"ready": False, "database": type(e).__name__}, status_code=503)
        body = {
            "ready": current,
            "database": "ok",
            "schema": "current" if current else "old",
            "flow": line.line_flow.flow.name,
            "version": line.line_flow.flow.version,
        }
        return JSONResponse(body, status_code=200 if current else 503)

    # -- the agents' API

    def agent_of(token: str | None) -> str:
        if not token:
            raise _Refused(401, "no-token", "send Authorization: Bearer <agent token>")
        agent_id = line.store.agent_for_token(token)
        if agent_id is None:
            raise _Refused(401, "bad-token", "unknown or revoked agent token")
        return agent_id

    def bearer(request: Request) -> str:
        header = request.headers.get("Authorization", "")
        return agent_of(
            header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        )

    async def agent_call(fn: Callable[[], Awaitable[Any] | Any]) -> JSONResponse:
        try:
            result = await use_case(fn)
        except UnknownAgent as e:
            raise _Refused(404, e.error_id, e.message) from None
        except (InvalidTransition, RoutingError) as e:
            raise _Refused(409, e.error_id, e.message) from None
        return JSONResponse(result if isinstance(result, dict) else {"ok": True})

    @app.get("/api/agent/me")
    async def me(request: Request) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.agent_state(agent_id))

    @app.post("/api/agent/login")
    async def login(request: Request) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.login(agent_id))

    @app.post("/api/agent/ready")
    async def ready(request: Request) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.set_ready(agent_id, True))

    @app.post("/api/agent/not-ready")
    async def not_ready(request: Request, reason: str = "break") -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.set_ready(agent_id, False, reason[:32]))

    @app.post("/api/agent/logout")
    async def logout(request: Request) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.logout(agent_id))

    @app.post("/api/agent/calls/{call_sid}/accept")
    async def accept(request: Request, call_sid: str) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.accept(agent_id, call_sid))

    @app.post("/api/agent/calls/{call_sid}/decline")
    async def decline(request: Request, call_sid: str) -> JSONResponse:
        agent_id = bearer(request)
        return await agent_call(lambda: line.decline(agent_id, call_sid))

    @app.websocket("/api/agent/ws")
    async def agent_socket(ws: WebSocket, token: str | None = None) -> None:
        try:
            agent_id = agent_of(token)
        except _Refused:
            await ws.close(code=4401)
            return
        await ws.accept()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sockets.setdefault(agent_id, set()).add(queue)
        try:
            await ws.send_json(
                {"type": "hello", **(await use_case(lambda: line.agent_state(agent_id)))}
            )
            while True:
                await ws.send_json(await queue.get())
        except (WebSocketDisconnect, asyncio.CancelledError):  # gone, or the server stops
            pass
        finally:
            sockets[agent_id].discard(queue)

    return app
