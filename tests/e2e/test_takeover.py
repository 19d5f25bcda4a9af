"""Two nodes on one PostgreSQL behind a failover front (the address the carrier calls):
kill -9 the leader with callers queued and one on a call; the standby takes the lines'
leases, recovers the open calls from the store and the carrier, and serves them, with the
agents as they were (the one on the call still on it, one on a break still on it). Against
the carrier emulator: every caller is answered exactly once, and nothing is lost. A
leader paused past its lease (SIGSTOP) stops the moment it runs again, acting no more."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets

from hotline.service.demo import _Server, free_ports
from hotline.service.lines import import_line
from hotline.service.node import EXIT_LOST
from hotline.service.sealing import Keyring, SealingKey
from hotline.store.db import connect
from hotline.store.leases import leases
from hotline.store.repository import Store
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.carrier import CallerScript, Carrier
from hotline.testing.failover import FailoverFront
from tests.e2e.test_kill_restart import KEY, answered_once, healthy, until
from tests.integration.live_fixtures import pg_url  # noqa: F401 (a fixture)
from tests.integration.tcp_proxy import StallingProxy

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "takeover-test-token"
ACCOUNT = "AC" + "0" * 32
SPEED = 5.0
LEASE = 4.0  # seconds: a short lease keeps the test short


class Cluster:
    def __init__(self, db: str) -> None:
        self.db = db
        self.front_port, self.carrier_port, *self.ports = free_ports(4)
        self.front = FailoverFront([("127.0.0.1", p) for p in self.ports])
        self.base = f"http://127.0.0.1:{self.front.port}"
        self.env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": db,
            "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
            "HOTLINE_SECRET_KEY": KEY,
            "HOTLINE_PUBLIC_URL": self.base,
            "HOTLINE_TWILIO_API_BASE": f"http://127.0.0.1:{self.carrier_port}",
            "HOTLINE_CONNECTORS": json.dumps(
                {"agency_directory": str(ROOT / "scenarios" / "demo-agency-directory.yaml")}
            ),
        }
        self.nodes: dict[str, subprocess.Popen[str]] = {}
        self.lease = LEASE  # the nodes' --lease-seconds

    def start(self, name: str, index: int, db: str | None = None) -> subprocess.Popen[str]:
        env = self.env if db is None else {**self.env, "HOTLINE_DATABASE_URL": db}
        command = [sys.executable, "-c", "from hotline.cli import main; main()", "serve",
                   "--port", str(self.ports[index]), "--node", name,
                   "--lease-seconds", str(self.lease)]  # fmt: skip
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.nodes[name] = proc
        return proc

    async def pair(self) -> tuple[subprocess.Popen[str], subprocess.Popen[str], httpx.Response]:
        """Node a leading, then node b standing by (with b's first /healthz answer)."""
        a = self.start("a", 0)
        await healthy(f"http://127.0.0.1:{self.ports[0]}", a)
        b = self.start("b", 1)
        return a, b, await answering(f"http://127.0.0.1:{self.ports[1]}", b)

    def carrier(self, number: str = "+18005550100", *, retry_for: float = 60) -> Carrier:
        """The carrier emulator calling through the front (its REST API served by `rest`)."""
        return Carrier(hotline_url=self.base, auth_token=TOKEN, account_sid=ACCOUNT,
                       line_number=number, speed=SPEED, retry_for=retry_for)  # fmt: skip

    @contextlib.asynccontextmanager
    async def rest(self, carrier: Carrier) -> AsyncIterator[None]:
        """The emulator's REST API (calls, conferences) on the carrier's port meanwhile."""
        server = _Server(uvicorn.Config(carrier.rest_app(), host="127.0.0.1",
                                        port=self.carrier_port, log_level="critical"))  # fmt: skip
        task = asyncio.create_task(server.serve())
        try:
            yield
        finally:
            server.should_exit = True
            await task

    async def with_carrier(self, talk: Callable[[Carrier], Awaitable[None]]) -> Carrier:
        """The carrier emulator (its REST API served meanwhile) while `talk` drives it."""
        carrier = self.carrier()
        async with self.rest(carrier):
            await talk(carrier)
        return carrier

    def leader(self) -> tuple[str, int] | None:
        now, held, _ = leases(connect(self.db))
        live = [(x.node, x.epoch) for x in held if x.expires_at > now]
        return live[0] if live else None

    def stopped(self, name: str) -> tuple[list[str], str]:
        """The node stopped (SIGTERM): what it said it recovered at each start, and all it
        said on stderr."""
        node = self.nodes[name]
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=30)
        said = node.stderr.read() if node.stderr else ""
        return [ln.split("recovered open calls: ")[1] for ln in said.splitlines()
                if "recovered open calls" in ln], said  # fmt: skip

    def stop(self) -> None:
        for proc in self.nodes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        self.front.close()


