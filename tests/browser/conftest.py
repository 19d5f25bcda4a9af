"""What the browser tests share: a live server on loopback (the app on uvicorn, the
carrier played by signed requests, or the carrier emulator, with browser phones or not),
Debian's Chromium through Playwright's `executable_path` (a fake microphone), axe-core,
screenshots kept under `out/screenshots/`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from hotline.service.accounts import Accounts, totp_code
from hotline.service.demo import _Server, free_ports
from hotline.store.accounts import AccountStore
from hotline.telephony.control import TwilioCallControl
from hotline.telephony.emulator.carrier import CallerScript
from hotline.telephony.emulator.carrier import Carrier as Emulator
from hotline.telephony.emulator.tls import certificate_files
from hotline.web.app import SERVING
from tests.integration.live_fixtures import (
    LINE,
    TOKEN,
    Carrier,
    Live,
    call_form,
    gather_url,
    sqlite_url,
)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
CALLER = "+12025550143"
INTERPRETERS = "+18005550199"
SPEED = 50.0  # the emulator's carrier seconds per wall second
PUBLIC_CALLER = CallerScript(CALLER, ["1", "2", "2"], patience=1e6, talk=1e6)  # stays on
API_KEY = "SK" + "5" * 32  # the browser phones' API key (made up)
API_SECRET = "browser-phone-api-secret-made-up-for-the-tests"
# how long an `expect` waits for the page to come right: Playwright's 5 s default ran out
# once on a step that holds (the wallboard's whisper, which passed alone and in the next
# full run) on a host running the whole suite at two-thirds of its usual speed.
# A longer bound costs nothing while the page is right; one that is never right still fails
EXPECT_WITHIN_MS = 15_000
expect.set_options(timeout=EXPECT_WITHIN_MS)


class Running:
    def __init__(self, live: Live, base: str, server: _Server) -> None:
        self.live, self.base, self.server = live, base, server
        self.carrier = Carrier(httpx.Client(base_url=base), base)
        self.accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                                 key=live.settings.sealing_key())  # fmt: skip


Served = tuple[_Server, "Future[None]"]


def serve(app: Any, port: int, loop: asyncio.AbstractEventLoop, **tls: Any) -> Served:
    """The app on uvicorn on loopback, on `loop` (running in a thread of its own); `tls`:
    uvicorn's ssl_certfile and ssl_keyfile."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **tls,
        ws_per_message_deflate=SERVING["ws_per_message_deflate"],
    )  # (as serve)
    server = _Server(config)
    serving = asyncio.run_coroutine_threadsafe(server.serve(), loop)
    started = threading.Event()
    for _ in range(1000):  # until uvicorn says it listens (bounded: a broken start fails)
        if server.started or serving.done():
            break
        started.wait(0.01)
    assert server.started, "the server did not start"
    return server, serving


