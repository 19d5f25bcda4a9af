"""A running line takes its configuration from the store without a restart: a queue's
step, an agent's skills and a new flow version are used from the next routing decision;
calls in progress keep their flow version; a change that takes a restart is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.service.lines import import_line

from .live_fixtures import LINE, Live, call_form, queue_public_caller, sqlite_url
from .test_cli import ROOT

NATIONAL = ROOT / "scenarios" / "national-hotline.yaml"
FLOW = ROOT / "scenarios" / "national-hotline.flow.yaml"
EN_QUEUE = (
    "  - name: en\n    wrap_up_seconds: 30\n    aging_per_minute: 0\n    steps:\n"
    "      - {require: {en: 4}}\n"
)
VI_DAY = "{name: vi-day,  count: 1, skills: {vi: 5, en: 4},"


@pytest.fixture
def live(tmp_path):
    live = Live(sqlite_url(tmp_path))
    import_line(live.store, NATIONAL)
    return live


def changed(tmp_path: Path, name: str, **replacements: str) -> Path:
    """The national scenario with text replaced, written beside its flow (same paths)."""
    text = NATIONAL.read_text(encoding="utf-8").replace(
        "flow: national-hotline.flow.yaml", f"flow: {FLOW}"
    )
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def reload(live: Live) -> dict[str, list[str]]:
    return live.line.reconfigure(live.line.configs()).changed


def state(live: Live, agent_id: str) -> tuple[str | None, str | None]:
    s = live.line.agent_state(agent_id)
    return s["state"], s["call_sid"]


def test_a_queues_step_and_an_agents_skills_changed_in_the_store_reach_the_next_offer(
    live, tmp_path
):
    agent = live.agent("vi-day-1")  # skills vi 5, en 4; serves the English queue (tier 2)
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    first, second = "CA" + "1" * 32, "CA" + "2" * 32
    queue_public_caller(live, first, "+12025550101")
    assert state(live, "vi-day-1") == ("reserved", first)  # English 4 is enough today
    live.carrier.post("/voice/status", call_form(first, CallStatus="completed"))  # hung up
    assert state(live, "vi-day-1") == ("available", None)

    stricter = EN_QUEUE.replace("{en: 4}", "{en: 5}")
    import_line(live.store, changed(tmp_path, "stricter.yaml", **{EN_QUEUE: stricter}))
    assert reload(live) == {"National hotline (US)": ["queue en"]}
    queue_public_caller(live, second, "+12025550102")
    assert state(live, "vi-day-1") == ("available", None)  # no longer meets the step

    better = VI_DAY.replace("en: 4", "en: 5")
    import_line(
        live.store, changed(tmp_path, "better.yaml", **{EN_QUEUE: stricter, VI_DAY: better})
    )
    assert reload(live) == {"National hotline (US)": ["agent vi-day-1"]}
    assert state(live, "vi-day-1") == ("reserved", second)  # offered at once
    assert reload(live) == {}  # nothing changed since


def test_a_new_flow_version_is_for_new_calls_and_a_call_in_the_ivr_keeps_its_own(live, tmp_path):
    before, after = "CA" + "3" * 32, "CA" + "4" * 32
    live.carrier.post("/voice/incoming", call_form(before, From="+12025550103", To=LINE))
    text = FLOW.read_text(encoding="utf-8").replace("version: 2", "version: 3", 1)
    text = text.replace(
        "catalog: national-hotline.prompts", f"catalog: {FLOW.parent}/national-hotline.prompts"
    )
    text = text.replace("include: [common/", f"include: [{FLOW.parent}/common/")
    v2 = tmp_path / "national-hotline.flow.yaml"
    v2.write_text(text, encoding="utf-8")
    import_line(live.store, NATIONAL, flow=v2)
    assert reload(live) == {"National hotline (US)": ["flow national-hotline v3"]}
    live.carrier.post("/voice/incoming", call_form(after, From="+12025550104", To=LINE))
    versions = {sid: [d["version"] for k, d in live.store.events(sid) if k == "ivr-started"]
                for sid in (before, after)}  # fmt: skip
    assert versions == {before: [2], after: [3]}
    assert live.http.get("/healthz").json()["lines"][0]["version"] == 3


def test_a_change_that_takes_a_restart_is_refused_and_the_line_keeps_its_own(live, tmp_path):
    two_steps = EN_QUEUE.replace(
        "{require: {en: 4}}", "{require: {en: 5}, seconds: 20}\n      - {require: {en: 4}}"
    )
    import_line(live.store, changed(tmp_path, "steps.yaml", **{EN_QUEUE: two_steps}))
    assert reload(live) == {}
    agent = live.agent("vi-day-1")
    live.http.post("/api/agent/login", headers=agent)
    live.http.post("/api/agent/ready", headers=agent)
    sid = "CA" + "5" * 32
    queue_public_caller(live, sid, "+12025550105")
    assert state(live, "vi-day-1") == ("reserved", sid)  # the old single step still rules
