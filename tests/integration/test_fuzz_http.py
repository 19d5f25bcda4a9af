"""The public HTTP surface fuzzed (hypothesis, fixed seeds): correctly signed carrier
webhooks with drawn forms, query strings and raw bodies; whole calls with odd turns; calls
on an agent (transfers, consults, hold, interpreter, supervisors, the carrier's leg
callbacks) in any order; the agents' API with a valid agent token; the supervisors',
administrators' and auditors' APIs with valid credentials; log-on bodies, the websockets
and stray paths. Every answer must be 200 or a 4xx with a reason (JSON, or TwiML for the
carrier), never a 5xx, a stack trace or a secret; nothing may be
logged as an unexpected exception; a caller's reply never sends them to another call's
steps. Afterwards: every write landed and fits its column (as PostgreSQL would insist),
no call became a callback nobody asked for, a restart recovers the same queue, and a plain
call still goes through the IVR to an agent and completes.

FUZZ_COLLECT=1 explores without stopping at the first failure and prints each distinct
one found (run with -s); FUZZ_WHY=1 also prints how each route answered."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from starlette.datastructures import ImmutableMultiDict

from hotline.records.desk import RecordDesk
from hotline.records.policy import Policy
from hotline.records.port import Connector
from hotline.service.accounts import Accounts, totp_code
from hotline.service.lines import import_line
from hotline.store.accounts import AccountStore
from hotline.web.auth import COOKIE, CSRF_HEADER

from .live_fixtures import (
    LINE,
    PUBLIC,
    ROOT,
    SECRET_KEY,
    TOKEN,
    VICTIMS,
    Carrier,
    Live,
    call_form,
    directory,
    gather_url,
    keep_english,
    sqlite_url,
)
from .test_records_desk import SOURCE, Asked

PASSWORD = "correct horse battery staple"
CALLER = "+12025550143"
COMMIT_WAIT = 5.0  # seconds a reply waits at most for its writes (the harness waits 60)
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
API_SECRET = "api-secret-not-to-be-shown-to-anyone-at-all"
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # (the failing example as found)
LEAKS = (
    "Traceback (most recent call last)",
    'File "/',
    "site-packages",
    TOKEN,
    SECRET_KEY,
    PASSWORD,
    API_SECRET,
)


# -- what every answer must be


COLLECT = os.environ.get("FUZZ_COLLECT") == "1"  # explore: gather every failure, do not stop
TELL = COLLECT or bool(os.environ.get("FUZZ_WHY"))  # print how each route answered
FOUND: dict[str, str] = {}  # (in COLLECT mode) each distinct failure: the shortest request


def where_from(exc: BaseException | None) -> str:
    """The exception's type and the last frame of ours (src/hotline) it passed through."""
    import traceback

    if exc is None:
        return "?"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/src/hotline/" in f.filename]
    last = frames[-1] if frames else None
    at = f"{last.filename.split('/src/')[-1]}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {at}: {str(exc)[:120]}"


class Failures(logging.Handler):
    """Records logged with a stack trace (an exception that escaped a handler)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[logging.LogRecord] = []
        self.request = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            if COLLECT:
                key = where_from(record.exc_info[1])
                if key not in FOUND or len(self.request) < len(FOUND[key]):
                    FOUND[key] = self.request
                return
            self.seen.append(record)

    def say(self) -> str:
        """Each failure in a line: what was logged, and where it was raised."""
        return "\n".join(
            f"{r.name}: {r.getMessage()}: {where_from(r.exc_info[1] if r.exc_info else None)}"
            for r in self.seen
        )


def check(r: httpx.Response, what: str) -> None:
    """200-499 only; an error has a reason; nothing of a stack trace or a secret."""
    where = f"{what} -> {r.status_code} {r.text[:500]!r}"
    if COLLECT and r.status_code >= 500:
        key = f"status {r.status_code} {r.text[:80]}"
        if key not in FOUND or len(what) < len(FOUND[key]):
            FOUND[key] = what
        return
    if r.status_code >= 500:  # (what was raised, as logged)
        raised = [h.say() for h in logging.getLogger().handlers if isinstance(h, Failures)]
        where = f"{' '.join(raised)[:600]}\n{where}"
    assert r.status_code < 500, where
    for leak in LEAKS:
        assert leak not in r.text, f"{where} leaks {leak[:20]!r}"
        assert all(leak not in v for v in r.headers.values()), f"{where} leaks in a header"
    if r.status_code >= 400 and r.request.method != "HEAD":
        kind = r.headers.get("content-type", "")
        assert kind.startswith("application/json"), where
        body = r.json()
        assert body.get("error_id"), where
        assert body.get("message"), where


# -- a live line, set up once for the module, the app's exceptions answered (not raised)


class Fuzzed:
    def __init__(self, live: Live) -> None:
        self.live = live
        # (on the line's own event loop, as on a server: on a loop per request, as a plain
        # TestClient has it, a carrier request the reply left to start was cancelled)
        # (a module's line: its loop ends with `close`, not with the test that made it)
        self.http = live.kept().client(raise_server_exceptions=False)
        live.http, live.carrier = self.http, Carrier(self.http, PUBLIC)
        self.carrier = live.carrier
        self.sent = 0
        self.refused_signature = 0
        self.statuses: dict[int, int] = {}
        self.kinds: dict[str, int] = {}
        self.tokens: dict[str, dict[str, str]] = {}  # the headers of each agent or account
        self.queue_text = ""  # (the administrators' line: the English queue as stored)

    def close(self) -> None:
        self.live.close()

    def note(self, request: str) -> None:
        for h in logging.getLogger().handlers:
            if isinstance(h, Failures):
                h.request = request

    def _tally(self, r: httpx.Response) -> None:
        self.sent += 1
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1

    def webhook(
        self, path: str, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> httpx.Response:
        """A webhook signed exactly as the carrier signs it (over every value of the form)."""
        qs = urlencode(query, quote_via=quote, safe="")
        target = f"{path}?{qs}" if qs else path
        if len(target) >= 8000:  # (longer: no server takes it as a request line)
            reject()
        signature = self.carrier.validator.compute_signature(
            PUBLIC + target, ImmutableMultiDict(form)
        )
        body = urlencode(form, quote_via=quote, safe="")
        headers = {
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self.note(f"POST {target} form={form!r}")
        r: httpx.Response = self.http.post(target, content=body.encode(), headers=headers)
        self._tally(r)
        if r.status_code >= 400 and r.headers.get("content-type", "").startswith(
            "application/json"
        ):
            k = f"{path} {r.status_code} {r.json().get('error_id')}"
        else:
            k = f"{path} {r.status_code}"
        self.kinds[k] = self.kinds.get(k, 0) + 1
        check(r, f"POST {target} form={form!r}")
        if r.status_code == 403 and r.json().get("error_id") == "bad-signature":
            self.refused_signature += 1
        if r.status_code == 200:
            assert r.headers["content-type"].startswith("application/xml"), r.text[:300]
            assert r.text.startswith("<"), r.text[:300]
            # the caller's next steps are their own call's: never another call's loop
            caller = [v for k, v in form if k == "CallSid"]
            if path in CALLERS_ROUTES and len(caller) == 1:
                named = set(re.findall(r"[?&](?:amp;)?sid=([A-Za-z0-9]+)", r.text))
                said = f"POST {target} form={form!r}: the reply sends call {caller[0]} to {named}"
                if COLLECT and not named <= {caller[0]}:
                    key = f"{path}: a reply names another call's steps"
                    FOUND[key] = min(FOUND.get(key, said), said, key=len)
                else:
                    assert named <= {caller[0]}, f"{said}: {r.text[-300:]}"
        return r

    def api(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        body: Any = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        headers = dict(headers)
        content: bytes | None = None
        if raw is not None:
            content = raw
            headers["Content-Type"] = "application/json"
        elif body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.note(f"{method} {url} body={(raw if raw is not None else body)!r}")
        r: httpx.Response = self.http.request(method, url, content=content, headers=headers)
        self._tally(r)
        route = re.sub(r"/calls/[^/]+/", "/calls/{sid}/", url.split("?")[0])
        if (
            r.status_code >= 400
            and r.content
            and r.headers.get("content-type", "").startswith("application/json")
        ):
            k = f"{method} {route} {r.status_code} {r.json().get('error_id')}"
            if os.environ.get("FUZZ_WHY"):
                k += " " + re.sub(r"CA[0-9a-f]{32}", "CA…", str(r.json().get("message")))[:70]
        else:
            k = f"{method} {route} {r.status_code}"
        self.kinds[k] = self.kinds.get(k, 0) + 1
        check(r, f"{method} {url} body={(raw if raw is not None else body)!r}")
        return r


def session(
    live: Live, http: TestClient, username: str, role: str, agent_id: str | None = None
) -> dict[str, str]:
    """A new account of `role`, logged on: the headers its page sends."""
    accounts = Accounts(
        store=AccountStore(engine=live.store.engine),
        clock=live.wall,
        key=live.settings.sealing_key(),
    )
    new = accounts.add(username, role, password=PASSWORD, agent_id=agent_id)
    live.wall.now += 30  # a fresh TOTP step
    code = totp_code(new.totp_secret or "", live.wall())
    r = http.post(
        "/api/session",
        json={
            "username": username,
            "password": PASSWORD,
            "code": code,
            "banner_acknowledged": True,
        },
    )
    assert r.status_code == 200, r.text
    return {
        "Cookie": f"{COOKIE}={r.cookies[COOKIE]}",
        CSRF_HEADER: r.json()["csrf"],
        "Origin": PUBLIC,
    }


SID_ON_CALL = "CA" + "1" * 32  # bridged to en-day-1
SID_QUEUED = "CA" + "2" * 32  # waiting in the queue
SID_IVR = "CA" + "3" * 32  # in the IVR (language kept)
SID_CALLBACK = "CA" + "4" * 32  # took the callback offer
SID_DONE = "CA" + "5" * 32  # completed and wrapped up
LEG = "CA" + "1" * 31 + "1"  # the agent's leg of SID_ON_CALL
KNOWN_SIDS = [SID_ON_CALL, SID_QUEUED, SID_IVR, SID_CALLBACK, SID_DONE, LEG]
AGENTS = ["en-day-1", "en-day-2", "en-day-3", "es-day-1"]


def to_hold(live: Live, sid: str, number: str) -> None:
    """A public caller in English who stays on the line (offered a callback or not)."""
    r = live.carrier.post(keep_english(live, sid, number), call_form(sid, Digits="2"))
    if "<Gather" in r.text:  # the callback offer: stay
        r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))
    assert "/voice/wait?sid=" in r.text, r.text


def seed(f: Fuzzed) -> dict[str, dict[str, str]]:
    """Calls in each state the webhooks act on; returns the agents' token headers."""
    live = f.live
    tokens = {a: live.agent(a) for a in AGENTS}
    # a caller who asked to be called back (nobody staffed yet: the offer is made)
    step = keep_english(live, SID_CALLBACK, "+12025550104")
    offer = live.carrier.post(step, call_form(SID_CALLBACK, Digits="2")).text
    assert "<Gather" in offer, offer
    live.carrier.post(gather_url(offer), call_form(SID_CALLBACK, Digits="1"))
    # a call completed and wrapped up
    done_agent = tokens["en-day-3"]
    to_hold(live, SID_DONE, "+12025550105")
    assert f.http.post("/api/agent/login", headers=done_agent).status_code == 200
    r = f.http.post("/api/agent/ready", headers=done_agent)
    assert r.json()["call_sid"] in (SID_DONE, SID_CALLBACK), r.text
    taken = r.json()["call_sid"]
    f.http.post(f"/api/agent/calls/{taken}/accept", headers=done_agent)
    live.leg_answered(taken)
    live.carrier.post("/voice/status", call_form(taken, CallStatus="completed"))
    r = f.http.post(
        "/api/agent/wrap-up", json={"code": "resolved", "ready": False}, headers=done_agent
    )
    assert r.status_code in (200, 409), r.text
    # a call bridged to en-day-1
    to_hold(live, SID_ON_CALL, "+12025550101")
    agent = tokens["en-day-1"]
    f.http.post("/api/agent/login", headers=agent)
    r = f.http.post("/api/agent/ready", headers=agent)
    sid = r.json()["call_sid"]
    assert sid is not None, r.text
    assert f.http.post(f"/api/agent/calls/{sid}/accept", headers=agent).status_code == 200
    live.leg_answered(sid)
    # a caller waiting (nobody else ready), one in the IVR
    to_hold(live, SID_QUEUED, "+12025550102")
    keep_english(live, SID_IVR, "+12025550103")
    f.http.post("/api/agent/login", headers=tokens["en-day-2"])
    return tokens


