"""The FastAPI app of one line: `create_app` mounts the routers (voice webhooks, the
agents' API, supervisors' stats and events, health) over one `LineRuntime`.

The carrier never sees a 500: a bad signature is a 403, a malformed body a 400 (checked
before anything else is read from the request), and anything that goes wrong while a
caller is on the line answers with TwiML that keeps them where they were (in the queue,
with a pause and a retry) rather than dropping the call. `web.errors` turns every refusal
into `{"error_id", "message"}`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from hotline.service.live import LiveLine
from hotline.service.settings import Settings
from hotline.telephony.control import CallControl
from hotline.web import docs
from hotline.web.agents import agents_router
from hotline.web.errors import install
from hotline.web.health import health_router
from hotline.web.runtime import LineRuntime
from hotline.web.stats import stats_router
from hotline.web.voice import voice_router


def create_app(*, settings: Settings, line: LiveLine, control: CallControl) -> FastAPI:
    """The app for one line. Nothing is created at import; `hotline serve` calls this."""
    rt = LineRuntime(settings=settings, line=line, control=control)

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
    docs.mount(app)
    for router in (voice_router(rt), agents_router(rt), stats_router(rt), health_router(rt)):
        app.include_router(router)
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
