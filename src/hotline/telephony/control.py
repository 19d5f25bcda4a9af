"""The call-control port, and its adapter for Twilio-compatible carriers' REST API.

`connect` redirects a live call to new TwiML that dials the agent. The API base URL is a
setting, so the same code talks to Twilio, to another carrier speaking its dialect, or to
the carrier emulator."""

from __future__ import annotations

from typing import Protocol

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hotline.errors import HotlineError
from hotline.telephony.twiml import connect_twiml
from hotline.telephony.webhooks import Webhooks


class CarrierError(HotlineError):
    error_id = "carrier-error"


class CallControl(Protocol):
    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        """Bridge the call to the agent; `attempt` numbers the connects of this call."""
        ...

    def hang_up(self, call_sid: str) -> None: ...

    def dial_back(self, to: str, caller_id: str, agent_id: str, status_url: str) -> None: ...

    def status(self, call_sid: str) -> str | None:
        """The carrier's status of a call (queued, ringing, in-progress, completed, ...);
        None if the carrier does not know it."""
        ...


class TwilioCallControl:
    def __init__(
        self, *, account_sid: str, auth_token: str, api_base: str, public_url: str
    ) -> None:
        # a carrier that does not answer must not hold a request for ever
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=10))
        self.client.api.base_url = api_base.rstrip("/")
        self.webhooks = Webhooks(public_url)

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        twiml = connect_twiml(
            agent_id,
            done_url=self.webhooks.dial_done(call_sid, attempt),
            answered_url=self.webhooks.agent_leg(call_sid, attempt),
        )
        self._update(call_sid, twiml=twiml)

    def hang_up(self, call_sid: str) -> None:
        self._update(call_sid, status="completed")

    def dial_back(self, to: str, caller_id: str, agent_id: str, status_url: str) -> None:
        """An outbound call to a caller who took a callback, bridged to their agent."""
        twiml = connect_twiml(agent_id, done_url=None)
        try:
            self.client.calls.create(
                to=to, from_=caller_id, twiml=twiml, status_callback=status_url,
                status_callback_event=["completed"],
            )  # fmt: skip
        except (TwilioException, RequestException) as e:
            raise CarrierError(f"the carrier refused to call {to} back: {e}") from None

    def status(self, call_sid: str) -> str | None:
        try:
            return str(self.client.calls(call_sid).fetch().status)
        except TwilioRestException as e:
            if e.status == 404:
                return None
            raise CarrierError(
                f"the carrier could not tell the status of {call_sid}: {e}"
            ) from None
        except (TwilioException, RequestException) as e:
            raise CarrierError(
                f"the carrier could not tell the status of {call_sid}: {e}"
            ) from None

    def _update(self, call_sid: str, **fields: str) -> None:
        try:
            self.client.calls(call_sid).update(**fields)
        except (TwilioException, RequestException) as e:
            raise CarrierError(f"the carrier refused to update call {call_sid}: {e}") from None
