"""The load test's agent bots (telephony.emulator.bots) against a served line: set not
ready by the line because their phone failed to take a call, they are ready again, as an
agent would be (the simulator's agents never fail so, and a bot left out for the rest of
a run made the live line short of the agents the simulator counts)."""

from __future__ import annotations

import asyncio

import httpx

from hotline.service.demo import free_ports
from hotline.telephony.control import CarrierError
from hotline.telephony.emulator.bots import AgentBot
from hotline.testing.control import RecordingCallControl

from .live_fixtures import PUBLIC, Carrier, Live, queue_public_caller, sqlite_url
from .test_nodes import Served

SID = "CA" + "b" * 32


class FailsOnce(RecordingCallControl):
    """A carrier that refuses to put the first call through (its caller hung up as the
    agent accepted), then puts calls through."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def connect(self, call_sid: str, agent_id: str, attempt: int = 1) -> None:
        if not self.refused:
            self.refused += 1
            raise CarrierError(f"the carrier refused to update call {call_sid}")
        super().connect(call_sid, agent_id, attempt)


def test_a_bot_set_not_ready_by_a_failed_connect_is_ready_again(tmp_path):
    carrier = FailsOnce()
    live = Live(sqlite_url(tmp_path), control=carrier)
    base = f"http://127.0.0.1:{free_ports(1)[0]}"
    served = Served(live.app, int(base.rsplit(":", 1)[1]))
    token = live.store.issue_token("en-day-1", live.wall())
    bot = AgentBot(agent_id="en-day-1", token=token, base_url=base, speed=1.0, ring=0.0)

    async def scenario() -> None:
        running = asyncio.create_task(bot.run())
        try:
            await asyncio.wait_for(bot.ready.wait(), 10)
            await asyncio.to_thread(queue_public_caller, live, SID, "+12025550143")
            for _ in range(200):  # (bounded: a bot left not ready fails here)
                if len(bot.accepted) == 2:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"accepted {bot.accepted}; the carrier refused {carrier.refused}")
        finally:
            running.cancel()

    try:
        with httpx.Client(base_url=base) as http:
            live.carrier = Carrier(http, PUBLIC)
            asyncio.run(scenario())
            me = http.get("/api/agent/me", headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        served.stop()
    assert (carrier.refused, bot.accepted) == (1, [SID, SID])
    assert me["call_sid"] == SID
