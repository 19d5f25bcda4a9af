"""The SQL connector on real databases (an SQLite file, the machine's PostgreSQL): fixed
SELECTs with bound parameters, one row found, none not found, two an error, no writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from hotline.errors import HotlineError
from hotline.records.port import LookupRequest
from hotline.records.sql import SqlConnector, SqlOperation, SqlSettings
from hotline.store.db import connect

from ...live_fixtures import pg_url  # noqa: F401 - the fixture
from ..http.test_http_connector import INJECTIONS

FIXTURES = Path(__file__).parent / "fixtures"
COLUMNS = (
    "case_id", "status", "case_type", "assigned_worker", "worker_phone", "last_contact_date",
    "next_review_date", "safety_plan_in_place", "open_referrals", "court_order_in_force",
    "notes_summary",
)  # fmt: skip
BY_ID = f"SELECT {', '.join(COLUMNS)} FROM cases WHERE case_id = :case_id"


def create_cases(engine: Engine, date_type: str, bool_type: str) -> None:
    rows = json.loads((FIXTURES / "cases.json").read_text())
    with engine.begin() as c:
        c.execute(text(
            f"CREATE TABLE cases (case_id TEXT NOT NULL, status TEXT, case_type TEXT, "
            f"assigned_worker TEXT, worker_phone TEXT, last_contact_date {date_type}, "
            f"next_review_date {date_type}, safety_plan_in_place {bool_type}, "
            f"open_referrals INTEGER, court_order_in_force {bool_type}, notes_summary TEXT)"
        ))  # fmt: skip
        marks = ", ".join(f":{k}" for k in COLUMNS)
        c.execute(text(f"INSERT INTO cases ({', '.join(COLUMNS)}) VALUES ({marks})"), rows)
    engine.dispose()


def settings(**ops: Any) -> SqlSettings:
    return SqlSettings.model_validate({
        "kind": "sql", "url_env": "CASES_DB_URL", "statement_timeout": 0.3,
        "operations": {"case": {"sql": BY_ID, "params": ["case_id"]}, **ops},
    })  # fmt: skip


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    # SQLite keeps booleans as 0/1 and dates as text: the connector answers what it holds
    create_cases(create_engine(url), "TEXT", "BOOLEAN")
    return url


@pytest.fixture
def postgres_url(pg_url: str) -> str:  # noqa: F811 - the fixture
    engine = connect(pg_url)
    create_cases(engine, "DATE", "BOOLEAN")
    return pg_url


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def case(case_id: str, operation: str = "case") -> LookupRequest:
    return LookupRequest(operation, {"case_id": case_id}, "agent-17", "safeguarding", "CA1")


def expected_found() -> dict[str, str]:
    return dict(json.loads((FIXTURES / "case_found.json").read_text()))


def test_one_row_is_found_with_its_columns_as_fields(database):
    c = SqlConnector(settings=settings(), url=database)
    result = c.lookup(case("HC-104233"))
    assert result.status == "found"
    found = dict(result.data)
    if database.startswith("sqlite"):  # (SQLite's booleans are 0/1)
        found.update(safety_plan_in_place="true", court_order_in_force="false")
    assert found == expected_found()
    c.close()


def test_a_null_column_is_left_out(database):
    result = SqlConnector(settings=settings(), url=database).lookup(case("HC-200871"))
    assert "worker_phone" not in result.data
    assert result.data["status"] == "closed"


def test_no_row_is_not_found_and_two_rows_an_error(database):
    c = SqlConnector(settings=settings(), url=database)
    assert c.lookup(case("HC-999999")).status == "not_found"
    two = c.lookup(case("HC-DUPLICATE"))
    assert (two.status, two.data["reason"]) == ("error", "more than one record answers the "
                                                "look-up")  # fmt: skip


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_attempt_is_a_value_compared_with_the_column(database, value):
    c = SqlConnector(settings=settings(), url=database)
    result = c.lookup(case(value))
    if value == "' OR 1=1 --":  # a case whose reference is that very text
        assert result.data["case_type"] == "test_only"
    elif "\x00" in value:  # no text column can hold it (PostgreSQL's cannot)
        assert result.data["reason"] == "the parameter 'case_id' holds a NUL character"
    else:
        assert result.status == "not_found"
    with c.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 5


def test_the_connection_cannot_write(database):
    c = SqlConnector(settings=settings(), url=database)
    for sql in ("DELETE FROM cases", "UPDATE cases SET status = 'x'",
                "CREATE TABLE stolen (x TEXT)"):  # fmt: skip
        with c.engine.connect() as conn, pytest.raises(DBAPIError) as refused:
            conn.exec_driver_sql(sql)
        assert "read" in str(refused.value.orig).lower()  # read-only, readonly
    assert c.lookup(case("HC-104233")).status == "found"


def test_a_statement_past_its_timeout_is_stopped_on_postgresql(postgres_url):
    slow = {"sql": "SELECT case_id FROM cases, pg_sleep(30) WHERE case_id = :case_id",
            "params": ["case_id"]}  # fmt: skip
    c = SqlConnector(settings=settings(slow=slow), url=postgres_url)
    result = c.lookup(case("HC-104233", "slow"))
    assert (result.status, result.data["reason"]) == ("error", "the query took longer than "
                                                      "0.3 s")  # fmt: skip


def test_a_statement_past_its_timeout_is_stopped_on_sqlite(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:  # a billion rows to count: far longer than 0.3 s
        conn.exec_driver_sql("CREATE TABLE n (i INTEGER)")
        conn.exec_driver_sql("INSERT INTO n VALUES " + ", ".join(f"({i})" for i in range(1000)))
    engine.dispose()
    slow = {"sql": "SELECT count(*) AS n FROM n a, n b, n c WHERE a.i <> :case_id",
            "params": ["case_id"]}  # fmt: skip
    result = SqlConnector(settings=settings(slow=slow), url=sqlite_url).lookup(
        case("HC-1", "slow"))  # fmt: skip
    assert (result.status, result.data["reason"]) == ("error", "the query took longer than "
                                                      "0.3 s")  # fmt: skip


REFUSED = {
    "DELETE FROM cases WHERE case_id = :case_id": "is not a SELECT",
    "SELECT * FROM cases WHERE case_id = :case_id; DROP TABLE cases": "has a ;",
    "SELECT * FROM cases WHERE case_id = :case_id;": "has a ;",
    "SELECT * FROM cases WHERE case_id = :case_id -- x": "has a comment",
    "SELECT * FROM cases WHERE case_id = :case_id FOR UPDATE": "uses FOR, UPDATE",
    "SELECT * INTO copied FROM cases WHERE case_id = :case_id": "uses INTO",
    "WITH d AS (DELETE FROM cases RETURNING *) SELECT * FROM d": "is not a SELECT",
    "SELECT * FROM cases WHERE case_id = :case_id AND status = :status": "uses :status but",
    "SELECT $$x$$ FROM cases WHERE case_id = :case_id": "has a $",
    "SELECT * FROM cases": "declares :case_id but does not use it",
}


@pytest.mark.parametrize(("sql", "why"), REFUSED.items())
def test_a_statement_that_is_not_one_plain_select_is_refused_at_load(sql, why):
    with pytest.raises(ValidationError) as refused:
        SqlOperation(sql=sql, params=["case_id"])
    assert f"the statement {why}" in str(refused.value)


def test_a_select_with_quoted_words_is_accepted():
    op = SqlOperation(sql="SELECT 'update; --' AS note, case_id FROM cases WHERE case_id = "
                      ":case_id", params=["case_id"])  # fmt: skip
    assert op.params == ["case_id"]


def test_an_unknown_operation_or_a_missing_parameter_is_an_error(sqlite_url):
    c = SqlConnector(settings=settings(), url=sqlite_url)
    assert c.lookup(LookupRequest("find_person", {}, "a", "p", "CA1")).data["reason"] == (
        "unknown operation 'find_person'"
    )
    assert c.lookup(LookupRequest("case", {}, "a", "p", "CA1")).data["reason"] == (
        "the look-up lacks the parameter 'case_id'"
    )


def test_a_wrong_url_names_the_variable_never_the_url(tmp_path):
    for url, why in (
        ("hunter2 is no URL", "is not a database URL"),
        (f"sqlite:///{tmp_path / 'absent.sqlite3'}", "does not exist"),
        ("mysql://user:hunter2@host/db", "does not support"),
    ):
        with pytest.raises(HotlineError) as refused:
            SqlConnector(settings=settings(), url=url)
        assert refused.value.message.startswith("CASES_DB_URL ")
        assert why in refused.value.message
        assert "hunter2" not in refused.value.message
