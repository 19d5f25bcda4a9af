"""The emulated carrier's side of its JavaScript voice SDK (`Twilio.Device`): the websocket
the SDK signals on (the subset of its PStream messages a Device that takes calls needs),
the Devices registered there, and the invitations a `client:NAME` leg sends them.

No media flows: an invitation carries a static audio offer, and the leg joins its
conference as soon as a Device answers (the SDK answers once it has a local description,
whether or not ICE ever connects). A browser that connects as NAME, with a token that
holds or not, makes NAME a browser-phone identity: from then on the carrier rings NAME's
registered Devices for NAME's legs instead of answering in NAME's stead (see
`Carrier._participant_leg`)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse
from twilio.jwt import Jwt, JwtDecodeError

log = logging.getLogger("hotline.emulator.phones")

MESSAGE_MAX = 64 * 1024  # characters: an SDP answer is a few thousand
HEARTBEAT = 5.0  # wall seconds between heartbeats ("\n"): the SDK reconnects after 15 silent
REGION = "emulator"  # what the Device is told it reached (it names no Twilio edge)
# the SDK's signalling error codes
MALFORMED = 31100
TOKEN_INVALID = 31204
TOKEN_EXPIRED = 31205
NOT_SUPPORTED = 31000
# A static audio offer: valid for a browser's setRemoteDescription, with no candidate (the
# browser's checks never start, so its ICE never fails and the SDK never hangs up for it)
OFFER = "\r\n".join([
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=msid-semantic: WMS",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:hOtL",
    "a=ice-pwd:carrierEmulatorIcePassword0",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 5C:2E:8B:0D:41:96:A7:3F:E2:19:6B:C4:70:D8:15:9A:"
    "33:F1:0E:C2:5B:87:64:A9:D0:1C:7E:48:B3:92:6F:05",
    "a=setup:actpass",
    "a=mid:0",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:0 PCMU/8000",
    "",
])  # fmt: skip


@dataclass(eq=False)
class Device:
    """One websocket of the SDK: who it is once a token held, whether it is registered."""

    socket: WebSocket
    identity: str | None = None
    registered: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one message sent at a time


@dataclass(eq=False)
class Invitation:
    """A leg ringing NAME's Devices: decided once one answers, or every one has refused or
    gone (`wake` is set then)."""

    leg: str  # the leg's call sid
    identity: str
    devices: list[Device]
    wake: asyncio.Event
    answered_by: Device | None = None
    refused: set[Device] = field(default_factory=set)

    @property
    def decided(self) -> bool:
        return self.answered_by is not None or set(self.devices) <= self.refused


class BrowserPhones:
    def __init__(
        self,
        *,
        account_sid: str,
        api_key: tuple[str, str] | None,
        on_change: Callable[[], None],
        on_hang_up: Callable[[str], None],
    ) -> None:
        """`api_key`: the API key's sid and secret the access tokens must be signed with
        (None: every token is refused); `on_change`: called at each change (a Device
        registered, gone, invited, answering); `on_hang_up`: called with a leg's call sid
        when the Device that answered it hangs up."""
        self.account_sid = account_sid
        self.api_key = api_key
        self.on_change = on_change
        self.on_hang_up = on_hang_up
        self.heartbeat = HEARTBEAT  # (a test may make it shorter)
        self.devices: set[Device] = set()
        self.browsers: set[str] = set()  # identities a browser has connected as
        self.ringing: dict[str, Invitation] = {}  # by the leg's call sid, while it rings
        self.answered: dict[str, Device] = {}  # by the leg's call sid, while it is up
        # what happened, for tests and a person watching: (identity or "", what)
        self.log: deque[tuple[str, str]] = deque(maxlen=1000)

    # -- the carrier's side

    def reaches(self, identity: str) -> bool:
        """Whether NAME is reached in the browser (a browser has connected as NAME)."""
        return identity in self.browsers

    def registered(self, identity: str) -> list[Device]:
        return [d for d in self.devices if d.registered and d.identity == identity]

    async def invite(
        self, leg: str, identity: str, *, params: str, from_: str, to: str, wake: asyncio.Event
    ) -> Invitation:
        """Ring every Device registered as `identity` for the leg `leg` (none: it just rings);
        `wake` is set when it is decided. `params`: the custom parameters, as a query string."""
        invitation = Invitation(leg, identity, self.registered(identity), wake)
        self.ringing[leg] = invitation
        parameters = {"CallSid": leg, "AccountSid": self.account_sid, "From": from_,
                      "To": to.split("?", 1)[0], "ApiVersion": "2010-04-01"}  # fmt: skip
        if params:
            parameters["Params"] = params
        self._note(identity, f"invited {leg}")
        for device in invitation.devices:
            await self._send(device, "invite", {"callsid": leg, "sdp": OFFER,
                                                "parameters": parameters})  # fmt: skip
        return invitation

    async def stop_ringing(self, invitation: Invitation) -> None:
        """The ring is over: the Devices still ringing are told it was cancelled (once)."""
        if self.ringing.pop(invitation.leg, None) is None:
            return
        for device in invitation.devices:
            if device is not invitation.answered_by and device not in invitation.refused:
                await self._send(device, "cancel", {"callsid": invitation.leg})

    async def hang_up(self, leg: str) -> None:
        """The leg ended at the carrier: the Device that answered it (if any) hears so."""
        device = self.answered.pop(leg, None)
        if device is not None:
            self._note(device.identity or "", f"hung up {leg} (carrier)")
            await self._send(device, "hangup", {"callsid": leg})

    # -- the Devices' side

    def app(self) -> FastAPI:
        """The signalling endpoint, `wss://HOST:PORT/signal` (the SDK's `chunderw` option
        names HOST:PORT); `/` says what it is (a person accepting its certificate)."""
        app = FastAPI(title="carrier emulator: browser phones", docs_url=None, redoc_url=None,
                      openapi_url=None)  # fmt: skip

        @app.get("/")
        async def what() -> PlainTextResponse:
            return PlainTextResponse("The carrier emulator's signalling for browser phones "
                                     "(wss://…/signal). You can close this tab.\n")  # fmt: skip

        @app.websocket("/signal")
        async def signal(ws: WebSocket) -> None:
            await ws.accept()
            device = Device(ws)
            self.devices.add(device)
            heartbeat = asyncio.create_task(self._heartbeat(device))
            try:
                while True:
                    frame = await ws.receive()
                    if frame["type"] == "websocket.disconnect":
                        break
                    text = frame.get("text")
                    if isinstance(text, str):
                        await self._receive(device, text)
                    else:  # (a binary frame: the SDK sends none)
                        await self._error(device, MALFORMED, "a message is a text frame")
            except WebSocketDisconnect:
                pass
            finally:
                heartbeat.cancel()
                self._gone(device)

        return app

    async def _heartbeat(self, device: Device) -> None:
        """A heartbeat now and then, which the SDK answers (without one for 15 s, it drops
        the socket and connects again)."""
        while True:
            await asyncio.sleep(self.heartbeat)
            await self._send_text(device, "\n")

    async def _receive(self, device: Device, text: str) -> None:
        if text == "\n":  # the SDK's answer to a heartbeat
            return
        message = _message(text)
        if message is None:
            await self._error(device, MALFORMED, "a message is a JSON object with a type and "
                              f"a payload object, at most {MESSAGE_MAX} characters")  # fmt: skip
            return
        kind, payload = message
        if kind == "listen":
            await self._listen(device, payload)
        elif kind == "register":
            await self._register(device, payload)
        elif kind in ("answer", "reject", "hangup"):
            await self._call(device, kind, payload)
        elif kind == "invite":  # a call the browser places: not emulated
            await self._send(device, "hangup", {
                "callsid": str(payload.get("callsid", "")),
                "error": {"code": NOT_SUPPORTED,
                          "message": "the carrier emulator takes no calls from a browser"},
            })  # fmt: skip
        # anything else (dtmf, reinvite, message...) is about media or messages: not emulated

    async def _listen(self, device: Device, payload: dict[str, Any]) -> None:
        token = payload.get("token")
        if not isinstance(token, str) or not token:
            await self._error(device, TOKEN_INVALID, "listen carries no access token")
            return
        claimed = _claimed_identity(token)
        if claimed:
            self.browsers.add(claimed)
        verified = self._verified(token)
        if isinstance(verified, Refusal):
            device.identity, device.registered = None, False
            self._note(claimed or "", f"refused: {verified.message}")
            await self._error(device, verified.code, verified.message)
            return
        identity, ttl = verified
        if device.identity != identity:
            device.registered = False
        device.identity = identity
        self._note(identity, "token accepted")
        connected = {"region": REGION, "token": {"identity": identity, "ttl": ttl}}
        await self._send(device, "connected", connected)

    async def _register(self, device: Device, payload: dict[str, Any]) -> None:
        if device.identity is None:
            await self._error(device, TOKEN_INVALID, "register before a listen with a valid token")
            return
        media = payload.get("media")
        audio = isinstance(media, dict) and media.get("audio") is True
        if audio != device.registered:
            device.registered = audio
            self._note(device.identity, "registered" if audio else "unregistered")
        await self._send(device, "ready" if audio else "offline", {})

    async def _call(self, device: Device, kind: str, payload: dict[str, Any]) -> None:
        leg = payload.get("callsid")
        if not isinstance(leg, str):
            await self._error(device, MALFORMED, f"{kind} names no callsid")
            return
        invitation = self.ringing.get(leg)
        if invitation is not None and device in invitation.devices and not invitation.decided:
            if kind == "answer":
                invitation.answered_by = device
                self.answered[leg] = device
                self._note(device.identity or "", f"answered {leg}")
            else:
                invitation.refused.add(device)
                self._note(device.identity or "", f"{kind} {leg}")
            if invitation.decided:
                invitation.wake.set()
            return
        if kind == "hangup" and self.answered.get(leg) is device:
            del self.answered[leg]
            self._note(device.identity or "", f"hung up {leg} (browser)")
            self.on_hang_up(leg)
        elif kind == "answer":  # too late (it rang out, or another Device took it)
            await self._send(device, "hangup", {"callsid": leg})

    def _gone(self, device: Device) -> None:
        """A websocket closed: its invitations count it out; a leg it answered stays up
        (a browser going away never ends a call)."""
        self.devices.discard(device)
        for invitation in list(self.ringing.values()):
            if device in invitation.devices and not invitation.decided:
                invitation.refused.add(device)
                if invitation.decided:
                    invitation.wake.set()
        for leg in [leg for leg, d in self.answered.items() if d is device]:
            del self.answered[leg]
        self._note(device.identity or "", "gone")

    def _verified(self, token: str) -> tuple[str, int] | Refusal:
        """The identity an access token grants incoming calls to, and its seconds left; or
        why it is refused (never echoing the token)."""
        if self.api_key is None:
            return Refusal(TOKEN_INVALID, "no API key is set on this carrier emulator")
        key_sid, secret = self.api_key
        if not secret:  # (the twilio library would skip the signature's check)
            return Refusal(TOKEN_INVALID, "this carrier emulator has no API secret to verify "
                                          "the access token with")  # fmt: skip
        try:
            claims = Jwt.from_jwt(token, secret).payload
        except RecursionError:  # (claims nested past the parser's depth)
            return Refusal(TOKEN_INVALID, "the access token does not parse")
        except JwtDecodeError as e:
            expired = "expired" in str(e).lower()
            return Refusal(TOKEN_EXPIRED if expired else TOKEN_INVALID,
                           "the access token has expired" if expired
                           else "the access token's signature does not verify")  # fmt: skip
        grants = _object(claims.get("grants"))
        identity = grants.get("identity")
        incoming = _object(_object(grants.get("voice")).get("incoming"))
        if claims.get("iss") != key_sid:
            return Refusal(TOKEN_INVALID, "the access token was issued by another API key")
        if claims.get("sub") != self.account_sid:
            return Refusal(TOKEN_INVALID, "the access token is for another account")
        if not isinstance(identity, str) or not identity:
            return Refusal(TOKEN_INVALID, "the access token names no identity")
        if incoming.get("allow") is not True:
            return Refusal(TOKEN_INVALID, "the access token's voice grant allows no incoming calls")
        return identity, max(0, int(claims.get("exp", 0)) - int(time.time()))

    async def _error(self, device: Device, code: int, message: str) -> None:
        await self._send(device, "error", {"error": {"code": code, "message": message}})

    async def _send(self, device: Device, kind: str, payload: dict[str, Any]) -> None:
        await self._send_text(device, json.dumps({"type": kind, "payload": payload}))

    async def _send_text(self, device: Device, text: str) -> None:
        """One message to a Device; one that has gone is let go (its close is on its way)."""
        async with device.lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await device.socket.send_text(text)

    def _note(self, identity: str, what: str) -> None:
        self.log.append((identity, what))
        self.on_change()


@dataclass(frozen=True)
class Refusal:
    code: int
    message: str


def _message(text: str) -> tuple[str, dict[str, Any]] | None:
    """A PStream message's type and payload; None if it is not one."""
    if len(text) > MESSAGE_MAX:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # (JSON nested past the parser's depth too)
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    payload = message.get("payload", {})
    return (message["type"], payload) if isinstance(payload, dict) else None


def _object(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def _claimed_identity(token: str) -> str | None:
    """The identity a token claims, unverified (only to know that NAME is reached in the
    browser: it grants nothing)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    identity = _object(_object(claims).get("grants")).get("identity")
    return identity if isinstance(identity, str) and 0 < len(identity) <= 256 else None
