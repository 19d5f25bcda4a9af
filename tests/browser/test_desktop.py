"""The agent desktop in Debian's Chromium: an agent logs on with MFA, goes available, is
offered a caller (what the IVR learned shown on the offer), accepts and is on the call; a
second window takes the desktop over and the first says so; an action refused while its
line moves to another node is sent again until it is taken. axe-core on each state, a
screenshot of each kept under `out/screenshots/`."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Response, Route, expect

from hotline.errors import LineStopped
from hotline.service.accounts import totp_code
from tests.integration.live_fixtures import call_form

from .conftest import PASSWORD, Running, axe_violations, log_on, queue_a_caller, shot

SID = "CA" + "3" * 32


def test_an_agent_takes_a_call_on_the_desktop_and_a_second_window_takes_it_over(
    running: Running, page: Page
) -> None:
    new = running.accounts.add("eve", "agent", password=PASSWORD, agent_id="en-day-1")
    assert new.totp_secret is not None
    log_on(page, running, "eve", totp_code(new.totp_secret, running.live.wall()))
    expect(page).to_have_url(f"{running.base}/desktop")
    state = page.locator("#state")
    expect(state).to_have_text("Logged out of the lines")
    for first_log_in in ("Available", "Not ready"):  # (a state of someone logged in)
        expect(page.get_by_role("button", name=first_log_in, exact=True)).to_be_disabled()
    page.get_by_role("button", name="Log in to the lines").click()
    expect(state).to_have_text("Not ready (login)")
    expect(page.get_by_role("button", name="Not ready", exact=True)).to_be_enabled()
    page.get_by_role("button", name="Available").click()
    expect(state).to_have_text("Available")
    assert axe_violations(page) == []
    shot(page, "desktop-available")

    panel = page.locator("#call")
    size = panel.bounding_box()
    queue_a_caller(running, SID)  # pushed on the agent's socket
    expect(state).to_have_text("A call is offered")
    expect(panel.locator('[data-field="Caller"]')).to_have_text("public")
    expect(panel.locator('[data-field="Line"]')).to_have_text(
        "National hotline (US) (+18005550100)"
    )
    expect(panel.locator('[data-field="Language"]')).to_have_text("English (en)")
    assert panel.bounding_box() == size  # no layout jump when the call arrives
    assert axe_violations(page) == []
    shot(page, "desktop-offer")
    page.get_by_role("button", name="Accept").click()
    expect(state).to_have_text("On a call")
    expect(panel.locator(".timer")).to_contain_text("On the call")
    shot(page, "desktop-on-call")

    second = page.context.new_page()  # the same agent opens the desktop again
    second.goto(f"{running.base}/desktop")
    expect(second.locator("#state")).to_have_text("On a call")  # it sees the call
    expect(page.locator("#elsewhere")).to_be_visible()  # the first window is told
    assert axe_violations(page) == []
    shot(page, "desktop-taken-over")


def test_an_agent_closes_a_call_with_an_outcome_and_notes(running: Running, page: Page) -> None:
    new = running.accounts.add("fay", "agent", password=PASSWORD, agent_id="en-day-2")
    assert new.totp_secret is not None
    log_on(page, running, "fay", totp_code(new.totp_secret, running.live.wall()))
    expect(page.locator("#state")).to_have_text("Logged out of the lines")
    page.get_by_role("button", name="Log in to the lines").click()
    page.get_by_role("button", name="Available").click()
    state = page.locator("#state")
    expect(state).to_have_text("Available")
    queue_a_caller(running, SID)
    page.get_by_role("button", name="Accept").click()
    expect(state).to_have_text("On a call")
    c = running.carrier
    c.post(f"/voice/agent-leg?sid={SID}&a=1", call_form("CA" + "4" * 32, CallStatus="in-progress"))
    running.live.wall.now += 120  # (the line's clock: the wrap-up's limit waits for the test)
    c.post("/voice/status", call_form(SID, CallStatus="completed"))  # the caller hangs up
    expect(state).to_have_text("Wrapping up")
    expect(page.locator('[data-today="Calls answered"]')).to_have_text("1")
    assert axe_violations(page) == []
    shot(page, "desktop-wrap-up")
    page.get_by_label("Outcome of the call").select_option("referred")
    page.get_by_label("Notes").fill("Referred to the local office.")
    with page.expect_request("**/api/agent/after-wrap-up*") as then:
        page.get_by_label("Then be").select_option("break")
    with page.expect_request("**/api/agent/wrap-up*") as closing:
        page.get_by_role("button", name="Close the call").click()
    expect(state).to_have_text("Not ready (break)")
    # (each names the call it closes: sent again after a takeover, it acts on no other)
    assert then.value.url == f"{running.base}/api/agent/after-wrap-up?call={SID}"
    assert closing.value.url == f"{running.base}/api/agent/wrap-up?call={SID}"
    (closed,) = [d for k, d in running.live.store.events(SID) if k == "wrapped-up"]
    assert closed == {"agent_id": "en-day-2", "code": "referred",
                      "notes": "Referred to the local office."}  # fmt: skip


def _refused_once(page: Page, path: str, error_id: str) -> list[str]:
    """The first request to `path` is answered 503 `error_id` (as a node answers while its
    line moves to another: nothing was done, Retry-After 3 s), each later one goes on to
    the server. Returns what happened to each request, in order."""
    seen: list[str] = []

    def handle(route: Route) -> None:
        if not seen:
            seen.append("refused")
            said = json.dumps({"error_id": error_id, "message": "not now"})
            route.fulfill(status=503, headers={"Retry-After": "3"}, body=said,
                          content_type="application/json")  # fmt: skip
        else:
            seen.append("sent")
            route.continue_()

    page.route(f"**{path}", handle)
    return seen


def _logged_in(running: Running, page: Page, username: str) -> None:
    new = running.accounts.add(username, "agent", password=PASSWORD, agent_id="en-day-1")
    assert new.totp_secret is not None
    log_on(page, running, username, totp_code(new.totp_secret, running.live.wall()))
    page.get_by_role("button", name="Log in to the lines").click()
    expect(page.locator("#state")).to_have_text("Not ready (login)")


def test_an_action_refused_while_the_line_moves_is_sent_again_until_it_is_taken(
    running: Running, page: Page
) -> None:
    _logged_in(running, page, "gus")
    seen = _refused_once(page, "/api/agent/ready", LineStopped.error_id)
    page.get_by_role("button", name="Available").click()
    said = page.locator("#action-error")
    expect(said).to_have_text("The line is moving to another server; trying again…")
    shot(page, "desktop-line-moving")
    expect(page.locator("#state")).to_have_text("Available")  # sent again, and taken
    expect(said).to_have_text("")
    assert seen == ["refused", "sent"]
    me = running.carrier.client.get("/api/agent/me", headers=running.live.agent("en-day-1"))
    assert me.json()["state"] == "available"  # (the server's own word)


def test_an_action_refused_for_another_reason_is_not_sent_again(
    running: Running, page: Page
) -> None:
    _logged_in(running, page, "hal")
    seen = _refused_once(page, "/api/agent/ready", "store-unavailable")
    page.get_by_role("button", name="Available").click()
    # the server's reason at once (an action sent again would say the line is moving)
    expect(page.locator("#action-error")).to_have_text("not now")
    expect(page.locator("#state")).to_have_text("Not ready (login)")
    assert seen == ["refused"]


def test_an_action_asked_while_another_waits_to_be_sent_again_is_taken_after_it(
    running: Running, page: Page
) -> None:
    """The agent's "Available" is refused while the line moves (sent again in 3 s); they
    then click "Not ready" (a break). Sent at once, "not ready" would be taken first and the
    "available" sent again would overtake it: the agent, on a break, offered calls. Held
    behind the first, it is taken after it: the agent's last word stands."""
    _logged_in(running, page, "ivy")
    seen = _refused_once(page, "/api/agent/ready", LineStopped.error_id)
    said = page.locator("#action-error")
    with page.expect_response(
        lambda r: r.url.endswith("/api/agent/ready") and r.status == 200, timeout=15000
    ):
        page.get_by_role("button", name="Available").click()
        expect(said).to_have_text("The line is moving to another server; trying again…")
        page.get_by_role("button", name="Not ready", exact=True).click()
    # "available" sent again has been taken; "not ready", asked after it, comes after it
    expect(page.locator("#state")).to_have_text("Not ready (break)")
    assert seen == ["refused", "sent"]
    me = running.carrier.client.get("/api/agent/me", headers=running.live.agent("en-day-1"))
    assert (me.json()["state"], me.json()["reason"]) == ("not_ready", "break")


