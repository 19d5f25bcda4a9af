"""The call-control adapter talks to a carrier's REST API through the official client, at a
configurable base URL: here a small HTTP server on loopback stands in for the carrier."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

from hotline.telephony.control import CallGone, CarrierError, TwilioCallControl

SID = "AC" + "0" * 32


class _Carrier(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, list[str]]]]] = []
    status = 200
    code: int | None = 20404  # Twilio's error code when status is not 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        _Carrier.seen.append((self.path, self.headers["Authorization"], parse_qs(body)))
        self.send_response(_Carrier.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        payload = (
            {"sid": "CA1", "status": "in-progress"}
            if _Carrier.status == 200
            else {"code": _Carrier.code, "message": "refused", "status": _Carrier.status}
        )
        self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def carrier():
    _Carrier.seen, _Carrier.status, _Carrier.code = [], 200, 20404
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Carrier)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_connect_puts_the_caller_in_a_conference_and_dials_the_agent_into_it(carrier):
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000",
        caller_id="+18005550100", phones={"es-day-2": "sip:es2@pbx.example.org"},
    )  # fmt: skip
    control.connect("CA1", "es-day-1")
    ((path, auth, form), (joined, _, participant)) = _Carrier.seen
    assert path == f"/2010-04-01/Accounts/{SID}/Calls/CA1.json"
    assert auth == "Basic " + base64.b64encode(f"{SID}:tok".encode()).decode()
    twiml = form["Twiml"][0]
    assert 'participantLabel="caller"' in twiml
    assert ">CA1</Conference>" in twiml
    assert 'endConferenceOnExit="true"' in twiml
    assert 'action="http://127.0.0.1:8000/voice/dial-done?sid=CA1&amp;a=1"' in twiml
    # the agent is dialled into the conference (by its name); their leg reports its answer,
    # so a restart knows the caller talked to someone
    assert joined == f"/2010-04-01/Accounts/{SID}/Conferences/CA1/Participants.json"
    assert participant["To"] == ["client:es-day-1?call=CA1"]  # (the browser phone's parameter)
    assert participant["From"] == ["+18005550100"]
    assert participant["Label"] == ["agent:es-day-1"]
    assert participant["StatusCallback"] == ["http://127.0.0.1:8000/voice/agent-leg?sid=CA1&a=1"]
    assert participant["StatusCallbackEvent"] == ["answered", "completed"]
    assert (participant["Muted"], participant["Coaching"]) == (["false"], ["false"])
    _Carrier.seen.clear()
    control.connect("CA2", "es-day-2", attempt=2)  # an agent with a SIP phone
    assert _Carrier.seen[1][2]["To"] == ["sip:es2@pbx.example.org"]


def test_the_interpreter_is_refused_clearly_when_no_service_is_set(carrier):
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    with pytest.raises(CarrierError, match="HOTLINE_INTERPRETER_NUMBER"):
        control.leg("CA1", "interpreter", "join")
    assert _Carrier.seen == []


def test_a_carrier_refusal_is_our_error_not_a_crash(carrier):
    _Carrier.status = 404
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    with pytest.raises(CarrierError, match="refused to update call CA1"):
        control.hang_up("CA1")


@pytest.mark.parametrize(("status", "code"), [(404, 20404), (400, 21220)])
def test_a_connect_to_a_call_that_ended_says_the_caller_is_gone(carrier, status, code):
    """404 (no such call) or Twilio's 21220 (the call is not in progress): the caller hung
    up as their agent accepted; the line ends the call rather than offer it again."""
    _Carrier.status, _Carrier.code = status, code
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    with pytest.raises(CallGone, match="refused to update call CA1"):
        control.connect("CA1", "es-day-1")


@pytest.mark.parametrize(("status", "code"), [(400, 21201), (404, None)])
def test_any_other_refusal_of_a_connect_is_not_taken_for_a_caller_gone(carrier, status, code):
    """Another of Twilio's refusals, or a 404 without Twilio's code (a wrong API address, a
    proxy: taken for 'gone', every call would end as abandoned)."""
    _Carrier.status, _Carrier.code = status, code
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    with pytest.raises(CarrierError) as refused:
        control.connect("CA1", "es-day-1")
    assert not isinstance(refused.value, CallGone)


def test_dial_back_calls_the_caller_into_the_calls_conference(carrier):
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    status = "http://127.0.0.1:8000/voice/status?call=CA1"
    control.dial_back("CA1", "+12025550143", "+18005550100", status)
    ((path, _auth, form),) = _Carrier.seen
    assert path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert form["To"] == ["+12025550143"]
    assert form["From"] == ["+18005550100"]
    assert form["StatusCallback"] == [status]
    assert form["StatusCallbackEvent"] == ["answered", "completed"]  # (answered: bridged)
    twiml = form["Twiml"][0]
    assert '<Conference beep="false" endConferenceOnExit="true"' in twiml
    assert 'participantLabel="caller"' in twiml
    assert ">CA1</Conference>" in twiml
    assert "action=" not in twiml  # (their call ends with the conference)
