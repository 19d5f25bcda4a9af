"""The no-store header and the webhooks' count for an answer the framework's last-resort
handler gives (a bug, 500), which passes outside the app's own middleware: the error body
says no-store itself, and the webhook timer counts the 500 as the exception passes it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from .live_fixtures import Live, sqlite_url
from .test_metrics import NAME, TOKEN, samples


async def _bug() -> None:
    raise RuntimeError("a bug in a handler")


def _live_with_a_bug(tmp_path: Path) -> tuple[Live, TestClient]:
    live = Live(sqlite_url(tmp_path), metrics_token=TOKEN)
    # (a route whose handler has a bug: the only way to reach the last-resort handler)
    live.app.add_api_route("/api/a-bug", _bug)
    live.app.add_api_route("/voice/a-bug", _bug, methods=["POST"])
    return live, live.client(raise_server_exceptions=False)


def test_a_500_from_a_bug_is_no_store_too(tmp_path: Path) -> None:
    """`NoStore`: "nothing the app answers may be kept by a browser or a proxy". The 500
    comes from the `Exception` handler `errors.install` registers, which Starlette runs in
    ServerErrorMiddleware, outside every middleware the app adds."""
    _, http = _live_with_a_bug(tmp_path)
    r = http.get("/api/a-bug")
    assert (r.status_code, r.json()["error_id"]) == (500, "internal-error")
    assert r.headers.get("cache-control") == "no-store"


def test_a_webhook_that_fails_with_a_500_is_counted(tmp_path: Path) -> None:
    """`TimeWebhooks`: each carrier webhook "counted by route and status". A webhook whose
    handler fails (the carrier then plays its fallback) is the one most worth counting;
    its 500 never passes the middleware, so /metrics shows nothing of it."""
    live, http = _live_with_a_bug(tmp_path)
    assert http.post("/voice/a-bug").status_code == 500
    got = samples(live.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    at = (("group", NAME), ("route", "/voice/a-bug"), ("status", "500"))
    assert got.get(("hotline_webhooks_total", at)) == 1
