"""Lines in the store, on SQLite and on the machine's PostgreSQL: a scenario's line goes in
and comes back out unchanged; bad files are refused whole, naming file:line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from hotline.errors import ConfigError, HotlineError
from hotline.records.audit import os_actor, rows
from hotline.service.bootstrap import ensure_line
from hotline.service.lines import export_line, import_line, load_line
from hotline.service.settings import Settings
from hotline.service.unit_of_work import AddCall
from hotline.sim.scenario_file import load_scenario
from hotline.store.db import connect, migrate
from hotline.store.repository import Store
from hotline.store.tables import agent_skills
from hotline.switchboard.records import CallRow

from .live_fixtures import keyring, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)
from .test_cli import ROOT
from .test_serve_hardening import hotline

NATIONAL = ROOT / "scenarios" / "national-hotline.yaml"
NAME = "National hotline (US)"
FLOW = ROOT / "scenarios" / "national-hotline.flow.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    migrate(engine)
    yield Store(engine=engine)
    engine.dispose()


def small_line(tmp_path: Path, text_changes: dict[str, str]) -> Path:
    """A copy of the national scenario with some text replaced (its flow path kept)."""
    text = NATIONAL.read_text(encoding="utf-8")
    text = text.replace("flow: national-hotline.flow.yaml", f"flow: {NATIONAL.parent}/"
                        "national-hotline.flow.yaml")  # fmt: skip
    for old, new in text_changes.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "line.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_line_comes_back_from_the_store_as_it_went_in(store):
    done = import_line(store, NATIONAL)
    assert (done.name, done.number, done.flow) == (NAME, "+18005550100", ("national-hotline", 2))
    assert done.agents == sum(g.count for g in load_scenario(NATIONAL).agent_groups)
    # the same scenario, but for where its flow file is (the store holds the version)
    assert replace(load_line(store, NAME), line=None) == replace(load_scenario(NATIONAL), line=None)
    assert store.lines() == [{"name": NAME, "number": "+18005550100",
                              "timezone": "America/New_York", "flow": "national-hotline",
                              "flow_version": 2, "flow_path": str(FLOW),
                              "mode": "normal"}]  # fmt: skip


def test_an_exported_line_imports_to_the_same_line(store, tmp_path):
    import_line(store, NATIONAL)
    first = export_line(store, NAME)
    path = tmp_path / "exported.yaml"
    path.write_text(first, encoding="utf-8")
    again = import_line(store, path)
    assert again.flow == ("national-hotline", 2)  # the export names its flow file
    assert export_line(store, NAME) == first
    without_flow = tmp_path / "no-flow.yaml"
    without_flow.write_text(first.replace(f"flow: {FLOW}", "").replace(", }", "}"))
    assert import_line(store, without_flow).flow is None  # none named: the line keeps its own
    assert store.lines()[0]["flow_version"] == 2
    assert export_line(store, NAME) == first


def test_a_change_made_in_the_store_is_in_the_next_load(store):
    import_line(store, NATIONAL)
    with store.engine.begin() as c:
        skill = agent_skills.c
        c.execute(update(agent_skills).where(skill.agent_id == "es-day-3", skill.skill == "es")
                  .values(level=2))  # fmt: skip
    groups = {g.ids()[0]: g for g in load_line(store, NAME).agent_groups}
    # es-day-3 now differs from its team, so it is a group of its own (es-day-4 goes on)
    assert groups["es-day-3"].skills["es"] == 2
    assert groups["es-day-3"].count == 1
    assert groups["es-day-1"].count == 2
    assert groups["es-day-4"].skills["es"] == 5


def test_a_number_another_line_has_is_refused_at_its_line_in_the_file(store, tmp_path):
    import_line(store, NATIONAL)
    other = small_line(tmp_path, {"name: National hotline (US)": "name: Second line"})
    with pytest.raises(ConfigError) as e:
        import_line(store, other)
    (p,) = e.value.problems
    expected = next(i for i, t in enumerate(other.read_text().splitlines(), 1) if "line: {" in t)
    assert (p.file, p.line) == (str(other), expected)
    assert "+18005550100 is already the number of line 'National hotline (US)'" in p.message
    assert [line["name"] for line in store.lines()] == [NAME]


def test_an_agent_id_made_twice_is_refused(store, tmp_path):
    path = small_line(tmp_path, {"{name: en-early, ": "{name: en-night, "})
    with pytest.raises(ConfigError) as e:
        import_line(store, path)
    (p,) = e.value.problems
    assert "agent id 'en-night-1' is also made by agents[0]" in p.message
    lines = path.read_text().splitlines()
    assert p.line == [i for i, t in enumerate(lines, 1) if "{name: en-night," in t][1]
    assert store.lines() == []


def test_a_flow_with_problems_is_refused_and_the_active_version_stays(store, tmp_path):
    import_line(store, NATIONAL)
    bad_flow = tmp_path / "bad.flow.yaml"
    bad_flow.write_text("flow: national-hotline\nversion: 3\nstart: nowhere\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        import_line(store, NATIONAL, flow=bad_flow)
    assert all(p.file == str(bad_flow) for p in e.value.problems)
    assert store.lines()[0]["flow_version"] == 2


def test_the_migration_to_lines_keeps_the_calls(tmp_path):
    engine = connect(sqlite_url(tmp_path))
    assert migrate(engine, to="0001") == ["0001"]
    store = Store(engine=engine, key=keyring())
    row = CallRow("CA1", "national", "+1", "+1", "es", "es", 0, "queued", {}, None, 12.0)
    store.commit([AddCall(row, 12.0)])
    # lines, accounts, sealed secrets, modes, the audit trail
    assert migrate(engine) == [f"{n:04d}" for n in range(2, 13)]
    assert store.call("CA1") == row
    assert store.lines() == []
    engine.dispose()


def test_the_line_commands_as_a_user_runs_them(tmp_path):
    env = {"HOTLINE_DATABASE_URL": sqlite_url(tmp_path)}
    done = hotline("line", "import", str(NATIONAL), env=env)
    assert done.returncode == 0, done.stderr
    assert "line 'National hotline (US)' (+18005550100): 17 queues" in done.stderr
    listed = hotline("line", "list", env=env)
    assert "national-hotline v2" in listed.stdout
    exported = hotline("line", "export", NAME, env=env)
    assert exported.stdout.startswith("name: National hotline (US)\nline: {number: '+1800")
    with connect(sqlite_url(tmp_path)).connect() as c:  # each export is in the audit trail
        (entry,) = [r for r in rows(c) if r.action == "config.line.export"]
    assert (entry.actor, entry.object) == (os_actor(), f"line:{NAME}")
    bad = small_line(tmp_path, {"calls_per_day: 7000": "calls_per_day: -1",
                                "{name: en-early, ": "{name: en-night, "})  # fmt: skip
    refused = hotline("line", "import", str(bad), "--number", "+18005550199", env=env)
    assert refused.returncode == 1
    problems = [t for t in refused.stderr.splitlines() if t.startswith("error")]
    assert len(problems) == 2  # both at once
    assert all(f"{bad}:" in t for t in problems)
    assert "Traceback" not in refused.stderr
    missing = hotline("line", "export", "Nope", env=env)
    assert missing.returncode == 1
    assert "no line 'Nope' in the store (lines: National hotline (US))" in missing.stderr


def test_a_number_or_time_zone_given_on_the_command_line_is_checked_like_the_files(store):
    with pytest.raises(ConfigError) as e:
        import_line(store, NATIONAL, number="12345", timezone="Mars/Phobos")
    assert [p.message for p in e.value.problems] == [
        "--number '12345': a number in E.164 form, like \"+18005550100\"",
        "--timezone 'Mars/Phobos': an IANA time zone like Europe/Paris",
    ]
    assert store.lines() == []


def test_an_agent_shared_with_another_line_keeps_one_set_of_skills(store, tmp_path):
    import_line(store, NATIONAL)
    second = {"name: National hotline (US)": "name: Second line",
              'number: "+18005550100"': 'number: "+18005550200"'}  # fmt: skip
    es_day = "{name: es-day,   count: 6, skills: {es: 5, en: 4}"
    differs = small_line(tmp_path, {**second, es_day: es_day.replace("en: 4", "en: 1")})
    with pytest.raises(ConfigError) as e:
        import_line(store, differs)
    (p,) = e.value.problems
    assert p.message.startswith("agents.")
    assert (
        "agent es-day-1 also works on 'National hotline (US)' with skills {en: 4, es: 5}, "
        "not {en: 1, es: 5}"
    ) in p.message
    assert p.line == next(i for i, t in enumerate(differs.read_text().splitlines(), 1)
                          if "{name: es-day, " in t)  # fmt: skip
    assert [line["name"] for line in store.lines()] == [NAME]
    done = import_line(store, small_line(tmp_path, second))  # the same skills: shared
    assert "es-day-1" in done.shared
    assert store.agents_lines()["es-day-1"] == [NAME, "Second line"]


def test_serve_never_imports_over_a_line_whose_number_was_changed(store, tmp_path):
    import_line(store, NATIONAL)
    settings = Settings(database_url=sqlite_url(tmp_path), twilio_auth_token=SecretStr("x"),
                        public_url="http://127.0.0.1:1", line_number="+18005550111")  # fmt: skip
    with pytest.raises(HotlineError) as e:
        ensure_line(settings, store)
    assert "has the number +18005550100: set HOTLINE_LINE_NUMBER=+18005550100" in e.value.message
    assert store.lines()[0]["number"] == "+18005550100"
