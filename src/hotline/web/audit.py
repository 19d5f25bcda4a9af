"""The auditors' API over the audit trail, for the `/audit` page: `GET /api/audit/entries`
(a search, newest first, paged by sequence number: `records.audit_search`) and
`GET /api/audit/checkpoints` (the latest signed checkpoints). Auditors only. Every call
appends an `audit.read` entry (the auditor, their session's public id, their address, the
filters used, what was read) before it answers; if that entry cannot be written, nothing
is answered but a 503 (fail closed). Someone logged on in another role who tries is
refused (403) with an `audit.read` entry of outcome `refused`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hotline.errors import AuditError, SearchInvalid, StoreError
from hotline.records.audit import record_entry
from hotline.records.audit_search import (
    CHECKPOINTS_MAX,
    Reader,
    Search,
    iso,
    read_checkpoints,
    read_entries,
)
from hotline.web.auth import Access, Who, client_address, needs
from hotline.web.errors import Refused, responses

log = logging.getLogger("hotline.web")
T = TypeVar("T")
AUDITORS = ("auditor",)
NOT_AUDITED = (
    "this reading of the audit trail could not itself be written to the trail, so nothing "
    "is shown; try again, and tell an administrator if it goes on"
)


def audit_router(engine: Engine, access: Access, clock: Callable[[], float]) -> APIRouter:
    router = APIRouter(prefix="/api/audit", responses=responses(400, 401, 403, 503))

    def reader(request: Request, who: Who) -> Reader:
        return Reader(at=clock(), actor=who.name, role=who.role, session=who.audit_session,
                      source=client_address(request))  # fmt: skip

    def refused_read(request: Request, who: Who) -> None:
        """Someone logged on but not an auditor tried to read the trail: that too is in it."""
        what = "audit-checkpoints" if request.url.path.endswith("/checkpoints") else "audit-trail"
        entry = reader(request, who).entry(what, {"error_id": "wrong-role"})
        record_entry(engine, replace(entry, outcome="refused"))

    auditor = needs(access, AUDITORS, refused_read)

    async def audited(fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except SearchInvalid as e:
            raise Refused(400, e.error_id, e.message) from None
        except (StoreError, AuditError, SQLAlchemyError) as e:  # (no answer without its entry)
            log.error("an audit read was refused: its audit entry could not be written (%s)",
                      type(e).__name__)  # fmt: skip
            raise Refused(503, "read-not-audited", NOT_AUDITED) from None

    @router.get("/entries")
    async def entries(request: Request, who: Who = Depends(auditor)) -> JSONResponse:
        """Search the trail, newest first. Filters: `actor`, `outcome` (exact); `action`
        (exact, or a prefix ending in a dot: `record.`); `object` (exact, or a prefix ending
        in `*`: `case:*`); `since`, `until` (UTC dates or datetimes; `until` excludes, a
        date as `until` includes its day); `before` / `after` (a sequence number: the page
        older / newer than it); `limit` (100, at most 500). `next` and `previous` are the
        parameters of the older and the newer page (null: none)."""
        params = request.query_params
        repeated = sorted({k for k in params if len(params.getlist(k)) > 1})
        if repeated:
            raise Refused(400, "bad-filter", f"{repeated[0][:32]}: give each filter once")
        try:
            search = Search.parse(dict(params))
        except SearchInvalid as e:
            raise Refused(400, e.error_id, e.message) from None
        page = await audited(lambda: read_entries(engine, search, reader(request, who)))
        return JSONResponse({
            "entries": [{**r.as_json(), "at": iso(r.at_cs)} for r in page.rows],
            "next": None if page.older is None else {"before": page.older},
            "previous": None if page.newer is None else {"after": page.newer},
        })  # fmt: skip

    @router.get("/checkpoints")
    async def checkpoints(
        request: Request, limit: int = Query(5, ge=1, le=CHECKPOINTS_MAX),
        who: Who = Depends(auditor),
    ) -> JSONResponse:  # fmt: skip
        """The latest signed checkpoints (5 unless `limit`, at most 20), newest first: the
        tree size, the UTC time and the signed note, to check offline with `hotline audit
        verify` and the verifier key."""
        found = await audited(lambda: read_checkpoints(engine, limit, reader(request, who)))
        out: list[dict[str, Any]] = [
            {"id": c.id, "size": c.size, "at": iso(c.at_cs), "note": c.note} for c in found
        ]
        return JSONResponse({"checkpoints": out})

    return router
