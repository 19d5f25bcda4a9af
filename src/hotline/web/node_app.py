"""The app of one node of several (`hotline serve --node NAME`): a standby until it leads
(service.node), then the line's own app, built then from the store.

A standby answers what reaches it so that no caller hears a dead server. A carrier webhook
(at most `forms.MAX_BODY`) is forwarded as it came (the same URL signed, the same body) to
the node that leads its call's line (`webhook_line`: lines may be led by several nodes);
while none does (a takeover under way) it is held, up to HOLD_FOR seconds, and served as
it came by whichever node leads it first, this one included. Only
then, with still no leader, the caller is kept where they are: a pause and the same URL
again (a `<Redirect>`, which carries the call's own parameters but not the keys pressed:
the IVR asks again), and a callback the carrier would not repeat that way (a status, a
dial's or a recording's outcome) is answered 503. `/healthz` says standby (503: send it no
traffic).

Everything else (people's pages, the agents' and supervisors' API, their websockets) is
relayed to the leader as it came, so a desktop or wallboard reaches the line through any
node; with no leader it is refused 503 (a socket is closed 1013: try again). The address
of the person who asked goes with it, signed with a key every node derives from
HOTLINE_SECRET_KEY (`relay_key`), and the leader takes it as the request's client (the
audit trail and the log-on limits see the person, not the node); unsigned or wrongly
signed, it is ignored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as xml_escape

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from hotline.errors import HotlineError, NodeRefused
from hotline.service.node import Node
from hotline.store.leases import leases
from hotline.web import forms
from hotline.web.errors import Refused
from hotline.web.errors import body as error_body

log = logging.getLogger("hotline.node")
FORWARDED = "x-hotline-forwarded"  # a request one node forwarded to another (never again)
CLIENT = "x-hotline-client"  # who asked a relayed request: "ADDRESS SIGNATURE"
MAX_RELAYED = 4 * 1024 * 1024  # bytes of a relayed request's body
# not relayed: the connection's own (RFC 9110 7.6.1), the body's framing (made again), and
# what only a node may say
HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                 "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
                 "content-length", FORWARDED, CLIENT))  # fmt: skip
OWN = frozenset(("date", "server"))  # an answer's fields this node's server sets itself
SOCKET_HEADERS = ("cookie", "authorization", "user-agent", "accept-language")
UNSENDABLE = (None, 1005, 1006, 1015)  # close codes that say no frame came (RFC 6455 7.4.1)
FORWARD_TIMEOUT = 10.0  # seconds a forwarded webhook may take
HOLD_FOR = 12.0  # seconds a webhook is held for a leader (the carrier waits 15)
POLL = 0.5  # seconds between looks for a leader while one is held
NUMBER_MAX = 256  # characters of a webhook's `To` (as the app's `forms.text`)
KEEP_PAUSE = 2  # seconds a kept caller waits before their request is made again
# callbacks that are not a caller's next step: the carrier would not repeat them on a
# <Redirect> (their outcome would be lost): answered 503, as a status is
NOT_KEPT = ("/voice/status", "/voice/agent-leg", "/voice/leg", "/voice/dial-done",
            "/voice/voicemail")  # fmt: skip


def leaders_of(node: Node) -> dict[str, str]:
    """The address of the live node that leads each line, for the lines another node
    leads; empty too when the store cannot say (the caller is kept, never a 500)."""
    try:
        now, held, members = leases(node.leases.engine)
    except Exception as e:  # noqa: BLE001 - the database is away: no leader we know of
        log.warning("node %s cannot read who leads (%s)", node.name, type(e).__name__)
        return {}
    alive = {m.name: m.address.rstrip("/") for m in members
             if now - m.seen_at < node.leases.ttl and m.address}  # fmt: skip
    return {x.line: alive[x.node] for x in held
            if x.expires_at > now and x.node in alive and x.node != node.name}  # fmt: skip


class NodeApp:
    def __init__(
        self, *, node: Node, build: Callable[[], Any], public_url: str,
        hold_for: float = HOLD_FOR, poll: float = POLL, relay_key: bytes | None = None,
        webhook_line: Callable[[str | None, str | None], str | None] | None = None,
    ) -> None:  # fmt: skip
        """`build()`: the line's app (an ASGI app with a lifespan), built once this node
        leads; `public_url`: the address the carrier calls (the same on every node);
        `hold_for`: seconds a webhook waits for a leader before its caller is kept;
        `poll`: seconds between looks at who leads (one look serves every webhook);
        `relay_key`: signs the address of who asked a relayed request (`relay_key()`;
        None: not sent, and not trusted); `webhook_line(call, number)`: the line a webhook
        is for, from its call and the number it calls (`spread.webhook_line`, which reads
        the store: run in a thread), so it goes to the node that leads that line (None:
        every webhook goes to any node that leads)."""
        self.node = node
        self._hold_for = hold_for
        self._poll = poll
        self._build = build
        self._public = public_url.rstrip("/")
        self._key = relay_key
        self._webhook_line = webhook_line
        self._inner: Any = None
        # (nodes reach each other directly: no proxy from the environment)
        self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT, trust_env=False)
        self._leaders: tuple[float, asyncio.Future[dict[str, str]]] | None = None  # (asked at)

    @property
    def serving(self) -> bool:
        """Whether this node leads and serves the lines."""
        return self._inner is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self._inner is not None:
            await self._inner(self._who_asked(scope), receive, send)
        elif scope["type"] == "websocket":
            await self._relay_socket(WebSocket(scope, receive, send))
        elif scope["path"].startswith("/voice/"):
            await self._webhook(scope, receive, send)
        elif scope["path"] in ("/healthz", "/metrics") or _forwarded(scope):
            await (await self._standby(scope["path"]))(scope, receive, send)
        else:
            await self._relay(scope, receive, send)

    # -- who asked a relayed request

    def _signature(self, address: str, scope: Scope) -> str:
        """Over who asked and what for: the request's kind and its target as it came."""
        assert self._key is not None
        said = b"\n".join((address.encode("latin-1"), scope["type"].encode(), _target(scope)))
        return hmac.new(self._key, said, hashlib.sha256).hexdigest()

    def _client_header(self, scope: Scope) -> dict[str, str]:
        """Who asked, signed, for the leader (nothing without a key)."""
        client = scope.get("client")
        if self._key is None or not client:
            return {}
        return {CLIENT: f"{client[0]} {self._signature(client[0], scope)}"}

    def _who_asked(self, scope: Scope) -> Scope:
        """A request another node relayed: its client is who asked that node, if the
        signature holds (else the request is taken as coming from the node)."""
        if self._key is None or scope["type"] == "lifespan":
            return scope
        said = next((v for k, v in scope.get("headers", ()) if k == CLIENT.encode()), None)
        if said is None:
            return scope
        address, _, signature = said.decode("latin-1").partition(" ")
        expected = self._signature(address, scope).encode()
        if not hmac.compare_digest(signature.encode("latin-1"), expected):
            log.warning("a relayed request's client was wrongly signed: the node's is kept")
            return scope
        return {**scope, "client": (address, 0)}

    # -- standing by

    async def leader(self, line: str | None = None) -> str | None:
        """The address of the node that leads `line` (None: any line, the first by name;
        until lines are spread over nodes, one node leads them all), if another does. Who
        leads is asked of the store at most once every `poll` seconds however many
        requests are held (a takeover under a surge must not flood the database)."""
        now = time.monotonic()
        kept = self._leaders
        if kept is None or now - kept[0] >= self._poll \
                or kept[1].get_loop() is not asyncio.get_running_loop():  # fmt: skip
            kept = self._leaders = (now, asyncio.ensure_future(
                asyncio.to_thread(leaders_of, self.node)))  # fmt: skip
        led = await asyncio.shield(kept[1])
        if line is not None:
            return led.get(line)  # (its leader gone: held, never sent to a node without it)
        return led[min(led)] if led else None

    async def _line_of(self, request: Request, body: bytes) -> str | None:
        """The line a webhook is for (None: not known, or no way to know)."""
        if self._webhook_line is None:
            return None
        call, number = _call_and_number(request, body)
        try:
            return await asyncio.to_thread(self._webhook_line, call, number)
        except Exception as e:  # noqa: BLE001 - the store is away: it goes to any leader
            log.warning("node %s cannot tell a webhook's line (%s)", self.node.name,
                        type(e).__name__)  # fmt: skip
            return None

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A person's request, to the leader as it came; its answer as the leader gave it."""
        request = Request(scope, receive)
        try:
            body = await forms.read_body(request, MAX_RELAYED)
        except Refused as e:
            await error_body(e.status, e.error_id, e.message)(scope, receive, send)
            return
        leader = await self.leader()
        try:
            r = None if leader is None else await self._forward(request, leader, body)
        except httpx.ReadTimeout:  # it has the request, and may have acted on it
            log.warning("the leader %s did not answer a relayed request in %g s", leader,
                        FORWARD_TIMEOUT)  # fmt: skip
            late = error_body(
                504,
                "leader-timeout",
                "the node that leads took the request "
                "but did not answer in time: look before you send it again",
            )
            await late(scope, receive, send)
            return
        except httpx.HTTPError as e:
            log.warning("a request could not be relayed to the leader %s: %s", leader,
                        type(e).__name__)  # fmt: skip
            r = None
        if r is None:
            await (await self._standby(scope["path"]))(scope, receive, send)
            return
        await r.response(request.method)(scope, receive, send)

    async def _relay_socket(self, ws: WebSocket) -> None:
        """A person's websocket, joined to one the leader opens for it: what either side
        sends goes to the other, and a close (its code) too. No leader, or the leader
        gone without a word: closed 1013 (the pages connect again, to any node); refused by
        the leader before it accepted: refused here alike (403)."""
        leader = None if _forwarded(ws.scope) else await self.leader()
        if leader is None:
            await _try_again(ws)
            return
        url = f"ws{leader.removeprefix('http')}{_target(ws.scope).decode('latin-1')}"
        headers = {k: v for k, v in ws.headers.items() if k.lower() in SOCKET_HEADERS}
        headers |= {FORWARDED: self.node.name, **self._client_header(ws.scope)}
        try:
            upstream = await connect(url, origin=ws.headers.get("origin"),  # type: ignore[arg-type]
                                     additional_headers=headers, proxy=None,
                                     open_timeout=FORWARD_TIMEOUT, user_agent_header=None,
                                     compression=None)  # fmt: skip
        except InvalidStatus as e:
            if e.response.status_code < 500:  # refused by the leader: refused here alike
                await ws.close()
            else:
                await _try_again(ws)
            return
        except (OSError, TimeoutError, WebSocketException) as e:
            log.warning("a websocket could not be relayed to the leader %s: %s", leader,
                        type(e).__name__)  # fmt: skip
            await _try_again(ws)
            return
        await ws.accept()
        async with upstream:
            await _joined(ws, upstream)

    async def _standby(self, path: str) -> Response:
        if path == "/healthz":
            leader = await self.leader()
            return JSONResponse({"ready": False, "node": self.node.name, "role": "standby",
                                 "leader": leader}, status_code=503,
                                headers={"Cache-Control": "no-store"})  # fmt: skip
        return error_body(503, "standby", "this node stands by; the line is served by the "
                          "node that leads: try again")  # fmt: skip

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await forms.read_body(request)
        except Refused as e:
            await error_body(e.status, e.error_id, e.message)(scope, receive, send)
            return
        deadline = time.monotonic() + self._hold_for
        forwarded = request.headers.get(FORWARDED) is not None
        line = None if forwarded or self._inner is not None else await self._line_of(request, body)
        while True:
            if self._inner is not None:  # this node leads now: it serves the request
                await self._inner(scope, _replay(body), send)
                return
            if not forwarded:
                leader = await self.leader(line)
                try:
                    r = None if leader is None else await self._forward(request, leader, body)
                except httpx.HTTPError as e:  # (a webhook again is answered from its reply)
                    log.warning("a webhook could not be forwarded to the leader %s: %s",
                                leader, type(e).__name__)  # fmt: skip
                    r = None
                if r is not None and r.status < 500:  # (5xx: as if it had not answered)
                    await r.response(request.method)(scope, receive, send)
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

    async def _forward(self, request: Request, leader: str, body: bytes) -> Answer:
        """The request as it came (its method, its target byte for byte, its header fields
        as bytes, its body), to the leader, with who asked; its answer as the leader gave
        it, body not decoded. Raises httpx.HTTPError if the leader did not answer."""
        scope = request.scope
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1") not in HOP]
        headers += [(FORWARDED.encode(), self.node.name.encode())]
        headers += [(k.encode(), v.encode()) for k, v in self._client_header(scope).items()]
        url = httpx.URL(leader).copy_with(raw_path=_target(scope))
        sent = self._client.build_request(request.method, url, content=body, headers=headers)
        r = await self._client.send(sent, stream=True)
        try:
            got = b"".join([chunk async for chunk in r.aiter_raw()])
        finally:
            await r.aclose()
        return Answer(r.status_code, r.headers, got)

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


