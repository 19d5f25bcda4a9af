"""`GET /healthz`: ready to take calls, or a 503 saying why not."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hotline.service.health import Throttle
from hotline.store.db import DatabaseFile, Schema, schema
from hotline.web.errors import responses
from hotline.web.runtime import LineRuntime

log = logging.getLogger("hotline.web")
HEALTH_TIMEOUT = 3.0  # seconds /healthz waits for the database


def health_router(rt: LineRuntime) -> APIRouter:
    router = APIRouter()
    line = rt.line
    database_file = DatabaseFile.of(line.store.engine)
    file_alarm = Throttle(logger=log, every=60.0, wall=line.wall)
    probing: list[asyncio.Future[Schema]] = []  # the one schema check under way, if any

    async def probe() -> Schema:
        """The database's schema against ours (`store.db.schema`), asking the database at
        most once at a time (a stalled database must not tie up a thread per health check)."""
        if not probing or probing[0].done():
            probing[:] = [asyncio.ensure_future(asyncio.to_thread(schema, line.store.engine))]
        return await asyncio.wait_for(asyncio.shield(probing[0]), HEALTH_TIMEOUT)

    @router.get("/healthz", responses=responses(503))
    async def healthz() -> JSONResponse:
        """Ready to take calls: the database answers with the current schema, its file is
        the one we opened, and writes are landing."""
        writes = asdict(line.health.snapshot(line.writer.waiting()))
        body: dict[str, Any] = {
            "lines": [
                {
                    "name": name,
                    "number": s.number,
                    "flow": s.flow.flow.name,
                    "version": s.flow.flow.version,
                }
                for name, s in line.setups.items()
            ],
            "writes": {k: v for k, v in writes.items() if k != "healthy"},
            "agent_sockets": len(rt.sockets),
        }
        if rt.node is not None:  # one node of several: which, and what it leads
            body["node"] = rt.node()
        problem = database_file.problem() if database_file is not None else None
        if problem is not None:
            file_alarm(logging.ERROR, "%s while the server runs: writes are not reaching "
                       "it; restore the file or restart the server", problem)  # fmt: skip
            return JSONResponse({**body, "ready": False, "database": problem}, status_code=503)
        try:
            found = await probe()
        except TimeoutError:
            database = f"did not answer within {HEALTH_TIMEOUT:g} s"
            return JSONResponse({**body, "ready": False, "database": database}, status_code=503)
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(
                {**body, "ready": False, "database": type(e).__name__}, status_code=503
            )
        # ("newer": a newer node migrated the database; this one, left behind in an
        # upgrade, serves on as before: docs/operations.md, "Upgrading")
        ready = found != "old" and writes["healthy"]
        body |= {"ready": ready, "database": "ok", "schema": found}
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
