"""The one composition root: settings in, a running line's parts out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hotline.errors import HotlineError
from hotline.ivr.line import LineFlow
from hotline.service.live import LiveLine, agents_of
from hotline.service.settings import Settings
from hotline.sim.scenario_file import load_scenario
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.telephony.control import CallControl, TwilioCallControl
from hotline.testing.connectors import InMemoryConnector
from hotline.yamlfile import read_text


@dataclass
class Parts:
    settings: Settings
    store: Store
    line: LiveLine
    migrations: list[str]
    recovered: dict[str, int]


def store_for(settings: Settings) -> tuple[Store, list[str]]:
    """The store, its schema brought up to date first (returns the migrations applied)."""
    engine = connect(settings.database_url)
    return Store(engine=engine), migrate(engine)


def build_line(
    settings: Settings,
    *,
    wall: Callable[[], float] = time.time,
    control: CallControl | None = None,
) -> Parts:
    """The line's parts; with `control`, open calls in the store are recovered first."""
    store, applied = store_for(settings)
    scenario = load_scenario(settings.scenario)
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
    recovered = line.recover(control.status) if control is not None else {}
    return Parts(settings, store, line, applied, recovered)


def call_control(settings: Settings) -> CallControl:
    if settings.twilio_auth_token is None:
        raise HotlineError(
            "HOTLINE_TWILIO_AUTH_TOKEN is not set: the carrier's webhooks cannot be verified"
        )
    return TwilioCallControl(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        api_base=settings.twilio_api_base,
        public_url=settings.public_url,
    )


def issue_agent_token(settings: Settings, agent_id: str) -> str:
    roster = agents_of(load_scenario(settings.scenario))
    if agent_id not in roster:
        sample = ", ".join(list(roster)[:5])
        raise HotlineError(
            f"no agent {agent_id!r} in {settings.scenario} (agents are like {sample})"
        )
    store, _ = store_for(settings)
    return store.issue_token(agent_id, time.time())
