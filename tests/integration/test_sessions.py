"""Log-on over HTTP and what a session may do: the banner first, one answer for every
refusal, a `__Host-` cookie, CSRF and same-origin checks on every change, `no-store` on
every response, the idle lock on the virtual clock, and every API route and websocket
walked for every role and way in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hotline.errors import UnknownUser
from hotline.records.audit import rows
from hotline.service.accounts import IDLE_LIMIT, REFUSED, Accounts, totp_code
from hotline.store.accounts import AccountStore
from hotline.web.auth import COOKIE, CSRF_HEADER, LOGONS_AT_ONCE
from hotline.web.docs import ASSETS, DOCS

from .live_fixtures import PUBLIC, Live, sqlite_url

PASSWORD = "correct horse battery staple"
ROLES = ("agent", "supervisor", "planner", "admin", "auditor")


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


def accounts(live: Live) -> Accounts:
    return Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                    key=live.settings.sealing_key())  # fmt: skip


def log_on(live: Live, username: str, secret: str | None, **extra: object) -> dict[str, str]:
    """Log on; returns the headers a page sends after (the cookie and the CSRF token)."""
    live.wall.now += 30  # a fresh TOTP step: each code is used once
    code = totp_code(secret, live.wall()) if secret else None
    body = {"username": username, "password": PASSWORD, "code": code,
            "banner_acknowledged": True, **extra}  # fmt: skip
    r = live.http.post("/api/session", json=body)
    assert r.status_code == 200, r.text
    token = r.cookies.get(COOKIE)
    assert token
    return {"Cookie": f"{COOKIE}={token}", CSRF_HEADER: r.json()["csrf"], "Origin": PUBLIC}


def test_log_on_sets_a_host_only_secure_cookie_after_the_banner(live):
    new = accounts(live).add("ana", "supervisor", password=PASSWORD)
    banner = live.http.get("/api/banner")
    assert "authorised use" in banner.json()["banner"]
    assert banner.headers["cache-control"] == "no-store"
    code = totp_code(new.totp_secret or "", live.wall())
    body = {"username": "ana", "password": PASSWORD, "code": code}
    r = live.http.post("/api/session", json=body)
    assert (r.status_code, r.json()["error_id"]) == (400, "banner-not-acknowledged")
    r = live.http.post("/api/session", json={**body, "banner_acknowledged": True})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert attributes >= {"secure", "httponly", "samesite", "path"}
    assert "samesite=strict" in cookie.lower()
    assert "domain" not in attributes  # __Host-: for this host only
    assert r.json()["role"] == "supervisor"
    assert r.headers["cache-control"] == "no-store"


def test_every_refusal_gets_the_same_answer(live):
    new = accounts(live).add("ben", "agent", password=PASSWORD, agent_id="en-day-1")
    right = totp_code(new.totp_secret or "", live.wall())
    answers = []
    for body in (
        {"username": "ben", "password": "wrong password!", "code": right},
        {"username": "ben", "password": PASSWORD, "code": "000000"},
        {"username": "nobody", "password": PASSWORD, "code": right},
        {"username": "ben", "password": PASSWORD},
    ):
        r = live.http.post("/api/session", json={**body, "banner_acknowledged": True})
        answers.append((r.status_code, r.json()["error_id"], r.json()["message"]))
    assert set(answers) == {(401, "log-on-refused", REFUSED)}
    r = live.http.post("/api/session", content=b"not json", headers={"content-type": "text/plain"})
    assert r.status_code == 400


def test_a_change_needs_the_csrf_token_and_our_origin(live):
    new = accounts(live).add("cai", "agent", password=PASSWORD, agent_id="en-day-2")
    headers = log_on(live, "cai", new.totp_secret)
    assert live.http.get("/api/agent/me", headers=headers).json()["state"] == "offline"
    no_token = {k: v for k, v in headers.items() if k != CSRF_HEADER}
    r = live.http.post("/api/agent/login", headers=no_token)
    assert (r.status_code, r.json()["error_id"]) == (403, "bad-csrf")
    r = live.http.post("/api/agent/login", headers={**headers, CSRF_HEADER: "forged"})
    assert (r.status_code, r.json()["error_id"]) == (403, "bad-csrf")
    r = live.http.post("/api/agent/login", headers={**headers, "Origin": "https://evil.example"})
    assert (r.status_code, r.json()["error_id"]) == (403, "other-origin")
    assert live.http.get("/api/agent/me", headers=headers).json()["state"] == "offline"
    r = live.http.post("/api/agent/login", headers=headers)
    assert (r.status_code, r.json()["state"]) == (200, "not_ready")


def test_an_idle_session_locks_and_a_newer_log_on_ends_the_older(live):
    new = accounts(live).add("dee", "supervisor", password=PASSWORD)
    first = log_on(live, "dee", new.totp_secret)
    assert live.http.get("/api/stats", headers=first).status_code == 200
    second = log_on(live, "dee", new.totp_secret)
    r = live.http.get("/api/stats", headers=first)
    assert (r.status_code, r.json()["error_id"]) == (401, "session-ended")
    live.wall.now += IDLE_LIMIT
    r = live.http.get("/api/session", headers=second)
    assert r.status_code == 401
    assert "30 minutes" in r.json()["message"]
    third = log_on(live, "dee", new.totp_secret)
    assert live.http.delete("/api/session", headers=third).status_code == 200
    assert live.http.get("/api/session", headers=third).status_code == 401


# -- every route, every role

# who may use each API route (the rest of the app: the carrier's webhooks, signed; health)
MAY = {
    "/api/agent": {"agent"},
    "/api/stats": {"supervisor", "admin"},
    "/api/events": {"supervisor", "admin"},
    "/api/supervisor": {"supervisor", "admin"},
    "/api/admin": {"admin"},
    "/api/audit": {"auditor"},
}
# a path's parameters, made concrete
CONCRETE = {"{call_sid}": "CA" + "0" * 32, "{agent_id}": "en-day-1", "{queue}": "en",
            "{line}": "National%20hotline%20(US)", "{version}": "1"}  # fmt: skip


# open to all: log-on itself, and the API's documentation page and its assets
OPEN = {"/api/banner", "/api/session", DOCS}


def allowed(path: str) -> set[str]:
    return next(roles for prefix, roles in MAY.items() if path.startswith(prefix))


def test_every_api_route_and_websocket_answers_each_role_as_it_should(live):
    a = accounts(live)
    ways: dict[str, dict[str, str]] = {"nobody": {}}
    for role in ROLES:
        new = a.add(role, role, password=PASSWORD, agent_id="en-day-3" if role == "agent" else None)
        ways[role] = log_on(live, role, new.totp_secret)
    ways["agent token"] = live.agent("en-day-4")
    ways["supervisor token"] = {
        "Authorization": "Bearer " + live.store.issue_token("supervisor", live.wall())
    }
    role_of = {"agent token": "agent", "supervisor token": "supervisor"}
    walked = 0
    for route in every_route(live.app.routes):
        path = getattr(route, "path", "")
        if not path.startswith("/api/") or path in OPEN or path.startswith(f"{ASSETS}/"):
            continue
        concrete = path
        for name, value in CONCRETE.items():
            concrete = concrete.replace(name, value)
        for way, headers in ways.items():
            role = role_of.get(way, way)
            if isinstance(route, WebSocketRoute):
                code = websocket_answer(live, concrete, headers)
                expected = 4401 if way == "nobody" else None if role in allowed(path) else 4403
                assert code == expected, (path, way, code)
            else:
                assert isinstance(route, Route)
                for method in sorted(route.methods or ()):
                    if method == "HEAD":
                        continue
                    r = live.http.request(method, concrete, headers=headers)
                    if way == "nobody":
                        assert r.status_code == 401, (method, path, way)
                    elif role in allowed(path):
                        assert r.status_code not in (401, 403), (method, path, way, r.text)
                    else:
                        assert (r.status_code, r.json()["error_id"]) == (403, "wrong-role"), (
                            method, path, way,
                        )  # fmt: skip
                    walked += 1
    assert walked >= 8 * len(ways)  # the agents' seven routes and the stats, at least


def every_route(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes, those of the routers it includes among them (their paths carry
    the routers' prefixes)."""
    for r in routes:
        included = getattr(r, "original_router", None)
        yield from every_route(included.routes) if included is not None else [r]


