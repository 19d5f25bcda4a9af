"""The browser phone in Chromium with two windows of one agent (found by a review): the
window another took over is rung no more, and a leg it was asked about meanwhile is not
left up in it."""

from __future__ import annotations

from playwright.sync_api import Browser, Route, expect

from .conftest import PUBLIC_CALLER, Phoned, available, phone_person
from .test_browser_phone import ON_A_CALL, READY, phones, wait_for

__all__ = ["phones"]


def test_a_desktop_window_another_took_over_no_longer_rings(
    phones: Phoned, browser: Browser
) -> None:
    """The desktop says a window another took over 'is open in another window, which gets
    your calls now', but its Device stays registered as the agent: every leg rings both
    windows' Devices, and both answer (each finds the agent on that call), so the audio of
    the agent's call may go to the window they are not using."""
    first, _ = phone_person(browser)
    available(first, phones, "amy", "en-day-1")
    expect(first.locator("#phone")).to_have_text(READY)
    wait_for(phones, lambda: len(phones.emulator.phones.registered("en-day-1")) == 1,
             "the first window's Device registered")  # fmt: skip
    second = first.context.new_page()  # the same agent's session, in a second window
    second.goto(f"{phones.base}/desktop")
    expect(second.locator("#state")).to_have_text("Available")
    expect(second.locator("#phone")).to_have_text(READY)
    expect(first.locator("#elsewhere")).to_be_visible()  # "…which gets your calls now"
    wait_for(phones, lambda: len(phones.emulator.phones.registered("en-day-1")) == 1,
             "only the window that gets the calls has a registered Device")  # fmt: skip


def test_a_leg_cancelled_while_the_page_asks_the_server_is_not_left_on_a_call(
    phones: Phoned, browser: Browser
) -> None:
    """phone.js subscribes to a call's `cancel` only after `expects()` resolves; when the
    page must ask `/api/agent/me` first, a cancel that arrives meanwhile (another Device
    took the leg, the caller hung up, it rang out) is missed: the page then accepts the
    closed call, counts it in `calls` for good, and says "on a call" from then on (its
    pagehide guard stays armed too). Shown with a window another took over (its state is
    stale, so it asks the server): its answer is held until the other window's Device has
    taken the leg."""
    first, _ = phone_person(browser)
    available(first, phones, "amy", "en-day-1")
    expect(first.locator("#phone")).to_have_text(READY)
    second = first.context.new_page()
    second.goto(f"{phones.base}/desktop")
    expect(second.locator("#phone")).to_have_text(READY)
    expect(first.locator("#elsewhere")).to_be_visible()

    def taken(route: Route) -> None:  # the first window's question, answered late
        wait_for(phones, lambda: bool(phones.emulator.phones.answered), "a Device answered")
        route.continue_()

    first.route("**/api/agent/me", taken)
    phones.call(PUBLIC_CALLER)
    expect(second.locator("#state")).to_have_text("A call is offered")
    second.get_by_role("button", name="Accept").click()
    expect(second.locator("#state")).to_have_text("On a call")
    expect(second.locator("#phone")).to_have_text(ON_A_CALL)
    second.get_by_role("button", name="Hang up").click()
    expect(second.locator("#state")).to_have_text("Wrapping up")
    expect(second.locator("#phone")).to_have_text(READY)
    wait_for(phones, lambda: phones.emulator.phones.answered == {}, "the leg hung up")
    expect(first.locator("#phone")).to_have_text("Browser phone: in the other window")
