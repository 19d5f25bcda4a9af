"""The carrier emulator's TwiML execution, against a fake application behind httpx's
MockTransport (signatures checked on every request, as Hotline checks them)."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
from twilio.request_validator import RequestValidator

from hotline.telephony.emulator.carrier import CallerScript, Carrier, EmulatedCall

ACCOUNT = "AC" + "0" * 32

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


def test_a_queued_caller_hangs_up_when_their_patience_ends_mid_prompt():
    seen: list[tuple[str, float]] = []  # the paths the line heard, at the carrier's time

    def app(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, carrier.now()))
        twiml = {
            "/voice/incoming": '<Response><Redirect method="POST">http://app/voice/wait'
            "</Redirect></Response>",
            "/voice/wait": '<Response><Say>Hold</Say><Pause length="1000"/><Redirect '
            'method="POST">http://app/voice/wait</Redirect></Response>',
        }.get(request.url.path, "<Response/>")
        return httpx.Response(200, text=twiml)

    carrier = Carrier(
        hotline_url="http://app", auth_token=TOKEN, account_sid="AC" + "0" * 32,
        line_number="+18005550100", speed=100,
        client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
    )  # fmt: skip

    async def run() -> EmulatedCall:
        call = carrier.place(CallerScript("+12025550143", [], 30, 30))
        await carrier.drain()
        return call

    call = asyncio.run(run())
    assert call.outcome == "abandoned"
    assert [p for p, _ in seen] == ["/voice/incoming", "/voice/wait", "/voice/status"]
    assert call.queued_at is not None
    hung_up_after = seen[-1][1] - call.queued_at  # carrier seconds in the queue
    # at their patience (30 s), not at the next redirect after the 1,000 s pause; the
    # tolerance is 20 carrier seconds = 0.2 s of real time at speed 100, for the loop
    assert 30 <= hung_up_after < 50, hung_up_after


def test_a_connect_the_carrier_took_before_the_caller_gave_up_puts_them_through():
    """The race between a caller's patience and the line's connect: an update the carrier
    answered 200 before the patience ran out wins, even when the wait ends at that moment."""
    carrier = Carrier(
        hotline_url="http://app", auth_token=TOKEN, account_sid="AC" + "0" * 32,
        line_number="+18005550100", speed=100,
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
    )  # fmt: skip
    connect = "<Response><Dial><Client>agent-7</Client></Dial></Response>"

    async def run(update: str | None) -> tuple[str | None, EmulatedCall]:
        call = EmulatedCall("CA1", CallerScript("+12025550143", [], 30, 60), holding=True)
        call.queued_at = carrier.now() - 31  # their patience ran out a second ago
        if update is not None:
            call.updates.put_nowait(update)
        return await carrier.wait(5.0, call), call

    got, call = asyncio.run(run(connect))
    assert (got, call.outcome, call.holding) == (connect, "in-progress", False)
    got, call = asyncio.run(run(None))  # nothing taken: they hang up
    assert (got, call.outcome, call.holding) == (
        "<Response><Hangup/></Response>",
        "abandoned",
        False,
    )


async def _placed(carrier: Carrier, twiml: str) -> tuple[httpx.AsyncClient, str]:
    """A call placed through the carrier's REST API, its answer and end told to
    http://app/status: a client of that API, and the call's URL there."""
    rest = httpx.AsyncClient(transport=httpx.ASGITransport(app=carrier.rest_app()),
                             base_url="http://carrier", auth=(ACCOUNT, TOKEN))  # fmt: skip
    made = await rest.post(f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data={
        "To": "+12025550143", "From": "+18005550100", "Twiml": twiml,
        "StatusCallback": "http://app/status", "StatusCallbackEvent": "answered",
    })  # fmt: skip
    return rest, f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{made.json()['sid']}.json"


def _carrier(app: Callable[[httpx.Request], Any], *, speed: float) -> Carrier:
    return Carrier(
        hotline_url="http://app", auth_token=TOKEN, account_sid=ACCOUNT,
        line_number="+18005550100", speed=speed,
        client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
    )  # fmt: skip


def _one_call(
    app: Callable[[Carrier, EmulatedCall, httpx.Request], httpx.Response],
) -> EmulatedCall:
    """One caller (no keys, all the patience in the world) against `app`, until it ends."""

    async def run() -> EmulatedCall:
        placed: list[EmulatedCall] = []
        carrier = _carrier(lambda r: app(carrier, placed[0], r), speed=1000)
        placed.append(carrier.place(CallerScript("+12025550143", [], 10_000, 30)))
        await carrier.drain()
        return placed[0]

    return asyncio.run(run())


