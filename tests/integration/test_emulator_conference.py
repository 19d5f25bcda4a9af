"""The carrier emulator's conferences, driven as Hotline drives a carrier: the official twilio
client on the emulator's REST API, and a stand-in for Hotline on loopback answering the
emulator's signed webhooks (a caller's first TwiML dials them into a conference)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from hotline.telephony.emulator.carrier import CallerScript, Carrier, EmulatedCall
from hotline.telephony.emulator.conference import Conference

SID = "AC" + "1" * 32
TOKEN = "conference-test-token"
LINE = "+18005550100"
SPEED = 100.0  # carrier seconds per wall second: a minute's call takes 0.6 s
T = TypeVar("T")


class Hotline:
    """Stands in for Hotline: answers a caller with <Dial><Conference> and the Dial's action
    with a goodbye, and records every webhook with whether its signature held."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.unsigned: list[str] = []
        self.validator = RequestValidator(TOKEN)
        self._changed = asyncio.Event()
        self.app = FastAPI()
        self.app.post("/voice/incoming")(self.incoming)
        self.app.post("/voice/dial-done")(self.dial_done)
        self.app.post("/voice/status")(self.record)
        self.app.post("/participant")(self.record)

    async def _record(self, request: Request) -> None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), form, signature):
            self.unsigned.append(str(request.url))
        self.seen.append((request.url.path, form))
        self._changed.set()
        self._changed = asyncio.Event()

    async def incoming(self, request: Request) -> Response:
        await self._record(request)
        twiml = (
            f'<Response><Dial action="{request.base_url}voice/dial-done">'
            '<Conference participantLabel="caller" endConferenceOnExit="true" beep="false">'
            f"{self.room}</Conference></Dial></Response>"
        )
        return Response(twiml, media_type="application/xml")

    async def dial_done(self, request: Request) -> Response:
        await self._record(request)
        twiml = "<Response><Say>Goodbye</Say><Hangup/></Response>"
        return Response(twiml, media_type="application/xml")

    async def record(self, request: Request) -> Response:
        await self._record(request)
        return Response("", media_type="application/xml")

    def posted(self, path: str, **fields: str) -> list[dict[str, str]]:
        """The forms posted to `path` that have these fields."""
        return [
            form
            for p, form in self.seen
            if p == path and all(form.get(k) == v for k, v in fields.items())
        ]

    async def until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Wait until `predicate()` is true, checked after every webhook."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()


@dataclass
class Rig:
    carrier: Carrier
    hotline: Hotline
    client: Client  # the official client, on the emulator's REST API
    api: str  # the emulator's base URL
    hotline_url: str
    signal: str = ""  # the browser phones' signalling websocket (with an API key)

    async def rest(self, call: Callable[[], T]) -> T:
        """A call of the (blocking) twilio client, off the loop the emulator runs on."""
        return await asyncio.to_thread(call)

    def place(self, talk: float = 600.0) -> EmulatedCall:
        return self.carrier.place(CallerScript("+12025550143", [], 3600.0, talk))

    async def add(self, conference: str, to: str, label: str, **kw: Any) -> Any:
        """Add a participant with a status callback that hears every event but `initiated`."""
        events = ["ringing", "answered", "completed"]
        return await self.rest(
            lambda: self.client.conferences(conference).participants.create(
                from_=LINE,
                to=to,
                label=label,
                status_callback=self.callback(label),
                status_callback_event=events,
                **kw,
            )
        )

    def callback(self, label: str) -> str:
        return f"{self.hotline_url}/participant?who={label}"

    async def joined(self, room: str, *labels: str) -> Conference:
        """The conference once these participants are in it."""
        await self.carrier.until(
            lambda: (
                room in self.carrier.conferences
                and set(labels) <= {p.label for p in self.carrier.conferences[room].joined()}
            )
        )
        return self.carrier.conferences[room]


async def _serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(5):
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


