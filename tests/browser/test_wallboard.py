"""The log-on page and the wallboard in Debian's Chromium (Playwright, `executable_path`)
against a live server on loopback: a supervisor logs on with a TOTP code and sees the
wallboard change when a caller joins the queue; a wrong code is refused on the page;
axe-core finds no serious or critical violation on either page; a banner shows when the
connection drops. Screenshots are kept under `out/screenshots/`."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from hotline.service.accounts import Accounts, totp_code
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


def test_a_supervisor_logs_on_and_the_wallboard_follows_the_queue(running, page):
    new = running.accounts.add("sam", "supervisor", password=PASSWORD)
    assert new.totp_secret is not None
    log_on(page, running, "sam", "000000")  # a wrong code: refused on the page
    expect(page.get_by_role("alert")).to_contain_text("wrong user name, password or code")
    assert axe_violations(page) == []
    shot(page, "login-refused")

    log_on(page, running, "sam", totp_code(new.totp_secret, running.live.wall()))
    expect(page).to_have_url(f"{running.base}/wallboard")
    national = page.locator('[data-line="National hotline (US)"]')
    expect(national.locator('[data-total="waiting"]')).to_have_text("Waiting 0")
    queue_a_caller(running, "CA" + "1" * 32)
    # pushed: the event stream tells the page, which redraws within a second
    expect(national.locator('[data-total="waiting"]')).to_have_text("Waiting 1", timeout=2000)
    tile = national.locator('[data-queue="en"]')
    expect(tile).to_have_class("tile bad")  # a caller waits and no English agent is available
    expect(tile.locator(".status")).to_have_text("no agent available")
    assert axe_violations(page) == []
    shot(page, "wallboard")

    bot = {"Authorization": f"Bearer {running.live.store.issue_token('en-day-1', 0.0)}"}
    running.carrier.client.post("/api/agent/login", headers=bot)
    page.get_by_label("Agent", exact=True).fill("en-day-1")
    page.get_by_label("State", exact=True).select_option("not_ready")
    page.get_by_label("Reason").fill("coaching")
    page.get_by_role("button", name="Set", exact=True).click()
    expect(page.locator("#force-result")).to_have_text("en-day-1 is now not ready.")
    national.get_by_text("Agents (", exact=False).click()
    row = national.locator('[data-agent="en-day-1"]')
    expect(row).to_contain_text("supervisor sam: coaching")
    assert axe_violations(page) == []
    shot(page, "wallboard-agents")

    running.server.should_exit = True  # the server goes away: the page says so
    expect(page.locator("#connection")).to_contain_text("Connection to the server lost",
                                                        timeout=10_000)  # fmt: skip
    shot(page, "wallboard-disconnected")
