"""The FastAPI app of one line: `create_app` mounts the routers (voice webhooks, the
agents' API, supervisors' stats and events, health) over one `LineRuntime`.

The carrier never sees a 500: a bad signature is a 403, a malformed body a 400 (checked
before anything else is read from the request), and anything that goes wrong while a
caller is on the line answers with TwiML that keeps them where they were (in the queue,
with a pause and a retry) rather than dropping the call. `web.errors` turns every refusal
into `{"error_id", "message"}`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline.records.audit import AuditTrail
from hotline.records.desk import RecordDesk
from hotline.service.accounts import Accounts
from hotline.service.configuration import FLOW_MAX, Configuration
from hotline.service.live import LiveLine
from hotline.service.prompt_audio import check_speech, prompt_audio
from hotline.service.settings import Settings
from hotline.store.accounts import AccountStore
from hotline.telephony.control import CallControl
from hotline.web import docs, pages
from hotline.web.admin import admin_router
from hotline.web.agents import agents_router
from hotline.web.audit import audit_router
from hotline.web.auth import Access, auth_router
from hotline.web.errors import body, install
from hotline.web.health import health_router
from hotline.web.metrics import Metrics, TimeWebhooks, metrics_router
from hotline.web.runtime import LineRuntime
from hotline.web.stats import stats_router
from hotline.web.voice import voice_router

if TYPE_CHECKING:
    from hotline.service.bootstrap import Parts
    from hotline.web.node_app import NodeApp

API_MAX_BODY = 16 * 1024  # the API's JSON bodies are a few hundred bytes
ADMIN_MAX_BODY = FLOW_MAX * 2 + 1024  # a flow file uploaded, escaped in JSON


def api_body_refused(request: Request) -> Response | None:
    """An API request whose body is too large (413) or of unknown size (411), before it is
    read; the carrier's webhooks have their own limit (`web.forms`)."""
    if not request.url.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    size = request.headers.get("content-length")
    if size is None:
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return body(411, "length-required", "send the body with a Content-Length")
        return None
    limit = ADMIN_MAX_BODY if request.url.path.startswith("/api/admin/") else API_MAX_BODY
    if not size.isascii() or not size.isdigit() or int(size) > limit:
        return body(413, "body-too-large", f"this request's body is at most {limit} bytes")
    return None


