"""The one composition root: settings in, a running line's parts out."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from hotline.errors import CallNotRecovered, HotlineError
from hotline.records.audit import KEY_VARIABLE, AuditTrail
from hotline.records.config import load_connectors, load_record_sources
from hotline.records.desk import RecordDesk, RecordSource
from hotline.records.policy import Policy
from hotline.records.port import Connector
from hotline.service.accounts import Accounts
from hotline.service.lines import Imported, import_line
from hotline.service.live import LineSetup, LiveLine, line_setup
from hotline.service.recovery import carrier_statuses
from hotline.service.roles import SUPERVISOR
from hotline.service.settings import Settings
from hotline.sim.scenario_file import load_scenario
from hotline.store.accounts import AccountStore
from hotline.store.db import connect, migrate, sqlite_path
from hotline.store.leases import Fence
from hotline.store.repository import Store
from hotline.switchboard.line import agents_of
from hotline.telephony.control import CallControl, TwilioCallControl
from hotline.testing.connectors import InMemoryConnector

log = logging.getLogger("hotline.bootstrap")
STATUS_DEADLINE = 8.0  # seconds the start waits for the carrier's statuses of open calls
NOT_RECOVERED_AT_MOST = 10  # open calls a start closes as not recovered (more: it fails)


@dataclass
class Parts:
    settings: Settings
    store: Store
    line: LiveLine
    migrations: list[str]
    recovered: dict[str, int]
    created: bool  # the database did not exist and was created
    imported: Imported | None  # the settings' scenario, imported as the line at this start
    desk: RecordDesk | None = None  # agents' record look-ups (HOTLINE_RECORDS_POLICY)


def store_for(settings: Settings, *, create: bool = True) -> tuple[Store, list[str]]:
    """The store, its schema brought up to date first (returns the migrations applied).
    With `create=False` a missing SQLite database is an error, not a new empty one."""
    engine = connect(settings.database_url, create=create)
    return Store(engine=engine, key=settings.keyring()), migrate(engine)


def accounts_for(settings: Settings) -> Accounts:
    """The accounts in the settings' store (its schema brought up to date first)."""
    store, _ = store_for(settings)
    ensure_line(settings, store)  # (the agents an agent's account may name)
    return Accounts(store=AccountStore(engine=store.engine), clock=time.time,
                    key=settings.keyring())  # fmt: skip


def build_line(
    settings: Settings,
    *,
    wall: Callable[[], float] = time.time,
    control: CallControl | None = None,
    more_connectors: Mapping[str, Connector] | None = None,
    more_sources: Mapping[str, RecordSource] | None = None,
    fence: Fence | None = None,
    serves: Callable[[str], bool] = lambda _line: True,
) -> Parts:
    """The line's parts; with `control`, open calls in the store are recovered first.
    `more_connectors`, `more_sources`: besides the settings' (the demo's record service);
    `fence`: the lines this node leads (one node of several: service.node); `serves(line)`:
    whether a line added to the store meanwhile is served (one whose lease it holds)."""
    file = sqlite_path(settings.database_url)
    created = file is not None and not file.exists()
    store, applied = store_for(settings)
    store.fence = fence
    imported = ensure_line(settings, store)
    connectors = {**connectors_for(settings), **(more_connectors or {})}
    sources = record_sources(settings, more_sources or {})
    desks = {source.connector for source in sources.values()}  # (the desk's alone, policy
    # or not: its records are shown under the disclosure policy, a flow must not read them)
    ivr = {name: c for name, c in connectors.items() if name not in desks}
    setups, awaiting = line_setups(settings, store, serves)
    if not setups:
        raise HotlineError("none of the lines to serve is in the store")
    for setup in setups:  # (said, not refused: one line's flow must not stop the others)
        if used := sorted(setup.flow.flow.connectors & desks):
            log.error("the flow %r of line %r declares %s, which serve the agents' record "
                      "look-ups under the disclosure policy (connectors.yaml's `records:`): "
                      "its look-ups in them are answered as unavailable", setup.flow.flow.name,
                      setup.scenario.name, ", ".join(used))  # fmt: skip
    home = setups[0].number == settings.line_number

    def live_line() -> LiveLine:
        line = LiveLine(lines=setups, store=store, connectors=ivr, wall=wall,
                        serves=serves, home=home, shared=fence is not None)  # fmt: skip
        line.awaiting = awaiting
        line.desk_connectors = frozenset(desks)
        return line

    line = live_line()
    recovered: dict[str, int] = {}
    if control is not None:
        statuses = carrier_statuses(control, line.recovering(), deadline=STATUS_DEADLINE)
        line, recovered = recover(live_line, line, statuses)
    desk = record_desk(settings, connectors, store, sources)
    return Parts(settings, store, line, applied, recovered, created, imported, desk)


def recover(
    live_line: Callable[[], LiveLine], line: LiveLine, statuses: Mapping[str, str | None]
) -> tuple[LiveLine, dict[str, int]]:
    """`line` rebuilt from the store's open calls (`LiveLine.recover`). A call whose
    rebuilding fails is left (closed, its caller told): the half-built line is dropped,
    nothing of it written, and another (`live_line()`) built without the call. More than
    NOT_RECOVERED_AT_MOST such calls is no one call's fault: the start fails, nothing
    written, as it would have without this (its node gives its lines up and stops)."""
    left: dict[str, str] = {}
    while True:
        try:
            return line, line.recover(statuses, left)
        except CallNotRecovered as e:
            log.error("%s: the line is built again without it (it is closed once the "
                      "start is made)", e.message, exc_info=e)  # fmt: skip
            left[e.sid] = e.cause
            if len(left) > NOT_RECOVERED_AT_MOST:
                raise HotlineError(
                    f"{len(left)} open calls could not be recovered ({', '.join(left)}): "
                    f"more than {NOT_RECOVERED_AT_MOST} is taken for a fault of this "
                    f"release or of the store, not of a call: nothing was closed"
                ) from None
        line = live_line()


