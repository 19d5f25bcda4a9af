"""The live line under load, in real time: K times the national line's peak-hour call rate
with K times its agents on shift, against the simulator's prediction for the same workload.

Workload. The national scenario at its busiest hour (Monday 11:00: calls_per_day x the
hour's share x Monday's weekly factor) is scaled K-fold: calls arrive K times as often
(Poisson), and every agent group on shift at 11:00 is there K times over with the same
skills and queues, on shift for the whole run (a scaled copy of the scenario file, written
to a temporary folder and imported by the server as any scenario is). Nothing is sped up:
the line's clock, callers' prompts, patience and talk, offer timeouts and wrap-ups all run
on the wall clock (speed 1).

The agency directory the IVR checks officers' PINs in is the demo's, with its PINs hashed
at Argon2id's least cost (`stand_in_directory`; `--directory demo` for the demo's own
cost): in a deployment the agencies' own servers check PINs, not Hotline's machine.

Processes. Hotline (`hotline serve`'s app: build_line + create_app under uvicorn, on the
event loop and HTTP parser uvicorn picks, as `hotline serve` runs it; SQLite in WAL with
synchronous=FULL, or with `--store postgresql` a schema of its own in this machine's
PostgreSQL, fsync and synchronous_commit on, whose server's processes' CPU counts among
"other processes") runs in a child process of its own; one bot per agent (websocket
+ REST, as a browser desktop) in another; the carrier emulator and its callers, which
measure the webhooks' latency, in this one. (With the bots in this process too, the
thousands of sockets' work delayed its event loop, and so the latencies it measured, which
the bare endpoint's client, with no bots, never paid.)

Measured over a window that starts after a warm-up (a call lasts minutes: the IVR, the
wait, about 5 min of talk, 30-45 s of wrap-up; the warm-up lets the line fill towards its
steady state first, but does not reach it: the calls in progress are still growing, and
the agents, taken longest-idle first from their log-in order, are still working through
their groups until about the ninth minute, live and in the simulator alike), from the
carrier's side: webhook latency p50/p99 (every webhook answered in
the window), calls lost (a webhook that failed or a call that ended broken), CPU per call of
each process (/proc, over the window, divided by the calls that arrived in it); from the
store: the write transactions against the units of work, and the service level (answered
within the scenario's threshold) and abandonment of the calls that first queued in the
window, read from the line's own events; from inside Hotline's process: each webhook's time
from its arrival in the app to its answer (what the carrier measures beyond it is the
sockets, the server's parsing and the carrier's own queue of requests), and each unit of
work's time from its submission to its commit (a reply waits for its own, at most
COMMIT_WAIT). The simulator (`hotline simulate`'s engine) runs
the same scaled scenario several times (seeds) and gives the 95 % prediction interval of
those two figures for calls that first queue in the same window of the hour; it also plays
the live run's own callers (their arrivals, types and languages, the IVR time the line took
them, the patience and talk the emulator drew), which predicts this very run without the
spread of other draws of callers.

The baseline, measured in the same run afterwards: a bare FastAPI endpoint returning a
fixed TwiML document, in a child process of its own under uvicorn (its loop and parser
picked as Hotline's: with uvloop and httptools installed, both servers run on them),
driven by the same kind of client at the live run's webhook rate. The carrier's REST API
stays on h11 and the carrier and bots on asyncio's own loop either way.

A second baseline, after it: the same endpoint writing one row to a database of the run's
store (a new SQLite file, or a schema of its own in the same PostgreSQL) before it answers,
each write its own transaction committed in a worker thread and awaited, as a Hotline reply
waits for its own writes to land. Its ratio says how much of Hotline's is the durable write
a reply waits for, which the bare endpoint does not make, and how much is the rest.

    python bench/bench_live.py [--scale 100] [--warmup 6] [--minutes 5]
    python bench/bench_live.py --find-max 5,10,20,40,60,80,100 [--warmup 4] [--minutes 2]
    python bench/bench_live.py --scale 40 --collector default   (CPython's collector settings)
    python bench/bench_live.py --store postgresql --node   (Hotline as `hotline serve --node`
        runs it: the issue's set-up, one node leading the line under a lease that every
        write transaction checks; one node, so no webhook is forwarded to another)
    python bench/bench_live.py --store postgresql --forwarded   (as --node, and a second
        node, a follower, which the carrier's webhooks reach: it forwards each to the
        leader, as a front that has not yet seen a takeover sends them to the old node)
    BENCH_LIVE_HEAP=20 python bench/bench_live.py ...   (what each process's heap holds)
    BENCH_LIVE_SLOW=0.02 python bench/bench_live.py ...   (each callback of Hotline's event
        loop that ran longer, logged: asyncio's debug mode, which costs some CPU)
    BENCH_LIVE_PROFILE=FILE python bench/bench_live.py ...   (Hotline under cProfile: its
        event loop into FILE, its other threads into FILE.threads)
    BENCH_LIVE_CONNECTIONS=N python bench/bench_live.py ...   (the carrier's connections to
        the server at once, live and bare alike: 100 unless set, in pools of 16 at most)
    BENCH_LIVE_NO_COMMIT_WAIT=1 python bench/bench_live.py ...   (a diagnostic, not how
        Hotline serves: replies, offers and connects go out without waiting for their
        writes to land, so the run shows what of the p99 is that wait)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import inspect
import json
import math
import multiprocessing
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.responses import Response
from scipy import stats
from sqlalchemy import Connection, event, text
from twilio.twiml.voice_response import VoiceResponse

from hotline.ivr.line import LineFlow
from hotline.service.demo import _covers, _Server, free_ports
from hotline.sim.driver import CallPlan, Simulation
from hotline.sim.scenario import Scenario
from hotline.sim.scenario_file import load_scenario
from hotline.store.db import connect
from hotline.switchboard.events import IvrStarted
from hotline.telephony.emulator.bots import AgentBot
from hotline.telephony.emulator.callers import CallerMix
from hotline.telephony.emulator.carrier import KEEP_ALIVE, Carrier, EmulatedCall

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "national-hotline.yaml"
FLOW = ROOT / "scenarios" / "national-hotline.flow.yaml"
AGENCIES = ROOT / "scenarios" / "demo-agency-directory.yaml"
DEMO_PINS = {"123455": "2468", "400010": "1357"}  # (the demo's, written in that file)
HOUR = 11  # the national line's busiest hour
FINAL = {"completed", "abandoned", "overflowed"}
BROKEN = {"failed", "bad-twiml"}  # how the emulator ends a call the line failed
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
# the carrier's connections to the server, the live run's and the bare endpoint's alike:
# at most BENCH_LIVE_CONNECTIONS at once (100 unless set), in pools of at most POOL; a
# webhook that finds them all busy waits in the client, and that wait counts in its latency
CONNECTIONS = int(os.environ.get("BENCH_LIVE_CONNECTIONS", "100"))
# `--store postgresql`: this server's database, in a schema of the run's own (dropped after)
POSTGRES = os.environ.get("BENCH_LIVE_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA_PREFIX = "bench_live_"
LEAD_WITHIN = 120.0  # seconds Hotline has to listen (and, as a node, lead) once it is built
POOL = 16


class Spread(httpx.AsyncBaseTransport):
    """The carrier's connections in several small pools, each request to the pool with
    the fewest under way. One httpcore pool (1.0.9) walks all its connections for every
    request waiting, at each request sent and each ended (O(connections x waiting): see
    encode/httpcore#1035): at K=100 with 1,000 connections in one pool the carrier's own
    process spent its core there (py-spy), and its webhooks' wait was the client's, not
    the server's. Kept alive as long as the emulator's own client keeps them. `port`:
    every request goes to this port of its host instead (a front: the carrier signs and
    addresses the line's public URL; the front sends it on to a node)."""

    def __init__(self, connections: int, port: int | None = None) -> None:
        pools = max(1, math.ceil(connections / POOL))
        each = math.ceil(connections / pools)
        limits = httpx.Limits(max_connections=each, max_keepalive_connections=each,
                              keepalive_expiry=KEEP_ALIVE.keepalive_expiry)  # fmt: skip
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(pools)]
        self._busy = [0] * pools
        self._port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._port is not None:  # (its Host field stays the public URL's)
            request.url = request.url.copy_with(port=self._port)
        i = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[i] += 1
        try:  # (until its answer's head: its body, a few hundred bytes, is read at once)
            return await self._pools[i].handle_async_request(request)
        finally:
            self._busy[i] -= 1

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def webhooks_client(port: int | None = None) -> httpx.AsyncClient:
    """The carrier's client to the server (the live run's, the bare endpoint's; `port`:
    a follower's, to which every webhook goes)."""
    # (no time limit on waiting for a connection: a carrier queues its webhooks; the wait
    # counts in their latency)
    return httpx.AsyncClient(timeout=httpx.Timeout(20, pool=None),
                             transport=Spread(CONNECTIONS, port))  # fmt: skip


# -- the workload


def peak_rate(s: Scenario, hour: int) -> float:
    """Calls per second at `hour` of the scenario's first day (its weekday's factor in)."""
    share = s.hourly_profile[hour] / sum(s.hourly_profile)
    day = s.weekly_profile[s.start_weekday] / (sum(s.weekly_profile) / 7)
    return s.calls_per_day * day * share / 3600.0


def scaled_scenario(k: float, dest: Path, *, hour: int = HOUR) -> Path:
    """A copy of the national scenario with K times its rate at `hour` all day long and K
    times the agents on shift then (same groups, skills, queues), on shift all the time."""
    data = yaml.safe_load(SCENARIO.read_text())
    base = load_scenario(SCENARIO)
    rate = peak_rate(base, hour) * k
    data["name"] = f"National hotline x{k:g}"
    data["arrivals"] = {"calls_per_day": rate * 86400, "hourly_profile": [1.0] * 24,
                        "weekly_profile": [1.0] * 7}  # fmt: skip
    data["line"]["flow"] = str(FLOW)
    groups = []
    for raw, g in zip(data["agents"], base.agent_groups, strict=True):
        if any(_covers(s.start, s.hours, hour) and base.start_weekday in s.days for s in g.shifts):
            groups.append({**raw, "count": round(raw["count"] * k)})
            groups[-1].pop("shifts", None)
    data["agents"] = groups
    dest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return dest


# -- service level and abandonment, from the line's events (live) or the simulator's


@dataclass(frozen=True)
class Service:
    calls: int  # first queued in the window
    answered: int
    within: int  # answered within the threshold
    abandoned: int
    overflowed: int  # to a fallback (voicemail)
    unresolved: int  # still waiting when the run ended

    @property
    def outcomes(self) -> int:
        return self.answered + self.abandoned + self.overflowed

    @property
    def level(self) -> float:
        return self.within / max(self.outcomes, 1)

    @property
    def abandonment(self) -> float:
        return self.abandoned / max(self.outcomes, 1)


def service(
    events: Iterable[tuple[str, str, float, dict[str, Any]]],
    start: float,
    end: float,
    answer_within: float,
) -> Service:
    """The calls whose first CallQueued falls in [start, end), and how each ended, counted
    as the simulator's KPIs count them (service level and abandonment over answered +
    abandoned + overflowed to a fallback). `events`: (kind, call_id, at, fields) in order."""
    first: dict[str, float] = {}
    ended: dict[str, tuple[str, float]] = {}
    for kind, sid, at, data in events:
        if kind == "CallQueued":
            first.setdefault(sid, at)
        elif kind == "CallAnswered" and sid not in ended:
            ended[sid] = ("answered", float(data["waited"]))
        elif kind == "CallAbandoned" and sid not in ended:
            ended[sid] = ("abandoned", 0.0)
        elif kind == "CallOverflowed" and data.get("fallback") and sid not in ended:
            ended[sid] = ("overflowed", 0.0)
    mine = [sid for sid, at in first.items() if start <= at < end]
    outcomes = [ended.get(sid) for sid in mine]
    return Service(
        calls=len(mine),
        answered=sum(1 for o in outcomes if o and o[0] == "answered"),
        within=sum(1 for o in outcomes if o and o[0] == "answered" and o[1] <= answer_within),
        abandoned=sum(1 for o in outcomes if o and o[0] == "abandoned"),
        overflowed=sum(1 for o in outcomes if o and o[0] == "overflowed"),
        unresolved=sum(1 for o in outcomes if o is None),
    )


def awaiting(task: asyncio.Task[Any]) -> str:
    """Where a task waits: its coroutines, outermost first, and what the innermost awaits."""
    where: list[str] = []
    step: Any = task.get_coro()
    while hasattr(step, "cr_frame"):
        if step.cr_frame is not None:
            code = step.cr_frame.f_code
            where.append(f"{Path(code.co_filename).name}:{step.cr_frame.f_lineno} "
                         f"{code.co_name}")  # fmt: skip
        step = step.cr_await
    return " > ".join(where) + f" > awaiting {step!r}"[:300]


def describe_open(db: Connection, calls: list[Any], states: dict[str, str]) -> list[str]:
    """Each call the store did not close (at most 10): its state there, how the carrier
    ended it, and its last events, so that a run that leaves one says which and how."""
    described = []
    for c in calls[:10]:
        kinds = db.execute(
            text("SELECT kind FROM call_events WHERE call_sid = :sid ORDER BY id"),
            {"sid": c.sid},
        ).scalars()
        described.append(f"{c.sid}: {states.get(c.sid, 'not in the store')} in the store, "
                         f"{c.outcome if c.ended else 'not ended'} at the carrier; events "
                         f"{' > '.join(list(kinds)[-8:]) or 'none'}")  # fmt: skip
    return described


def store_events(url: str) -> list[tuple[str, str, float, dict[str, Any]]]:
    """The line's events that say when each call arrived (its IVR began), first queued and
    how it ended, in order."""
    kinds = (IvrStarted.kind, "CallQueued", "CallAnswered", "CallAbandoned", "CallOverflowed")
    engine = connect(url, create=False)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT kind, call_sid, at, data FROM call_events WHERE kind IN "
                f"({', '.join(repr(k) for k in kinds)}) ORDER BY id"
            )
        ).all()
    engine.dispose()
    return [(k, sid, float(at), json.loads(d) if isinstance(d, str) else d)
            for k, sid, at, d in rows]  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    level: tuple[float, float, float]  # mean, low, high of the 95 % prediction interval
    abandonment: tuple[float, float, float]
    calls: float  # mean calls first queued in the window
    runs: int
    seconds: float  # wall time the runs took


