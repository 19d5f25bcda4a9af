"""Takeover: how long the line is without a leader when the leader dies (kill -9), beside a
clean handover (SIGTERM: the leader lets its leases go at once) in the same run.

Two `hotline serve --node` processes on one PostgreSQL (127.0.0.1:5432, a schema of its
own, dropped afterwards) with the shipped national line and no call in progress, leases
of `--lease-seconds` (10, the default). Each round stops the node that leads — by SIGKILL,
or by SIGTERM for the baseline — and times from the signal to the first `/healthz` that
answers 200 from the other node (it leads, has rebuilt the line and is ready), polled
every 50 ms; the stopped node is started again as the standby for the next round. Rounds
alternate kill and handover, `--kills` of each (10).

    python bench/bench_takeover.py [--kills 10] [--lease-seconds 10]

What would make these figures misleading: with no open calls the rebuild is quick; with
hundreds of open calls the successor also asks the carrier about each (in parallel, at
most 8 s), which this does not measure. A kill's figure is mostly the lease running out
(up to `lease-seconds` after the last renewal, then a standby's claim every third of it),
so it depends on where in the renewal cycle the kill lands: the spread over rounds shows
that. One shared 2-core machine; the 50 ms polling adds up to 50 ms to each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text

from hotline.service.demo import free_ports
from hotline.service.sealing import new_key
from hotline.store.db import connect

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"


def start(env: dict[str, str], name: str, port: int, lease: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from hotline.cli import main; main()", "serve",
               "--port", str(port), "--node", name, "--lease-seconds", str(lease)]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def ready(port: int, deadline: float) -> float:
    """The time /healthz on `port` first answers 200."""
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise SystemExit(f"no node served on port {port} in time")


def listening(port: int) -> None:
    with httpx.Client(timeout=1.0) as client:
        for _ in range(600):
            try:
                client.get(f"http://127.0.0.1:{port}/healthz")
                return
            except httpx.TransportError:
                time.sleep(0.05)
    raise SystemExit(f"the node on port {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = connect(PG)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    ports = dict(zip(("a", "b"), free_ports(2), strict=True))
    directory = str(ROOT / "scenarios" / "demo-agency-directory.yaml")
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": f"{PG}?options=-csearch_path%3D{schema}",
        "HOTLINE_TWILIO_AUTH_TOKEN": "bench",
        "HOTLINE_SECRET_KEY": new_key(),
        "HOTLINE_PUBLIC_URL": "http://127.0.0.1:9",
        "HOTLINE_TWILIO_API_BASE": "http://127.0.0.1:9",
        "HOTLINE_CONNECTORS": json.dumps({"agency_directory": directory}),
    }
    procs = {"a": start(env, "a", ports["a"], args.lease_seconds)}
    took: dict[str, list[float]] = {"kill -9": [], "SIGTERM": []}
    try:
        ready(ports["a"], time.monotonic() + 120)
        procs["b"] = start(env, "b", ports["b"], args.lease_seconds)
        listening(ports["b"])
        leader, standby = "a", "b"
        for i in range(2 * args.kills):
            how = "kill -9" if i % 2 == 0 else "SIGTERM"
            began = time.monotonic()
            procs[leader].send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
            served = ready(ports[standby], began + 120)
            took[how].append(served - began)
            procs[leader].wait(60)
            print(f"round {i + 1:2d}: {how:8s} {standby} serves after {served - began:6.2f} s",
                  flush=True)  # fmt: skip
            procs[leader] = start(env, leader, ports[leader], args.lease_seconds)
            listening(ports[leader])
            leader, standby = standby, leader
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(60)
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    kill, term = took["kill -9"], took["SIGTERM"]
    print(f"\nleases of {args.lease_seconds:g} s, {args.kills} rounds of each")
    for how, xs in took.items():
        print(
            f"{how:8s}: median {statistics.median(xs):6.2f} s, worst {max(xs):6.2f} s, "
            f"best {min(xs):6.2f} s"
        )
    print(
        f"kill -9 / SIGTERM handover (medians): "
        f"{statistics.median(kill) / statistics.median(term):.1f}x"
    )


if __name__ == "__main__":
    main()