def websocket_answer(live: Live, path: str, headers: dict[str, str]) -> int | None:
    """The close code a socket gets at once, or None if it is accepted (it says hello)."""
    if "Authorization" in headers:
        path += "?token=" + headers["Authorization"].removeprefix("Bearer ")
        headers = {}
    try:
        with live.http.websocket_connect(path, headers=headers) as ws:
            assert ws.receive_json()["type"] == "hello"
            return None
    except WebSocketDisconnect as gone:
        return gone.code


def test_an_agents_token_stops_working_when_their_account_is_disabled(live):
    a = accounts(live)
    a.add("fay", "agent", password=PASSWORD, agent_id="en-day-5")
    bot = live.agent("en-day-5")
    assert live.http.get("/api/agent/me", headers=bot).status_code == 200
    a.disable("fay")
    r = live.http.get("/api/agent/me", headers=bot)
    assert (r.status_code, r.json()["error_id"]) == (401, "bad-token")
    a.enable("fay")  # the old token was revoked with the disable: a new one is needed
    assert live.http.get("/api/agent/me", headers=bot).status_code == 401
    assert live.http.get("/api/agent/me", headers=live.agent("en-day-5")).status_code == 200


def test_a_supervisor_forces_an_agents_state_with_a_reason_seen_in_the_agent_list(live):
    sup = accounts(live).add("gil", "supervisor", password=PASSWORD)
    headers = log_on(live, "gil", sup.totp_secret)
    bot = live.agent("en-day-6")
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    url = "/api/supervisor/agents/en-day-6/state"
    r = live.http.post(url, json={"state": "not_ready"}, headers=headers)
    assert r.status_code == 400  # a reason is required
    r = live.http.post(url, json={"state": "not_ready", "reason": "coaching"}, headers=headers)
    assert (r.status_code, r.json()["state"]) == (200, "not_ready")
    me = live.http.get("/api/agent/me", headers=bot).json()
    assert (me["state"], me["reason"]) == ("not_ready", "supervisor gil: coaching")
    live.wall.now += 42
    board = live.http.get("/api/stats", headers=headers).json()["lines"]["National hotline (US)"]
    listed = {a["agent_id"]: a for a in board["now"]["agent_list"]}
    assert listed["en-day-6"]["seconds_in_state"] == 42.0
    assert listed["en-day-6"]["reason"] == "supervisor gil: coaching"
    r = live.http.post("/api/supervisor/agents/nobody-1/state",
                       json={"state": "available", "reason": "x"}, headers=headers)  # fmt: skip
    assert r.status_code == 404
    r = live.http.post(url, json={"state": "offline", "reason": "end of shift"}, headers=headers)
    assert r.json()["state"] == "offline"
    r = live.http.post(url, json={"state": "available", "reason": "x"}, headers=bot)
    assert (r.status_code, r.json()["error_id"]) == (403, "wrong-role")


