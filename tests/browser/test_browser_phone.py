"""The browser phone in Debian's Chromium: the desktop and the wallboard load the vendored
voice SDK, whose `Twilio.Device` registers with the carrier emulator's signalling (over TLS,
on loopback), and take the legs the emulator invites them to. Nothing any page asks for
leaves 127.0.0.1. A token signed with the wrong secret is refused (the desktop says so,
and the agent's leg rings out: the caller goes back in the queue); a Device that goes away
mid-call leaves the call up. axe-core on each page, screenshots under `out/screenshots/`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.service.accounts import totp_code
from hotline.telephony.emulator.carrier import CallerScript
from hotline.telephony.emulator.conference import Participant
from hotline.web import agents

from .conftest import (
    API_SECRET,
    CALLER,
    PASSWORD,
    PUBLIC_CALLER,
    Phoned,
    available,
    axe_violations,
    both_ways,
    log_on,
    phone_person,
    phoned_line,
    shot,
)

AMY = "agent:en-day-1"
SUE = "supervisor:sue"
READY = "Browser phone: ready"
ON_A_CALL = "Browser phone: on a call"


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Phoned]:
    """Hotline and the emulator agree on the browser phones' API key. A leg rings for up
    to 30 s of wall time: a bound the browser answers well within, never waited out."""
    with phoned_line(tmp_path, phones=(API_SECRET, API_SECRET), agent_ring=30 * 50) as line:
        yield line


def wait_for(phoned: Phoned, predicate: Callable[[], bool], what: str) -> None:
    """Wait until `predicate()` holds, checked at each change in the emulator (a
    conference's, a browser phone's); fails naming `what` if it never does."""
    waited = phoned.emulator.until(predicate, timeout=20)
    try:
        asyncio.run_coroutine_threadsafe(waited, phoned.loop).result(timeout=30)
    except TimeoutError:
        raise AssertionError(f"never: {what}") from None


def leg_of(phoned: Phoned, sid: str, label: str) -> Participant:
    conference = phoned.emulator.conference(sid)
    assert conference is not None, f"{sid} has no conference"
    found = conference.find(label)
    assert found is not None, f"{label} is not on {sid}'s conference"
    return found


def phone_log(phoned: Phoned, identity: str) -> list[str]:
    return [what for who, what in list(phoned.emulator.phones.log) if who == identity]


def registered(phoned: Phoned, identity: str) -> Callable[[], bool]:
    return lambda: bool(phoned.emulator.phones.registered(identity))


def offered_and_accepted(page: Page, phoned: Phoned) -> str:
    """An emulator caller goes through the IVR, is offered to the agent on `page`, who
    accepts: their browser phone answers the leg, and caller and agent hear each other."""
    sid = phoned.call(PUBLIC_CALLER)
    expect(page.locator("#state")).to_have_text("A call is offered")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#state")).to_have_text("On a call")
    phoned.until_hears(sid, both_ways(("caller", AMY)))
    expect(page.locator("#phone")).to_have_text(ON_A_CALL)
    return sid


def test_an_agent_and_a_supervisor_take_their_legs_in_the_browser(
    phones: Phoned, browser: Browser
) -> None:
    amy, amy_urls = phone_person(browser)
    available(amy, phones, "amy", "en-day-1")
    expect(amy.locator("#phone")).to_have_text(READY)
    wait_for(phones, registered(phones, "en-day-1"), "en-day-1's Device registered")
    assert axe_violations(amy) == []
    shot(amy, "phone-ready")

    sid = offered_and_accepted(amy, phones)
    leg = leg_of(phones, sid, AMY).call
    assert leg.answered_by == "browser"  # the Device answered, not the emulator
    assert phone_log(phones, "en-day-1")[-2:] == [f"invited {leg.sid}", f"answered {leg.sid}"]
    expect(amy.locator('#call [data-field="Caller"]')).to_have_text("public")
    expect(amy.get_by_role("button", name="Hold")).to_be_enabled()  # the phone answered
    assert axe_violations(amy) == []
    shot(amy, "phone-on-a-call")

    sue, sue_urls = phone_person(browser)  # a supervisor listens from the wallboard
    boss = phones.accounts.add("sue", "supervisor", password=PASSWORD)
    assert boss.totp_secret is not None
    log_on(sue, phones, "sue", totp_code(boss.totp_secret, phones.live.wall()))
    expect(sue.locator("#phone")).to_have_text(READY)
    sue.get_by_text("Agents (1 signed in)").click()
    sue.get_by_role("button", name="Listen: en-day-1's call").click()
    listening = {(SUE, "caller"), (SUE, AMY)}  # she hears both; nobody hears her
    phones.until_hears(sid, both_ways(("caller", AMY)) | listening)
    assert leg_of(phones, sid, SUE).call.answered_by == "browser"
    expect(sue.locator("#phone")).to_have_text(ON_A_CALL)
    assert axe_violations(sue) == []
    shot(sue, "phone-wallboard-listening")

    amy.get_by_role("button", name="Hang up").click()  # (a server-side operation)
    expect(amy.locator("#state")).to_have_text("Wrapping up")
    expect(amy.locator("#phone")).to_have_text(READY)  # the carrier hung the leg up
    expect(sue.locator("#phone")).to_have_text(READY)
    assert f"hung up {leg.sid} (carrier)" in phone_log(phones, "en-day-1")
    assert phones.emulator.phones.ringing == {}
    assert phones.emulator.phones.answered == {}  # nothing kept of the call
    for urls in (amy_urls, sue_urls):
        assert any(u.endswith("/static/vendor/twilio.min.js") for u in urls.urls)
        assert any(u.startswith("wss://127.0.0.1:") for u in urls.urls)
        assert urls.outside() == [], sorted(set(urls.outside()))


def test_a_device_that_goes_away_mid_call_leaves_the_call_up(
    phones: Phoned, browser: Browser
) -> None:
    amy, urls = phone_person(browser)
    available(amy, phones, "amy", "en-day-1")
    expect(amy.locator("#phone")).to_have_text(READY)
    sid = offered_and_accepted(amy, phones)
    leg = leg_of(phones, sid, AMY).call
    amy.reload()  # the page goes away (its Device with it), and comes back
    wait_for(phones, lambda: "gone" in phone_log(phones, "en-day-1"), "the first Device gone")
    # it went without hanging up (the desktop keeps the SDK from doing so): the leg stays
    assert f"hung up {leg.sid} (browser)" not in phone_log(phones, "en-day-1")
    phones.until_hears(sid, both_ways(("caller", AMY)))
    assert leg_of(phones, sid, AMY).status == "connected"
    expect(amy.locator("#state")).to_have_text("On a call")
    expect(amy.locator("#phone")).to_have_text(READY)  # a new Device, on no call
    wait_for(phones, registered(phones, "en-day-1"), "the new Device registered")
    amy.get_by_role("button", name="Hang up").click()
    expect(amy.locator("#state")).to_have_text("Wrapping up")
    wait_for(phones, lambda: leg.ended, "the agent's leg ended")
    assert urls.outside() == []


def test_a_callback_is_taken_in_the_browser(phones: Phoned, browser: Browser) -> None:
    """The agent's phone is dialled into the call's conference before the caller is called
    back: the browser answers it as for any call the agent accepted."""
    sid = phones.call(CallerScript(CALLER, ["1", "2", "1"], patience=1e6, talk=1e6))
    phones.until_called_back_later(sid)  # (they chose "call me back", and hung up)
    amy, urls = phone_person(browser)
    available(amy, phones, "amy", "en-day-1", then="A call is offered")
    expect(amy.locator("#phone")).to_have_text(READY)
    amy.get_by_role("button", name="Accept").click()
    phones.until_hears(sid, both_ways(("caller", AMY)))
    assert leg_of(phones, sid, AMY).call.answered_by == "browser"
    expect(amy.locator("#phone")).to_have_text(ON_A_CALL)
    amy.get_by_role("button", name="Hang up").click()
    expect(amy.locator("#state")).to_have_text("Wrapping up")
    expect(amy.locator("#phone")).to_have_text(READY)
    assert phones.outcome(sid) == "called-back"
    assert urls.outside() == []


def test_a_token_signed_with_the_wrong_secret_is_refused_and_the_leg_rings_out(
    tmp_path: Path, browser: Browser
) -> None:
    wrong = "a-secret-that-is-not-the-one-the-carrier-has-0000"
    with phoned_line(tmp_path, phones=(wrong, API_SECRET)) as phoned:
        amy, urls = phone_person(browser)
        available(amy, phoned, "amy", "en-day-1")
        phone = amy.locator("#phone")
        expect(phone).to_have_attribute("data-phone", "error")
        expect(phone).to_contain_text("AccessTokenInvalid (20101)")
        assert "refused: the access token's signature does not verify" in phone_log(
            phoned, "en-day-1"
        )
        assert axe_violations(amy) == []
        shot(amy, "phone-refused")
        sid = phoned.call(PUBLIC_CALLER)
        expect(amy.locator("#state")).to_have_text("A call is offered")
        amy.get_by_role("button", name="Accept").click()
        # no Device of en-day-1's is registered, and the emulator does not answer in its
        # stead: the leg rings out, the caller goes back in the queue, the agent not ready
        expect(amy.locator("#state")).to_have_text("Not ready (agent-no-answer)")
        phoned.until_queued(sid)
        conference = phoned.emulator.conference(sid)
        assert conference is not None
        assert (AMY, "no-answer") in [(label, what) for _, label, what in conference.log]
        assert urls.outside() == []


def test_the_phone_renews_its_token_before_it_expires(
    phones: Phoned, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens good for 12 s: the SDK says one will expire 10 s before it does, and the
    desktop gets a new one from the server and hands it over (`device.updateToken`)."""
    monkeypatch.setattr(agents, "TOKEN_TTL", 12)
    amy, urls = phone_person(browser)
    available(amy, phones, "amy", "en-day-1")
    expect(amy.locator("#phone")).to_have_text(READY)
    renewed = lambda: phone_log(phones, "en-day-1").count("token accepted") >= 3  # noqa: E731
    wait_for(phones, renewed, "the token renewed twice")
    assert phone_log(phones, "en-day-1")[:2] == ["token accepted", "registered"]
    assert "gone" not in phone_log(phones, "en-day-1")  # (the same Device, kept registered)
    assert len(phones.emulator.phones.registered("en-day-1")) == 1
    expect(amy.locator("#phone")).to_have_text(READY)
    assert urls.outside() == []
