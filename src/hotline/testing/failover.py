"""A loopback failover front for nodes of one line, as HAProxy with a backup server or a
floating address would be: each new connection goes to the first node that accepts it,
in order. The address the carrier calls (HOTLINE_PUBLIC_URL) is this front's, the same for
every node, so a webhook signed for it is checked alike by whichever node answers."""

from __future__ import annotations

import contextlib
import socket
import threading


class FailoverFront:
    def __init__(self, upstreams: list[tuple[str, int]], *, port: int = 0) -> None:
        if any(host != "127.0.0.1" for host, _ in upstreams):
            raise ValueError("the failover front forwards to loopback addresses only")
        self.upstreams = upstreams
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.connections: dict[int, int] = {}  # upstream port -> connections sent there
        threading.Thread(target=self._accept, name="failover-front", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for s in [self._listener, *self._open]:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._connect()
            if server is None:  # no node accepts: the caller's carrier retries
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        for address in self.upstreams:
            try:
                server = socket.create_connection(address, timeout=2)
            except OSError:
                continue
            server.settimeout(None)
            self.connections[address[1]] = self.connections.get(address[1], 0) + 1
            return server
        return None

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # one side closed: the other end sees it below
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                for s in (src, dst):
                    self._open.discard(s)
                    with contextlib.suppress(OSError):
                        s.close()
