"""Supervisors' live view: `GET /api/stats` (per line: now, today, the last 30 minutes)
and the event stream `/api/events` (a websocket: every event of every line as published,
numbered by `seq`). For the roles that watch the floor: a supervisor's or administrator's
session, or the supervisor's token (`hotline agent-token --supervisor`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse

from hotline.service.hub import Published
from hotline.service.roles import SUPERVISOR
from hotline.web.auth import Access, Who, needs
from hotline.web.errors import responses
from hotline.web.runtime import LineRuntime
from hotline.web.sockets import AgentSocket


def message(p: Published) -> dict[str, Any]:
    n = p.news
    return {"type": "event", "seq": p.seq, "line": n.line, "at": n.at, "kind": n.kind,
            "call_sid": n.call_sid, "data": dict(n.data)}  # fmt: skip


WATCHES_FLOOR = ("supervisor", "admin")
STREAM = SUPERVISOR  # the sockets that get the event stream are kept under this name


def stats_router(rt: LineRuntime, access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", responses=responses(401, 403, 503))
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
                       **rt.stats[name].report(now)}
                for name, s in line.setups.items()
            }  # fmt: skip
            return {"at": now, "lines": lines}

        return JSONResponse(await rt.use_case(read))

    @router.websocket("/events")
    async def events(ws: WebSocket) -> None:
        who = await access.for_socket(ws, WATCHES_FLOOR)
        if who is None:
            return
        await ws.accept()
        hello = {"type": "hello", "lines": list(line.setups), "seq": rt.hub.seq}
        await rt.sockets.serve(AgentSocket(STREAM, who.token, ws), hello)

    return router
