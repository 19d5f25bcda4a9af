"""The app of one node of several (`hotline serve --node NAME`): it serves the groups of
lines it leads (service.node), each with an app of its own built from the store when the
node claims it, and sends everything else on to the node that leads its line (a request's
line: `Places`, `spread.Placement`). A node that leads nothing is a standby.

What reaches a node is answered so that no caller hears a dead server. A carrier webhook
(at most `forms.MAX_BODY`) for a line led elsewhere is forwarded as it came (the same URL
signed, the same body) to the node that leads its call's line; while none does (a
takeover under way) it is held, up to HOLD_FOR seconds, and served as it came by
whichever node leads it first, this one included. Only then, with still no leader, the
caller is kept where they are: a pause and the same URL again (a `<Redirect>`, which
carries the call's own parameters but not the keys pressed: the IVR asks again), and a
callback the carrier would not repeat that way (a status, a dial's or a recording's
outcome) is answered 503. `/healthz` on a standby says so (503: send it no traffic);
its `/metrics` answers 200 with the leases it holds, none (a scrape that fails is a node down).

People's pages, the agents' and supervisors' API and their websockets go to the node that
leads their line (an agent's, or the one an agent or call in the path is on; else the home
line's), relayed as they came, so a desktop reaches its line through any node; with no
leader they are refused 503 `standby` (a socket is closed 1013: try again); a leader lost
with the request, which it may have acted on, is answered 502 `leader-lost` (look before
sending it again), one that is slow to answer 504. The wallboard's figures
and events are gathered from every group's node. The address of the person who asked goes
with a relayed request, signed with a key every node derives from HOTLINE_SECRET_KEY
(`relay_key`), and the node that serves it takes it as the request's client (the audit
trail and the log-on limits see the person, not the node); unsigned or wrongly signed, it
is ignored. A relayed request names the line it was placed on (`LINE`): the node that
gets it serves it with that line's app, and never relays it again."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote
from xml.sax.saxutils import escape as xml_escape

import httpx
from pydantic import SecretStr
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from hotline.errors import HotlineError, LineStopped, NodeRefused
from hotline.service.node import Node
from hotline.store.db import SchemaAhead
from hotline.store.leases import leases
from hotline.web import forms
from hotline.web.auth import COOKIE
from hotline.web.errors import Refused
from hotline.web.errors import body as error_body
from hotline.web.metrics import CONTENT_TYPE, check_token, leases_only, merged
from hotline.web.threads import Threads

log = logging.getLogger("hotline.node")
FORWARDED = "x-hotline-forwarded"  # a request one node forwarded to another (never again)
CLIENT = "x-hotline-client"  # who asked a relayed request: "ADDRESS SIGNATURE"
LINE = "x-hotline-line"  # the line a relayed request is for (as the node that relayed it saw)
MAX_RELAYED = 4 * 1024 * 1024  # bytes of a relayed request's body
# not relayed: the connection's own (RFC 9110 7.6.1), the body's framing (made again), and
# what only a node may say
HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                 "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
                 "content-length", FORWARDED, CLIENT, LINE))  # fmt: skip
OWN = frozenset(("date", "server"))  # an answer's fields this node's server sets itself
SOCKET_HEADERS = ("cookie", "authorization", "user-agent", "accept-language")
UNSENDABLE = (None, 1005, 1006, 1015)  # close codes that say no frame came (RFC 6455 7.4.1)
FORWARD_TIMEOUT = 10.0  # seconds a forwarded webhook may take
HOLD_FOR = 12.0  # seconds a webhook is held for a leader (the carrier waits 15)
POLL = 0.5  # seconds between looks for a leader while one is held
HAND_OVER_WAIT = 10.0  # seconds a group handed over waits for its requests under way
NUMBER_MAX = 256  # characters of a webhook's `To` (as the app's `forms.text`)
KEEP_PAUSE = 2  # seconds a kept caller waits before their request is made again
# callbacks that are not a caller's next step: the carrier would not repeat them on a
# <Redirect> (their outcome would be lost): answered 503, as a status is; and a prompt's
# audio, which TwiML is not (the carrier skips it)
AUDIO = "/voice/audio"
NOT_KEPT = ("/voice/status", "/voice/agent-leg", "/voice/leg", "/voice/dial-done",
            "/voice/voicemail", AUDIO)  # fmt: skip


class Places(Protocol):
    """Which line a request is for (`spread.Placement`)."""

    def webhook(self, call: str | None, number: str | None) -> str | None: ...

    def person(self, path: str, bearer: str | None, cookie: str | None) -> str | None: ...


# a relayed request that never reached the leader (nothing could have been done there)
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
        self, *, node: Node, build: Callable[[tuple[str, ...]], Any], public_url: str,
        hold_for: float = HOLD_FOR, poll: float = POLL, relay_key: bytes | None = None,
        placement: Places | None = None, metrics_token: SecretStr | None = None,
    ) -> None:  # fmt: skip
        """`build(group)`: the app of a group of lines (an ASGI app with a lifespan), built
        once this node leads them; `public_url`: the address the carrier calls (the same on
        every node);
        `hold_for`: seconds a webhook waits for a leader before its caller is kept;
        `poll`: seconds between looks at who leads (one look serves every webhook);
        `relay_key`: signs the address of who asked a relayed request (`relay_key()`;
        None: not sent, and not trusted); `placement`: the line each request is for
        (`spread.Placement`, which reads the store: asked in a thread), so it goes to the
        node that leads that line (None: every request goes to any node that leads);
        `metrics_token`: HOTLINE_METRICS_TOKEN, for /metrics while no app is served here."""
        self.node = node
        self._metrics_token = metrics_token
        self._hold_for = hold_for
        self._poll = poll
        self._build = build
        self._public = public_url.rstrip("/")
        self._key = relay_key
        self._placement = placement
        self._apps: dict[tuple[str, ...], Any] = {}  # the groups this node serves, their apps
        self._stops: dict[tuple[str, ...], contextlib.AsyncExitStack] = {}  # (their lifespans)
        self._stopping: dict[tuple[str, ...], asyncio.Future[Any]] = {}  # (those stopping)
        self._handing: asyncio.Task[None] | None = None  # a hand-over under way
        self._busy: Counter[int] = Counter()  # requests under way, by app (its id)
        self._behind: str | None = None  # why it claims no more lines: a newer schema
        # (nodes reach each other directly: no proxy from the environment)
        # (idle connections kept for less than the other node's server keeps them, 5 s:
        # one it closed as a request went out would be answered 502 `leader-lost`)
        self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT, trust_env=False,
                                         limits=httpx.Limits(keepalive_expiry=2.0))  # fmt: skip
        self._leaders: tuple[float, asyncio.Future[dict[str, str]]] | None = None  # (asked at)
        # the node's own lease work (heartbeat, renewals, claims, hand-overs, leave), in a
        # thread of its own: in the event loop's shared threads it queued behind the lines'
        # work, which a carrier that stalled filled for seconds, and the renewals came too
        # late (a leader that was well stopped)
        self._leases = Threads(1, "hotline-leases")

    @property
    def serving(self) -> bool:
        """Whether this node leads and serves lines."""
        return bool(self._apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/voice/") and scope["type"] == "http":
            await self._webhook(scope, receive, send)
        elif (sole := self._sole()) is not None:  # this node leads every line: no placing
            await self._serve(sole, self._who_asked(scope), receive, send)
        elif _forwarded(scope):  # placed by the node that relayed it: served here or refused
            app = self._local(_line_named(scope))
            if app is not None:
                await self._serve(app, self._who_asked(scope), receive, send)
            elif scope["type"] == "websocket":
                await _try_again(WebSocket(scope, receive, send))
            else:
                await (await self._standby(path))(scope, receive, send)
        elif path == "/healthz" and len(self._apps) > 1:
            await self._health(scope, receive, send)
        elif path == "/metrics" and len(self._apps) > 1:
            await self._metrics(scope, receive, send)
        elif path == "/metrics" and not self._apps:
            await self._leases_only(scope, receive, send)
        elif path in ("/healthz", "/metrics"):
            first = next(iter(self._apps.values()), None)
            await (first or await self._standby(path))(scope, receive, send)
        elif path == "/api/events" and scope["type"] == "websocket":
            await self._events(WebSocket(scope, receive, send))
        elif path == "/api/stats":
            await self._stats(scope, receive, send)
        else:
            line = await self._person_line(scope)
            app = self._local(line)
            if app is not None:
                await self._serve(app, self._who_asked(scope), receive, send)
            elif scope["type"] == "websocket":
                await self._relay_socket(WebSocket(scope, receive, send), line)
            else:
                await self._relay(scope, receive, send, line)

    # -- which node serves a request

    def _sole(self) -> Any:
        """This node's app if it serves every line there is (one group, or lines that
        joined it): the usual case, in which no request needs placing. (Not while another
        group this node leads is still being built: its lines are led here, not served.)"""
        if len(self._apps) != 1 or not self.node.seen:
            return None
        [(group, app)] = self._apps.items()
        served = self.node.served_in()
        return app if all(served.get(x) == group for g in self.node.seen for x in g) else None

    async def _serve(self, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """A request served by one of this node's apps (a request under way is waited for
        before its group is handed over; a websocket is closed instead)."""
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        self._busy[id(app)] += 1
        try:
            await app(scope, receive, send)
        finally:
            self._busy[id(app)] -= 1
            if not self._busy[id(app)]:
                del self._busy[id(app)]

    async def _answered(self, app: Any, scope: Scope, body: bytes) -> list[Message] | None:
        """A webhook served by one of this node's apps: its answer's messages, or None if
        its line had stopped here (its group handed over while the request waited: refused
        before anything was done, 503 `line-stopped`), which the carrier must not hear (a
        5xx mid-call ends a Twilio call)."""
        messages: list[Message] = []

        async def kept(message: Message) -> None:
            messages.append(message)

        await self._serve(app, self._who_asked(scope), _replay(body), kept)
        if messages and messages[0].get("status") == 503:
            answer = b"".join(m.get("body", b"") for m in messages[1:])
            with contextlib.suppress(ValueError):
                said = json.loads(answer)
                if isinstance(said, dict) and said.get("error_id") == LineStopped.error_id:
                    return None
        return messages

    def _local(self, line: str | None) -> Any:
        """The app here that serves `line` (None: not placed, any app here): that of the
        group it is served in (`Node.served_in`: the groups may have changed since); None
        if no app here does (not led here, or its group still being built)."""
        if line is None:
            return next(iter(self._apps.values()), None)
        group = self.node.served_in().get(line)
        return None if group is None else self._apps.get(group)

    async def _person_line(self, scope: Scope) -> str | None:
        """The line a person's request is for (None: not known, or no way to know)."""
        if self._placement is None:
            return None
        asked = HTTPConnection(scope)
        scheme, _, bearer = asked.headers.get("authorization", "").partition(" ")
        bearer = bearer.strip() if scheme.lower() == "bearer" else ""
        return await self._placed(self._placement.person, scope["path"],
                                  bearer or asked.query_params.get("token"),
                                  asked.cookies.get(COOKIE))  # fmt: skip

    async def _placed(self, how: Callable[..., str | None], *args: Any) -> str | None:
        try:
            return await asyncio.to_thread(how, *args)
        except Exception as e:  # noqa: BLE001 - the store is away: to any node that leads
            log.warning("node %s cannot tell a request's line (%s)", self.node.name,
                        type(e).__name__)  # fmt: skip
            return None

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
        """The address of the node that leads `line` (None: any line's, the first by name:
        a request no line was found for), if another node does. Who
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
        if _forwarded(request.scope):
            return _line_named(request.scope)  # (as the node that forwarded it placed it)
        if self._placement is None:
            return None
        return await self._placed(self._placement.webhook, *_call_and_number(request, body))

    async def _relay(self, scope: Scope, receive: Receive, send: Send, line: str | None) -> None:
        """A person's request, to the node that leads its line as it came; its answer as
        that node gave it."""
        request = Request(scope, receive)
        try:
            body = await forms.read_body(request, MAX_RELAYED)
        except Refused as e:
            await error_body(e.status, e.error_id, e.message)(scope, receive, send)
            return
        leader = await self.leader(line)
        try:
            r = None if leader is None else await self._forward(request, leader, body, line)
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
        except NOT_SENT as e:  # it never had the request: as if no node led the line
            log.warning("a request could not be relayed to the leader %s: %s", leader,
                        type(e).__name__)  # fmt: skip
            r = None
        except httpx.HTTPError as e:  # it had the request (or part), and may have acted
            log.warning("the leader %s was lost with a relayed request: %s", leader,
                        type(e).__name__)  # fmt: skip
            lost = error_body(502, "leader-lost", "the node that leads took the request "
                              "but was lost before it answered: look before you send it "
                              "again")  # fmt: skip
            await lost(scope, receive, send)
            return
        if r is None:
            await (await self._standby(scope["path"]))(scope, receive, send)
            return
        await r.response(request.method)(scope, receive, send)

    async def _relay_socket(self, ws: WebSocket, line: str | None) -> None:
        """A person's websocket, joined to one the node that leads its line opens for it:
        what either side sends goes to the other, and a close (its code) too. No leader, or
        the leader gone without a word: closed 1013 (the pages connect again, to any node);
        refused by the leader before it accepted: refused here alike (403)."""
        leader = await self.leader(line)
        try:
            upstream = None if leader is None else await self._open(ws, leader, line)
        except Refused:
            await ws.close()
            return
        if upstream is None:
            await _try_again(ws)
            return
        await ws.accept()
        async with upstream:
            await _joined(ws, [upstream])

    async def _open(self, ws: WebSocket, node: str, line: str | None) -> ClientConnection | None:
        """The person's websocket opened on `node` for `line`, as it came (its target, its
        credentials, who asked); None if that node did not answer; Refused if it refused."""
        url = f"ws{node.removeprefix('http')}{_target(ws.scope).decode('latin-1')}"
        headers = {k: v for k, v in ws.headers.items() if k.lower() in SOCKET_HEADERS}
        headers |= {FORWARDED: self.node.name, **self._client_header(ws.scope)}
        if line is not None:
            headers[LINE] = quote(line)
        try:
            return await connect(url, origin=ws.headers.get("origin"),  # type: ignore[arg-type]
                                 additional_headers=headers, proxy=None,
                                 open_timeout=FORWARD_TIMEOUT, user_agent_header=None,
                                 compression=None)  # fmt: skip
        except InvalidStatus as e:
            if e.response.status_code < 500:  # refused by the leader: refused here alike
                raise Refused(403, "refused", "refused by the node that serves the line") from e
            return None
        except (OSError, TimeoutError, WebSocketException) as e:
            log.warning("a websocket could not be relayed to %s: %s", node, type(e).__name__)
            return None

    # -- what every line has to say: the wallboard's

    async def _targets(self) -> dict[str, str]:
        """A line of each app that serves lines, and the node it is on: the wallboard's
        figures and events come from each. Here, a line of each group built (this node's
        own address); elsewhere, a line of each group there is for each node that leads
        some of it. Lines no node leads now (a takeover under way) are left out."""
        if not self.node.seen:  # (before this node's first round: whichever node leads)
            node = await self.leader()
            return {"": node} if node else {}
        here = self.node.leases.address.rstrip("/")
        out = {group[0]: here for group in self._apps}
        served = self.node.served_in()
        for group in self.node.seen:
            there: dict[str, str] = {}  # (each node's first line of the group)
            for line in group:
                if line not in served and (node := await self.leader(line)) is not None:
                    there.setdefault(node, line)
            out |= {line: node for node, line in there.items()}
        return {line: node for line, node in out.items() if node}

    async def _stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The wallboard's figures, every line's: those of each group, asked of the node
        that serves it, in one answer (`lines` of all, `at` the latest). A refusal (who
        asks may not) is answered as it came; a group whose node does not answer is left
        out until it does (the page asks again on the next event)."""
        request = Request(scope, receive)
        answers = []
        for line, node in (await self._targets()).items():
            try:
                answers.append(await self._forward(request, node, b"", line or None))
            except httpx.HTTPError as e:
                log.warning("the figures of %s could not be had from %s: %s", line, node,
                            type(e).__name__)  # fmt: skip
        refused = next((a for a in answers if 400 <= a.status < 500), None)
        good = [a for a in answers if a.status == 200]
        if refused is not None or not good:
            answer = refused.response(request.method) if refused is not None \
                else await self._standby(scope["path"])  # fmt: skip
            await answer(scope, receive, send)
            return
        said = [json.loads(a.body) for a in good]
        merged = {"at": max(x["at"] for x in said),
                  "lines": {k: v for x in said for k, v in x["lines"].items()}}  # fmt: skip
        await JSONResponse(merged, headers={"Cache-Control": "no-store"})(scope, receive, send)

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The node's health when it serves several groups: each group's app is asked, and
        the node is ready only if every one is (a group whose writes do not land makes the
        node not ready, as it would alone); the lines of all, and each group's answer."""
        said = []
        for app in list(self._apps.values()):
            status, body = await _asked(app, scope)
            said.append((status, json.loads(body)))
        ready = all(status == 200 for status, _ in said)
        whole = {"ready": ready, "node": said[0][1].get("node"),
                  "lines": [x for _, body in said for x in body.get("lines", [])],
                  "groups": [{k: v for k, v in body.items() if k != "node"}
                             for _, body in said]}  # fmt: skip
        answer = JSONResponse(whole, status_code=200 if ready else 503,
                              headers={"Cache-Control": "no-store"})  # fmt: skip
        await answer(scope, receive, send)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The node's metrics when it serves several groups: each group's app is asked,
        and their metrics merged into one scrape (`metrics.merged`); one that refuses (no
        token, a wrong one) answers as it does."""
        apps = list(self._apps.values())
        said = [await _asked(app, scope) for app in apps]
        refused = next((app for app, (status, _) in zip(apps, said, strict=True)
                        if status != 200), None)  # fmt: skip
        if refused is not None:
            await refused(scope, _replay(b""), send)
            return
        body = merged([body for _, body in said])
        await Response(body, media_type=CONTENT_TYPE)(scope, receive, send)

    async def _leases_only(self, scope: Scope, receive: Receive, send: Send) -> None:
        """/metrics on a node that serves no line here (a standby, or one whose lines' app
        is being built): the leases it holds, none on a standby; 200, so a scrape tells a
        standby that is up from a node that is down."""
        try:
            check_token(self._metrics_token, Request(scope, receive))
        except Refused as e:
            await error_body(e.status, e.error_id, e.message)(scope, receive, send)
            return
        body = leases_only(self.node.led())
        await Response(body, media_type=CONTENT_TYPE)(scope, receive, send)

    async def _events(self, ws: WebSocket) -> None:
        """The wallboard's events, every line's: a socket to the node that serves each
        group, joined into this one (what any sends comes here). One of them closing
        closes this (the page connects again); refused by one, refused here (403)."""
        upstreams: list[ClientConnection] = []
        try:
            for line, node in (await self._targets()).items():
                opened = await self._open(ws, node, line or None)
                if opened is not None:
                    upstreams.append(opened)
        except Refused:
            for upstream in upstreams:
                await upstream.close()
            await ws.close()
            return
        if not upstreams:
            await _try_again(ws)
            return
        await ws.accept()
        async with contextlib.AsyncExitStack() as stack:
            for upstream in upstreams:
                await stack.enter_async_context(upstream)
            await _joined(ws, upstreams)

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
        # a prompt's audio is asked of the leader once, never held for one: the carrier
        # waits on it, and skips a prompt that is not there (503) sooner than it would
        once = request.url.path == AUDIO
        line: str | None = None
        placed = False  # (placing reads the store: not when this node leads every line)
        while True:
            app = self._sole()
            if app is None:
                if not placed:
                    line, placed = await self._line_of(request, body), True
                app = self._local(line) if self._apps else None
            if app is not None:  # this node leads the line (now): it serves the request,
                answer = await self._answered(app, scope, body)  # unless its line stopped
                if answer is not None:  # here meanwhile (handed over as it waited): then
                    for message in answer:  # it goes on as one for a line not led here
                        await send(message)
                    return
                if not placed:
                    line, placed = await self._line_of(request, body), True
            if not forwarded:
                leader = await self.leader(line)
                try:
                    r = None if leader is None else \
                        await self._forward(request, leader, body, line)  # fmt: skip
                except httpx.HTTPError as e:  # (a webhook again is answered from its reply)
                    log.warning("a webhook could not be forwarded to the leader %s: %s",
                                leader, type(e).__name__)  # fmt: skip
                    r = None
                if r is not None and (r.status < 500 or once):  # (5xx: as if it had not
                    # answered, but for a prompt's audio, tried once)
                    await r.response(request.method)(scope, receive, send)
                    return
            if time.monotonic() >= deadline or forwarded or once:
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

    async def _forward(
        self, request: Request, leader: str, body: bytes, line: str | None = None
    ) -> Answer:
        """The request as it came (its method, its target byte for byte, its header fields
        as bytes, its body), to the leader of `line`, with who asked and the line; its
        answer as the leader gave it, body not decoded. Raises httpx.HTTPError if the
        leader did not answer."""
        scope = request.scope
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1") not in HOP]
        headers += [(FORWARDED.encode(), self.node.name.encode())]
        if line is not None:
            headers += [(LINE.encode(), quote(line).encode())]
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
            stack.callback(self._leases.close)  # (its work is done: `leave` was awaited)
            stack.push_async_callback(self._client.aclose)
            stack.push_async_callback(self._leases.run, self.node.leases.leave)
            stack.push_async_callback(self._stop_all)
            stack.push_async_callback(self._end_handing)
            task = asyncio.create_task(self._elect())
            stack.push_async_callback(_stopped, task)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def _elect(self) -> None:
        """Every half second a round: the heartbeat (a leader's renewal, when due), then
        the groups of lines claimed (service.node), each built and served."""
        said: set[str] = set()  # why rounds failed since the last that worked (each once)
        renewed = time.monotonic()
        while True:
            try:
                if not self._apps:
                    await self._leases.run(self.node.leases.heartbeat)
                elif time.monotonic() - renewed >= self.node.every:
                    renewed = time.monotonic()
                    await self._leases.run(self.node.renew)
                for group in [] if self._behind else await self._leases.run(self.node.claim):
                    await self._take_over(group)
                if self.node.handing in self._apps and self._handing is None:
                    self._handing = asyncio.create_task(self._hand_over(self.node.handing))
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
            await asyncio.sleep(self.node.watch_every)

    async def _take_over(self, group: tuple[str, ...]) -> None:
        """Build a group of lines (recovering its open calls can take seconds: the leases
        are renewed meanwhile) and serve it; a node that cannot build it lets its lines go
        and stops (a standby that could is not kept waiting). A node left behind in an
        upgrade (the database's schema is a newer Hotline's) lets the group go at once,
        stops its other groups first (their last writes landed), then stops; counted
        alive, it would keep lines from the nodes that can lead them."""
        building = asyncio.ensure_future(asyncio.to_thread(self._build, group))
        await self._renewing(building)
        stop = contextlib.AsyncExitStack()
        try:
            app = building.result()
            await self._leases.run(self.node.renew)  # trusted afresh before it acts
            await stop.enter_async_context(_running(app))
        except SchemaAhead as e:  # (its restart stops at the same check, until upgraded)
            self._behind = e.message
            await self._leases.run(self.node.hand_over, group, "a newer Hotline's to lead")
            try:
                await self._end_handing()
                await self._stop_all()  # (the others' writes landed before their leases go)
            finally:  # (one that failed to stop is the log's; counted alive, it would
                # keep lines from the nodes that can lead them)
                await self._leases.run(self.node.give_up, e.message)
            return
        except Exception as e:
            log.exception("node %s could not build %s", self.node.name, ", ".join(group))
            await self._leases.run(self.node.give_up, f"the line could not be built ({e!r})")
            return
        self._apps[group], self._stops[group] = app, stop
        log.info("node %s serves %s", self.node.name, ", ".join(group))

    async def _hand_over(self, group: tuple[str, ...]) -> None:
        """Stop serving a group and let its leases go, for a node that leads less than its
        share: from now its requests wait for (or are sent to) the node that takes it; the
        requests under way finish first (up to HAND_OVER_WAIT seconds), then its app stops
        (its sockets closed, its writes landed, its carrier requests sent) before its leases
        go. In a task of its own, beside the rounds of election: with the carrier stalled
        the stop takes a minute and more, and the node claims what is free meanwhile."""
        try:
            app = self._apps.pop(group)
            await self._renewing(asyncio.ensure_future(self._quiet(id(app))))
            stopping = self._stop(group)
            await self._renewing(stopping)
            if not stopping.cancelled() and stopping.exception() is not None:
                log.error("node %s: %s's app failed as it stopped (its leases go all the "
                          "same)", self.node.name, ", ".join(group),
                          exc_info=stopping.exception())  # fmt: skip
            await self._leases.run(self.node.hand_over, group)
        except Exception:  # logged, not silenced (its leases, not renewed, run out)
            log.exception("node %s: handing %s over failed", self.node.name, ", ".join(group))
        finally:
            self._handing = None

    async def _end_handing(self) -> None:
        """At the node's end: a hand-over under way goes no further (its group's stop, if
        it began, goes on: `_stop_all` waits for it)."""
        if self._handing is not None:
            await _stopped(self._handing)

    def _stop(self, group: tuple[str, ...]) -> asyncio.Future[Any]:
        """The group's app stopping, started now if it was not: kept until it is over, so
        that the node's end (SIGTERM in a hand-over) waits for it before its leases go."""
        stop = self._stops.pop(group, None)
        if stop is not None:
            stopping = asyncio.ensure_future(stop.aclose())
            self._stopping[group] = stopping

            def over(_: object) -> None:
                if self._stopping.get(group) is stopping:
                    del self._stopping[group]

            stopping.add_done_callback(over)
        return self._stopping[group]

    async def _quiet(self, app: int) -> None:
        """Until an app has no request under way (HAND_OVER_WAIT seconds at most)."""
        deadline = time.monotonic() + HAND_OVER_WAIT
        while self._busy[app] and time.monotonic() < deadline:
            await asyncio.sleep(POLL / 10)

    async def _renewing(self, work: asyncio.Future[Any]) -> None:
        """Until `work` is done (its outcome left in it), the leases renewed meanwhile (a
        group built or stopped can take seconds: the others' leases must not run out)."""
        while not work.done():
            await asyncio.wait({work}, timeout=self.node.every)
            if not work.done():
                await self._leases.run(self.node.renew)

    async def _stop_all(self) -> None:
        """At the node's end: every group's app stopped, a hand-over's under way included,
        the leases renewed meanwhile (an app's line lands its last writes, for up to seconds
        while the store is away, and sends its carrier requests still queued: its leases
        must not run out before, nor the others' while it does). All at once: one after
        another, a carrier or a store that stalls would hold each in turn. The first to
        fail raises, once all are over."""
        for group in list(self._stops):
            self._apps.pop(group, None)
            self._stop(group)
        if not self._stopping:
            return
        stopping = asyncio.gather(*self._stopping.values(), return_exceptions=True)
        await self._renewing(stopping)
        failed = [x for x in stopping.result() if isinstance(x, BaseException)]
        for e in failed[1:]:  # (the first is raised)
            log.error("node %s: an app failed as it stopped", self.node.name, exc_info=e)
        if failed:
            raise failed[0]


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