def predict(scenario: Scenario, start: float, end: float, runs: int) -> Prediction:
    """The simulator on the same scaled scenario, `runs` seeds: the 95 % prediction interval
    of one run's service level and abandonment (mean +- t * sd * sqrt(1 + 1/n)), for the
    calls first queued in [start, end) seconds after the line opened."""
    levels, abandons, calls = [], [], []
    began = time.perf_counter()
    for seed in range(1, runs + 1):
        got = simulated(scenario, start, end, seed=seed)
        levels.append(got.level)
        abandons.append(got.abandonment)
        calls.append(got.calls)
    return Prediction(_interval(levels), _interval(abandons), statistics.fmean(calls), runs,
                      time.perf_counter() - began)  # fmt: skip


def live_callers(
    scenario: Scenario,
    callers: Sequence[EmulatedCall],
    events: Iterable[tuple[str, str, float, dict[str, Any]]],
    t0: float,
) -> CallPlan:
    """The live run's own callers as the simulator's calls: when each arrived (its IVR
    began, seconds after `t0`), their type and language, the time the line's IVR took them
    to queue, and the patience and talk the emulator drew for them. Callers who never
    queued (who hung up in the IVR, or were still in it at the end) are left out."""
    began: dict[str, float] = {}
    queued: dict[str, float] = {}
    for kind, sid, at, _ in events:
        if kind == IvrStarted.kind:
            began.setdefault(sid, at)
        elif kind == "CallQueued":
            queued.setdefault(sid, at)
    types = [c.name for c in scenario.caller_types]
    tags = [lang.tag for lang in scenario.languages]
    mine = [c for c in callers if c.sid in began and c.sid in queued]
    kinds = [c.script.label.split("/", 1) for c in mine]  # (CallerMix: "type/language")
    return CallPlan(
        times=np.array([began[c.sid] - t0 for c in mine], dtype=np.float64),
        caller=np.array([types.index(kind) for kind, _ in kinds], dtype=np.int64),
        language=np.array([tags.index(tag) for _, tag in kinds], dtype=np.int64),
        ivr=np.array([queued[c.sid] - began[c.sid] for c in mine], dtype=np.float64),
        patience=np.array([c.script.patience for c in mine], dtype=np.float64),
        handle=np.array([c.script.talk for c in mine], dtype=np.float64),
        callback=np.zeros(len(mine), dtype=bool),  # (the emulator's callers take none)
    )