def record_sources(
    settings: Settings, more_sources: Mapping[str, RecordSource]
) -> dict[str, RecordSource]:
    """Where the agents' record look-ups go: connectors.yaml's `records:`, and
    `more_sources` (the demo's)."""
    sources = dict(more_sources)
    if settings.connectors_file is not None:
        sources |= load_record_sources(settings.connectors_file)
    return sources


def record_desk(
    settings: Settings,
    connectors: Mapping[str, Connector],
    store: Store,
    sources: Mapping[str, RecordSource],
) -> RecordDesk | None:
    """Agents' record look-ups, if a disclosure policy is set (HOTLINE_RECORDS_POLICY):
    the record types `sources` names (`record_sources`), through its connectors."""
    if settings.records_policy is None:
        return None
    if not sources:
        raise HotlineError(
            f"HOTLINE_RECORDS_POLICY is set but no record type says where it is looked up: "
            f"add a `records:` section to the connectors file "
            f"({settings.connectors_file or 'HOTLINE_CONNECTORS_FILE, not set'})"
        )
    return RecordDesk(policy=Policy.load(settings.records_policy), sources=sources,
                      connectors=connectors, engine=store.engine, clock=time.time)  # fmt: skip


def audit_trail(store: Store, environ: Mapping[str, str] = os.environ) -> AuditTrail | None:
    """The audit trail's checkpoints, signed with HOTLINE_AUDIT_KEY; None without a key
    (entries are still chained, but nothing is signed: `hotline serve` says so)."""
    if not environ.get(KEY_VARIABLE):
        return None
    return AuditTrail.from_environment(store.engine, environ)


def connectors_for(settings: Settings) -> dict[str, Connector]:
    """The record connectors: HOTLINE_CONNECTORS' in-memory files and those of
    HOTLINE_CONNECTORS_FILE (a connectors.yaml); a name in both is refused."""
    built: dict[str, Connector] = {
        name: InMemoryConnector.from_file(path) for name, path in settings.connectors.items()
    }
    if settings.connectors_file is not None:
        for name, connector in load_connectors(settings.connectors_file).items():
            if name in built:
                raise HotlineError(
                    f"the connector {name!r} is named by HOTLINE_CONNECTORS and in "
                    f"{settings.connectors_file}: keep one"
                )
            built[name] = connector
    return built


def ensure_line(settings: Settings, store: Store) -> Imported | None:
    """A store without a line of the settings' number first imports the settings' scenario
    as that line (with their number, time zone and flow)."""
    if store.line_of_number(settings.line_number) is not None:
        return None
    name = load_scenario(settings.scenario).name
    held = {line["name"]: line["number"] for line in store.lines()}
    if name in held:  # never over a line of the store, whose number was changed on purpose
        raise HotlineError(
            f"the store has no line {settings.line_number} (HOTLINE_LINE_NUMBER), and the "
            f"line {name!r} of {settings.scenario} has the number {held[name]}: set "
            f"HOTLINE_LINE_NUMBER={held[name]}, or give the line the new number with "
            f"hotline line import {settings.scenario} --number {settings.line_number}"
        )
    return import_line(store, settings.scenario, number=settings.line_number,
                       timezone=settings.timezone, flow=settings.flow)  # fmt: skip


def line_setups(
    settings: Settings, store: Store, serves: Callable[[str], bool] = lambda _line: True
) -> tuple[list[LineSetup], set[str]]:
    """Every line in the store this server serves, the settings' line first (it answers
    numbers no line has, with a refusal), each as `live.line_setup` makes it; and those it
    does not serve yet (`serves`: one node of several, their lease not its own; a node
    serves the settings' line only with the group of lines it is in). Another line that
    cannot be served (no flow, a flow refused) is logged and left out: one bad line never
    keeps the others from starting; the settings' own line must be served."""
    setups: list[LineSetup] = []
    awaiting: set[str] = set()
    for meta in store.lines():
        ours = meta["number"] == settings.line_number
        if not serves(meta["name"]):
            awaiting.add(meta["name"])
            continue
        try:
            setup = line_setup(store, meta, settings.flow if ours else None)
        except HotlineError as e:
            if ours:
                raise
            log.error("line %r cannot be served: %s", meta["name"], e.message)
            continue
        if ours:
            setups.insert(0, setup)
        else:
            setups.append(setup)
    return setups, awaiting


def call_control(settings: Settings) -> CallControl:
    return TwilioCallControl(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.webhook_secret(),
        api_base=settings.twilio_api_base,
        public_url=settings.public_url,
        caller_id=settings.line_number,
        phones=settings.agent_phones,
        interpreter=settings.interpreter_number,
    )


def issue_agent_token(settings: Settings, agent_id: str) -> str:
    """A token for an agent of the line, or (`SUPERVISOR`) for the supervisor."""
    store, _ = store_for(settings, create=False)
    roster: Collection[str] = store.agents_lines()
    if not roster:  # no line yet: those of the scenario `serve` will import at its start
        roster = agents_of(load_scenario(settings.scenario))
    if agent_id not in roster and agent_id != SUPERVISOR:
        sample = ", ".join(list(roster)[:5])
        raise HotlineError(f"no agent {agent_id!r} on any line (agents are like {sample})")
    return store.issue_token(agent_id, time.time())


def revoke_agent_token(settings: Settings, agent_id: str) -> bool:
    store, _ = store_for(settings, create=False)
    return store.revoke_token(agent_id)
