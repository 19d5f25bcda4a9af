"""The auditors' page in Debian's Chromium against a live server on loopback: an auditor
logs on with a TOTP code, lands on `/audit`, sees the latest checkpoint, searches for
log-ons and finds their own first, pages to older and back to newer entries with the
paging buttons where they were; a supervisor is told the page is not theirs (nothing of
it shown) and led to their own. axe-core
finds no serious or critical violation; screenshots under `out/screenshots/`."""

from __future__ import annotations

from playwright.sync_api import expect

from hotline.records.audit import AuditTrail, Entry, FileSink, append
from hotline.records.checkpoint import Signer
from hotline.service.accounts import totp_code

from .conftest import PASSWORD, another_person, axe_violations, log_on, shot


def test_an_auditor_searches_for_log_ons_finds_their_own_and_pages(running, page, browser,
                                                                    tmp_path):  # fmt: skip
    live = running.live
    with live.store.engine.begin() as c:  # 30 earlier log-ons, and other entries between
        for i in range(30):
            append(c, Entry(at=live.wall() - 3600 + i, actor=f"user{i}", role="agent",
                            action="session.logon", source="192.0.2.1"))  # fmt: skip
            append(c, Entry(at=live.wall() - 3600 + i, actor=f"user{i}", role="agent",
                            action="record.lookup", object=f"case:{i}",
                            details={"fields": ["name"]}))  # fmt: skip
    aud = running.accounts.add("aud", "auditor", password=PASSWORD)
    assert aud.totp_secret is not None
    signer = Signer.generate("hotline.example.org/audit")
    AuditTrail(engine=live.store.engine, signer=signer,
               sink=FileSink(tmp_path / "sink.jsonl")).checkpoint(live.wall())  # fmt: skip

    log_on(page, running, "aud", totp_code(aud.totp_secret, live.wall()))
    expect(page).to_have_url(f"{running.base}/audit")
    expect(page.locator("#checkpoint [data-size]")).to_have_text(
        "Entries 1 to 61, signed at 2026-11-25 19:00:00 UTC."
    )
    expect(page.locator("table.entries caption")).to_contain_text("entries, numbers")
    older = page.get_by_role("button", name="Older")
    where = older.bounding_box()

    page.get_by_label("Action", exact=True).fill("session.logon")
    page.get_by_label("Per page").select_option("25")
    page.get_by_label("Action", exact=True).press("Enter")  # the keyboard submits the form
    rows = page.locator("table.entries tbody tr")
    expect(rows).to_have_count(25)
    first = rows.first
    expect(first.locator("td").nth(2)).to_have_text("aud")  # their own log-on, newest
    expect(first.locator("[data-action]")).to_have_text("session.logon")
    expect(rows.locator("[data-action]", has_text="record.lookup")).to_have_count(0)
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    assert older.bounding_box() == where  # the results came in below: nothing moved
    assert axe_violations(page) == []
    shot(page, "audit")

    older.click()
    expect(rows).to_have_count(6)  # 31 log-ons: 25, then 6
    expect(rows.last.locator("td").nth(2)).to_have_text("user0")
    expect(older).to_be_disabled()
    page.get_by_role("button", name="Newer").click()
    expect(rows).to_have_count(25)
    expect(rows.first.locator("td").nth(2)).to_have_text("aud")
    assert axe_violations(page) == []
    shot(page, "audit-paged")

    sup = running.accounts.add("sue", "supervisor", password=PASSWORD)
    other = another_person(browser)
    log_on(other, running, "sue", totp_code(sup.totp_secret or "", live.wall()))
    expect(other).to_have_url(f"{running.base}/wallboard")
    other.goto(f"{running.base}/audit")
    expect(other.locator("#status")).to_have_text("This page is for auditors. Go to the wallboard")
    expect(other.get_by_role("heading", name="Latest signed checkpoint")).to_be_hidden()
    expect(other.get_by_role("heading", name="Search the trail")).to_be_hidden()
    expect(other.get_by_role("button", name="Older")).to_be_hidden()
    expect(other.locator("table.entries")).to_have_count(0)
    other.get_by_role("link", name="Go to the wallboard").click()
    expect(other).to_have_url(f"{running.base}/wallboard")