def predict_paired(scenario: Scenario, plan: CallPlan, start: float, end: float) -> Service:
    """The simulator on the live run's own callers (`live_callers`): what it predicts for
    this very run, without the spread of other draws of callers."""
    return simulated(scenario, start, end, plan=plan)


def simulated(scenario: Scenario, start: float, end: float, **run: Any) -> Service:
    """One simulator run of the scenario (`run`: its seed, or the calls it plays), long
    enough for the calls first queued in [start, end) seconds to end: their service."""
    s = replace(scenario, hours=max(1, math.ceil((end + 900) / 3600)))
    seen: list[tuple[str, str, float, dict[str, Any]]] = []

    def trace(ev: Any) -> None:
        kind = type(ev).__name__
        if kind in ("CallQueued", "CallAnswered", "CallAbandoned", "CallOverflowed"):
            fields = {"waited": getattr(ev, "waited", 0.0),
                      "fallback": getattr(ev, "fallback", None)}  # fmt: skip
            seen.append((kind, ev.call_id, ev.at, fields))

    Simulation(scenario=s, trace=trace, **run).run()
    return service(seen, start, end, s.answer_within)


def _interval(xs: Sequence[float]) -> tuple[float, float, float]:
    n, mean = len(xs), statistics.fmean(xs)
    half = float(stats.t.ppf(0.975, n - 1)) * statistics.stdev(xs) * math.sqrt(1 + 1 / n)
    return mean, max(mean - half, 0.0), min(mean + half, 1.0)


# -- Hotline in its own process


class GcPauses:
    """The cyclic garbage collector's pauses in this process (gc.callbacks), by generation."""

    def __init__(self) -> None:
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self._began = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took, g = time.perf_counter() - self._began, info["generation"]
        self.total[g] += took
        self.longest[g] = max(self.longest[g], took)

    def summary(self) -> str:
        return (
            f"gen-2 collections {self.total[2]:.1f} s in all, longest "
            f"{self.longest[2] * 1000:.0f} ms; all generations {sum(self.total):.1f} s"
        )


def heap_census() -> str:
    """With BENCH_LIVE_HEAP=N: how many objects the collector tracks in this process, and
    the N commonest types among them (what a full collection walks)."""
    top = int(os.environ.get("BENCH_LIVE_HEAP", "0") or 0)
    if top <= 0:
        return ""
    tracked = gc.get_objects()
    kinds = collections.Counter(
        f"coroutine {o.cr_code.co_qualname}" if inspect.iscoroutine(o) else type(o).__qualname__
        for o in tracked
    )  # (a coroutine by its function: which tasks wait)
    commonest = ", ".join(f"{name} {n:,}" for name, n in kinds.most_common(top))
    return f"; tracked objects {len(tracked):,} (frozen {gc.get_freeze_count():,}): {commonest}"


