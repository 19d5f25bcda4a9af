"""The carrier emulator's patience rule (a queued caller hangs up when their patience
ends, mid-prompt) counts from the line's answer that queued them, and holds only while
the caller is in the hold loop, not once the line has taken them out of it by answering a
hold-loop webhook (voicemail, a dial)."""

from __future__ import annotations

import asyncio

import httpx

from hotline.telephony.emulator.carrier import CallerScript, Carrier, EmulatedCall

TOKEN = "emulator-test-token"
INTO_THE_QUEUE = '<Response><Redirect method="POST">http://app/voice/wait</Redirect></Response>'


def carrier_for(answers: dict[str, str], seen: list[str]) -> Carrier:
    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, text=answers.get(request.url.path, "<Response/>"))

    return Carrier(
        hotline_url="http://app", auth_token=TOKEN, account_sid="AC" + "0" * 32,
        line_number="+18005550100", speed=100,
        client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
    )  # fmt: skip


def placed(carrier: Carrier, script: CallerScript) -> EmulatedCall:
    async def run() -> EmulatedCall:
        call = carrier.place(script)
        await carrier.drain()
        return call

    return asyncio.run(run())


def test_a_caller_the_hold_loop_sent_to_voicemail_records_it_whatever_their_patience():
    """The line's hold loop overflows a caller to voicemail (web.voice: the 'voicemail'
    state answers /voice/wait with <Record/><Hangup/>, and the line's store counts the call
    overflowed). The emulator leaves `holding` set (it is set by the Redirect to
    /voice/wait and cleared only by a REST update), so when the caller's queue patience
    ends during the recording they are cut off as 'abandoned' and the recording is never
    posted: the emulator says abandoned where the line says overflowed/voicemail."""
    seen: list[str] = []
    carrier = carrier_for({
        "/voice/incoming": INTO_THE_QUEUE,
        "/voice/wait": '<Response><Record action="http://app/voice/voicemail" '
                       'maxLength="120" method="POST"/><Hangup/></Response>',
    }, seen)  # fmt: skip
    call = placed(carrier, CallerScript("+12025550143", [], patience=5, talk=60))
    assert call.outcome == "voicemail"
    assert seen == ["/voice/incoming", "/voice/wait", "/voice/voicemail", "/voice/status"]


def test_a_caller_put_through_by_the_answer_to_a_hold_loop_webhook_is_not_abandoned():
    """A connect can come as the answer to the hold loop's own request (TwiML <Dial>), not
    only as a REST update. `holding` stays set, so the caller, talking to agent-7, hangs
    up at the end of their queue patience and is counted abandoned though connected."""
    seen: list[str] = []
    carrier = carrier_for({
        "/voice/incoming": INTO_THE_QUEUE,
        "/voice/wait": '<Response><Dial action="http://app/voice/dial-done" method="POST">'
                       "<Client>agent-7</Client></Dial></Response>",
    }, seen)  # fmt: skip
    call = placed(carrier, CallerScript("+12025550143", [], patience=5, talk=60))
    assert (call.outcome, call.agent) == ("answered", "agent-7")
    assert seen == ["/voice/incoming", "/voice/wait", "/voice/dial-done", "/voice/status"]


def test_a_callers_patience_runs_from_the_answer_that_queued_them_through_its_hold_prompt():
    """The line queues a caller as it answers their last IVR step: what it says then (its
    'please hold'), then the hold loop. Their wait counts from that answer (the line's
    CallQueued, and the simulator's patience, start there), so a caller whose patience
    ends during that prompt hangs up mid-prompt, before the loop's first request."""
    seen: list[str] = []
    carrier = carrier_for({
        "/voice/incoming": f"<Response><Say>{'Please hold. ' * 20}</Say>"  # 18 s of speech
                           '<Redirect method="POST">http://app/voice/wait</Redirect></Response>',
        "/voice/wait": '<Response><Pause length="15"/><Redirect method="POST">'
                       "http://app/voice/wait</Redirect></Response>",
    }, seen)  # fmt: skip
    call = placed(carrier, CallerScript("+12025550143", [], patience=2, talk=60))
    assert call.outcome == "abandoned"
    assert seen == ["/voice/incoming", "/voice/status"]
