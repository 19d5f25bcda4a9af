"""The agent's voice leg in Debian's Chromium, with the carrier emulator bridging calls in
conferences: an agent logs on with MFA, goes available and gets an emulator caller who
went through the real IVR; accepts, holds, brings in an interpreter; a supervisor
whispers from the wallboard; the agent consults a second agent and hands the call over,
and the second agent wraps it up. The emulator's record of who hears whom is checked at
each step; another test closes the agent's tab mid-call and opens it again. axe-core on
each state, a screenshot of each kept under `out/screenshots/`."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from hotline.service.accounts import totp_code
from hotline.telephony.emulator.carrier import CallerScript

from .conftest import (
    CALLER,
    PASSWORD,
    PUBLIC_CALLER,
    Phoned,
    another_person,
    available,
    axe_violations,
    both_ways,
    log_on,
    shot,
)

AMY, BOB = "agent:en-day-1", "agent:en-day-2"


def whisper(agent: str, *others: str) -> set[tuple[str, str]]:
    """Sue whispering to `agent`: she hears everyone on the call, only `agent` hears her."""
    return {(agent, "supervisor:sue")} | {("supervisor:sue", p) for p in (agent, *others)}


def answered(page: Page, phoned: Phoned) -> str:
    """An emulator caller is offered to the agent on `page`, who accepts: on the call."""
    sid = phoned.call(PUBLIC_CALLER)
    expect(page.locator("#state")).to_have_text("A call is offered")
    expect(page.locator('#call [data-field="Caller"]')).to_have_text("public")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#state")).to_have_text("On a call")
    phoned.until_hears(sid, both_ways(("caller", AMY)))
    return sid


def test_hold_interpreter_whisper_and_a_warm_transfer_wrapped_up_by_the_second_agent(
    phoned: Phoned, page: Page, browser: Browser
) -> None:
    available(page, phoned, "amy", "en-day-1")
    sid = answered(page, phoned)
    legs = page.locator("#on-the-call")
    page.get_by_role("button", name="Hold").click()
    expect(legs).to_contain_text("The caller is on hold.")
    phoned.until_hears(sid, set())  # the caller hears music; nobody hears the caller
    assert axe_violations(page) == []
    shot(page, "voice-on-hold")
    page.get_by_role("button", name="Resume").click()
    phoned.until_hears(sid, both_ways(("caller", AMY)))

    page.get_by_role("button", name="Add an interpreter").click()
    expect(legs).to_contain_text("An interpreter is on the call.")
    phoned.until_hears(sid, both_ways(("caller", AMY), ("caller", "interpreter"),
                                      (AMY, "interpreter")))  # fmt: skip

    sue = another_person(browser)
    boss = phoned.accounts.add("sue", "supervisor", password=PASSWORD)
    assert boss.totp_secret is not None
    log_on(sue, phoned, "sue", totp_code(boss.totp_secret, phoned.live.wall()))
    expect(sue).to_have_url(f"{phoned.base}/wallboard")
    sue.get_by_text("Agents (1 signed in)").click()
    sue.get_by_role("button", name="Whisper: en-day-1's call").click()
    expect(sue.locator("#supervise-result")).to_have_text("Whisper: en-day-1's call.")
    expect(legs).to_contain_text("Supervisor sue is whispering to you (the caller does not hear)")
    three = both_ways(("caller", AMY), ("caller", "interpreter"), (AMY, "interpreter"))
    phoned.until_hears(sid, three | whisper(AMY, "caller", "interpreter"))
    assert axe_violations(sue) == []
    shot(sue, "voice-wallboard-whisper")
    assert axe_violations(page) == []
    shot(page, "voice-whispered-to")

    bob = another_person(browser)
    available(bob, phoned, "bob", "en-day-2")
    page.get_by_label("Transfer to").focus()  # (the agents available now)
    page.get_by_label("Transfer to").select_option("agent:en-day-2")
    page.get_by_role("button", name="Consult first").click()
    expect(legs).to_contain_text("Consulting en-day-2; the caller is on hold.")
    expect(bob.locator("#consulted")).to_contain_text("en-day-1 is consulting you about a call")
    phoned.until_hears(sid, both_ways((AMY, BOB), (AMY, "interpreter"), (BOB, "interpreter"))
                       | whisper(AMY, BOB, "interpreter"))  # the caller waits on hold  # fmt: skip
    assert axe_violations(bob) == []
    shot(bob, "voice-consulted")
    page.get_by_role("button", name="Complete the transfer").click()
    expect(page.locator("#state")).to_have_text("Wrapping up")
    expect(bob.locator("#state")).to_have_text("On a call")
    expect(bob.locator('#call [data-field="Caller"]')).to_have_text("public")
    # the whisper follows the call to its new agent
    three = both_ways(("caller", BOB), ("caller", "interpreter"), (BOB, "interpreter"))
    phoned.until_hears(sid, three | whisper(BOB, "caller", "interpreter"))
    shot(bob, "voice-transferred-to")

    phoned.hang_up(sid)  # the caller hangs up
    expect(bob.locator("#state")).to_have_text("Wrapping up")
    bob.get_by_label("Outcome of the call").select_option("referred")
    bob.get_by_role("button", name="Close the call").click()
    expect(bob.locator("#state")).to_have_text("Available")
    kinds = [(k, d.get("agent_id")) for k, d in phoned.live.store.events(sid)
             if k in ("hold", "interpreter", "supervised", "consult", "transferred",
                      "wrapped-up")]  # fmt: skip
    assert kinds == [("hold", "en-day-1"), ("hold", "en-day-1"), ("interpreter", "en-day-1"),
                     ("supervised", "en-day-1"), ("consult", "en-day-1"),
                     ("transferred", "en-day-1"), ("wrapped-up", "en-day-2")]  # fmt: skip


def test_an_agent_who_closes_the_tab_mid_call_stays_connected_and_sees_it_again(
    phoned: Phoned, page: Page
) -> None:
    available(page, phoned, "amy", "en-day-1")
    sid = answered(page, phoned)
    page.get_by_role("button", name="Hold").click()
    expect(page.locator("#on-the-call")).to_contain_text("The caller is on hold.")
    context = page.context
    page.close()  # the tab is closed mid-call: the call stays connected at the carrier
    phoned.until_hears(sid, set())
    again = context.new_page()
    again.goto(f"{phoned.base}/desktop")
    expect(again.locator("#state")).to_have_text("On a call")
    expect(again.locator('#call [data-field="Caller"]')).to_have_text("public")
    expect(again.locator("#on-the-call")).to_contain_text("The caller is on hold.")
    again.get_by_role("button", name="Resume").click()
    phoned.until_hears(sid, both_ways(("caller", AMY)))
    assert axe_violations(again) == []
    shot(again, "voice-tab-reopened")


def test_an_interpreter_is_added_for_a_caller_whose_language_the_agent_lacks(
    phoned: Phoned, page: Page
) -> None:
    available(page, phoned, "ian", "interp-day-1")  # English, and the interpreter line
    script = CallerScript(CALLER, ["2", "3", "2", "2"], patience=1e6, talk=1e6)
    sid = phoned.call(script)  # another language: Português; public; stays on the line
    phoned.until_queued(sid)
    phoned.live.wall.now += 31  # nobody speaks Portuguese: the queue's interpreter step
    expect(page.locator("#state")).to_have_text("A call is offered")
    expect(page.locator('#call [data-field="Language"]')).to_have_text("Português (pt)")
    page.get_by_role("button", name="Accept").click()
    ian = "agent:interp-day-1"
    phoned.until_hears(sid, both_ways(("caller", ian)))
    legs = page.locator("#on-the-call")
    expect(legs).to_have_text("You do not speak Português: add an interpreter.")
    assert axe_violations(page) == []
    shot(page, "voice-interpreter-needed")
    page.get_by_role("button", name="Add an interpreter").click()
    expect(legs).to_have_text("An interpreter is on the call.")
    phoned.until_hears(sid, both_ways(("caller", ian), ("caller", "interpreter"),
                                      (ian, "interpreter")))  # fmt: skip
    (added,) = [d for k, d in phoned.live.store.events(sid) if k == "interpreter"]
    assert added == {"agent_id": "interp-day-1", "language": "pt", "stage": "added"}
    shot(page, "voice-interpreter-added")


def test_a_caller_who_took_a_callback_is_called_back_into_the_calls_conference(
    phoned: Phoned, page: Page
) -> None:
    """The agent's phone is dialled into the conference first, then the caller is called
    back into it: from then on the call is held and hung up like any other."""
    script = CallerScript(CALLER, ["1", "2", "1"], patience=1e6, talk=1e6)  # "call me back"
    sid = phoned.call(script)
    phoned.until_called_back_later(sid)
    available(page, phoned, "amy", "en-day-1", then="A call is offered")
    expect(page.locator('#call [data-field="Call back"]')).to_have_text(
        f"{CALLER}: they are called once your phone answers"
    )
    page.get_by_role("button", name="Accept").click()
    phoned.until_hears(sid, both_ways(("caller", AMY)))  # (the dial-back's own call)
    expect(page.locator("#state")).to_have_text("On a call")
    page.get_by_role("button", name="Hold").click()
    expect(page.locator("#on-the-call")).to_contain_text("The caller is on hold.")
    phoned.until_hears(sid, set())
    assert axe_violations(page) == []
    shot(page, "voice-callback-on-hold")
    page.get_by_role("button", name="Resume").click()
    phoned.until_hears(sid, both_ways(("caller", AMY)))
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#state")).to_have_text("Wrapping up")
    assert phoned.outcome(sid) == "called-back"
    row = phoned.live.store.call(sid)
    assert row is not None
    assert row.state == "completed"


def test_an_agent_hangs_up_a_callback_whose_caller_has_not_picked_up_yet(
    phoned: Phoned, page: Page
) -> None:
    """While the caller's phone rings, Hang up is the one action the agent has: the
    carrier ends the dial-back's call (`canceled`), the agent wraps up, and the caller
    keeps their place for the next agent's try."""
    script = CallerScript(CALLER, ["1", "2", "1"], patience=1e6, talk=1e6, rings=1e6)
    sid = phoned.call(script)
    phoned.until_called_back_later(sid)
    available(page, phoned, "amy", "en-day-1", then="A call is offered")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#on-the-call")).to_contain_text(
        "Calling the caller back: their phone is ringing.")  # fmt: skip
    expect(page.get_by_role("button", name="Hold")).to_be_disabled()
    assert axe_violations(page) == []
    shot(page, "voice-callback-ringing")
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#state")).to_have_text("Wrapping up")
    dial_backs = [c for s, c in phoned.emulator.calls.items()
                  if s != sid and c.script is script]  # fmt: skip
    assert [(c.ended, c.outcome) for c in dial_backs] == [(True, "canceled")]
    row = phoned.live.store.call(sid)
    assert row is not None
    assert row.state == "queued"  # (their place kept for the next try)
    assert phoned.live.events(sid).count("callback-not-reached") == 1


