"""Takeover: how long callers go unserved when the leader dies (kill -9), beside a clean
handover (SIGTERM: the leader lets its leases go at once) in the same run.

Two `hotline serve --node` processes on one PostgreSQL (127.0.0.1:5432, a schema of its
own, dropped afterwards) with the shipped national line, behind a failover front (the
address the carrier calls, as HAProxy with a backup server would be), leases of
`--lease-seconds` (10, the default). The carrier emulator places `--calls` callers (200)
who go through the IVR and wait in the queue (no agent is logged in, their patience has no
end): their hold pages are webhooks all through the run, and each takeover rebuilds their
calls from the store and asks the carrier about each one. The emulator's REST API answers
after `--carrier-latency` seconds (0.2: a real carrier's API takes 100-300 ms a request),
so that those questions cost what they would.

Each round stops the node that leads (SIGKILL, or SIGTERM for the baseline) and times from
the signal to:
- the other node's first `/healthz` 200 (it leads, has rebuilt the line and is ready),
  polled every 50 ms;
- the first webhook answered by a leader (the issue's measure): of the webhooks the carrier
  sends after the signal, the first answer that is the line's own, not a "kept" one (a
  pause and the same page again, which a node with no leader gives a caller after holding
  their request 12 s). After a kill only the new leader can give it; in a handover the
  old leader may, as it stops.
(A leader's answer is any it gives: its apology and retry page, on an error, included.)
The stopped node is started again as the standby for the next round. Rounds go kill, kill,
handover, handover (so that each kind of stop hits each node), `--kills` of each (10), each
after a random wait of up to a third of a lease (`--seed`), so that the stops land at points
of the leases' renewal cycle of their own. At the end: every caller is still on the line
and queued in the store (none lost); the webhooks kept, and those that failed (an error
answer, or a connection refused or cut: the carrier tries them again), are counted.

    python bench/bench_takeover.py [--kills 10] [--lease-seconds 10] [--calls 200]
                                   [--carrier-latency 0.2] [--seed 1]

What would make these figures misleading: a kill's figure is mostly the lease running out
(between two thirds of `lease-seconds` and all of it, by where in the renewal cycle the kill
lands, then a standby's claim every half second): ten kills sample that cycle, and the
worst case, a whole lease, may not be among them. The callers here only wait: a line with
calls ringing and bridged also re-offers and re-attaches them (more work in the rebuild, not
more questions to the carrier). One shared 2-core machine, the emulator in this process;
the polling adds up to 50 ms to the `/healthz` figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from sqlalchemy import text

from hotline.service.demo import _Server, free_ports
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.store.db import connect
from hotline.store.repository import Store
from hotline.telephony.emulator.carrier import CallerScript, Carrier
from hotline.testing.failover import FailoverFront
from hotline.web.node_app import KEEP_PAUSE

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"
TOKEN = "bench-takeover-token"
ACCOUNT = "AC" + "0" * 32
SPEED = 5.0  # the callers' time (their IVR prompts) runs this much faster
KEPT = f'<Pause length="{KEEP_PAUSE}"/><Redirect'  # a follower's answer with no leader


def start(env: dict[str, str], name: str, port: int, lease: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from hotline.cli import main; main()", "serve",
               "--port", str(port), "--node", name, "--lease-seconds", str(lease)]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def ready(client: httpx.AsyncClient, port: int, deadline: float) -> float:
    """The time /healthz on `port` first answers 200."""
    while time.monotonic() < deadline:
        try:
            if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"no node served on port {port} in time")


async def listening(client: httpx.AsyncClient, port: int) -> None:
    for _ in range(600):
        try:
            await client.get(f"http://127.0.0.1:{port}/healthz")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"the node on port {port} did not start")


class Answers:
    """Each webhook answer the carrier got: when it was asked and answered, and whether a
    leader gave it."""

    def __init__(self) -> None:
        self._sent: weakref.WeakKeyDictionary[httpx.Request, float] = weakref.WeakKeyDictionary()
        self.served: list[tuple[float, float]] = []  # (asked, answered): the line's own answers
        self.kept = 0  # a follower's "wait and ask again"

    async def sent(self, request: httpx.Request) -> None:
        self._sent[request] = time.monotonic()

    async def answered(self, response: httpx.Response) -> None:
        asked = self._sent.get(response.request)
        if response.request.method != "POST" or asked is None:
            return
        body = (await response.aread()).decode()
        if response.status_code != 200:  # (counted by the carrier, which tries it again)
            return
        if KEPT in body:
            self.kept += 1
        else:
            self.served.append((asked, time.monotonic()))

    def first_after(self, t: float) -> float | None:
        """When a leader first answered a webhook asked after `t` (after a kill, only the
        new leader can; in a handover, the old one may still, as it stops)."""
        return min((done for asked, done in self.served if asked > t), default=None)


def slowed(app: Any, seconds: float) -> Any:
    """The emulator's REST API, each request answered `seconds` later (a real carrier's)."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return asgi


