"""Supervisors' live view: `GET /api/stats` (per line: now, today, the last 30 minutes)
and the event stream `/api/events` (a websocket: every event of every line as published,
numbered by `seq`). Both need the supervisor's token (`hotline agent-token --supervisor`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from hotline.service.hub import Published
from hotline.service.roles import SUPERVISOR
from hotline.web.agents import Tokens, bearer
from hotline.web.errors import responses
from hotline.web.runtime import LineRuntime
from hotline.web.sockets import AgentSocket


def message(p: Published) -> dict[str, Any]:
    n = p.news
    return {"type": "event", "seq": p.seq, "line": n.line, "at": n.at, "kind": n.kind,
            "call_sid": n.call_sid, "data": dict(n.data)}  # fmt: skip


def stats_router(rt: LineRuntime) -> APIRouter:
    router = APIRouter(prefix="/api", responses=responses(401, 403, 503))
    line, tokens = rt.line, Tokens(rt)
    rt.hub.subscribe(lambda p: rt.sockets.send(SUPERVISOR, message(p)))

    def supervisor(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        return tokens.supervisor(credentials.credentials if credentials is not None else None)

    @router.get("/stats")
    async def stats(_who: str = Depends(supervisor)) -> JSONResponse:
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
    async def events(ws: WebSocket, token: str | None = None) -> None:
        holder = await tokens.for_socket(ws, token, tokens.supervisor)
        if holder is None:
            return
        await ws.accept()
        hello = {"type": "hello", "lines": list(line.setups), "seq": rt.hub.seq}
        await rt.sockets.serve(AgentSocket(holder, token or "", ws), hello)

    return router
