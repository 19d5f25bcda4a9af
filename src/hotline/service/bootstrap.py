"""The one composition root: settings in, a running line's parts out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hotline.errors import HotlineError
from hotline.ivr.line import LineFlow
from hotline.service.lines import Imported, import_line, load_line
from hotline.service.live import LiveLine
from hotline.service.recovery import carrier_statuses
from hotline.service.roles import SUPERVISOR
from hotline.service.settings import Settings
from hotline.sim.scenario import Scenario
from hotline.store.db import connect, migrate, sqlite_path
from hotline.store.repository import Store
from hotline.switchboard.line import agents_of
from hotline.telephony.control import CallControl, TwilioCallControl
from hotline.testing.connectors import InMemoryConnector
from hotline.yamlfile import read_text

STATUS_DEADLINE = 8.0  # seconds the start waits for the carrier's statuses of open calls


@dataclass
class Parts:
    settings: Settings
    store: Store
    line: LiveLine
    migrations: list[str]
    recovered: dict[str, int]
    created: bool  # the database did not exist and was created
    imported: Imported | None  # the settings' scenario, imported as the line at this start


def store_for(settings: Settings, *, create: bool = True) -> tuple[Store, list[str]]:
    """The store, its schema brought up to date first (returns the migrations applied).
    With `create=False` a missing SQLite database is an error, not a new empty one."""
    engine = connect(settings.database_url, create=create)
    return Store(engine=engine), migrate(engine)


def build_line(
    settings: Settings,
    *,
    wall: Callable[[], float] = time.time,
    control: CallControl | None = None,
) -> Parts:
    """The line's parts; with `control`, open calls in the store are recovered first."""
    file = sqlite_path(settings.database_url)
    created = file is not None and not file.exists()
    store, applied = store_for(settings)
    scenario, imported = served_line(settings, store)
    flow = LineFlow(path=settings.flow, line_queues=[q.name for q in scenario.queues])
    store.record_flow(flow.flow.name, flow.flow.version, read_text(settings.flow), time.time())
    connectors = {
        name: InMemoryConnector.from_file(path) for name, path in settings.connectors.items()
    }
    line = LiveLine(
        scenario=scenario,
        flow=flow,
        store=store,
        connectors=connectors,
        number=settings.line_number,
        timezone=settings.timezone,
        wall=wall,
    )
    recovered: dict[str, int] = {}
    if control is not None:
        sids = [row.sid for row in store.open_calls()]
        statuses = carrier_statuses(control, sids, deadline=STATUS_DEADLINE)
        recovered = line.recover(statuses)
    return Parts(settings, store, line, applied, recovered, created, imported)


def served_line(settings: Settings, store: Store) -> tuple[Scenario, Imported | None]:
    """The store's line of the settings' number; a store without one first imports the
    settings' scenario as that line (with their number, time zone and flow)."""
    name = store.line_of_number(settings.line_number)
    imported = None
    if name is None:
        imported = import_line(store, settings.scenario, number=settings.line_number,
                               timezone=settings.timezone, flow=settings.flow)  # fmt: skip
        name = imported.name
    return load_line(store, name), imported


def call_control(settings: Settings) -> CallControl:
    return TwilioCallControl(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.webhook_secret(),
        api_base=settings.twilio_api_base,
        public_url=settings.public_url,
    )


def issue_agent_token(settings: Settings, agent_id: str) -> str:
    """A token for an agent of the line, or (`SUPERVISOR`) for the supervisor."""
    store, _ = store_for(settings, create=False)
    line = served_line(settings, store)[0]
    roster = agents_of(line)
    if agent_id not in roster and agent_id != SUPERVISOR:
        sample = ", ".join(list(roster)[:5])
        raise HotlineError(
            f"no agent {agent_id!r} on the line {line.name!r} (agents are like {sample})"
        )
    return store.issue_token(agent_id, time.time())


def revoke_agent_token(settings: Settings, agent_id: str) -> bool:
    store, _ = store_for(settings, create=False)
    return store.revoke_token(agent_id)
