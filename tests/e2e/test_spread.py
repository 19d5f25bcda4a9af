"""Two nodes started together on one PostgreSQL over two lines that share no agent: each
leads one, and requests reach it through either (the carrier's through the failover
front). kill -9 the node that leads the helpline with its callers queued and one on a
call: the other node, still serving the national line, takes the helpline over, recovers
its calls, and every caller of both lines is answered exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from hotline.service.lines import import_line
from hotline.service.sealing import Keyring, SealingKey
from hotline.store.db import connect, migrate
from hotline.store.leases import leases
from hotline.store.repository import Store
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.carrier import CallerScript, Carrier
from tests.e2e.test_kill_restart import KEY, answered_once, healthy, until
from tests.e2e.test_takeover import ROOT, SPEED, Cluster, cluster  # noqa: F401 (a fixture)
from tests.integration.live_fixtures import helpline_apart, pg_url  # noqa: F401 (a fixture)

NATIONAL, HELPLINE = "National hotline (US)", "Victim support helpline"
LINE, VICTIMS = "+18005550100", "+18005550200"


def led(nodes: Cluster) -> dict[str, tuple[str, int]]:
    now, held, _ = leases(connect(nodes.db))
    return {x.line: (x.node, x.epoch) for x in held if x.expires_at > now}


def two_lines(nodes: Cluster, folder: Path) -> Store:
    """The national line and a helpline that shares no agent with it, in the store before
    any node starts."""
    engine = connect(nodes.db)
    migrate(engine)
    store = Store(engine=engine, key=Keyring(SealingKey.parse(KEY)))
    store_lines = ((ROOT / "scenarios" / "national-hotline.yaml", LINE),
                   (helpline_apart(folder), VICTIMS))  # fmt: skip
    for path, number in store_lines:
        import_line(store, path, number=number, timezone="America/New_York")
    return store


def bot(store: Store, base: str, agent: str) -> asyncio.Task[None]:
    token = store.issue_token(agent, time.time())
    return asyncio.create_task(
        AgentBot(agent_id=agent, base_url=base, speed=SPEED, token=token).run()
    )


async def three_each(
    carrier: Carrier, store: Store, base: str, first: int
) -> list[asyncio.Task[None]]:
    """Three callers of each line queued, then an agent of each on shift (their bots),
    until a caller of each line is talking to them."""
    calls = [carrier.place(CallerScript(f"+12025550{first + i}", answers, 100_000, 60, to=to))
             for i, (answers, to) in enumerate([(["1", "2", "2"], LINE)] * 3
                                               + [(["1", "2"], VICTIMS)] * 3)]  # fmt: skip
    await until(lambda: all(c.queued_at is not None for c in calls), "the callers to queue")
    bots = [bot(store, base, "en-day-1"), bot(store, base, "vs-day-1")]
    await until(lambda: all(any(c.agent for c in calls[x:x + 3]) for x in (0, 3)),
                "a caller of each line to reach its agent")  # fmt: skip
    return bots


async def served_to_the_end(
    carrier: Carrier, store: Store, base: str, first: list[asyncio.Task[None]]
) -> None:
    """Two more agents of each line on shift until every call has ended; then every
    agent's bot stopped."""
    more = [bot(store, base, x) for x in ("en-day-2", "en-day-3", "vs-day-2", "vs-day-3")]
    await asyncio.wait_for(carrier.drain(), 120)
    for t in more:
        t.cancel()
    await asyncio.gather(*first, *more, return_exceptions=True)


def test_two_nodes_lead_a_line_each_and_one_takes_the_others_when_it_dies(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = two_lines(cluster, tmp_path)

    async def talk(carrier: Carrier) -> None:
        nodes = [cluster.start("a", 0), cluster.start("b", 1)]  # together
        apart = {NATIONAL, HELPLINE}
        await until(lambda: {n for n, _ in led(cluster).values()} == {"a", "b"}
                    and set(led(cluster)) == apart, "each node to lead a line")  # fmt: skip
        for node, port in zip(nodes, cluster.ports, strict=True):
            await healthy(f"http://127.0.0.1:{port}", node)
        first = await three_each(carrier, store, cluster.base, 120)
        before = led(cluster)  # (epoch 1 each, or 2 for the helpline if a took both and
        helpline_node, epoch = before[HELPLINE]  # handed it over as b joined)
        survivor = "b" if helpline_node == "a" else "a"
        dying = cluster.nodes[helpline_node]
        dying.send_signal(signal.SIGKILL)  # no shutdown, its lease left to expire
        dying.wait()
        for t in first:
            t.cancel()
        after = {NATIONAL: (survivor, before[NATIONAL][1]), HELPLINE: (survivor, epoch + 1)}
        await until(lambda: led(cluster) == after,
                    f"{survivor} to take the helpline over")  # fmt: skip
        counsellor = {"Authorization": f"Bearer {store.issue_token('vs-day-2', time.time())}"}
        async with httpx.AsyncClient(base_url=cluster.base) as client:  # (served once built)
            for _ in range(300):
                if (await client.get("/api/agent/me", headers=counsellor)).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            health = (await client.get("/healthz")).json()
        assert health["node"]["name"] == survivor
        await served_to_the_end(carrier, store, cluster.base, first)

    carrier = asyncio.run(cluster.with_carrier(talk))
    answered_once(carrier, cluster.db, 6)
    rows = [store.call(c.sid) for c in carrier.calls.values() if c.script.answers]
    assert sorted(row.line for row in rows if row is not None) == [NATIONAL] * 3 + [HELPLINE] * 3


def test_a_node_joining_is_handed_a_line_with_its_callers_in_their_places(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    """a alone leads both lines, with callers queued on each and one talking on each; b
    joins, and a hands it the helpline (the last group): a stops serving it, its writes
    land, its leases go, and b rebuilds it from the store, the callers in their places."""
    store = two_lines(cluster, tmp_path)

    async def talk(carrier: Carrier) -> None:
        a = cluster.start("a", 0)
        await until(lambda: led(cluster) == {NATIONAL: ("a", 1), HELPLINE: ("a", 1)},
                    "a to lead both lines")  # fmt: skip
        await healthy(f"http://127.0.0.1:{cluster.ports[0]}", a)
        first = await three_each(carrier, store, cluster.base, 130)
        b = cluster.start("b", 1)
        await until(lambda: led(cluster) == {NATIONAL: ("a", 1), HELPLINE: ("b", 2)},
                    "a to hand the helpline to b")  # fmt: skip
        await healthy(f"http://127.0.0.1:{cluster.ports[1]}", b)
        for t in first:  # (the helpline's desktop socket was closed: its line moved)
            t.cancel()
        await served_to_the_end(carrier, store, cluster.base, first)

    carrier = asyncio.run(cluster.with_carrier(talk))
    answered_once(carrier, cluster.db, 6)
    recovered, said = cluster.stopped("b")
    assert recovered == ["on a call 1, queued 2"], said[-3000:]
