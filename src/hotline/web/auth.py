"""Who is asking, and may they: a browser session (log-on with password and TOTP code, a
`__Host-` cookie, a CSRF token for every request that changes something, the same origin
only) or a bearer token (`hotline agent-token`, for bots and scripts). Every API route
and websocket names the roles it serves (`service.roles`); `Access.require` checks them.

Routes: `GET /api/banner` (the system-use notice to acknowledge), `POST /api/session`
(log on), `GET /api/session` (who am I, and my CSRF token), `DELETE /api/session`."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import math
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from hotline.errors import AuditError, LogOnRefused, SessionEnded, StoreError
from hotline.service.accounts import Accounts, Session, ip_or_none
from hotline.service.roles import SUPERVISOR
from hotline.store.repository import Store, token_digest
from hotline.web.errors import Refused, responses

log = logging.getLogger("hotline.web")

COOKIE = "__Host-hotline-session"
CSRF_HEADER = "X-CSRF-Token"
BACKGROUND = "X-Hotline-Background"  # "1": a page refreshing itself, not the person's doing
SAFE = ("GET", "HEAD", "OPTIONS")
LOGONS_AT_ONCE = 8  # checked at once (each an Argon2id hash of 64 MiB): more get a 503
BANNER = (
    "This system is for authorised use by hotline staff only. Activity is logged and "
    "monitored; call and case data may be viewed only for the call being handled. By "
    "logging on you accept these terms."
)


bearer = HTTPBearer(auto_error=False, description="A token from `hotline agent-token`")
session_cookie = APIKeyCookie(name=COOKIE, auto_error=False,
                              description="A browser session (POST /api/session)")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Who:
    name: str  # the user name, or the agent id / "supervisor" a token names
    role: str
    agent_id: str | None
    session: Session | None  # None: a bearer token
    token: str  # the bearer token or the session's (sockets close when it ends)

    @property
    def audit_session(self) -> str | None:
        """The session as the audit trail names it (its hash's start; None: a token)."""
        return token_digest(self.token)[:16] if self.session is not None else None


def client_address(request: Request) -> str | None:
    """The client's address as the audit trail keeps it (None: not an IP address)."""
    return ip_or_none(request.client.host if request.client else "")


class LogOn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)
    code: str | None = Field(default=None, max_length=16)
    banner_acknowledged: bool = False


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """An origin as browsers send it: scheme and host in lower case, the port only if it
    is not the scheme's default (None: not an http(s) origin)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port in (None, DEFAULT_PORTS[scheme]) else f":{port}")


class Access:
    def __init__(self, *, accounts: Accounts, store: Store, public_url: str) -> None:
        self.accounts = accounts
        self.store = store
        origin = origin_of(public_url)
        if origin is None:
            raise ValueError("the public URL is not an http(s) URL with a host")
        self.origin = origin

    def who(self, authorization: str | None, cookie: str | None, *, use: bool = True) -> Who:
        """A bearer token first (bots, scripts), else the session cookie (`use`: whether
        the request is the person's doing, see `Accounts.session`)."""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Refused(401, "no-token", "send Authorization: Bearer <token>")
            holder = self.store.agent_for_token(token.strip())
            if holder is None:
                raise Refused(401, "bad-token", "unknown or revoked token")
            if holder == SUPERVISOR:
                return Who(SUPERVISOR, "supervisor", None, None, token.strip())
            account = self.accounts.store.user_of_agent(holder)
            if account is not None and account.disabled:  # a token is its account's
                raise Refused(401, "bad-token", "the agent's account is disabled")
            return Who(holder, "agent", holder, None, token.strip())
        if not cookie:
            raise Refused(401, "not-logged-on", "log on first (POST /api/session), or send "
                          "Authorization: Bearer <token>")  # fmt: skip
        try:
            s = self.accounts.session(cookie, use=use)
        except SessionEnded as e:
            raise Refused(401, e.error_id, e.message) from None
        return Who(s.username, s.role, s.agent_id, s, s.token)

    def require(
        self, request: Request, roles: Collection[str],
        refused: Callable[[Request, Who], object] | None = None,
    ) -> Who:  # fmt: skip
        """The caller, if their role is one of `roles`; a session's request that changes
        something must come from our origin with the session's CSRF token. `refused`: told
        of a known caller refused for their role (to audit it) before the 403."""
        use = request.headers.get(BACKGROUND) != "1"
        who = self.who(request.headers.get("authorization"), request.cookies.get(COOKIE), use=use)
        if who.role not in roles:
            if refused is not None:
                try:
                    refused(request, who)
                except Exception as e:  # noqa: BLE001 - refused either way; said in the log
                    log.error("a refusal for %s's role could not be audited (%s)", who.name,
                              type(e).__name__)  # fmt: skip
            raise Refused(403, "wrong-role", f"this needs the role {' or '.join(roles)}; "
                          f"{who.name} is {who.role}")  # fmt: skip
        if who.session is not None and request.method not in SAFE:
            self.csrf(request, who.session)
        return who

    def session(self, request: Request) -> Session:
        """The request's session (its cookie), still open."""
        try:
            use = request.headers.get(BACKGROUND) != "1"
            return self.accounts.session(request.cookies.get(COOKIE), use=use)
        except SessionEnded as e:
            raise Refused(401, e.error_id, e.message) from None

    def csrf(self, request: Request, session: Session) -> None:
        """A session's request that changes something: from our origin, with its token."""
        self.same_origin(request.headers.get("origin"))
        sent = request.headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise Refused(403, "bad-csrf", f"send the session's CSRF token in {CSRF_HEADER}")

    def still_valid(self, tokens: Collection[str]) -> dict[str, float]:
        """Those of sockets' `tokens` still good, each with the time (the accounts' clock)
        it runs out if not used meanwhile: agents' tokens issued (never), sessions open."""
        return {**dict.fromkeys(self.store.valid_tokens(tokens), math.inf),
                **self.accounts.open_sessions(tokens)}  # fmt: skip

    def now(self) -> float:
        """The accounts' clock (that of `still_valid`'s times)."""
        return self.accounts.clock()

    async def for_socket(self, ws: WebSocket, roles: Collection[str]) -> Who | None:
        """A websocket's caller (a `token` query parameter, or the session cookie from our
        own origin), asked off the event loop; None once a refused socket is closed (4401,
        or 4403 for the wrong role)."""
        token = ws.query_params.get("token")
        cookie = None if token else ws.cookies.get(COOKIE)
        try:
            if cookie is not None:
                self.same_origin(ws.headers.get("origin"))
            bearer = f"Bearer {token}" if token else None
            who = await asyncio.to_thread(functools.partial(self.who, bearer, cookie, use=False))
        except Refused:
            await ws.close(code=4401)
            return None
        if who.role not in roles:
            await ws.close(code=4403)
            return None
        return who

    def same_origin(self, origin: str | None) -> None:
        if origin is not None and origin_of(origin) != self.origin:
            raise Refused(403, "other-origin", "requests that change something come from "
                          "this server's own pages")  # fmt: skip


def needs(
    access: Access, roles: Collection[str],
    refused: Callable[[Request, Who], object] | None = None,
) -> Callable[..., Who]:  # fmt: skip
    """A route's dependency: the caller, if their role is one of `roles` (the two ways in
    are declared, so the API document shows them); `refused` as for `Access.require`."""

    def caller(
        request: Request,
        _token: HTTPAuthorizationCredentials | None = Depends(bearer),
        _session: str | None = Depends(session_cookie),
    ) -> Who:
        return access.require(request, roles, refused)

    return caller


def auth_router(access: Access) -> APIRouter:
    router = APIRouter(prefix="/api", responses=responses(400, 401, 403, 503))
    checking = threading.BoundedSemaphore(LOGONS_AT_ONCE)  # log-ons under way

    @router.get("/banner")
    def banner() -> JSONResponse:
        """The system-use notice a person acknowledges before logging on."""
        return JSONResponse({"banner": BANNER})

    @router.post("/session")
    def log_on(body: LogOn, request: Request) -> Response:
        """Log on with a user name, password and (unless the account has none) a TOTP
        code, having acknowledged the banner. Sets the session cookie; returns who and
        the CSRF token to send in X-CSRF-Token."""
        access.same_origin(request.headers.get("origin"))
        if not body.banner_acknowledged:
            raise Refused(400, "banner-not-acknowledged", "acknowledge the system-use banner "
                          "(GET /api/banner) first: banner_acknowledged=true")  # fmt: skip
        source = request.client.host if request.client else "unknown"
        if not checking.acquire(blocking=False):  # (a flood of log-ons would take every
            # worker thread, each hashing 64 MiB, and the agents' requests wait for them)
            raise Refused(503, "busy", f"{LOGONS_AT_ONCE} log-ons are being checked: try "
                          "again in a few seconds")  # fmt: skip
        try:
            s = access.accounts.log_on(body.username, body.password, body.code, source=source)
        except LogOnRefused as e:
            raise Refused(401, e.error_id, e.message) from None
        except (StoreError, AuditError, SQLAlchemyError) as e:  # (no session without its entry)
            log.error("a log-on was refused: its audit entry could not be written (%s)",
                      type(e).__name__)  # fmt: skip
            raise Refused(503, "logon-not-audited", "the log-on could not be written to the "
                          "audit trail, so no session was opened; try again, and tell an "
                          "administrator if it goes on") from None  # fmt: skip
        finally:
            checking.release()
        response = JSONResponse(_me(s))
        response.set_cookie(COOKIE, s.token, path="/", secure=True, httponly=True,
                            samesite="strict")  # fmt: skip
        return response

    @router.get("/session")
    def me(request: Request) -> JSONResponse:
        """Who this session is, and its CSRF token."""
        return JSONResponse(_me(access.session(request)))

    @router.delete("/session")
    def log_off(request: Request) -> Response:
        """Log off: the session ends (its sockets close within a second)."""
        session = access.session(request)
        access.csrf(request, session)
        access.accounts.log_off(session.token)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    return router


def _me(s: Session) -> dict[str, object]:
    return {"username": s.username, "role": s.role, "agent_id": s.agent_id, "csrf": s.csrf}
