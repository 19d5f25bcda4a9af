"""The agents' sockets with and without permessage-deflate: the server's CPU per message
and its memory per socket, in the same run.

`hotline serve` declines compression on websockets (`web.app.SERVING`); uvicorn's default
accepts it, as every browser offers it. Workload: a uvicorn server in a child process (as
`hotline serve` runs it, the option aside) with one websocket route that sends each client
`--messages` JSON messages shaped like an agent's offer (about 480 bytes, the fields and
sizes of the desktop's), 20 ms apart per socket, once its client says go; `--sockets`
clients (websockets, offering compression as a browser does) in this process, connected
first, then all saying go and reading. A server runs with compression accepted (uvicorn's
default: the baseline) and one declined, `--pairs` times, in alternating order. Measured
from /proc: the server process's CPU from the go to the last message read, divided by the
messages sent, and its resident memory once every message is read against before the first
connect, divided by the sockets (a socket's compressor is made at the handshake, its pages
become resident as they are used). The figures are those of uvicorn's websockets-sansio
implementation (what uvicorn 0.54 picks: a window of 2^12 bytes, zlib's memLevel 5); its
older `websockets` one would make each compressor several times larger.

    python bench/bench_sockets.py [--sockets 1000] [--messages 20] [--pairs 3]

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
import statistics
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
    rest = await asyncio.gather(*(_read(c, messages - 1) for c in clients))
    spent = cpu(pid) - cpu0
    per_socket = (rss_kib(pid) - before) / sockets
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
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    began = time.monotonic()
    cpu_ratios, memory_ratios = [], []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        runs = {d: asyncio.run(one_run(d, args.sockets, args.messages)) for d in order}
        for d, r in runs.items():
            name = "accepted (uvicorn's default)" if d else "declined (hotline serve)"
            print(f"pair {pair + 1}, compression {name}: negotiated "
                  f"{r['negotiated'] or 'nothing'}; {r['sent']:,} messages, server CPU "
                  f"{r['cpu_ms']:.3f} ms a message; memory {r['kib']:.1f} KiB a "
                  "socket")  # fmt: skip
        cpu_ratios.append(runs[True]["cpu_ms"] / runs[False]["cpu_ms"])
        memory_ratios.append(runs[True]["kib"] / runs[False]["kib"])
    print(f"ratio accepted/declined, median of {args.pairs} pairs: CPU a message "
          f"{statistics.median(cpu_ratios):.2f}x ({', '.join(f'{r:.2f}' for r in cpu_ratios)}), "
          f"memory a socket {statistics.median(memory_ratios):.2f}x  ({args.sockets:,} "
          f"sockets, {time.monotonic() - began:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