@contextlib.contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop in a thread of its own; at the end, what the test left under way on it (the
    emulator's calls) is cancelled and waited for, as `asyncio.run` does, and it closes.
    (Stopped with them pending, they were collected in some later test, their clean-up
    failing there for want of a loop: PytestUnraisableExceptionWarning.)"""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        try:
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()


async def _cancel_the_rest() -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    live = Live(sqlite_url(tmp_path), public_url=base, commit_wait=1.0)
    with event_loop() as loop:
        served = serve(live.app, port, loop)
        yield Running(live, base, served[0])
        stop(served)


def stop(served: Served) -> None:
    server, serving = served
    server.should_exit = True
    serving.result(timeout=30)


class Phoned(Running):
    """A live server whose calls go through the carrier emulator (on loopback, in its own
    loop): callers dial in through the real IVR and are bridged in conferences."""

    def __init__(
        self, live: Live, base: str, server: _Server, emulator: Emulator,
        loop: asyncio.AbstractEventLoop,
    ) -> None:  # fmt: skip
        super().__init__(live, base, server)
        self.emulator, self.loop = emulator, loop

    def call(self, script: CallerScript) -> str:
        """Place a call as the emulator's caller; its call id."""
        placed = asyncio.run_coroutine_threadsafe(_place(self.emulator, script), self.loop)
        return placed.result(timeout=10)

    def hears(self, sid: str) -> set[tuple[str, str]]:
        conference = self.emulator.conference(sid)
        return set() if conference is None else conference.hears()

    def until_hears(self, sid: str, pairs: set[tuple[str, str]]) -> None:
        """Wait until who hears whom on the call's conference is exactly `pairs`."""
        waited = self.emulator.until(lambda: self.hears(sid) == pairs, timeout=20)
        try:
            asyncio.run_coroutine_threadsafe(waited, self.loop).result(timeout=30)
        except TimeoutError:
            raise AssertionError(f"{sid} hears {self.hears(sid)}, not {pairs}") from None

    def until_queued(self, sid: str) -> None:
        """Wait until the caller is in a queue of the line (through the IVR), as the store
        says (bounded: a caller who never gets there fails the test)."""
        polled = threading.Event()
        for _ in range(600):
            if any(r.sid == sid and r.state == "queued" for r in self.live.store.open_calls()):
                return
            polled.wait(0.05)
        raise AssertionError(f"{sid} never queued")

    def until_called_back_later(self, sid: str) -> None:
        """Wait until the caller took a callback and hung up (they keep their place)."""
        polled = threading.Event()
        for _ in range(600):
            row = self.live.store.call(sid)
            if row is not None and row.callback_number and self.emulator.calls[sid].ended:
                return
            polled.wait(0.05)
        raise AssertionError(f"{sid} never took a callback")

    def outcome(self, sid: str) -> str:
        """How the caller's call went, as the emulator saw it (once the calls on it ended)."""
        calls, polled = self.emulator.calls, threading.Event()
        for _ in range(600):
            if all(c.ended for c in list(calls.values())):
                return calls[sid].outcome
            polled.wait(0.05)
        raise AssertionError(f"calls still on: {[c.sid for c in calls.values() if not c.ended]}")

    def hang_up(self, sid: str) -> None:
        """The caller hangs up (their call ends at the carrier)."""
        asyncio.run_coroutine_threadsafe(_hang_up(self.emulator, sid), self.loop).result(10)


async def _hang_up(emulator: Emulator, sid: str) -> None:
    emulator.hang_up(emulator.calls[sid])


async def _place(emulator: Emulator, script: CallerScript) -> str:
    return emulator.place(script).sid


@contextlib.contextmanager
def phoned_line(
    tmp_path: Path, *, phones: tuple[str, str] | None = None, agent_ring: float | None = None
) -> Iterator[Phoned]:
    """A live server whose calls go through the carrier emulator. `phones`: browser phones
    are set up, Hotline signing their tokens with API_KEY and the first secret, the
    emulator checking them with the second (and serving their signalling over TLS, with a
    certificate made up for the test); `agent_ring`: the emulator's `agent_ring` (carrier
    seconds a leg rings before it gives up)."""
    hotline_port, carrier_port, signal_port = free_ports(3)
    base, api = f"http://127.0.0.1:{hotline_port}", f"http://127.0.0.1:{carrier_port}"
    account = "AC" + "0" * 32
    control = TwilioCallControl(
        account_sid=account, auth_token=TOKEN, api_base=api, public_url=base, caller_id=LINE,
        interpreter=INTERPRETERS,
    )  # fmt: skip
    live = Live(sqlite_url(tmp_path), public_url=base, commit_wait=1.0, control=control,
                interpreter_number=INTERPRETERS,
                twilio_api=(API_KEY, phones[0]) if phones else None,
                signal_url=f"wss://127.0.0.1:{signal_port}/signal" if phones else None)  # fmt: skip
    emulator = Emulator(hotline_url=base, auth_token=TOKEN, account_sid=account,
                        line_number=LINE, speed=SPEED,
                        api_key=(API_KEY, phones[1]) if phones else None)  # fmt: skip
    if agent_ring is not None:
        emulator.agent_ring = agent_ring
    with event_loop() as app_loop, event_loop() as carrier_loop:
        served = serve(live.app, hotline_port, app_loop)
        carrier = serve(emulator.rest_app(), carrier_port, carrier_loop)
        signal = None
        if phones:
            cert, key = certificate_files(tmp_path)
            signal = serve(emulator.signal_app(), signal_port, carrier_loop,
                           ssl_certfile=str(cert), ssl_keyfile=str(key))  # fmt: skip
        yield Phoned(live, base, served[0], emulator, carrier_loop)
        if signal:
            stop(signal)
        stop(carrier)
        stop(served)


@pytest.fixture
def phoned(tmp_path: Path) -> Iterator[Phoned]:
    with phoned_line(tmp_path) as line:
        yield line


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox",  # a browser phone's microphone: a fake one, allowed without asking
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        ])  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    return another_person(browser)


