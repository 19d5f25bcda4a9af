"""`hotline demo`: the live line and the carrier emulator on loopback, agent bots on shift,
traffic at the scenario's rate times `speed`, and a live summary in the terminal.

Everything runs `speed` times faster than the wall clock, on both sides: callers'
prompts, patience and talk in the emulator, and the line's own clock (offer timeouts,
escalation steps, wrap-up), while calls arrive `speed` times more often; so the load on
the agents and the waits are the scenario's own, only sooner."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from pydantic import SecretStr

from hotline.errors import HotlineError
from hotline.records.audit import AuditTrail, FileSink
from hotline.records.checkpoint import Signer
from hotline.records.desk import RecordSource
from hotline.records.http import HttpConnector, HttpSecrets
from hotline.service.accounts import Accounts
from hotline.service.bootstrap import build_line, call_control, store_for
from hotline.service.lines import import_line
from hotline.service.sealing import new_key
from hotline.service.settings import Settings
from hotline.sim.scenario import Scenario
from hotline.store.accounts import AccountStore
from hotline.store.db import sqlite_path
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.callers import CallerMix
from hotline.telephony.emulator.carrier import Carrier
from hotline.telephony.emulator.tls import certificate_files
from hotline.testing.case_records import case_records_app, case_records_settings, synthetic_cases
from hotline.web.app import SERVING, create_app

ROOT = Path(__file__).resolve().parents[3]
VICTIMS = ROOT / "scenarios" / "victim-support.yaml"  # the second line on the platform


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports on loopback (all held at once, so never the same twice)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def on_shift(scenario: Scenario, hour: float) -> list[str]:
    """The agents whose shift covers `hour` on the first day (a Monday)."""
    out = []
    for g in scenario.agent_groups:
        if any(_covers(s.start, s.hours, hour) and 0 in s.days for s in g.shifts):
            out += g.ids()
    return out


def _covers(start: float, hours: float, hour: float) -> bool:
    return start <= hour < start + hours or hour + 24 < start + hours


DEMO_USERS = (("demo-supervisor", "supervisor"), ("demo-admin", "admin"), ("demo-agent", "agent"),
              ("demo-auditor", "auditor"))  # fmt: skip
HANG_UP_WAIT = 30.0  # seconds the calls of callers hung up at the demo's end get to end
DEMO_INTERPRETERS = "+18005550199"  # the interpreting service agents add in the demo
# the demo desktop looks up the synthetic case records by case id
CASE_SOURCE = RecordSource(record_type="case", connector="case_records", operation="case",
                           key="case_id")  # fmt: skip


def audit_sink_beside(database_url: str) -> Path:
    """Where the demo keeps its audit checkpoints: beside its SQLite database (or in a new
    temporary folder for another database)."""
    path = sqlite_path(database_url)
    if path is None:
        return Path(tempfile.mkdtemp(prefix="hotline-audit-")) / "audit-checkpoints.jsonl"
    return path.with_name(f"{path.name}.audit-checkpoints.jsonl")


class _Server(uvicorn.Server):
    """Leaves Ctrl-C to the demo (uvicorn would take it to stop only its own server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DemoStats:
    placed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class Demo:
    def __init__(
        self,
        *,
        database_url: str,
        speed: float = 10.0,
        hour: float = 10.0,
        seed: int = 1,
        scenario: Path | None = None,
        flow: Path | None = None,
        lines: Sequence[Path] = (VICTIMS,),
        max_agents: int | None = None,
        patient_callers: bool = False,
        browser_phone: bool = False,
    ) -> None:
        """`scenario` and `flow`: the main line (the national one by default); `lines`:
        scenario files of the other lines on the platform (each names its flow).
        `patient_callers` never hang up while they wait (at `speed` 10 a caller's patience
        runs out ten times sooner than a person offered their call can answer).
        `browser_phone`: the desktop's and wallboard's browser phones register with the
        emulator (its signalling over TLS, with a certificate made up for the run, which
        a person's browser must be told to accept once: `urls`)."""
        self.speed = speed
        self.hour = hour
        self.rng = np.random.default_rng(seed)
        self.hotline_port, self.carrier_port, self.records_port, self.signal_port = free_ports(4)
        token = secrets.token_urlsafe(24)  # made up for this run: nothing to keep secret
        records_token = secrets.token_urlsafe(24)  # (the same)
        api_key = ("SK" + secrets.token_hex(16), secrets.token_urlsafe(32))  # (the same)
        self.tls: Path | None = None  # the signalling's certificate and key's directory
        if browser_phone:
            self.tls = Path(tempfile.mkdtemp(prefix="hotline-demo-tls-"))
        self.records_app = case_records_app(cases=synthetic_cases(seed), token=records_token)
        self.case_records = HttpConnector(
            settings=case_records_settings(f"http://127.0.0.1:{self.records_port}"),
            secrets=HttpSecrets(token=records_token),
        )
        self.settings = Settings(
            database_url=database_url,
            scenario=scenario or ROOT / "scenarios" / "national-hotline.yaml",
            flow=flow or ROOT / "scenarios" / "national-hotline.flow.yaml",
            connectors={"agency_directory": ROOT / "scenarios" / "demo-agency-directory.yaml"},
            public_url=f"http://127.0.0.1:{self.hotline_port}",
            twilio_auth_token=SecretStr(token),
            twilio_api_base=f"http://127.0.0.1:{self.carrier_port}",
            interpreter_number=DEMO_INTERPRETERS,  # (the emulator answers it)
            records_policy=ROOT / "scenarios" / "disclosure-policy.yaml",
        )
        if browser_phone:
            self.settings = self.settings.model_copy(update={
                "twilio_api_key": api_key[0], "twilio_api_secret": SecretStr(api_key[1]),
                "twilio_signal_url": f"wss://127.0.0.1:{self.signal_port}/signal"})  # fmt: skip
        if self.settings.secret_key is None:  # one for this run: its accounts are new each run
            self.settings = self.settings.model_copy(update={"secret_key": SecretStr(new_key())})
        self.audit_sink = audit_sink_beside(database_url)
        fresh = sqlite_path(database_url)
        if fresh is not None and not fresh.exists():  # a new database: a new trail
            self.audit_sink.unlink(missing_ok=True)
        store, _ = store_for(self.settings)  # the other lines first; build_line adds ours
        for path in lines:
            import_line(store, path)
        store.engine.dispose()
        start = time.time()
        self.parts = build_line(self.settings, wall=lambda: start + (time.time() - start) * speed,
                                more_connectors={"case_records": self.case_records},
                                more_sources={"case": CASE_SOURCE})  # fmt: skip
        self.line = self.parts.line
        self.case_ids = sorted(synthetic_cases(seed))  # (for a person to look up)
        # the audit trail's checkpoints, signed with a key made for this run, kept beside
        # the database: `hotline audit verify` checks the run's trail with what it prints
        self.audit_signer = Signer.generate("demo.hotline.invalid/audit")
        self.trail = AuditTrail(engine=self.line.store.engine, signer=self.audit_signer,
                                sink=FileSink(self.audit_sink))  # fmt: skip
        self.app = create_app(
            settings=self.settings, line=self.line, control=call_control(self.settings),
            desk=self.parts.desk, trail=self.trail,
        )  # fmt: skip
        accounts = Accounts(store=AccountStore(engine=self.line.store.engine), clock=time.time,
                            key=self.settings.keyring())  # fmt: skip
        self.setups = list(self.line.setups.values())
        agents = list(dict.fromkeys(a for s in self.setups for a in on_shift(s.scenario, hour)))
        # an English agent on shift is left to a person (demo-agent): no bot answers for them
        self.person = next((a for a in agents if a.startswith("en-")), agents[0])
        agents.remove(self.person)
        self.credentials = [  # new ones each run, printed once
            accounts.reset(name) if accounts.store.user(name) else accounts.add(
                name, role, agent_id=self.person if role == "agent" else None)
            for name, role in DEMO_USERS
        ]  # fmt: skip
        self.carrier = Carrier(
            hotline_url=self.settings.public_url,
            auth_token=token,
            account_sid=self.settings.twilio_account_sid,
            line_number=self.settings.line_number,
            speed=speed,
            api_key=api_key if browser_phone else None,
        )
        self.mixes = [CallerMix(s.scenario, s.flow.flow, self.rng, dial=s.number,
                                patient=patient_callers) for s in self.setups]  # fmt: skip
        self.agent_ids = agents[:max_agents] if max_agents is not None else agents
        self.bots: list[AgentBot] = []
        self.stats = DemoStats()
        self._servers: list[uvicorn.Server] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def urls(self) -> dict[str, str]:
        base = self.settings.public_url
        return {
            "log on": f"{base}/login",
            "wallboard": f"{base}/wallboard",
            "administration": f"{base}/admin",
            "agent desktop": f"{base}/desktop",
            "audit trail": f"{base}/audit",
            "health": f"{base}/healthz",
            "api docs": f"{base}/api/docs",
            "carrier REST": self.settings.twilio_api_base,
            "case records (synthetic)": f"http://127.0.0.1:{self.records_port}/cases/",
            **({"browser phones' signalling (open it once and accept its certificate, made "
                "up for this run)": f"https://127.0.0.1:{self.signal_port}/"}
               if self.tls else {}),
        }  # fmt: skip

    def rates(self) -> list[float]:
        """Each line's calls per (wall-clock) second at the demo's hour."""
        out = []
        for setup in self.setups:
            s = setup.scenario
            share = s.hourly_profile[int(self.hour) % 24] / sum(s.hourly_profile)
            out.append(s.calls_per_day * share / 3600.0 * self.speed)
        return out

    def calls_per_second(self) -> float:
        return sum(self.rates())

    async def start(self) -> None:
        servers: list[tuple[Any, int, tuple[Path, Path] | None]] = [
            (self.app, self.hotline_port, None),
            (self.carrier.rest_app(), self.carrier_port, None),
            (self.records_app, self.records_port, None),
        ]
        if self.tls is not None:  # (the browser phones' signalling: over TLS only)
            servers.append((self.carrier.signal_app(), self.signal_port,
                            certificate_files(self.tls)))  # fmt: skip
        for app, port, tls in servers:
            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="critical", timeout_graceful_shutdown=2,
                ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
                ws_per_message_deflate=SERVING["ws_per_message_deflate"],  # (as `serve`)
            )  # fmt: skip
            server = _Server(config)
            self._servers.append(server)
            self._tasks.append(asyncio.create_task(server.serve()))
        while not all(s.started for s in self._servers):
            if any(t.done() for t in self._tasks):
                raise HotlineError("the demo's servers could not start (a port in use?)")
            await asyncio.sleep(0.05)
        now = time.time()
        for agent_id in self.agent_ids:
            token = self.line.store.issue_token(agent_id, now)
            bot = AgentBot(
                agent_id=agent_id, token=token, base_url=self.settings.public_url, speed=self.speed
            )
            self.bots.append(bot)
            self._tasks.append(asyncio.create_task(bot.run()))
        await asyncio.gather(*(b.ready.wait() for b in self.bots))

    async def traffic(
        self,
        *,
        calls: int | None,
        seconds: float | None,
        on_call: Callable[[], None] = lambda: None,
    ) -> None:
        """Place calls at the scenario's rate until `calls` have been placed or `seconds` passed."""
        rates = self.rates()
        rate = sum(rates)
        end = None if seconds is None else asyncio.get_running_loop().time() + seconds
        while calls is None or self.stats.placed < calls:
            await asyncio.sleep(float(self.rng.exponential(1.0 / rate)))
            if end is not None and asyncio.get_running_loop().time() >= end:
                break
            line = int(self.rng.choice(len(rates), p=[r / rate for r in rates]))
            self.carrier.place(self.mixes[line].next())
            self.stats.placed += 1
            on_call()

    async def finish(self, drain_seconds: float = 120.0) -> None:
        """Let the calls in progress end (for `drain_seconds` at most: then the callers
        still on hang up, and their calls end as such calls do), then stop the bots and
        the servers, once no call is left to ask them anything. (The drain is shielded: a
        time-out cancelled the calls' tasks it had gathered mid-call, and the legs they
        had dialled went on asking a server that had stopped.)"""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.carrier.drain()), drain_seconds)
        await self.carrier.hang_up_callers()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.carrier.drain()), HANG_UP_WAIT)
        for task in list(self.carrier.tasks):  # (a call that did not end even so)
            task.cancel()
        for bot in self.bots:
            await bot.stop()
        for t in self._tasks[len(self._servers) :]:  # the bots
            t.cancel()
        for s in self._servers:
            s.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.carrier.client.aclose()
        self.case_records.close()
        if self.tls is not None:
            shutil.rmtree(self.tls, ignore_errors=True)
        self.stats.outcomes = Counter(c.outcome for c in self.carrier.callers())

    def snapshot(self) -> dict[str, int]:
        calls = self.carrier.callers()
        states = Counter(self.line.floor.agent_state(a)["state"] for a in self.agent_ids)
        snap = {
            "placed": self.stats.placed,
            "in IVR": self.line.in_ivr(),
            "waiting": sum(len(b.waiting()) for b in self.line.boards.values()),
            "talking": sum(1 for c in calls if not c.ended and c.agent),
            "ended": sum(1 for c in calls if c.ended),
            "answered": sum(1 for c in calls if c.agent),
            "abandoned": sum(1 for c in calls if c.outcome == "abandoned"),
            "agents available": states.get("available", 0),
            "agents busy": states.get("on_call", 0)
            + states.get("reserved", 0)
            + states.get("wrap_up", 0),
            "webhooks": self.carrier.webhooks,
            "webhook failures": self.carrier.failures,
            "audio not played": self.carrier.media_failures,
        }
        for setup in self.setups:
            mine = [c for c in calls if c.script.to == setup.number]
            snap[f"{setup.name}: answered"] = sum(1 for c in mine if c.agent)
            snap[f"{setup.name}: waiting"] = len(self.line.boards[setup.name].waiting())
        return snap

    def outcomes_by_line(self) -> dict[str, Counter[str]]:
        """How the callers' calls ended, per line (dial-back legs left out)."""
        return {s.name: Counter(c.outcome for c in self.carrier.callers()
                                if c.script.to == s.number and c.script.answers)
                for s in self.setups}  # fmt: skip