async def rounds(args: argparse.Namespace, db: str) -> None:
    carrier_port, *ports_ = free_ports(3)
    ports = dict(zip(("a", "b"), ports_, strict=True))
    front = FailoverFront([("127.0.0.1", ports["a"]), ("127.0.0.1", ports["b"])])
    base = f"http://127.0.0.1:{front.port}"
    key = new_key()
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": db,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_TWILIO_ACCOUNT_SID": ACCOUNT,
        "HOTLINE_SECRET_KEY": key,
        "HOTLINE_PUBLIC_URL": base,
        "HOTLINE_TWILIO_API_BASE": f"http://127.0.0.1:{carrier_port}",
        "HOTLINE_CONNECTORS": json.dumps(
            {"agency_directory": str(ROOT / "scenarios" / "demo-agency-directory.yaml")}
        ),
    }
    answers = Answers()
    rng = np.random.default_rng(args.seed)
    carrier = Carrier(
        hotline_url=base, auth_token=TOKEN, account_sid=ACCOUNT, line_number="+18005550100",
        speed=SPEED, retry_for=120,
        client=httpx.AsyncClient(timeout=20, event_hooks={"request": [answers.sent],
                                                          "response": [answers.answered]}),
    )  # fmt: skip
    api = slowed(carrier.rest_app(), args.carrier_latency)
    rest = _Server(uvicorn.Config(api, host="127.0.0.1", port=carrier_port, log_level="critical"))
    rest_task = asyncio.create_task(rest.serve())
    procs = {"a": start(env, "a", ports["a"], args.lease_seconds)}
    took: dict[str, dict[str, list[float]]] = {
        how: {"ready": [], "webhook": []} for how in ("kill -9", "SIGTERM")
    }
    client = httpx.AsyncClient(timeout=1.0)
    try:
        await ready(client, ports["a"], time.monotonic() + 120)
        procs["b"] = start(env, "b", ports["b"], args.lease_seconds)
        await listening(client, ports["b"])
        calls = [carrier.place(CallerScript(f"+1202555{i:04d}", ["1", "2", "2"], 10**9, 60))
                 for i in range(args.calls)]  # fmt: skip
        deadline = time.monotonic() + 300
        while not all(c.queued_at is not None for c in calls):
            if time.monotonic() > deadline:
                raise SystemExit("the callers did not all queue within 5 minutes")
            await asyncio.sleep(0.2)
        before, since = len(answers.served), time.monotonic()
        await asyncio.sleep(10)  # (the webhooks' rate, waiting: the next one's wait after a stop)
        rate = (len(answers.served) - before) / (time.monotonic() - since)
        print(f"{args.calls} callers queued; their webhooks come at {rate:.1f} a second",
              flush=True)  # fmt: skip
        leader, standby = "a", "b"
        # kill, kill, handover, handover: each kind of stop hits each node; and each comes
        # at a point of the lease's renewal cycle of its own (a third of a lease long)
        order = ["kill -9", "kill -9", "SIGTERM", "SIGTERM"] * (args.kills // 2)
        order += ["kill -9", "SIGTERM"] * (args.kills % 2)
        for i, how in enumerate(order):
            await asyncio.sleep(float(rng.uniform(0, args.lease_seconds / 3)))
            kept, failed = answers.kept, carrier.failures
            began = time.monotonic()
            procs[leader].send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
            served = await ready(client, ports[standby], began + 120)
            while (first := answers.first_after(began)) is None:
                if time.monotonic() > began + 120:
                    raise SystemExit("no webhook was answered within 2 minutes of the stop")
                await asyncio.sleep(0.05)
            took[how]["ready"].append(served - began)
            took[how]["webhook"].append(first - began)
            await asyncio.to_thread(procs[leader].wait, 60)
            print(
                f"round {i + 1:2d}: {how:8s} {standby} ready after {served - began:6.2f} s, "
                f"first webhook answered after {first - began:6.2f} s; kept "
                f"{answers.kept - kept}, failed {carrier.failures - failed}",
                flush=True,
            )
            procs[leader] = start(env, leader, ports[leader], args.lease_seconds)
            await listening(client, ports[leader])
            leader, standby = standby, leader
        lost = [c.sid for c in calls if c.ended or c.queued_at is None]
        store = Store(engine=connect(db), key=Keyring(SealingKey.parse(key)))
        states = {c.sid: (row.state if (row := store.call(c.sid)) else None) for c in calls}
        not_queued = sorted(sid for sid, state in states.items() if state != "queued")
    finally:
        await client.aclose()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(p.wait, 120)
                except subprocess.TimeoutExpired:  # (the schema is dropped next: none may run)
                    p.kill()
                    await asyncio.to_thread(p.wait)
        for t in list(carrier.tasks):
            t.cancel()
        rest.should_exit = True
        await rest_task
        await carrier.client.aclose()
        front.close()
    print(
        f"\nleases of {args.lease_seconds:g} s, {args.kills} rounds of each, {args.calls} "
        f"callers waiting, the carrier's API answering in {args.carrier_latency:g} s"
    )
    for how, figures in took.items():
        for what, xs in figures.items():
            print(f"{how:8s} {what:8s}: median {statistics.median(xs):6.2f} s, worst "
                  f"{max(xs):6.2f} s, best {min(xs):6.2f} s")  # fmt: skip
    kill, term = took["kill -9"]["webhook"], took["SIGTERM"]["webhook"]
    print(f"first webhook answered, kill -9 / SIGTERM handover (medians): "
          f"{statistics.median(kill) / statistics.median(term):.1f}x")  # fmt: skip
    named = f": {', '.join(not_queued[:5])}" if not_queued else ""
    print(
        f"webhooks answered by a leader {len(answers.served)}, kept {answers.kept}, failed "
        f"(tried again) {carrier.failures}; callers lost {len(lost)} of {args.calls}, not "
        f"queued in the store {len(not_queued)}{named}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=200, help="callers waiting all along")
    parser.add_argument("--seed", type=int, default=1, help="of the waits before the stops")
    parser.add_argument("--carrier-latency", type=float, default=0.2,
                        help="seconds the carrier's REST API takes to answer")  # fmt: skip
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = connect(PG)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        asyncio.run(rounds(args, f"{PG}?options=-csearch_path%3D{schema}"))
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
