"""The carrier's HTTP client (`CarrierHttp`, on httpx) does what Twilio's own (on requests)
did where a deployment relies on it: an address it cannot use is a CarrierError, a CA
bundle named for requests is trusted, a query parameter that is None is left out, and
parameters join the URL's own query; and a node's groups sharing one client never wait for
a connection of its."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from hotline.service.recovery import WORKERS
from hotline.telephony.carrier_http import RETRIES, CarrierHttp
from hotline.telephony.control import CarrierError, TwilioCallControl
from hotline.web.runtime import CARRIER_THREADS

SID = "AC" + "0" * 32


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

    def _any(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Answer.seen.append(self.path)
        body = json.dumps({"sid": "CA1", "status": "completed"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, int]:
    _Answer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _control(api_base: str) -> TwilioCallControl:
    return TwilioCallControl(
        account_sid=SID, auth_token="tok", api_base=api_base, public_url="http://127.0.0.1:8000"
    )


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        return int(taken.getsockname()[1])


def test_an_api_address_the_client_cannot_parse_is_a_carrier_error():
    """requests' InvalidURL was a RequestException (a CarrierError); httpx's InvalidURL is
    not an httpx.HTTPError and escaped CarrierHttp."""
    with pytest.raises(CarrierError, match="no request can go to that address"):
        _control("http://[::1").hang_up("CA1")


def test_a_host_name_idna_refuses_is_a_carrier_error():
    """httpx raises the idna package's IDNAError (a ValueError, not an httpx error)."""
    with pytest.raises(CarrierError, match="no request can go to that address"):
        _control("http://xn--zz-.com").hang_up("CA1")


def test_a_sid_the_client_cannot_put_in_a_url_is_a_carrier_error():
    with pytest.raises(CarrierError, match="no request can go to that address"):
        _control(f"http://127.0.0.1:{_free_port()}").hang_up("CA\x7f1")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:  # (a certificate for 127.0.0.1)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def test_a_ca_bundle_set_for_requests_is_still_trusted(monkeypatch, tmp_path):
    """REQUESTS_CA_BUNDLE (a TLS-inspecting egress proxy's CA, a carrier emulator's) was
    honoured by Twilio's client; httpx reads only SSL_CERT_FILE/SSL_CERT_DIR."""
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    server, port = _serve(tls)
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
        _control(f"https://127.0.0.1:{port}").hang_up("CA1")
        assert _Answer.seen == [f"/2010-04-01/Accounts/{SID}/Calls/CA1.json"]
    finally:
        server.shutdown()


def test_query_parameters_that_are_none_are_left_out_as_requests_did():
    server, port = _serve()
    try:
        CarrierHttp(timeout=5).request(
            "GET", f"http://127.0.0.1:{port}/x.json", params={"A": None, "B": "b"}
        )
        assert _Answer.seen == ["/x.json?B=b"]
    finally:
        server.shutdown()


def test_query_parameters_join_the_urls_own_as_requests_did():
    """httpx, given `params`, drops the URL's own query (requests added to it): a next
    page's URL with its token, asked with a page size, kept neither the token nor, when
    every parameter was None, anything at all."""
    server, port = _serve()
    try:
        client = CarrierHttp(timeout=5)
        page = f"http://127.0.0.1:{port}/x.json?PageToken=PT1"
        client.request("GET", page, params={"PageSize": "50"})
        client.request("GET", page, params={"A": None})
        assert _Answer.seen == ["/x.json?PageToken=PT1&PageSize=50", "/x.json?PageToken=PT1"]
    finally:
        server.shutdown()


class _Together(BaseHTTPRequestHandler):
    """Answers only once `at_once` requests are under way together (200), or 503 if they
    never are within `WITHIN` seconds."""

    protocol_version = "HTTP/1.1"
    together: ClassVar[threading.Barrier]
    WITHIN = 20.0

    def do_GET(self) -> None:
        try:
            _Together.together.wait(timeout=self.WITHIN)
            status = 200
        except threading.BrokenBarrierError:
            status = 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Backlogged(ThreadingHTTPServer):
    request_queue_size = 256  # (socketserver's 5 would have connects retried, slowly)
    daemon_threads = True


def test_a_node_taking_a_fourth_group_over_with_three_groups_busy_waits_for_no_connection():
    """One node's groups share the carrier's client. Three groups' carrier threads busy and
    a fourth group's takeover asking the carrier about its calls make 128 requests at once:
    each gets a connection at once (httpx's default cap, 100, held 28 of them back until
    some answered, and here none would: the carrier answers when all are under way)."""
    at_once = 3 * CARRIER_THREADS + WORKERS
    _Together.together = threading.Barrier(at_once)
    server = _Backlogged(("127.0.0.1", 0), _Together)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = CarrierHttp(timeout=_Together.WITHIN + 10)
    url = f"http://127.0.0.1:{server.server_address[1]}/Calls/CA1.json"
    try:
        with ThreadPoolExecutor(max_workers=at_once) as threads:
            statuses = list(threads.map(lambda _: client.request("GET", url).status_code,
                                        range(at_once)))  # fmt: skip
        assert statuses == [200] * at_once
    finally:
        client.close()
        server.shutdown()
        server.server_close()


class _Busy(BaseHTTPRequestHandler):
    """Refuses the first `refusals` requests as too many at once (429, Twilio's 20429),
    then answers (a call's JSON)."""

    protocol_version = "HTTP/1.1"
    refusals: ClassVar[int] = 0
    retry_after: ClassVar[str | None] = None
    seen: ClassVar[list[str]] = []

    def _any(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Busy.seen.append(self.command)
        if len(_Busy.seen) <= _Busy.refusals:
            status, body = 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
        else:
            status, body = 200, {"sid": "CA1", "status": "in-progress"}
        raw = json.dumps(body).encode()
        self.send_response(status)
        if status == 429 and _Busy.retry_after is not None:
            self.send_header("Retry-After", _Busy.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _any

    def log_message(self, *args: object) -> None:
        pass


def _busy(refusals: int, retry_after: str | None = None) -> tuple[ThreadingHTTPServer, str]:
    _Busy.refusals, _Busy.retry_after, _Busy.seen = refusals, retry_after, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("retry_after", [None, "0.05", "soon"])
def test_a_request_refused_as_one_too_many_at_once_goes_again_until_taken(retry_after):
    """A carrier's account limit on requests under way: 429, nothing done. The request
    (a connect's update of the call, a POST) is sent again, and its answer is the one the
    carrier took (a Retry-After in seconds is waited for; one not in seconds is not)."""
    server, base = _busy(refusals=3, retry_after=retry_after)
    try:
        control = TwilioCallControl(account_sid=SID, auth_token="tok", api_base=base,
                                    public_url="http://127.0.0.1:8000")  # fmt: skip
        control.client.http_client.backoff = 0.01
        control.park("CA1", 1)  # (raises a CarrierError unless it was taken in the end)
        assert _Busy.seen == ["POST"] * 4
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_still_refused_after_every_retry_is_a_carrier_error():
    server, base = _busy(refusals=100)
    try:
        control = TwilioCallControl(account_sid=SID, auth_token="tok", api_base=base,
                                    public_url="http://127.0.0.1:8000")  # fmt: skip
        control.client.http_client.backoff = 0.01
        with pytest.raises(CarrierError, match="Too Many Requests"):
            control.status("CA1")
        assert _Busy.seen == ["GET"] * (1 + RETRIES)
    finally:
        server.shutdown()
        server.server_close()
