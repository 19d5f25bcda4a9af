"""The `hotline` command: parse the options, build what is asked for, print the result."""

from __future__ import annotations

import getpass
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hotline.domain.events import CallArrived
from hotline.errors import ConfigError, HotlineError, Problem, SettingsInvalid
from hotline.records.audit_cli import audit_app
from hotline.records.policy_cli import policy_app
from hotline.sim.driver import Result, Simulation
from hotline.sim.scenario import Callbacks, Scenario
from hotline.sim.scenario_file import load_scenario
from hotline.switchboard.events import AnyEvent

if TYPE_CHECKING:  # the planning modules bring SciPy and statsmodels: imported where used
    from hotline.service.accounts import NewAccount
    from hotline.wfm.demand import Demand
    from hotline.wfm.history import History
    from hotline.wfm.plan import Plan
    from hotline.wfm.staffing import Target

app = typer.Typer(
    help="Hotline: a self-hostable platform for a 24/7 multilingual telephone hotline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # (in "rich", a help's "[default: X]" vanished as a tag)
)
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)  # never break a file:line across lines

QUICK_OPTIONS = ("--calls-per-hour", "--aht-seconds", "--agents")


class Model(StrEnum):
    """The queueing model a plan is staffed by."""

    ERLANG_C = "erlang-c"
    ERLANG_A = "erlang-a"


@app.command()
def simulate(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML file (docs/scenarios.md).")
    ] = None,
    calls_per_hour: Annotated[
        float | None, typer.Option(help="Quick single-queue run: arrival rate.")
    ] = None,
    aht_seconds: Annotated[
        float | None, typer.Option(help="Quick run: mean handle time (exponential).")
    ] = None,
    agents: Annotated[int | None, typer.Option(help="Quick run: agents, on all the time.")] = None,
    patience_seconds: Annotated[
        float | None, typer.Option(help="Quick run: mean patience (exponential); none if unset.")
    ] = None,
    answer_within: Annotated[
        float | None, typer.Option(help="Service-level threshold T in seconds [default: 20].")
    ] = None,
    hours: Annotated[int | None, typer.Option(help="Length of the run in hours.")] = None,
    days: Annotated[int | None, typer.Option(help="Length of the run in days.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed (the scenario's by default).")
    ] = None,
    calls_csv: Annotated[
        Path | None,
        typer.Option(
            help="Also write every call (when it reached the queue, language, caller type) as CSV."
        ),
    ] = None,
    start: Annotated[
        str, typer.Option(help="Date and time of the run's start, for --calls-csv (a Monday).")
    ] = "2026-01-05T00:00:00",
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON.")] = False,
    interval: Annotated[
        int | None,
        typer.Option(help="Also report KPIs per interval of this many minutes (15, 30 or 60)."),
    ] = None,
) -> None:
    """Run a scenario through the ACD on a virtual clock and print the service KPIs."""
    if interval is not None and interval not in (15, 30, 60):
        raise _usage("--interval is 15, 30 or 60 (minutes)")
    s = _scenario(
        scenario, calls_per_hour, aht_seconds, agents, patience_seconds, answer_within, seed
    )
    if hours is not None or days is not None:
        total = (hours or 0) + 24 * (days or 0)
        if total < 1:
            raise _usage("--hours/--days must add up to at least one hour")
        s = replace(s, hours=total)
    if answer_within is not None:
        s = replace(s, answer_within=answer_within)
    arrivals: list[CallArrived] = []
    t0 = datetime(2026, 1, 5)
    if calls_csv is not None:
        try:
            t0 = datetime.fromisoformat(start)
        except ValueError:
            raise _usage(f"--start {start!r} is not an ISO 8601 date and time") from None

    def keep(ev: AnyEvent) -> None:
        if type(ev) is CallArrived:
            arrivals.append(ev)

    started = time.perf_counter()
    result = _run(
        s, show_progress=not as_json, trace=keep if calls_csv else None, interval=interval
    )
    elapsed = time.perf_counter() - started
    if calls_csv is not None:
        with calls_csv.open("w", encoding="utf-8", newline="") as f:
            f.write("timestamp,language,caller_type\n")
            for ev in arrivals:
                stamp = (t0 + timedelta(seconds=ev.at)).isoformat(timespec="seconds")
                f.write(f"{stamp},{ev.language},{ev.caller_type}\n")
    if as_json:
        print(json.dumps(result.report, indent=2))
        return
    _print_report(s, result, elapsed)


