"""The carrier's callbacks as they reach us: a body read as it streams in and cut off at
MAX_BODY, parsed strictly as a form, and each field we use checked against what the store
can hold. Everything wrong is a `Refused` (a 4xx with a reason), never a 500."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from hotline.web.errors import Refused

MAX_BODY = 64 * 1024  # carrier callbacks are a few hundred bytes
MAX_FIELDS = 200
FORM = "application/x-www-form-urlencoded"
# C0 controls but tab, CR and LF, DEL and C1 controls: no carrier sends them, terminals
# obey them, and PostgreSQL refuses NUL
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CALL_SID = re.compile(r"[A-Za-z0-9]{1,64}")
CALL_STATUSES = frozenset(
    ("queued", "initiated", "ringing", "in-progress", "answered", "completed", "busy",
     "failed", "no-answer", "canceled")
)  # fmt: skip
DIGITS = re.compile(r"[0-9*#]{0,64}")
SMALL_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() takes '²' too
DIAL = re.compile(r"[0-9]{1,15}")  # a dial-back's number (the line's clock in milliseconds)
READ_TIMEOUT = 10.0  # seconds a body may take to arrive


def too_large() -> Refused:
    return Refused(413, "body-too-large", f"a callback is at most {MAX_BODY} bytes")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, read chunk by chunk and refused (413) as soon as it passes `limit`,
    whatever Content-Length says or whether it is sent chunked."""
    size = request.headers.get("content-length")
    if size is not None and (not SMALL_NUMBER.fullmatch(size) or int(size) > limit):
        raise too_large()
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(READ_TIMEOUT):  # a body that trickles in holds nothing
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise too_large()
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, "body-too-slow", f"the body did not arrive within "
                      f"{READ_TIMEOUT:g} s") from None  # fmt: skip
    return b"".join(chunks)


def parse_form(request: Request, body: bytes) -> FormData:
    """An urlencoded body as a multi-dict; refuses other types, bad UTF-8 and controls."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != FORM:
        raise Refused(400, "bad-body", f"a callback is sent as {FORM}")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "bad-body", "the body is not a UTF-8 form") from None
    for key, value in pairs:
        if CONTROL.search(key) or CONTROL.search(value):
            raise Refused(400, "bad-body", f"field {short(key)} contains a control character")
    items: list[tuple[str, str | UploadFile]] = list(pairs)
    return FormData(items)


def text(form: FormData, name: str, *, max_length: int = 256, required: bool = True) -> str:
    """One field's value (given at most once, at most `max_length` characters)."""
    values = form.getlist(name)
    if len(values) > 1:
        raise Refused(400, "bad-body", f"{name} is given {len(values)} times")
    value = values[0] if values else ""
    if not isinstance(value, str) or (required and not value):
        raise Refused(400, "bad-body", f"{name} is missing")
    if len(value) > max_length:
        raise Refused(400, "bad-body", f"{name} is longer than {max_length} characters")
    return value


def optional(form: FormData, name: str, *, max_length: int = 256) -> str | None:
    value = text(form, name, max_length=max_length, required=False)
    return value or None


def call_sid(form: FormData, name: str = "CallSid") -> str:
    value = text(form, name, max_length=64)
    if not CALL_SID.fullmatch(value):
        raise Refused(400, "bad-body", f"{name} is not a call id (letters and digits)")
    return value


def status(form: FormData, name: str = "CallStatus") -> str:
    value = text(form, name, max_length=32)
    if value not in CALL_STATUSES:
        raise Refused(400, "bad-body", f"{name} {short(value)} is not a call status")
    return value


def digits(form: FormData) -> str | None:
    value = optional(form, "Digits", max_length=64)
    if value is not None and not DIGITS.fullmatch(value):
        raise Refused(400, "bad-body", "Digits holds something other than 0-9, * and #")
    return value


def short(value: str, limit: int = 40) -> str:
    """An id or value fit to echo in an error: quoted, cut to `limit` characters."""
    cut = value if len(value) <= limit else value[:limit] + "…"
    return repr(cut)
