"""Kill the server (SIGKILL) with callers waiting in the queue and an agent on a call;
start it again on the same database. Against the carrier emulator: every caller is
answered exactly once, in the order they queued, and nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from hotline.service.demo import _Server, free_ports
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.store.db import connect
from hotline.store.repository import Store
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.carrier import CallerScript, Carrier

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kill-test-token"
KEY = new_key()  # HOTLINE_SECRET_KEY of the server, and of the test that reads its store
ACCOUNT = "AC" + "0" * 32
SPEED = 5.0


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from hotline.cli import main; main()"]
    return subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def healthy(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            await asyncio.sleep(0.2)


def answered_once(carrier: Carrier, db: str, callers: int) -> None:
    """Each of the carrier's `callers` was answered, once, and is closed in the store."""
    inbound = [c for c in carrier.calls.values() if c.script.answers]
    assert [c.outcome for c in inbound] == ["answered"] * callers
    store = Store(engine=connect(db), key=Keyring(SealingKey.parse(KEY)))
    for c in inbound:
        row = store.call(c.sid)
        assert row is not None
        assert row.state == "completed", (c.sid, row.state)
        assert [k for k, _ in store.events(c.sid)].count("CallAnswered") == 1, c.sid


def test_sigkill_and_restart_loses_no_call_and_answers_none_twice(tmp_path):
    port, carrier_port = free_ports(2)
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'line.sqlite3'}"
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": db,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_SECRET_KEY": KEY,
        "HOTLINE_PUBLIC_URL": base,
        "HOTLINE_TWILIO_API_BASE": f"http://127.0.0.1:{carrier_port}",
        "HOTLINE_CONNECTORS": json.dumps(
            {"agency_directory": str(ROOT / "scenarios" / "demo-agency-directory.yaml")}
        ),
    }
    restarted: list[subprocess.Popen[str]] = []

    async def run() -> Carrier:
        carrier = Carrier(
            hotline_url=base, auth_token=TOKEN, account_sid=ACCOUNT,
            line_number="+18005550100", speed=SPEED, retry_for=60,
        )  # fmt: skip
        rest = _Server(
            uvicorn.Config(
                carrier.rest_app(), host="127.0.0.1", port=carrier_port, log_level="critical"
            )
        )
        rest_task = asyncio.create_task(rest.serve())
        first = start_server(env, port)
        await healthy(base, first)
        store = Store(engine=connect(db), key=Keyring(SealingKey.parse(KEY)))
        # six English callers, patient, who talk for a minute (12 s at speed 5)
        calls = [
            carrier.place(CallerScript(f"+12025550{110 + i}", ["1", "2", "2"], 100_000, 60))
            for i in range(6)
        ]
        await until(lambda: all(c.queued_at is not None for c in calls), "the callers to queue")
        token = store.issue_token("en-day-1", time.time())
        bot = AgentBot(agent_id="en-day-1", token=token, base_url=base, speed=SPEED)
        bot_task = asyncio.create_task(bot.run())
        await until(lambda: any(c.agent for c in calls), "a caller to reach the agent")
        # the line answers the carrier once the bridge is in the store or after at most
        # its commit wait (a slow disk): the kill comes once the store holds it
        bridged = next(c for c in calls if c.agent).sid
        await until(
            lambda: any(k == "agent-leg-answered" for k, _ in store.events(bridged)),
            "the bridge to be in the store",
        )

        first.send_signal(signal.SIGKILL)  # no shutdown, no last flush
        first.wait()
        bot_task.cancel()
        second = start_server(env, port)
        restarted.append(second)
        await healthy(base, second)
        bots = []
        for agent_id in ("en-day-2", "en-day-3", "en-day-4", "en-day-5", "en-day-6"):
            b = AgentBot(
                agent_id=agent_id,
                token=store.issue_token(agent_id, time.time()),
                base_url=base,
                speed=SPEED,
            )
            bots.append(asyncio.create_task(b.run()))
        await asyncio.wait_for(carrier.drain(), 120)
        for t in bots:
            t.cancel()
        rest.should_exit = True
        await asyncio.gather(rest_task, *bots, bot_task, return_exceptions=True)
        return carrier

    try:
        carrier = asyncio.run(run())
    finally:
        for p in restarted:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    stderr = restarted[0].stderr.read() if restarted[0].stderr else ""
    recovered = [ln for ln in stderr.splitlines() if "recovered open calls" in ln]
    assert [ln.split("recovered open calls: ")[1] for ln in recovered] == ["on a call 1, queued 5"]
    answered_once(carrier, db, 6)
    # (the order in which a restarted line serves its queue is checked in
    # tests/integration/test_restart.py, on a controlled clock)
