"""The app of one node of several (`hotline serve --node NAME`): a standby until it leads
(service.node), then the line's own app, built then from the store.

A standby answers what reaches it so that no caller hears a dead server: a carrier
webhook is forwarded as it came (the same URL signed, the same body) to the node that
leads, and if none does yet (a takeover under way), the caller is kept where they are —
a short pause, then the same request again. `/healthz` says standby (503: do not send
it traffic); agents' requests are told which node leads, their sockets to come back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from hotline.service.node import Node
from hotline.store.leases import leases

log = logging.getLogger("hotline.node")
FORWARDED = "x-hotline-forwarded"  # a request one node forwarded to another (never again)
FORWARD_TIMEOUT = 10.0  # seconds: within the carrier's 15
KEEP_PAUSE = 2  # seconds a caller waits before their request is made again


def leader_address(node: Node) -> str | None:
    """The address of the live node that leads the lines, if one does (not this one)."""
    now, held, members = leases(node.leases.engine)
    alive = {m.name: m.address for m in members if now - m.seen_at < node.leases.ttl}
    leaders = {x.node for x in held if x.expires_at > now and x.node in alive}
    for name in sorted(leaders - {node.name}):
        if alive[name]:
            return alive[name].rstrip("/")
    return None


class NodeApp:
    def __init__(self, *, node: Node, build: Callable[[], Any], public_url: str) -> None:
        """`build()`: the line's app (an ASGI app with a lifespan), built once this node
        leads; `public_url`: the address the carrier calls (the same on every node)."""
        self.node = node
        self._build = build
        self._public = public_url.rstrip("/")
        self._inner: Any = None
        self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self._inner is not None:
            await self._inner(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later
        else:
            response = await self._standby(Request(scope, receive))
            await response(scope, receive, send)

    # -- standing by

    async def _standby(self, request: Request) -> Response:
        path = request.url.path
        if path == "/healthz":
            leader = await asyncio.to_thread(leader_address, self.node)
            return JSONResponse({"ready": False, "node": self.node.name, "role": "standby",
                                 "leader": leader}, status_code=503)  # fmt: skip
        if not path.startswith("/voice/"):
            leader = await asyncio.to_thread(leader_address, self.node)
            return JSONResponse({"error_id": "standby", "message": "this node stands by; "
                                 f"the line is served by {leader or 'a node taking over'}"},
                                status_code=503)  # fmt: skip
        body = await request.body()
        if request.headers.get(FORWARDED) is None:
            leader = await asyncio.to_thread(leader_address, self.node)
            if leader is not None:
                forwarded = await self._forward(request, leader, body)
                if forwarded is not None:
                    return forwarded
        if path == "/voice/status" or path.startswith("/voice/status"):
            return Response(status_code=503)  # the carrier tries a status again
        query = f"?{request.url.query}" if request.url.query else ""
        again = xml_escape(f"{self._public}{path}{query}")
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response><Pause length='
                        f'"{KEEP_PAUSE}"/><Redirect method="POST">{again}</Redirect>'
                        "</Response>", media_type="application/xml")  # fmt: skip

    async def _forward(self, request: Request, leader: str, body: bytes) -> Response | None:
        """The request as it came, to the leader; None if the leader did not answer."""
        keep = ("content-type", "x-twilio-signature", "user-agent")
        headers = {k: v for k, v in request.headers.items() if k.lower() in keep}
        headers[FORWARDED] = self.node.name
        query = f"?{request.url.query}" if request.url.query else ""
        try:
            r = await self._client.post(f"{leader}{request.url.path}{query}", content=body,
                                        headers=headers)  # fmt: skip
        except httpx.HTTPError as e:
            log.warning("a webhook could not be forwarded to the leader %s: %s", leader,
                        type(e).__name__)  # fmt: skip
            return None
        if r.status_code >= 500:
            return None
        return Response(r.content, status_code=r.status_code,
                        media_type=r.headers.get("content-type"))  # fmt: skip

    # -- the node's lifetime

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._client.aclose)
            stack.push_async_callback(asyncio.to_thread, self.node.leases.leave)
            task = asyncio.create_task(self._elect(stack))
            stack.callback(task.cancel)
            await send({"type": "lifespan.startup.complete"})
            message = await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def _elect(self, stack: contextlib.AsyncExitStack) -> None:
        """Stand by and claim the lines until this node leads; then renew its leases."""
        while True:
            try:
                if self._inner is None:
                    await asyncio.to_thread(self.node.leases.heartbeat)
                    if await asyncio.to_thread(self.node.try_to_lead):
                        app = await asyncio.to_thread(self._build)
                        await stack.enter_async_context(_running(app))
                        self._inner = app
                        log.info("node %s serves the lines", self.node.name)
                else:
                    await asyncio.to_thread(self.node.renew)
            except Exception:  # logged, not silenced: the next round tries again
                log.exception("node %s: a round of its election failed", self.node.name)
            await asyncio.sleep(self.node.every)


@contextlib.asynccontextmanager
async def _running(app: Any) -> AsyncIterator[None]:
    """The built app's own lifespan (its timers, its writer)."""
    async with app.router.lifespan_context(app):
        yield