@asynccontextmanager
async def rig(room: str = "room-1", api_key: tuple[str, str] | None = None) -> AsyncIterator[Rig]:
    """The emulator and the stand-in on loopback; at the end, every call must have ended.
    `api_key`: the browser phones' (sid, secret), their signalling served (plain ws)."""
    hotline = Hotline(room)
    served = [await _serve(hotline.app)]
    hotline_url = f"http://127.0.0.1:{served[0][2]}"
    carrier = Carrier(
        hotline_url=hotline_url, auth_token=TOKEN, account_sid=SID, line_number=LINE,
        speed=SPEED, api_key=api_key,
    )  # fmt: skip
    served.append(await _serve(carrier.rest_app()))
    api = f"http://127.0.0.1:{served[1][2]}"
    signal = ""
    if api_key is not None:
        served.append(await _serve(carrier.signal_app()))
        signal = f"ws://127.0.0.1:{served[2][2]}/signal"
    client = Client(SID, TOKEN)
    client.api.base_url = api
    try:
        yield Rig(carrier, hotline, client, api, hotline_url, signal)
        await asyncio.wait_for(carrier.drain(), 5)
        assert all(c.ended for c in carrier.calls.values())
        assert hotline.unsigned == []
    finally:
        for task in list(carrier.tasks):
            task.cancel()
        await carrier.client.aclose()
        for server, task, _ in served:
            server.should_exit = True
            await task


def whats(conference: Conference, *labels: str) -> list[tuple[str, str]]:
    return [(label, what) for _, label, what in conference.log if not labels or label in labels]


def test_a_participant_added_by_friendly_name_joins_and_its_callbacks_are_signed():
    async def run() -> None:
        async with rig() as r:
            caller = r.place()
            room = await r.joined("room-1", "caller")
            assert re.fullmatch(r"CF[0-9a-f]{32}", room.sid)
            assert room.status == "in-progress"
            assert room.hears() == set()  # alone: no talk timer yet
            agent = await r.add("room-1", "client:agent-1", "agent")
            assert (agent.status, agent.label, agent.conference_sid) == (
                "queued",
                "agent",
                room.sid,
            )
            assert re.fullmatch(r"CA[0-9a-f]{32}", agent.call_sid)
            await r.hotline.until(
                lambda: r.hotline.posted("/participant", CallStatus="in-progress")
            )
            assert room.hears() == {("caller", "agent"), ("agent", "caller")}
            (answered,) = r.hotline.posted("/participant", CallStatus="in-progress")
            assert answered["CallSid"] == agent.call_sid
            assert answered["ConferenceSid"] == room.sid
            assert answered["ParticipantLabel"] == "agent"
            assert r.hotline.posted("/participant", CallStatus="ringing")
            assert not r.hotline.posted("/participant", CallStatus="initiated")  # not asked for
            assert (caller.agent, caller.outcome) == ("agent-1", "answered")

            listed = await r.rest(
                lambda: r.client.conferences.list(friendly_name="room-1", status="in-progress")
            )
            assert [c.sid for c in listed] == [room.sid]
            people = await r.rest(lambda: r.client.conferences(room.sid).participants.list())
            assert {(p.label, p.status) for p in people} == {
                ("caller", "connected"), ("agent", "connected")
            }  # fmt: skip

            deleted = await r.rest(
                lambda: r.client.conferences(room.sid).participants("agent").delete()
            )
            assert deleted is True
            assert room.hears() == set()
            assert room.status == "in-progress"  # the caller is still in it
            await r.hotline.until(lambda: r.hotline.posted("/participant", CallStatus="completed"))
            assert r.hotline.posted("/participant", CallStatus="completed")[0]["CallSid"] == (
                agent.call_sid
            )
            assert not r.hotline.posted("/voice/dial-done")  # the caller stays in the room

            ended = await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))
            assert ended.status == "completed"
            await r.hotline.until(lambda: r.hotline.posted("/voice/status"))
            (done,) = r.hotline.posted("/voice/dial-done")
            assert (done["CallSid"], done["DialCallStatus"]) == (caller.sid, "completed")
            assert caller.heard == ["Goodbye"]
            assert whats(room) == [
                ("caller", "joined"), ("agent", "joined"), ("agent", "left"),
                ("caller", "left"), ("", "ended"),
            ]  # fmt: skip

    asyncio.run(run())