@pytest.fixture
def cluster(pg_url: str) -> Iterator[Cluster]:  # noqa: F811
    c = Cluster(pg_url)
    yield c
    c.stop()


async def answering(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    """The first answer of `url`/healthz, whatever it says (the node listens)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                return await client.get(f"{url}/healthz")
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the node did not listen"
            await asyncio.sleep(0.2)


def test_the_standby_takes_over_from_a_killed_leader_and_loses_no_caller(cluster):
    async def run() -> Carrier:
        carrier: Carrier = cluster.carrier()
        async with cluster.rest(carrier):
            await talk(carrier)
        return carrier

    async def talk(carrier: Carrier) -> None:
        a, b, standby = await cluster.pair()
        assert standby.status_code == 503
        assert standby.json()["role"] == "standby"
        assert standby.json()["leader"] == f"http://127.0.0.1:{cluster.ports[0]}"
        assert cluster.leader() == ("a", 1)

        store = Store(engine=connect(cluster.db), key=Keyring(SealingKey.parse(KEY)))
        calls = [carrier.place(CallerScript(f"+12025550{110 + i}", ["1", "2", "2"], 100_000, 60))
                 for i in range(6)]  # fmt: skip
        await until(lambda: all(c.queued_at is not None for c in calls), "the callers to queue")
        first = store.issue_token("en-day-1", time.time())
        bot = AgentBot(agent_id="en-day-1", token=first, base_url=cluster.base, speed=SPEED)
        seven = store.issue_token("en-day-7", time.time())
        resting = {"Authorization": f"Bearer {seven}"}
        async with httpx.AsyncClient(base_url=cluster.base, headers=resting) as client:
            (await client.post("/api/agent/login")).raise_for_status()
            (await client.post("/api/agent/not-ready?reason=training")).raise_for_status()
        # the standby relays an agent's requests and websocket to the leader
        b_url = f"http://127.0.0.1:{cluster.ports[1]}"
        async with httpx.AsyncClient(base_url=b_url, headers=resting) as client:
            me = (await client.get("/api/agent/me")).json()
        assert (me["state"], me["reason"]) == ("not_ready", "training")
        async with websockets.connect(f"ws{b_url[4:]}/api/agent/ws?token={seven}",
                                      proxy=None) as ws:  # fmt: skip
            hello = json.loads(await ws.recv())
        assert (hello["type"], hello["state"], hello["reason"]) == (
            "hello",
            "not_ready",
            "training",
        )
        bot_task = asyncio.create_task(bot.run())
        await until(lambda: any(c.agent for c in calls), "a caller to reach the agent")
        bridged = next(c for c in calls if c.agent).sid
        await until(lambda: any(k == "agent-leg-answered" for k, _ in store.events(bridged)),
                    "the bridge to be in the store")  # fmt: skip

        a.send_signal(signal.SIGKILL)  # no shutdown, no last flush, its lease left to expire
        a.wait()
        bot_task.cancel()
        await healthy(cluster.base, b)  # through the front: b now leads
        assert cluster.leader() == ("b", 2)
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"{cluster.base}/healthz")).json()
        (line,) = [x.line for x in leases(connect(cluster.db))[1]]
        assert health["node"] == {"name": "b", "role": "leader", "leads": {line: 2}}
        async with httpx.AsyncClient(base_url=cluster.base) as client:  # agents as they were
            on_call = (
                await client.get("/api/agent/me", headers={"Authorization": f"Bearer {first}"})
            ).json()
            resting_now = (await client.get("/api/agent/me", headers=resting)).json()
        assert (on_call["state"], on_call["call_sid"]) == ("on_call", bridged)
        assert (resting_now["state"], resting_now["reason"]) == ("not_ready", "training")
        bots = [asyncio.create_task(AgentBot(agent_id=agent, base_url=cluster.base,
                                             token=store.issue_token(agent, time.time()),
                                             speed=SPEED).run())
                for agent in [f"en-day-{i}" for i in range(2, 7)]]  # fmt: skip
        await asyncio.wait_for(carrier.drain(), 120)
        for t in bots:
            t.cancel()
        await asyncio.gather(*bots, bot_task, return_exceptions=True)

    carrier = asyncio.run(run())
    recovered, said = cluster.stopped("b")
    assert recovered == ["on a call 1, queued 5"], said[-3000:]
    answered_once(carrier, cluster.db, 6)
    assert cluster.leader() is None  # b let its lease go when it stopped


def test_a_leader_paused_past_its_lease_stops_when_it_runs_again(cluster):
    async def run() -> None:
        a, b, _ = await cluster.pair()
        a.send_signal(signal.SIGSTOP)  # (its socket still takes connections: not the front)
        await until(lambda: cluster.leader() == ("b", 2), "b to take over")
        await healthy(f"http://127.0.0.1:{cluster.ports[1]}", b)
        a.send_signal(signal.SIGCONT)
        await until(lambda: a.poll() is not None, "a to stop")

    asyncio.run(run())
    a = cluster.nodes["a"]
    assert a.returncode == EXIT_LOST
    stderr = a.stderr.read() if a.stderr else ""
    assert "node a stops leading" in stderr, stderr[-2000:]
    assert cluster.leader() == ("b", 2)


def test_a_second_node_of_a_running_nodes_name_is_refused_and_leaves_the_first_leading(
    cluster,
):
    """The issue's bad input "two nodes with the same name": the second run says why and
    exits 1 (no traceback), and the first goes on leading, its epoch unchanged."""

    async def run() -> None:
        a = cluster.start("a", 0)
        await healthy(f"http://127.0.0.1:{cluster.ports[0]}", a)
        cluster.nodes["the first a"] = a  # (stopped with the cluster)
        again = cluster.start("a", 1)
        await until(lambda: again.poll() is not None, "the second a to stop")
        await healthy(f"http://127.0.0.1:{cluster.ports[0]}", a)

    asyncio.run(run())
    again = cluster.nodes["a"]  # (the second run, under the same name)
    assert again.returncode == 1
    stderr = again.stderr.read() if again.stderr else ""
    assert "a node named 'a' is running" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    assert cluster.leader() == ("a", 1)


def test_a_leader_cut_off_from_the_database_stops_and_the_other_takes_over(cluster):
    """a reaches PostgreSQL through a proxy that stops passing anything (a partition): it
    cannot renew, stops once its leases may be another's, and b takes over."""
    proxy = StallingProxy(("127.0.0.1", 5432))
    through = cluster.db.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")

    async def run() -> None:
        a = cluster.start("a", 0, db=through)
        await healthy(f"http://127.0.0.1:{cluster.ports[0]}", a)
        b = cluster.start("b", 1)
        await answering(f"http://127.0.0.1:{cluster.ports[1]}", b)
        proxy.stall()
        await until(lambda: a.poll() is not None, "a to stop")
        await until(lambda: cluster.leader() == ("b", 2), "b to take over")
        await healthy(f"http://127.0.0.1:{cluster.ports[1]}", b)

    try:
        asyncio.run(run())
    finally:
        proxy.close()
    a = cluster.nodes["a"]
    assert a.returncode == EXIT_LOST
    stderr = a.stderr.read() if a.stderr else ""
    assert "its leases were not renewed in time" in stderr, stderr[-2000:]


def test_a_line_added_while_two_nodes_run_is_led_and_served_by_one_of_them(cluster):
    """`hotline line import` of a new line while a leads and b stands by: a takes its lease
    too (b never does), builds it, and its number answers through the front."""
    victims = "+18005550200"

    async def run() -> None:
        await cluster.pair()
        store = Store(engine=connect(cluster.db), key=Keyring(SealingKey.parse(KEY)))
        import_line(store, ROOT / "scenarios" / "victim-support.yaml", number=victims,
                    timezone="America/New_York",
                    flow=ROOT / "scenarios" / "victim-support.flow.yaml")  # fmt: skip

        def led() -> dict[str, tuple[str, int]]:
            now, held, _ = leases(connect(cluster.db))
            return {x.line: (x.node, x.epoch) for x in held if x.expires_at > now}

        await until(lambda: led().get("Victim support helpline") == ("a", 1), "a to lead it")
        async with httpx.AsyncClient() as client:  # (served once built, within seconds)
            for _ in range(300):
                served = (await client.get(f"{cluster.base}/healthz")).json()["lines"]
                if "Victim support helpline" in [x["name"] for x in served]:
                    break
                await asyncio.sleep(0.1)
        assert [x["name"] for x in served] == ["National hotline (US)", "Victim support helpline"]
        carrier = cluster.carrier(victims)
        caller = carrier.place(CallerScript("+12025550199", ["1", "2"], 100_000, 60))
        await until(lambda: caller.queued_at is not None, "the new line's caller to queue")
        assert set(led().values()) == {("a", 1)}  # b leads nothing
        row = store.call(caller.sid)
        assert row is not None
        assert (row.line, row.state) == ("Victim support helpline", "queued")

    asyncio.run(run())