def test_a_page_refreshing_itself_does_not_keep_an_idle_session_open(live):
    new = accounts(live).add("hil", "supervisor", password=PASSWORD)
    headers = log_on(live, "hil", new.totp_secret)
    background = {**headers, "X-Hotline-Background": "1"}
    for _ in range(3):  # the wallboard's own refreshes, over 27 minutes
        live.wall.now += 540
        assert live.http.get("/api/stats", headers=background).status_code == 200
    live.wall.now += 540  # 36 minutes since the person last did anything
    r = live.http.get("/api/stats", headers=background)
    assert (r.status_code, r.json()["error_id"]) == (401, "session-ended")
    again = log_on(live, "hil", new.totp_secret)
    for _ in range(4):  # the person's own requests keep it open
        live.wall.now += 600
        assert live.http.get("/api/stats", headers=again).status_code == 200


def test_an_api_body_must_be_small_and_say_its_size(live):
    r = live.http.post("/api/session", content=b"{" + b" " * 20_000 + b"}",
                       headers={"content-type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["error_id"]) == (413, "body-too-large")
    r = live.http.post("/api/session", content=iter([b'{"username": "a"}']),
                       headers={"content-type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["error_id"]) == (411, "length-required")
    assert r.headers["cache-control"] == "no-store"


def test_disabling_an_agents_account_closes_their_bot_socket(live):
    a = accounts(live)
    a.add("ida", "agent", password=PASSWORD, agent_id="en-day-7")
    token = live.agent("en-day-7")["Authorization"].removeprefix("Bearer ")
    with TestClient(live.app, base_url=PUBLIC) as http:  # (the app running: its sweep too)
        with http.websocket_connect(f"/api/agent/ws?token={token}") as ws:
            assert ws.receive_json()["type"] == "hello"
            a.disable("ida")
            with pytest.raises(WebSocketDisconnect) as gone:
                ws.receive_json()  # the sweep closes it within a second
        assert gone.value.code == 4401


def test_names_that_cannot_be_accounts_are_refused_alike(live):
    for name in ("ana\x00", "a b", "[/x]", "ä" * 10):
        body = {
            "username": name,
            "password": PASSWORD,
            "code": "123456",
            "banner_acknowledged": True,
        }
        r = live.http.post("/api/session", json=body)
        assert (r.status_code, r.json()["error_id"]) == (401, "log-on-refused"), name
    with pytest.raises(UnknownUser):
        accounts(live).add("[/x]", "admin", password=PASSWORD)


def test_the_origin_is_compared_as_browsers_send_it(tmp_path):
    live = Live(sqlite_url(tmp_path), public_url="https://Hotline.example:443")
    new = accounts(live).add("jo", "supervisor", password=PASSWORD)
    code = totp_code(new.totp_secret or "", live.wall())
    body = {"username": "jo", "password": PASSWORD, "code": code, "banner_acknowledged": True}
    r = live.http.post("/api/session", json=body, headers={"Origin": "https://hotline.example"})
    assert r.status_code == 200
    r = live.http.post(
        "/api/session", json=body, headers={"Origin": "https://hotline.example:8443"}
    )
    assert (r.status_code, r.json()["error_id"]) == (403, "other-origin")


def test_every_log_on_and_failed_log_on_is_in_the_audit_trail_without_the_secrets(live):
    new = accounts(live).add("bea", "agent", password=PASSWORD, agent_id="en-day-1")
    for body in ({"username": "bea", "password": "wrong password!"},
                 {"username": "no body?", "password": PASSWORD}):  # fmt: skip
        r = live.http.post("/api/session", json={**body, "banner_acknowledged": True})
        assert r.status_code == 401
    log_on(live, "bea", new.totp_secret)
    with live.store.engine.connect() as c:
        trail = [r.as_json() for r in rows(c) if r.action == "session.logon"]
    assert [(e["action"], e["actor"], e["role"], e["outcome"], e["details"]) for e in trail] == [
        ("session.logon", "bea", "agent", "refused", {"reason": "wrong password or code"}),
        ("session.logon", "unknown", "none", "refused", {"reason": "no such user name"}),
        ("session.logon", "bea", "agent", "ok", {}),
    ]
    assert trail[2]["session"] is not None  # the session's public id (not its token)
    assert PASSWORD not in str(trail)
    assert "wrong password!" not in str(trail)


def test_a_sessions_socket_closes_once_the_session_locks_by_time(live):
    """An idle limit passing changes nothing in the store (no revision grows): the sweep
    asks again when the first session it knows of runs out, on the accounts' clock. (A bot's
    token revoked first makes the sweep ask about every socket, the session's included:
    what follows is not that first ask.)"""
    new = accounts(live).add("ivy", "agent", password=PASSWORD, agent_id="en-day-1")
    headers = log_on(live, "ivy", new.totp_secret)
    bot = live.agent("en-day-2")["Authorization"].removeprefix("Bearer ")
    with (
        TestClient(live.app, base_url=PUBLIC) as http,  # (the app running: its sweep too)
        http.websocket_connect("/api/agent/ws", headers=headers) as ws,
        http.websocket_connect(f"/api/agent/ws?token={bot}") as bot_ws,
    ):
        assert ws.receive_json()["type"] == "hello"
        assert bot_ws.receive_json()["type"] == "hello"
        live.store.revoke_token("en-day-2")
        assert closed_within(bot_ws, 10) == [4401]
        live.wall.now += IDLE_LIMIT
        assert closed_within(ws, 10) == [4401]


def closed_within(ws: WebSocketTestSession, seconds: float) -> list[int]:
    """The code the socket is closed with ([] if it was not closed within `seconds`); what
    it is sent meanwhile is passed over."""
    closed: list[int] = []

    def receive() -> None:
        try:
            while True:
                ws.receive_json()
        except WebSocketDisconnect as gone:
            closed.append(gone.code)

    listening = threading.Thread(target=receive, daemon=True)
    listening.start()
    listening.join(seconds)
    return closed


def test_log_ons_beyond_those_being_checked_are_turned_away_at_once(live, monkeypatch):
    """LOGONS_AT_ONCE log-ons being checked (each an Argon2id hash of 64 MiB in a worker
    thread the agents' requests share): the next is a 503 with a reason, at once, not a
    thread more; once they are done, log-ons are checked again."""
    accounts(live).add("flo", "agent", password=PASSWORD, agent_id="en-day-1")
    other = accounts(live).add("gus", "supervisor", password=PASSWORD)
    inside, go = threading.Semaphore(0), threading.Event()
    check = Accounts.log_on

    def held(self: Accounts, *args: object, **kwargs: object) -> object:
        inside.release()  # (this one is being checked)
        assert go.wait(30)
        return check(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Accounts, "log_on", held)
    wrong = {"username": "flo", "password": "wrong password!", "code": "000000",
             "banner_acknowledged": True}  # fmt: skip
    with ThreadPoolExecutor(LOGONS_AT_ONCE) as pool:
        under_way = [pool.submit(live.http.post, "/api/session", json=wrong)
                     for _ in range(LOGONS_AT_ONCE)]  # fmt: skip
        for _ in range(LOGONS_AT_ONCE):
            assert inside.acquire(timeout=30)
        r = live.http.post("/api/session", json=wrong)
        assert (r.status_code, r.json()["error_id"]) == (503, "busy")
        assert "try again" in r.json()["message"]
        go.set()
        assert [f.result().status_code for f in under_way] == [401] * LOGONS_AT_ONCE
    monkeypatch.undo()
    log_on(live, "gus", other.totp_secret)  # checked again (flo's address is held off flo)
