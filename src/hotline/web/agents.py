"""The agents' REST API and websocket, and who may use them: a token from `hotline
agent-token` names one agent; the supervisor's token (`--supervisor`) is for the stats
and events routes only, and an agent's token never opens those."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hotline.errors import InvalidTransition, RoutingError, UnknownAgent, UnknownCall
from hotline.service.roles import SUPERVISOR
from hotline.web import forms
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime
from hotline.web.sockets import AgentSocket

AGENT_ERRORS = responses(400, 401, 403, 404, 409, 503)
bearer = HTTPBearer(auto_error=False, description="A token from `hotline agent-token`")


class Tokens:
    """Who a token names, checked against the store."""

    def __init__(self, rt: LineRuntime) -> None:
        self.store = rt.line.store

    def holder(self, token: str | None) -> str:
        if not token:
            raise Refused(401, "no-token", "send Authorization: Bearer <token>")
        holder = self.store.agent_for_token(token)
        if holder is None:
            raise Refused(401, "bad-token", "unknown or revoked token")
        return holder

    def agent(self, token: str | None) -> str:
        holder = self.holder(token)
        if holder == SUPERVISOR:
            raise Refused(403, "wrong-role", "the supervisor's token is not an agent's")
        return holder

    async def for_socket(
        self, ws: WebSocket, token: str | None, role: Callable[[str | None], str]
    ) -> str | None:
        """Who a websocket's token names, by `role` (asked off the event loop: it reads
        the store); None once a refused socket is closed (4401)."""
        try:
            return await asyncio.to_thread(role, token)
        except Refused:
            await ws.close(code=4401)
            return None

    def supervisor(self, token: str | None) -> str:
        holder = self.holder(token)
        if holder != SUPERVISOR:
            raise Refused(403, "wrong-role", "needs the supervisor's token "
                          "(hotline agent-token --supervisor)")  # fmt: skip
        return holder


def agents_router(rt: LineRuntime) -> APIRouter:
    router = APIRouter(prefix="/api/agent", responses=AGENT_ERRORS)
    line, tokens = rt.line, Tokens(rt)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        return tokens.agent(credentials.credentials if credentials is not None else None)

    async def agent_call(fn: Callable[[], Awaitable[Any] | Any]) -> JSONResponse:
        try:
            result = await rt.use_case(fn)
        except (UnknownAgent, UnknownCall) as e:
            raise Refused(404, e.error_id, e.message) from None
        except (InvalidTransition, RoutingError) as e:
            raise Refused(409, e.error_id, e.message) from None
        return JSONResponse(result if isinstance(result, dict) else {"ok": True})

    def known_sid(call_sid: str) -> str:
        if not forms.CALL_SID.fullmatch(call_sid):
            raise Refused(400, "bad-request", f"{forms.short(call_sid)} is not a call id")
        return call_sid

    @router.get("/me")
    async def me(agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.agent_state(agent_id))

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

    @router.post("/calls/{call_sid}/accept")
    async def accept(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.accept(agent_id, known_sid(call_sid)))

    @router.post("/calls/{call_sid}/decline")
    async def decline(call_sid: str, agent_id: str = Depends(authorised)) -> JSONResponse:
        return await agent_call(lambda: line.decline(agent_id, known_sid(call_sid)))

    @router.websocket("/ws")
    async def agent_socket(ws: WebSocket, token: str | None = None) -> None:
        agent_id = await tokens.for_socket(ws, token, tokens.agent)
        if agent_id is None:
            return
        try:
            state = await rt.use_case(lambda: line.agent_state(agent_id))
        except RoutingError:  # a token of an agent no longer on this line
            await ws.close(code=4404)
            return
        await ws.accept()
        await rt.sockets.serve(AgentSocket(agent_id, token or "", ws), {"type": "hello", **state})

    return router
