"""What the browser tests share: a live server on loopback (the app on uvicorn, the
carrier played by signed requests), Debian's Chromium through Playwright's
`executable_path`, axe-core, screenshots kept under `out/screenshots/`."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from hotline.service.accounts import Accounts
from hotline.service.demo import _Server, free_ports
from hotline.store.accounts import AccountStore
from tests.integration.live_fixtures import Carrier, Live, call_form, gather_url, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
CALLER = "+12025550143"


class Running:
    def __init__(self, live: Live, base: str, server: _Server) -> None:
        self.live, self.base, self.server = live, base, server
        self.carrier = Carrier(httpx.Client(base_url=base), base)
        self.accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                                 key=live.settings.sealing_key())  # fmt: skip


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    live = Live(sqlite_url(tmp_path), public_url=base, commit_wait=1.0)
    server = _Server(uvicorn.Config(live.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(1000):  # until uvicorn says it listens (bounded: a broken start fails)
        if server.started or not thread.is_alive():
            break
        started.wait(0.01)
    assert server.started, "the server did not start"
    yield Running(live, base, server)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        browser.close()


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
