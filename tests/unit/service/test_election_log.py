"""Review 2 of commit c87250a: a failing round of election is logged once (node_app
`_elect`), not every half second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hotline.errors import StoreUnavailable
from hotline.web.node_app import NodeApp


class FlappingLeases:
    """A database failing over: its refusals alternate between two reasons."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons, self.rounds = reasons, 0

    def heartbeat(self) -> None:
        self.rounds += 1
        raise StoreUnavailable(self.reasons[self.rounds % len(self.reasons)])


class StandbyNode:
    name = "b"
    every = 0.001
    watch_every = 0.001

    def __init__(self, leases: Any) -> None:
        self.leases = leases

    def try_to_lead(self) -> bool:  # never reached: the heartbeat fails first
        return False


def test_a_failure_alternating_between_two_reasons_is_not_logged_every_round(caplog):
    leases = FlappingLeases(["the database failed: OperationalError: connection refused",
                             "the database failed: ReadOnlySqlTransaction: cannot execute "
                             "UPDATE in a read-only transaction"])  # fmt: skip
    app = NodeApp(node=StandbyNode(leases), build=lambda _group: None,  # type: ignore[arg-type]
                  public_url="https://hotline.example.org")  # fmt: skip

    async def run() -> None:
        task = asyncio.create_task(app._elect())
        while leases.rounds < 40:
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app._client.aclose()

    with caplog.at_level(logging.WARNING, logger="hotline.node"):
        asyncio.run(run())
    said = [r for r in caplog.records if "a round of its election failed" in r.message]
    assert len(said) <= 2, f"{len(said)} warnings for {leases.rounds} rounds"
