"""The live line under load: the national scenario at 100x its peak-hour call rate.

Hotline (`hotline serve`'s app, SQLite in WAL with synchronous=FULL) and the carrier
emulator run on loopback in one process, with a bot for every agent on shift at the
busiest hour (11:00). Everything runs `--speed` times faster, so calls arrive 100x as
often as at the real peak while the staffing ratio is the scenario's own. Measured from
the carrier's side: webhook latency (p50, p99), calls lost, CPU per call; and from the
store's side, its write transactions against the units of work (a webhook, an agent's
request or a timer tick that changed something): each unit lands whole in exactly one
transaction, several waiting units share one (the writer's group commit). The baseline,
measured in the same process afterwards: a bare FastAPI endpoint that returns a fixed
TwiML document, driven by the same client at the same request rate.

    python bench/bench_live.py [--minutes 5] [--speed 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from sqlalchemy import Connection, event
from twilio.twiml.voice_response import VoiceResponse

from hotline.service.demo import Demo, _Server, free_ports
from hotline.service.unit_of_work import SaveReply, Write

FINAL = {"completed", "abandoned", "overflowed"}


def quantiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=100)
    return q[49] * 1000, q[98] * 1000


async def live(minutes: float, speed: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Demo(
            database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", speed=speed, hour=11, seed=7
        )
        await d.start()
        transactions, units, saved = _count_transactions(d)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await d.traffic(calls=None, seconds=minutes * 60)
        await d.finish(drain_seconds=600)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        inbound = [c for c in d.carrier.calls.values() if c.script.answers]
        lost = sum(1 for c in inbound if not c.ended or c.outcome in ("failed", "bad-twiml"))
        unrecorded = 0
        for c in inbound:
            row = d.line.store.call(c.sid)
            unrecorded += row is None or row.state not in FINAL
        p50, p99 = quantiles(d.carrier.latencies)
        return {
            "transactions": transactions[0],
            "units": units[0],
            "replies_saved": saved[0],
            "calls": len(inbound),
            "webhooks": len(d.carrier.latencies),
            "rate": len(d.carrier.latencies) / wall,
            "p50": p50,
            "p99": p99,
            "lost": lost,
            "unrecorded": unrecorded,
            "failures": d.carrier.failures,
            "cpu_per_call_ms": cpu / max(len(inbound), 1) * 1000,
            "cpu_per_webhook_ms": cpu / max(len(d.carrier.latencies), 1) * 1000,
            "answered": sum(1 for c in inbound if c.outcome == "answered"),
            "abandoned": sum(1 for c in inbound if c.outcome == "abandoned"),
        }


def _count_transactions(d: Demo) -> tuple[list[int], list[int], list[int]]:
    """Count the store's committed transactions that wrote something (SQLAlchemy's engine
    events: a statement that is not a SELECT marks the transaction; its commit counts it;
    reads, such as the agents' token checks, are not counted), the units of work handed to
    the writer, and the webhook replies among their writes (one per answered webhook)."""
    transactions, units, saved = [0], [0], [0]

    def executed(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            conn.info["wrote"] = True

    def committed(conn: Connection) -> None:
        if conn.info.pop("wrote", False):
            transactions[0] += 1

    event.listen(d.line.store.engine, "before_cursor_execute", executed)
    event.listen(d.line.store.engine, "commit", committed)
    submit = d.line.writer.submit

    def counted(writes: Sequence[Write]) -> Future[bool] | None:
        if writes:
            units[0] += 1
            saved[0] += sum(isinstance(w, SaveReply) for w in writes)
        return submit(writes)

    d.line.writer.submit = counted  # type: ignore[method-assign]
    return transactions, units, saved


async def bare(requests: int, rate: float) -> dict[str, float]:
    """A bare FastAPI endpoint returning fixed TwiML, at the same request rate."""
    r = VoiceResponse()
    r.say("Please hold.")
    r.redirect("http://127.0.0.1/voice/wait")
    twiml = str(r)
    app = FastAPI()

    @app.post("/voice/incoming")
    async def incoming() -> Response:
        return Response(twiml, media_type="application/xml")

    (port,) = free_ports(1)
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    rng = np.random.default_rng(1)
    latencies: list[float] = []
    form = {"CallSid": "CA" + "0" * 32, "From": "+12025550143", "To": "+18005550100"}
    async with httpx.AsyncClient(timeout=20) as client:

        async def one() -> None:
            began = time.perf_counter()
            await client.post(f"http://127.0.0.1:{port}/voice/incoming", data=form)
            latencies.append(time.perf_counter() - began)

        cpu0 = time.process_time()
        pending = set()
        for _ in range(requests):
            await asyncio.sleep(float(rng.exponential(1.0 / rate)))
            t = asyncio.create_task(one())
            pending.add(t)
            t.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        cpu = time.process_time() - cpu0
    server.should_exit = True
    await task
    p50, p99 = quantiles(latencies)
    return {"p50": p50, "p99": p99, "cpu_per_webhook_ms": cpu / requests * 1000}


async def main(minutes: float, speed: float) -> None:
    a = await live(minutes, speed)
    b = await bare(int(min(a["webhooks"], 20_000)), a["rate"])
    print(
        f"live: {a['calls']:,} calls, {a['webhooks']:,} webhooks at {a['rate']:.1f}/s "
        f"over {minutes:g} min (speed {speed:g})"
    )
    print(
        f"  answered {a['answered']:,}, abandoned {a['abandoned']:,}; lost {a['lost']}, "
        f"not closed in the store {a['unrecorded']}, webhook failures {a['failures']}"
    )
    print(
        f"  webhook latency p50 {a['p50']:.2f} ms, p99 {a['p99']:.2f} ms; CPU "
        f"{a['cpu_per_call_ms']:.1f} ms per call, {a['cpu_per_webhook_ms']:.2f} ms per webhook "
        "(Hotline + emulator + bots)"
    )
    print(
        f"  store: {a['transactions']:,} write transactions for {a['units']:,} units of work "
        f"({a['units'] / max(a['transactions'], 1):.2f} units per transaction); "
        f"{a['replies_saved']:,} "
        f"webhook replies saved for {a['webhooks']:,} webhooks answered"
    )
    print(
        f"bare FastAPI endpoint, fixed TwiML: p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms; "
        f"CPU {b['cpu_per_webhook_ms']:.2f} ms per request (server + client)"
    )
    print(
        f"ratio live/bare: p50 {a['p50'] / b['p50']:.1f}x, p99 {a['p99'] / b['p99']:.1f}x, "
        f"CPU per webhook {a['cpu_per_webhook_ms'] / b['cpu_per_webhook_ms']:.1f}x"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--speed", type=float, default=100.0)
    args = ap.parse_args()
    asyncio.run(main(args.minutes, args.speed))
