"""The agents' REST API and websocket: for the role `agent`, by an agent's account (a
browser session) or a token from `hotline agent-token` (bots); see `web.auth`."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from hotline.errors import (
    InvalidTransition,
    LineStopped,
    LookupNotAudited,
    PolicyError,
    RoutingError,
    UnknownAgent,
    UnknownCall,
)
from hotline.records.desk import REFERENCE_MAX, Asker, RecordDesk
from hotline.service.settings import Settings
from hotline.web import forms
from hotline.web.auth import Access, Who, client_address, needs
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime
from hotline.web.sockets import MOVED, MOVED_REASON, AgentSocket

AGENT_ERRORS = responses(400, 401, 403, 404, 409, 503)
NOT_IN_NOTES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class WrapUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9-]*$")
    notes: str = Field(default="", max_length=2000)
    ready: bool = True
    reason: str = Field(default="break", min_length=1, max_length=32)

    @field_validator("notes")
    @classmethod
    def _notes(cls, v: str) -> str:
        """Lines and tabs, no other control or direction-overriding characters; CRLF as LF."""
        if NOT_IN_NOTES.search(v):
            raise ValueError("control characters are not allowed (lines and tabs are)")
        return v.replace("\r\n", "\n").replace("\r", "\n")

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if forms.CONTROL.search(v) or "\n" in v or "\r" in v or "\t" in v:
            raise ValueError("one line with no control characters")
        return v


class ThenBody(BaseModel):
    """What to be once the wrap-up's time runs out."""

    model_config = ConfigDict(extra="forbid")
    ready: StrictBool
    reason: str = Field(default="break", min_length=1, max_length=32,
                        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")  # fmt: skip


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hold: StrictBool


class TransferBody(BaseModel):
    """To a queue (cold), or to an agent: cold, or warm (consult them first)."""

    model_config = ConfigDict(extra="forbid")
    queue: str = Field(default="", max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$")
    agent: str = Field(default="", max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$")
    warm: StrictBool = False


class FinishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complete: StrictBool


class InterpreterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: StrictBool


class LookupBody(BaseModel):
    """A record to look up on the agent's call: its type, its reference (a case number)
    and the purpose the agent states (one of the disclosure policy's)."""

    model_config = ConfigDict(extra="forbid")
    record_type: str = Field(default="case", max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
    reference: str = Field(min_length=1, max_length=REFERENCE_MAX)
    purpose: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str) -> str:
        if forms.CONTROL.search(v) or v != v.strip():
            raise ValueError("one line with no control characters or surrounding spaces")
        return v


ANSWERS_CALLS = ("agent",)
TOKEN_TTL = 3600  # seconds a browser phone's token is good for (the SDK asks for a new one)


def phone_token(settings: Settings, agent_id: str) -> dict[str, Any]:
    """A voice access token (the `twilio` library's AccessToken with a VoiceGrant) for the
    agent's browser phone, and where it signals if not the SDK's default (`signal_url`:
    the carrier emulator's); 404 when no API key is set (the agents use phones then)."""
    key, secret = settings.twilio_api_key, settings.twilio_api_secret
    app = settings.twilio_twiml_app_sid
    if key is None or secret is None:
        raise Refused(404, "no-browser-phone", "no browser phone is set up "
                      "(HOTLINE_TWILIO_API_KEY and HOTLINE_TWILIO_API_SECRET)")  # fmt: skip
    token = AccessToken(settings.twilio_account_sid, key, secret.get_secret_value(),
                        identity=agent_id, ttl=TOKEN_TTL)  # fmt: skip
    token.add_grant(VoiceGrant(incoming_allow=True, outgoing_application_sid=app))
    signal = {"signal_url": settings.twilio_signal_url} if settings.twilio_signal_url else {}
    return {"token": token.to_jwt(), "identity": agent_id, "ttl_seconds": TOKEN_TTL, **signal}


def agents_router(rt: LineRuntime, access: Access, desk: RecordDesk | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/agent", responses=AGENT_ERRORS)
    line = rt.line

    caller = needs(access, ANSWERS_CALLS)

    def agent_of(who: Who) -> str:
        if who.agent_id is None:
            raise Refused(403, "wrong-role", f"{who.name}'s account names no agent")
        return who.agent_id

    async def authorised(who: Who = Depends(caller)) -> str:
        # (async: it reads nothing, and a dependency that is a plain def runs in a thread)
        return agent_of(who)

    async def for_agent(fn: Callable[[], Awaitable[Any] | Any]) -> Any:
        """Run `fn` as a use case; what the line refuses is a 404 or a 409 with why."""
        try:
            return await rt.use_case(fn)
        except (UnknownAgent, UnknownCall) as e:
            raise Refused(404, e.error_id, e.message) from None
        except (InvalidTransition, RoutingError) as e:
            raise Refused(409, e.error_id, e.message) from None

    async def agent_call(fn: Callable[[], Awaitable[Any] | Any]) -> JSONResponse:
        result = await for_agent(fn)
        return JSONResponse(result if isinstance(result, dict) else {"ok": True})

    async def meant_for(  # (async: a plain def would run in a thread)
        call: str | None = Query(None, description="The call the action is meant for (the "
                                 "desktop sends it): refused (409) if the agent's call is "
                                 "another by then."),
    ) -> str | None:  # fmt: skip
        if call is not None and not forms.CALL_SID.fullmatch(call):
            raise Refused(400, "bad-request", f"{forms.short(call)} is not a call id")
        return call

    def current_call(agent_id: str) -> str | None:
        """The call the agent is on, or else the one they wrap up."""
        sid: str | None = line.agent_state(agent_id)["call_sid"]
        if sid is None and (wrapping := line.wrap_up_context(agent_id)) is not None:
            sid = str(wrapping["call_sid"])
        return sid

    def still(agent_id: str, call: str | None) -> None:
        """Refused (409) if the agent's call (`current_call`) is another than `call`, when
        named: a request sent again (the desktop's, after a takeover) does not act on the
        call the agent is on or wraps up by then. With no call of theirs known (free, or
        wrapping up a callback nobody answered) the action is the judge: one that needs a
        call refuses itself."""
        if call is not None and (now := current_call(agent_id)) is not None and now != call:
            raise Refused(409, "not-this-call", f"call {call} is no longer yours (it ended, "
                          "or passed on): nothing was done")  # fmt: skip

    def on(agent_id: str, call: str | None, act: Callable[[], Any]) -> Callable[[], Any]:
        """`act` on the agent's call, if it is still `call` (when named: `still`)."""

        def checked() -> Any:
            still(agent_id, call)
            return act()

        return checked

    def known_sid(call_sid: str) -> str:
        if not forms.CALL_SID.fullmatch(call_sid):
            raise Refused(400, "bad-request", f"{forms.short(call_sid)} is not a call id")
        return call_sid

    @router.get("/me")
    async def me(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.agent_state(agent_id))

    @router.get("/today")
    async def today(agent_id: str = Depends(authorised)) -> JSONResponse:
        """The agent's own figures for the day, over every line: calls answered, talk time
        of those that ended and its average per call."""
        now = line.wall()
        days = [s.agent_today(agent_id, now) for s in rt.stats.values()]
        done = sum(d.completed for d in days)
        talk = sum(d.talk_seconds for d in days)
        average = round(talk / done, 1) if done else None
        return JSONResponse({"answered": sum(d.answered for d in days), "completed": done,
                             "talk_seconds": round(talk, 1),
                             "average_talk_seconds": average})  # fmt: skip

    @router.post("/login")
    async def login(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.login(agent_id))

    @router.post("/ready")
    async def ready(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.set_ready(agent_id, True))

    @router.post("/not-ready")
    async def not_ready(reason: str = "break", agent_id: str = Depends(authorised)) -> JSONResponse:
        if forms.CONTROL.search(reason) or not reason or len(reason) > 32:
            raise Refused(400, "bad-request", "reason is 1 to 32 characters, no control ones")
        return await agent_call(lambda: line.set_ready(agent_id, False, reason))

    @router.post("/logout")
    async def logout(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.logout(agent_id))

    @router.post("/wrap-up")
    async def wrap_up(
        body: WrapUpBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """Close the call being wrapped up with a disposition code of its line and notes,
        then be available (`ready`) or not ready for `reason`. Past its time limit the
        wrap-up has ended already (its code is "timeout"): 409."""
        b = body
        return await agent_call(on(agent_id, call, lambda: line.wrap_up(
            agent_id, b.code, b.notes, ready=b.ready, reason=b.reason)))  # fmt: skip

    @router.post("/after-wrap-up")
    async def after_wrap_up(
        body: ThenBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """The state to go to if the wrap-up's time runs out before the call is closed
        (it is then closed with the code "timeout"): available, or not ready for a reason."""
        return await agent_call(on(agent_id, call, lambda: line.after_wrap_up(
            agent_id, body.ready, body.reason)))  # fmt: skip

    @router.post("/hold")
    async def hold(
        body: HoldBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """Put the caller on hold (they hear music) or take them off it."""
        return await agent_call(on(agent_id, call, lambda: line.hold_call(agent_id, body.hold)))

    @router.post("/hang-up")
    async def hang_up(
        agent_id: str = Depends(authorised), call: str | None = Depends(meant_for)
    ) -> JSONResponse:
        """End the call: the caller is hung up on, and the agent goes to wrap-up."""
        return await agent_call(on(agent_id, call, lambda: line.hang_up(agent_id)))

    @router.get("/transfer-targets")
    async def transfer_targets(agent_id: str = Depends(authorised)) -> JSONResponse:
        """Where the agent's call can go: the queues of their line, and its agents who are
        available now (a warm or cold transfer to an agent needs one)."""

        def read() -> dict[str, Any]:
            return line.transfer_targets(agent_id)

        return await agent_call(read)

    @router.post("/transfer")
    async def transfer(
        body: TransferBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """Pass the call to a queue (cold) or to an available agent, cold or warm (the
        caller waits on hold while the agent is consulted, until /transfer/finish)."""
        b = body
        return await agent_call(on(agent_id, call, lambda: line.transfer(
            agent_id, queue=b.queue, to_agent=b.agent, warm=b.warm)))  # fmt: skip

    @router.post("/transfer/finish")
    async def finish_transfer(
        body: FinishBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """End the consultation: the call is the consulted agent's (`complete`), or stays."""
        return await agent_call(
            on(agent_id, call, lambda: line.finish_transfer(agent_id, body.complete))
        )

    @router.post("/interpreter")
    async def interpreter(
        body: InterpreterBody, agent_id: str = Depends(authorised),
        call: str | None = Depends(meant_for),
    ) -> JSONResponse:  # fmt: skip
        """Bring the telephone interpreting service onto the call, or let it go."""
        if body.on and rt.settings.interpreter_number is None:
            raise Refused(409, "no-interpreter", "no interpreting service is set up "
                          "(HOTLINE_INTERPRETER_NUMBER)")  # fmt: skip
        return await agent_call(on(agent_id, call, lambda: line.add_interpreter(agent_id, body.on)))

    @router.post("/voice-token")
    async def voice_token(agent_id: str = Depends(authorised)) -> JSONResponse:
        """An access token for the carrier's JavaScript voice SDK: the browser is the
        agent's phone (`client:ID`), for an hour. 404 for an agent reached at a phone
        number or SIP address (HOTLINE_AGENT_PHONES): the carrier never rings their browser."""
        if agent_id in rt.settings.agent_phones:
            raise Refused(404, "no-browser-phone", "calls reach this agent at the phone set "
                          "for them (HOTLINE_AGENT_PHONES), not in the browser")  # fmt: skip
        return JSONResponse(phone_token(rt.settings, agent_id))

    def records_desk() -> RecordDesk:
        if desk is None:
            raise Refused(404, "no-records", "no record look-ups are set up on this server "
                          "(HOTLINE_RECORDS_POLICY)")  # fmt: skip
        return desk

    @router.get("/records")
    async def record_choices(agent_id: str = Depends(authorised)) -> JSONResponse:
        """The purposes an agent may state (name → description) and the record types."""
        return JSONResponse(records_desk().choices())

    @router.post("/records/lookup")
    async def look_up(body: LookupBody, request: Request, who: Who = Depends(caller),
                      call: str | None = Depends(meant_for)) -> JSONResponse:  # fmt: skip
        """Look a record up for the call the agent is on, for a stated purpose: the fields
        the disclosure policy allows, every other one withheld with why; audited (503 and
        nothing shown if the audit entry cannot be written)."""
        agent_id, records = agent_of(who), records_desk()

        def on_call() -> tuple[str, object]:
            still(agent_id, call)
            state = line.agent_state(agent_id)
            sid = state["call_sid"]
            if state["state"] != "on_call" or sid is None:
                raise InvalidTransition("look a record up during a call you are on")
            attributes = line.offer_context(sid, agent_id).get("attributes")
            return sid, (attributes or {}).get("verification") if isinstance(
                attributes, dict
            ) else None

        sid, verification = await for_agent(on_call)
        asker = Asker(agent_id, who.name, who.role, source=client_address(request),
                      session=who.audit_session)  # fmt: skip
        try:
            looked = await asyncio.to_thread(
                records.look_up, asker, call_sid=sid, verification=verification,
                record_type=body.record_type, reference=body.reference, purpose=body.purpose,
            )  # fmt: skip
        except PolicyError as e:
            raise Refused(400, e.error_id, e.message) from None
        except LookupNotAudited as e:
            raise Refused(503, e.error_id, e.message) from None
        return JSONResponse(looked.as_json())

    @router.post("/calls/{call_sid}/accept")
    async def accept(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        """Take the offered call: the agent's state, and the call's `legs` (`connected`
        once the agent's phone answered)."""
        sid = known_sid(call_sid)

        def take() -> dict[str, Any]:
            return {**line.accept(agent_id, sid), "legs": line.call_legs(sid)}

        return await agent_call(take)

    @router.post("/calls/{call_sid}/decline")
    async def decline(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.decline(agent_id, known_sid(call_sid)))

    @router.websocket("/ws")
    async def agent_socket(ws: WebSocket) -> None:
        who = await access.for_socket(ws, ANSWERS_CALLS)
        if who is None:
            return
        if who.agent_id is None:
            await ws.close(code=4403)
            return
        agent_id = who.agent_id
        try:
            state = await rt.use_case(lambda: line.agent_state(agent_id))
        except RoutingError:  # a token of an agent no longer on this line
            await ws.close(code=4404)
            return
        except LineStopped:  # (as a socket open as the line stopped: its page connects again)
            await ws.accept()  # (a close before it would read as a refused handshake)
            await ws.close(code=MOVED, reason=MOVED_REASON)
            return
        await ws.accept()
        # read again with no await before the socket is registered, so nothing sent to the
        # agent in between (an offer while the socket was accepted) is missed
        with contextlib.suppress(RoutingError):  # (gone meanwhile: the state read above)
            state = line.floor.agent_state(agent_id)
        hello = {"type": "hello", **state}
        if state["call_sid"] is not None:  # back on a call (or an offer): what it is
            hello["context"] = line.offer_context(state["call_sid"], agent_id)
            hello["legs"] = line.call_legs(state["call_sid"])
        elif state["state"] == "wrap_up" and (wrapping := line.wrap_up_context(agent_id)):
            hello["context"] = wrapping  # (the call has ended: its wrap-up form again)
        await rt.sockets.serve(AgentSocket(agent_id, who.token, ws), hello, only=True)

    return router