def test_an_agent_who_does_not_answer_gives_no_answer_and_never_joins():
    async def run() -> None:
        async with rig() as r:
            r.carrier.agents_not_answering.add("agent-2")
            r.place()
            room = await r.joined("room-1", "caller")
            before = r.carrier.now()
            agent = await r.add(room.sid, "client:agent-2", "agent", timeout=5)
            await r.hotline.until(lambda: r.hotline.posted("/participant", CallStatus="no-answer"))
            (no_answer,) = r.hotline.posted("/participant", CallStatus="no-answer")
            assert no_answer["CallSid"] == agent.call_sid
            assert not r.hotline.posted("/participant", CallStatus="in-progress")
            assert whats(room, "agent") == [("agent", "no-answer")]
            (rang_out,) = [t for t, label, _ in room.log if label == "agent"]
            # it rang for its Timeout, in carrier time (a timer may fire a clock tick early)
            assert rang_out - before >= 5 - 1e-6
            with pytest.raises(TwilioRestException) as e:
                await r.rest(lambda: r.client.conferences(room.sid).participants("agent").fetch())
            assert (e.value.status, e.value.code) == (404, 20404)
            assert room.hears() == set()
            # the caller's participant removed: the caller goes on with the Dial's action
            await r.rest(lambda: r.client.conferences(room.sid).participants("caller").delete())
            await r.hotline.until(lambda: r.hotline.posted("/voice/status"))
            (done,) = r.hotline.posted("/voice/dial-done")
            assert done["DialCallStatus"] == "completed"
            assert room.status == "completed"

    asyncio.run(run())


def test_hold_mute_and_coaching_change_who_hears_whom():
    async def run() -> None:
        async with rig() as r:
            r.place()
            await r.joined("room-1", "caller")
            agent = await r.add("room-1", "client:agent-1", "agent")
            await r.add("room-1", "client:sup-1", "supervisor", muted=True)
            room = await r.joined("room-1", "agent", "supervisor")
            talk = {("caller", "agent"), ("agent", "caller")}
            # a muted supervisor hears both and is heard by nobody
            assert room.hears() == talk | {("supervisor", "caller"), ("supervisor", "agent")}

            def update(label: str, **kw: Any) -> Any:
                return r.rest(
                    lambda: r.client.conferences(room.sid).participants(label).update(**kw)
                )

            held = await update("caller", hold=True, hold_url="http://music.invalid/hold.mp3")
            assert held.hold is True
            assert room.hears() == {("supervisor", "agent")}  # the caller hears hold music only
            await update("caller", hold=False)
            assert room.hears() == talk | {("supervisor", "caller"), ("supervisor", "agent")}
            coaching = await update(
                "supervisor", muted=False, coaching=True, call_sid_to_coach=agent.call_sid
            )
            assert (coaching.coaching, coaching.call_sid_to_coach) == (True, agent.call_sid)
            # the coach is heard by the agent only
            assert room.hears() == talk | {
                ("supervisor", "caller"), ("supervisor", "agent"), ("agent", "supervisor")
            }  # fmt: skip
            async with httpx.AsyncClient() as http:
                seen = (await http.get(f"{r.api}/emulator/conferences/room-1.json")).json()
            assert seen["sid"] == room.sid
            assert seen["hears"] == [list(pair) for pair in sorted(room.hears())]
            flags = {p["label"]: (p["muted"], p["coaching"]) for p in seen["participants"]}
            assert flags == {
                "caller": (False, False), "agent": (False, False), "supervisor": (False, True)
            }  # fmt: skip

            # refused whole: nothing changes
            log = list(room.log)
            with pytest.raises(TwilioRestException) as e:
                await update("supervisor", hold="maybe")
            assert e.value.status == 400
            assert 21000 <= e.value.code < 22000
            with pytest.raises(TwilioRestException) as e:
                await update("supervisor", coaching=True, call_sid_to_coach="CA" + "f" * 32)
            assert e.value.status == 400
            assert room.log == log

            await update("supervisor", coaching=False)
            everyone = {"caller", "agent", "supervisor"}
            assert room.hears() == {(a, b) for a in everyone for b in everyone if a != b}
            assert whats(room, "caller", "supervisor") == [
                ("caller", "joined"), ("supervisor", "joined"), ("supervisor", "muted"),
                ("caller", "hold"), ("caller", "resume"), ("supervisor", "unmuted"),
                ("supervisor", "coaching agent"), ("supervisor", "coaching off"),
            ]  # fmt: skip
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))
            await r.hotline.until(
                lambda: len(r.hotline.posted("/participant", CallStatus="completed")) == 2
            )

    asyncio.run(run())


