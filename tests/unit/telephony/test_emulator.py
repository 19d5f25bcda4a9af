"""The carrier emulator's TwiML execution, against a fake application behind httpx's
MockTransport (signatures checked on every request, as Hotline checks them)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import httpx
from twilio.request_validator import RequestValidator

from hotline.telephony.emulator.carrier import CallerScript, Carrier, EmulatedCall

TOKEN = "emulator-test-token"


def test_gather_digits_enqueue_wait_loop_dequeue_dial_and_status():
    seen: list[tuple[str, dict[str, str]]] = []
    validator = RequestValidator(TOKEN)

    def app(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        assert validator.validate(str(request.url), form, request.headers["X-Twilio-Signature"])
        path = request.url.path
        seen.append((path, form))
        twiml = {
            "/voice/incoming": '<Response><Say>Hi</Say><Gather numDigits="2" finishOnKey="#" '
            'action="http://app/digits"><Say>Two digits</Say></Gather></Response>',
            "/digits": '<Response><Enqueue waitUrl="http://app/wait">q</Enqueue></Response>',
            "/wait": '<Response><Say>Hold</Say><Pause length="10"/></Response>',
            "/done": "<Response><Hangup/></Response>",
        }.get(path, "<Response/>")
        if path == "/wait" and sum(p == "/wait" for p, _ in seen) == 2:
            box[0].updates.put_nowait(
                '<Response><Dial action="http://app/done"><Client>agent-7</Client></Dial></Response>'
            )
        return httpx.Response(200, text=twiml)

    async def run() -> None:
        carrier = Carrier(
            hotline_url="http://app", auth_token=TOKEN, account_sid="AC" + "0" * 32,
            line_number="+18005550100", speed=1000,
            client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
        )  # fmt: skip
        box.append(carrier.place(CallerScript("+12025550143", ["4567#"], 10_000, 30)))
        await carrier.drain()

    box: list[EmulatedCall] = []
    asyncio.run(run())
    call = box[0]
    paths = [p for p, _ in seen]
    assert paths == ["/voice/incoming", "/digits", "/wait", "/wait", "/done", "/voice/status"]
    assert seen[1][1]["Digits"] == "45"  # numDigits=2 of what was keyed
    assert call.heard == ["Hi", "Two digits", "Hold", "Hold"]
    assert call.outcome == "answered"
    assert call.agent == "agent-7"
    assert seen[-1][1]["CallStatus"] == "completed"


def test_a_call_whose_voice_url_fails_is_asked_of_the_fallback_url_as_the_carrier_does():
    seen: list[tuple[str, dict[str, str]]] = []
    validator = RequestValidator(TOKEN)

    def app(request: httpx.Request) -> httpx.Response:
        if request.url.host == "primary":
            raise httpx.ConnectError("connection refused", request=request)
        form = dict(parse_qsl(request.content.decode()))
        assert validator.validate(str(request.url), form, request.headers["X-Twilio-Signature"])
        seen.append((str(request.url), form))
        if request.url.path == "/voice/incoming":
            return httpx.Response(200, text="<Response><Say>Backup</Say><Hangup/></Response>")
        return httpx.Response(200, text="<Response/>")

    async def run(fallback: str | None) -> Carrier:
        carrier = Carrier(
            hotline_url="http://primary", auth_token=TOKEN, account_sid="AC" + "0" * 32,
            line_number="+18005550100", speed=1000, fallback_url=fallback,
            client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
        )  # fmt: skip
        carrier.place(CallerScript("+12025550143", [], 10_000, 30))
        await carrier.drain()
        return carrier

    carrier = asyncio.run(run("http://backup"))
    (call,) = carrier.calls.values()
    assert call.heard == ["Backup"]
    assert carrier.fallbacks == 1
    url, form = seen[0]
    assert url == "http://backup/voice/incoming"
    assert (form["ErrorCode"], form["ErrorUrl"]) == ("11200", "http://primary/voice/incoming")
    assert form["From"] == "+12025550143"

    seen.clear()
    alone = asyncio.run(run(None))  # no fallback URL: the carrier's own error, then hang-up
    (call,) = alone.calls.values()
    assert call.heard == ["An application error occurred."]
    assert (alone.fallbacks, seen) == (0, [])