@pytest.fixture(scope="module")
def failures() -> Iterator[Failures]:
    handler = Failures()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for key, request in sorted(FOUND.items()):
        print(f"\nFOUND {key}\n    {request[:1500]}")


def fuzzed_line(folder: Path, **more: Any) -> Live:
    """The national line with its record desk (case records asked of a stand-in) and an
    interpreting service; `more`: other settings of `Live`."""
    connectors: dict[str, Connector] = {"agency_directory": directory(), "case_records": Asked()}

    def desk(live: Live) -> RecordDesk:
        return RecordDesk(
            policy=Policy.load(ROOT / "scenarios" / "disclosure-policy.yaml"),
            sources={"case": SOURCE},
            connectors=connectors,
            engine=live.store.engine,
            clock=live.wall,
        )

    return Live(sqlite_url(folder), commit_wait=COMMIT_WAIT, connectors=connectors, desk=desk,
                interpreter_number="+18005550999", **more)  # fmt: skip


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory, failures: Failures) -> Iterator[Fuzzed]:
    live = fuzzed_line(tmp_path_factory.mktemp("fuzz"), twilio_api=("SK" + "7" * 32, API_SECRET))
    f = Fuzzed(live)
    try:
        f.tokens = seed(f)
        assert not failures.seen, failures.say()
        yield f
        tell(f, "")
    finally:
        f.close()


def tell(f: Fuzzed, title: str) -> None:
    """With FUZZ_WHY=1: what was sent, and how each route answered."""
    if not TELL:
        return
    print(f"\n{title}sent", f.sent, "statuses", f.statuses)
    for k in sorted(f.kinds):
        print(f"  {k[:150]}: {f.kinds[k]}")


# -- strategies

CHARS = st.characters(exclude_categories=["Cs"])  # any code point UTF-8 can carry
ODD = st.one_of(
    st.text(CHARS, max_size=24),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\x1b[31m",
            "\r\n",
            "\t",
            "\u202e",
            "\ufeff",
            "%00",
            "é",
            "😀",
            "ǅ",
            "İ",
            "\u0661",
            "²",
            "null",
            "None",
            "-1",
            "0",
            "NaN",
            "'; DROP TABLE calls; --",
            "../../etc/passwd",
            "<Response/>",
            "a" * 65,
            "A" * 300,
            "9" * 40,
        ]
    ),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["x", "é", "😀", "%", "+"]), st.integers(200, 5000)
    ),
)
NUMBERS = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "3",
            "10",
            "999999999",
            "1000000000",
            "-1",
            "+1",
            " 1",
            "1.0",
            "1e3",
            "²",
            "\u0661",
            "0x1",
            "",
            "000000001",
            "9" * 20,
        ]
    ),
    st.integers(0, 999_999_999).map(str),
    ODD,
)
SIDS = st.one_of(
    st.sampled_from(KNOWN_SIDS),
    st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{1,64}", fullmatch=True),
    ODD,
)
STATUSES = st.sampled_from(
    [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "answered",
        "completed",
        "busy",
        "failed",
        "no-answer",
        "canceled",
    ]
)
LABELS = st.one_of(
    st.sampled_from(
        [
            "caller",
            "interpreter",
            "agent:en-day-1",
            "agent:en-day-2",
            "supervisor:boss",
            "agent:",
            "agent:-x",
            "supervisor:a@b",
        ]
    ),
    st.from_regex(r"(agent|supervisor):[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", fullmatch=True),
    ODD,
)
QUERY_VALUES: dict[str, st.SearchStrategy[str]] = {
    "sid": SIDS,
    "call": SIDS,
    "n": NUMBERS,
    "a": NUMBERS,
    "g": NUMBERS,
    "step": NUMBERS,
    "t": NUMBERS,
    "timeout": NUMBERS,
    "label": LABELS,
}
FORM_VALUES: dict[str, st.SearchStrategy[str]] = {
    "CallSid": SIDS,
    "From": st.one_of(
        st.sampled_from(
            [CALLER, LINE, VICTIMS, "client:en-day-1", "sip:x@y", "anonymous", "+" + "1" * 64]
        ),
        ODD,
    ),
    "To": st.one_of(st.sampled_from([LINE, VICTIMS, "+15550000000", ""]), ODD),
    "Digits": st.one_of(st.from_regex(r"[0-9*#]{0,8}", fullmatch=True), ODD),
    "SpeechResult": st.one_of(st.sampled_from(["help", "I need help", "agency", "yes"]), ODD),
    "Confidence": st.one_of(
        st.sampled_from(["0.9", "nan", "inf", "-inf", "1e309", "-0", "1e-400", "0x1p-2", "١"]), ODD
    ),
    "CallStatus": st.one_of(STATUSES, ODD),
    "DialCallStatus": st.one_of(STATUSES, ODD),
    "RecordingUrl": st.one_of(
        st.sampled_from(
            ["https://api.example/rec/RE1", "http://", "https://", "https://" + "a" * 2100]
        ),
        ODD,
    ),
    "AccountSid": st.one_of(st.just("AC" + "0" * 32), ODD),
}


