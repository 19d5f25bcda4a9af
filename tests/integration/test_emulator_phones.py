"""The carrier emulator's browser phones: its signalling websocket driven as the voice
SDK's PStream drives it (listen, register, answer, reject, hangup), with tokens minted by
the `twilio` library, and conference legs added through the official client as Hotline
adds them (see test_emulator_conference's rig)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from hotline.telephony.emulator.conference import Conference

from .test_emulator_conference import LINE, SID, Rig, rig, whats

KEY = ("SK" + "7" * 32, "the-browser-phones-api-secret-for-these-tests")


def token(identity: str, *, secret: str = KEY[1], key: str = KEY[0], account: str = SID,
          incoming: bool = True, ttl: int = 3600) -> str:  # fmt: skip
    t = AccessToken(account, key, secret, identity=identity, ttl=ttl)
    t.add_grant(VoiceGrant(incoming_allow=incoming))
    return str(t.to_jwt())


class Phone:
    """Stands in for the SDK: one websocket speaking its PStream messages."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, kind: str, payload: Any) -> None:
        await self.ws.send(json.dumps({"type": kind, "payload": payload, "version": "1.6"}))

    async def receive(self) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), 5)))

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == kind, message
        return dict(message["payload"])

    async def register(self, identity: str) -> None:
        await self.send("listen", {"token": token(identity), "browserinfo": {}})
        assert (await self.expect("connected"))["token"]["identity"] == identity
        await self.send("register", {"media": {"audio": True}})
        await self.expect("ready")


@asynccontextmanager
async def phone(r: Rig) -> AsyncIterator[Phone]:
    async with websockets.connect(r.signal) as ws:
        yield Phone(ws)


def status(room: Conference, label: str) -> str:
    found = room.find(label)
    assert found is not None, f"{label} is not in {room.name}"
    return found.status


def ringing_leg(r: Rig, to: str, label: str = "agent", **kw: Any) -> Any:
    """A caller in room-1, and a participant `to` added to it (returns the participant)."""
    r.place()
    return r.add("room-1", to, label, **kw)


def test_a_device_with_a_good_token_registers_and_unregisters():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            assert not r.carrier.phones.reaches("agent-1")
            await p.send("listen", {"token": token("agent-1"), "reconnectTimeout": 0})
            connected = await p.expect("connected")
            assert connected["region"] == "emulator"
            assert connected["token"]["identity"] == "agent-1"
            assert 3590 <= connected["token"]["ttl"] <= 3600  # seconds left
            assert r.carrier.phones.reaches("agent-1")
            assert r.carrier.phones.registered("agent-1") == []
            await p.send("register", {"media": {"audio": True}})
            await p.expect("ready")
            assert len(r.carrier.phones.registered("agent-1")) == 1
            await p.send("register", {"media": {"audio": False}})
            await p.expect("offline")
            assert r.carrier.phones.registered("agent-1") == []
            assert list(r.carrier.phones.log) == [
                ("agent-1", "token accepted"), ("agent-1", "registered"),
                ("agent-1", "unregistered"),
            ]  # fmt: skip

    asyncio.run(run())


@pytest.mark.parametrize(
    ("listen", "code", "message", "claims"),
    [
        ({"token": token("agent-1", secret="not-the-carriers-secret-at-all-000000")},
         31204, "the access token's signature does not verify", True),
        ({"token": token("agent-1", key="SK" + "8" * 32)},
         31204, "the access token was issued by another API key", True),
        ({"token": token("agent-1", account="AC" + "2" * 32)},
         31204, "the access token is for another account", True),
        ({"token": token("agent-1", incoming=False)},
         31204, "the access token's voice grant allows no incoming calls", True),
        ({"token": token("agent-1", ttl=-60)}, 31205, "the access token has expired", True),
        ({"token": "not.a-token.at-all"}, 31204, "the access token's signature does not verify",
         False),
        ({}, 31204, "listen carries no access token", False),
    ],
)  # fmt: skip
def test_a_token_that_does_not_hold_is_refused_with_the_sdks_code(listen, code, message, claims):
    """`claims`: the token names agent-1 (unverified), so agent-1 is a browser's from now
    on: the emulator no longer answers in its stead."""

    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.send("listen", listen)
            refused = await p.expect("error")
            assert refused == {"error": {"code": code, "message": message}}
            await p.send("register", {"media": {"audio": True}})
            assert (await p.expect("error"))["error"]["code"] == 31204
            assert r.carrier.phones.registered("agent-1") == []
            assert r.carrier.phones.reaches("agent-1") is claims

    asyncio.run(run())


