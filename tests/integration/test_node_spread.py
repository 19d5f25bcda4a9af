"""A node that does not lead a line sends each carrier webhook to the node that leads the
line of its call (web.node_app with service.spread's `webhook_line`): a new call by the
number it calls, a call the store knows by its line, whichever node leads other lines; a
number no line has to the home line's; a line whose leader is gone keeps its callers
(never sent to a node without their line)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from hotline.service.lines import import_line
from hotline.service.node import Node
from hotline.service.sealing import Keyring, SealingKey, new_key
from hotline.service.spread import webhook_line
from hotline.service.unit_of_work import AddCall
from hotline.store.db import connect, migrate
from hotline.store.leases import Leases
from hotline.store.repository import Store
from hotline.switchboard.records import CallRow
from hotline.web.node_app import NodeApp

from .live_fixtures import LINE, ROOT, VICTIMS, sqlite_url
from .test_nodes import Echo

PUBLIC = "https://hotline.example.org"
NATIONAL, HELPLINE = "National hotline (US)", "Victim support helpline"
SIGNED = {"X-Twilio-Signature": "c2lnbmVk"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def leaders() -> Iterator[tuple[Echo, Echo]]:
    one, two = Echo(), Echo()
    yield one, two
    one.stop()
    two.stop()


def lead(engine: Engine, name: str, address: str, line: str) -> Leases:
    leased = Leases(engine=engine, node=name, address=address, ttl=30.0)
    leased.join()
    assert leased.claim(line) is not None
    return leased


def sid(n: int) -> str:
    return f"CA{n:032d}"


def test_each_webhook_goes_to_the_node_that_leads_its_line(engine, leaders):
    store = Store(engine=engine, key=Keyring(SealingKey.parse(new_key()), []))
    import_line(store, ROOT / "scenarios" / "national-hotline.yaml", number=LINE)
    import_line(store, ROOT / "scenarios" / "victim-support.yaml", number=VICTIMS,
                flow=ROOT / "scenarios" / "victim-support.flow.yaml")  # fmt: skip
    national, helpline = leaders
    lead(engine, "a", national.address, NATIONAL)
    b = lead(engine, "b", helpline.address, HELPLINE)
    store.commit([AddCall(CallRow(sid(2), HELPLINE, "+12025550143", VICTIMS, "en", None, 0,
                                  "queued", {}, None, 10.0), 10.0)])  # fmt: skip
    standby = Leases(engine=engine, node="c", ttl=30.0)
    standby.join()
    member = Node(leases=standby, lines=lambda: [NATIONAL, HELPLINE], on_lost=lambda _w: None)
    app = NodeApp(node=member, build=lambda: None, public_url=PUBLIC, hold_for=0.0, poll=0.0,
                  webhook_line=lambda call, to: webhook_line(store, call, to, LINE))  # fmt: skip

    caller = "+12025550143"
    webhooks = [
        ("/voice/incoming", {"CallSid": sid(1), "From": caller, "To": VICTIMS}),  # a new call,
        ("/voice/incoming", {"CallSid": sid(3), "From": caller, "To": LINE}),  # by its number
        # a call the store knows, by its line, whatever the form says it calls
        (f"/voice/wait?sid={sid(2)}&n=1", {"CallSid": sid(2), "To": LINE}),
        # an agent's leg of that call (`?sid=` names the caller's call)
        (f"/voice/agent-leg?sid={sid(2)}&a=1", {"CallSid": sid(9), "To": "client:en-day-1"}),
        # the dial-back leg of a callback (`?call=`)
        (f"/voice/status?call={sid(2)}", {"CallSid": sid(8), "CallStatus": "ringing"}),
        # a number and a call no line has: to the line that answers those (the home line)
        ("/voice/incoming", {"CallSid": sid(4), "To": "+18005550999"}),
    ]

    async def talk() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://c") as client:  # fmt: skip
            return [(await client.post(path, data=form, headers=SIGNED)).status_code
                    for path, form in webhooks]  # fmt: skip

    assert asyncio.run(talk()) == [200] * 6
    assert [url for url, _, _ in helpline.seen] == [
        "/voice/incoming", f"/voice/wait?sid={sid(2)}&n=1", f"/voice/agent-leg?sid={sid(2)}&a=1",
        f"/voice/status?call={sid(2)}",
    ]  # fmt: skip
    assert [url for url, _, _ in national.seen] == ["/voice/incoming", "/voice/incoming"]
    assert national.seen[0][1].endswith(b"To=%2B18005550100")

    b.leave()  # the helpline's leader is gone: its caller is kept, not sent to the other

    async def orphan() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://c") as client:  # fmt: skip
            return await client.post(f"/voice/wait?sid={sid(2)}&n=2", headers=SIGNED,
                                     data={"CallSid": sid(2)})  # fmt: skip

    kept = asyncio.run(orphan())
    assert kept.status_code == 200
    assert f'<Redirect method="POST">{PUBLIC}/voice/wait?sid={sid(2)}&amp;n=2<' in kept.text
    assert (len(helpline.seen), len(national.seen)) == (4, 2)
