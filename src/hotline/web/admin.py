"""The administrators' API over the lines' stored configuration (`service.configuration`),
for the admin page: agents and their skills, queues and their steps, a line's mode, its
flow's versions (upload, activate, roll back). Administrators only. A change is used
from each line's next routing decision: the lines are reloaded before the answer.

A change the validators refuse is a 400 with every problem, each located in the text
sent where it can be (`problems`: file, line, column, message, hint)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from hotline.errors import ChangedMeanwhile, ConfigError, LineStopped
from hotline.ivr.flow_file import VERSION_MAX
from hotline.service.configuration import FLOW_MAX, Configuration, NotFound
from hotline.web.auth import Access, Who, needs
from hotline.web.errors import Refused, responses
from hotline.web.runtime import LineRuntime

T = TypeVar("T")
Version = Annotated[int, Path(ge=1, le=VERSION_MAX)]
ADMINS = ("admin",)
STOPPED_HERE = (
    "the change is in the store; this server no longer serves its lines (handed over, or "
    "stopping), so the node that leads them next takes it up as it starts"
)
NAME = r"^[^\x00-\x1f\x7f]{1,64}$"


class Skills(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skills: dict[str, StrictInt] = Field(max_length=64)


class QueueText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=16 * 1024)


class Mode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str = Field(max_length=16)


class FlowUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=FLOW_MAX)
    activate: bool = True


def refused(e: ConfigError) -> JSONResponse:
    """Every problem, located: the page shows each at its line of the text sent."""
    problems = [{"file": _sayable(p.file), "line": p.line, "column": p.column,
                 "message": _sayable(p.message), "hint": _sayable(p.hint)}
                for p in e.problems]  # fmt: skip
    return JSONResponse({"error_id": e.error_id, "message": _sayable(e.message),
                         "problems": problems}, status_code=400)  # fmt: skip


def _sayable(text: str | None) -> str | None:
    """Text fit for a JSON answer: a lone surrogate (a flow's text can name one, and a
    problem quote it) written as its escape, which UTF-8 cannot encode as it is."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def admin_router(rt: LineRuntime, access: Access, config: Configuration) -> APIRouter:
    router = APIRouter(prefix="/api/admin", responses=responses(400, 401, 403, 404, 503))
    admin = needs(access, ADMINS)

    async def change(fn: Callable[[], T]) -> dict[str, Any]:
        """Carry out a change (off the event loop), then reload the lines: what changed,
        and (`not_live`) why a line the running server could not take its new
        configuration keeps its own until a restart (the change is in the store)."""
        try:
            result = await asyncio.to_thread(fn)
        except NotFound as e:
            raise Refused(404, e.error_id, e.message) from None
        except ChangedMeanwhile as e:
            raise Refused(409, e.error_id, e.message) from None
        try:
            reloaded = await rt.reload_lines()
        except LineStopped:  # (the change is made: it must not be answered as not done)
            return {"ok": True, "reloaded": {}, "not_live": {}, "added": [],
                    "stopped": STOPPED_HERE}  # fmt: skip
        out: dict[str, Any] = {"ok": True, "reloaded": reloaded.changed,
                               "not_live": reloaded.refused, "added": reloaded.added}  # fmt: skip
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            out["result"] = dataclasses.asdict(result)
        return out

    async def answer(fn: Callable[[], T]) -> JSONResponse:
        try:
            return JSONResponse(await change(fn))
        except ConfigError as e:
            return refused(e)

    @router.get("/lines")
    async def lines(_who: Who = Depends(admin)) -> JSONResponse:
        """Each line: number, time zone, mode, its flow's versions (which is active) and
        its queues (as scenario-file text)."""
        return JSONResponse({"lines": await asyncio.to_thread(config.lines)})

    @router.get("/agents")
    async def agents(_who: Who = Depends(admin)) -> JSONResponse:
        """Every agent: the lines they work on and their skills."""
        return JSONResponse({"agents": await asyncio.to_thread(config.agents)})

    @router.put("/agents/{agent_id}/skills")
    async def skills(agent_id: str, body: Skills, who: Who = Depends(admin)) -> JSONResponse:
        """Set an agent's skills (on every line they work on)."""
        return await answer(functools.partial(config.set_skills, who.name, agent_id, body.skills))

    @router.put("/lines/{line}/queues/{queue}")
    async def queue(
        line: str, queue: str, body: QueueText, who: Who = Depends(admin)
    ) -> JSONResponse:
        """Set a queue from its scenario-file text (steps, overflow, wrap-up, aging)."""
        return await answer(functools.partial(config.set_queue, who.name, line, queue, body.text))

    @router.put("/lines/{line}/mode")
    async def mode(line: str, body: Mode, who: Who = Depends(admin)) -> JSONResponse:
        """Put a line in normal, holiday or emergency mode (new calls' flows branch on it)."""
        return await answer(functools.partial(config.set_mode, who.name, line, body.mode))

    @router.post("/lines/{line}/flows")
    async def upload(line: str, body: FlowUpload, who: Who = Depends(admin)) -> JSONResponse:
        """Upload a new version of the line's flow (validated; active at once unless
        `activate` is false). Refused whole, with every problem, if it does not validate."""
        fn = functools.partial(config.upload_flow, who.name, line, body.text,
                               activate=body.activate)  # fmt: skip
        return await answer(fn)

    @router.get("/lines/{line}/flows/{version}")
    async def source(line: str, version: Version, _who: Who = Depends(admin)) -> PlainTextResponse:
        """A kept version's text."""
        try:
            text = await asyncio.to_thread(config.flow_source, line, version)
        except NotFound as e:
            raise Refused(404, e.error_id, e.message) from None
        name = quote(f"{line}-v{version}.flow.yaml")
        return PlainTextResponse(text, media_type="application/yaml", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})  # fmt: skip

    @router.post("/lines/{line}/flows/{version}/active")
    async def activate(line: str, version: Version, who: Who = Depends(admin)) -> JSONResponse:
        """Make a kept version the one new calls use (an earlier one: a roll-back)."""
        return await answer(functools.partial(config.activate_flow, who.name, line, version))

    return router