def another_person(browser: Browser) -> Page:
    """A page in a browser context of its own (its own session cookie)."""
    return browser.new_context(viewport={"width": 1280, "height": 800}).new_page()


class Loopback:
    """Every URL the pages of a browser context ask for (requests and websockets): the test
    checks none leaves 127.0.0.1."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        context.on("request", lambda r: self.urls.append(r.url))
        context.on("page", lambda p: p.on("websocket", lambda ws: self.urls.append(ws.url)))

    def outside(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).scheme not in ("data", "blob", "about")
                and urlsplit(u).hostname != "127.0.0.1"]  # fmt: skip


def phone_person(browser: Browser) -> tuple[Page, Loopback]:
    """A page in a context of its own whose browser phone may reach the emulator's
    signalling (its certificate, made up for the test, is not trusted otherwise), and what
    it asks for."""
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  ignore_https_errors=True)  # fmt: skip
    watched = Loopback(context)
    return context.new_page(), watched


def both_ways(*pairs: tuple[str, str]) -> set[tuple[str, str]]:
    return {p for a, b in pairs for p in ((a, b), (b, a))}


def available(
    page: Page, phoned: Phoned, username: str, agent_id: str, *, then: str = "Available"
) -> None:
    """An agent account logs on to the desktop with MFA, logs in to the lines, and goes
    available; `then`: what their state says next (a call is offered at once when one
    waits)."""
    account = phoned.accounts.add(username, "agent", password=PASSWORD, agent_id=agent_id)
    assert account.totp_secret is not None
    log_on(page, phoned, username, totp_code(account.totp_secret, phoned.live.wall()))
    expect(page.locator("#state")).to_have_text("Logged out of the lines")
    page.get_by_role("button", name="Log in to the lines").click()
    expect(page.locator("#state")).to_have_text("Not ready (login)")
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#state")).to_have_text(then)


def axe_violations(page: Page) -> list[tuple[str, str]]:
    page.evaluate(AXE.read_text() + "\nundefined")
    found = page.evaluate("async () => (await axe.run()).violations"
                          ".map(v => [v.id, v.impact])")  # fmt: skip
    return [(rule, impact) for rule, impact in found if impact in ("serious", "critical")]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_on(page: Page, running: Running, username: str, code: str) -> None:
    page.goto(f"{running.base}/login")
    expect(page.locator("#notice")).to_contain_text("authorised use")
    page.get_by_label("I have read and accept").check()
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Log on").click()


def queue_a_caller(running: Running, sid: str) -> None:
    c = running.carrier
    r = c.post("/voice/incoming", call_form(sid, From=CALLER, To="+18005550100"))
    r = c.post(gather_url(r.text), call_form(sid, Digits="1"))  # keep English
    r = c.post(gather_url(r.text), call_form(sid, Digits="2"))  # a member of the public
    r = c.post(gather_url(r.text), call_form(sid, Digits="2"))  # stays on the line
    assert "/voice/wait?sid=" in r.text