# The answer to a hang-up, held back in the page until the socket has told the end of the
# call (the carrier's, at once): the answer, which says the state the hang-up left, comes
# after the news it was overtaken by. The page notes the answer's state, and when it has
# handled it (a task after the one that read it).
HELD_ANSWER = """
(() => {
  const real = window.fetch;
  window.answers = [];
  window.fetch = async (url, init) => {
    const r = await real(url, init);
    const asked = new URL(String(url), location.href);
    if (asked.pathname !== "/api/agent/hang-up") return r;
    window.asked = [...(window.asked || []), asked.pathname + asked.search];
    window.answers.push((await r.clone().json()).state);
    await new Promise((told) => {
      const box = document.getElementById("state");
      const ended = () => box.dataset.state === "wrap_up";
      if (ended()) return told();
      new MutationObserver(() => { if (ended()) told(); })
        .observe(box, {attributes: true, childList: true, subtree: true});
    });
    const read = r.json.bind(r);
    r.json = async () => {
      const body = await read();
      setTimeout(() => { window.handled = true; }, 0);
      return body;
    };
    return r;
  };
})();
"""


def test_an_actions_answer_overtaken_by_the_news_does_not_undo_it(
    phoned: Phoned, page: Page
) -> None:
    """A hang-up's answer says "on a call" (the call ends when the carrier says so, which
    the socket tells at once): shown after that news, it put the page back on a call that
    had ended, with its buttons, until the next change."""
    page.add_init_script(HELD_ANSWER)
    available(page, phoned, "amy", "en-day-1")
    sid = answered(page, phoned)
    page.get_by_role("button", name="Hang up").click()
    page.wait_for_function("() => window.handled === true")
    assert page.evaluate("window.answers") == ["on_call"]  # (overtaken: what it undid)
    assert page.evaluate("window.asked") == [f"/api/agent/hang-up?call={sid}"]  # (its call)
    assert page.locator("#state").inner_text() == "Wrapping up"
    expect(page.get_by_label("Outcome of the call")).to_be_visible()
    assert phoned.live.line.agent_state("en-day-1")["state"] == "wrap_up"
    assert phoned.live.store.call(sid) is not None
