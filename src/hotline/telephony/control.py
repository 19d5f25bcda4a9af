"""The call-control port, and its adapter for Twilio-compatible carriers' REST API.

`connect` puts the caller into their call's own conference (named after the caller's
call) and dials the agent into it; everything done on a call afterwards (hold, transfer,
an interpreter, a supervisor listening or whispering) is a participant operation on that
conference, addressed by the participant's label (caller, agent:ID, supervisor:NAME,
interpreter). The API base URL is a setting, so the same code talks to Twilio, to
another carrier speaking its dialect, or to the carrier emulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from hotline.errors import HotlineError
from hotline.telephony.carrier_http import CarrierHttp
from hotline.telephony.twiml import conference_twiml, message_twiml, redirect_twiml
from hotline.telephony.webhooks import Webhooks


def supervisor_phone(name: str) -> str:
    """A supervisor's browser phone identity (`client:` name). An agent's is their id, which
    starts with a letter or digit; this starts with an underscore, so a supervisor whose
    account is named like an agent is never rung for that agent's legs, nor they for hers."""
    return f"_supervisor_{name}"


class CarrierError(HotlineError):
    error_id = "carrier-error"


class CallGone(CarrierError):
    """The carrier has no such call in progress (it ended: the caller hung up): Twilio's
    20404 "not found" (with a 404) or 21220 "call is not in-progress". A bare 404 without
    its code (a wrong API address, a proxy) is not taken for it: every call would end."""

    error_id = "call-gone"


NOT_FOUND, NOT_IN_PROGRESS = 20404, 21220  # Twilio's error codes for a call that ended
# what a caller hears as the line ends a call it could not keep (`CallControl.end_call`)
NOT_KEPT = "We are sorry: your call could not be kept. Please call again."


class CallControl(Protocol):
    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        """Bridge the call to the agent; `attempt` numbers the connects of this call."""
        ...

    def hang_up(self, call_sid: str) -> None:
        """End a call (any leg, by its own id); CallGone if it has ended already."""
        ...

    def cancel(self, call_sid: str) -> None:
        """End a call not answered yet (queued or ringing: it ends `canceled`); one answered
        meanwhile goes on. CallGone if it has ended already."""
        ...

    def end_call(self, call_sid: str) -> None:
        """End a caller's call, telling them it could not be kept (NOT_KEPT); CallGone if
        it has ended already."""
        ...

    def leg(
        self,
        call_sid: str,
        label: str,
        action: str,
        *,
        mode: str = "talk",
        coach: str = "",
        attempt: int = 0,
    ) -> None:
        """A participant operation on the call's conference (see `switchboard.effects.Leg`)."""
        ...

    def park(self, call_sid: str, attempt: int) -> None:
        """Take the caller out of their conference to the hold loop."""
        ...

    def dial_back(self, call_sid: str, to: str, caller_id: str, status_url: str) -> str:
        """Call a callback's caller back into the call's conference (their agent is in it);
        `status_url` hears when they answer and when the call ends. Returns that call's
        own sid."""
        ...

    def status(self, call_sid: str) -> str | None:
        """The carrier's status of a call (queued, ringing, in-progress, completed, ...);
        None if the carrier does not know it."""
        ...