def test_a_carrier_with_no_api_key_refuses_every_token():
    async def run() -> None:
        async with rig(api_key=KEY) as r:
            r.carrier.phones.api_key = None
            async with phone(r) as p:
                await p.send("listen", {"token": token("agent-1")})
                refused = (await p.expect("error"))["error"]
                assert refused["code"] == 31204
                assert refused["message"] == "no API key is set on this carrier emulator"

    asyncio.run(run())


@pytest.mark.parametrize(
    "text", ["not json", '["listen"]', '{"type": 1}', '{"type": "listen", "payload": []}',
             '{"type": "answer", "payload": {"callsid": 7}}', "x" * 70_000],
)  # fmt: skip
def test_a_malformed_message_gets_an_error_and_the_socket_goes_on(text):
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.ws.send(text)
            assert (await p.expect("error"))["error"]["code"] == 31100
            await p.register("agent-1")  # the same socket still works

    asyncio.run(run())


def test_a_leg_rings_the_registered_device_and_joins_when_it_answers():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.register("agent-1")
            agent = await ringing_leg(r, "client:agent-1?call=CA123", timeout=60)
            invite = await p.expect("invite")
            assert invite["callsid"] == agent.call_sid
            assert invite["sdp"].startswith("v=0\r\n")
            assert "m=audio " in invite["sdp"]
            assert invite["parameters"] == {
                "CallSid": agent.call_sid, "AccountSid": SID, "From": LINE,
                "To": "client:agent-1", "ApiVersion": "2010-04-01", "Params": "call=CA123",
            }  # fmt: skip
            room = r.carrier.conferences["room-1"]
            assert status(room, "agent") == "ringing"  # (until the browser answers)
            await p.send("answer", {"callsid": agent.call_sid, "sdp": "v=0\r\n"})
            await r.joined("room-1", "caller", "agent")
            leg = r.carrier.calls[agent.call_sid]
            assert leg.answered_by == "browser"
            assert room.hears() == {("caller", "agent"), ("agent", "caller")}
            await r.hotline.until(
                lambda: r.hotline.posted("/participant", CallStatus="in-progress")
            )
            # the conference ends at the carrier: the Device hears its leg hung up
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))
            assert await p.expect("hangup") == {"callsid": agent.call_sid}
            await r.carrier.until(lambda: leg.ended)
            assert r.carrier.phones.ringing == {}
            assert r.carrier.phones.answered == {}

    asyncio.run(run())


def test_a_rejected_leg_and_an_unanswered_one_ring_out_with_no_answer():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.register("agent-1")
            first = await ringing_leg(r, "client:agent-1", timeout=600)
            assert (await p.expect("invite"))["callsid"] == first.call_sid
            await p.send("reject", {"callsid": first.call_sid})  # at once, not at the Timeout
            await r.hotline.until(lambda: r.hotline.posted("/participant", CallStatus="no-answer"))
            room = r.carrier.conferences["room-1"]
            assert whats(room, "agent") == [("agent", "no-answer")]

            second = await r.add("room-1", "client:agent-1", "again", timeout=5)
            assert (await p.expect("invite"))["callsid"] == second.call_sid
            assert await p.expect("cancel") == {"callsid": second.call_sid}  # rang out
            assert whats(room, "again") == [("again", "no-answer")]
            await p.send("answer", {"callsid": second.call_sid, "sdp": "v=0\r\n"})  # too late
            assert await p.expect("hangup") == {"callsid": second.call_sid}
            assert r.carrier.calls[second.call_sid].answered_by == ""
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))

    asyncio.run(run())