def test_a_caller_who_hangs_up_as_the_line_connects_them_hangs_up():
    """Two updates queued in turn, not during a webhook: the caller's hang-up, then the
    line's connect (its request came as the caller hung up). The carrier applies them in
    order: the call ends; the connect never runs (the caller did not stay on, talking to
    nobody). (An outbound call: its page is given, not fetched, and its answered
    callback's answer is not a page, so both wait for the page's first pause.)"""
    seen: list[str] = []

    async def run() -> EmulatedCall:
        def app(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            form = dict(parse_qsl(request.content.decode()))
            if form.get("CallStatus") == "in-progress":  # answered: both before its page
                call = carrier.calls[form["CallSid"]]
                call.updates.put_nowait("<Response><Hangup/></Response>")
                call.updates.put_nowait('<Response><Dial action="http://app/done">'
                                        "<Client>agent-7</Client></Dial></Response>")  # fmt: skip
            return httpx.Response(200, text="<Response/>")

        carrier = _carrier(app, speed=1000)
        rest = httpx.AsyncClient(transport=httpx.ASGITransport(app=carrier.rest_app()),
                                 base_url="http://carrier", auth=(ACCOUNT, TOKEN))  # fmt: skip
        made = await rest.post(f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", data={
            "To": "+12025550143", "From": "+18005550100",
            "Twiml": '<Response><Say>Hello</Say><Pause length="10"/></Response>',
            "StatusCallback": "http://app/status", "StatusCallbackEvent": "answered",
        })  # fmt: skip
        await carrier.drain()
        return carrier.calls[made.json()["sid"]]

    call = asyncio.run(run())
    assert seen == ["/status", "/status"]  # answered, completed: no /done
    assert (call.ended, call.outcome, call.agent) == (True, "hung-up-by-ivr", None)


def test_a_call_the_carrier_places_is_ringing_until_picked_up():
    """Its status, asked of the API: ringing, then in-progress once the callee picked up
    (as the answered callback says), then completed (a restart tells a dial-back still
    ringing from one answered meanwhile so)."""
    statuses: list[str] = []

    async def run() -> None:
        async def status() -> str:
            return str((await rest.get(url)).json()["status"])

        async def app(request: httpx.Request) -> httpx.Response:
            statuses.append(await status())  # (asked as the answered callback comes)
            return httpx.Response(200, text="<Response/>")

        carrier = _carrier(app, speed=1000)
        rest, url = await _placed(carrier, "<Response/>")
        statuses.append(await status())
        await carrier.drain()
        statuses.append(await status())

    asyncio.run(run())
    assert statuses == ["ringing", "in-progress", "completed", "completed"]


def test_a_call_the_carrier_places_hung_up_while_it_rings_ends_canceled():
    """Canceled through the API (Status=canceled, as the line cancels a dial-back) while it
    rings, a placed call is never picked up: its status callback says `canceled`, as the
    carrier's does, and so does the API; its TwiML never runs."""
    posted: list[tuple[str, str]] = []

    async def run() -> str:
        async def app(request: httpx.Request) -> httpx.Response:
            form = dict(parse_qsl(request.content.decode()))
            posted.append((request.url.path, form.get("CallStatus", "")))
            return httpx.Response(200, text="<Response/>")

        carrier = _carrier(app, speed=1)
        rest, url = await _placed(
            carrier, "<Response><Redirect>http://app/never</Redirect></Response>"
        )
        assert (await rest.post(url, data={"Status": "canceled"})).status_code == 200
        await carrier.drain()
        return str((await rest.get(url)).json()["status"])

    assert asyncio.run(run()) == "canceled"
    assert posted == [("/status", "canceled")]


