"""Supervisors' live view: `GET /api/stats` (per line: now, today, the last 30 minutes)
and the event stream `/api/events` (a websocket: every event of every line as published,
numbered by `seq`). For the roles that watch the floor: a supervisor's or administrator's
session, or the supervisor's token (`hotline agent-token --supervisor`)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from hotline.errors import AuditError, HotlineError, RoutingError, StoreError, UnknownAgent
from hotline.records.audit import Entry, record_entry
from hotline.service.hub import Published
from hotline.service.roles import SUPERVISOR
from hotline.telephony.control import supervisor_phone
from hotline.web import forms
from hotline.web.agents import phone_token
from hotline.web.auth import Access, Who, client_address, needs
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime
from hotline.web.sockets import AgentSocket

log = logging.getLogger("hotline.web")
UNPUBLISHED = frozenset({"notes"})  # what an agent wrote of a call (sealed where stored)


def message(p: Published) -> dict[str, Any]:
    """An event as the stream sends it, but what only the store keeps (`UNPUBLISHED`)."""
    n = p.news
    data = {k: v for k, v in n.data.items() if k not in UNPUBLISHED}
    return {"type": "event", "seq": p.seq, "line": n.line, "at": n.at, "kind": n.kind,
            "call_sid": n.call_sid, "data": data}  # fmt: skip


WATCHES_FLOOR = ("supervisor", "admin")
AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
REASON_MAX = 96
SuperviseMode = Literal["listen", "whisper", "barge", "leave"]
SUPERVISOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # as a conference label


class Forced(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["not_ready", "available", "offline"]
    reason: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


STREAM = SUPERVISOR  # the sockets that get the event stream are kept under this name


def stats_router(rt: LineRuntime, access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", responses=responses(400, 401, 403, 404, 409, 503))
    line = rt.line
    rt.hub.subscribe(lambda p: rt.sockets.send(STREAM, message(p)))

    watcher = needs(access, WATCHES_FLOOR)

    @router.get("/stats")
    async def stats(_who: Who = Depends(watcher)) -> JSONResponse:
        """The line now (who waits, for how long; agents by state), and its KPIs today and
        over the last 30 minutes, overall and per queue, language and caller type."""

        def read() -> dict[str, Any]:
            now = line.wall()
            lines = {
                name: {"number": s.number, "flow": s.flow.flow.name, "now": line.right_now(name),
                       "languages": [lang.tag for lang in s.scenario.languages],
                       "language_names": {lang.tag: lang.name for lang in s.scenario.languages},
                       "service_target": s.scenario.service_target,
                       **rt.stats[name].report(now)}
                for name, s in line.setups.items()
            }  # fmt: skip
            return {"at": now, "lines": lines}

        return JSONResponse(await rt.use_case(read))

    @router.post("/supervisor/agents/{agent_id}/state")
    async def force_state(agent_id: str, body: Forced, who: Who = Depends(watcher)) -> JSONResponse:
        """Force an agent's state, with a reason (it is recorded with the change)."""
        if not AGENT_ID.fullmatch(agent_id):
            raise Refused(400, "bad-request", f"{forms.short(agent_id)} is not an agent id")
        reason = f"supervisor {who.name}: {body.reason}"[:REASON_MAX]

        def force() -> dict[str, Any]:
            if body.state == "offline":
                return line.logout(agent_id)
            return line.set_ready(agent_id, body.state == "available", reason)

        try:
            return JSONResponse(await rt.use_case(force))
        except UnknownAgent as e:
            raise Refused(404, e.error_id, e.message) from None
        except RoutingError as e:
            raise Refused(409, e.error_id, e.message) from None

    @router.post("/supervisor/calls/{call_sid}/{mode}")
    async def supervise(
        call_sid: str, mode: SuperviseMode, request: Request, who: Who = Depends(watcher)
    ) -> JSONResponse:
        """Join an agent's call: `listen` (nobody hears you), `whisper` (only the agent
        hears you), `barge` (both do); `leave` it. Audited first (503, and nothing done,
        if the entry cannot be written). The agent's desktop shows it and the call's
        events record it. 409 if the call is not on an agent (it just ended)."""
        if not forms.CALL_SID.fullmatch(call_sid):
            raise Refused(400, "bad-request", f"{forms.short(call_sid)} is not a call id")
        if not SUPERVISOR_NAME.fullmatch(who.name):
            raise Refused(409, "bad-name", "this account's name cannot be dialled into a call")

        def entry(outcome: str = "ok", **more: str) -> Entry:  # (the audit trail's clock)
            return Entry(at=access.now(), actor=who.name[:128], role=who.role,
                         action="call.supervise", object=f"call:{call_sid}", outcome=outcome,
                         session=who.audit_session, source=client_address(request),
                         details={"mode": mode, **more})  # fmt: skip

        try:
            await asyncio.to_thread(record_entry, line.store.engine, entry())
        except (AuditError, StoreError, SQLAlchemyError) as e:
            log.error("a supervisor's %s of call %s was refused: its audit entry could not "
                      "be written (%s)", mode, call_sid, type(e).__name__)  # fmt: skip
            raise Refused(503, "not-audited", "this could not be written to the audit trail, "
                          "so it was not done; try again") from None  # fmt: skip

        async def not_done(outcome: str, why: str) -> None:
            """The trail says it was asked for: and that it was not done."""
            try:
                await asyncio.to_thread(record_entry, line.store.engine,
                                        entry(outcome, error_id=why))  # fmt: skip
            except (AuditError, StoreError, SQLAlchemyError) as failed:
                log.error("a supervisor's %s of call %s that was not done is not in the "
                          "audit trail (%s)", mode, call_sid, type(failed).__name__)  # fmt: skip

        try:
            await rt.use_case(lambda: line.supervise(call_sid, who.name, mode))
        except RoutingError as e:  # (an unknown call among them: it ended)
            await not_done("refused", e.error_id)
            raise Refused(409, e.error_id, e.message) from None
        except Exception as e:  # (the line stopped, its lease lost...: answered as such)
            await not_done("error", e.error_id if isinstance(e, HotlineError) else "error")
            raise
        return JSONResponse({"call_sid": call_sid, "supervisor": who.name, "mode": mode})

    @router.post("/supervisor/voice-token")
    async def voice_token(who: Who = Depends(watcher)) -> JSONResponse:
        """The supervisor's browser phone (`client:_supervisor_NAME`, the leg a listen,
        whisper or barge dials), as an agent's: 404 when no API key is set."""
        if not SUPERVISOR_NAME.fullmatch(who.name):
            raise Refused(409, "bad-name", "this account's name cannot be dialled into a call")
        return JSONResponse(phone_token(rt.settings, supervisor_phone(who.name)))

    @router.websocket("/events")
    async def events(ws: WebSocket) -> None:
        who = await access.for_socket(ws, WATCHES_FLOOR)
        if who is None:
            return
        await ws.accept()
        hello = {"type": "hello", "lines": list(line.setups), "seq": rt.hub.seq}
        await rt.sockets.serve(AgentSocket(STREAM, who.token, ws), hello)

    return router
