"""Every URL of ours the carrier is told to call, built in one place (the TwiML we reply
with, the REST redirects and dial-backs); every query value is escaped. The routes that
answer them are in `web/voice.py`."""

from __future__ import annotations

from urllib.parse import urlencode


class Webhooks:
    def __init__(self, public_url: str) -> None:
        self.public = public_url.rstrip("/")  # as the carrier sees us: signatures use it

    def url(self, path: str, **query: object) -> str:
        return f"{self.public}{path}?{urlencode(query)}" if query else f"{self.public}{path}"

    def incoming(self) -> str:
        return self.url("/voice/incoming")

    def status(self, *, call: str | None = None, dial: int = 0) -> str:
        """The status callback; `call` names the caller's call on a dial-back leg, `dial`
        which dial-back of it that leg is."""
        return self.url("/voice/status", call=call, d=dial) if call else self.url("/voice/status")

    def gather(self, sid: str, g: int, step: int, *, timeout: bool = False) -> str:
        """IVR input `step` of the call's `g`th IVR run (`timeout`: the Gather heard nothing)."""
        extra = {"timeout": 1} if timeout else {}
        return self.url("/voice/gather", sid=sid, g=g, step=step, **extra)

    def lookup(self, sid: str, g: int, ticket: int, n: int) -> str:
        """The `n`th return of a caller on hold for look-up `ticket`."""
        return self.url("/voice/lookup", sid=sid, g=g, t=ticket, n=n)

    def wait(self, sid: str, n: int, a: int = 0) -> str:
        """The hold loop's `n`th step, after `a` failed connects to an agent."""
        return self.url("/voice/wait", sid=sid, n=n, **({"a": a} if a else {}))

    def hold_key(self, sid: str, n: int, a: int = 0) -> str:
        return self.url("/voice/hold-key", sid=sid, n=n, **({"a": a} if a else {}))

    def audio(self, sid: str, token: str) -> str:
        """A prompt of call `sid` as audio (`service.prompt_audio`), fetched by the carrier."""
        return self.url("/voice/audio", sid=sid, p=token)

    def voicemail(self, sid: str) -> str:
        return self.url("/voice/voicemail", sid=sid)

    def dial_done(self, sid: str, attempt: int) -> str:
        return self.url("/voice/dial-done", sid=sid, a=attempt)

    def agent_leg(self, sid: str, attempt: int) -> str:
        return self.url("/voice/agent-leg", sid=sid, a=attempt)

    def leg(self, sid: str, label: str) -> str:
        """Status callbacks of a participant dialled into the call's conference."""
        return self.url("/voice/leg", sid=sid, label=label)