def relay_key(secret_key: str) -> bytes:
    """The key that signs who asked a relayed request: derived from HOTLINE_SECRET_KEY,
    which every node of a line has (and never the sealing key itself)."""
    return hmac.new(secret_key.encode(), b"hotline: who asked a relayed request",
                    hashlib.sha256).digest()  # fmt: skip


async def _try_again(ws: WebSocket) -> None:
    """Closed 1013, try again later (accepted first: a socket closed before it is accepted
    is a refused handshake, 403, which no page can tell from a refusal)."""
    await ws.accept()
    await ws.close(code=1013)


@dataclass(frozen=True)
class Answer:
    """The leader's answer to a relayed request, as it gave it."""

    status: int
    headers: httpx.Headers
    body: bytes  # not decoded (its Content-Encoding, if any, stays)

    def response(self, method: str) -> Response:
        """It, to send on: its fields but the connection's own and those this node's
        server sets itself; its length the leader's (a HEAD's too, with no body)."""
        answer = Response(status_code=self.status)
        answer.body = self.body
        answer.raw_headers = [(k, v) for k, v in self.headers.raw
                              if k.lower().decode("latin-1") not in HOP | OWN]  # fmt: skip
        length = self.headers.get("content-length") if method == "HEAD" else None
        answer.raw_headers.append((b"content-length", (length or str(len(self.body))).encode()))
        return answer


