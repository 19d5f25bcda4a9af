"""The log-on page and the wallboard in Debian's Chromium (Playwright, `executable_path`)
against a live server on loopback: a supervisor logs on with a TOTP code and sees the
wallboard change when a caller joins the queue; a wrong code is refused on the page;
axe-core finds no serious or critical violation on either page; a banner shows when the
connection drops. Screenshots are kept under `out/screenshots/`."""

from __future__ import annotations

from playwright.sync_api import expect

from hotline.service.accounts import totp_code
from hotline.service.lines import import_line

from .conftest import PASSWORD, ROOT, axe_violations, log_on, queue_a_caller, shot


def test_a_supervisor_logs_on_and_the_wallboard_follows_the_queue(running, page):
    new = running.accounts.add("sam", "supervisor", password=PASSWORD)
    assert new.totp_secret is not None
    log_on(page, running, "sam", "000000")  # a wrong code: refused on the page
    expect(page.get_by_role("alert")).to_contain_text("wrong user name, password or code")
    assert axe_violations(page) == []
    shot(page, "login-refused")

    # the page's own timer (a redraw every 5 s) never fires: what it shows from here on, it
    # redrew because the event stream told it (not a bound on how soon: none is timed)
    page.add_init_script("window.setInterval = () => 0;")
    log_on(page, running, "sam", totp_code(new.totp_secret, running.live.wall()))
    expect(page).to_have_url(f"{running.base}/wallboard")
    national = page.locator('[data-line="National hotline (US)"]')
    expect(national.locator('[data-total="waiting"]')).to_have_text("Waiting 0")
    queue_a_caller(running, "CA" + "1" * 32)
    expect(national.locator('[data-total="waiting"]')).to_have_text("Waiting 1")  # pushed
    tile = national.locator('[data-queue="en"]')
    expect(tile).to_have_class("tile bad")  # a caller waits and no English agent is available
    expect(tile.locator(".status")).to_have_text("no agent available")
    national.locator("summary", has_text="By language").click()
    english = national.locator('[data-language="en"]')
    expect(english.locator("th")).to_have_text("English (en)")  # (the scenario's name)
    expect(national.locator('[data-language="ht"] th')).to_have_text("Haitian Creole (ht)")
    expect(english).to_have_class("bad")  # a caller waits, and nobody who speaks it is free
    expect(english.locator(".status")).to_have_text("no agent available")
    national.locator("summary", has_text="Today by half hour").click()
    expect(national.locator("svg.chart rect.answered")).to_have_count(1)  # the caller's half hour
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


def test_an_administrator_adds_a_skill_and_a_broken_flow_upload_is_shown_at_its_line(running, page):
    import_line(running.live.store, ROOT / "scenarios" / "national-hotline.yaml")
    admin = running.accounts.add("ada", "admin", password=PASSWORD)
    assert admin.totp_secret is not None
    log_on(page, running, "ada", totp_code(admin.totp_secret, running.live.wall()))
    expect(page).to_have_url(f"{running.base}/wallboard")
    page.get_by_role("link", name="Administration").click()
    expect(page).to_have_url(f"{running.base}/admin")
    row = page.locator('[data-agent="vi-day-1"]')
    expect(row.locator("[data-skills]")).to_have_text("en 4, vi 5")
    assert axe_violations(page) == []
    shot(page, "admin")

    # vi-day-1 without English is not offered an English caller ...
    page.get_by_role("button", name="Edit the skills of vi-day-1").click()
    expect(page.get_by_label("Skills", exact=True)).to_have_value("en 4, vi 5")
    page.get_by_label("Skills", exact=True).fill("vi 5")
    page.get_by_role("button", name="Save skills").click()
    expect(page.locator("#status")).to_contain_text("vi-day-1 now has vi 5")
    bot = {"Authorization": f"Bearer {running.live.store.issue_token('vi-day-1', 0.0)}"}
    running.carrier.client.post("/api/agent/login", headers=bot)
    running.carrier.client.post("/api/agent/ready", headers=bot)
    sid = "CA" + "2" * 32
    queue_a_caller(running, sid)
    assert running.carrier.client.get("/api/agent/me", headers=bot).json()["state"] == "available"
    # ... until the administrator adds it back: the next routing decision offers the call
    page.get_by_label("Skills", exact=True).fill("vi 5, en 4")
    page.get_by_role("button", name="Save skills").click()
    expect(page.locator("#status")).to_contain_text("vi-day-1 now has vi 5, en 4")
    offered = running.carrier.client.get("/api/agent/me", headers=bot).json()
    assert (offered["state"], offered["call_sid"]) == ("reserved", sid)

    line = page.locator('[data-line="National hotline (US)"]')
    line.get_by_text("Upload a new version of national-hotline").click()
    text = (ROOT / "scenarios" / "national-hotline.flow.yaml").read_text(encoding="utf-8")
    broken = text.replace("version: 2", "version: 3").replace("next: mode", "next: moed", 1)
    line.get_by_label("New version of the flow national-hotline (YAML)").fill(broken)
    line.get_by_role("button", name="Upload").click()
    at = broken.splitlines().index("  welcome:") + 1
    problem = line.locator(f'.problem[data-line="{at}"]', has_text="no node named 'moed'")
    expect(problem).to_have_count(1)
    expect(line.get_by_role("alert")).to_contain_text("What is stored is unchanged")
    expect(line.locator('[data-version="2"]')).to_contain_text("active")
    expect(line.locator('[data-version="3"]')).to_have_count(0)
    assert axe_violations(page) == []
    shot(page, "admin-flow-refused")
