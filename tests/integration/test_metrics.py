"""/metrics in the Prometheus text format: carrier webhooks by route and status, calls
ended by outcome, callers waiting and agents by state; behind a bearer token, off without."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .live_fixtures import LINE, Live, call_form, queue_public_caller, sqlite_url

TOKEN = "metrics-token-for-tests"
NAME = "National hotline (US)"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_metrics_say_what_the_line_did_and_what_waits_now(tmp_path: Path) -> None:
    live = Live(sqlite_url(tmp_path), metrics_token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    queue_public_caller(live, "CA" + "1" * 32, "+12025550143")
    queue_public_caller(live, "CA" + "2" * 32, "+12025550144")
    live.carrier.post("/voice/status", call_form("CA" + "2" * 32, CallStatus="completed"))
    live.carrier.post("/voice/incoming", {"CallSid": "CA" + "3" * 32})  # unsigned: refused
    r = live.http.get("/metrics", headers=bearer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(r.text)
    assert (
        got[
            (
                "hotline_webhooks_total",
                (("group", NAME), ("route", "/voice/incoming"), ("status", "200")),
            )
        ]
        == 2
    )
    assert (
        got[
            (
                "hotline_webhooks_total",
                (("group", NAME), ("route", "/voice/gather"), ("status", "200")),
            )
        ]
        == 6
    )
    assert (
        got[
            (
                "hotline_webhooks_total",
                (("group", NAME), ("route", "/voice/status"), ("status", "200")),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "hotline_webhook_duration_seconds_count",
                (
                    ("group", NAME),
                    ("route", "/voice/gather"),
                ),
            )
        ]
        == 6
    )
    assert got[("hotline_calls_ended_total", (("line", NAME), ("outcome", "abandoned")))] == 1
    assert got[("hotline_callers_waiting", (("line", NAME), ("queue", "en")))] == 1
    assert not any(name == "hotline_lease_epoch" for name, _ in got)  # one node alone
    assert LINE not in r.text  # (the line is named, not numbered)


def test_metrics_need_the_token_and_are_off_without_one(tmp_path: Path) -> None:
    live = Live(sqlite_url(tmp_path), metrics_token=TOKEN)
    assert live.http.get("/metrics").status_code == 401
    wrong = live.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["error_id"]) == (401, "bad-token")
    (tmp_path / "other").mkdir()
    off = Live(sqlite_url(tmp_path / "other"), metrics_token=None)
    r = off.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (r.status_code, r.json()["error_id"]) == (404, "metrics-off")
