"""A demo record system: SYNTHETIC case records (made up from a seed; no person, address or
place in them) served over HTTP by case id, and the HTTP connector settings that reach it.
`hotline demo` starts it on 127.0.0.1 as the `case_records` connector's system."""

from __future__ import annotations

import hmac
import random
from datetime import date, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hotline.records.http import HttpSettings

STATUSES = ("open", "open", "open", "under_review", "closed")
CASE_TYPES = ("child_protection", "domestic_abuse_support", "elder_care", "youth_justice",
              "family_support", "disability_support")  # fmt: skip
NOTES = (
    "Weekly check-ins agreed; school liaison informed.",
    "Support plan reviewed with the family; next review booked.",
    "Referral to counselling accepted; waiting list of four weeks.",
    "Contact by phone only, as agreed at the last review.",
    "Interpreter needed for meetings; booked for the next review.",
    "No concerns raised at the last visit; plan continues.",
)
EPOCH = date(2025, 1, 1)

CASE_FIELDS: dict[str, dict[str, Any]] = {
    "case_id": {"type": "string"},
    "status": {"type": "string"},
    "case_type": {"type": "string"},
    "assigned_worker": {"type": "string"},
    "worker_phone": {"type": "string"},
    "last_contact_date": {"type": "date"},
    "next_review_date": {"type": "date", "required": False},
    "safety_plan_in_place": {"type": "boolean"},
    "open_referrals": {"type": "integer"},
    "court_order_in_force": {"type": "boolean"},
    "notes_summary": {"type": "string"},
}


def synthetic_cases(seed: int, count: int = 200) -> dict[str, dict[str, Any]]:
    """`count` made-up case records by case id, the same for the same seed."""
    rng = random.Random(seed)
    ids = rng.sample(range(100_000, 1_000_000), count)
    out: dict[str, dict[str, Any]] = {}
    for n in ids:
        status = rng.choice(STATUSES)
        worker = rng.randrange(1, 40)
        last = EPOCH + timedelta(days=rng.randrange(0, 180))
        out[f"HC-{n}"] = {
            "case_id": f"HC-{n}",
            "status": status,
            "case_type": rng.choice(CASE_TYPES),
            "assigned_worker": f"Demo Worker {worker:02d}",
            "worker_phone": f"+1202555{100 + worker:04d}",  # 555-01xx: fictional numbers
            "last_contact_date": last.isoformat(),
            "next_review_date": None if status == "closed"
            else (last + timedelta(days=rng.choice((14, 28, 42)))).isoformat(),
            "safety_plan_in_place": rng.random() < 0.6,
            "open_referrals": 0 if status == "closed" else rng.randrange(0, 4),
            "court_order_in_force": rng.random() < 0.2,
            "notes_summary": rng.choice(NOTES),
        }  # fmt: skip
    return out


def case_records_app(*, cases: dict[str, dict[str, Any]], token: str) -> Starlette:
    """GET /cases/{case_id} with `Authorization: Bearer <token>`: the record, or 404."""
    expected = f"Bearer {token}".encode()

    async def case(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        record = cases.get(request.path_params["case_id"])
        if record is None:
            return JSONResponse({"error": "no such case"}, status_code=404)
        return JSONResponse(record)

    return Starlette(routes=[Route("/cases/{case_id}", case)])


def case_records_settings(base_url: str) -> HttpSettings:
    """The `case_records` connector for the demo service at `base_url` (loopback http)."""
    return HttpSettings.model_validate({
        "kind": "http",
        "description": "Demo case records (synthetic)",
        "base_url": base_url,
        "token_env": "HOTLINE_DEMO_RECORDS_TOKEN",
        "operations": {"case": {"path": "/cases/{case_id}", "fields": CASE_FIELDS}},
    })  # fmt: skip