def test_the_callers_talk_starts_when_the_agent_joins_and_their_leaving_ends_the_room():
    async def run() -> None:
        async with rig() as r:
            r.carrier.participant_ring = 40.0  # longer than the caller talks
            caller = r.place(talk=30.0)
            await r.joined("room-1", "caller")
            await r.add("room-1", "client:agent-1", "agent", timeout=60)
            await r.hotline.until(lambda: r.hotline.posted("/voice/status"))
            room = r.carrier.conferences["room-1"]
            at = {(label, what): t for t, label, what in room.log}
            waited = at["agent", "joined"] - at["caller", "joined"]
            talked = at["caller", "left"] - at["agent", "joined"]
            assert waited > 30  # alone in the room for longer than their talk: no timer yet
            assert 30 <= talked < 60  # (the upper bound: slack for a loaded machine)
            assert caller.answered_after == pytest.approx(waited)
            # the caller's endConferenceOnExit ended it; their call ended, no Dial action
            assert whats(room)[-3:] == [("caller", "left"), ("agent", "left"), ("caller", "ended")]
            assert (room.status, room.ended_by) == ("completed", caller.sid)
            assert not r.hotline.posted("/voice/dial-done")
            assert r.hotline.posted("/voice/status", CallSid=caller.sid, CallStatus="completed")
            await r.hotline.until(lambda: r.hotline.posted("/participant", CallStatus="completed"))
            assert caller.outcome == "answered"

    asyncio.run(run())


def test_a_participant_added_first_creates_the_room_and_the_caller_talks_from_joining():
    async def run() -> None:
        async with rig(room="room-9") as r:
            agent = await r.add("room-9", "client:agent-1", "agent")
            fetched = await r.rest(lambda: r.client.conferences(agent.conference_sid).fetch())
            assert (fetched.friendly_name, fetched.status) == ("room-9", "init")
            await r.joined("room-9", "agent")
            fetched = await r.rest(lambda: r.client.conferences(agent.conference_sid).fetch())
            assert fetched.status == "in-progress"
            caller = r.place(talk=10.0)
            await r.hotline.until(lambda: r.hotline.posted("/voice/status"))
            room = r.carrier.conferences["room-9"]
            at = {(label, what): t for t, label, what in room.log}
            assert 10 <= at["caller", "left"] - at["caller", "joined"] < 40
            assert (caller.agent, caller.answered_after) == ("agent-1", 0.0)
            assert room.status == "completed"

    asyncio.run(run())