class TwilioCallControl:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str,
        public_url: str,
        caller_id: str = "",
        phones: Mapping[str, str] | None = None,
        interpreter: str | None = None,
    ) -> None:
        """`caller_id`: the number the agents' legs come from; `phones`: a phone number or
        SIP address per agent (others are reached in the browser); `interpreter`: the
        interpreting service's number."""
        # a carrier that does not answer must not hold a request for ever
        self.client = Client(account_sid, auth_token, http_client=CarrierHttp(timeout=10))
        self.client.api.base_url = api_base.rstrip("/")
        self.webhooks = Webhooks(public_url)
        self.caller_id = caller_id
        self.phones = dict(phones or {})
        self.interpreter = interpreter

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        twiml = conference_twiml(call_sid, done_url=self.webhooks.dial_done(call_sid, attempt))
        self._update(call_sid, twiml=twiml)
        self.leg(call_sid, f"agent:{agent_id}", "join", attempt=attempt)

    def park(self, call_sid: str, attempt: int) -> None:
        self._update(call_sid, twiml=redirect_twiml(self.webhooks.wait(call_sid, 1, attempt)))

    def leg(
        self,
        call_sid: str,
        label: str,
        action: str,
        *,
        mode: str = "talk",
        coach: str = "",
        attempt: int = 0,
    ) -> None:
        try:
            if action == "join":
                self._join(call_sid, label, mode, coach, attempt)
                return
            if action == "hangup":  # (the caller's: their call ends, and its conference)
                self._end(call_sid)
                return
            participant = self.client.conferences(self._conference(call_sid)).participants(label)
            if action == "drop":
                participant.delete()
            elif action in ("hold", "resume"):
                participant.update(hold=action == "hold")
            elif action == "mode":
                participant.update(**self._mode(call_sid, mode, coach))
            else:
                raise ValueError(f"no conference action {action!r}")
        except TwilioException as e:
            raise CarrierError(
                f"the carrier refused to {action} {label} on call {call_sid}: {e}"
            ) from None

    def _end(self, call_sid: str) -> None:
        """Hang the caller up; a call that has ended already is left as it is (its own end
        and the agent's crossed: the agent's leg reports leaving as the caller's ends)."""
        try:
            self.client.calls(call_sid).update(status="completed")
        except TwilioRestException as e:
            if e.status != 404:
                raise

    def address(self, label: str) -> str:
        """Where a participant is dialled: an agent's phone or SIP address if set, else
        their browser; a supervisor's browser; the interpreting service."""
        kind, _, name = label.partition(":")
        if kind == "agent":
            return self.phones.get(name, f"client:{name}")
        if kind == "supervisor":
            return f"client:{supervisor_phone(name)}"
        if label == "interpreter" and self.interpreter:
            return self.interpreter
        if label == "interpreter":
            raise CarrierError(
                "no interpreting service is set (HOTLINE_INTERPRETER_NUMBER: its phone number)"
            )
        raise CarrierError(f"no participant {label!r} can be dialled")

    def _join(self, call_sid: str, label: str, mode: str, coach: str, attempt: int) -> None:
        """Dial the participant into the conference (by its name: the carrier makes it if
        the caller is not in it yet); an agent's connect reports to the connect's URL. A
        browser phone is told which call the leg is for (the custom parameter `call`), so
        that it answers only the calls its person expects."""
        status_url = (
            self.webhooks.agent_leg(call_sid, attempt) if attempt
            else self.webhooks.leg(call_sid, label)
        )  # fmt: skip
        to = self.address(label)
        if to.startswith("client:"):
            to = f"{to}?{urlencode({'call': call_sid})}"
        self.client.conferences(call_sid).participants.create(
            from_=self.caller_id, to=to, label=label,
            status_callback=status_url, status_callback_method="POST",
            status_callback_event=["answered", "completed"], end_conference_on_exit=False,
            beep="false", **self._mode(call_sid, mode, coach),
        )  # fmt: skip

    def _mode(self, call_sid: str, mode: str, coach: str) -> dict[str, object]:
        """A participant's flags for `mode`: listen (muted), whisper (coaching `coach`: it
        alone hears them) or talk."""
        if mode == "whisper":
            conference = self.client.conferences(self._conference(call_sid))
            coached = conference.participants(coach).fetch().call_sid
            return {"muted": False, "coaching": True, "call_sid_to_coach": coached}
        if mode == "listen":
            return {"muted": True, "coaching": False}
        return {"muted": False, "coaching": False}

    def _conference(self, call_sid: str) -> str:
        """The sid of the call's conference going on (the carrier names it by its sid)."""
        found = self.client.conferences.list(friendly_name=call_sid, status="in-progress", limit=1)
        if not found:
            raise CarrierError(f"call {call_sid} has no conference going on")
        return str(found[0].sid)

    def hang_up(self, call_sid: str) -> None:
        self._update(call_sid, status="completed")

    def cancel(self, call_sid: str) -> None:
        self._update(call_sid, status="canceled")  # (the carrier leaves a call in progress)

    def end_call(self, call_sid: str) -> None:
        self._update(call_sid, twiml=message_twiml(NOT_KEPT))

    def dial_back(self, call_sid: str, to: str, caller_id: str, status_url: str) -> str:
        twiml = conference_twiml(call_sid, done_url=None)
        try:
            placed = self.client.calls.create(
                to=to, from_=caller_id, twiml=twiml, status_callback=status_url,
                status_callback_event=["answered", "completed"], status_callback_method="POST",
            )  # fmt: skip
        except TwilioException as e:
            raise CarrierError(f"the carrier refused to call {to} back: {e}") from None
        return str(placed.sid)

    def status(self, call_sid: str) -> str | None:
        try:
            return str(self.client.calls(call_sid).fetch().status)
        except TwilioRestException as e:
            if e.status == 404:
                return None
            raise CarrierError(
                f"the carrier could not tell the status of {call_sid}: {e}"
            ) from None
        except TwilioException as e:
            raise CarrierError(
                f"the carrier could not tell the status of {call_sid}: {e}"
            ) from None

    def _update(self, call_sid: str, **fields: str) -> None:
        try:
            self.client.calls(call_sid).update(**fields)
        except TwilioRestException as e:
            gone = (e.status, e.code) == (404, NOT_FOUND) or e.code == NOT_IN_PROGRESS
            kind = CallGone if gone else CarrierError
            raise kind(f"the carrier refused to update call {call_sid}: {e}") from None
        except TwilioException as e:
            raise CarrierError(f"the carrier refused to update call {call_sid}: {e}") from None