@app.command()
def erlang(
    calls_per_hour: Annotated[float, typer.Option(help="Offered calls per hour.")],
    aht_seconds: Annotated[float, typer.Option(help="Mean handle time in seconds.")],
    answer_within: Annotated[float, typer.Option(help="Service-level threshold T.")] = 20.0,
    service_level: Annotated[
        float, typer.Option(help="Target share answered within T (staffing mode).")
    ] = 0.8,
    agents: Annotated[
        int | None, typer.Option(help="Report the figures for this many agents instead.")
    ] = None,
    patience_seconds: Annotated[
        float | None, typer.Option(help="Mean patience: Erlang A instead of Erlang C.")
    ] = None,
    asa_seconds: Annotated[
        float | None, typer.Option(help="Also keep the mean wait at most this.")
    ] = None,
    max_occupancy: Annotated[
        float | None, typer.Option(help="Also keep occupancy at most this (0-1).")
    ] = None,
    shrinkage: Annotated[
        float, typer.Option(help="Share of paid time off the phones (0-1), for scheduling.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """How many agents a queue needs (Erlang C, or A with patience), or what N agents give."""
    from hotline.wfm.erlang import erlang_a, erlang_c
    from hotline.wfm.staffing import Target, agents_needed, with_shrinkage

    target = Target(service_level, answer_within, asa_seconds, max_occupancy)
    try:
        if agents is None:
            perf = agents_needed(
                calls_per_hour=calls_per_hour,
                aht_seconds=aht_seconds,
                target=target,
                patience_seconds=patience_seconds,
            )
        elif patience_seconds is None:
            perf = erlang_c(
                agents=agents,
                calls_per_hour=calls_per_hour,
                aht_seconds=aht_seconds,
                answer_within=answer_within,
            )
        else:
            perf = erlang_a(
                agents=agents,
                calls_per_hour=calls_per_hour,
                aht_seconds=aht_seconds,
                patience_seconds=patience_seconds,
                answer_within=answer_within,
            )
        scheduled = with_shrinkage(perf.agents, shrinkage)
    except ValueError as e:
        raise _usage(str(e)) from None
    figures: dict[str, Any] = {
        "agents": perf.agents,
        "load_erlangs": round(perf.load_erlangs, 6),
        "service_level": round(perf.service_level, 6),
        "asa_seconds": round(perf.asa_seconds, 6) if math.isfinite(perf.asa_seconds) else None,
        "occupancy": round(perf.occupancy, 6),
    }
    if patience_seconds is not None:
        figures["abandon_rate"] = round(perf.abandon_rate, 6)
    if shrinkage:
        figures["scheduled_agents"] = scheduled
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    model = "Erlang A" if patience_seconds else "Erlang C"
    if agents is None:
        out.print(f"{model}: fewest agents for {service_level:.0%} within {answer_within:g} s")
    else:
        out.print(f"{model}: what {agents} agents give")
    table = Table(show_header=False)
    for key, value in figures.items():
        table.add_row(key, "unbounded" if value is None else f"{value:g}")
    out.print(table)


@app.command()
def plan(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file (docs/scenarios.md).")],
    surge: Annotated[float, typer.Option(help="Call volume factor (1.5 = 50 % more).")] = 1.0,
    service_level: Annotated[float, typer.Option(help="Target share answered in time.")] = 0.8,
    answer_within: Annotated[
        float | None, typer.Option(help="Threshold T in seconds [default: the scenario's].")
    ] = None,
    interval: Annotated[int, typer.Option(help="Planning interval: 15, 30 or 60 minutes.")] = 30,
    shrinkage: Annotated[
        float, typer.Option(help="Share of paid time off the phones (breaks, training).")
    ] = 0.0,
    break_minutes: Annotated[
        int, typer.Option(help="Schedule explicit breaks (0: breaks are in the shrinkage).")
    ] = 0,
    time_limit: Annotated[float, typer.Option(help="Solver time limit per pool, s.")] = 10.0,
    pool: Annotated[
        str | None,
        typer.Option(help="Queues staffed together by multilingual agents, e.g. cmn,yue."),
    ] = None,
    model: Annotated[
        Model,
        typer.Option(
            help="erlang-c: callers wait as long as it takes; erlang-a: they hang up after "
            "their patience (the scenario's, per queue)."
        ),
    ] = Model.ERLANG_C,
    forecast: Annotated[
        Path | None,
        typer.Option(
            help="Plan the calls of this forecast (`hotline forecast --out`'s CSV) instead of "
            "the scenario's profiles: its first week, per language."
        ),
    ] = None,
    simulate_plan: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="Check the plan by simulation.")
    ] = True,
    pools: Annotated[
        str | None,
        typer.Option(
            help="auto: the planner chooses which queues share multilingual agents and which "
            "interpreted languages go to the interpreter line, each choice checked by "
            "simulation; dedicated: one pool per queue, checked the same way."
        ),
    ] = None,
    skills: Annotated[
        str | None,
        typer.Option(
            help="With --pools: the skill mix, 'scenario' (its agent groups' profiles only) "
            "or a YAML file of profiles [default: the scenario's agent groups' profiles and "
            "a dedicated speaker for each queue]."
        ),
    ] = None,
    interpreted: Annotated[
        str | None,
        typer.Option(
            help="With --pools: languages the interpreter line may answer, e.g. quc,mam "
            "('' for none) [default: those the line's flow marks interpreted]."
        ),
    ] = None,
    max_abandon: Annotated[
        float, typer.Option(help="With --pools: the most callers who may hang up, per language.")
    ] = 0.03,
    check_weeks: Annotated[int, typer.Option(help="With --pools: weeks simulated per check.")] = 4,
    margin: Annotated[
        float,
        typer.Option(
            help="With --pools: standard errors by which each language's simulated figures "
            "must clear the target."
        ),
    ] = 2.0,
    partitions: Annotated[
        int, typer.Option(help="With --pools: pool partitions checked, best first by the model.")
    ] = 3,
    seed: Annotated[
        int | None, typer.Option(help="With --pools: the checks' seed [default: the scenario's].")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the plan (shifts and figures) as JSON.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write PNG charts into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan a week: agents per interval and pool, shifts to cover them, checked by simulation."""
    from hotline.wfm.plan import plan_report, scenario_for
    from hotline.wfm.plots import coverage_figure
    from hotline.wfm.staffing import Target, with_shrinkage

    s = load_scenario(scenario)
    target = Target(service_level, s.answer_within if answer_within is None else answer_within)
    given = [o for o, v in (("--skills", skills), ("--interpreted", interpreted),
                            ("--seed", seed)) if v is not None]  # fmt: skip
    if pools is None and given:
        raise _usage(f"{', '.join(given)} go with --pools auto (or dedicated)")
    if pools is not None and pool:
        raise _usage("give --pool (queues pooled by hand) or --pools, not both")
    if pools is not None and pools not in ("auto", "dedicated"):
        raise _usage(f"--pools is auto or dedicated, not {pools!r}")
    week = None if forecast is None else _forecast_week(forecast, s)
    if pools is not None:
        options = _PoolOptions(
            pools, skills, interpreted, max_abandon, check_weeks, margin, partitions, seed
        )
        _plan_pools(s, target, week, options, interval, shrinkage, surge, break_minutes,
                    time_limit, model.value, simulate_plan, out_file, plot, as_json)  # fmt: skip
        return
    try:
        target.check()
        with_shrinkage(0, shrinkage)
        pooled = tuple(q.strip() for q in pool.split(",")) if pool else ()
        demand = None
        if week is not None:
            from hotline.wfm.demand import forecast_demand

            demand = forecast_demand(s, week, interval_minutes=interval, surge=surge)
            if pooled:
                demand = demand.pooled(pooled)
        the_plan = _solve(
            s, target, interval, shrinkage, surge, break_minutes, time_limit, pooled, as_json,
            model.value, demand,
        )  # fmt: skip
    except ValueError as e:
        raise _usage(str(e)) from None
    simulated: dict[str, Any] | None = None
    if simulate_plan:
        callers = s if week is None else _forecast_callers(s, week)
        replay = replace(scenario_for(the_plan, callers), answer_within=target.answer_within)
        simulated = _run(replay, show_progress=not as_json).report
    report = plan_report(the_plan, simulated)
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        fig = coverage_figure(the_plan)
        fig.savefig(plot / "coverage.png", dpi=110)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_plan(the_plan, report, s.name)
    for path, what in ((out_file, "plan"), (plot and plot / "coverage.png", "chart")):
        if path:
            out.print(f"{what} written to {path}")


@app.command("forecast")
def forecast_command(
    history: Annotated[
        Path | None, typer.Option(help="CSV of calls or interval counts (docs/planning.md).")
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(help="Instead of a CSV: the calls of this line in the store, per language."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(help="With --line: the store's URL [default: HOTLINE_DATABASE_URL]."),
    ] = None,
    horizon_days: Annotated[int, typer.Option(help="Days to forecast.")] = 7,
    holdout_days: Annotated[int, typer.Option(help="Last days held out to measure error.")] = 7,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the hourly forecast as CSV.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Forecast hourly calls per language (daily and weekly seasonality), with holdout error,
    from a CSV of call history or from the calls of a line in the store."""
    from hotline.wfm.forecast import forecast, horizon_warning
    from hotline.wfm.history import parse_history

    if (history is None) == (line is None):
        raise _usage("give the history as --history FILE or --line NAME (the store's calls)")
    if database is not None and line is None:
        raise _usage("--database goes with --line (it names the store to read)")
    if history is not None:
        try:
            text = history.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([Problem(f"cannot read the file: {e}", file=str(history))]) from None
        h = parse_history(text, filename=str(history))
    else:
        assert line is not None
        h = _store_history(line, database)
    for w in h.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(w)}")
    try:
        results = forecast(h, horizon_days=horizon_days, holdout_days=holdout_days)
    except ValueError as e:
        raise _usage(str(e)) from None
    caution = horizon_warning(h, horizon_days)
    if caution is not None:
        h.warnings.append(caution)
        err.print(f"[yellow]warning[/yellow] {escape(caution)}")
    first = h.start + timedelta(hours=h.hours)
    if out_file is not None:
        with out_file.open("w", encoding="utf-8", newline="") as f:
            f.write("interval_start,calls,language\n")
            for r in results:
                for k, v in enumerate(r.forecast):
                    stamp = (first + timedelta(hours=k)).isoformat(timespec="minutes")
                    f.write(f"{stamp},{v:.3f},{r.name}\n")
    report = {
        "history_start": h.start.isoformat(),
        "history_hours": h.hours,
        "forecast_start": first.isoformat(),
        "warnings": h.warnings,
        "series": {
            r.name: {
                "wape": round(r.wape, 6),
                "mape": round(r.mape, 6),
                "seasonal_naive_wape": round(r.naive_wape, 6),
                "forecast_calls": round(float(r.forecast.sum()), 1),
                "forecast_per_hour": [round(float(v), 3) for v in r.forecast],
            }
            for r in results
        },
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=f"Forecast from {first:%a %Y-%m-%d %H:00}, {horizon_days} days")
    for col in ("series", "forecast calls", "holdout WAPE", "MAPE", "seasonal-naive WAPE"):
        table.add_column(col, justify="left" if col == "series" else "right")
    for r in results:
        table.add_row(
            r.name, f"{r.forecast.sum():,.0f}", _pct(r.wape), _pct(r.mape), _pct(r.naive_wape)
        )
    out.print(table)
    if out_file is not None:
        out.print(f"hourly forecast written to {out_file}")


@app.command()
def surge(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file (docs/scenarios.md).")],
    volumes: Annotated[
        str, typer.Option(help="Volume factors to try, comma-separated.")
    ] = "1.25,1.5,2,3",
    handle: Annotated[float, typer.Option(help="Also try handle times x this (0: skip).")] = 1.2,
    spike: Annotated[
        str | None, typer.Option(help="Also try one language's calls x F, as LANG=F.")
    ] = None,
    service_level: Annotated[float, typer.Option(help="Target share answered in time.")] = 0.8,
    shrinkage: Annotated[float, typer.Option(help="Share of paid time off the phones.")] = 0.0,
    overtime_hours: Annotated[
        float, typer.Option(help="How long agents may stay on after their shift.")
    ] = 2.0,
    callbacks: Annotated[
        float | None,
        typer.Option(help="Simulate queued callbacks: the share of callers who accept one."),
    ] = None,
    callback_after: Annotated[
        float, typer.Option(help="Seconds of waiting before a callback is offered.")
    ] = 60.0,
    simulate_cases: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="Play each case in the simulator.")
    ] = True,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the cases as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG chart into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Surge plans: extra agents, on-call pool and overtime for more volume, longer calls or a
    language spike; each case simulated with the base schedule and with its own plan."""
    from hotline.wfm.plots import surge_figure
    from hotline.wfm.staffing import Target
    from hotline.wfm.surge import SurgeCase, evaluate_surges

    s = load_scenario(scenario)
    if callbacks is not None:
        if not 0.0 <= callbacks <= 1.0 or callback_after <= 0:
            raise _usage("--callbacks is a share in [0, 1] and --callback-after positive")
        s = replace(s, callbacks=Callbacks(callback_after, callbacks))
    target = Target(service_level, s.answer_within)
    try:
        cases = [
            SurgeCase(f"volume x{float(v):g}", volume=float(v)) for v in volumes.split(",") if v
        ]
        if handle:
            cases.append(SurgeCase(f"handle time x{handle:g}", handle=handle))
        if spike:
            tag, _, factor = spike.partition("=")
            cases.append(
                SurgeCase(f"{tag} calls x{float(factor):g}", language=tag, spike=float(factor))
            )
        target.check()
        base, rows, impacts = evaluate_surges(
            s,
            cases,
            target=target,
            shrinkage=shrinkage,
            overtime_hours=overtime_hours,
            simulate=simulate_cases,
        )
    except ValueError as e:
        raise _usage(str(e)) from None
    report = {
        "target": {"service_level": service_level, "answer_within_seconds": s.answer_within},
        "base_paid_hours": base.paid_hours,
        "cases": rows,
    }
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        surge_figure(impacts).savefig(plot / "surge.png", dpi=110)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"[bold]{s.name}[/bold]: base schedule {base.paid_hours:,.0f} paid hours a week")
    table = Table()
    for col in (
        "case",
        "calls/wk",
        "extra h",
        "on call",
        "overtime",
        "SL as is",
        "aband. as is",
        "plan paid h",
        "SL planned",
    ):
        table.add_column(col, justify="left" if col == "case" else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["case"],
            f"{r['calls_per_week']:,.0f}",
            f"{r['extra_agent_hours']:,.0f}",
            f"{r['on_call_pool']}",
            _pct(r["overtime_share"]),
            _pct(r.get("simulated_sl_base_schedule")),
            _pct(r.get("simulated_abandon_base_schedule")),
            f"{r['surge_plan_paid_hours']:,.0f}",
            _pct(r.get("simulated_sl_surge_plan")),
        )
    out.print(table)
    out.print(
        "extra h: agent-hours needed beyond the base schedule; on call: agents to call in at "
        f"the worst interval; overtime: share of the extra hours agents staying up to "
        f"{overtime_hours:g} h after their shift could cover. SL as is / SL planned: simulated "
        "with the base schedule unchanged / with a schedule planned for the surge."
        + (
            f" Callbacks: {callbacks:.0%} of callers still waiting after {callback_after:g} s "
            "take one (they keep their place and do not abandon)."
            if callbacks is not None
            else ""
        )
    )


def _forecast_week(path: Path, s: Scenario) -> dict[str, Any]:
    """A forecast file's first week, per language, as hours from Monday 00:00."""
    import numpy as np

    from hotline.wfm.history import ALL, parse_history

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(f"cannot read the file: {e}", file=str(path))]) from None
    h = parse_history(text, filename=str(path))
    for w in h.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(w)}")
    if h.hours < 168:
        short = f"the forecast covers {h.hours} hours; a plan needs a week (168 hours)"
        hint = "forecast at least 7 days (hotline forecast --horizon-days 7)"
        raise ConfigError([Problem(short, str(path), hint=hint)])
    if h.hours > 168:
        err.print(f"planning the forecast's first week, from {h.start:%a %Y-%m-%d %H:00}")
    # Monday 00:00 first: hour k of the file is hour (weekday * 24 + hour + k) of the week
    at = (h.start.weekday() * 24 + h.start.hour + np.arange(168)) % 168
    week: dict[str, Any] = {}
    for name, values in h.series.items():
        language = name.rsplit("/", 1)[-1]  # "line/language" or "language"
        if name == ALL and len(h.series) > 1:
            continue  # (the sum of the others)
        hours = np.zeros(168)
        hours[at] = values[:168]
        week[language] = week.get(language, 0.0) + hours
    tags = {lang.tag for lang in s.languages}
    unknown = sorted(set(week) - tags - {ALL})
    if unknown:
        raise ConfigError([_first_row_of(text, str(path), language, s) for language in unknown])
    missing = sorted(tags - set(week)) if ALL not in week else []
    if missing:
        err.print(f"[yellow]warning[/yellow] no forecast for {', '.join(missing)}: planned "
                  "with no calls in those languages")  # fmt: skip
    return week


def _first_row_of(text: str, filename: str, language: str, s: Scenario) -> Problem:
    """The problem of a language the scenario does not have, at its first row."""
    import csv
    import io

    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    column = header.index("language") if "language" in header else -1
    line = next(
        (n for n, row in enumerate(rows, start=2)
         if 0 <= column < len(row) and row[column].strip().rsplit("/", 1)[-1] == language),
        None,
    )  # fmt: skip
    tags = ", ".join(lang.tag for lang in s.languages)
    return Problem(f"the scenario has no language {language!r}", filename, line,
                   hint=f"its languages: {tags}")  # fmt: skip


def _forecast_callers(s: Scenario, week: dict[str, Any]) -> Scenario:
    """The scenario's callers at the forecast's volume, mean daily shape, day-of-week factors
    and language mix (the simulator's arrivals are a day shape times a weekday factor)."""
    import numpy as np

    total = np.sum(list(week.values()), axis=0).reshape(7, 24)
    if total.sum() <= 0:
        return s
    by_language = {tag: float(np.sum(v)) for tag, v in week.items()}
    languages = s.languages
    if "all" not in by_language:
        languages = tuple(replace(lang, share=by_language.get(lang.tag, 0.0)) for lang in languages)
    return replace(
        s,
        calls_per_day=float(total.sum()) / 7,
        hourly_profile=tuple(float(x) for x in total.sum(axis=0)),
        weekly_profile=tuple(float(x) for x in total.sum(axis=1) / total.sum(axis=1).mean()),
        languages=languages,
    )


def _store_history(line: str, database: str | None) -> History:
    """The calls of a line in the store, per language, by the hour of the line's clock."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from hotline.service.settings import load_settings
    from hotline.store.db import connect, redacted, require_current
    from hotline.store.repository import Store
    from hotline.wfm.history import calls_history

    url = load_settings().database_url if database is None else database
    engine = connect(url, create=False)
    require_current(engine, url)
    store = Store(engine=engine)
    arrivals = store.arrivals(line)
    if not arrivals:
        held = store.calls_by_line()
        known = ", ".join(f"{name!r} ({n:,})" for name, n in sorted(held.items()))
        raise HotlineError(
            f"the store {redacted(url)} has no calls for line {line!r}"
            + (f"; lines with calls: {known}" if held else "; it holds no calls at all")
        )
    zones = {row["name"]: row["timezone"] for row in store.lines()}
    warnings = []
    try:
        zone = ZoneInfo(zones[line])
    except (KeyError, ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
        warnings.append(
            f"line {line!r} is not in the store's lines (or has no known time zone): its "
            "calls are counted by UTC hours"
        )
    local: dict[int, datetime] = {}  # quarter-hour since the epoch -> local time (any zone)

    def at(t: float) -> datetime:
        q = int(t // 900)
        if q not in local:
            local[q] = datetime.fromtimestamp(q * 900, zone)
        return local[q]

    h = calls_history((language, at(t)) for t, language in arrivals)
    h.warnings.extend(warnings)
    return h


class _PoolOptions(NamedTuple):
    pools: str
    skills: str | None
    interpreted: str | None
    max_abandon: float
    weeks: int
    margin: float
    partitions: int
    seed: int | None


def _plan_pools(
    s: Scenario,
    target: Target,
    week: dict[str, Any] | None,
    o: _PoolOptions,
    interval: int,
    shrinkage: float,
    surge: float,
    break_minutes: int,
    time_limit: float,
    model: str,
    simulate_plan: bool,
    out_file: Path | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """`hotline plan --pools auto|dedicated`: the planner's pools, checked by simulation,
    beside today's plan of dedicated pools."""
    from hotline.wfm.demand import forecast_demand
    from hotline.wfm.plan import make_plan, plan_report
    from hotline.wfm.plots import coverage_figure
    from hotline.wfm.pools import Checking, check_plan, choice_report, choose_pools
    from hotline.wfm.staffing import with_shrinkage

    started = time.monotonic()
    callers = s if week is None else _forecast_callers(s, week)
    interpreted_tags = _interpreted(s, o.interpreted)
    mix = _skill_mix(s, o.skills)
    try:
        target.check()
        with_shrinkage(0, shrinkage)
        checks = Checking(seed=s.seed if o.seed is None else o.seed, weeks=o.weeks,
                          z=o.margin, candidates=o.partitions)  # fmt: skip
        checks.check()
        checking = checks if simulate_plan else None
        demand = None
        if week is not None:
            demand = forecast_demand(s, week, interval_minutes=interval, surge=surge)
        plan_options: dict[str, Any] = {
            "target": target,
            "model": model,
            "interval_minutes": interval,
            "shrinkage": shrinkage,
            "surge": surge,
            "break_minutes": break_minutes,
            "time_limit": time_limit,
            "demand": demand,
        }
        with _progress_bar("choosing pools", quiet=as_json) as say:
            choice = choose_pools(
                s, max_abandon=o.max_abandon, mix=mix, interpreted=interpreted_tags,
                callers=callers, checking=checking, largest=1 if o.pools == "dedicated" else None,
                progress=say, **plan_options,
            )  # fmt: skip
        dedicated = make_plan(s, **plan_options)
        dedicated_results = None
        if checking is not None:
            with _progress_bar("simulating today's dedicated pools", quiet=as_json) as say:
                say("", 0.0)
                dedicated_results, _ = check_plan(dedicated, callers, max_abandon=o.max_abandon,
                                                  checking=checking)  # fmt: skip
    except ValueError as e:
        raise _usage(str(e)) from None
    report = plan_report(choice.plan, choice.simulated)
    report["choice"] = choice_report(choice, max_abandon=o.max_abandon, checking=checking,
                                     dedicated=(dedicated, dedicated_results))  # fmt: skip
    report["choice"]["pools_option"] = o.pools
    report["choice"]["seconds"] = round(time.monotonic() - started, 1)
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        coverage_figure(choice.plan).savefig(plot / "coverage.png", dpi=110)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_plan(choice.plan, report, s.name)
    _print_choice(report["choice"], checking is not None)
    for path, what in ((out_file, "plan"), (plot and plot / "coverage.png", "chart")):
        if path:
            out.print(f"{what} written to {path}")


def _interpreted(s: Scenario, given: str | None) -> frozenset[str]:
    """The languages the interpreter line may answer: given, or the line's flow's."""
    tags = [lang.tag for lang in s.languages]
    if given is not None:
        chosen = [t.strip() for t in given.split(",") if t.strip()]
        unknown = [t for t in chosen if t not in tags]
        if unknown:
            raise _usage(f"--interpreted: the scenario has no language {', '.join(unknown)} "
                         f"(its languages: {', '.join(tags)})")  # fmt: skip
        return frozenset(chosen)
    if s.line is None or s.line.flow is None:
        return frozenset()
    from hotline.ivr.flow_file import load_flow

    flow = load_flow(s.line.flow)
    return frozenset(t for t, d in flow.languages.items() if d.interpreted and t in tags)


def _skill_mix(s: Scenario, given: str | None) -> Any:
    from hotline.wfm.pools import scenario_mix
    from hotline.wfm.skill_mix import load_skill_mix

    if given is None:
        return scenario_mix(s)
    if given == "scenario":
        return scenario_mix(s, dedicated=False)
    return load_skill_mix(given, s)


@contextmanager
def _progress_bar(title: str, *, quiet: bool) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on the terminal's stderr, fed `(what, share done)`."""
    if quiet or not err.is_terminal:
        yield lambda what, done: None
        return
    with Progress(
        TextColumn(f"{title} {{task.description}}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=1.0)
        yield lambda what, done: bar.update(task, description=what, completed=done)


def _print_choice(c: dict[str, Any], simulated: bool) -> None:
    t = c["target"]
    table = Table(title="Pools (each answered by agents of one profile)")
    for col in ("pool", "agents", "interpreter line", "paid h"):
        table.add_column(col, justify="right" if col == "paid h" else "left")
    for p in c["pools"]:
        skills = ", ".join(f"{k} {v}" for k, v in p["profile"]["skills"].items())
        line = ", ".join(p["interpreter_line"]) or "-"
        name = f"{p['profile']['name']} ({skills})"
        table.add_row(p["pool"], name, line, f"{p['paid_hours']:,.0f}")
    out.print(table)
    if simulated:
        weeks = c["check"]["weeks"]
        table = Table(
            title=f"Languages, simulated {weeks} week{'s' * (weeks != 1)} (seed "
            f"{c['check']['seed']}; ± one standard error)"
        )
        for col in ("language", "calls/wk", "pools", f"SL {t['answer_within_seconds']:g}s",
                    "aband", "meets", "dedicated SL", "aband", "meets"):  # fmt: skip
            table.add_column(col, justify="left" if col in ("language", "pools") else "right")
        for r in c["languages"]:
            table.add_row(
                r["language"],
                f"{r['calls_per_week']:,.0f}",
                ", ".join(r["pools"]),
                f"{_pct(r['simulated_service_level'])} ±{100 * r['service_level_se']:.1f}",
                f"{_pct(r['simulated_abandon_rate'])} ±{100 * r['abandon_rate_se']:.1f}",
                "yes"
                if r["meets"]
                else "[red]too few calls[/red]"
                if r["too_few_calls"]
                else "[red]no[/red]",
                _pct(r["dedicated_service_level"]),
                _pct(r["dedicated_abandon_rate"]),
                "yes" if r["dedicated_meets"] else "[red]no[/red]",
            )
        out.print(table)
    goal = (f"{t['service_level']:.0%} within {t['answer_within_seconds']:g} s and at most "
            f"{t['max_abandon_rate']:.1%} abandonment in every language")  # fmt: skip
    share = c["share_of_dedicated"]
    verdict = (
        "not checked by simulation (--no-simulate)"
        if c["sufficient"] is None
        else f"meets {goal}"
        if c["sufficient"]
        else f"[red]does not meet {goal}[/red] (languages marked no)"
        + (
            "; for those marked 'too few calls' the callers lost while the phone rang already "
            "leave no room for the margin in so few simulated calls: simulate more weeks "
            "(--check-weeks) or ask a smaller --margin"
            if any(r["too_few_calls"] for r in c["languages"])
            else ""
        )
    )
    out.print(
        f"{c['paid_hours']:,.0f} paid hours"
        + (
            f" = {share:.1%} of today's dedicated pools ({c['dedicated_paid_hours']:,.0f})"
            if share is not None
            else ""
        )
        + f"; {verdict}"
        + (
            f", each language's figures {c['check']['margin_se']:g} standard error(s) clear"
            if c["sufficient"] and c["check"]["margin_se"]
            else ""
        )
        + f". Chosen among {c['candidate_pools']} candidate pools in {c['seconds']:g} s."
    )
    for r in c["routing"]:
        steps = "; ".join(
            f"{' and '.join(f'{k}>={v}' for k, v in st['require'].items()) or 'anyone'}"
            + (f" for {st['seconds']:g} s" if st["seconds"] is not None else "")
            for st in r["steps"]
        )
        then = f", then {r['overflow'].removeprefix('fallback:')}" if r["overflow"] else ""
        out.print(f"routing: queue {r['queue']} to the interpreter line at once ({steps}{then})")
    for t_ in c["tried"]:
        few = [x for x in t_["short"] if x in t_["too_few_calls"]]
        state = (
            "sufficient"
            if t_["sufficient"]
            else "short: "
            + ", ".join(f"{x} (too few calls)" if x in few else x for x in t_["short"])
        )
        out.print(
            f"tried: {' | '.join(t_['pools'])}: bound {t_['bound_hours']:,.0f} h, paid "
            f"{t_['paid_hours']:,.0f} h after {t_['rounds']} re-staffing round(s), {state}"
        )
    for a in c["assumptions"]:
        out.print(f"assumed: {escape(a)}")


def _solve(
    s: Scenario,
    target: Target,
    interval: int,
    shrinkage: float,
    surge: float,
    break_minutes: int,
    time_limit: float,
    pooled: tuple[str, ...],
    quiet: bool,
    model: str = "erlang-c",
    demand: Demand | None = None,
) -> Plan:
    from hotline.wfm.plan import make_plan

    kwargs: dict[str, Any] = {
        "model": model,
        "demand": demand,
        "target": target,
        "interval_minutes": interval,
        "shrinkage": shrinkage,
        "surge": surge,
        "break_minutes": break_minutes,
        "time_limit": time_limit,
        "pooled": pooled,
    }
    if quiet or not err.is_terminal:
        return make_plan(s, **kwargs)
    with Progress(
        TextColumn("scheduling shifts: {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} pools"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=len(s.queues) - max(0, len(pooled) - 1))

        done = iter(range(len(s.queues)))

        def step(pool: str) -> None:
            bar.update(task, description=pool, completed=next(done))

        return make_plan(s, progress=step, **kwargs)


def _print_plan(p: Plan, report: dict[str, Any], name: str) -> None:
    t = p.target
    surge = f", volume x{p.surge:g}" if p.surge != 1 else ""
    out.print(
        f"[bold]{name}[/bold]: a week of {p.demand.interval_minutes}-minute intervals, "
        f"{t.service_level:.0%} within {t.answer_within:g} s, shrinkage {p.shrinkage:.0%}{surge}"
    )
    table = Table()
    within = f"SL {t.answer_within:g}s"
    for col in (
        "pool",
        "calls/wk",
        "peak",
        "paid h",
        "bound h",
        "gap",
        within,
        "SL 20s",
        "aband",
        "worst",
        "sim SL",
        "sim ab",
    ):
        table.add_column(col, justify="left" if col == "pool" else "right", no_wrap=True)
    for row in (*report["pools"], report["total"]):
        table.add_row(
            row["pool"],
            f"{row['calls']:,.0f}",
            f"{row['peak_agents']}",
            f"{row['paid_hours']:,.0f}",
            f"{row['lower_bound_hours']:,.0f}",
            "-" if row.get("gap") is None else f"{100 * row['gap']:.1f} %",
            _pct(row["planned_service_level"]),
            _pct(row["planned_within_20s"]),
            _pct(row["planned_abandon_rate"]),
            "-" if row["worst_interval"] is None else _pct(row["worst_interval"]["service_level"]),
            _pct(row.get("simulated_service_level")),
            _pct(row.get("simulated_abandon_rate")),
            style="bold" if row["pool"] == "all" else None,
        )
    out.print(table)
    total = report["total"]
    model = "Erlang A (callers hang up after their patience)" if p.model == "erlang-a" else (
        "Erlang C (no abandonment)")  # fmt: skip
    worst = total["worst_interval"]
    out.print(
        f"{total['paid_hours']:,.0f} paid hours = {total['paid_hours'] / 40:,.1f} full-time "
        f"(40 h) agents, {total['paid_over_lower_bound'] or 1:.3f}x the lower bound (bound h: "
        f"the agents each interval needs, summed). Planned figures are {model} for the "
        "scheduled agents, call-weighted; worst: the lowest interval's SL"
        + (f" (of all: {worst['pool']}, {worst['at']})" if worst else "")
        + "; sim: the simulator replays them against the scenario's callers (with abandonment)"
    )


def _scenario(
    path: Path | None,
    calls_per_hour: float | None,
    aht_seconds: float | None,
    agents: int | None,
    patience_seconds: float | None,
    answer_within: float | None,
    seed: int | None,
) -> Scenario:
    quick = (calls_per_hour, aht_seconds, agents)
    if path is not None:
        if any(v is not None for v in (*quick, patience_seconds)):
            raise _usage("give either a scenario file or the quick-run options, not both")
        s = load_scenario(path)
        return s if seed is None else replace(s, seed=seed)
    if any(v is None for v in quick):
        missing = [o for o, v in zip(QUICK_OPTIONS, quick, strict=True) if v is None]
        raise _usage(
            "give a scenario file, or all of --calls-per-hour, --aht-seconds and --agents "
            f"(missing: {', '.join(missing)})"
        )
    assert calls_per_hour is not None
    assert aht_seconds is not None
    assert agents is not None
    problems = []
    if calls_per_hour <= 0:
        problems.append("--calls-per-hour must be positive")
    if aht_seconds <= 0:
        problems.append("--aht-seconds must be positive")
    if agents < 1:
        problems.append("--agents must be at least 1 (an empty agent list answers nothing)")
    if patience_seconds is not None and patience_seconds <= 0:
        problems.append("--patience-seconds must be positive")
    if answer_within is not None and answer_within < 0:
        problems.append("--answer-within cannot be negative")
    if problems:
        raise _usage("; ".join(problems))
    return Scenario.single_queue(
        calls_per_hour=calls_per_hour,
        aht_seconds=aht_seconds,
        agents=agents,
        hours=24,
        patience_seconds=patience_seconds,
        seed=1 if seed is None else seed,
    )


def _run(
    s: Scenario,
    *,
    show_progress: bool,
    trace: Callable[[AnyEvent], None] | None = None,
    interval: int | None = None,
) -> Result:
    sim = Simulation(scenario=s, trace=trace, interval_minutes=interval)
    if not show_progress or not err.is_terminal:
        return sim.run()
    with Progress(
        TextColumn("simulating {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{s.hours} h", total=1.0)
        return sim.run(progress=lambda done: bar.update(task, completed=done))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _sec(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def _print_report(s: Scenario, result: Result, elapsed: float) -> None:
    r = result.report
    out.print(f"[bold]{s.name}[/bold]: {s.hours} h, seed {s.seed}")
    table = Table(title=f"Service (answered within {s.answer_within:g} s)")
    overflow = r["overflowed"] > 0 or any(t["overflowed"] for t in r["queues"].values())
    columns = ["", "offered", "answered", "abandoned", "SL", "ASA", "AHT", "aband.", "max wait"]
    if overflow:
        columns.insert(4, "overflowed")
    for col in columns:
        table.add_column(col, justify="left" if not col else "right", no_wrap=True)

    def row(name: str, t: dict[str, Any], style: str | None = None) -> None:
        cells = [
            name,
            f"{t['offered']:,}",
            f"{t['answered']:,}",
            f"{t['abandoned']:,}",
            _pct(t["service_level"]),
            _sec(t["asa_seconds"]),
            _sec(t["aht_seconds"]),
            _pct(t["abandon_rate"]),
            _sec(t["longest_wait_seconds"]),
        ]
        if overflow:
            cells.insert(4, f"{t['overflowed']:,}")
        table.add_row(*cells, style=style)

    row("all", r, "bold")
    if len(r["languages"]) > 1:
        table.add_section()
        table.add_row("[dim]by language[/dim]")
        for name, t in r["languages"].items():
            row(name, t)
    if len(r["caller_types"]) > 1:
        table.add_section()
        table.add_row("[dim]by caller type[/dim]")
        for name, t in r["caller_types"].items():
            row(name, t)
    if len(r["queues"]) > 1:
        table.add_section()
        table.add_row("[dim]by queue[/dim]")
        for name, t in r["queues"].items():
            row(name, t)
    if r.get("intervals"):
        table.add_section()
        table.add_row(f"[dim]by {r['interval_minutes']}-minute interval[/dim]")
        several_days = r["intervals"][-1]["start_seconds"] >= 86_400
        for t in r["intervals"]:
            day, clock = divmod(int(t["start_seconds"]), 86_400)
            name = f"day {day + 1} " if several_days else ""
            row(f"{name}{clock // 3600:02d}:{clock % 3600 // 60:02d}", t)
    out.print(table)
    out.print(
        f"occupancy {_pct(r['occupancy'])} over {r['agent_hours']:,.0f} staffed agent-hours"
        + (f"; [red]{result.unfinished} calls never answered[/red]" if result.unfinished else "")
    )
    rate = result.calls / elapsed if elapsed > 0 else float("inf")
    out.print(
        f"[dim]simulated {result.calls:,} calls ({result.events:,} events) in {elapsed:.2f} s "
        f"= {rate:,.0f} calls/s[/dim]"
    )


class _UsageError(HotlineError):
    error_id = "bad-usage"


flow_app = typer.Typer(
    help="IVR call flows: check them before they go live, try them in the terminal.",
    no_args_is_help=True,
)
app.add_typer(flow_app, name="flow")


@flow_app.command("validate")
def flow_validate(
    files: Annotated[list[Path], typer.Argument(help="Flow files (docs/flows.md).")],
    scenario: Annotated[
        Path | None,
        typer.Option(help="Also check that every queue the flow uses exists in this scenario."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Report every problem in each flow, with file:line:column and a fix; exit 1 on any."""
    from hotline.ivr.flow_file import load_flow

    queues = [q.name for q in load_scenario(scenario).queues] if scenario else None
    results = []
    for f in files:
        try:
            flow = load_flow(f, line_queues=queues)
            results.append({"file": str(f), "ok": True, "flow": flow.name, "version": flow.version,
                            "nodes": len(flow.nodes), "languages": len(flow.languages),
                            "problems": []})  # fmt: skip
        except ConfigError as e:
            results.append({"file": str(f), "ok": False, "problems": [
                {"file": p.file, "line": p.line, "column": p.column, "message": p.message,
                 "hint": p.hint} for p in e.problems]})  # fmt: skip
            if not as_json:
                for p in e.problems:
                    err.print(f"[red]error[/red] {_escape(p)}")
    bad = sum(len(r["problems"]) for r in results)  # type: ignore[misc,arg-type]
    if as_json:
        out.print_json(json.dumps({"ok": bad == 0, "errors": bad, "files": results}))
    else:
        for r in results:
            if r["ok"]:
                out.print(
                    f"[green]ok[/green] {escape(str(r['file']))}: flow "
                    f"{escape(repr(r['flow']))} version {r['version']}, {r['nodes']} nodes, "
                    f"{r['languages']} languages"
                )
        if bad:
            err.print(f"{bad} problem{'s' if bad != 1 else ''} found")
    if bad:
        raise typer.Exit(1)


@flow_app.command("run")
def flow_run(
    file: Annotated[Path, typer.Argument(help="Flow file.")],
    lang: Annotated[
        str | None, typer.Option(help="The caller's language (otherwise: from --from).")
    ] = None,
    caller: Annotated[str, typer.Option("--from", help="Caller's number, E.164.")] = "+12025550143",
    called: Annotated[str, typer.Option("--to", help="Number called, E.164.")] = "+18005550100",
    inputs: Annotated[
        str | None,
        typer.Option(
            "--input",
            help='Scripted caller: keys, speech or "timeout", comma-separated, e.g. 1,2,"1234#". '
            "Without it, type at the prompt.",
        ),
    ] = None,
    at: Annotated[
        datetime | None, typer.Option(help="Local time of the call (default: now).")
    ] = None,
    mode: Annotated[str, typer.Option(help="Line mode: normal, holiday or emergency.")] = "normal",
    wait: Annotated[
        list[str] | None,
        typer.Option(help="Estimated wait of a queue, QUEUE=SECONDS (repeatable)."),
    ] = None,
    connector: Annotated[
        list[str] | None,
        typer.Option(help="In-memory connector for look-ups, NAME=FILE (repeatable)."),
    ] = None,
    audio: Annotated[
        bool, typer.Option(help="Render prompts to WAV with espeak-ng (.hotline/speech).")
    ] = False,
) -> None:
    """Play a flow as text in the terminal and show where the call ends up."""
    from hotline.ivr.flow_file import load_flow
    from hotline.ivr.interpreter import LINE_MODES, CallStarted, Gather
    from hotline.service.flow_console import FlowConsole, parse_inputs, scripted
    from hotline.telephony.speech import EspeakSpeech
    from hotline.testing.connectors import InMemoryConnector

    if mode not in LINE_MODES:
        raise _usage(f"--mode is one of {', '.join(LINE_MODES)}")
    flow = load_flow(file)
    if lang is not None and lang not in flow.languages:
        raise _usage(
            f"--lang {lang!r} is not a language of this flow ({', '.join(flow.languages)})"
        )
    waits = {}
    for w in wait or []:
        queue, _, seconds = w.partition("=")
        try:
            waits[queue] = float(seconds)
        except ValueError:
            raise _usage(f"--wait {w!r}: expected QUEUE=SECONDS") from None
    connectors = {}
    for c in connector or []:
        name, sep, path = c.partition("=")
        if not sep:
            raise _usage(f"--connector {c!r}: expected NAME=FILE")
        connectors[name] = InMemoryConnector.from_file(path)
    speech = EspeakSpeech(cache_dir=Path(".hotline/speech")) if audio else None
    console = FlowConsole(flow=flow, connectors=connectors, out=out, speech=speech)
    call = CallStarted(caller, called, at or datetime.now(), mode, waits, lang)

    def ask(gather: Gather) -> str | None:
        try:
            if gather.secret and sys.stdin.isatty():
                return getpass.getpass("keys (hidden)> ")
            return input("keys or words> ")
        except EOFError:
            return None

    t = console.run(call, scripted(parse_inputs(inputs)) if inputs is not None else ask)
    s = t.session
    shown = {k: "****" if k in s.secrets else v for k, v in s.vars.items()}
    table = Table(title=escape(f"{flow.name} v{flow.version}: {s.outcome}"), show_header=False)
    table.add_row("nodes visited", str(s.steps))
    for k, v in shown.items():
        table.add_row(k, escape(v))
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    node: Annotated[
        str | None,
        typer.Option(
            help="Serve as one node of several on one database, under this name: "
            "it stands by until it leads the lines (docs/operations.md)."
        ),
    ] = None,
    advertise: Annotated[
        str | None,
        typer.Option(help="Where the other nodes reach this one [default: http://HOST:PORT]."),
    ] = None,
    lease_seconds: Annotated[
        float,
        typer.Option(
            min=2.0,
            max=60.0,
            help="How long a node's lease on the lines "
            "lasts unless renewed: a dead leader is replaced within it.",
        ),
    ] = 10.0,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log one JSON object a line (for a collector).")
    ] = False,
) -> None:
    """Run the live line: carrier webhooks, the agents' API, /healthz. Settings come from
    HOTLINE_* environment variables (docs/live.md); the database is migrated first."""
    if node is not None:
        if advertise is None and host in ("0.0.0.0", "::", ""):
            err.print(
                f"[red]--host {host or '(empty)'} is no address another node can "
                "reach: give --advertise URL (where the other nodes reach this one)[/]"
            )
            raise typer.Exit(2)
        _serve_node(host, port, node, advertise or f"http://{host}:{port}", lease_seconds, log_json)
        return

    import uvicorn

    from hotline.service.bootstrap import audit_trail, build_line, call_control
    from hotline.service.collector import tune_for_serving
    from hotline.service.logs import configure as configure_logs
    from hotline.service.prompt_audio import check_speech
    from hotline.service.settings import load_settings
    from hotline.store.db import redacted
    from hotline.web.app import SERVING, create_app

    configure_logs(as_json=log_json)
    settings = load_settings()
    control = call_control(settings)
    settings.required_sealing_key()  # (always: the accounts added later need it too)
    check_speech(settings.speech, settings.keyring())
    parts = build_line(settings, control=control)
    if parts.created:
        err.print(f"created a new database: {escape(redacted(settings.database_url))}")
    if parts.migrations:
        err.print(f"database migrated: {', '.join(parts.migrations)}")
    if parts.imported:
        err.print(f"the store had no line {settings.line_number}: imported "
                  f"{parts.imported.name!r} from {settings.scenario}")  # fmt: skip
    if parts.recovered:
        err.print(
            "recovered open calls: "
            + ", ".join(f"{k} {v}" for k, v in sorted(parts.recovered.items()))  # (one order)
        )
    trail = audit_trail(parts.store)
    if trail is None:
        err.print(
            "[yellow]HOTLINE_AUDIT_KEY is not set: the audit trail is hash-chained "
            "but its checkpoints are not signed (`hotline audit keygen`)[/]"
        )
    if parts.desk is not None:
        err.print(f"record look-ups: {', '.join(sorted(parts.desk.sources))} under "
                  f"{escape(parts.desk.policy.source)}")  # fmt: skip
    app_ = create_app(settings=settings, line=parts.line, control=control, desk=parts.desk,
                      trail=trail)  # fmt: skip
    for setup in parts.line.setups.values():
        flow = setup.flow.flow
        err.print(f"line {setup.name!r} on {setup.number}: flow {flow.name!r} v{flow.version}, "
                  f"{len(parts.line.boards[setup.name].line.agents)} agents")  # fmt: skip
    err.print(
        f"listening on http://{host}:{port} "
        f"(carrier webhooks: {settings.public_url}/voice/incoming and /voice/status)"
    )
    tune_for_serving()
    uvicorn.run(app_, host=host, port=port, **SERVING)


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="Callers' time runs this many times faster.")] = 10.0,
    minutes: Annotated[float, typer.Option(help="How long to place calls (wall clock).")] = 2.0,
    calls: Annotated[int | None, typer.Option(help="Stop after this many calls.")] = None,
    hour: Annotated[
        float, typer.Option(help="Hour of the scenario's day: its rate and shifts.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed for the callers.")] = 1,
    database: Annotated[
        str, typer.Option(help="Database URL (a fresh SQLite file by default).")
    ] = "sqlite:///hotline-demo.sqlite3",
    browser_phone: Annotated[
        bool,
        typer.Option(
            help="The desktop's and wallboard's browser phones register with the emulator "
            "(open its URL, printed, once and accept its made-up certificate)."
        ),
    ] = False,
) -> None:
    """The live line on this machine, no carrier account needed: Hotline and a carrier
    emulator on loopback, agent bots on shift, callers at the national scenario's rate."""
    import asyncio

    from rich.live import Live

    from hotline.service.demo import Demo

    if speed <= 0 or minutes <= 0:
        raise _usage("--speed and --minutes must be positive")
    if database.startswith("sqlite:///") and database != "sqlite:///:memory:":
        Path(database.removeprefix("sqlite:///")).unlink(missing_ok=True)  # a fresh demo each run

    def table(snap: dict[str, int], title: str) -> Table:
        t = Table(title=title, show_header=False)
        for k, v in snap.items():
            t.add_row(k, f"{v:,}")
        return t

    async def run() -> Demo:
        d = Demo(database_url=database, speed=speed, hour=hour, seed=seed,
                 browser_phone=browser_phone)  # fmt: skip
        lines = ", ".join(f"{s.name} on {s.number} ({r * 60:.0f} calls a minute)"
                          for s, r in zip(d.setups, d.rates(), strict=True))  # fmt: skip
        err.print(f"starting: {len(d.agent_ids)} agents on shift at {hour:g}:00 (speed "
                  f"{speed:g}); lines: {lines}")  # fmt: skip
        await d.start()
        for name, url in d.urls.items():
            err.print(f"  {name}: {url}")
        err.print(
            "  log on as one of these (made for this run; the code is an authenticator "
            "app's, or `.venv/bin/hotline user code SECRET`'s); demo-agent is "
            f"{d.person}, whose calls no bot answers:"
        )
        for new in d.credentials:
            err.print(f"    {new.username}  password {new.password}  secret {new.totp_secret}")
        err.print(f"  on a call, demo-agent can look up a (synthetic) case record, e.g. "
                  f"{', '.join(d.case_ids[:3])}: what it shows depends on the purpose and "
                  "on how the caller was verified (scenarios/disclosure-policy.yaml); "
                  "demo-auditor finds each look-up and log-on in the audit trail")  # fmt: skip
        main = d.setups[0].scenario
        ring, wrap = main.offer_timeout, max(q.wrap_up_seconds for q in main.queues)
        if speed > 2:  # (a person needs the line's own time to answer and wrap up)
            err.print(f"  (at --speed {speed:g} a call rings {ring / speed:.1f} s and a wrap-up "
                      f"lasts {wrap / speed:.0f} s: to take calls as demo-agent, run "
                      "./dev demo --speed 1)")  # fmt: skip
        with Live(table(d.snapshot(), "Hotline demo"), console=out, refresh_per_second=2) as live:

            async def refresh() -> None:
                while True:
                    live.update(table(d.snapshot(), "Hotline demo"))
                    await asyncio.sleep(0.5)

            painter = asyncio.create_task(refresh())
            try:
                await d.traffic(calls=calls, seconds=minutes * 60)
                err.print("no more calls; letting the calls in progress end ...")
                await d.finish(drain_seconds=max(60.0, 3600.0 / speed))
            finally:
                painter.cancel()
                live.update(table(d.snapshot(), "Hotline demo"))
        return d

    try:
        d = asyncio.run(run())
    except KeyboardInterrupt:
        err.print("stopped")
        return
    out.print()
    by_line = d.outcomes_by_line()
    outcomes = Table(title="How calls ended (callers' side)")
    outcomes.add_column("outcome")
    for name in by_line:
        outcomes.add_column(name, justify="right")
    for k, _ in sum(by_line.values(), Counter()).most_common():
        outcomes.add_row(k, *(f"{n[k]:,}" for n in by_line.values()))
    out.print(outcomes)
    kept = d.line.store.count_calls()
    out.print(
        f"Hotline's store: {sum(kept.values()):,} calls "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(kept.items()))
        + f"; the emulator placed {d.stats.placed:,}."
    )
    out.print("The run's audit trail (every look-up and log-on), checked with:")
    out.print(f"  .venv/bin/hotline audit verify --database {database} "
              f"--key {d.audit_signer.verifier} --sink {d.audit_sink}",
              soft_wrap=True, markup=False, highlight=False)  # fmt: skip


line_app = typer.Typer(
    help="Lines in the store: import a scenario file's line, export one, list them.",
    no_args_is_help=True,
)
app.add_typer(line_app, name="line")


@line_app.command("import")
def line_import(
    file: Annotated[
        Path, typer.Argument(help="A scenario file with its line (docs/scenarios.md).")
    ],
    number: Annotated[
        str | None, typer.Option(help="The line's number (E.164), if not in the file.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Its IANA time zone, if not in the file.")
    ] = None,
    flow: Annotated[Path | None, typer.Option(help="Its flow file, if not in the file.")] = None,
) -> None:
    """Validate the file (every problem at once) and load its line into the store of
    HOTLINE_DATABASE_URL, replacing a line of the same name; nothing is written on error."""
    from hotline.service.bootstrap import store_for
    from hotline.service.lines import import_line
    from hotline.service.settings import load_settings

    store, _ = store_for(load_settings())
    done = import_line(store, file, number=number, timezone=timezone, flow=flow)
    flow_text = f"flow {done.flow[0]!r} v{done.flow[1]}" if done.flow else "its flow unchanged"
    err.print(
        f"line {done.name!r} ({done.number}): {done.queues} queues, {done.agents} agents, "
        f"{flow_text}"
    )
    if done.shared:
        err.print(
            f"  shared with other lines: {len(done.shared)} agents ({', '.join(done.shared[:5])}"
            f"{', ...' if len(done.shared) > 5 else ''})"
        )


@line_app.command("export")
def line_export(
    name: Annotated[str, typer.Argument(help="The line's name.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not to stdout.")
    ] = None,
) -> None:
    """Write a line of the store back as a scenario file (an audit entry says who did)."""
    import time as clock

    from hotline.records.audit import Entry, os_actor, record_entry
    from hotline.service.bootstrap import store_for
    from hotline.service.lines import export_line
    from hotline.service.settings import load_settings

    store, _ = store_for(load_settings(), create=False)
    text = export_line(store, name)
    record_entry(store.engine, Entry(at=clock.time(), actor=os_actor(), role="admin",
                                     action="config.line.export", object=f"line:{name}"[:256],
                                     details={"line": name[:128]}))  # fmt: skip
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@line_app.command("list")
def line_list() -> None:
    """The lines in the store: name, number, time zone, active flow version."""
    from hotline.service.bootstrap import store_for
    from hotline.service.settings import load_settings

    store, _ = store_for(load_settings(), create=False)
    table = Table("line", "number", "time zone", "flow")
    for line in store.lines():
        flow = f"{line['flow']} v{line['flow_version']}" if line["flow"] else "-"
        table.add_row(line["name"], line["number"], line["timezone"], flow)
    out.print(table)


def _serve_node(
    host: str, port: int, name: str, address: str, lease_seconds: float, log_json: bool
) -> None:
    """`hotline serve --node NAME`: stand by, lead when the lines' leases are this node's,
    and exit (status 75) the moment they may not be trusted any more."""
    import logging

    import uvicorn

    from hotline.errors import NodeRefused
    from hotline.service.collector import tune_for_serving
    from hotline.service.logs import configure as configure_logs
    from hotline.service.node import EXIT_LOST
    from hotline.service.settings import load_settings
    from hotline.web.app import SERVING, create_node

    configure_logs(as_json=log_json)
    settings = load_settings()

    def lost(why: str) -> None:
        logging.shutdown()
        os._exit(EXIT_LOST)  # nothing more from this run: a supervisor starts a standby

    try:
        routed = create_node(settings, name=name, address=address, lease_seconds=lease_seconds,
                             on_lost=lost, report=err.print)  # fmt: skip
    except NodeRefused as e:
        err.print(f"[red]{escape(e.message)}[/]")
        raise typer.Exit(1) from None
    err.print(
        f"node {name!r} ({address}) stands by until it leads lines "
        f"(leases of {lease_seconds:g} s); listening on http://{host}:{port}"
    )
    tune_for_serving()  # (the lines it builds on taking over are not frozen: they can go)
    uvicorn.run(routed, host=host, port=port, **SERVING)


@app.command()
def nodes() -> None:
    """The nodes serving from the store, each with its load (the agents on the lines of
    the groups it leads, as the nodes share them out), and who leads each line: its node,
    the lease's epoch (it grows at every takeover) and when it runs out, on the database's
    clock."""
    from hotline.service.bootstrap import store_for
    from hotline.service.node import loads
    from hotline.service.settings import load_settings
    from hotline.service.spread import Layout
    from hotline.store.leases import leases

    settings = load_settings()
    store, _ = store_for(settings, create=False)
    layout = Layout(store=store, home=settings.line_number)
    weight = {group: layout.weight(group) for group in layout.groups()}
    now, held, members = leases(store.engine)
    load, total = loads(weight, [x for x in held if x.expires_at > now]), sum(weight.values())
    table = Table("node", "address", "up for", "last seen", "load", title="Nodes",
                  caption=f"load: agents on the lines a node leads (of {total})")  # fmt: skip
    for m in members:
        table.add_row(escape(m.name), escape(m.address or "-"), _span(now - m.started_at),
                      f"{_span(now - m.seen_at)} ago", str(load[m.name]))  # fmt: skip
    out.print(table if members else "No node is serving (none has joined, or all left).")
    table = Table("line", "led by", "epoch", "lease", title="Leases")
    for lease in held:
        left = lease.expires_at - now
        table.add_row(escape(lease.line), escape(lease.node or "-"), str(lease.epoch),
                      f"{_span(left)} left" if left > 0 else "expired: free to take")  # fmt: skip
    out.print(table if held else "No line has been led by a node yet.")


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@app.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")
    ] = False,
) -> None:
    """Delete what is older than its retention (HOTLINE_RETENTION_DAYS, e.g.
    '{"calls": 365, "replies": 30}'): ended calls with their events, and the answers kept
    for retried webhooks. Open calls and the audit trail are never purged; each purge is
    an audit entry. `hotline serve` does this hourly by itself."""
    import time as clock

    from hotline.records.audit import os_actor
    from hotline.service.bootstrap import store_for
    from hotline.service.settings import load_settings

    settings = load_settings()
    store, _ = store_for(settings, create=False)
    keep = settings.retention_days
    gone = store.purge(clock.time(), keep, actor=os_actor(), dry_run=dry_run)
    verb = "would go" if dry_run else "purged"
    for name, n in gone.items():
        out.print(f"{name}: {n:,} {verb} (older than {keep[name]:g} days)")


@app.command()
def rekey(
    batch: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
) -> None:
    """Seal under HOTLINE_SECRET_KEY every sensitive value that is not: the calls'
    attributes and the wrap-up notes written in clear before they were sealed, and what a
    key of HOTLINE_PREVIOUS_SECRET_KEYS sealed (a key rotation), the accounts' TOTP secrets
    too. In batches, one transaction each: safe to interrupt and run again; afterwards the
    previous keys are needed no more."""
    import time as clock

    from hotline.service.accounts import Accounts
    from hotline.service.bootstrap import store_for
    from hotline.service.settings import load_settings
    from hotline.store.accounts import AccountStore

    settings = load_settings()
    key = settings.required_keyring()
    store, _ = store_for(settings, create=False)
    total, sealed = store.rekey_total(), 0
    with Progress(
        TextColumn("sealing under key {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(key.key_id, total=total)
        for seen, done in store.rekey(batch=batch):
            sealed += done
            bar.advance(task, seen)
    accounts = Accounts(store=AccountStore(engine=store.engine), clock=clock.time, key=key)
    secrets = accounts.rekey()
    err.print(f"calls and events sealed anew under key {key.key_id}: {sealed:,} of "
              f"{total:,} rows; TOTP secrets: {secrets}")  # fmt: skip


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for HOTLINE_SECRET_KEY (32 random bytes, urlsafe base64), which
    seals the accounts' TOTP secrets in the database. Keep it as safe as the database's
    password: the secrets sealed with a key open only with that key."""
    from hotline.service.sealing import new_key

    typer.echo(new_key())  # (plain: nothing may wrap or colour it)


@app.command("agent-token")
def agent_token(
    agent_id: Annotated[
        str | None, typer.Argument(help="An agent of the line's scenario, e.g. es-day-1.")
    ] = None,
    supervisor: Annotated[
        bool, typer.Option(help="The supervisor's token instead (/api/stats, /api/events).")
    ] = False,
    revoke: Annotated[
        bool, typer.Option(help="Revoke the token instead (open sockets close).")
    ] = False,
) -> None:
    """Issue a token for an agent, or the supervisor (replacing any earlier one); only its
    hash is stored."""
    from hotline.service.bootstrap import issue_agent_token, revoke_agent_token
    from hotline.service.roles import SUPERVISOR
    from hotline.service.settings import load_settings

    if supervisor == (agent_id is not None):
        raise _usage("name an agent, or give --supervisor (not both)")
    agent_id = SUPERVISOR if agent_id is None else agent_id

    if revoke:
        gone = revoke_agent_token(load_settings(), agent_id)
        err.print(f"token of {agent_id} revoked" if gone else f"{agent_id} had no token")
        return
    out.print(issue_agent_token(load_settings(), agent_id))


user_app = typer.Typer(
    help="Accounts of the people who use Hotline: add, reset, disable, enable, unlock, list, "
    "rekey.",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")


def _print_credentials(new: NewAccount, what: str) -> None:
    out.print(
        f"{what} {escape(new.username)} ({new.role}). Give them these once; they are not kept:"
    )
    out.print(f"  password:    {new.password}")
    if new.totp_secret is not None:
        out.print(f"  TOTP secret: {new.totp_secret}")
        out.print(f"  (or scan):   {new.totp_uri}", soft_wrap=True)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="The name they log on with.")],
    role: Annotated[str, typer.Option(help="agent, supervisor, planner, admin or auditor.")],
    agent: Annotated[
        str | None, typer.Option(help="For an agent's account: the agent it is (e.g. en-day-1).")
    ] = None,
    mfa: Annotated[bool, typer.Option(help="Ask for a TOTP code at log-on (the default).")] = True,
    multi_session: Annotated[
        bool,
        typer.Option(
            help="Allow several sessions at once (by default a new log-on ends the others)."
        ),
    ] = False,
) -> None:
    """Add an account with a generated password (and a TOTP secret), printed once."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    if (role == "agent") != (agent is not None):
        raise _usage("an agent's account names its agent (--agent ID), and only an agent's does")
    accounts = accounts_for(load_settings())
    if agent is not None and agent not in (roster := accounts.agents()):
        sample = ", ".join(list(roster)[:5])
        raise HotlineError(f"no agent {agent!r} on any line (agents are like {sample})")
    new = accounts.add(username, role, mfa=mfa, agent_id=agent,
                                            multi_session=multi_session)  # fmt: skip
    _print_credentials(new, "added")


@user_app.command("reset")
def user_reset(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """A new password (and TOTP secret), printed once; their sessions end and the account
    is unlocked."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    _print_credentials(accounts_for(load_settings()).reset(username), "reset")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """No more log-ons; their sessions end at once."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    accounts_for(load_settings()).disable(username)
    err.print(f"{escape(username)} disabled")


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Allow log-ons again."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    accounts_for(load_settings()).enable(username)
    err.print(f"{escape(username)} enabled")


@user_app.command("unlock")
def user_unlock(username: Annotated[str, typer.Argument(help="The name that was locked.")]) -> None:
    """Unlock a name locked by failed log-ons."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    was = accounts_for(load_settings()).unlock(username)
    err.print(f"{escape(username)} unlocked" if was else f"{escape(username)} was not locked")


@user_app.command("list")
def user_list() -> None:
    """Every account, its role, agent, MFA and whether it is disabled or locked."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    accounts = accounts_for(load_settings())
    table = Table("user", "role", "agent", "MFA", "state")
    for u in accounts.store.users():
        state = "disabled" if u.disabled else "locked" if accounts.locked(u.username) else "active"
        table.add_row(
            escape(u.username), u.role, escape(u.agent_id or "-"), "yes" if u.mfa else "no", state
        )
    out.print(table)


@user_app.command("rekey")
def user_rekey() -> None:
    """Seal with HOTLINE_SECRET_KEY every TOTP secret still stored in clear (accounts made
    before secrets were sealed; each is also sealed at its user's next log-on), and those a
    key of HOTLINE_PREVIOUS_SECRET_KEYS sealed (`hotline rekey` does this and the calls)."""
    from hotline.service.bootstrap import accounts_for
    from hotline.service.settings import load_settings

    done = accounts_for(load_settings()).rekey()
    err.print(f"TOTP secrets that were stored in clear, now sealed: {done}")


@user_app.command("code")
def user_code(
    secret: Annotated[str, typer.Argument(help="The TOTP secret `user add` printed.")],
) -> None:
    """The code an authenticator app would show now for a TOTP secret (for the demo and a
    first log-on on a machine without one; keep real secrets in an authenticator app)."""
    import base64
    import binascii
    import time

    from hotline.service.accounts import totp_code

    try:
        base64.b32decode(secret.strip().upper(), casefold=True)
    except (binascii.Error, ValueError):
        raise _usage("that is not a TOTP secret (base32 letters and digits)") from None
    out.print(totp_code(secret.strip().upper(), time.time()))


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


def main() -> None:
    """Entry point: our own errors become a message and exit status 1, never a traceback."""
    try:
        app()
    except ConfigError as e:
        for p in e.problems:
            err.print(f"[red]error[/red] {_escape(p)}")
        sys.exit(1)
    except SettingsInvalid as e:  # a configuration mistake: like a usage error, exit 2
        for line in e.message.splitlines():
            err.print(f"[red]error[/red] {escape(line)}")
        sys.exit(2)
    except HotlineError as e:
        err.print(f"[red]error[/red] {escape(e.message)}")
        sys.exit(1)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as e:
        if os.environ.get("HOTLINE_DEBUG"):
            raise
        err.print(
            f"[red]internal error[/red] {type(e).__name__}: {escape(str(e))}\n"
            "This is a bug in Hotline; rerun with HOTLINE_DEBUG=1 for the traceback and "
            "report it."
        )
        sys.exit(70)


def _escape(p: Problem) -> str:
    return escape(str(p))
