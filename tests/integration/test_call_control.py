"""The call-control adapter talks to a carrier's REST API through the official client, at a
configurable base URL: here a small HTTP server on loopback stands in for the carrier."""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs

import pytest
import uvicorn

from hotline.telephony.carrier_http import IDLE_FOR
from hotline.telephony.control import NOT_KEPT, CallGone, CarrierError, TwilioCallControl

SID = "AC" + "0" * 32


PLACED = "CA" + "5" * 32  # the sid of a call the carrier places


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
        placed = self.path.endswith("/Calls.json")  # (a new call: its own sid)
        payload = (
            {"sid": PLACED if placed else "CA1", "status": "queued" if placed else "in-progress"}
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


def test_a_call_not_kept_ends_with_words_that_say_so(carrier):
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=carrier, public_url="http://127.0.0.1:8000"
    )
    control.end_call("CA1")
    ((path, _, form),) = _Carrier.seen
    assert path == f"/2010-04-01/Accounts/{SID}/Calls/CA1.json"
    assert form["Twiml"] == [
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US" '
        f'voice="Polly.Joanna">{NOT_KEPT}</Say><Hangup /></Response>'
    ]


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
    assert control.dial_back("CA1", "+12025550143", "+18005550100", status) == PLACED
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


class _KeepingCarrier:
    """A carrier's API that keeps a connection open between requests while it is idle for
    at most `limit` seconds. A request that comes on a connection idle for longer meets
    its close (a reset, no answer): as one does that a client sends on a connection at
    the moment the carrier closes it (which is what this race looks like to the client)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.connections = 0
        self.reset = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:  # (closed)
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        stream = conn.makefile("rb")
        answered = time.monotonic()
        with conn:
            while stream.readline() not in (b"", b"\r\n"):  # (a request line)
                headers = []
                while (header := stream.readline()) not in (b"", b"\r\n"):
                    headers.append(header)
                length = next((int(h.split(b":")[1]) for h in headers
                               if h.lower().startswith(b"content-length:")), 0)  # fmt: skip
                stream.read(length)
                if time.monotonic() - answered > self.limit:  # closed as it came: a reset
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.reset += 1
                    return
                body = json.dumps({"sid": "CA1", "status": "completed"}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
                answered = time.monotonic()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def keeping() -> Iterator[_KeepingCarrier]:
    server = _KeepingCarrier(limit=IDLE_FOR + 0.25)  # (the carrier's limit, just above ours)
    yield server
    server.close()


def test_a_connection_idle_near_the_carriers_limit_is_not_used_again(keeping):
    """Twilio's client kept idle connections for ever: a request sent on one as the carrier
    closed it was reset, and a connect taken for refused (its caller requeued, its agent
    offered the call for nothing). Connections are used again while they are fresh, and
    closed by us after IDLE_FOR seconds idle, before the carrier closes them."""
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=keeping.url,
        public_url="http://127.0.0.1:8000",
    )  # fmt: skip
    # (the emulator's carrier closes connections idle for uvicorn's keep-alive: ours go first)
    assert uvicorn.Config(app=keeping).timeout_keep_alive > IDLE_FOR
    control.hang_up("CA1")
    control.hang_up("CA2")  # (at once: on the same connection)
    assert keeping.connections == 1
    time.sleep(IDLE_FOR + 0.5)  # (the idle time is what is tested: past ours and the carrier's)
    control.hang_up("CA3")
    assert (keeping.connections, keeping.reset) == (2, 0)


def test_a_carrier_that_cannot_be_reached_is_our_error_not_a_crash():
    with socket.create_server(("127.0.0.1", 0)) as taken:  # (a port nobody answers on)
        port = taken.getsockname()[1]
    control = TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=f"http://127.0.0.1:{port}",
        public_url="http://127.0.0.1:8000",
    )  # fmt: skip
    with pytest.raises(
        CarrierError, match=r"refused to update call CA1: the carrier did not answer \(ConnectError"
    ):
        control.hang_up("CA1")
