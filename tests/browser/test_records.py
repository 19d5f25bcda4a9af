"""A case record looked up from the agent desktop in Debian's Chromium: on a call from a
member of the public the agent chooses a purpose, types the case number and sees only what
the disclosure policy allows, each other field withheld with why. axe-core on the page, a
screenshot kept under `out/screenshots/`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hotline.service.accounts import totp_code
from hotline.service.demo import free_ports
from tests.integration.live_fixtures import call_form
from tests.integration.test_records_desk import Asked, desk_live

from .conftest import (
    PASSWORD,
    Running,
    axe_violations,
    event_loop,
    log_on,
    queue_a_caller,
    serve,
    shot,
    stop,
)

SID = "CA" + "3" * 32


@pytest.fixture
def with_records(tmp_path: Path) -> Iterator[Running]:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    live = desk_live(tmp_path, Asked(), public_url=base)
    with event_loop() as loop:
        served = serve(live.app, port, loop)
        yield Running(live, base, served[0])
        stop(served)


def test_an_agent_looks_a_case_up_and_sees_what_is_withheld_and_why(
    with_records: Running, page: Page
) -> None:
    running = with_records
    new = running.accounts.add("ida", "agent", password=PASSWORD, agent_id="en-day-1")
    assert new.totp_secret is not None
    log_on(page, running, "ida", totp_code(new.totp_secret, running.live.wall()))
    expect(page).to_have_url(f"{running.base}/desktop")
    page.get_by_role("button", name="Log in to the lines").click()
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#state")).to_have_text("Available")
    expect(page.get_by_label("Case number")).to_be_disabled()  # (only during a call)
    queue_a_caller(running, SID)
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#state")).to_have_text("On a call")
    running.carrier.post(f"/voice/agent-leg?sid={SID}&a=1",
                         call_form("CA" + "4" * 32, CallStatus="in-progress"))  # fmt: skip

    page.get_by_label("Purpose").select_option("child-safety-check")
    page.get_by_label("Case number").fill("HC-100200")
    page.get_by_role("button", name="Look up").click()
    shown = page.locator("#record-shown")
    expect(shown.locator('[data-record="status"]')).to_have_text("open")
    expect(shown.locator("dd")).to_have_count(2)  # case_id and status: a public caller's call
    withheld = page.locator('#record-withheld [data-withheld="worker_phone"]')
    expect(withheld).to_contain_text("verification too low: needs number")
    expect(page.locator("#records")).not_to_contain_text("+12025550107")
    assert axe_violations(page) == []
    shot(page, "desktop-record-withheld")
