"""`hotline serve` and the CLI as an operator meets them on a bad day (issue 9): blank
secrets, bodies that never end, passwords in database URLs, wrong settings, a carrier or a
database that does not answer, agents' sockets that are revoked or go away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets

from hotline.web.app import SERVING

from .live_fixtures import (  # noqa: F401
    LINE,
    SECRET_KEY,
    Live,
    call_form,
    gather_url,
    keep_english,
    pg_url,
    sqlite_url,
)
from .test_cli import ROOT
from .test_serve import free_port

PASSWORD = "S3cretPw9"
TOKEN = "serve-hardening-token"


def hotline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | env
    return subprocess.run(
        [sys.executable, "-c", "from hotline.cli import main; main()", *args],
        capture_output=True, text=True, cwd=ROOT, env=full, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


class Served:
    def __init__(self, proc: subprocess.Popen[str], base: str) -> None:
        self.proc, self.base = proc, base
        self.stderr = ""  # all it logged, once it stopped

    def peak_memory_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


@contextlib.contextmanager
def serving(env: dict[str, str], *, deadline: float = 60) -> Iterator[Served]:
    """`hotline serve` on a free port, once its /healthz answers 200."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    # (the key is the Live lines': a test serves a store a Live line wrote)
    full |= {"HOTLINE_TWILIO_AUTH_TOKEN": TOKEN, "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
             "HOTLINE_SECRET_KEY": SECRET_KEY}  # fmt: skip
    full |= env
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hotline.cli import main; main()", "serve", "--port",
         str(port)],
        cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    served = Served(proc, base)
    try:
        until = time.monotonic() + deadline
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < until, "the server did not come up"
            time.sleep(0.2)
        yield served
    finally:
        proc.terminate()
        try:
            served.stderr = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


# -- 1. a blank secret


@pytest.mark.parametrize("blank", ["", "   "])
def test_serve_refuses_a_blank_auth_token(blank, tmp_path):
    p = hotline(
        "serve",
        env={"HOTLINE_TWILIO_AUTH_TOKEN": blank,
             "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"},
    )  # fmt: skip
    assert p.returncode == 2
    assert "HOTLINE_TWILIO_AUTH_TOKEN is empty" in p.stderr
    assert not (tmp_path / "x.sqlite3").exists()  # refused before anything was touched


# -- 2. bodies cut off as they stream in