def pairs(
    values: dict[str, st.SearchStrategy[str]], size: int
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Keys of the route (some repeated, some missing) and odd ones, with their values."""
    known = st.sampled_from(sorted(values)).flatmap(lambda k: st.tuples(st.just(k), values[k]))
    odd = st.tuples(ODD, ODD)
    return st.lists(st.one_of(known, known, known, odd), max_size=size)


Hook = tuple[str, list[tuple[str, str]], list[tuple[str, str]]]  # route, query, form
VOICE_ROUTES = {
    "/voice/incoming": (),
    "/voice/gather": ("sid", "step", "g", "timeout"),
    "/voice/lookup": ("sid", "g", "t", "n"),
    "/voice/wait": ("sid", "n", "a"),
    "/voice/hold-key": ("sid", "n", "a"),
    "/voice/status": ("call",),
    "/voice/dial-done": ("sid", "a"),
    "/voice/agent-leg": ("sid", "a"),
    "/voice/leg": ("sid", "label"),
    "/voice/voicemail": ("sid",),
}
# the routes whose CallSid is the caller's own call (not a leg's): their replies' URLs
CALLERS_ROUTES = (
    "/voice/incoming",
    "/voice/gather",
    "/voice/lookup",
    "/voice/wait",
    "/voice/hold-key",
    "/voice/dial-done",
    "/voice/voicemail",
)
FORM_KEYS = {
    "/voice/incoming": ("From", "To"),
    "/voice/gather": ("Digits", "SpeechResult", "Confidence"),
    "/voice/lookup": (),
    "/voice/wait": (),
    "/voice/hold-key": ("Digits",),
    "/voice/status": ("CallStatus",),
    "/voice/dial-done": ("DialCallStatus",),
    "/voice/agent-leg": ("CallStatus",),
    "/voice/leg": ("CallStatus",),
    "/voice/voicemail": ("RecordingUrl",),
}


GOOD_QUERY: dict[str, st.SearchStrategy[str]] = {
    "sid": st.sampled_from(KNOWN_SIDS),
    "call": st.sampled_from(KNOWN_SIDS),
    "n": st.integers(0, 5).map(str),
    "a": st.integers(0, 4).map(str),
    "g": st.integers(0, 3).map(str),
    "step": st.integers(0, 6).map(str),
    "t": st.integers(0, 3).map(str),
    "timeout": st.sampled_from(["0", "1"]),
    "label": st.sampled_from(
        ["caller", "interpreter", "agent:en-day-1", "agent:en-day-2", "supervisor:boss"]
    ),
}
GOOD_FORM: dict[str, st.SearchStrategy[str]] = {
    "CallSid": st.one_of(
        st.sampled_from(KNOWN_SIDS), st.from_regex(r"CA[0-9a-f]{32}", fullmatch=True)
    ),
    "From": st.sampled_from([CALLER, "+12025550199", "anonymous", "client:en-day-1"]),
    "To": st.sampled_from([LINE, LINE, VICTIMS, "+15550000000"]),
    "Digits": st.from_regex(r"[0-9*#]{0,8}", fullmatch=True),
    "SpeechResult": st.sampled_from(["help", "I need help", "agency", "yes", "español"]),
    "Confidence": st.sampled_from(["0.9", "0.1", "nan", "inf", "-inf", "1e309", "-0"]),
    "CallStatus": STATUSES,
    "DialCallStatus": STATUSES,
    "RecordingUrl": st.sampled_from(["https://api.example/rec/RE1", "http://x/y?z=1&w=2"]),
}
PLAIN = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)


@st.composite
def webhooks(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """A route with a well-formed query and form, then a few mutations: a key dropped,
    repeated or added, a value made odd (the fields it reads, others, other calls' ids)."""
    path = draw(st.sampled_from(sorted(VOICE_ROUTES)))
    query = [(k, draw(GOOD_QUERY[k])) for k in VOICE_ROUTES[path]]
    form = [("CallSid", draw(GOOD_FORM["CallSid"]))]
    form += [(k, draw(GOOD_FORM[k])) for k in FORM_KEYS[path]]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        which = draw(st.sampled_from(["query", "form"]))
        items, good, odd = (
            (query, GOOD_QUERY, QUERY_VALUES)
            if which == "query"
            else (form, GOOD_FORM, FORM_VALUES)
        )
        how = draw(
            st.sampled_from(["drop", "repeat", "odd", "other", "extra", "odd-key", "shuffle"])
        )
        if how == "drop" and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif how == "repeat" and items:
            k, v = items[draw(st.integers(0, len(items) - 1))]
            items.append((k, draw(st.one_of(st.just(v), good.get(k, PLAIN)))))
        elif how == "odd" and items:
            i = draw(st.integers(0, len(items) - 1))
            items[i] = (items[i][0], draw(odd.get(items[i][0], ODD)))
        elif how == "other":  # a known key, any of its values (good or odd)
            k = draw(st.sampled_from(sorted(good)))
            items.append((k, draw(st.one_of(good[k], odd.get(k, ODD)))))
        elif how == "extra":
            items.append((draw(PLAIN), draw(PLAIN)))
        elif how == "odd-key":
            items.append((draw(ODD), draw(ODD)))
        elif how == "shuffle":
            items[:] = draw(st.permutations(items))
    return path, query, form


# -- the carrier's webhooks


@settings(FUZZ, max_examples=600)
@given(hook=webhooks())
def test_signed_webhooks_never_get_a_5xx_nor_another_calls_steps(
    line: Fuzzed, hook: Hook, failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    path, query, form = hook
    line.webhook(path, query, form)
    assert not failures.seen, failures.say()


RAW_BODIES = st.one_of(
    st.binary(max_size=120),
    st.sampled_from(
        [
            b"CallSid=CA1&From=%2B12025550143&To=%2B18005550100",
            b"CallSid=CA1&&&",
            b"CallSid=CA1;From=x",
            b"CallSid=CA1&From=%zz",
            b"CallSid=CA1&From=%ff",
            b"CallSid",
            b"=",
            b"&=&=",
            b"CallSid=CA1&" + b"a=1&" * 300,
            b"CallSid=CA%31&CallStatus=completed",
            b"CallSid=CA1&From=a+b",
            b"\xef\xbb\xbfCallSid=CA1",
            b"CallSid=CA1&CallSid=CA2",
            b"CallSid=CA1&Digits=1&Digits=2",
            b"CallSid=" + b"%41" * 64,
        ]
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded;",
        "",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json",
        "application/x-www-form-urlencoded\t",
    ]
)


@settings(FUZZ, max_examples=200)
@given(
    path=st.sampled_from(sorted(VOICE_ROUTES)),
    query=st.sampled_from(
        [
            "",
            "sid=CA1&n=1&a=1&g=1&step=1&t=1&label=caller",
            f"sid={SID_QUEUED}&n=1",
            f"call={SID_ON_CALL}",
            "sid=CA1&sid=CA2&n=1&n=2",
        ]
    ),
    body=RAW_BODIES,
    kind=CONTENT_TYPES,
)
def test_raw_webhook_bodies_never_get_a_5xx(
    line: Fuzzed, path: str, query: str, body: bytes, kind: str, failures: Failures
) -> None:
    """Bodies as bytes (bad UTF-8, bad escapes, `;`, repeated keys, other content types),
    signed over what the server reads of them (the form, as parsed, or nothing)."""
    failures.seen.clear()  # (each example judged on its own)
    from urllib.parse import parse_qsl

    try:
        form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        form = []
    target = f"{path}?{query}" if query else path
    signature = line.carrier.validator.compute_signature(PUBLIC + target, ImmutableMultiDict(form))
    headers = {"X-Twilio-Signature": signature}
    if kind:
        headers["Content-Type"] = kind
    line.note(f"POST {target} body={body!r} content-type={kind!r}")
    r = line.http.post(target, content=body, headers=headers)
    line._tally(r)
    check(r, f"POST {target} body={body!r} content-type={kind!r}")
    assert not failures.seen, failures.say()


@settings(FUZZ, max_examples=60)
@given(
    path=st.sampled_from(["/api/agent/ws", "/api/events"]),
    token=st.one_of(
        st.none(),
        st.sampled_from(["", "x", "supervisor", "\u00e9" * 300]),
        ODD,
        st.sampled_from(["agent", "supervisor", "agent-bad"]),
    ),
    cookie=st.sampled_from([None, "nope", ""]),
    origin=st.sampled_from([None, PUBLIC, "http://evil.example", "http://["]),
)
def test_sockets_with_odd_credentials_never_fail_on_our_side(
    line: Fuzzed,
    path: str,
    token: str | None,
    cookie: str | None,
    origin: str | None,
    failures: Failures,
) -> None:
    """The agents' and supervisors' websockets: a good token (agent's, supervisor's) or
    an odd one, a cookie, an origin; refused with a close code of ours, never an error."""
    from starlette.websockets import WebSocketDisconnect

    failures.seen.clear()  # (each example judged on its own)
    if token == "agent":
        token = line.tokens["en-day-2"]["Authorization"].split()[1]
    elif token == "supervisor":
        if "supervisor" not in line.tokens:
            line.tokens["supervisor"] = line.live.agent("supervisor")
        token = line.tokens["supervisor"]["Authorization"].split()[1]
    elif token == "agent-bad":
        token = line.tokens["en-day-2"]["Authorization"].split()[1] + "x"
    url = path + (f"?token={quote(token, safe='')}" if token is not None else "")
    headers = {}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    if origin is not None:
        headers["Origin"] = origin
    line.note(f"WS {url} {headers}")
    try:
        with line.http.websocket_connect(url, headers=headers) as ws:
            hello = ws.receive_json()
            assert hello["type"] == "hello", hello
            ws.close()
    except WebSocketDisconnect as e:
        closed = e.code
    else:
        closed = 1000
    assert closed == 1000 or 4000 <= closed < 5000, closed  # (ours: 4xxx; 1011 is an error)
    assert not failures.seen, failures.say()


# -- the agents' API

ANY_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(CHARS, max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(CHARS, max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)
RAW_JSON = st.sampled_from(
    [
        b"",
        b"{",
        b"[",
        b"null",
        b"\xff\xfe",
        b'{"a": 1e999}',
        b'{"hold": NaN}',
        b'{"hold": true, "hold": false}',
        b"[" * 5000,
        b'{"code": "a\\ud800"}',
        b'"\\u0000"',
        b"1" * 400,
    ]
)
# a JSON string may carry what UTF-8 cannot: a lone surrogate ("\ud800", as JSON escapes it)
SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "x" * 10 + "\udc80"])
JSON_ODD = st.one_of(ODD, SURROGATES)
REASONS = st.one_of(st.sampled_from(["break", "lunch", "training", "x" * 32]), ODD)
JSON_REASONS = st.one_of(REASONS, SURROGATES)
GOOD_BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "wrap": st.fixed_dictionaries(
        {"code": st.sampled_from(["resolved", "referred", "timeout", "x", "a-b-c"])},
        optional={
            "notes": st.one_of(st.text(CHARS, max_size=50), st.just("n" * 2000), SURROGATES),
            "ready": st.booleans(),
            "reason": JSON_REASONS,
        },
    ),
    "then": st.fixed_dictionaries({"ready": st.booleans()}, optional={"reason": JSON_REASONS}),
    "hold": st.fixed_dictionaries({"hold": st.booleans()}),
    "transfer": st.fixed_dictionaries(
        {},
        optional={
            "queue": st.sampled_from(["en", "es", "agency-en", "quc", "", "nope"]),
            "agent": st.sampled_from([*AGENTS, "", "nobody", "supervisor"]),
            "warm": st.booleans(),
        },
    ),
    "finish": st.fixed_dictionaries({"complete": st.booleans()}),
    "interp": st.fixed_dictionaries({"on": st.booleans()}),
    "lookup": st.fixed_dictionaries(
        {
            "reference": st.one_of(
                st.sampled_from(["HC-100200", "HC-1", " x", "é" * 40, "9" * 200]), SURROGATES
            ),
            "purpose": st.sampled_from(["child-safety-check", "welfare", "x"]),
        },
        optional={"record_type": st.sampled_from(["case", "person", "x_y"])},
    ),
}
AGENT_ROUTES = [
    ("GET", "/api/agent/me", None),
    ("GET", "/api/agent/today", None),
    ("GET", "/api/agent/transfer-targets", None),
    ("GET", "/api/agent/records", None),
    ("POST", "/api/agent/login", None),
    ("POST", "/api/agent/ready", None),
    ("POST", "/api/agent/not-ready", None),
    ("POST", "/api/agent/logout", None),
    ("POST", "/api/agent/wrap-up", "wrap"),
    ("POST", "/api/agent/after-wrap-up", "then"),
    ("POST", "/api/agent/hold", "hold"),
    ("POST", "/api/agent/hang-up", None),
    ("POST", "/api/agent/transfer", "transfer"),
    ("POST", "/api/agent/transfer/finish", "finish"),
    ("POST", "/api/agent/interpreter", "interp"),
    ("POST", "/api/agent/voice-token", None),
    ("POST", "/api/agent/records/lookup", "lookup"),
    ("POST", "/api/agent/calls/{sid}/accept", None),
    ("POST", "/api/agent/calls/{sid}/decline", None),
]


@st.composite
def json_bodies(draw: st.DrawFn, model: str | None) -> tuple[Any, bytes | None]:
    """(a body to send as JSON, or raw bytes): the model's, mutated, or anything."""
    how = draw(
        st.sampled_from(["good", "good", "good", "mutated", "mutated", "any", "raw", "none"])
    )
    if model is None or how == "none":
        return (draw(ANY_JSON) if how in ("any",) else None), (
            draw(RAW_JSON) if how == "raw" else None
        )
    if how == "any":
        return draw(ANY_JSON), None
    if how == "raw":
        return None, draw(RAW_JSON)
    body = dict(draw(GOOD_BODIES[model]))
    if how == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            what = draw(st.sampled_from(["drop", "value", "extra"]))
            if what == "drop" and body:
                del body[draw(st.sampled_from(sorted(body)))]
            elif what == "value" and body:
                body[draw(st.sampled_from(sorted(body)))] = draw(st.one_of(ANY_JSON, JSON_ODD))
            else:
                body[draw(st.text(CHARS, max_size=8))] = draw(ANY_JSON)
    return body, None


@st.composite
def agent_requests(draw: st.DrawFn, pool: list[str]) -> tuple[str, str, Any, bytes | None]:
    method, path, model = draw(st.sampled_from(AGENT_ROUTES))
    sids = st.one_of(st.sampled_from(pool), st.sampled_from(pool), SIDS)
    if "{sid}" in path:
        path = path.replace("{sid}", quote(draw(sids), safe=""))
    query: list[tuple[str, str]] = []
    if draw(st.integers(0, 2)) == 0:
        query.append(("call", draw(sids)))
    if path.endswith("/not-ready") and draw(st.booleans()):
        query.append(("reason", draw(REASONS)))
    if draw(st.integers(0, 9)) == 0:
        query.append((draw(PLAIN), draw(ODD)))
    qs = urlencode(query, quote_via=quote, safe="")
    body, raw = draw(json_bodies(model))
    return method, f"{path}?{qs}" if qs else path, body, raw


def send_agent(
    line: Fuzzed,
    who: dict[str, str],
    req: tuple[str, str, Any, bytes | None],
    sid: str | None = None,
) -> httpx.Response:
    method, url, body, raw = req
    if sid is not None:
        url = url.replace(quote(JOURNEY, safe=""), sid)
        if isinstance(body, dict):
            body = {k: (sid if v == JOURNEY else v) for k, v in body.items()}
    if len(url) >= 8000:
        reject()
    return line.api(method, url, who, body=body, raw=raw)


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_the_agents_api_never_answers_a_5xx(
    line: Fuzzed, data: st.DataObject, failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    agent = data.draw(st.sampled_from(AGENTS))
    req = data.draw(agent_requests(KNOWN_SIDS))
    send_agent(line, line.tokens[agent], req)
    assert not failures.seen, failures.say()


# -- whole calls: each a new caller, its replies followed, mutated webhooks and an agent's
# actions on it interleaved, the clock moved

JOURNEY = "CAjourney"  # stands for the journey's own call id in drawn requests
JOURNEY_AGENT = "en-day-4"
NEXT_URL = re.compile(r'(?:action="|>)(http://127\.0\.0\.1:8000(/voice/[^"<]+))')
COUNTER = iter(range(10**6))


@st.composite
def journey_steps(draw: st.DrawFn) -> list[tuple[str, Any]]:
    step = st.one_of(
        st.tuples(
            st.just("next"),
            st.tuples(
                st.integers(0, 3),
                st.sampled_from(
                    [
                        "1",
                        "2",
                        "1",
                        "2",
                        "3",
                        "9",
                        "0",
                        "#",
                        "123455#",
                        "2468#",
                        "",
                        "speech:help",
                        "speech:agency",
                        "timeout",
                    ]
                ),
            ),
        ),
        st.tuples(st.just("next"), st.tuples(st.integers(0, 3), st.just("1"))),
        st.tuples(st.just("hook"), webhooks_for(JOURNEY)),
        st.tuples(st.just("agent"), agent_requests([JOURNEY])),
        st.tuples(st.just("status"), STATUSES),
        st.tuples(st.just("clock"), st.sampled_from([1, 5, 16, 31, 61, 301, 601])),
        st.tuples(st.just("settle"), st.none()),
        st.tuples(st.just("take"), st.none()),
        st.tuples(st.just("take"), st.none()),
    )
    return draw(st.lists(step, min_size=1, max_size=12))


def webhooks_for(sid: str) -> st.SearchStrategy[Hook]:
    """`webhooks()` with the journey's call most of the time."""

    def swap(hook: Hook, to: bool) -> Hook:
        path, query, form = hook
        if not to:
            return hook
        known = set(KNOWN_SIDS)
        query = [(k, sid if v in known else v) for k, v in query]
        form = [(k, sid if v in known else v) for k, v in form]
        return path, query, form

    return st.tuples(webhooks(), st.integers(0, 4)).map(lambda t: swap(t[0], t[1] != 0))


def take(line: Fuzzed, agent: dict[str, str]) -> None:
    """The journey's agent takes whatever call they are offered (free first, if they can)."""
    me = line.api("GET", "/api/agent/me", agent).json()
    if me["state"] == "wrap_up":
        line.api("POST", "/api/agent/wrap-up", agent, body={"code": "resolved"})
    elif me["state"] == "offline":
        line.api("POST", "/api/agent/login", agent)
    if me["state"] in ("not_ready", "offline", "wrap_up"):
        me = line.api("POST", "/api/agent/ready", agent).json()
    if me.get("state") == "reserved" and me.get("call_sid"):
        sid = me["call_sid"]
        r = line.api("POST", f"/api/agent/calls/{sid}/accept", agent)
        if r.status_code == 200:
            tries = [d.get("attempt") for k, d in line.live.store.events(sid) if k == "connecting"]
            a = int(str(tries[-1])) if tries else 1
            line.webhook(
                "/voice/agent-leg",
                [("sid", sid), ("a", str(a))],
                [("CallSid", "CA" + sid[-30:] + "LG"), ("CallStatus", "in-progress")],
            )


def follow(line: Fuzzed, sid: str, twiml: str, pick: int, said: str) -> str:
    urls = [m.group(2).replace("&amp;", "&") for m in NEXT_URL.finditer(twiml)]
    if not urls:
        return twiml
    url = urls[pick % len(urls)]
    form = [("CallSid", sid)]
    if "/voice/voicemail" in url:
        form.append(("RecordingUrl", "https://api.example/rec/RE" + sid[-8:]))
    elif said.startswith("speech:"):
        form += [("SpeechResult", said[7:]), ("Confidence", "0.9")]
    elif said != "timeout":
        form.append(("Digits", said))
    if said == "timeout" and "/voice/gather" in url and "timeout=1" not in url:
        url += "&timeout=1"
    path, _, qs = url.partition("?")
    query = [
        (unquote(k), unquote(v)) for k, _, v in (kv.partition("=") for kv in qs.split("&") if kv)
    ]
    r = line.webhook(path, query, form)
    return r.text if r.status_code == 200 else twiml


@settings(FUZZ, max_examples=150, phases=NO_SHRINK)  # (the line's state is shared)
@given(steps=journey_steps())
def test_whole_calls_with_odd_turns_never_get_a_5xx(
    line: Fuzzed, steps: list[tuple[str, Any]], failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    sid = f"CA{next(COUNTER):032x}"
    live = line.live
    if JOURNEY_AGENT not in line.tokens:
        line.tokens[JOURNEY_AGENT] = live.agent(JOURNEY_AGENT)
    agent = line.tokens[JOURNEY_AGENT]
    r = line.webhook(
        "/voice/incoming", [], [("CallSid", sid), ("From", "+12025550177"), ("To", LINE)]
    )
    twiml = r.text
    for kind, arg in steps:
        if kind == "next":
            twiml = follow(line, sid, twiml, *arg)
        elif kind == "hook":
            path, query, form = arg
            line.webhook(path, query, form)
        elif kind == "agent":
            send_agent(line, agent, arg, sid)
        elif kind == "status":
            line.webhook("/voice/status", [], [("CallSid", sid), ("CallStatus", arg)])
        elif kind == "clock":
            live.wall.now += arg
        elif kind == "settle":
            live.line.lookups.settle(5, sid)
        elif kind == "take":
            take(line, agent)
    assert not failures.seen, failures.say()


# -- supervisors (the supervisor's token), administrators and auditors (sessions), log-on


@st.composite
def supervisor_requests(draw: st.DrawFn) -> tuple[str, str, Any, bytes | None]:
    kind = draw(
        st.sampled_from(["stats", "state", "state", "supervise", "supervise", "voice-token"])
    )
    agent_ids = st.one_of(st.sampled_from([*AGENTS, JOURNEY_AGENT, "nobody", "x" * 64]), ODD)
    if kind == "stats":
        return "GET", "/api/stats", None, None
    if kind == "voice-token":
        return "POST", "/api/supervisor/voice-token", None, None
    if kind == "state":
        path = f"/api/supervisor/agents/{quote(draw(agent_ids), safe='')}/state"
        good = st.fixed_dictionaries(
            {
                "state": st.sampled_from(["not_ready", "available", "offline"]),
                "reason": st.one_of(st.sampled_from(["coaching", "r" * 64]), JSON_REASONS),
            }
        )
        how = draw(st.sampled_from(["good", "good", "any", "raw"]))
        if how == "good":
            return "POST", path, draw(good), None
        if how == "any":
            return "POST", path, draw(ANY_JSON), None
        return "POST", path, None, draw(RAW_JSON)
    sid = draw(st.one_of(st.sampled_from(KNOWN_SIDS), SIDS))
    mode = draw(st.one_of(st.sampled_from(["listen", "whisper", "barge", "leave"]), PLAIN))
    return "POST", f"/api/supervisor/calls/{quote(sid, safe='')}/{quote(mode, safe='')}", None, None


@settings(FUZZ, max_examples=200)
@given(req=supervisor_requests())
def test_the_supervisors_api_never_answers_a_5xx(
    line: Fuzzed, req: tuple[str, str, Any, bytes | None], failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    if "supervisor" not in line.tokens:
        line.tokens["supervisor"] = line.live.agent("supervisor")
    method, url, body, raw = req
    if len(url) >= 8000:  # (longer: no server takes it as a request line)
        reject()
    line.api(method, url, line.tokens["supervisor"], body=body, raw=raw)
    assert not failures.seen, failures.say()


AUDIT_FILTERS = {
    "actor": st.sampled_from(["ada", "system", "supervisor", ""]),
    "outcome": st.sampled_from(["ok", "refused", "failed"]),
    "action": st.sampled_from(["record.", "config.skills", "audit.read", ".", "x"]),
    "object": st.sampled_from(["case:*", "*", "agent:en-day-1", "line:*x"]),
    "since": st.sampled_from(
        [
            "2026-11-25",
            "2026-11-25T10:00:00",
            "2026-02-30",
            "0000-01-01",
            "9999-12-31T23:59:59",
            "2026-11-25T10:00:00+14:00",
            "-1",
        ]
    ),
    "until": st.sampled_from(["2026-11-26", "2026-11-25T10:00:00Z", "10000-01-01", "1e9"]),
    "before": NUMBERS,
    "after": NUMBERS,
    "limit": st.one_of(st.sampled_from(["1", "100", "500", "501", "0", "-1"]), NUMBERS),
}


@st.composite
def audit_requests(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return "/api/audit/checkpoints?" + urlencode(
            [("limit", draw(st.one_of(st.sampled_from(["1", "5", "20", "21", "0"]), NUMBERS)))],
            quote_via=quote,
            safe="",
        )
    query = []
    for _ in range(draw(st.integers(0, 4))):
        k = draw(st.sampled_from(sorted(AUDIT_FILTERS)))
        query.append((k, draw(st.one_of(AUDIT_FILTERS[k], AUDIT_FILTERS[k], ODD))))
    if draw(st.integers(0, 5)) == 0:
        query.append((draw(PLAIN), draw(PLAIN)))
    return "/api/audit/entries?" + urlencode(query, quote_via=quote, safe="")


@settings(FUZZ, max_examples=150)
@given(url=audit_requests())
def test_the_auditors_api_never_answers_a_5xx(line: Fuzzed, url: str, failures: Failures) -> None:
    failures.seen.clear()  # (each example judged on its own)
    if "auditor" not in line.tokens:
        line.tokens["auditor"] = session(line.live, line.http, "audrey", "auditor")
    if len(url) >= 8000:  # (longer: no server takes it as a request line)
        reject()
    line.api("GET", url, line.tokens["auditor"])
    assert not failures.seen, failures.say()


LOG_ON = st.fixed_dictionaries(
    {
        "username": st.one_of(st.sampled_from(["audrey", "nobody", "a" * 256]), JSON_ODD),
        "password": st.one_of(st.sampled_from([PASSWORD, "wrong"]), JSON_ODD),
    },
    optional={
        "code": st.one_of(st.none(), st.sampled_from(["000000", "1" * 16]), JSON_ODD),
        "banner_acknowledged": st.one_of(st.booleans(), ANY_JSON),
    },
)


@settings(FUZZ, max_examples=120)
@given(
    body=st.one_of(LOG_ON, ANY_JSON),
    raw=st.one_of(st.none(), RAW_JSON),
    origin=st.one_of(
        st.none(),
        st.sampled_from(
            [PUBLIC, "http://evil.example", "null", "http://[", "http://127.0.0.1:99999"]
        ),
    ),
)
def test_log_on_never_answers_a_5xx(
    line: Fuzzed, body: Any, raw: bytes | None, origin: str | None, failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    headers = {"Origin": origin} if origin else {}
    line.api("POST", "/api/session", headers, body=body, raw=raw)
    assert not failures.seen, failures.say()


STRAY_PATHS = [
    "/",
    "/healthz",
    "/metrics",
    "/api",
    "/api/",
    "/api/docs",
    "/api/openapi.json",
    "/agent",
    "/supervisor",
    "/admin",
    "/audit",
    "/static/../pyproject.toml",
    "/voice/incoming",
    "/api/agent/me",
    "/api/session",
    "/api/banner",
    "/api/admin/lines",
    "/api/events",
    "/api/agent/ws",
    "/%00",
    "/%ff",
    "/a" * 50,
]


@settings(FUZZ, max_examples=120)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.one_of(
        st.sampled_from(STRAY_PATHS),
        st.text(CHARS, max_size=40).map(lambda t: "/" + quote(t, safe="/")),
    ),
    header=st.sampled_from(
        [
            {},
            {"Authorization": "Bearer x"},
            {"Authorization": "Basic"},
            {"Authorization": "Bearer " + "\u00e9"},
            {"Cookie": f"{COOKIE}=nope"},
            {"Content-Length": "x"},
            {"Content-Type": "application/json"},
            {"X-CSRF-Token": "x"},
        ]
    ),
)
def test_stray_requests_never_get_a_5xx(
    line: Fuzzed, method: str, path: str, header: dict[str, str], failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    headers = dict(header)
    try:
        headers_ok = httpx.Headers(headers)
    except Exception:  # noqa: BLE001 - a header httpx will not send
        return
    line.api(method, path, dict(headers_ok))
    assert not failures.seen, failures.say()


# -- administrators: a line of their own (its configuration changes under the fuzz)

NATIONAL = ROOT / "scenarios" / "national-hotline.yaml"
FLOW_TEXT = (ROOT / "scenarios" / "national-hotline.flow.yaml").read_text(encoding="utf-8")
ADMIN_BASE = "/api/admin/lines/National%20hotline%20(US)"
ODD_SCALARS = [
    '"a\\0b"',
    '"' + "x" * 300 + '"',
    "x" * 300,
    "../../x",
    "../" * 12 + "etc/hostname",
    "/etc/hostname",
    ".inf",
    "-.inf",
    ".nan",
    "-1",
    "0",
    "1e400",
    "99999999999999999999",
    "null",
    "[]",
    "{}",
    "!!binary aGk=",
    "!!timestamp 2001-13-45",
    "*nope",
    "~",
    "true",
    "0x1F",
    '"\\u202e"',
    '"\\x85"',
    "'é'",
    "!!set {a}",
    "2001-02-29",
    "<<: *nope",
    "&a [*a]",
]
SCALAR = re.compile(
    r"(?:(?<=: )|(?<=\[)|(?<=, ))([^\s{}\[\],#&*!|>'\"][^,}\]\n#]*?)(?=\s*(?:[,}\]#]|$))"
)
TARGETS = re.compile(
    r"(?P<key>^catalog: |^include: |^flow: |^version: |^default_language: |"
    r"^fallback_queue: |^interpreter: |^  +timeout: |^  +seconds: |^  +name: |"
    r"^wrap_up_seconds: |^aging_per_minute: )|(?P<lang>^  [a-z]{2,3}: +\{name)"
)
PATHISH = ['"a\\0b"', "x" * 300, "../" * 12 + "etc/hostname", "/etc/hostname", "../../x"]
# the lines naming files, languages and numbers: mutated more often
SPOTS = re.compile(
    r"^(catalog|include|flow|version|defaults|queues|  [a-z]{2,3}: +\{name)|"
    r"seconds|timeout|require|key:"
)


@st.composite
def yaml_mutants(draw: st.DrawFn, text: str, bump: bool) -> str:
    """`text` with a few of its values, keys or lines made odd."""
    lines = text.splitlines()
    targets = [j for j, x in enumerate(lines) if TARGETS.match(x)]
    targeted: bool = draw(st.booleans())
    if targets and targeted:  # a file name, a language or a setting made odd
        i = draw(st.sampled_from(targets))
        odd = draw(
            st.one_of(st.sampled_from(PATHISH), st.sampled_from(ODD_SCALARS), PLAIN.map(json.dumps))
        )
        t = TARGETS.match(lines[i])
        assert t is not None
        if t.group("lang"):  # the language's tag (its catalog's file name)
            lines[i] = f"  {odd}: {{name: X}}"
        else:
            lines[i] = f"{t.group('key')}{odd}"
    for _ in range(draw(st.integers(0 if targets else 1, 3))):
        how = draw(st.sampled_from(["value", "value", "value", "key", "key", "drop", "dup"]))
        spots = [j for j, x in enumerate(lines) if SPOTS.search(x)]
        i = draw(st.one_of(st.integers(0, len(lines) - 1), st.sampled_from(spots or [0])))
        if how == "value":
            found = list(SCALAR.finditer(lines[i]))
            if found:
                m = draw(st.sampled_from(found))
                odd = draw(
                    st.one_of(
                        st.sampled_from(PATHISH),
                        st.sampled_from(ODD_SCALARS),
                        PLAIN.map(json.dumps),
                    )
                )
                lines[i] = lines[i][: m.start()] + odd + lines[i][m.end() :]
        elif how == "key":
            indent = len(lines[i]) - len(lines[i].lstrip())
            key = draw(
                st.one_of(
                    st.sampled_from(PATHISH), st.sampled_from(ODD_SCALARS), PLAIN.map(json.dumps)
                )
            )
            lines.insert(i, " " * indent + f"{key}: {{name: X}}")
        elif how == "drop":
            del lines[i]
        else:
            lines.insert(i, lines[i])
    out = "\n".join(lines) + "\n"
    if bump:  # (a new version each time: not refused as kept already)
        out = re.sub(r"(?m)^version: \d+", f"version: {next(COUNTER) % 900 + 10}", out, count=1)
    return out


@st.composite
def admin_requests(draw: st.DrawFn, queue_text: str) -> tuple[str, str, Any, bytes | None]:
    kind = draw(
        st.sampled_from(
            [
                "flow",
                "flow",
                "flow",
                "queue",
                "queue",
                "skills",
                "mode",
                "get",
                "source",
                "activate",
            ]
        )
    )
    odd_name = st.one_of(st.sampled_from(["en", "es", "nope"]), ODD)
    if kind == "flow":
        text = draw(yaml_mutants(FLOW_TEXT, bump=draw(st.integers(0, 5)) > 0))
        body: Any = {"text": text, "activate": draw(st.booleans())}
        return "POST", f"{ADMIN_BASE}/flows", body, None
    if kind == "queue":
        q = draw(st.one_of(st.just("en"), odd_name))
        text = draw(yaml_mutants(queue_text, bump=False))
        return "PUT", f"{ADMIN_BASE}/queues/{quote(q, safe='')}", {"text": text}, None
    if kind == "skills":
        agent = draw(st.one_of(st.sampled_from(["vi-day-1", "en-day-1", "nobody"]), ODD))
        skills = draw(
            st.one_of(
                st.dictionaries(
                    st.one_of(st.sampled_from(["en", "es", "vi", "records"]), JSON_ODD),
                    st.one_of(st.integers(1, 5), st.integers(-(2**70), 2**70)),
                    max_size=4,
                ),
                ANY_JSON,
            )
        )
        body = {"skills": skills} if draw(st.integers(0, 3)) else skills
        return "PUT", f"/api/admin/agents/{quote(agent, safe='')}/skills", body, None
    if kind == "mode":
        mode = draw(
            st.one_of(st.sampled_from(["normal", "holiday", "emergency"]), JSON_ODD, ANY_JSON)
        )
        line = draw(st.one_of(st.just("National hotline (US)"), odd_name))
        return "PUT", f"/api/admin/lines/{quote(line, safe='')}/mode", {"mode": mode}, None
    if kind == "get":
        return "GET", draw(st.sampled_from(["/api/admin/lines", "/api/admin/agents"])), None, None
    version = draw(st.one_of(st.integers(-2, 12).map(str), NUMBERS))
    line = draw(st.one_of(st.just("National hotline (US)"), odd_name))
    path = f"/api/admin/lines/{quote(line, safe='')}/flows/{quote(version, safe='')}"
    if kind == "source":
        return "GET", path, None, None
    return "POST", path + "/active", None, None


@pytest.fixture(scope="module")
def admin_line(tmp_path_factory: pytest.TempPathFactory, failures: Failures) -> Iterator[Fuzzed]:
    live = Live(sqlite_url(tmp_path_factory.mktemp("admin")), commit_wait=COMMIT_WAIT)
    import_line(live.store, NATIONAL)
    f = Fuzzed(live)
    try:
        f.tokens = {"admin": session(live, f.http, "ada", "admin")}
        lines = f.http.get("/api/admin/lines", headers=f.tokens["admin"]).json()["lines"]
        f.queue_text = next(q["text"] for q in lines[0]["queues"] if q["name"] == "en")
        yield f
        tell(f, "admin: ")
    finally:
        f.close()


@settings(FUZZ, max_examples=250)
@given(data=st.data())
def test_the_administrators_api_never_answers_a_5xx(
    admin_line: Fuzzed, data: st.DataObject, failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    req = data.draw(admin_requests(admin_line.queue_text))
    method, url, body, raw = req
    if len(url) >= 8000:  # (longer: no server takes it as a request line)
        reject()
    admin_line.api(method, url, admin_line.tokens["admin"], body=body, raw=raw)
    assert not failures.seen, failures.say()


# -- calls on an agent: transfers (cold, warm), consults, hold, interpreter, supervisors,
# the carrier's leg callbacks, in any order; afterwards both agents are free again

FLOOR_A, FLOOR_B = "en-day-1", "en-day-2"
LABELS_ON_CALL = [
    f"agent:{FLOOR_B}",
    f"agent:{FLOOR_A}",
    "interpreter",
    "supervisor:supervisor",
    "caller",
]
FLOOR_SID = "CAfloor"  # stands for the example's call in drawn requests


@st.composite
def floor_steps(draw: st.DrawFn) -> list[tuple[str, Any]]:
    calls = st.sampled_from([FLOOR_SID, FLOOR_SID, FLOOR_SID, SID_QUEUED, "CA" + "9" * 32])
    agent_action = st.one_of(
        st.tuples(
            st.just("POST"),
            st.just("/api/agent/transfer"),
            st.one_of(
                st.fixed_dictionaries(
                    {"agent": st.sampled_from([FLOOR_B, FLOOR_B, FLOOR_A, "en-day-3"])},
                    optional={"warm": st.booleans()},
                ),
                st.fixed_dictionaries({"queue": st.sampled_from(["en", "es", "agency-en", "quc"])}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "agent": st.just(FLOOR_B),
                        "queue": st.just("en"),
                        "warm": st.booleans(),
                    },
                ),
            ),
        ),
        st.tuples(
            st.just("POST"),
            st.just("/api/agent/transfer/finish"),
            st.fixed_dictionaries({"complete": st.booleans()}),
        ),
        st.tuples(
            st.just("POST"),
            st.just("/api/agent/hold"),
            st.fixed_dictionaries({"hold": st.booleans()}),
        ),
        st.tuples(
            st.just("POST"),
            st.just("/api/agent/interpreter"),
            st.fixed_dictionaries({"on": st.booleans()}),
        ),
        st.tuples(st.just("POST"), st.just("/api/agent/hang-up"), st.none()),
        st.tuples(st.just("POST"), st.just("/api/agent/wrap-up"), GOOD_BODIES["wrap"]),
        st.tuples(st.just("POST"), st.just("/api/agent/after-wrap-up"), GOOD_BODIES["then"]),
        st.tuples(st.just("POST"), st.just("/api/agent/records/lookup"), GOOD_BODIES["lookup"]),
        st.tuples(st.just("POST"), st.just("/api/agent/ready"), st.none()),
        st.tuples(st.just("POST"), st.just("/api/agent/not-ready"), st.none()),
        st.tuples(st.just("POST"), st.just("/api/agent/logout"), st.none()),
        st.tuples(st.just("POST"), calls.map(lambda s: f"/api/agent/calls/{s}/accept"), st.none()),
        st.tuples(st.just("POST"), calls.map(lambda s: f"/api/agent/calls/{s}/decline"), st.none()),
        st.tuples(
            st.just("GET"),
            st.sampled_from(["/api/agent/me", "/api/agent/transfer-targets"]),
            st.none(),
        ),
    )
    kinds: dict[str, st.SearchStrategy[Any]] = {
        "agent": st.tuples(
            st.sampled_from([FLOOR_A, FLOOR_A, FLOOR_B]), agent_action, st.one_of(st.none(), calls)
        ),
        "leg": st.tuples(calls, st.sampled_from(LABELS_ON_CALL), STATUSES),
        "agent-leg": st.tuples(calls, st.integers(1, 3), STATUSES),
        "dial-done": st.tuples(calls, st.integers(1, 3), STATUSES),
        "status": st.tuples(calls, STATUSES),
        "dial-back-status": st.tuples(
            calls,
            st.sampled_from(  # (a callback's dial-back leg)
                ["busy", "no-answer", "failed", "canceled", "in-progress", "completed"]
            ),
        ),
        "wait": st.tuples(calls, st.integers(1, 4)),
        "supervise": st.tuples(calls, st.sampled_from(["listen", "whisper", "barge", "leave"])),
        "force": st.tuples(
            st.sampled_from([FLOOR_A, FLOOR_B]),
            st.sampled_from(["not_ready", "available", "offline"]),
        ),
        "clock": st.sampled_from([1, 16, 31, 301]),
    }
    # (an agent's action half the time: one_of would merge repeated alternatives)
    step = st.sampled_from(["agent"] * 8 + sorted(kinds)).flatmap(
        lambda k: st.tuples(st.just(k), kinds[k])
    )
    return draw(st.lists(step, min_size=1, max_size=10))


class Floor:
    """The floor's line, made afresh when an example left it in a state no agent can get
    out of (that example failed: the next ones start clean); `all`: every one made."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.all: list[Fuzzed] = []
        self.current = self.fresh()

    def fresh(self) -> Fuzzed:
        folder = self.folder / str(len(self.all))
        folder.mkdir()
        live = fuzzed_line(folder)
        f = Fuzzed(live)
        f.tokens = {a: live.agent(a) for a in (FLOOR_A, FLOOR_B, "supervisor")}
        self.all.append(f)
        self.current = f
        return f

    def ready(self) -> Fuzzed:
        """The line with FLOOR_A available, FLOOR_B not ready and nobody waiting."""
        f = self.current
        free(f, FLOOR_B)
        f.api("POST", "/api/agent/not-ready", f.tokens[FLOOR_B])
        waiting = [c for b in f.live.line.boards.values() for c, _ in b.router.waiting()]
        if free(f, FLOOR_A)["state"] != "available" or waiting:
            f = self.fresh()
            f.api("POST", "/api/agent/login", f.tokens[FLOOR_B])
            assert free(f, FLOOR_A)["state"] == "available"
        return f


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory, failures: Failures) -> Iterator[Floor]:
    holder = Floor(tmp_path_factory.mktemp("floor"))
    try:
        yield holder
    finally:
        for f in holder.all:
            f.close()
    for f in holder.all:
        if TELL:
            print("\nfloor: sent", f.sent, "statuses", f.statuses)
            for k in sorted(f.kinds):
                print(f"  {k[:150]}: {f.kinds[k]}")


def free(f: Fuzzed, agent_id: str) -> dict[str, Any]:
    """The agent logged in and ready, whatever the fuzz left them in (their calls ended)."""
    who = f.tokens[agent_id]
    me = f.live.line.agent_state(agent_id)
    for _ in range(4):
        if me["state"] == "available":
            break
        if me["state"] in ("on_call", "reserved") and me["call_sid"]:
            f.webhook(
                "/voice/status", [], [("CallSid", me["call_sid"]), ("CallStatus", "completed")]
            )
            me = f.live.line.agent_state(agent_id)
        if me["state"] == "wrap_up":
            me = f.api("POST", "/api/agent/wrap-up", who, body={"code": "resolved"}).json()
        elif me["state"] == "offline":
            me = f.api("POST", "/api/agent/login", who).json()
        if me.get("state") == "not_ready":
            me = f.api("POST", "/api/agent/ready", who).json()
        me = f.live.line.agent_state(agent_id)
    return me


@settings(FUZZ, max_examples=120, phases=NO_SHRINK)  # (each try replays on a line made afresh)
@given(steps=floor_steps())
def test_calls_on_an_agent_with_odd_turns_never_get_a_5xx_and_free_the_agents(
    floor: Floor, steps: list[tuple[str, Any]], failures: Failures
) -> None:
    failures.seen.clear()  # (each example judged on its own)
    f = floor.ready()
    live = f.live
    sid = f"CA{next(COUNTER):032x}"
    to_hold(live, sid, "+12025550166")
    me = f.api("GET", "/api/agent/me", f.tokens[FLOOR_A]).json()
    assert (me["state"], me["call_sid"]) == ("reserved", sid), me
    f.api("POST", f"/api/agent/calls/{sid}/accept", f.tokens[FLOOR_A])
    leg_answered(f, sid)
    free(f, FLOOR_B)  # (a transfer's target)

    def swap(s: str) -> str:
        return sid if s == FLOOR_SID else s

    for kind, arg in steps:
        if kind == "agent":
            agent_id, (method, path, body), call = arg
            url = path.replace(FLOOR_SID, sid) + (f"?call={swap(call)}" if call else "")
            f.api(method, url, f.tokens[agent_id], body=body)
        elif kind == "leg":
            s, label, status = arg
            leg = sid[2:] + "P" + str(LABELS_ON_CALL.index(label))  # (each leg its own id)
            f.webhook(
                "/voice/leg",
                [("sid", swap(s)), ("label", label)],
                [("CallSid", leg), ("CallStatus", status)],
            )
        elif kind == "agent-leg":
            s, a, status = arg
            f.webhook(
                "/voice/agent-leg",
                [("sid", swap(s)), ("a", str(a))],
                [("CallSid", f"{swap(s)}L{a}"), ("CallStatus", status)],
            )
        elif kind == "dial-done":
            s, a, status = arg
            f.webhook(
                "/voice/dial-done",
                [("sid", swap(s)), ("a", str(a))],
                [("CallSid", swap(s)), ("DialCallStatus", status)],
            )
        elif kind == "status":
            s, status = arg
            f.webhook("/voice/status", [], [("CallSid", swap(s)), ("CallStatus", status)])
        elif kind == "dial-back-status":
            s, status = arg
            f.webhook(
                "/voice/status",
                [("call", swap(s))],
                [("CallSid", sid[2:] + "DB"), ("CallStatus", status)],
            )
        elif kind == "wait":
            s, n = arg
            f.webhook("/voice/wait", [("sid", swap(s)), ("n", str(n))], [("CallSid", swap(s))])
        elif kind == "supervise":
            s, mode = arg
            f.api("POST", f"/api/supervisor/calls/{swap(s)}/{mode}", f.tokens["supervisor"])
        elif kind == "force":
            agent_id, state = arg
            f.api(
                "POST",
                f"/api/supervisor/agents/{agent_id}/state",
                f.tokens["supervisor"],
                body={"state": state, "reason": "coaching"},
            )
        elif kind == "clock":
            live.wall.now += arg
    # the caller hangs up: afterwards both agents can be made available, nobody waits
    f.webhook("/voice/status", [], [("CallSid", sid), ("CallStatus", "completed")])
    for agent_id in (FLOOR_A, FLOOR_B):
        me = free(f, agent_id)
        assert me["state"] == "available", (agent_id, me, live.events(sid))
    waiting = [c.id for b in live.line.boards.values() for c, _ in b.router.waiting()]
    assert sid not in waiting, (waiting, live.events(sid))
    assert not failures.seen, failures.say()


# -- after the fuzz: nothing lost, nothing the store would refuse, the line still works


def test_after_the_fuzz_every_write_landed(line: Fuzzed, admin_line: Fuzzed, floor: Floor) -> None:
    for f in (line, admin_line, *floor.all):
        f.live.line.flush()
        assert f.live.line.writer.waiting() == 0
        writes = f.http.get("/healthz").json()["writes"]
        assert writes["set_aside"] == 0, writes  # a write the database refused: lost
        assert writes["lost"] == 0, writes


def test_after_the_fuzz_no_call_is_a_callback_its_caller_never_asked_for(
    line: Fuzzed, floor: Floor
) -> None:
    """A call queued as a callback (CallbackAccepted) has the number its caller left; a
    call nobody asked to call back is never turned into one (its caller is on the line)."""
    from sqlalchemy import text

    odd = []
    for f in (line, *floor.all):
        f.live.line.flush()
        with f.live.store.engine.connect() as c:
            sids = [
                r[0]
                for r in c.execute(
                    text(
                        "SELECT DISTINCT call_sid FROM call_events WHERE kind = 'CallbackAccepted'"
                    )
                )
            ]
        for sid in sids:
            row = f.live.store.call(sid)
            if row is not None and not row.callback_number:
                odd.append(f"{sid}: {f.live.events(sid)}")
    assert not odd, "\n".join(odd)


def test_after_the_fuzz_every_value_fits_its_column(
    line: Fuzzed, admin_line: Fuzzed, floor: Floor
) -> None:
    """SQLite keeps a value longer than its column; PostgreSQL refuses the whole write
    (set aside: lost). So every stored string must fit its declared length."""
    from sqlalchemy import String, func, select

    from hotline.store.tables import metadata

    too_long = []
    for f in (line, admin_line, *floor.all):
        with f.live.store.engine.connect() as c:
            for table in metadata.sorted_tables:
                for col in table.columns:
                    if isinstance(col.type, String) and col.type.length:
                        longest = c.execute(select(func.max(func.length(col)))).scalar()
                        if longest is not None and longest > col.type.length:
                            rows = (
                                c.execute(
                                    select(col).where(func.length(col) > col.type.length).limit(3)
                                )
                                .scalars()
                                .all()
                            )
                            too_long.append(
                                f"{table.name}.{col.name} ({col.type.length}): "
                                f"{longest} chars, e.g. {rows!r}"
                            )
    assert not too_long, "\n".join(too_long)


def test_after_the_fuzz_a_plain_call_reaches_an_agent_and_completes(
    line: Fuzzed, failures: Failures
) -> None:
    """A new caller keeps English, stays on the line and is answered by agents the fuzz
    never touched, who first serve whoever the fuzz left waiting before them (as the
    carrier would: a caller who asked for a callback is dialled back, any other is on the
    line and hangs up), then talk, hang up and wrap up. Every call left waiting must be
    servable so: one that leaves its agent stuck (on a call that is over) is reported."""
    failures.seen.clear()  # (each example judged on its own)
    live, http = line.live, line.http
    sid = "CA" + "e" * 32
    to_hold(live, sid, "+12025550188")
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert r.status_code == 200, r.text
    assert "<Pause" in r.text, r.text
    fresh = iter(["en-day-6", "en-day-7", "en-day-8", "en-early-1", "en-early-2", "en-mid-1"])
    served: list[str] = []
    stuck: list[str] = []

    def next_agent() -> tuple[str, dict[str, str], dict[str, Any]]:
        agent_id = next(fresh)
        headers = live.agent(agent_id)
        assert http.post("/api/agent/login", headers=headers).status_code == 200
        return agent_id, headers, http.post("/api/agent/ready", headers=headers).json()

    agent_id, agent, me = next_agent()
    for _ in range(500):  # (whoever the fuzz left waiting, served first)
        offered = me["call_sid"]
        assert me["state"] == "reserved", me
        assert offered, me
        accepted = http.post(f"/api/agent/calls/{offered}/accept", headers=agent)
        assert accepted.status_code == 200, accepted.text
        served.append(offered)
        leg_answered(line, offered)
        row = live.store.call(offered)
        back = "CA" + offered[-28:] + f"{len(served):04d}"  # a callback's dial-back leg
        if row is not None and row.callback_number:  # a callback: its caller picks up
            live.carrier.post(
                f"/voice/status?call={offered}", call_form(back, CallStatus="in-progress")
            )
        assert http.get("/api/agent/me", headers=agent).json()["state"] == "on_call"
        if offered == sid:
            break
        if row is not None and row.callback_number:  # the caller hangs up
            live.carrier.post(
                f"/voice/status?call={offered}", call_form(back, CallStatus="completed")
            )
        else:
            live.carrier.post("/voice/status", call_form(offered, CallStatus="completed"))
        done = http.post("/api/agent/wrap-up", json={"code": "resolved"}, headers=agent)
        if done.status_code == 200:
            me = done.json()
            continue
        live.line.flush()
        stuck.append(
            f"{offered}: agent {agent_id} {http.get('/api/agent/me', headers=agent).json()}"
            f" after the caller hung up; its events {live.events(offered)}"
        )
        agent_id, agent, me = next_agent()  # (the stuck agent stays stuck)
    assert served[-1] == sid, served
    # (the connect goes to the carrier off the accept's request: this client does not wait
    # for it, so a loaded host could look before it was asked)
    live.control.until(lambda: (sid, agent_id) in live.control.connected)
    live.wall.now += 120
    r = live.carrier.post("/voice/status", call_form(sid, CallStatus="completed"))
    assert r.status_code == 200
    assert http.get("/api/agent/me", headers=agent).json()["state"] == "wrap_up"
    r = http.post("/api/agent/wrap-up", json={"code": "resolved", "ready": False}, headers=agent)
    assert r.status_code == 200, r.text
    live.line.flush()
    row = live.store.call(sid)
    assert row is not None
    assert row.state == "completed", row
    events = live.events(sid)
    for kind in ("ivr-started", "CallQueued", "CallOffered", "CallAnswered", "CallCompleted"):
        assert kind in events, events
    assert not failures.seen, failures.say()
    assert not stuck, "calls the fuzz left that no agent can finish:\n" + "\n".join(stuck)


def leg_answered(f: Fuzzed, sid: str) -> None:
    """The agent's leg of the call's last connect answers (a leg id of its own: the
    harness's `Live.leg_answered` names legs by the call id's last character)."""
    a = _attempt(f.live, sid)
    f.webhook(
        "/voice/agent-leg",
        [("sid", sid), ("a", str(a))],
        [("CallSid", f"{sid}L{a}"), ("CallStatus", "in-progress")],
    )


def _attempt(live: Live, sid: str) -> int:
    live.line.flush()
    tries = [d.get("attempt") for k, d in live.store.events(sid) if k == "connecting"]
    return int(str(tries[-1])) if tries else 1


def test_after_the_fuzz_a_restart_recovers_the_same_queue(line: Fuzzed) -> None:
    """What the store holds is what the line had: a server started on it (the carrier
    saying every call is still live) has the same callers waiting, in the same order."""
    live = line.live
    live.line.flush()
    before = {name: [c.id for c, _ in b.router.waiting()] for name, b in live.line.boards.items()}
    again = Live(str(live.store.engine.url), commit_wait=COMMIT_WAIT)
    sids = again.line.recovering()
    again.line.recover(dict.fromkeys(sids, "in-progress"))
    after = {name: [c.id for c, _ in b.router.waiting()] for name, b in again.line.boards.items()}
    assert after == before