def serve_hotline(
    conf: dict[str, Any], agents: list[str], port: int, pipe: Pipe, collector: str, node: bool,
    follower: bool = False,
) -> None:  # fmt: skip
    """(In a child process.) Build the line as `hotline serve` does (`node`: as `hotline
    serve --node` does, one node of several, which serves once it leads the line), issue a
    token for every agent, serve on loopback; send the tokens when listening (and leading);
    stop when told, then send the store's counts of write transactions and units of work.
    `follower`: a second node, started once the first leads: it sends no token once it
    listens, and forwards the webhooks it gets to the leader."""
    from pydantic import SecretStr

    from hotline.service.bootstrap import Parts, build_line, call_control
    from hotline.service.collector import tune_for_serving
    from hotline.service.node import EXIT_LOST
    from hotline.service.settings import Settings
    from hotline.service.unit_of_work import SaveReply, Write
    from hotline.store.leases import LEASE_SECONDS
    from hotline.web.app import SERVING, create_app, create_node

    secret = {k: SecretStr(conf[k]) for k in ("twilio_auth_token", "secret_key")}
    settings = Settings(**{**conf, **secret})
    counts: dict[str, Any] = {"transactions": 0, "statements": 0, "units": 0,
                              "replies_saved": 0, "connections": 0}  # fmt: skip
    # where a webhook's time goes, inside Hotline: from its request's arrival in the app to
    # its response's start (the rest of what the carrier measures is the sockets, the
    # server's parsing and the carrier's own queue), and from a unit of work's submission
    # to its commit (a webhook's reply waits for its own, at most COMMIT_WAIT); and each
    # transaction of the writer's: its wall time and its thread's CPU time (the difference
    # is waiting: for the disk, or for the GIL while the event loop holds it)
    inside: dict[str, list[Any]] = {"server": [], "routes": [], "commit": [], "landing": [],
                                    "landing_cpu": []}  # fmt: skip
    built: list[Parts] = []  # (the line: built at once, or once the node leads it)
    tokens: dict[str, str] = {}  # (issued as the line is built, before it serves)

    def instrument(parts: Parts) -> None:
        built.append(parts)
        now = time.time()
        tokens.update({a: parts.line.store.issue_token(a, now) for a in agents})
        if os.environ.get("BENCH_LIVE_NO_COMMIT_WAIT"):  # (the writes still land, in order)
            parts.line.commit_wait = 0.0

        def executed(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
            if threading.current_thread().name.startswith("hotline-writer") and not (
                statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))
            ):
                counts["statements"] += 1

        # the writer's transactions (each of its commits: `timed_commit` below) and the
        # statements they ran (each gives the GIL up, and on SQLite, or on PostgreSQL
        # outside a pipeline, has to win it back from the event loop; those SQLAlchemy
        # runs: not BEGIN, COMMIT nor a pool's ping), the units of work handed to the
        # writer, and the webhook replies among their writes (one per answered webhook)
        event.listen(parts.line.store.engine, "before_cursor_execute", executed)

        # and the connections the store's pool opened (one more than the pool keeps, for a
        # burst of threads asking at once, is opened and closed again)
        def opened(*_: object) -> None:
            counts["connections"] += 1

        event.listen(parts.line.store.engine, "connect", opened)
        submit = parts.line.writer.submit

        def counted(writes: Sequence[Write]) -> Future[bool] | None:
            if writes:
                counts["units"] += 1
                counts["replies_saved"] += sum(isinstance(w, SaveReply) for w in writes)
            began = time.perf_counter()
            done = submit(writes)
            if done is not None:
                done.add_done_callback(
                    lambda _: inside["commit"].append(time.perf_counter() - began)
                )
            return done

        parts.line.writer.submit = counted  # type: ignore[method-assign]
        commit = parts.line.store.commit

        def timed_commit(writes: Sequence[Write]) -> None:
            counts["transactions"] += 1
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                commit(writes)
            finally:
                inside["landing"].append(time.perf_counter() - wall)
                inside["landing_cpu"].append(time.thread_time() - cpu)

        parts.line.store.commit = timed_commit  # type: ignore[method-assign]

    app: Any
    if node:

        def lost(why: str) -> None:  # (the bench sees the process end: its pipe closes)
            print(f"the node stops: {why}", file=sys.stderr, flush=True)
            os._exit(EXIT_LOST)

        app = create_node(settings, name="bench-follower" if follower else "bench",
                          address=f"http://127.0.0.1:{port}",
                          lease_seconds=LEASE_SECONDS, on_lost=lost,
                          report=lambda said: print(said, file=sys.stderr),
                          built=instrument)  # fmt: skip
    else:
        parts = build_line(settings)
        instrument(parts)
        app = create_app(settings=settings, line=parts.line, control=call_control(settings),
                         desk=parts.desk)  # fmt: skip
    if collector == "tuned":  # as `hotline serve` does
        tune_for_serving()
    pauses = GcPauses()

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/voice/"):
            await app(scope, receive, send)
            return
        began = time.perf_counter()

        async def started(message: Any) -> None:
            if message["type"] == "http.response.start":
                inside["server"].append(time.perf_counter() - began)
                inside["routes"].append(scope["path"])  # (the same webhook's, in step)
            await send(message)

        await app(scope, receive, started)

    async def main() -> None:
        slow = os.environ.get("BENCH_LIVE_SLOW")  # seconds: longer callbacks are logged
        if slow:  # (asyncio's debug mode: its own checks cost some CPU)
            import logging

            logging.basicConfig(level=logging.WARNING)
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = float(slow)
        served = {**SERVING, "log_level": "critical", "timeout_graceful_shutdown": 2}
        # (a follower's own times are not asked for: it is served as it is, not timed)
        server = _Server(uvicorn.Config(app if follower else timed, host="127.0.0.1",
                                        port=port, lifespan="on",
                                        **served))  # fmt: skip
        task = asyncio.create_task(server.serve())
        deadline = time.monotonic() + LEAD_WITHIN
        while not server.started or (node and not follower and not app.serving):
            if time.monotonic() > deadline:  # (its rounds of election keep failing: the
                print(f"Hotline did not serve within {LEAD_WITHIN:g} s", file=sys.stderr)
                os._exit(1)  # log says why; the bench sees its pipe close)
            await asyncio.sleep(0.05)
        pipe.send(tokens)
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        probe = None if follower else asyncio.create_task(lag_probe(lags))
        while (asked := await loop.run_in_executor(None, pipe.recv)) != "stop":
            if asked == "lags":  # (those since the last ask, and the times inside)
                pipe.send({"lags": lags[:], **{k: v[:] for k, v in inside.items()}})
                lags.clear()
                for v in inside.values():
                    v.clear()
            else:
                pipe.send(heap_census())
        if probe is not None:
            probe.cancel()
        server.should_exit = True
        await task

    profile = os.environ.get("BENCH_LIVE_PROFILE")  # a file: Hotline's event loop profiled
    if profile and follower:  # (the forwarding node's, beside the leader's)
        profile += ".follower"
    if profile:
        import cProfile
        import pstats

        # the other threads (the store's writer, asyncio.to_thread's workers) profiled too,
        # each on its own, into FILE.threads: their CPU is Hotline's as much as the loop's
        profiles: list[cProfile.Profile] = []

        def begin(*_: object) -> None:  # (a new thread's first call: its own profiler,
            p = cProfile.Profile()  # which replaces this function for that thread)
            profiles.append(p)
            p.enable()

        threading.setprofile(begin)
        cProfile.runctx("run_served(main)", globals(), {"main": main}, profile)
        threading.setprofile(None)
        if profiles:
            pstats.Stats(*profiles).dump_stats(f"{profile}.threads")
    else:
        run_served(main)
    for parts in built:
        parts.line.store.engine.dispose()
    pipe.send({**counts, "gc": pauses.summary()})