def stream_body(base: str, headers: str, limit: int) -> str:
    """Send `headers`, then body bytes until the server answers or `limit` bytes went;
    returns the status line."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(headers.encode())
        chunk = b"a=" + b"x" * 65_534
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if "chunked" in headers else chunk
        sent = 0
        s.setblocking(False)
        answer = b""
        while sent < limit:
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(4096)
            if answer:
                break
            try:
                sent += s.send(framed[: limit - sent])
            except BlockingIOError:
                time.sleep(0.001)  # the server is not reading: its answer is on the way
            except (BrokenPipeError, ConnectionResetError):
                break
        s.setblocking(True)
        s.settimeout(30)  # longer than the server gives a slow body
        with contextlib.suppress(OSError):
            while b"\r\n" not in answer:
                more = s.recv(4096)
                if not more:
                    break
                answer += more
    return answer.split(b"\r\n", 1)[0].decode()


def test_endless_bodies_are_cut_off_at_64_kib_and_memory_stays_flat(tmp_path):
    with serving({"HOTLINE_DATABASE_URL": sqlite_url(tmp_path)}) as server:
        before = server.peak_memory_kib()
        requests = {
            "chunked": "POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            "false length": "POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 60000\r\n\r\n",
        }
        for _ in range(3):
            status = stream_body(server.base, requests["chunked"], limit=32 * 2**20)
            assert status == "HTTP/1.1 413 Request Entity Too Large", status
        # a length under the limit, then far more: only the declared bytes are read
        status = stream_body(server.base, requests["false length"], limit=8 * 2**20)
        assert status.startswith("HTTP/1.1 4"), status
        grown = server.peak_memory_kib() - before
        assert grown < 16 * 1024, f"the server's peak memory grew by {grown} KiB"
        # a body that trickles in is given up on, and its connection freed
        slow = (
            "POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        )
        assert stream_body(server.base, slow, limit=10).startswith("HTTP/1.1 408"), "slow"
        declared = (
            "POST /voice/incoming HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9999999\r\n\r\n"
        )
        assert stream_body(server.base, declared, limit=1).startswith("HTTP/1.1 413")


# -- 3. no secret in any output


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (f"postgresql://hotline:{PASSWORD}@127.0.0.1:1/hotline", 1),  # nobody listens there
        (f"postgresql://hotline:{PASSWORD}@[::1/hotline", 1),  # malformed
        (f"postgresql://hotline:{PASSWORD}@127.0.0.1:notaport/hotline", 1),
        (f"postgresql://hotline:{PASSWORD}/127.0.0.1:1/hotline", 1),  # no @ at all
        (f"postgresql://hotline:Pw9/sec@{PASSWORD}@127.0.0.1:1/hotline", 1),  # @ unescaped
        (f"postgresql://hotline@127.0.0.1:1/hotline?password={PASSWORD}", 1),
        (f"postgresql://hotline:{PASSWORD}%2Fx@127.0.0.1:1/hotline", 1),
        (f"mysql://hotline:{PASSWORD}@127.0.0.1/hotline", 2),  # unsupported
    ],
)
def test_a_database_url_is_never_printed_with_its_password(url, code):
    p = hotline("agent-token", "en-day-1", env={"HOTLINE_DATABASE_URL": url})
    out = p.stdout + p.stderr
    assert p.returncode == code, out
    assert PASSWORD not in out, out
    assert "Traceback" not in out
    assert "bug in Hotline" not in out


def test_serve_declines_compression_on_agents_sockets(tmp_path):
    """A browser offers permessage-deflate; `hotline serve` declines it (web.app.SERVING:
    the messages are small JSON, and each socket's compressor cost memory and CPU)."""
    env = {"HOTLINE_DATABASE_URL": sqlite_url(tmp_path)}
    with serving(env) as server:
        issued = hotline("agent-token", "en-day-1",
                         env={**env, "HOTLINE_SECRET_KEY": SECRET_KEY})  # fmt: skip
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()

        async def negotiated() -> str | None:
            url = server.base.replace("http", "ws", 1) + f"/api/agent/ws?token={token}"
            async with websockets.connect(url, compression="deflate") as ws:
                assert '"hello"' in await ws.recv()
                assert ws.response is not None  # (the handshake's answer)
                return ws.response.headers.get("Sec-WebSocket-Extensions")

        assert asyncio.run(negotiated()) is None


def test_serve_on_postgresql_shows_no_password_at_start_in_health_or_logs(request):
    url = request.getfixturevalue("pg_url").replace("postgres@", f"postgres:{PASSWORD}@")
    with serving({"HOTLINE_DATABASE_URL": url}) as server:
        health = httpx.get(f"{server.base}/healthz").text
        form = call_form("CA1", From="+12025550143", To=LINE)
        httpx.post(f"{server.base}/voice/incoming", data=form)  # refused, and logged
    assert PASSWORD not in health
    assert PASSWORD not in server.stderr
    # 12. every log line has a time and a level
    logged = [ln for ln in server.stderr.splitlines() if "refused a webhook" in ln]
    assert len(logged) == 1
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING hotline\.web: ", logged[0])


# -- 13. configuration mistakes


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOTLINE_CONNECTORS": "{not json"},
         'HOTLINE_CONNECTORS is not valid JSON (fix: write it as a JSON object, e.g. {"name": '),
        ({"HOTLINE_TIMEZONE": "Mars/Olympus_Mons"},
         "HOTLINE_TIMEZONE is not a known time zone; use an IANA name such as America/New_York"),
        ({"HOTLINE_DATABASE_URL": "oracle://x@y/z"},
         "HOTLINE_DATABASE_URL is not a supported database URL (scheme 'oracle'); use sqlite:///"),
        ({"HOTLINE_DATABASE_URL": "sqlite://"},
         "HOTLINE_DATABASE_URL names no database file (an in-memory database would lose"),
        ({"HOTLINE_PUBLIC_URL": "not a url"},
         "HOTLINE_PUBLIC_URL is not an http(s) URL with a host; set it to the address the "),
        ({"HOTLINE_PUBLIC_URL": "https://hook:Hook5ecret@line.example"},
         "HOTLINE_PUBLIC_URL must not carry a user or password; set it to"),
        ({"HOTLINE_TWILIO_API_BASE": "ftp://x"},
         "HOTLINE_TWILIO_API_BASE is not an http(s) URL with a host; set it to the carrier's"),
        ({"HOTLINE_TWILIO_SIGNAL_URL": "ws://127.0.0.1:8443/signal"},
         "HOTLINE_TWILIO_SIGNAL_URL is not a wss://HOST[:PORT]/signal URL (the voice SDK "),
        ({"HOTLINE_TWILIO_SIGNAL_URL": "wss://hook:Hook5ecret@127.0.0.1:8443/signal"},
         "HOTLINE_TWILIO_SIGNAL_URL must not carry a user or password; set it to the carrier"),
    ],
)  # fmt: skip
def test_configuration_mistakes_name_the_setting_and_the_fix_and_exit_2(env, message):
    p = hotline("agent-token", "en-day-1", env=env)
    assert p.returncode == 2, p.stderr
    assert message in " ".join(p.stderr.split())
    assert "Hook5ecret" not in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"},
         "REQUESTS_CA_BUNDLE: no CA certificates could be read from it (No such file or "),
        ({"HTTPS_PROXY": "http://proxy:Hook5ecret@::bad::"},
         "HTTPS_PROXY: not proxy settings the carrier's client can use (fix: a proxy as http://"),
        ({"Https_Proxy": "http://proxy:pa#Hook5ecret@127.0.0.1:3128"},
         "Https_Proxy: not proxy settings the carrier's client can use (fix: a proxy as http://"),
        ({"NO_PROXY": "localhost,fd00::/8"},  # (no proxy set: the client is made all the same)
         "NO_PROXY: not proxy settings the carrier's client can use (fix: a proxy as http://"),
        ({"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "SSL_CERT_FILE": "/nonexistent/ca.pem"},
         "SSL_CERT_FILE: no CA certificates could be read from it (No such file or directory)"),
    ],
)  # fmt: skip
def test_serve_names_a_ca_bundle_or_proxy_it_cannot_use_and_exits_2(env, message, tmp_path):
    """The environment the carrier's client reads (a TLS-inspecting proxy's CA, an egress
    proxy): a mistake there is the operator's, said as one, the proxy's address (it may
    hold a password) never echoed, before the database is touched."""
    db = tmp_path / "x.sqlite3"
    p = hotline("serve", env={**env, "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
                              "HOTLINE_PUBLIC_URL": "http://127.0.0.1:9",
                              "HOTLINE_SECRET_KEY": SECRET_KEY,
                              "HOTLINE_DATABASE_URL": f"sqlite:///{db}"})  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert message in " ".join(p.stderr.split())
    assert "Hook5ecret" not in p.stderr
    assert "Traceback" not in p.stderr
    assert not db.exists()


