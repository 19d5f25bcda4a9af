"""connectors.yaml: validated with file:line messages, secrets named and never shown, and
wired into the settings (HOTLINE_CONNECTORS_FILE) beside the in-memory files."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hotline.errors import ConfigError, HotlineError
from hotline.ivr.interpreter import Lookup
from hotline.records.config import load_connectors, load_record_sources
from hotline.records.desk import RecordSource
from hotline.records.http import HttpConnector
from hotline.records.port import LookupRequest
from hotline.records.sql import SqlConnector
from hotline.service.bootstrap import build_line, connectors_for
from hotline.service.settings import Settings
from hotline.testing.connectors import InMemoryConnector

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "scenarios" / "connectors.example.yaml"


def archive(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE archived_cases (case_id TEXT, status TEXT, case_type TEXT, "
                       "assigned_worker TEXT, last_contact_date TEXT)"))  # fmt: skip
        c.execute(text("INSERT INTO archived_cases VALUES ('HC-1', 'closed', 'elder_care', "
                       "'Demo Worker 01', '2024-02-02')"))  # fmt: skip
    engine.dispose()
    return url


def example_here(tmp_path: Path, without_tls: bool = True) -> Path:
    """The shipped example beside a copy of the agency directory, its TLS files left out
    (they name /etc/hotline)."""
    shutil.copy(ROOT / "scenarios" / "demo-agency-directory.yaml", tmp_path)
    text_ = EXAMPLE.read_text()
    if without_tls:
        start = text_.index("    tls:\n")
        end = text_.index("    connect_timeout:")
        text_ = text_[:start] + text_[end:]
    path = tmp_path / "connectors.yaml"
    path.write_text(text_)
    return path


def test_the_shipped_example_builds_each_kind(tmp_path):
    env = {"CASE_RECORDS_TOKEN": "t", "CASE_ARCHIVE_DB_URL": archive(tmp_path)}
    built = load_connectors(example_here(tmp_path), env)
    assert isinstance(built["agency_directory"], InMemoryConnector)
    assert isinstance(built["case_records"], HttpConnector)
    assert isinstance(built["case_archive"], SqlConnector)
    verify = LookupRequest("verify", {"agency_id": "123455", "pin": "2468"})
    assert built["agency_directory"].lookup(verify).status == "found"
    assert (
        built["case_archive"].lookup(LookupRequest("case", {"case_id": "HC-1"})).data["status"]
        == "closed"
    )


def test_an_unset_variable_is_named_with_its_line_never_a_value(tmp_path):
    path = example_here(tmp_path, without_tls=False)
    with pytest.raises(ConfigError) as refused:
        load_connectors(path, {"CASE_RECORDS_TOKEN": "s3cret-token-value"})
    lines = path.read_text().splitlines()
    shown = [str(p) for p in refused.value.problems]
    assert len(shown) == 2
    for problem, var in zip(shown, ("CASE_RECORDS_KEY_PASSWORD", "CASE_ARCHIVE_DB_URL"),
                            strict=True):  # fmt: skip
        line = next(i for i, t in enumerate(lines, 1) if var in t)
        assert problem.startswith(f"{path}:{line}:")
        assert f"the environment variable {var} is not set" in problem
    assert "s3cret" not in refused.value.message


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(body)
    return path


def test_an_unknown_setting_and_a_non_select_are_refused_with_their_lines(tmp_path):
    path = write(
        tmp_path,
        """connectors:
  archive:
    kind: sql
    url_env: ARCHIVE_DB_URL
    operations:
      wipe: {sql: "DELETE FROM cases WHERE case_id = :case_id", params: [case_id]}
  records:
    kind: http
    base_url: https://records.example.org
    timeout: 3
    operations:
      case: {path: "/cases/{case_id}", fields: {case_id: {type: string}}}
""",
    )
    with pytest.raises(ConfigError) as refused:
        load_connectors(path, {})
    shown = sorted(str(p) for p in refused.value.problems)
    assert shown == [
        f"{path}:10:5: connectors.records.timeout: is not a known setting (check the spelling)",
        f"{path}:6:7: connectors.archive.operations.wipe: the statement is not a SELECT",
    ]


def test_a_url_with_a_password_is_refused_without_showing_it(tmp_path):
    path = write(
        tmp_path,
        """connectors:
  records:
    kind: http
    base_url: https://user:hunter2@records.example.org
    operations:
      case: {path: "/cases/{case_id}", fields: {case_id: {type: string}}}
""",
    )
    with pytest.raises(ConfigError) as refused:
        load_connectors(path, {})
    assert "must not carry a user or password" in refused.value.message
    assert "hunter2" not in refused.value.message
    assert refused.value.problems[0].line == 4


def test_plain_http_is_for_this_machine_only(tmp_path):
    path = write(
        tmp_path,
        """connectors:
  records:
    kind: http
    base_url: http://records.example.org
    operations:
      case: {path: "/cases/{case_id}", fields: {case_id: {type: string}}}