def test_an_action_clicked_again_while_it_waits_to_be_sent_again_is_asked_once(
    running: Running, page: Page
) -> None:
    """The agent's "Available" is refused while the line moves; they click it again. The
    second click is the first request (sent twice, the second would be refused: the agent
    is available by then)."""
    _logged_in(running, page, "jon")
    seen = _refused_once(page, "/api/agent/ready", LineStopped.error_id)
    said = page.locator("#action-error")
    available = page.get_by_role("button", name="Available")
    available.click()
    expect(said).to_have_text("The line is moving to another server; trying again…")
    available.click()
    expect(page.locator("#state")).to_have_text("Available")
    # a later action is taken after any "available" still held back (their order is
    # kept), so once it shows, every request to /ready has been sent
    page.get_by_role("button", name="Not ready", exact=True).click()
    expect(page.locator("#state")).to_have_text("Not ready (break)")
    expect(said).to_have_text("")
    assert seen == ["refused", "sent"]


def test_an_action_asked_again_after_another_is_sent_again_after_it(
    running: Running, page: Page
) -> None:
    """ "Available" refused while the line moves, then "Not ready", then "Available" again:
    the last is not the first one's (still on its way) but a request of its own, sent
    after "not ready": the agent's last word, available, stands."""
    _logged_in(running, page, "kim")
    seen = _refused_once(page, "/api/agent/ready", LineStopped.error_id)
    said = page.locator("#action-error")
    available = page.get_by_role("button", name="Available")
    taken: list[object] = []

    def second_taken(r: Response) -> bool:  # (the first "available" is taken when sent again)
        if r.url.endswith("/api/agent/ready") and r.status == 200:
            taken.append(r)
        return len(taken) == 2

    with page.expect_response(second_taken, timeout=20000):
        available.click()
        expect(said).to_have_text("The line is moving to another server; trying again…")
        page.get_by_role("button", name="Not ready", exact=True).click()
        available.click()
    expect(page.locator("#state")).to_have_text("Available")
    assert seen == ["refused", "sent", "sent"]
    me = running.carrier.client.get("/api/agent/me", headers=running.live.agent("en-day-1"))
    assert me.json()["state"] == "available"