def run_served(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main` on the event loop `hotline serve` runs on: uvicorn's choice (`auto`:
    uvloop, one of Hotline's dependencies), for the two servers compared (Hotline and the
    bare endpoint); the carrier and the bots keep asyncio's own."""
    with asyncio.Runner(loop_factory=uvicorn.Config(app="").get_loop_factory()) as runner:
        runner.run(main())


async def lag_probe(lags: list[float]) -> None:
    """This process's event loop: how late a 50 ms sleep wakes, each time, into `lags`."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(0.05)
        lags.append(loop.time() - before - 0.05)


def serve_bots(
    tokens: dict[str, str], base_url: str, ring: float, pipe: Pipe, collector: str
) -> None:
    """(In a child process.) One bot per agent, logged in a few hundred at a time (all at
    once, their websockets' handshakes time out on a loaded server); says when every one
    is ready, answers "census" with its heap's, and on "stop" stops them and sends its
    collector's pauses."""
    from hotline.service.collector import tune_for_serving

    if collector == "tuned":  # (as the emulator's process: see main)
        tune_for_serving()
    pauses = GcPauses()

    async def main() -> None:
        shared = httpx.AsyncClient(timeout=20, transport=Spread(200))
        # (their phones ring as long as the simulator's agents' do before they pick up)
        bots = [AgentBot(agent_id=a, token=t, base_url=base_url, speed=1.0, ring=ring,
                         client=shared) for a, t in tokens.items()]  # fmt: skip
        tasks = []
        for i in range(0, len(bots), 200):
            batch = bots[i : i + 200]
            tasks += [asyncio.create_task(b.run()) for b in batch]
            await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in batch)), 120)
        pipe.send("ready")
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, pipe.recv) != "stop":  # (else: "census")
            pipe.send(heap_census())
        for b in bots:
            await b.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await shared.aclose()

    asyncio.run(main())
    pipe.send(pauses.summary())


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of a process (all its threads), from /proc; with `children`, and
    of the children it waited for (Hotline's: espeak-ng's renders of prompt audio)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11 : 15 if children else 13]) / TICK


def postgres_cpu() -> float:
    """User + system CPU of this machine's PostgreSQL processes running now (the server's
    backends for every client, not only Hotline's; one that exited is not counted)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):  # (it exited meanwhile)
                continue
    return total


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (all processes, all cores), and those
    its virtual cores waited while the host ran something else (steal: time none of our
    processes had, which slows every figure of the run)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:7]) - idle) / TICK, values[7] / TICK


@dataclass
class Marks:
    """Counters read at an instant, to difference over the window."""

    at: float
    webhooks: int  # latencies recorded so far
    failures: int  # webhook attempts that failed so far (the carrier retries them)
    placed: int
    hotline_cpu: float
    load_cpu: float  # this process's: the emulator and its callers
    bots_cpu: float
    follower_cpu: float  # the second node's, which forwards the webhooks (0: none)
    postgres_cpu: float
    machine_cpu: float
    steal: float

    @classmethod
    def now(cls, carrier: Carrier, placed: int, pid: int, bots: int, follower: int | None) -> Marks:
        return cls(time.time(), len(carrier.latencies), carrier.failures, placed,
                   cpu_seconds(pid, children=True), time.process_time(), cpu_seconds(bots),
                   0.0 if follower is None else cpu_seconds(follower), postgres_cpu(),
                   *machine_cpu())  # fmt: skip


def stand_in_directory(dest: Path) -> Path:
    """The demo agency directory with its PINs hashed at Argon2id's least cost (1 MiB,
    t=1, p=1; under a millisecond a check) rather than the demo's (64 MiB, t=3, p=4: 143 ms
    here). The directory is the agencies' system: a deployment's checks its PINs on its own
    server, behind an HTTP connector, not on Hotline's machine. Run in Hotline's process,
    the demo's hashing took over a third of Hotline's CPU a call and, off the GIL, a third
    of the other core from the load generator at K=100. The code path is the same (the
    in-memory connector verifies any Argon2 hash); only the stand-in's cost differs."""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    doc = yaml.safe_load(AGENCIES.read_text())
    for entry in doc["operations"]["verify"]:
        entry["match"]["pin"] = cheap.hash(DEMO_PINS[entry["match"]["agency_id"]])
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def by_route(
    routes: Sequence[str], times: Sequence[float]
) -> list[tuple[str, int, float, float, float]]:
    """Per webhook route, busiest first: its webhooks, their time inside Hotline at p50 and
    p99 (ms), and its share of the window's slowest 1 % (which makes the p99)."""
    slowest = sorted(range(len(times)), key=times.__getitem__)[-max(len(times) // 100, 1) :]
    worst = collections.Counter(routes[i] for i in slowest)
    out = []
    for route in sorted(set(routes), key=routes.count, reverse=True):
        mine = [t for r, t in zip(routes, times, strict=True) if r == route]
        p50, p99, _ = quantiles(mine)
        out.append((route, len(mine), p50, p99, worst[route] / len(slowest)))
    return out


def quantiles(xs: Sequence[float]) -> tuple[float, float, float]:
    # (inclusive: within the sample's range, where the default extrapolates past its maximum
    # in a short run's few samples; over thousands the two differ by a rank at most)
    q = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else [xs[0]] * 99
    return q[49] * 1000, q[98] * 1000, max(xs) * 1000


def store_url(store: str, tmp: Path) -> str:
    """The run's database: a file in `tmp`, or a new schema in POSTGRES (a schema a run
    that crashed left behind is dropped first: never two benches at once)."""
    if store == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    drop_schemas()
    schema = SCHEMA_PREFIX + secrets.token_hex(6)
    admin = connect(POSTGRES)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def scratch(store: str) -> Iterator[Path]:
    """A temporary folder for a run's files (a SQLite store's among them); it goes
    afterwards, with the runs' schemas in POSTGRES, a run that failed midway included."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp)
        if store == "postgresql":
            drop_schemas()


def one_run_at_a_time() -> IO[str]:
    """A lock held for this process's life (returned: keep it), or exit: a second run at
    once would share the machine's cores with the first, and the runs' PostgreSQL schemas
    (each run drops every one at its start and end, a crashed run's included)."""
    import fcntl

    held = (Path(tempfile.gettempdir()) / "hotline-bench-live.lock").open("w")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit("another bench_live.py run is under way on this machine: wait for it")
    return held


def drop_schemas() -> None:
    """Drop every run's schema from POSTGRES."""
    admin = connect(POSTGRES)
    with admin.begin() as c:
        names = c.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                          {"p": SCHEMA_PREFIX + "%"}).scalars().all()  # fmt: skip
        for name in names:
            c.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


async def live(
    k: float, warmup: float, window: float, drain: float, seed: int, collector: str = "tuned",
    directory: str = "stand-in", store: str = "sqlite", node: bool = False,
    forwarded: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One live run at scale `k`: warm up, measure over `window` seconds, stop placing calls,
    let the calls in progress end (at most `drain` s, then the callers still on hang up).
    `forwarded`: the webhooks reach a second node, which forwards them to the first."""
    with scratch(store) as tmp:
        return await _live(tmp, k, warmup, window, drain, seed, collector, directory, store,
                           node or forwarded, forwarded)  # fmt: skip


async def _live(
    tmp: Path,
    k: float, warmup: float, window: float, drain: float, seed: int, collector: str = "tuned",
    directory: str = "stand-in", store: str = "sqlite", node: bool = False,
    forwarded: bool = False,
) -> dict[str, Any]:  # fmt: skip
    pauses = GcPauses()
    path = scaled_scenario(k, tmp / "national-scaled.yaml")
    scenario = load_scenario(path)
    number = scenario.line.number if scenario.line else "+18005550100"
    agents = [a for g in scenario.agent_groups for a in g.ids()]
    hotline_port, carrier_port, follower_port = free_ports(3)
    token = secrets.token_urlsafe(24)  # made up for this run
    database = store_url(store, tmp)
    conf: dict[str, Any] = {
        "database_url": database,
        "scenario": str(path),
        "flow": str(FLOW),
        "connectors": {
            "agency_directory": str(
                AGENCIES if directory == "demo" else stand_in_directory(tmp / "agencies.yaml")
            )
        },
        "line_number": number,
        "public_url": f"http://127.0.0.1:{hotline_port}",
        "twilio_auth_token": token,
        "twilio_api_base": f"http://127.0.0.1:{carrier_port}",
        "secret_key": _new_key(),
    }
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=serve_hotline,
                        args=(conf, agents, hotline_port, theirs, collector, node),
                        name="hotline", daemon=True)  # fmt: skip
    child.start()
    theirs.close()  # (so a child that dies ends this run: its pipe closes, EOFError)
    loop = asyncio.get_running_loop()
    tokens: dict[str, str] = await loop.run_in_executor(None, ours.recv)
    assert child.pid is not None
    to_follower: Any = None
    if forwarded:  # (started once the first leads: it stands by, and forwards)
        to_follower, its_end = ctx.Pipe()
        follower = ctx.Process(target=serve_hotline,
                               args=(conf, [], follower_port, its_end, collector, True, True),
                               name="follower", daemon=True)  # fmt: skip
        follower.start()
        its_end.close()
        await loop.run_in_executor(None, to_follower.recv)  # (listening)
    follower_pid = follower.pid if forwarded else None
    client = webhooks_client(follower_port if forwarded else None)
    carrier = Carrier(hotline_url=conf["public_url"], auth_token=token,
                      account_sid="AC00000000000000000000000000000000", line_number=number,
                      speed=1.0, client=client)  # fmt: skip
    # an agent's leg answers as soon as the carrier dials it, as the simulator's agents'
    # does: their ring is the bot's, before the accept (the emulator's default second of
    # ring after it made every live call hold its agent about 1 s longer)
    carrier.participant_ring = 0.0
    # (the carrier's REST API on h11, as before uvicorn had httptools to choose: the
    # carrier is the same for both servers compared, and for earlier figures)
    rest = _Server(uvicorn.Config(carrier.rest_app(), host="127.0.0.1", port=carrier_port,
                                  log_level="critical", timeout_graceful_shutdown=2,
                                  http="h11"))  # fmt: skip
    rest_task = asyncio.create_task(rest.serve())
    while not rest.started:
        await asyncio.sleep(0.05)
    flow = LineFlow(path=FLOW, line_queues=[q.name for q in scenario.queues]).flow
    rng = np.random.default_rng(seed)
    mix = CallerMix(scenario, flow, rng, dial=number)

    began = time.perf_counter()
    to_bots, bots_end = ctx.Pipe()
    bots = ctx.Process(target=serve_bots,
                       args=(tokens, conf["public_url"], scenario.answer_delay, bots_end,
                             collector),
                       name="bots", daemon=True)  # fmt: skip
    bots.start()
    bots_end.close()  # (a bots process that dies ends this run too)
    await loop.run_in_executor(None, to_bots.recv)  # (every bot ready)
    assert bots.pid is not None
    logged_in = time.perf_counter() - began
    # Hotline's CPU with every agent logged in and no call yet: what the agents cost alone
    idle0, idle_at = cpu_seconds(child.pid, children=True), time.perf_counter()
    await asyncio.sleep(15)
    idle_util = (cpu_seconds(child.pid, children=True) - idle0) / (time.perf_counter() - idle_at)

    rate = peak_rate(load_scenario(SCENARIO), HOUR) * k
    placed = 0
    lags: list[float] = []
    t0 = time.time()
    marks: list[Marks] = []
    probe = asyncio.create_task(lag_probe(lags))
    next_at = loop.time()
    end_at = next_at + warmup + window
    warm_at = next_at + warmup
    while True:
        next_at += float(rng.exponential(1.0 / rate))
        if not marks and next_at >= warm_at:
            await asyncio.sleep(max(warm_at - loop.time(), 0))
            marks.append(Marks.now(carrier, placed, child.pid, bots.pid, follower_pid))
            # the load generator (the emulator, which times the webhooks) does not collect
            # in the window: a full collection of its heap (1.2 s in one run) delayed the
            # answers it was reading, and the p99 with them (its memory grows meanwhile)
            gc.disable()
            lag_from = len(lags)
            ours.send("lags")  # (Hotline's from now on)
            await loop.run_in_executor(None, ours.recv)
        if next_at >= end_at:
            break
        await asyncio.sleep(max(next_at - loop.time(), 0))
        carrier.place(mix.next())
        placed += 1
    await asyncio.sleep(max(end_at - loop.time(), 0))
    marks.append(Marks.now(carrier, placed, child.pid, bots.pid, follower_pid))
    gc.enable()
    if forwarded and not follower.is_alive():  # (its webhooks were refused: no figure)
        child.kill()  # (before its schema goes)
        bots.kill()
        raise RuntimeError(f"the forwarding node stopped during the run (exit code "
                           f"{follower.exitcode}): its log is above")  # fmt: skip
    window_lags = lags[lag_from:]
    probe.cancel()
    ours.send("lags")
    hotline: dict[str, list[Any]] = await loop.run_in_executor(None, ours.recv)
    census = {"hotline_heap": "", "load_heap": heap_census(), "bots_heap": ""}  # (window's end)
    if census["load_heap"]:
        ours.send("census")
        census["hotline_heap"] = await loop.run_in_executor(None, ours.recv)
        to_bots.send("census")
        census["bots_heap"] = await loop.run_in_executor(None, to_bots.recv)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(carrier.drain()), drain)
    cut = await carrier.hang_up_callers()  # (their status callbacks tell the line)
    with contextlib.suppress(TimeoutError):  # (shielded: a call still going is not cancelled)
        await asyncio.wait_for(asyncio.shield(carrier.drain()), 120)
    for task in list(carrier.tasks)[:3]:  # a call that never ended: where its caller is
        print(f"a carrier task still running after the drain: {awaiting(task)}", file=sys.stderr)
    to_bots.send("stop")
    bots_gc: str = await loop.run_in_executor(None, to_bots.recv)
    bots.join(30)
    rest.should_exit = True
    await rest_task
    await carrier.client.aclose()
    if to_follower is not None:  # (first: it must not take the line over as the leader goes)
        to_follower.send("stop")
        await loop.run_in_executor(None, to_follower.recv)
        follower.join(30)
    ours.send("stop")
    counts: dict[str, Any] = await loop.run_in_executor(None, ours.recv)
    gc.callbacks.remove(pauses._seen)
    child.join(30)

    w0, w1 = marks
    wall = w1.at - w0.at
    inbound = carrier.callers()
    broken = [c for c in inbound if c.outcome in BROKEN or not c.ended]
    engine = connect(database, create=False)
    with engine.connect() as db:
        rows = db.execute(text("SELECT sid, state FROM calls")).all()
        states: dict[str, str] = {str(sid): str(state) for sid, state in rows}
        open_calls = [c for c in inbound if states.get(c.sid) not in FINAL]
        left_open = describe_open(db, open_calls, states)
    engine.dispose()
    unrecorded = len(open_calls)
    events = store_events(database)
    live_service = service(events, t0 + warmup, t0 + warmup + window, scenario.answer_within)
    paired = predict_paired(scenario, live_callers(scenario, inbound, events, t0), warmup,
                            warmup + window)  # fmt: skip
    latencies = carrier.latencies[w0.webhooks : w1.webhooks]
    p50, p99, worst = quantiles(latencies)
    calls = w1.placed - w0.placed
    hotline_cpu, load_cpu = w1.hotline_cpu - w0.hotline_cpu, w1.load_cpu - w0.load_cpu
    bots_cpu, follower_cpu = w1.bots_cpu - w0.bots_cpu, w1.follower_cpu - w0.follower_cpu
    other = (w1.machine_cpu - w0.machine_cpu) - hotline_cpu - load_cpu - bots_cpu - follower_cpu
    _, lag99, lag_max = quantiles(window_lags)
    _, hotline_lag99, hotline_lag_max = quantiles(hotline["lags"])
    server50, server99, _ = quantiles(hotline["server"])
    routes = by_route(hotline["routes"], hotline["server"])
    commit50, commit99, _ = quantiles(hotline["commit"])
    landing50, landing99, _ = quantiles(hotline["landing"])
    landing_cpu50, landing_cpu99, _ = quantiles(hotline["landing_cpu"])
    return {
        "k": k, "collector": collector, "directory": directory, "store": store, "node": node,
        "forwarded": forwarded,
        "agents": len(agents),
        "rate": rate,
        "logged_in_s": logged_in,
        "calls_total": len(inbound), "calls": calls, "wall": wall,
        "webhooks": len(latencies), "webhook_rate": len(latencies) / wall,
        "p50": p50, "p99": p99, "max": worst,
        "lost": len(broken), "unrecorded": unrecorded, "left_open": left_open,
        "failures": w1.failures - w0.failures,
        "failures_total": carrier.failures,
        "audio_not_played": carrier.media_failures,
        "cut": cut, "service": live_service, "paired": paired,
        "hotline_cpu_per_call_ms": hotline_cpu / max(calls, 1) * 1000,
        "load_cpu_per_call_ms": load_cpu / max(calls, 1) * 1000,
        "bots_cpu_per_call_ms": bots_cpu / max(calls, 1) * 1000,
        "follower_cpu_per_call_ms": follower_cpu / max(calls, 1) * 1000,
        "postgres_cpu_per_call_ms": (w1.postgres_cpu - w0.postgres_cpu) / max(calls, 1) * 1000,
        "hotline_util": hotline_cpu / wall, "load_util": load_cpu / wall,
        "bots_util": bots_cpu / wall, "follower_util": follower_cpu / wall,
        "other_util": other / wall, "idle_util": idle_util,
        "steal_util": (w1.steal - w0.steal) / wall,
        "load_gc": pauses.summary(), "bots_gc": bots_gc,
        "lag_p99_ms": lag99, "lag_max_ms": lag_max,
        "hotline_lag_p99_ms": hotline_lag99, "hotline_lag_max_ms": hotline_lag_max,
        "server_p50": server50, "server_p99": server99, "routes": routes,
        "commit_p50": commit50, "commit_p99": commit99,
        "landing_p50": landing50, "landing_p99": landing99,
        "landing_cpu_p50": landing_cpu50, "landing_cpu_p99": landing_cpu99,
        "answered": sum(1 for c in inbound if c.agent),
        "abandoned": sum(1 for c in inbound if c.outcome == "abandoned"),
        **counts, **census,
    }  # fmt: skip


def _new_key() -> str:
    from hotline.service.sealing import new_key

    return new_key()


# -- the baseline


def serve_bare(port: int, pipe: Pipe, database: str | None) -> None:
    """(In a child process.) A bare FastAPI endpoint returning fixed TwiML, on loopback;
    with `database`, each request first writes one row there, durably (its own transaction,
    committed in a worker thread, awaited), as a Hotline reply waits for its writes."""
    r = VoiceResponse()
    r.say("Please hold.")
    r.redirect("http://127.0.0.1/voice/wait")
    twiml = str(r)
    app = FastAPI()
    engine = None if database is None else connect(database)
    if engine is not None:
        with engine.begin() as c:
            c.execute(text("CREATE TABLE bare_writes (sid TEXT NOT NULL, at FLOAT NOT NULL)"))
    written = text("INSERT INTO bare_writes (sid, at) VALUES (:sid, :at)")

    def write(sid: str) -> None:
        assert engine is not None
        with engine.begin() as c:
            c.execute(written, {"sid": sid, "at": time.time()})

    @app.post("/voice/incoming")
    async def incoming() -> Response:
        if engine is not None:  # (the body is not parsed: only the write is added)
            await asyncio.to_thread(write, "CA" + "0" * 32)
        return Response(twiml, media_type="application/xml")

    async def main() -> None:
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        server.should_exit = True
        await task

    run_served(main)
    if engine is not None:
        engine.dispose()


async def bare_writing(requests: int, rate: float, store: str) -> dict[str, float]:
    """`bare`, each request writing a row durably to a database of the run's store."""
    with scratch(store) as tmp:
        return await bare(requests, rate, store_url(store, tmp))


async def bare(requests: int, rate: float, database: str | None = None) -> dict[str, float]:
    """The bare endpoint in its own process, driven at `rate` (Poisson) for `requests`
    (with `database`: each request writes a row there first)."""
    (port,) = free_ports(1)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=serve_bare, args=(port, theirs, database), daemon=True)
    child.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ours.recv)
    assert child.pid is not None
    rng = np.random.default_rng(1)
    latencies: list[float] = []
    form = {"CallSid": "CA" + "0" * 32, "From": "+12025550143", "To": "+18005550100"}
    async with webhooks_client() as client:

        async def one() -> None:
            began = time.perf_counter()
            r = await client.post(f"http://127.0.0.1:{port}/voice/incoming", data=form)
            r.raise_for_status()
            latencies.append(time.perf_counter() - began)

        cpu0, server0 = time.process_time(), cpu_seconds(child.pid)
        pending = set()
        next_at = loop.time()
        gc.disable()  # (as in the live run's window: the client does not collect meanwhile)
        for _ in range(requests):
            next_at += float(rng.exponential(1.0 / rate))
            await asyncio.sleep(max(next_at - loop.time(), 0))
            t = asyncio.create_task(one())
            pending.add(t)
            t.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        gc.enable()
        cpu, server = time.process_time() - cpu0, cpu_seconds(child.pid) - server0
    ours.send("stop")
    child.join(10)
    p50, p99, worst = quantiles(latencies)
    return {"requests": requests, "p50": p50, "p99": p99, "max": worst,
            "server_cpu_ms": server / requests * 1000,
            "client_cpu_ms": cpu / requests * 1000}  # fmt: skip


# -- reports


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def holds(a: dict[str, Any]) -> bool:
    broken = a["lost"] + a["unrecorded"] + a["failures"]
    return bool(a["p99"] < 1000 and broken == 0)


def limit(a: dict[str, Any]) -> str:
    """What ran out first, as far as the window shows: a process at a full core, the
    machine's cores all busy (with whatever else ran), or neither."""
    busy = {"Hotline": a["hotline_util"], "the carrier emulator": a["load_util"],
            "the bots": a["bots_util"], "the forwarding node": a["follower_util"]}  # fmt: skip
    name, util = max(busy.items(), key=lambda kv: kv[1])
    total = sum(busy.values()) + a["other_util"] + a["steal_util"]
    if util >= 0.85:
        return f"{name} at {_pct(util)} of a core"
    if total >= 0.85 * CORES:
        return (f"the machine: its {CORES} cores {_pct(total / CORES)} busy (Hotline "
                f"{_pct(a['hotline_util'])}, emulator {_pct(a['load_util'])}, bots "
                f"{_pct(a['bots_util'])}{_follower(a)}, other processes "
                f"{_pct(a['other_util'])}, taken by the host {_pct(a['steal_util'])} of a "
                "core)")  # fmt: skip
    return f"no process at a full core (busiest: {name} {_pct(util)})"


def report_live(a: dict[str, Any], warmup: float) -> None:
    s: Service = a["service"]
    print(
        f"live x{a['k']:g} (collector {a['collector']}, directory {a['directory']}, store "
        f"{a['store']}{', one node under a lease' if a['node'] else ''}"
        f"{', the webhooks forwarded to it by a second node' if a['forwarded'] else ''}): "
        f"{a['rate']:.2f} calls/s offered, "
        f"{a['agents']:,} agent bots "
        f"(logged in in {a['logged_in_s']:.0f} s); {warmup / 60:g} min warm-up, then "
        f"{a['wall'] / 60:.1f} min measured: {a['calls']:,} calls arrived, {a['webhooks']:,} "
        f"webhooks answered ({a['webhook_rate']:.1f}/s)"
    )
    print(
        f"  webhook latency p50 {a['p50']:.1f} ms, p99 {a['p99']:.1f} ms, max {a['max']:.0f} ms"
        f"; event loops late by p99 (max): Hotline's {a['hotline_lag_p99_ms']:.1f} ms "
        f"({a['hotline_lag_max_ms']:.0f}), the emulator's {a['lag_p99_ms']:.1f} ms "
        f"({a['lag_max_ms']:.0f})"
    )
    print(
        f"  inside Hotline: from a webhook's arrival in the app to its answer p50 "
        f"{a['server_p50']:.1f} ms, p99 {a['server_p99']:.1f} ms; from a unit of work's "
        f"submission to its commit p50 {a['commit_p50']:.1f} ms, p99 {a['commit_p99']:.1f} ms"
        f"; the writer's transactions p50 {a['landing_p50']:.1f} ms, p99 "
        f"{a['landing_p99']:.1f} ms, of which its thread's CPU p50 {a['landing_cpu_p50']:.1f}"
        f" ms, p99 {a['landing_cpu_p99']:.1f} ms"
    )
    print(
        "  inside Hotline by route (webhooks, p50 / p99, share of the slowest 1 %): "
        + "; ".join(
            f"{route} {n:,}, {p50:.1f} / {p99:.1f} ms, {_pct(share)}"
            for route, n, p50, p99, share in a["routes"]
        )
    )
    print(
        f"  calls lost {a['lost']} (of {a['calls_total']:,} placed in the whole run), not "
        f"closed in the store {a['unrecorded']}; webhook attempts that failed (retried) "
        f"{a['failures']} in the window, {a['failures_total']} in the whole run; prompts' "
        f"audio not played {a['audio_not_played']} in the whole run; "
        f"{a['cut']} still talking at the end were hung up by their callers"
    )
    for described in a["left_open"]:
        print(f"  left open: {described}")
    print(
        f"  CPU per call: Hotline {a['hotline_cpu_per_call_ms']:.1f} ms, emulator "
        f"{a['load_cpu_per_call_ms']:.1f} ms, bots {a['bots_cpu_per_call_ms']:.1f} ms"
        + (
            f", the forwarding node {a['follower_cpu_per_call_ms']:.1f} ms"
            if a["forwarded"]
            else ""
        )
        + f"; cores busy: Hotline {_pct(a['hotline_util'])}, emulator {_pct(a['load_util'])}, "
        f"bots {_pct(a['bots_util'])}{_follower(a)}, other processes{_server(a)} "
        f"{_pct(a['other_util'])}, taken by the host (steal) {_pct(a['steal_util'])}; "
        f"Hotline with the agents logged in and no call: {_pct(a['idle_util'])}"
    )
    print(
        f"  store: {a['transactions']:,} write transactions for {a['units']:,} units of work "
        f"({a['units'] / max(a['transactions'], 1):.2f} units and "
        f"{a['statements'] / max(a['transactions'], 1):.1f} statements per transaction), "
        f"{a['replies_saved']:,} webhook replies saved, {a['connections']:,} connections "
        "opened (whole run)"
    )
    print(f"  garbage collector (whole run): Hotline {a['gc']}; emulator {a['load_gc']}; "
          f"bots {a['bots_gc']}")  # fmt: skip
    if a["load_heap"]:  # (BENCH_LIVE_HEAP)
        print(f"  heap at the window's end: Hotline{a['hotline_heap']}")
        print(f"  heap at the window's end: emulator{a['load_heap']}")
        print(f"  heap at the window's end: bots{a['bots_heap']}")
    print(
        f"  calls first queued in the window: {s.calls:,}; answered {s.answered:,} "
        f"({s.within:,} within the threshold), abandoned {s.abandoned:,}, to voicemail "
        f"{s.overflowed:,}, unresolved {s.unresolved}: service level {_pct(s.level)}, "
        f"abandonment {_pct(s.abandonment)}"
    )
    p: Service = a["paired"]
    print(
        f"  the simulator on this run's own callers (their arrivals, types, languages, IVR "
        f"times, patience and talk): {p.calls:,} first queued in the window; service level "
        f"{_pct(p.level)}, abandonment {_pct(p.abandonment)} ({p.abandoned:,})"
    )


def _follower(a: dict[str, Any]) -> str:
    return f", the forwarding node {_pct(a['follower_util'])}" if a["forwarded"] else ""


def _server(a: dict[str, Any]) -> str:
    if a["store"] != "postgresql":
        return ""
    return (f" (among them this machine's PostgreSQL, {a['postgres_cpu_per_call_ms']:.1f} ms "
            "a call)")  # fmt: skip


def _within(x: float, band: tuple[float, float, float]) -> bool:
    return band[1] - 1e-9 <= x <= band[2] + 1e-9


async def run_one(args: argparse.Namespace) -> None:
    warmup, window = args.warmup * 60, args.minutes * 60
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-sim-"))
    scenario = load_scenario(scaled_scenario(args.scale, tmp / "scaled.yaml"))
    (tmp / "scaled.yaml").unlink()
    tmp.rmdir()
    print(f"uptime: {Path('/proc/loadavg').read_text().strip()}")
    p = predict(scenario, warmup, warmup + window, args.runs)
    a = await live(args.scale, warmup, window, args.drain, args.seed, args.collector,
                   args.directory, args.store, args.node, args.forwarded)  # fmt: skip
    # (two minutes' worth at most: the latency of a steady rate needs no more)
    requests = min(a["webhooks"], int(a["webhook_rate"] * 120))
    b = await bare(requests, a["webhook_rate"])
    d = await bare_writing(requests, a["webhook_rate"], args.store)
    report_live(a, warmup)
    print(
        f"bare FastAPI endpoint (own process) at {a['webhook_rate']:.1f} requests/s, "
        f"{b['requests']:,} requests: p50 "
        f"{b['p50']:.1f} ms, p99 {b['p99']:.1f} ms, max {b['max']:.0f} ms; server CPU "
        f"{b['server_cpu_ms']:.2f} ms per request"
    )
    print(f"ratio live/bare: p50 {a['p50'] / b['p50']:.1f}x, p99 {a['p99'] / b['p99']:.1f}x")
    print(
        f"bare endpoint writing one row a request to {args.store} first (its own transaction,"
        f" awaited): p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms, max {d['max']:.0f} ms; "
        f"server CPU {d['server_cpu_ms']:.2f} ms per request; ratio live/it: p50 "
        f"{a['p50'] / d['p50']:.1f}x, p99 {a['p99'] / d['p99']:.1f}x"
    )
    s = a["service"]
    lv, ab = p.level, p.abandonment
    print(
        f"simulator, same scaled scenario, {p.runs} seeds ({p.seconds:.0f} s), calls first "
        f"queued in the same window ({p.calls:,.0f} on average): service level "
        f"{_pct(lv[0])} (95 % prediction interval {_pct(lv[1])}-{_pct(lv[2])}), abandonment "
        f"{_pct(ab[0])} ({_pct(ab[1])}-{_pct(ab[2])})"
    )
    print(
        f"  live: service level {_pct(s.level)} "
        f"({'inside' if _within(s.level, lv) else 'OUTSIDE'}), abandonment "
        f"{_pct(s.abandonment)} ({'inside' if _within(s.abandonment, ab) else 'OUTSIDE'})"
    )
    goal = [
        ("p99 within 3x bare", a["p99"] <= 3 * b["p99"]),
        ("0 calls lost", a["lost"] == 0 and a["unrecorded"] == 0),
        ("service level in the interval", _within(s.level, lv)),
        ("abandonment in the interval", _within(s.abandonment, ab)),
    ]
    print("goal: " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in goal))
    print(f"holds (p99 < 1 s, nothing lost): {'yes' if holds(a) else 'NO'}; limit: {limit(a)}")
    print(f"uptime: {Path('/proc/loadavg').read_text().strip()}")


async def find_max(args: argparse.Namespace) -> None:
    """Scales in ascending order until one does not hold; the last that held is the answer."""
    warmup, window = args.warmup * 60, args.minutes * 60
    best = None
    for k in (float(x) for x in args.find_max.split(",")):
        print(f"uptime: {Path('/proc/loadavg').read_text().strip()}")
        a = await live(k, warmup, window, args.drain, args.seed, args.collector, args.directory,
                       args.store, args.node, args.forwarded)  # fmt: skip
        report_live(a, warmup)
        ok = holds(a)
        print(f"  -> {'holds' if ok else 'does NOT hold'}; limit: {limit(a)}", flush=True)
        if not ok:
            break
        best = k
    print(f"highest scale that held (p99 < 1 s, nothing lost): "
          f"{'none' if best is None else f'x{best:g}'}")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=100.0, help="K: times the peak rate and staff")
    ap.add_argument("--warmup", type=float, default=6.0, help="minutes before the window")
    ap.add_argument("--minutes", type=float, default=5.0, help="the measured window")
    ap.add_argument("--drain", type=float, default=120.0,
                    help="seconds the calls in progress get to end after the window")  # fmt: skip
    ap.add_argument("--runs", type=int, default=20, help="simulator seeds for the interval")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--collector", choices=("tuned", "default"), default="tuned",
                    help="Hotline's garbage collector: as `hotline serve` sets it "
                         "(service/collector.py), or CPython's defaults")  # fmt: skip
    ap.add_argument("--directory", choices=("stand-in", "demo"), default="stand-in",
                    help="the agency directory: the demo's with its PINs hashed at "
                         "Argon2id's least cost (the agencies' servers check PINs in a "
                         "deployment), or the demo's own (143 ms a check, in Hotline's "
                         "process)")  # fmt: skip
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="Hotline's database: a SQLite file (WAL, synchronous=FULL), or a "
                         "schema of the run's own in BENCH_LIVE_POSTGRES (default: this "
                         "machine's, database test), whose server's CPU counts among "
                         "the other processes'")  # fmt: skip
    ap.add_argument("--node", action="store_true",
                    help="Hotline as one node of several (`hotline serve --node`): it leads "
                         "the line under a lease, renewed every few seconds, and each write "
                         "transaction checks it (the issue's set-up, with --store "
                         "postgresql); without, `hotline serve`'s one server")  # fmt: skip
    ap.add_argument("--forwarded", action="store_true",
                    help="as --node, with a second node that stands by: the carrier's "
                         "webhooks reach it, and it forwards each to the leader (as in a "
                         "takeover's first seconds, before the front sends them to the new "
                         "leader)")  # fmt: skip
    ap.add_argument(
        "--find-max",
        metavar="K,K,...",
        help="ascending scales to try; stops at the first that does not hold",
    )
    args = ap.parse_args()
    alone = one_run_at_a_time()
    # the load generator's own collector pauses would be added to the latencies it measures
    # (whatever Hotline's collector): it is set as a server is, for every run
    from hotline.service.collector import tune_for_serving

    tune_for_serving()
    asyncio.run(find_max(args) if args.find_max else run_one(args))
