"""A record system for the HTTP connector's tests: a stdlib HTTP server on 127.0.0.1 (TLS if
given a context) that answers from a script and keeps every request as it arrived."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
BLOCK = "block"  # an answer that waits for the test's `release` event


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # the request target exactly as sent (path and query, still encoded)
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""


def fixture(name: str, status: int = 200) -> Answer:
    return Answer(status, (FIXTURES / name).read_bytes())


class RecordSystem(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.script: list[Answer | str] = []  # answers in turn; then `otherwise`
        self.otherwise: Answer | str = fixture("case_found.json")
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self.blocked = threading.Event()  # a request is waiting on `release`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_answer(self) -> Answer | str:
        return self.script.pop(0) if self.script else self.otherwise

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a refused TLS handshake is what some tests want; they assert on `seen`


class _Handler(BaseHTTPRequestHandler):
    server: RecordSystem

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        answer = self.server.next_answer()
        if answer == BLOCK:
            self.server.blocked.set()
            self.server.release.wait(timeout=60)
            return  # the client gave up long ago: close without an answer
        assert isinstance(answer, Answer)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)


@contextlib.contextmanager
def running(tls: ssl.SSLContext | None = None) -> Iterator[RecordSystem]:
    server = RecordSystem(tls)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
