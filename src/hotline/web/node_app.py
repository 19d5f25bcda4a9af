"""The app of one node of several (`hotline serve --node NAME`): a standby until it leads
(service.node), then the line's own app, built then from the store.

A standby answers what reaches it so that no caller hears a dead server. A carrier webhook
(at most `forms.MAX_BODY`) is forwarded as it came (the same URL signed, the same body) to
the node that leads; while none does (a takeover under way) it is held, up to HOLD_FOR
seconds, and served as it came by whichever node leads first, this one included. Only
then, with still no leader, the caller is kept where they are: a pause and the same URL
again (a `<Redirect>`, which carries the call's own parameters but not the keys pressed:
the IVR asks again), and a callback the carrier would not repeat that way (a status, a
dial's or a recording's outcome) is answered 503. `/healthz` says standby (503: send it no
traffic); agents' requests are refused 503 and their sockets asked to come back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from hotline.errors import HotlineError, NodeRefused
from hotline.service.node import Node
from hotline.store.leases import leases
from hotline.web import forms
from hotline.web.errors import Refused

log = logging.getLogger("hotline.node")
FORWARDED = "x-hotline-forwarded"  # a request one node forwarded to another (never again)
FORWARD_TIMEOUT = 10.0  # seconds a forwarded webhook may take
HOLD_FOR = 12.0  # seconds a webhook is held for a leader (the carrier waits 15)
POLL = 0.5  # seconds between looks for a leader while one is held
KEEP_PAUSE = 2  # seconds a kept caller waits before their request is made again
# callbacks that are not a caller's next step: the carrier would not repeat them on a
# <Redirect> (their outcome would be lost): answered 503, as a status is
NOT_KEPT = ("/voice/status", "/voice/agent-leg", "/voice/leg", "/voice/dial-done",
            "/voice/voicemail")  # fmt: skip


def leader_address(node: Node) -> str | None:
    """The address of the live node that leads the lines, if one does (not this one);
    None too when the store cannot say (the caller is kept, never a 500)."""
    try:
        now, held, members = leases(node.leases.engine)
    except Exception as e:  # noqa: BLE001 - the database is away: no leader we know of
        log.warning("node %s cannot read who leads (%s)", node.name, type(e).__name__)
        return None
    alive = {m.name: m.address for m in members if now - m.seen_at < node.leases.ttl}
    leaders = {x.node for x in held if x.expires_at > now and x.node in alive}
    for name in sorted(leaders - {node.name}):
        if alive[name]:
            return alive[name].rstrip("/")
    return None


class NodeApp:
    def __init__(
        self, *, node: Node, build: Callable[[], Any], public_url: str,
        hold_for: float = HOLD_FOR, poll: float = POLL,
    ) -> None:  # fmt: skip
        """`build()`: the line's app (an ASGI app with a lifespan), built once this node
        leads; `public_url`: the address the carrier calls (the same on every node);
        `hold_for`: seconds a webhook waits for a leader before its caller is kept;
        `poll`: seconds between looks at who leads (one look serves every webhook)."""
        self.node = node
        self._hold_for = hold_for
        self._poll = poll
        self._build = build
        self._public = public_url.rstrip("/")
        self._inner: Any = None
        self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT)
        self._leader: tuple[float, asyncio.Future[str | None]] | None = None  # (asked at)

    @property
    def serving(self) -> bool:
        """Whether this node leads and serves the lines."""
        return self._inner is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self._inner is not None:
            await self._inner(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later
        elif scope["path"].startswith("/voice/"):
            await self._webhook(scope, receive, send)
        else:
            await (await self._standby(scope["path"]))(scope, receive, send)

    # -- standing by

    async def leader(self) -> str | None:
        """Who leads, asked of the store at most once every `poll` seconds however many
        webhooks are held (a takeover under a surge must not flood the database)."""
        now = time.monotonic()
        kept = self._leader
        if kept is None or now - kept[0] >= self._poll \
                or kept[1].get_loop() is not asyncio.get_running_loop():  # fmt: skip
            kept = self._leader = (now, asyncio.ensure_future(
                asyncio.to_thread(leader_address, self.node)))  # fmt: skip
        return await asyncio.shield(kept[1])

    async def _standby(self, path: str) -> Response:
        if path == "/healthz":
            leader = await self.leader()
            return JSONResponse({"ready": False, "node": self.node.name, "role": "standby",
                                 "leader": leader}, status_code=503)  # fmt: skip
        return JSONResponse({"error_id": "standby", "message": "this node stands by; the "
                             "line is served by the node that leads: try again"},
                            status_code=503)  # fmt: skip

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await forms.read_body(request)
        except Refused as e:
            await JSONResponse({"error_id": e.error_id, "message": e.message},
                               status_code=e.status)(scope, receive, send)  # fmt: skip
            return
        deadline = time.monotonic() + self._hold_for
        forwarded = request.headers.get(FORWARDED) is not None
        while True:
            if self._inner is not None:  # this node leads now: it serves the request
                await self._inner(scope, _replay(body), send)
                return
            if not forwarded:
                leader = await self.leader()
                answer = None if leader is None else await self._forward(request, leader, body)
                if answer is not None:
                    await answer(scope, receive, send)
                    return
            if time.monotonic() >= deadline or forwarded:
                break
            await asyncio.sleep(self._poll or POLL)
        await self._kept(request)(scope, receive, send)

    def _kept(self, request: Request) -> Response:
        path = request.url.path
        if path in NOT_KEPT:
            return Response(status_code=503)  # the carrier tries it again, or gives up
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
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._client.aclose)
            stack.push_async_callback(asyncio.to_thread, self.node.leases.leave)
            task = asyncio.create_task(self._elect(stack))
            stack.push_async_callback(_stopped, task)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def _elect(self, stack: contextlib.AsyncExitStack) -> None:
        """Stand by and claim the lines until this node leads; then renew its leases."""
        said: set[str] = set()  # why rounds failed since the last that worked (each once)
        while True:
            try:
                if self._inner is None:
                    await asyncio.to_thread(self.node.leases.heartbeat)
                    if await asyncio.to_thread(self.node.try_to_lead):
                        await self._take_over(stack)
                else:
                    await asyncio.to_thread(self.node.renew)
                if said:
                    log.warning("node %s: its rounds of election work again", self.node.name)
                    said.clear()
            except NodeRefused as e:  # another run took this node's name: it must stop
                self.node.lost(e.message)
            except HotlineError as e:  # the database is away or refuses writes
                if e.message not in said:
                    log.warning("node %s: a round of its election failed: %s (it tries "
                                "again every round)", self.node.name, e.message)  # fmt: skip
                    said.add(e.message)
            except Exception as e:  # logged, not silenced: the next round tries again
                if repr(e) not in said:
                    log.exception("node %s: a round of its election failed", self.node.name)
                    said.add(repr(e))
            await asyncio.sleep(self.node.every if self._inner else self.node.watch_every)

    async def _take_over(self, stack: contextlib.AsyncExitStack) -> None:
        """Build the line (recovering its open calls can take seconds: the leases are
        renewed meanwhile) and serve it; a node that cannot build it lets the lines go
        and stops (a standby that could is not kept waiting)."""
        building = asyncio.ensure_future(asyncio.to_thread(self._build))
        while not building.done():
            await asyncio.wait({building}, timeout=self.node.every)
            if not building.done():
                await asyncio.to_thread(self.node.renew)
        try:
            app = building.result()
            await asyncio.to_thread(self.node.renew)  # trusted afresh before it acts
            await stack.enter_async_context(_running(app))
        except Exception as e:
            log.exception("node %s could not build the line", self.node.name)
            await asyncio.to_thread(self.node.give_up, f"the line could not be built ({e!r})")
            return
        self._inner = app
        log.info("node %s serves the lines", self.node.name)


def _replay(body: bytes) -> Receive:
    """A request's body again, for the app that serves it after it was read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def _running(app: Any) -> AsyncIterator[None]:
    """The built app's own lifespan (its timers, its writer)."""
    async with app.router.lifespan_context(app):
        yield