def test_a_device_gone_mid_call_leaves_its_leg_up_and_one_that_hangs_up_takes_it_out():
    async def run() -> None:
        async with rig(api_key=KEY) as r:
            async with phone(r) as p:
                await p.register("agent-1")
                agent = await ringing_leg(r, "client:agent-1", timeout=60)
                await p.expect("invite")
                await p.send("answer", {"callsid": agent.call_sid, "sdp": "v=0\r\n"})
                room = await r.joined("room-1", "caller", "agent")
            await r.carrier.until(lambda: ("agent-1", "gone") in r.carrier.phones.log)
            assert status(room, "agent") == "connected"  # the browser went, the call stays
            assert room.hears() == {("caller", "agent"), ("agent", "caller")}
            assert r.carrier.phones.answered == {}

            async with phone(r) as q:
                await q.register("sup-1")
                sup = await r.add("room-1", "client:sup-1", "supervisor", muted=True)
                await q.expect("invite")
                await q.send("answer", {"callsid": sup.call_sid, "sdp": "v=0\r\n"})
                await r.joined("room-1", "supervisor")
                await q.send("hangup", {"callsid": sup.call_sid})  # the browser hangs up
                left = {"CallSid": sup.call_sid, "CallStatus": "completed"}
                await r.hotline.until(lambda: r.hotline.posted("/participant", **left))
            assert whats(room, "supervisor") == [
                ("supervisor", "joined"),
                ("supervisor", "muted"),
                ("supervisor", "left"),
            ]
            assert ("sup-1", f"hung up {sup.call_sid} (browser)") in r.carrier.phones.log
            assert status(room, "agent") == "connected"
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))

    asyncio.run(run())


def test_the_first_of_two_devices_to_answer_takes_the_leg():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as a, phone(r) as b:
            await a.register("agent-1")
            await b.register("agent-1")
            agent = await ringing_leg(r, "client:agent-1", timeout=60)
            await a.expect("invite")
            await b.expect("invite")
            await b.send("answer", {"callsid": agent.call_sid, "sdp": "v=0\r\n"})
            room = await r.joined("room-1", "caller", "agent")
            assert await a.expect("cancel") == {"callsid": agent.call_sid}
            await a.send("answer", {"callsid": agent.call_sid, "sdp": "v=0\r\n"})
            assert await a.expect("hangup") == {"callsid": agent.call_sid}  # too late
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))
            assert await b.expect("hangup") == {"callsid": agent.call_sid}

    asyncio.run(run())


def test_the_emulator_answers_for_names_no_browser_connected_as_and_not_for_others():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.send("listen", {"token": token("agent-8", secret="wrong-" * 8)})
            await p.expect("error")  # agent-8 is a browser's, and has no Device registered
            bot = await ringing_leg(r, "client:agent-7?call=CA1", timeout=60)
            await r.joined("room-1", "caller", "agent")
            assert r.carrier.calls[bot.call_sid].answered_by == "emulator"  # (the demo's bots)
            await r.add("room-1", "client:agent-8", "browser", timeout=5)
            room = r.carrier.conferences["room-1"]
            await r.carrier.until(lambda: ("browser", "no-answer") in whats(room, "browser"))
            await r.rest(lambda: r.client.conferences(room.sid).update(status="completed"))

    asyncio.run(run())


def test_a_call_placed_from_the_browser_is_refused():
    async def run() -> None:
        async with rig(api_key=KEY) as r, phone(r) as p:
            await p.register("agent-1")
            await p.send("invite", {"callsid": "TJ1", "sdp": "v=0\r\n", "twilio": {}})
            refused = await p.expect("hangup")
            assert refused["callsid"] == "TJ1"
            assert refused["error"]["code"] == 31000

    asyncio.run(run())


def test_the_carrier_sends_heartbeats_and_takes_their_answers():
    """The SDK drops a socket that has been silent for 15 s; it answers each heartbeat."""

    async def run() -> None:
        async with rig(api_key=KEY) as r:
            r.carrier.phones.heartbeat = 0.01
            async with phone(r) as p:
                assert await asyncio.wait_for(p.ws.recv(), 5) == "\n"
                await p.ws.send("\n")  # (as the SDK answers: no error for it)
                await p.send("listen", {"token": token("agent-1")})
                message = "\n"
                while message == "\n":
                    message = await asyncio.wait_for(p.ws.recv(), 5)
                assert json.loads(message)["type"] == "connected"

    asyncio.run(run())