def _target(scope: Scope) -> bytes:
    """A request's target as it came, byte for byte: its path as sent (an encoded slash
    stays one) and its query."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return path + b"?" + query if query else path


def _call_and_number(request: Request, body: bytes) -> tuple[str | None, str | None]:
    """A webhook's call, the caller's (`?call=` for a callback's dial-back leg, `?sid=` for
    a step of the call or an agent's leg, else its form's CallSid), and the number it calls
    (`To`); None for what it does not say well (the node that serves it refuses that)."""
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    said = request.query_params
    call = said.get("call") or said.get("sid") or next(iter(form.get("CallSid", ())), None)
    number = next(iter(form.get("To", ())), None)
    return (call if call and forms.CALL_SID.fullmatch(call) else None,
            number if number and len(number) <= NUMBER_MAX else None)  # fmt: skip


def _forwarded(scope: Scope) -> bool:
    """A request another node relayed here (it is never relayed again)."""
    return any(k == FORWARDED.encode() for k, _ in scope.get("headers", ()))


async def _joined(ws: WebSocket, upstream: ClientConnection) -> None:
    """Frames both ways until one side closes; the other is closed with its code."""

    async def down() -> None:  # leader -> person
        try:
            async for message in upstream:
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)
        except ConnectionClosed:
            pass
        code = upstream.close_code  # (the leader gone without a word: try again, anywhere)
        await ws.close(code=1013 if code in UNSENDABLE else code,
                       reason=upstream.close_reason or "")  # fmt: skip

    async def up() -> None:  # person -> leader
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    code = message.get("code") or 1000
                    await upstream.close(code=1001 if code in UNSENDABLE else code)
                    return
                if message.get("text") is not None:
                    await upstream.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
        except (ConnectionClosed, WebSocketDisconnect):
            pass

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(
                asyncio.CancelledError, RuntimeError, ConnectionClosed, WebSocketDisconnect
            ):  # (the other side went first)
                await t


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
