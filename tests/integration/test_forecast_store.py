"""`hotline forecast --line`: a forecast from the calls of a line in the store, on SQLite and
PostgreSQL, the same as from the same calls written as CSV; and `hotline plan --forecast`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.domain.events import CallArrived
from hotline.service.lines import import_line
from hotline.service.unit_of_work import AddCall
from hotline.sim.driver import Simulation
from hotline.sim.scenario_file import parse_scenario
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.switchboard.records import CallRow

from ..unit.sim.test_scenario_file import GOOD
from .live_fixtures import ROOT, keyring, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)
from .test_cli import run

LINE = "National hotline (US)"  # the line scenarios/national-hotline.yaml imports
ZONE = ZoneInfo("America/New_York")  # its time zone
START = datetime(2026, 1, 5, tzinfo=ZONE)  # a Monday, midnight on the line's clock
DAYS = 22  # two weeks to fit, one to test, and a day
PER_DAY = 480  # 70 % English, 30 % Spanish


def simulated_calls() -> list[CallArrived]:
    s = parse_scenario(GOOD.replace("calls_per_day: 240", f"calls_per_day: {PER_DAY}"))
    arrived: list[CallArrived] = []

    def keep(ev: object) -> None:
        if type(ev) is CallArrived:
            arrived.append(ev)

    Simulation(scenario=replace(s, hours=DAYS * 24, seed=11), trace=keep).run()
    return arrived


@pytest.fixture(scope="module")
def calls() -> list[CallArrived]:
    return simulated_calls()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store(url: str, calls: list[CallArrived]) -> Iterator[Store]:
    """The national line, with the simulated calls stored through the unit of work."""
    engine = connect(url)
    migrate(engine)
    s = Store(engine=engine, key=keyring())
    assert import_line(s, ROOT / "scenarios" / "national-hotline.yaml").name == LINE
    base = START.timestamp()
    s.commit(
        [
            AddCall(CallRow(f"CA{i:06d}", LINE, "+12025550143", "+18005550100", ev.language,
                            ev.language, 0, "completed", {}, None, base + ev.at), base + ev.at)
            for i, ev in enumerate(calls)
        ]
    )  # fmt: skip
    yield s
    engine.dispose()


def test_a_forecast_from_the_store_is_the_forecast_from_the_same_calls_as_csv(
    store, url, calls, tmp_path
):
    p = run("forecast", "--line", LINE, "--database", url, "--out", str(tmp_path / "f.csv"),
            "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert sorted(r["series"]) == ["all", "en", "es"]
    assert r["history_start"] == "2026-01-05T00:00:00"  # midnight in New York, not UTC
    assert r["history_hours"] == DAYS * 24
    # a week of 3,360 calls, 70 % English: one week's count has a standard deviation of
    # about 1.2 % and the level is estimated from three weeks, so 5 % is over 4 of them
    assert r["series"]["all"]["forecast_calls"] == pytest.approx(PER_DAY * 7, rel=0.05)
    assert r["series"]["en"]["forecast_calls"] == pytest.approx(PER_DAY * 7 * 0.7, rel=0.05)
    # the same calls written as call records (local time): the very same forecast
    history = tmp_path / "calls.csv"
    history.write_text(
        "timestamp,language\n"
        + "".join(
            f"{datetime.fromtimestamp(START.timestamp() + ev.at, ZONE):%Y-%m-%dT%H:%M:%S},"
            f"{ev.language}\n"
            for ev in calls
        )
    )
    q = run("forecast", "--history", str(history), "--json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["series"] == r["series"]


def test_a_line_without_calls_is_named_with_the_lines_that_have_some(store, url):
    p = run("forecast", "--line", "Victim support", "--database", url)
    assert p.returncode == 1
    message = " ".join(p.stderr.split())
    assert "has no calls for line 'Victim support'" in message
    assert f"lines with calls: '{LINE}' (" in message
    assert "Traceback" not in p.stderr


def test_an_empty_store_and_a_missing_one_are_clear_errors(tmp_path):
    url = sqlite_url(tmp_path)
    migrate(connect(url))
    p = run("forecast", "--line", LINE, "--database", url)
    assert p.returncode == 1
    assert "has no calls for line 'National hotline (US)'; it holds no calls at all" in " ".join(
        p.stderr.split()
    )
    missing = run("forecast", "--line", LINE, "--database", f"sqlite:///{tmp_path / 'no.db'}")
    assert missing.returncode == 1
    assert "no database at" in missing.stderr
    both = run("forecast", "--line", LINE, "--history", "h.csv")
    assert both.returncode == 1
    assert "give the history as --history FILE or --line NAME" in both.stderr


def test_a_horizon_past_the_history_is_a_warning_not_an_error(store, url):
    p = run("forecast", "--line", LINE, "--database", url, "--horizon-days", "30", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert len(r["series"]["all"]["forecast_per_hour"]) == 30 * 24
    warning = " ".join(p.stderr.split())
    assert "the forecast runs 30 days ahead from 22.0 days of history" in warning
    assert r["warnings"][-1].startswith("the forecast runs 30 days ahead")
    within = run("forecast", "--line", LINE, "--database", url, "--horizon-days", "22")
    assert within.returncode == 0
    assert "warning" not in within.stderr


def test_a_plan_from_the_stores_forecast(store, url, tmp_path):
    forecast = tmp_path / "f.csv"
    p = run("forecast", "--line", LINE, "--database", url, "--out", str(forecast))
    assert p.returncode == 0, p.stderr
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(GOOD)  # 240 calls a day; the forecast says about 480
    from_profile = run("plan", "--scenario", str(scenario), "--no-simulate", "--json")
    planned = run("plan", "--scenario", str(scenario), "--forecast", str(forecast),
                  "--model", "erlang-a", "--json")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    r, base = json.loads(planned.stdout), json.loads(from_profile.stdout)
    rows = list(csv_rows(forecast))
    week = {"en": 0.0, "es": 0.0}  # the forecast's first 168 hours, by language
    for stamp, calls, language in rows:
        if language in week and datetime.fromisoformat(stamp) < datetime(2026, 2, 3):
            week[language] += float(calls)
    by_pool = {row["pool"]: row["calls"] for row in r["pools"]}
    assert by_pool == pytest.approx(week, abs=0.1)
    assert r["total"]["paid_hours"] > base["total"]["paid_hours"]  # twice the calls
    # replayed at the forecast's volume, the plan holds in the simulator
    assert r["total"]["simulated_service_level"] >= 0.8


def csv_rows(path: Path) -> Iterator[tuple[str, str, str]]:
    for line in path.read_text().splitlines()[1:]:
        stamp, calls, language = line.split(",")
        yield stamp, calls, language