""",
    )
    with pytest.raises(ConfigError) as refused:
        load_connectors(path, {})
    assert "uses plain http to a host that is not this machine" in refused.value.message


def test_an_unknown_kind_is_refused(tmp_path):
    path = write(tmp_path, "connectors:\n  people:\n    kind: people_search\n")
    with pytest.raises(ConfigError) as refused:
        load_connectors(path, {})
    assert str(refused.value.problems[0]) == (
        f"{path}:2:3: connectors.people: Input tag 'people_search' found using 'kind' does not "
        "match any of the expected tags: 'http', 'sql', 'memory'"
    )


def test_the_settings_take_both_ways_and_refuse_a_name_in_both(tmp_path, monkeypatch):
    directory = ROOT / "scenarios" / "demo-agency-directory.yaml"
    monkeypatch.setenv("CASE_RECORDS_TOKEN", "t")
    monkeypatch.setenv("CASE_ARCHIVE_DB_URL", archive(tmp_path))
    file = example_here(tmp_path)
    both = connectors_for(Settings(connectors={"more": directory}, connectors_file=file))
    assert sorted(both) == ["agency_directory", "case_archive", "case_records", "more"]
    with pytest.raises(HotlineError) as refused:
        connectors_for(Settings(connectors={"agency_directory": directory},
                                connectors_file=file))  # fmt: skip
    assert refused.value.message == (
        f"the connector 'agency_directory' is named by HOTLINE_CONNECTORS and in {file}: keep one"
    )


def test_the_records_section_says_where_each_record_type_is_looked_up(tmp_path):
    path = example_here(tmp_path)
    assert load_record_sources(path) == {
        "case": RecordSource(record_type="case", connector="case_records", operation="case",
                             key="case_id")}  # fmt: skip
    text_ = path.read_text()
    line = text_.splitlines().index("records:") + 2
    path.write_text(text_.replace("{connector: case_records, operation: case,",
                                  "{connector: case_record, operation: cases,"))  # fmt: skip
    with pytest.raises(ConfigError) as e:
        load_record_sources(path)
    [problem] = e.value.problems
    assert (problem.line, problem.message) == (
        line, "records.case.connector: no connector 'case_record' in this file")  # fmt: skip
    assert problem.hint == "one of agency_directory, case_archive, case_records"
    path.write_text(text_.replace("operation: case,", "operation: cases,"))
    with pytest.raises(ConfigError, match="connector 'case_records' has no operation 'cases'"):
        load_record_sources(path)


def test_a_connector_of_the_desks_records_is_not_the_ivrs(tmp_path, caplog):
    """A connector `records:` names serves the agents' look-ups, under the disclosure
    policy: the line's IVR has the others, not it, so no flow can read its records out
    to a caller (a look-up in it is answered as unavailable, and logged)."""
    directory = ROOT / "scenarios" / "demo-agency-directory.yaml"
    (tmp_path / "cases.yaml").write_text(
        "operations:\n  case:\n    - match: {case_id: HC-1}\n      data: {status: open}\n"
    )
    file = tmp_path / "connectors.yaml"
    file.write_text(
        f"connectors:\n"
        f"  agency_directory: {{kind: memory, file: {directory}}}\n"
        f"  case_records: {{kind: memory, file: cases.yaml}}\n"
        f"records:\n"
        f"  case: {{connector: case_records, operation: case, key: case_id}}\n"
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", connectors_file=file)
    lookups = build_line(settings).line.lookups
    lookups.start(1, "CA" + "1" * 32, Lookup("case_records", "case", {"case_id": "HC-1"}))
    lookups.start(2, "CA" + "2" * 32, Lookup("agency_directory", "registered_number",
                                             {"number": "+12025550999"}))  # fmt: skip
    answers: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while len(answers) < 2 and time.monotonic() < deadline:  # (the directory's, in a thread)
        answers |= {a.ticket: a.result.status for a in lookups.answers()}
        time.sleep(0.01)
    assert answers == {1: "error", 2: "found"}
    assert "a look-up in 'case_records', which this line's IVR has not" in caplog.text


def test_a_line_whose_flow_declares_a_connector_of_the_desks_starts_and_says_so(tmp_path, caplog):
    """(Not refused: one line's flow must not keep the others from starting.) Its look-ups
    there are answered as unavailable, the IVR not having the connector."""
    directory = ROOT / "scenarios" / "demo-agency-directory.yaml"
    file = tmp_path / "connectors.yaml"
    file.write_text(
        f"connectors:\n  agency_directory: {{kind: memory, file: {directory}}}\n"
        f"records:\n  agency: {{connector: agency_directory, operation: verify, key: agency_id}}\n"
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", connectors_file=file)
    lookups = build_line(settings).line.lookups
    assert "declares agency_directory, which serve the agents' record look-ups" in caplog.text
    lookups.start(1, "CA" + "1" * 32, Lookup("agency_directory", "registered_number",
                                             {"number": "+12025550999"}))  # fmt: skip
    assert [a.result.status for a in lookups.answers()] == ["error"]
