"""A database that refuses writes in the middle of a takeover (its privileges revoked, as a
database failing over to a read-only replica would): the leader is killed with callers
waiting; the standby cannot claim the lines while nothing can be written, so it does not
lead, and the callers are kept where they are (never a 500, never a dropped call). Once
the database takes writes again, the standby takes over, recovers every caller, and each
is answered exactly once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from hotline.service.sealing import Keyring, SealingKey
from hotline.store.db import connect
from hotline.store.repository import Store
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.carrier import CallerScript, Carrier
from tests.e2e.test_kill_restart import KEY, answered_once, healthy, until
from tests.e2e.test_takeover import LEASE, SPEED, Cluster
from tests.integration.live_fixtures import PgRole, pg_role, pg_url  # noqa: F401 (fixtures)


@pytest.fixture
def refusing(pg_role: PgRole) -> Iterator[tuple[Cluster, PgRole]]:  # noqa: F811
    """A cluster whose nodes connect as a role of their own, whose right to write the
    test takes away and gives back."""
    cluster = Cluster(pg_role.url)
    try:
        yield cluster, pg_role
    finally:
        cluster.stop()


def test_a_database_refusing_writes_mid_takeover_holds_it_off_and_loses_no_caller(refusing):
    cluster, role = refusing

    async def run() -> Carrier:
        carrier: Carrier = cluster.carrier(retry_for=120)
        async with cluster.rest(carrier):
            await talk(carrier)
        return carrier

    async def talk(carrier: Carrier) -> None:
        a, b, _ = await cluster.pair()
        calls = [carrier.place(CallerScript(f"+12025550{120 + i}", ["1", "2", "2"], 100_000, 30))
                 for i in range(3)]  # fmt: skip
        await until(lambda: all(c.queued_at is not None for c in calls), "the callers to queue")

        role.writes(allowed=False)  # the database stops taking writes, and
        a.send_signal(signal.SIGKILL)  # the leader dies: a takeover begins
        a.wait()
        began = time.monotonic()
        async with httpx.AsyncClient() as client:
            while time.monotonic() - began < 3 * LEASE:  # well past the dead lease
                standby = await client.get(f"http://127.0.0.1:{cluster.ports[1]}/healthz")
                assert standby.status_code == 503  # b cannot lead: it could write nothing
                assert standby.json()["role"] == "standby"
                await asyncio.sleep(0.5)
        assert cluster.leader() is None
        assert not any(c.ended for c in calls)  # every caller is still on the line

        role.writes(allowed=True)  # writes are taken again: b takes over
        await healthy(cluster.base, b)
        assert cluster.leader() == ("b", 2)
        store = Store(engine=connect(cluster.db), key=Keyring(SealingKey.parse(KEY)))
        bots = [asyncio.create_task(AgentBot(agent_id=agent, base_url=cluster.base,
                                             token=store.issue_token(agent, time.time()),
                                             speed=SPEED).run())
                for agent in ("en-day-1", "en-day-2")]  # fmt: skip
        await asyncio.wait_for(carrier.drain(), 120)
        for t in bots:
            t.cancel()
        await asyncio.gather(*bots, return_exceptions=True)

    carrier = asyncio.run(run())
    b = cluster.nodes["b"]
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=30)
    said = b.stderr.read() if b.stderr else ""
    failed = [ln for ln in said.splitlines() if "a round of its election failed" in ln]
    assert len(failed) == 1, said[-3000:]  # said once, not every half second
    assert "permission denied" in failed[0]  # (what the database said, its URL not)
    assert "its rounds of election work again" in said
    answered_once(carrier, cluster.db, 3)