def test_rest_updates_of_calls_in_the_room_take_them_out_without_the_dial_action():
    async def run() -> None:
        async with rig() as r:
            caller = r.place()
            first = await r.add("room-1", "client:agent-1", "agent")
            await r.joined("room-1", "agent")
            await r.add("room-1", "client:agent-2", "second")
            room = await r.joined("room-1", "caller", "agent", "second")
            # an agent's leg hung up: it leaves and reports completed; the others stay
            await r.rest(lambda: r.client.calls(first.call_sid).update(status="completed"))
            await r.hotline.until(lambda: r.hotline.posted("/participant", CallStatus="completed"))
            assert room.hears() == {("caller", "second"), ("second", "caller")}
            assert whats(room, "agent") == [("agent", "joined"), ("agent", "left")]
            assert caller.agent == "agent-2"  # the agent who joined last
            twiml = "<Response><Say>Moving you</Say><Hangup/></Response>"
            await r.rest(lambda: r.client.calls(caller.sid).update(twiml=twiml))
            await r.hotline.until(lambda: r.hotline.posted("/voice/status"))
            assert caller.heard == ["Moving you"]
            assert not r.hotline.posted("/voice/dial-done")
            assert room.status == "completed"  # the caller's endConferenceOnExit
            await r.hotline.until(
                lambda: len(r.hotline.posted("/participant", CallStatus="completed")) == 2
            )

    asyncio.run(run())


def test_unknown_things_are_404_bad_parameters_400_and_neither_changes_anything():
    async def run() -> None:
        async with rig() as r:
            base = f"{r.api}/2010-04-01/Accounts/{SID}"
            r.place()
            room = await r.joined("room-1", "caller")
            rooms, calls = dict(r.carrier.conferences), dict(r.carrier.calls)
            auth = (SID, TOKEN)
            async with httpx.AsyncClient(auth=auth) as http:
                missing = await http.get(f"{base}/Conferences/CF{'0' * 32}.json")
                assert missing.status_code == 404
                assert missing.json()["code"] == 20404
                nobody = await http.get(f"{base}/Conferences/{room.sid}/Participants/nobody.json")
                assert (nobody.status_code, nobody.json()["status"]) == (404, 404)
                gone = await http.delete(f"{base}/Conferences/{room.sid}/Participants/CA1.json")
                assert gone.status_code == 404
                new = f"{base}/Conferences/room-2/Participants.json"
                bad = await http.post(new, data={"From": LINE, "To": "client:a", "Muted": "yes"})
                assert bad.status_code == 400
                assert bad.json()["code"] == 21200
                no_to = await http.post(new, data={"From": LINE})
                assert (no_to.status_code, no_to.json()["code"]) == (400, 21604)
                coach = {"From": LINE, "To": "client:s", "Coaching": "true"}
                assert (await http.post(new, data=coach)).status_code == 400
                status = await http.post(
                    f"{base}/Conferences/{room.sid}.json", data={"Status": "x"}
                )
                assert status.status_code == 400
                listed = await http.get(f"{base}/Conferences.json", params={"Status": "over"})
                assert listed.status_code == 400
                inspect = await http.get(f"{r.api}/emulator/conferences/room-2.json")
                assert inspect.status_code == 404
                caller = f"{base}/Conferences/{room.sid}/Participants/caller.json"
                muted = await http.post(caller, data={"Muted": "TRUE"})  # any case, as Twilio
                assert (muted.status_code, muted.json()["muted"]) == (200, True)
                assert whats(room) == [("caller", "joined"), ("caller", "muted")]
            async with httpx.AsyncClient() as anonymous:
                refused = await anonymous.get(f"{base}/Conferences.json")
                assert (refused.status_code, refused.json()["code"]) == (401, 20003)
            with pytest.raises(TwilioRestException) as e:
                await r.rest(lambda: r.client.conferences(f"CF{'0' * 32}").fetch())
            assert (e.value.status, e.value.code) == (404, 20404)
            assert (r.carrier.conferences, r.carrier.calls) == (rooms, calls)
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))

    asyncio.run(run())