# -- 10. commands never create an empty database in place of a missing one


def test_agent_token_does_not_create_a_missing_database(tmp_path):
    db = tmp_path / "gone.sqlite3"
    p = hotline("agent-token", "en-day-1", env={"HOTLINE_DATABASE_URL": f"sqlite:///{db}"})
    assert p.returncode == 1
    assert f"no database at {db}" in p.stderr
    assert not db.exists()


def test_the_supervisors_token_opens_the_stats_and_no_agents_route(tmp_path):
    env = {"HOTLINE_DATABASE_URL": sqlite_url(tmp_path)}
    with serving(env) as server:
        p = hotline("agent-token", "--supervisor", env=env)
        assert p.returncode == 0, p.stderr
        bearer = {"Authorization": f"Bearer {p.stdout.strip()}"}
        stats = httpx.get(f"{server.base}/api/stats", headers=bearer)
        assert stats.status_code == 200
        assert stats.json()["lines"]["National hotline (US)"]["today"]["offered"] == 0
        assert httpx.get(f"{server.base}/api/agent/me", headers=bearer).status_code == 403
    both = hotline("agent-token", "en-day-1", "--supervisor", env=env)
    assert both.returncode == 1
    assert "name an agent, or give --supervisor (not both)" in both.stderr


def test_serve_says_when_it_creates_a_new_database(tmp_path):
    with serving({"HOTLINE_DATABASE_URL": sqlite_url(tmp_path)}) as server:
        pass
    assert "created a new database: sqlite:///" in server.stderr


