"""The database refuses writes while the leader is alive (a failover to a read-only replica,
its rights revoked), not only as it is killed. The leader keeps serving from memory (its
writer keeps the units: permission denied is StoreUnavailable), cannot renew, and exits once
it may no longer trust its leases (0.8 x lease): the units it held in memory go with it. A
caller who rang in that window is unknown to the store; once writes are back the standby
takes over, recovers what the store has, and the forgotten caller starts over at their next
request (the menu again) instead of being hung up on: nobody is lost."""

from __future__ import annotations

import asyncio
import signal
import time

from hotline.service.node import EXIT_LOST
from hotline.service.sealing import Keyring, SealingKey
from hotline.store.db import connect
from hotline.store.repository import Store
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.carrier import CallerScript, Carrier
from tests.e2e.test_kill_restart import KEY, healthy, until
from tests.e2e.test_takeover import SPEED
from tests.e2e.test_takeover_db_refuses import refusing  # noqa: F401 (a fixture)
from tests.integration.live_fixtures import pg_role, pg_url  # noqa: F401 (fixtures)

WELCOME = (
    "Thank you for calling the National Hotline. Calls may be recorded for quality and training."
)


def test_a_caller_served_while_the_database_refuses_writes_is_not_lost(refusing):  # noqa: F811
    cluster, role = refusing

    async def run() -> tuple[Carrier, list[str]]:
        carrier: Carrier = cluster.carrier(retry_for=120)
        async with cluster.rest(carrier):
            sids = await talk(carrier)
        return carrier, sids

    async def talk(carrier: Carrier) -> list[str]:
        cluster.lease = 10.0  # a outlives the refusal by 6 s or more: time for the menu
        a, b, _ = await cluster.pair()
        before = carrier.place(CallerScript("+12025550130", ["1", "2", "2"], 100_000, 30))
        await until(lambda: before.queued_at is not None, "the first caller to queue")

        role.writes(allowed=False)  # the database stops taking writes; a lives on
        during = carrier.place(CallerScript("+12025550131", ["1", "2"], 100_000, 30))
        await until(lambda: len(during.heard) >= 3, "the second caller to be in the menu")
        began = time.monotonic()
        while a.poll() is None and time.monotonic() - began < 30:
            await asyncio.sleep(0.1)
        assert a.returncode == EXIT_LOST  # a stopped leading in time: it could not renew
        await asyncio.sleep(1.0)
        role.writes(allowed=True)  # writes are taken again: b takes over
        await healthy(cluster.base, b)
        store = Store(engine=connect(cluster.db), key=Keyring(SealingKey.parse(KEY)))
        bots = [asyncio.create_task(AgentBot(agent_id="en-day-1", base_url=cluster.base,
                                             token=store.issue_token("en-day-1", time.time()),
                                             speed=SPEED).run())]  # fmt: skip
        await until(lambda: before.outcome == "answered", "the first caller to be answered")
        # the second, forgotten with a, is not hung up on: at their next request they hear
        # the menu from its start, on a call the store now holds
        await until(lambda: during.heard.count(WELCOME) >= 2, "the second caller to start over")
        assert not during.ended
        row = store.call(during.sid)
        assert row is not None
        assert row.state == "in_ivr"
        for t in bots:
            t.cancel()
        await asyncio.gather(*bots, return_exceptions=True)
        return [before.sid, during.sid]

    _, sids = asyncio.run(run())
    b = cluster.nodes["b"]
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=30)
    said = b.stderr.read() if b.stderr else ""
    assert f"call {sids[1]} is unknown here (its state was lost): it starts over" in said
