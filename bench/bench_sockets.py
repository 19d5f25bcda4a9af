"""The agents' sockets with and without permessage-deflate: the server's CPU per message
and its memory per socket, in the same run.

`hotline serve` declines compression on websockets (`web.app.SERVING`); uvicorn's default
accepts it, as every browser offers it. Workload: a uvicorn server in a child process (as
`hotline serve` runs it, the option aside) with one websocket route that sends each client
`--messages` JSON messages shaped like an agent's offer (about 480 bytes, the fields and
sizes of the desktop's), 20 ms apart per socket, once its client says go; `--sockets`
clients (websockets, offering compression as a browser does) in this process, connected
first, then all saying go and reading. Each
server runs once with compression accepted (uvicorn's default: the baseline) and once
declined. Measured from /proc: the server process's CPU over the sending phase divided by
the messages sent, and its resident memory once every socket is open and has been sent one
message (a compressor allocates its window on first use) against before the first connect,
divided by the sockets.

    python bench/bench_sockets.py [--sockets 1000] [--messages 20]

What would make these figures misleading: the messages are made up, not Hotline's own
(the same dictionary-friendly JSON, so a compressor does as well as on the real ones);
the clients share this 2-core machine with the server, and a host taking CPU (steal) slows
both servers alike but not within one run's two halves equally: run it twice. Memory per
socket includes everything a socket costs the server (its task, buffers, the protocol
objects), the same in both runs but for the compressor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from hotline.service.demo import free_ports
from hotline.web.app import SERVING

TICK = os.sysconf("SC_CLK_TCK")
OFFER = {  # (the shape of an offer on an agent's socket: web.runtime._dispatch)
    "type": "offer", "call_sid": "CA" + "7" * 32, "agent_id": "es-day-17", "queue": "es",
    "language": "es", "priority": 2, "waited": 41.5, "timeout": 20.0, "attempt": 1,
    "caller": "+12025550143", "verified": False, "agency": None, "case": None,
    "flow": {"language": "es", "reason": "information", "callback": False},
    "note": "Llamante pide información sobre el estado de su solicitud.",
    "summary": {"calls_today": 14, "talk_seconds": 3920, "average": 280.0},
}  # fmt: skip


def _server(port: int, deflate: bool, messages: int, pipe: Any) -> None:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # (all sockets open: the client says go)
        for i in range(messages):
            await ws.send_json({**OFFER, "attempt": i + 1})
            await asyncio.sleep(0.02)
        await ws.receive()  # (until the client leaves)

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    options = {**SERVING, "log_level": "critical", "ws_per_message_deflate": deflate}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    pipe.send("ready")
    server.run()


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def one_run(deflate: bool, sockets: int, messages: int) -> dict[str, Any]:
    (port,) = free_ports(1)
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_server, args=(port, deflate, messages, theirs), daemon=True
    )
    child.start()
    assert ours.recv() == "ready"
    pid = child.pid
    assert pid is not None
    while True:  # (until it listens)
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    before = rss_kib(pid)
    clients = []
    for _ in range(sockets):  # (one at a time: the server's backlog is not the question)
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", compression="deflate",
                                      ping_interval=None, max_queue=None)  # fmt: skip
        clients.append(ws)
    answer = clients[0].response
    assert answer is not None  # (the handshake's)
    negotiated = answer.headers.get("Sec-WebSocket-Extensions")
    cpu0 = cpu(pid)
    await asyncio.gather(*(c.send("go") for c in clients))
    first = await asyncio.gather(*(c.recv() for c in clients))
    per_socket = (rss_kib(pid) - before) / sockets
    rest = await asyncio.gather(*(_read(c, messages - 1) for c in clients))
    spent = cpu(pid) - cpu0
    sent = len(first) + sum(rest)
    assert all(json.loads(m)["type"] == "offer" for m in first)
    for c in clients:
        await c.close()
    child.terminate()
    child.join(10)
    return {"negotiated": negotiated, "cpu_ms": spent / sent * 1000, "kib": per_socket,
            "sent": sent}  # fmt: skip


async def _read(ws: Any, count: int) -> int:
    for _ in range(count):
        await ws.recv()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    began = time.monotonic()
    runs = {d: asyncio.run(one_run(d, args.sockets, args.messages)) for d in (True, False)}
    for d, r in runs.items():
        name = "accepted (uvicorn's default)" if d else "declined (hotline serve)"
        print(f"compression {name}: negotiated {r['negotiated'] or 'nothing'}; "
              f"{r['sent']:,} messages, server CPU {r['cpu_ms']:.3f} ms a message; "
              f"memory {r['kib']:.1f} KiB a socket")  # fmt: skip
    on, off = runs[True], runs[False]
    print(f"ratio accepted/declined: CPU a message {on['cpu_ms'] / off['cpu_ms']:.2f}x, memory "
          f"a socket {on['kib'] / off['kib']:.2f}x  ({args.sockets:,} sockets, "
          f"{time.monotonic() - began:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