class NoStore:
    """ASGI middleware: nothing the app answers may be kept by a browser or a proxy (pages
    and responses show call data); an API request's body is small and says its size
    (`api_body_refused`). Plain ASGI, as `metrics.TimeWebhooks` is, for the same reason."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        refused = api_body_refused(Request(scope))
        await (self.app if refused is None else refused)(scope, receive, no_store)


# how `hotline serve` runs an app under uvicorn (bench/bench_live.py runs Hotline so too)
SERVING: Final[dict[str, Any]] = {
    "log_level": "warning",
    "log_config": None,  # (uvicorn's lines go through the same handler, with a time and level)
    "timeout_graceful_shutdown": 5,
    # no permessage-deflate on the agents' and wallboards' sockets: their messages are small
    # JSON, which fits a packet either way, and compression cost each socket 49 KiB more of
    # the server's memory (340 MB for 7,000 agents) and each message about 1.6 times the CPU
    # (bench/bench_sockets.py, docs/benchmarks.md)
    "ws_per_message_deflate": False,
}


def create_app(
    *,
    settings: Settings,
    line: LiveLine,
    control: CallControl,
    clock: Callable[[], float] = time.time,
    desk: RecordDesk | None = None,
    trail: AuditTrail | None = None,
    before_acting: Callable[[], None] | None = None,
    node: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """The app for one line. Nothing is created at import; `hotline serve` calls this.
    `clock`: the accounts' time (sessions' limits), real seconds unless a test moves it.
    `desk`: agents' record look-ups (none: the desktop offers none); `trail`: the audit
    trail's signed checkpoints, written by the ticker (none: entries only); `before_acting`:
    called before the line acts (a node stops there once its leases are not trusted);
    `node`: what /healthz says of the node (its name, the lines it leads and epochs)."""
    accounts = Accounts(store=AccountStore(engine=line.store.engine), clock=clock,
                        key=settings.keyring())  # fmt: skip
    access = Access(accounts=accounts, store=line.store, public_url=settings.public_url)
    rt = LineRuntime(
        settings=settings,
        line=line,
        control=control,
        trail=trail,
        still_valid=access.still_valid,
        revision=line.store.access_revision,
        token_clock=access.now,
    )
    if before_acting is not None:  # one node of several (service.node)
        rt.before_acting = before_acting
    rt.node = node
    rt.audio = prompt_audio(settings.speech, settings.keyring(), line.languages(),
                            clock=line.wall, run=rt.speaking.run)  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with rt.running():
            yield

    app = FastAPI(
        title="Hotline",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would be built from the request's Host header
    )
    install(app)
    # (a request is matched against the routes in this order: the carrier's webhooks and
    # the agents' API, most of all requests, first; the pages and the API's document last)
    metrics = Metrics(rt)
    routers = (voice_router(rt), agents_router(rt, access, desk), stats_router(rt, access),
               auth_router(access), health_router(rt),
               admin_router(rt, access, Configuration(store=line.store,
                                                      desk_connectors=line.desk_connectors)),
               audit_router(line.store.engine, access, clock),
               metrics_router(rt, metrics))  # fmt: skip
    for router in routers:
        app.include_router(router)
    docs.mount(app)
    pages.mount(app, settings)
    app.add_middleware(TimeWebhooks, metrics=metrics)
    app.add_middleware(NoStore)  # (the outer one: the last added)

    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The document as the app answers: malformed requests get our 400, never the
        framework's 422, so its responses and schemas are not declared."""
        schema = framework_openapi()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_node(
    settings: Settings,
    *,
    name: str,
    address: str,
    lease_seconds: float,
    on_lost: Callable[[str], None],
    report: Callable[[str], None],
    built: Callable[[Parts], None] | None = None,
) -> NodeApp:
    """The app of one node of several (`hotline serve --node NAME`, bench/bench_live.py's
    `--node`): it joins the store's nodes as `name` (raises NodeRefused if a node of that
    name is alive), stands by, and serves the groups of lines it leads, each built from the
    store as it takes them over. `address`: where the other nodes reach it;
    `on_lost(why)`: called once its leases may not be trusted any more (the node must stop
    acting); `report(text)`: what a start says (the open calls recovered); `built(parts)`:
    each group's line as it is built, before it serves (a bench's instruments)."""
    from hotline.errors import NodeRefused
    from hotline.service.bootstrap import (
        audit_trail,
        build_line,
        call_control,
        ensure_line,
        store_for,
    )
    from hotline.service.node import Node
    from hotline.service.spread import Layout, Placement
    from hotline.store.db import connect
    from hotline.store.leases import Leases
    from hotline.store.repository import Store
    from hotline.web.node_app import NodeApp, relay_key

    control = call_control(settings)
    settings.required_sealing_key()
    check_speech(settings.speech, settings.keyring())
    store, _ = store_for(settings)
    ensure_line(settings, store)
    # the node's lease work (its leases, and the groups of lines it weighs and claims) on a
    # pool of its own: it never waits for a connection the requests' placement holds
    own = Store(engine=connect(settings.database_url, create=False), key=settings.keyring())
    leases = Leases(engine=own.engine, node=name, address=address, ttl=lease_seconds)
    try:
        leases.join()
    except NodeRefused:  # (a caller that goes on, as a bench does, keeps no connection)
        own.engine.dispose()
        store.engine.dispose()
        raise
    claimed = Layout(store=own, home=settings.line_number)
    member = Node(leases=leases, groups=claimed.groups, weigh=claimed.weight, on_lost=on_lost)
    layout = Layout(store=store, home=settings.line_number)  # (the requests' placement)

    def leading() -> dict[str, object]:
        return {"name": name, "role": "leader", "leads": member.led()}

    def build(group: tuple[str, ...]) -> object:
        def serves(line: str) -> bool:  # (a line new in the store that joins the group too)
            return member.served_in().get(line) == group

        parts = build_line(settings, control=control, fence=member.fence, serves=serves)
        if parts.recovered:
            report(
                "recovered open calls: "
                + ", ".join(f"{k} {v}" for k, v in sorted(parts.recovered.items()))
            )
        if built is not None:
            built(parts)
        return create_app(settings=settings, line=parts.line, control=control,
                          desk=parts.desk, trail=audit_trail(parts.store),
                          before_acting=member.check, node=leading)  # fmt: skip

    assert settings.secret_key is not None  # (required above: it is the sealing key)
    key = relay_key(settings.secret_key.get_secret_value())
    placement = Placement(store=store, accounts=AccountStore(engine=store.engine),
                          home=settings.line_number, layout=layout)  # fmt: skip
    return NodeApp(node=member, build=build, public_url=settings.public_url, relay_key=key,
                   placement=placement, metrics_token=settings.metrics_token)  # fmt: skip