def _line_named(scope: Scope) -> str | None:
    """The line the node that relayed a request placed it on (None: it did not say)."""
    said = next((v for k, v in scope.get("headers", ()) if k == LINE.encode()), None)
    return None if said is None else unquote(said.decode("latin-1"))


def _forwarded(scope: Scope) -> bool:
    """A request another node relayed here (it is never relayed again)."""
    return any(k == FORWARDED.encode() for k, _ in scope.get("headers", ()))


async def _joined(ws: WebSocket, upstreams: list[ClientConnection]) -> None:
    """Frames both ways until one side closes (what the person sends goes to every
    upstream, what any upstream sends to the person); the other is closed with its code."""

    async def down(upstream: ClientConnection) -> None:  # leader -> person
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
                    for upstream in upstreams:
                        await upstream.close(code=1001 if code in UNSENDABLE else code)
                    return
                said = message.get("text")
                if said is None:
                    said = message.get("bytes")
                if said is not None:
                    for upstream in upstreams:
                        await upstream.send(said)
        except (ConnectionClosed, WebSocketDisconnect):
            pass

    tasks = [asyncio.ensure_future(down(u)) for u in upstreams] + [asyncio.ensure_future(up())]
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


async def _asked(app: Any, scope: Scope) -> tuple[int, bytes]:
    """A request (no body) put to one of this node's apps in this process: its status and
    its body."""
    status, chunks = 500, []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, _replay(b""), send)
    return status, b"".join(chunks)


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
