"""How a refused request is answered: always `{"error_id", "message"}` with a 4xx (or 503
while the store is down, or once the line has stopped here: with a Retry-After), never the
framework's own bodies (a 422 would echo the input), never a stack trace. The only place
exceptions become HTTP statuses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from hotline.errors import LineStopped, StoreUnavailable

log = logging.getLogger("hotline.web")
# seconds a request refused by a line that stopped here waits before it is tried again (a
# hand-over's next leader serves within a few; a carrier retries at its fallback URL)
RETRY_AFTER = 2


class Refused(Exception):
    """A request we refuse, with the status, a stable id and a reason for the sender."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_id, self.message = status, error_id, message


class ErrorBody(BaseModel):
    """What every refused request gets back."""

    error_id: str
    message: str


def responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for the errors a route can give."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


_DESCRIPTIONS = {
    400: "Malformed request (the reason says what is wrong)",
    401: "No token, or an unknown or revoked one",
    403: "Missing or wrong X-Twilio-Signature (webhooks), or a token of the wrong role",
    404: "No such agent or call",
    408: "The body did not arrive in time",
    409: "Not possible in the current state (the reason says why)",
    413: "Body larger than 64 KiB",
    503: "The store is unavailable, or the line stopped here (handed over); try again",
}


def body(status: int, error_id: str, message: str) -> JSONResponse:
    """An error's answer; never kept by a browser or a proxy (the last-resort handler's
    500 is answered outside the app's own no-store middleware)."""
    return JSONResponse({"error_id": error_id, "message": message}, status_code=status,
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def install(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def _refused(_r: Request, e: Refused) -> JSONResponse:
        return body(e.status, e.error_id, e.message)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_r: Request, e: StoreUnavailable) -> JSONResponse:
        return body(503, e.error_id, "the store is unavailable; try again shortly")

    @app.exception_handler(LineStopped)
    async def _line_stopped(r: Request, e: LineStopped) -> JSONResponse:
        log.warning("%s %s refused: %s", r.method, r.url.path, e.message)
        answer = body(503, e.error_id, e.message)
        answer.headers["Retry-After"] = str(RETRY_AFTER)
        return answer

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, e: RequestValidationError) -> JSONResponse:
        problems = []
        for err in e.errors()[:5]:  # names and kinds only: the input is never echoed
            where = " ".join(str(p) for p in err.get("loc", ()))[:60]
            problems.append(f"{where}: {str(err.get('msg', 'invalid'))[:80]}")
        return body(400, "bad-request", "; ".join(problems) or "malformed request")

    @app.exception_handler(Exception)
    async def _bug(_r: Request, e: Exception) -> JSONResponse:
        log.error("unexpected %s answering a request", type(e).__name__, exc_info=e)
        return body(500, "internal-error", "something went wrong on our side; it is logged")

    @app.exception_handler(HTTPException)
    async def _http(_r: Request, e: HTTPException) -> JSONResponse:
        names = {404: "not-found", 405: "method-not-allowed"}
        error_id = names.get(e.status_code, "http-error")
        message = {404: "no such page", 405: "method not allowed here"}.get(
            e.status_code, str(e.detail)[:120]
        )
        return body(e.status_code, error_id, message)