def test_a_hang_up_during_a_webhook_takes_the_call_over_from_its_answer():
    """The carrier took the hang-up while the webhook was in flight: the answer that comes
    after it (a transfer) is not carried out."""
    seen: list[str] = []

    def app(carrier: Carrier, call: EmulatedCall, request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/voice/incoming":
            return httpx.Response(200, text="<Response><Redirect>http://app/menu</Redirect>"
                                            "</Response>")  # fmt: skip
        if request.url.path == "/menu":
            carrier.hang_up(call)
            return httpx.Response(200, text="<Response><Dial>+15550001</Dial></Response>")
        return httpx.Response(200, text="<Response/>")

    call = _one_call(app)
    assert seen == ["/voice/incoming", "/menu", "/voice/status"]
    assert (call.ended, call.outcome) == (True, "hung-up-by-ivr")


def test_a_call_that_hung_up_refuses_updates_at_once():
    """From the moment the caller hangs up the carrier answers the call's updates 404, as
    for a completed call, although its task ends the call a step later: a connect sent
    as they hung up is refused (the line frees the agent), not queued behind the hang-up."""

    async def run() -> tuple[int, int, int, str]:
        answered = asyncio.Event()

        def app(request: httpx.Request) -> httpx.Response:
            answered.set()
            return httpx.Response(200, text='<Response><Pause length="60"/></Response>')

        carrier = _carrier(app, speed=1)
        call = carrier.place(CallerScript("+12025550143", [], 10_000, 30))
        rest = httpx.AsyncClient(transport=httpx.ASGITransport(app=carrier.rest_app()),
                                 base_url="http://carrier", auth=(ACCOUNT, TOKEN))  # fmt: skip
        url = f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json"
        twiml = "<Response><Dial><Client>agent-7</Client></Dial></Response>"
        await answered.wait()  # (the call is on: its first page is answered)
        before = (await rest.post(url, data={"Twiml": twiml})).status_code
        hung_up = (await rest.post(url, data={"Status": "completed"})).status_code
        after = (await rest.post(url, data={"Twiml": twiml})).status_code
        status = (await rest.get(url)).json()["status"]
        await carrier.drain()
        return before, hung_up, after, status

    assert asyncio.run(run()) == (200, 200, 404, "completed")


def test_the_lines_own_audio_is_fetched_and_played_for_its_length_and_a_failure_counted():
    fetched: list[str] = []
    second = io.BytesIO()
    with wave.open(second, "wb") as w:  # 1.5 s of silence
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 12_000)

    def app(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            fetched.append(str(request.url))
            if request.url.params["p"] == "ok":
                return httpx.Response(200, content=second.getvalue(),
                                      headers={"content-type": "audio/wav"})  # fmt: skip
            return httpx.Response(404, json={"error_id": "no-such-audio"})
        if request.url.path == "/voice/incoming":
            return httpx.Response(200, text="<Response><Play>http://app/voice/audio?sid=x&amp;p=ok"
                                  "</Play><Play>https://cdn.example/welcome.wav</Play><Play>"
                                  "http://app/voice/audio?sid=x&amp;p=gone</Play><Hangup/>"
                                  "</Response>")  # fmt: skip
        return httpx.Response(200, text="<Response/>")

    async def run() -> tuple[EmulatedCall, Carrier, float]:
        carrier = Carrier(
            hotline_url="http://app", auth_token=TOKEN, account_sid=ACCOUNT,
            line_number="+18005550100", speed=5,
            client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
        )  # fmt: skip
        began = carrier.now()
        call = carrier.place(CallerScript("+12025550143", [], 10_000, 30))
        await carrier.drain()
        return call, carrier, carrier.now() - began

    call, carrier, took = asyncio.run(run())
    assert fetched == ["http://app/voice/audio?sid=x&p=ok", "http://app/voice/audio?sid=x&p=gone"]
    assert call.heard == ["[audio 1.5 s]", "[play https://cdn.example/welcome.wav]",
                          "[audio failed: 404 application/json]"]  # fmt: skip
    assert carrier.media_failures == 1
    assert carrier.failures == 0
    # 1.5 s for the audio, 5 s for the file it does not fetch, none for the failure (in
    # carrier time, at 5 times the wall's: 0.6 s of the wall to spare for the requests)
    assert 6.5 <= took < 9.5


def test_words_are_heard_only_by_a_gather_that_listens_for_speech():
    """A caller who says a word to a Gather of keys alone (`input="dtmf"`, or none: the
    carrier's default) is not heard: the Gather times out to its Redirect, as on a carrier;
    one that listens for speech gets it as SpeechResult."""
    seen: list[tuple[str, dict[str, str]]] = []

    def app(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        seen.append((request.url.path, form))
        heard = {"/voice/incoming": "dtmf", "/keys-timed-out": "dtmf speech"}
        if request.url.path in heard:
            return httpx.Response(200, text=(
                f'<Response><Gather input="{heard[request.url.path]}" timeout="3" '
                f'action="http://app/said"><Say>Say it</Say></Gather>'
                f'<Redirect>http://app/keys-timed-out</Redirect></Response>'))  # fmt: skip
        return httpx.Response(200, text="<Response><Hangup/></Response>")

    async def run() -> None:
        carrier = Carrier(
            hotline_url="http://app", auth_token=TOKEN, account_sid=ACCOUNT,
            line_number="+18005550100", speed=1000,
            client=httpx.AsyncClient(transport=httpx.MockTransport(app)),
        )  # fmt: skip
        carrier.place(CallerScript("+12025550143", ["agency", "agency"], 10_000, 30))
        await carrier.drain()

    asyncio.run(run())
    assert [p for p, _ in seen][:3] == ["/voice/incoming", "/keys-timed-out", "/said"]
    assert seen[2][1]["SpeechResult"] == "agency"
