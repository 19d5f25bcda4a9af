"""The demo's record system: synthetic case records from a seed, served on 127.0.0.1 by
uvicorn, reached through the `case_records` HTTP connector the demo configures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from hotline.records.http import HttpConnector, HttpSecrets
from hotline.records.port import LookupRequest
from hotline.service.demo import free_ports
from hotline.testing.case_records import (
    CASE_FIELDS,
    case_records_app,
    case_records_settings,
    synthetic_cases,
)

TOKEN = "demo-records-token-for-the-test"


def test_the_records_are_the_same_for_a_seed_and_hold_only_case_fields():
    one, again, other = synthetic_cases(4), synthetic_cases(4), synthetic_cases(5)
    assert one == again
    assert one != other
    assert len(one) == 200
    for case_id, record in one.items():
        assert set(record) == set(CASE_FIELDS)  # no address, location or person's details
        assert record["case_id"] == case_id
        assert record["worker_phone"].startswith("+1202555")


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    [port] = free_ports(1)
    app = case_records_app(cases=synthetic_cases(4), token=TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="critical"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.01):  # until uvicorn listens (or gave up)
        if server.started or not thread.is_alive():
            started.set()
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def ask(url: str, case_id: str, token: str = TOKEN) -> tuple[str, dict[str, str]]:
    c = HttpConnector(settings=case_records_settings(url), secrets=HttpSecrets(token=token))
    result = c.lookup(LookupRequest("case", {"case_id": case_id}, "agent-3", "review", "CA1"))
    c.close()
    return result.status, dict(result.data)


def test_a_case_is_found_through_the_demo_connector(service):
    case_id, record = next(iter(synthetic_cases(4).items()))
    status, data = ask(service, case_id)
    assert status == "found"
    assert data["case_id"] == case_id
    assert data["open_referrals"] == str(record["open_referrals"])
    assert data["safety_plan_in_place"] == ("true" if record["safety_plan_in_place"] else "false")


def test_an_unknown_case_is_not_found_and_a_wrong_token_refused(service):
    assert ask(service, "HC-000000") == ("not_found", {})
    assert ask(service, next(iter(synthetic_cases(4))), token="wrong") == (
        "error",
        {"reason": "the record system refused the look-up (HTTP 401)"},
    )


def test_hotline_demo_serves_the_records_its_case_records_connector_reaches(tmp_path):
    from hotline.service.demo import Demo

    async def run() -> tuple[str, str]:
        d = Demo(database_url=f"sqlite:///{tmp_path / 'demo.sqlite3'}", seed=9, max_agents=0)
        await d.start()
        try:
            case_id = next(iter(synthetic_cases(9)))
            found = await asyncio.to_thread(d.case_records.lookup, LookupRequest(
                "case", {"case_id": case_id}, "agent-3", "review", "CA1"))  # fmt: skip
            return found.status, found.data.get("case_id", "")
        finally:
            await d.finish(drain_seconds=1)

    status, case_id = asyncio.run(run())
    assert status == "found"
    assert case_id == next(iter(synthetic_cases(9)))
