"""A live line on a fresh store, driven over HTTP as the carrier would (signed callbacks)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import anyio.from_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Connection, Engine, text
from twilio.request_validator import RequestValidator

from hotline.ivr.line import LineFlow
from hotline.records.desk import RecordDesk
from hotline.records.port import Connector
from hotline.service.live import LineSetup, LiveLine
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.settings import Settings
from hotline.service.unit_of_work import Write
from hotline.sim.scenario_file import load_scenario
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.telephony.control import CallControl
from hotline.testing.connectors import InMemoryConnector
from hotline.testing.control import RecordingCallControl
from hotline.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-auth-token-not-a-secret"
SECRET_KEY = new_key()  # HOTLINE_SECRET_KEY of the live lines made here
PUBLIC = "http://127.0.0.1:8000"
LINE = "+18005550100"
VICTIMS = "+18005550200"
PG = "postgresql://postgres@127.0.0.1:5432/test"


class _Loop:
    """An event loop of its own, in a thread (anyio's blocking portal): the requests of a
    live line not `running` all run on it, as on a server, so that the carrier requests a
    reply leaves under way (a hold queued after a drop) finish there. (On a loop per
    request, as TestClient has it, the ones not yet in a thread were cancelled as their
    request's loop closed, and the others waited for as it did.)"""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        _LOOPS.append(self)

    def tasks(self) -> set[asyncio.Task[Any]]:
        return self.portal.call(asyncio.all_tasks)

    def settle(self, since: set[asyncio.Task[Any]] | None = None) -> None:
        """Wait for the line's carrier requests left under way here (those made since
        `since`, if given): AssertionError if they do not end within a minute."""
        self.portal.call(_settled, since or set())

    def stop(self) -> None:
        """The loop ends: the work its portal was given is waited for (a websocket session
        left open too), any other task still under way (the line's) is cancelled."""
        self._stack.close()


async def _settled(before: set[asyncio.Task[Any]]) -> None:
    """The line's carrier requests (tasks of its runtime: not a websocket's, nor the
    database check /healthz leaves running) made since `before`, waited for."""
    left = {t for t in asyncio.all_tasks() - before
            if getattr(t.get_coro(), "__qualname__", "").startswith("LineRuntime.")}  # fmt: skip
    if left:
        _, pending = await asyncio.wait(left, timeout=60)
        assert not pending, f"work left under way did not end within a minute: {pending}"


_LOOPS: list[_Loop] = []  # the loops of the lines made (`stop_loops`)


def stop_loops() -> None:
    """Stop the event loops of the live lines made so far (tests/conftest.py, after each
    test)."""
    while _LOOPS:
        _LOOPS.pop().stop()


class _Client(TestClient):
    """A TestClient whose requests outside its `with` all run on `loop`, each returning
    once the work it left under way there is done (the carrier requests it asked for:
    `settle` False leaves them, for a test whose carrier stalls); its `with` runs the
    app's lifespan on a loop of its own, as TestClient's does, once `loop` settled."""

    def __init__(
        self,
        app: Any,
        base_url: str,
        loop: _Loop,
        *,
        settle: bool = True,
        raise_server_exceptions: bool = True,
    ) -> None:
        super().__init__(app, base_url=base_url, raise_server_exceptions=raise_server_exceptions)
        self.loop, self.settle = loop, settle
        self.portal = loop.portal

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        if not self.settle or self.portal is not self.loop.portal:  # (in its `with`)
            answer: httpx.Response = super().request(*args, **kwargs)
            return answer
        before = self.loop.tasks()
        response: httpx.Response = super().request(*args, **kwargs)
        self.loop.settle(before)
        return response

    def __enter__(self) -> _Client:
        self.loop.settle()
        return super().__enter__()

    def __exit__(self, *args: Any) -> None:
        try:
            super().__exit__(*args)
        finally:
            self.portal = self.loop.portal


class FakeWall:
    """The wall clock, moved by the test: 2026-11-25 14:00 in New York."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("America/New_York")).timestamp()

    def __call__(self) -> float:
        return self.now


def victim_support() -> LineSetup:
    """The demo's second line (its own number, flow and queues)."""
    scenario = load_scenario(ROOT / "scenarios" / "victim-support.yaml")
    flow = LineFlow(path=ROOT / "scenarios" / "victim-support.flow.yaml")
    return LineSetup(scenario, flow, VICTIMS, "America/New_York")


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hotline.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A schema of its own in the machine's PostgreSQL (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = connect(PG)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{PG}?options=-csearch_path%3D{schema}"
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def waiting_on_a_lock(watcher: Connection, application: str, done: Callable[[], bool]) -> int:
    """How many of the connections named `application` PostgreSQL shows waiting on a lock,
    asked until one is or `done()` (what they run finished first), 2,000 times at most."""
    waiting = 0
    for _ in range(2000):
        waiting = watcher.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name = :name"), {"name": application}).scalar_one()  # fmt: skip
        watcher.rollback()
        if waiting or done():
            break
    return int(waiting)


class PgRole:
    """A login role of its own with the rights to read and write a test's schema (migrated
    by the superuser first), so that a test can take its right to write away and back."""

    WRITES = "INSERT, UPDATE, DELETE"

    def __init__(self, url: str, role: str, schema: str) -> None:
        self.url, self.role, self.schema = url, role, schema

    def writes(self, *, allowed: bool) -> None:
        verb, way = ("GRANT", "TO") if allowed else ("REVOKE", "FROM")
        admin = connect(PG)
        with admin.begin() as c:
            c.execute(text(f"{verb} {self.WRITES} ON ALL TABLES IN SCHEMA {self.schema} "
                           f"{way} {self.role}"))  # fmt: skip
        admin.dispose()


@pytest.fixture
def pg_role(pg_url: str) -> Iterator[PgRole]:
    """`pg_url`'s schema, reached as a role of its own (`PgRole`), dropped afterwards (a
    role is the whole server's, not the schema's: never left behind)."""
    role = f"hl_{uuid.uuid4().hex[:10]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    owner = connect(pg_url)
    migrate(owner)
    owner.dispose()
    admin = connect(PG)
    try:
        with admin.begin() as c:
            c.execute(text(f"CREATE ROLE {role} LOGIN"))
        with admin.begin() as c:
            c.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            c.execute(text(f"GRANT SELECT, {PgRole.WRITES} ON ALL TABLES IN SCHEMA {schema} "
                           f"TO {role}"))  # fmt: skip
            c.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
        yield PgRole(pg_url.replace("postgres@", f"{role}@", 1), role, schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def keyring(key: str = SECRET_KEY) -> Keyring:
    """The keyring of HOTLINE_SECRET_KEY `key` alone (the live lines' unless given)."""
    return Keyring(SealingKey.parse(key))


class GatedStore(Store):
    """A store whose units of work land only while `gate` is open (a slow disk, held)."""

    def __init__(self, *, engine: Engine, key: Keyring | None = None) -> None:
        super().__init__(engine=engine, key=key)
        self.gate = threading.Event()
        self.gate.set()

    def commit(self, writes: Sequence[Write]) -> None:
        assert self.gate.wait(timeout=60), "the test never opened the gate"
        super().commit(writes)


class Carrier:
    """Posts callbacks signed exactly as the carrier signs them."""

    def __init__(self, client: TestClient | httpx.Client, base: str = PUBLIC) -> None:
        self.client = client
        self.base = base
        self.validator = RequestValidator(TOKEN)

    def post(
        self, path: str, form: dict[str, str], *, sign: bool = True, signature: str | None = None
    ) -> httpx.Response:
        """`path`: a path, or a URL the line gave the carrier (a dial-back's status URL)."""
        path = path.removeprefix(self.base)
        url = self.base + path
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or self.validator.compute_signature(url, form)
        response: httpx.Response = self.client.post(path, data=form, headers=headers)
        return response


def directory() -> InMemoryConnector:
    """The demo's agency directory (agency 123455 with PIN 2468)."""
    return InMemoryConnector.from_file(ROOT / "scenarios" / "demo-agency-directory.yaml")


class Live:
    def __init__(
        self,
        db_url: str,
        *,
        commit_wait: float = 60.0,
        connectors: Mapping[str, Connector] | None = None,
        flow: Path = ROOT / "scenarios" / "national-hotline.flow.yaml",
        also: Sequence[LineSetup] = (),
        store_class: type[Store] = Store,
        public_url: str = PUBLIC,
        secret_key: str | None = SECRET_KEY,
        interpreter_number: str | None = None,
        control: CallControl | None = None,
        twilio_api: tuple[str, str] | None = None,
        signal_url: str | None = None,
        desk: Callable[[Live], RecordDesk] | None = None,
        metrics_token: str | None = None,
        settle: bool = True,
        speech: Literal["auto", "espeak", "off"] = "auto",
    ) -> None:
        """`commit_wait`: long, so that a reply comes once its writes were tried and a test
        can read them; the tests of a stalled store make it short. `connectors`: the demo's
        agency directory unless given; `flow`: the shipped national flow unless given;
        `also`: more lines on the platform; `store_class`: the store (a `GatedStore` to
        hold commits); `public_url`: where the carrier and browsers reach the app;
        `secret_key`: HOTLINE_SECRET_KEY (None: not set); `interpreter_number`:
        HOTLINE_INTERPRETER_NUMBER; `control`: the carrier's call control (one that records
        what it is asked, unless given); `twilio_api`: the API key and secret the browser
        phones' tokens are signed with; `signal_url`: HOTLINE_TWILIO_SIGNAL_URL; `desk`:
        builds the agents' record look-ups; `metrics_token`: HOTLINE_METRICS_TOKEN (None:
        /metrics is off); `settle`: each request (the line not `running`) returns once the
        carrier requests it asked for are done (False: at once, for a carrier that stalls);
        `speech`: HOTLINE_SPEECH."""
        self.wall = FakeWall()
        self.settings = Settings(
            database_url=db_url, twilio_auth_token=SecretStr(TOKEN), public_url=public_url,
            line_number=LINE, secret_key=None if secret_key is None else SecretStr(secret_key),
            interpreter_number=interpreter_number,
            twilio_api_key=twilio_api[0] if twilio_api else None,
            twilio_api_secret=SecretStr(twilio_api[1]) if twilio_api else None,
            twilio_signal_url=signal_url,
            metrics_token=SecretStr(metrics_token) if metrics_token else None, speech=speech,
        )  # fmt: skip
        engine = connect(db_url)
        migrate(engine)
        self.store = store_class(engine=engine, key=self.settings.keyring())
        scenario = load_scenario(ROOT / "scenarios" / "national-hotline.yaml")
        self.line = LiveLine(
            lines=[LineSetup(scenario, LineFlow(path=flow), LINE, "America/New_York"), *also],
            store=self.store,
            connectors=connectors or {"agency_directory": directory()},
            wall=self.wall,
            commit_wait=commit_wait,
            lookup_clock=self.wall,
        )
        self.control = RecordingCallControl()
        self.desk = desk(self) if desk is not None else None
        self.app = create_app(
            settings=self.settings, line=self.line, control=control or self.control,
            clock=self.wall, desk=self.desk,
        )  # fmt: skip
        self.public_url = public_url
        self.loop = _Loop()
        self.settle = settle
        self.http: TestClient = self.client()
        self.carrier = Carrier(self.http, public_url)

    def client(self, *, raise_server_exceptions: bool = True) -> TestClient:
        """A client whose requests run on the line's own event loop, as on a server (see
        `_Client`); `raise_server_exceptions` False answers the app's exceptions as 500s."""
        return _Client(self.app, self.public_url, self.loop, settle=self.settle,
                       raise_server_exceptions=raise_server_exceptions)  # fmt: skip

    def kept(self) -> Live:
        """This line's event loop outlives the test that made it (a module's line, made
        once for its tests): `close` ends it."""
        _LOOPS.remove(self.loop)
        return self

    def close(self) -> None:
        self.loop.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[TestClient]:
        """The app running (its ticker too), the test's requests and the carrier's all
        through it: one event loop (a request on another, waiting for the line's lock the
        ticker holds, would fail: an asyncio lock belongs to one loop)."""
        before = self.http, self.carrier
        with self.client() as http:
            self.http, self.carrier = http, Carrier(http, self.public_url)
            try:
                yield http
            finally:
                self.http, self.carrier = before

    def agent(self, agent_id: str) -> dict[str, str]:
        token = self.store.issue_token(agent_id, self.wall())
        return {"Authorization": f"Bearer {token}"}

    def leg_answered(self, sid: str, attempt: int = 1) -> None:
        """The agent's leg of the call's `attempt`th connect answers (its own CallSid)."""
        leg = call_form("CA" + sid[-1] * 31 + str(attempt % 10), CallStatus="in-progress")
        self.carrier.post(f"/voice/agent-leg?sid={sid}&a={attempt}", leg)

    def called_back(self, sid: str, attempt: int = 1) -> tuple[str, str, str, str]:
        """A callback's agent's leg answers: the caller is called back into the call's
        conference; returns that request (call, to, caller id, status URL)."""
        before = len(self.control.dialled_back)
        self.leg_answered(sid, attempt)
        self.control.until(lambda: len(self.control.dialled_back) > before)
        return self.control.dialled_back[-1]

    def calls_rows(self) -> int:
        with self.store.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM calls")).scalar_one())

    def events(self, sid: str) -> list[str]:
        return [k for k, _ in self.store.events(sid)]


def call_form(sid: str, **extra: Any) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, **{k: str(v) for k, v in extra.items()}}


def gather_url(twiml: str) -> str:
    """The action of the Gather in a TwiML reply (the next IVR step to post to)."""
    m = re.search(r'<Gather action="[^"]*?(/voice/gather\?[^"]+)"', twiml)
    assert m, twiml
    return m.group(1).replace("&amp;", "&")


def keep_english(live: Live, sid: str, number: str) -> str:
    """Call the line and keep the language offered first; returns the next step's URL."""
    r = live.carrier.post("/voice/incoming", call_form(sid, From=number, To=LINE))
    return gather_url(live.carrier.post(gather_url(r.text), call_form(sid, Digits="1")).text)


def lookup_url(twiml: str) -> str | None:
    """Where a caller on hold for a record look-up comes back to, if this is that hold."""
    m = re.search(r"<Redirect[^>]*>[^<]*?(/voice/lookup\?[^<]+)</Redirect>", twiml)
    return m.group(1).replace("&amp;", "&") if m else None


def through_lookup(live: Live, sid: str, twiml: str) -> str:
    """A reply that holds the caller for a look-up: let it answer, then come back as the
    carrier would; returns the TwiML that follows the hold."""
    while (url := lookup_url(twiml)) is not None:
        live.line.lookups.settle(30, sid)
        twiml = live.carrier.post(url, call_form(sid)).text
    return twiml


def queue_public_caller(live: Live, sid: str, number: str) -> None:
    """A member of the public calls, keeps English and stays on the line: queued."""
    step = keep_english(live, sid, number)
    offer = live.carrier.post(step, call_form(sid, Digits="2")).text  # a member of the public
    reply = live.carrier.post(gather_url(offer), call_form(sid, Digits="2")).text  # stays on
    assert "/voice/wait?sid=" in reply


def helpline_apart(folder: Path) -> Path:
    """The victim-support helpline with its own counsellors only (none of the national
    line's agents): a line no agent joins to another, so a node can lead it alone."""
    text = (ROOT / "scenarios" / "victim-support.yaml").read_text()
    national = ("- {name: en-day", "- {name: es-day")
    kept = [x for x in text.splitlines() if not x.lstrip().startswith(national)]
    flow = ROOT / "scenarios" / "victim-support.flow.yaml"
    path = folder / "helpline-apart.yaml"
    path.write_text("\n".join(kept).replace("flow: victim-support.flow.yaml", f"flow: {flow}"))
    return path