# -- 9. a carrier or a database that does not answer


class _Failing(BaseHTTPRequestHandler):
    garbage = False  # 200 with a page that is not JSON (a captive portal, a wrong URL)

    def do_GET(self) -> None:
        self.send_response(200 if self.garbage else 500)
        self.send_header("Content-Type", "text/html" if self.garbage else "application/json")
        self.end_headers()
        self.wfile.write(
            b"<html>sign in</html>"
            if self.garbage
            else b'{"code": 20500, "message": "internal error", "status": 500}'
        )

    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def carrier_api(kind: str) -> Iterator[str]:
    """A carrier REST API that refuses connections, never answers, answers 500, or
    answers 200 with something that is not JSON."""
    if kind == "refused":
        yield f"http://127.0.0.1:{free_port()}"
        return
    if kind == "silent":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(64)  # accepts (in the backlog) and never answers
            yield f"http://127.0.0.1:{s.getsockname()[1]}"
        return
    handler = type("Handler", (_Failing,), {"garbage": kind == "garbage"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("kind", ["refused", "silent", "error", "garbage"])
def test_serve_starts_when_the_carrier_cannot_tell_and_callers_keep_their_place(tmp_path, kind):
    db = sqlite_url(tmp_path)
    before = Live(db)  # a server that had a caller waiting, then stopped
    sid = "CA" + "1" * 32
    r = before.carrier.post(keep_english(before, sid, "+12025550143"), call_form(sid, Digits="2"))
    before.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))
    row = before.store.call(sid)
    assert row is not None
    assert row.state == "queued"
    token = before.store.issue_token("en-day-1", before.wall())
    with (
        carrier_api(kind) as api,
        serving({"HOTLINE_DATABASE_URL": db, "HOTLINE_TWILIO_API_BASE": api}) as server,
    ):
        agent = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{server.base}/api/agent/login", headers=agent)
        me = httpx.post(f"{server.base}/api/agent/ready", headers=agent).json()
        assert me["call_sid"] == sid  # still in the queue, in its place
    assert "could not tell the status of 1 of 1 calls" in server.stderr


def test_a_database_that_does_not_answer_is_a_clear_error_not_a_hang():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts and never speaks
        url = f"postgresql://hotline@127.0.0.1:{s.getsockname()[1]}/hotline"
        began = time.monotonic()
        p = hotline("agent-token", "en-day-1", env={"HOTLINE_DATABASE_URL": url})
    assert p.returncode == 1
    assert "cannot reach or migrate the database" in p.stderr
    assert "timeout" in p.stderr.lower()
    assert time.monotonic() - began < 60


# -- 4. agents' sockets


@contextlib.contextmanager
def in_thread(live: Live) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            live.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws_per_message_deflate=SERVING["ws_per_message_deflate"],
        )  # (as serve)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < until, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_revoked_token_closes_its_socket_within_a_second(tmp_path):
    live = Live(sqlite_url(tmp_path))
    token = live.store.issue_token("es-day-1", live.wall())

    async def scenario(host: str) -> int | None:
        async with websockets.connect(f"ws://{host}/api/agent/ws?token={token}") as ws:
            assert '"hello"' in await ws.recv()
            live.store.revoke_token("es-day-1")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 1.0)
            return closed.value.rcvd.code if closed.value.rcvd else None

    with in_thread(live) as host:
        assert asyncio.run(scenario(host)) == 4401


def test_sockets_of_clients_that_went_away_are_freed(tmp_path):
    live = Live(sqlite_url(tmp_path))
    tokens = [live.store.issue_token(f"es-day-{i}", live.wall()) for i in (1, 2, 3)]

    async def scenario(host: str) -> list[int]:
        seen = []
        async with httpx.AsyncClient() as http:
            for t in tokens:
                ws = await websockets.connect(f"ws://{host}/api/agent/ws?token={t}")
                await ws.recv()
                ws.transport.abort()  # gone without a goodbye
            for _ in range(200):  # up to 10 s for the handlers to notice
                n = (await http.get(f"http://{host}/healthz")).json()["agent_sockets"]
                seen.append(n)
                if n == 0:
                    break
                await asyncio.sleep(0.05)
        return seen

    with in_thread(live) as host:
        seen = asyncio.run(scenario(host))
    assert seen[-1] == 0, seen
