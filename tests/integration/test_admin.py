"""The administrators' API over the stored configuration: an agent's skills, a queue's
steps, a line's mode and its flow's versions, each used from the next routing decision
(or the next call) without a restart; a change the validators refuse is refused whole,
with every problem located in the text sent, and what is stored stays."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from hotline.errors import ChangedMeanwhile, ConfigError
from hotline.records.audit import os_actor, rows
from hotline.service.accounts import Accounts
from hotline.service.configuration import Configuration
from hotline.service.lines import import_line
from hotline.store.accounts import AccountStore
from hotline.store.repository import Store

from .live_fixtures import LINE, Live, call_form, queue_public_caller, sqlite_url
from .test_cli import ROOT
from .test_sessions import PASSWORD, log_on

NATIONAL = ROOT / "scenarios" / "national-hotline.yaml"
FLOW = ROOT / "scenarios" / "national-hotline.flow.yaml"
NAME = "National hotline (US)"
BASE = "/api/admin/lines/National%20hotline%20(US)"


@pytest.fixture
def live(tmp_path):
    live = Live(sqlite_url(tmp_path))
    import_line(live.store, NATIONAL)
    return live


@pytest.fixture
def admin(live: Live) -> dict[str, str]:
    accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                        key=live.settings.sealing_key())  # fmt: skip
    new = accounts.add("ada", "admin", password=PASSWORD)
    return log_on(live, "ada", new.totp_secret)


def state(live: Live, agent_id: str) -> tuple[str | None, str | None]:
    s = live.line.agent_state(agent_id)
    return s["state"], s["call_sid"]


def skills_of(live: Live, admin: dict[str, str], agent_id: str) -> dict[str, int]:
    agents = live.http.get("/api/admin/agents", headers=admin).json()["agents"]
    return next(a["skills"] for a in agents if a["id"] == agent_id)


def national(live: Live, admin: dict[str, str]) -> dict[str, Any]:
    lines = live.http.get("/api/admin/lines", headers=admin).json()["lines"]
    return next(line for line in lines if line["name"] == NAME)


def test_an_admin_adds_a_skill_to_an_agent_and_the_next_offer_uses_it(live, admin):
    url = "/api/admin/agents/vi-day-1/skills"
    r = live.http.put(url, json={"skills": {"vi": 5}}, headers=admin)  # English taken away
    assert r.status_code == 200, r.text
    bot = live.agent("vi-day-1")
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    sid = "CA" + "1" * 32
    queue_public_caller(live, sid, "+12025550101")
    assert state(live, "vi-day-1") == ("available", None)  # no English: not offered

    r = live.http.put(url, json={"skills": {"vi": 5, "en": 4}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["reloaded"] == {NAME: ["agent vi-day-1"]}
    assert state(live, "vi-day-1") == ("reserved", sid)  # offered at the next decision
    assert skills_of(live, admin, "vi-day-1") == {"en": 4, "vi": 5}
    assert skills_of(live, admin, "ru-day-1") == {"en": 4, "ru": 5}


def test_skills_the_validator_refuses_change_nothing(live, admin):
    url = "/api/admin/agents/vi-day-1/skills"
    for skills, says in (
        ({"vi": 5, "xx": 3}, "unknown skill or language 'xx'"),
        ({"vi": 7}, "level 7 is outside 1..5"),
        ({}, "at least one skill"),
        ({"Vi!": 3}, "a name of lower-case letters"),
    ):
        r = live.http.put(url, json={"skills": skills}, headers=admin)
        assert r.status_code == 400, r.text
        assert r.json()["error_id"] == "invalid-config"
        assert says in r.json()["message"], r.json()["message"]
    assert skills_of(live, admin, "vi-day-1") == {"en": 4, "vi": 5}
    r = live.http.put("/api/admin/agents/nobody-1/skills", json={"skills": {"en": 3}},
                      headers=admin)  # fmt: skip
    assert (r.status_code, r.json()["error_id"]) == (404, "not-found")


def test_a_queues_steps_changed_on_the_admin_page_reach_the_next_offer(live, admin):
    bot = live.agent("vi-day-1")  # en 4: meets the English queue's step today
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    en = next(q for q in national(live, admin)["queues"] if q["name"] == "en")
    assert "en: 4" in en["text"]
    r = live.http.put(f"{BASE}/queues/en", json={"text": en["text"].replace("en: 4", "en: 5")},
                      headers=admin)  # fmt: skip
    assert (r.status_code, r.json()["reloaded"]) == (200, {NAME: ["queue en"]})
    queue_public_caller(live, "CA" + "2" * 32, "+12025550102")
    assert state(live, "vi-day-1") == ("available", None)  # en 4 no longer meets it


def test_a_queue_the_validator_refuses_is_answered_with_problems_at_their_lines(live, admin):
    text = "name: en\nwrap_up_seconds: soon\nsteps:\n  - {require: {en: 4}}\n"
    r = live.http.put(f"{BASE}/queues/en", json={"text": text}, headers=admin)
    assert r.status_code == 400
    (problem,) = r.json()["problems"]
    assert (problem["file"], problem["line"]) == ("queue en", 2)
    two_steps = "name: en\nsteps:\n  - {require: {en: 4}, seconds: 20}\n  - {require: {en: 3}}\n"
    r = live.http.put(f"{BASE}/queues/en", json={"text": two_steps}, headers=admin)
    assert r.status_code == 400
    assert "takes a restart" in r.json()["message"]
    unknown = "name: en\nsteps:\n  - {require: {klingon: 4}}\n"
    r = live.http.put(f"{BASE}/queues/en", json={"text": unknown}, headers=admin)
    assert r.status_code == 400
    assert "klingon" in r.json()["message"]
    r = live.http.put(f"{BASE}/queues/xx", json={"text": text}, headers=admin)
    assert r.status_code == 404
    en = next(q for q in national(live, admin)["queues"] if q["name"] == "en")
    assert "wrap_up_seconds: 30" in en["text"]  # unchanged


def test_a_line_in_holiday_mode_tells_new_callers(live, admin):
    r = live.http.put(f"{BASE}/mode", json={"mode": "holiday"}, headers=admin)
    assert (r.status_code, r.json()["reloaded"]) == (200, {NAME: ["mode holiday"]})
    assert national(live, admin)["mode"] == "holiday"
    reply = live.carrier.post("/voice/incoming", call_form("CA" + "3" * 32, From="+12025550103",
                                                           To=LINE)).text  # fmt: skip
    assert "public holiday" in reply
    r = live.http.put(f"{BASE}/mode", json={"mode": "closed"}, headers=admin)
    assert (r.status_code, r.json()["error_id"]) == (400, "invalid-config")
    live.http.put(f"{BASE}/mode", json={"mode": "normal"}, headers=admin)
    reply = live.carrier.post("/voice/incoming", call_form("CA" + "4" * 32, From="+12025550104",
                                                           To=LINE)).text  # fmt: skip
    assert "public holiday" not in reply
    import_line(live.store, NATIONAL)  # an import keeps the line's mode
    assert national(live, admin)["mode"] == "normal"


def started_on(live: Live, sid: str) -> int:
    live.carrier.post("/voice/incoming", call_form(sid, From="+12025550105", To=LINE))
    live.line.flush()
    (data,) = [d for k, d in live.store.events(sid) if k == "ivr-started"]
    return int(data["version"])


def test_a_flow_version_uploaded_activated_and_rolled_back(live, admin):
    text = FLOW.read_text(encoding="utf-8")
    broken = text.replace("version: 2", "version: 3").replace("next: mode", "next: moed", 1)
    r = live.http.post(f"{BASE}/flows", json={"text": broken}, headers=admin)
    assert r.status_code == 400
    problems = r.json()["problems"]
    line = broken.splitlines().index("  welcome:") + 1  # the node that goes nowhere
    named = "national-hotline.flow.yaml"  # (as the administrator knows the file)
    assert any(p["line"] == line and "moed" in p["message"] and p["file"] == named
               for p in problems), problems  # fmt: skip
    assert national(live, admin)["flow_version"] == 2  # the active version stays
    assert started_on(live, "CA" + "5" * 32) == 2

    v2 = text.replace("version: 2", "version: 3")
    r = live.http.post(f"{BASE}/flows", json={"text": v2}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"flow": "national-hotline", "version": 3, "active": True}
    assert r.json()["reloaded"] == {NAME: ["flow national-hotline v3"]}
    assert [v["version"] for v in national(live, admin)["versions"]] == [3, 2]
    assert started_on(live, "CA" + "6" * 32) == 3
    assert live.http.get(f"{BASE}/flows/3", headers=admin).text == v2

    other = v2.replace("Language menu", "A language menu")  # same number, other content
    r = live.http.post(f"{BASE}/flows", json={"text": other}, headers=admin)
    assert r.status_code == 400
    (problem,) = r.json()["problems"]
    assert (problem["line"], problem["hint"]) == (6, "version: 4")

    r = live.http.post(f"{BASE}/flows/2/active", headers=admin)  # roll back
    assert (r.status_code, r.json()["reloaded"]) == (200, {NAME: ["flow national-hotline v2"]})
    assert started_on(live, "CA" + "7" * 32) == 2
    r = live.http.post(f"{BASE}/flows/9/active", headers=admin)
    assert r.status_code == 404


def test_an_import_of_a_changed_flow_under_a_kept_version_number_is_refused(live, tmp_path):
    changed = tmp_path / "national-hotline.flow.yaml"
    changed.write_text(FLOW.read_text(encoding="utf-8").replace("Language menu", "Menu"))
    for sibling in ("national-hotline.prompts", "common"):
        (tmp_path / sibling).symlink_to(FLOW.parent / sibling)
    with pytest.raises(ConfigError, match="already in the store with other content"):
        import_line(live.store, NATIONAL, flow=changed)


# -- what the review broke, each refused cleanly now


def test_values_no_duration_or_level_can_have_are_refused_and_nothing_is_written(live, admin):
    before = live.store.line_document(NAME)
    nan = ("name: es\nwrap_up_seconds: 30\nsteps:\n  - {require: {es: 4}, seconds: .nan}\n"
           "  - {require: {es: 2}, seconds: 40}\n  - {require: {interpreter: 1}}\n")  # fmt: skip
    for text in (nan, nan.replace("wrap_up_seconds: 30", "wrap_up_seconds: .inf"),
                 "name: es\nsteps: [{require: {es: 4}}]\x00\n", "[" * 3000):  # fmt: skip
        r = live.http.put(f"{BASE}/queues/es", json={"text": text}, headers=admin)
        assert (r.status_code, r.json()["error_id"]) == (400, "invalid-config"), r.text
    for skills in ({"vi": True}, {"vi": "5"}, {"vi": 4.0}):
        r = live.http.put("/api/admin/agents/vi-day-1/skills", json={"skills": skills},
                          headers=admin)  # fmt: skip
        assert r.status_code == 400, skills
    assert live.store.line_document(NAME) == before
    for path in (f"{BASE}/flows/99999999999999999999", f"{BASE}/flows/0"):
        assert live.http.get(path, headers=admin).status_code == 400
    huge = FLOW.read_text(encoding="utf-8").replace("version: 2", "version: 99999999999")
    r = live.http.post(f"{BASE}/flows", json={"text": huge}, headers=admin)
    assert (r.status_code, r.json()["problems"][0]["line"]) == (400, 6)


def test_an_uploaded_flow_reads_no_file_outside_its_folder(live, admin, tmp_path):
    secret = tmp_path / "secrets.yaml"
    secret.write_text("db_password: hunter2\n")
    text = FLOW.read_text(encoding="utf-8").replace("version: 2", "version: 3")
    for trick in (f"include: [common/agency-verification.flow.yaml, {secret}]",
                  "include: [common/agency-verification.flow.yaml, ../../etc/passwd]",
                  "include: [common/agency-verification.flow.yaml, /dev/zero]"):  # fmt: skip
        sent = text.replace("include: [common/agency-verification.flow.yaml]", trick)
        r = live.http.post(f"{BASE}/flows", json={"text": sent}, headers=admin)
        assert r.status_code == 400, r.text
        assert "outside the flow's folder" in r.json()["message"]
        assert "db_password" not in r.text
    sent = text.replace("catalog: national-hotline.prompts", f"catalog: {tmp_path}")
    r = live.http.post(f"{BASE}/flows", json={"text": sent}, headers=admin)
    assert "outside the flow's folder" in r.json()["message"]
    assert national(live, admin)["flow_version"] == 2


class Interleaving(Store):
    """A store in which another administrator's change lands right after this one has
    read the line (between its reading and its writing)."""

    def __init__(self, *, engine: Engine, meanwhile: Callable[[], object]) -> None:
        super().__init__(engine=engine)
        self.meanwhile: Callable[[], object] | None = meanwhile

    def line_document(self, name: str) -> dict[str, Any] | None:
        doc = super().line_document(name)
        then, self.meanwhile = self.meanwhile, None
        if then is not None:
            then()
        return doc


def test_a_change_made_on_what_another_admin_changed_since_is_refused(live, admin):
    store = live.store
    seen = store.line_revisions([NAME])[NAME]
    store.set_line(NAME, 1.0, expect=seen, mode="holiday")
    with pytest.raises(ChangedMeanwhile):  # made on the revision before the holiday
        store.set_line(NAME, 2.0, expect=seen, mode="emergency")
    assert national(live, admin)["mode"] == "holiday"

    # a skills change read the line; another admin's mode change landed; then it writes
    other = lambda: live.http.put(f"{BASE}/mode", json={"mode": "normal"}, headers=admin)  # noqa: E731
    config = Configuration(store=Interleaving(engine=store.engine, meanwhile=other))
    with pytest.raises(ChangedMeanwhile):
        config.set_skills("ada", "vi-day-1", {"vi": 5})
    assert skills_of(live, admin, "vi-day-1") == {"en": 4, "vi": 5}  # not written
    assert national(live, admin)["mode"] == "normal"  # the other change stands


def test_a_change_the_running_line_cannot_take_yet_is_said_to_wait_for_a_restart(
    live, admin, tmp_path
):
    text = NATIONAL.read_text(encoding="utf-8").replace(
        "flow: national-hotline.flow.yaml", f"flow: {FLOW}"
    ).replace("      - {require: {en: 4}}\n", "      - {require: {en: 5}, seconds: 20}\n"
              "      - {require: {en: 4}}\n", 1)  # fmt: skip
    two_steps = tmp_path / "two-steps.yaml"
    two_steps.write_text(text, encoding="utf-8")
    import_line(live.store, two_steps)  # the en queue's steps: that takes a restart
    r = live.http.put(f"{BASE}/mode", json={"mode": "holiday"}, headers=admin)
    assert r.status_code == 200
    assert (r.json()["reloaded"], list(r.json()["not_live"])) == ({}, [NAME])
    assert "takes a restart" in r.json()["not_live"][NAME]


def test_per_language_availability_counts_who_can_be_offered_the_call(live, admin):
    bot = live.agent("pt-day-1")  # pt 5, es 3, en 4; serves pt, then en (not es)
    live.http.post("/api/agent/login", headers=bot)
    live.http.post("/api/agent/ready", headers=bot)
    boss = live.agent("supervisor")
    s = live.http.get("/api/stats", headers=boss).json()["lines"][NAME]
    assert s["now"]["agents_by_language"] == {"en": {"available": 1}, "pt": {"available": 1}}


def changes(live: Live) -> list[tuple[str, str, str, str, dict[str, object]]]:
    """The audit trail's administration entries: actor, role, action, object, details."""
    with live.store.engine.connect() as c:
        return [(r.actor, r.role, r.action, r.object or "", json.loads(r.details))
                for r in rows(c) if r.action.startswith(("config.", "user."))]  # fmt: skip


def test_every_change_of_users_and_configuration_is_in_the_audit_trail(live, admin):
    accounts = Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall,
                        key=live.settings.sealing_key(), actor="os:root")  # fmt: skip
    accounts.add("bo", "supervisor", password=PASSWORD)
    accounts.disable("bo")
    accounts.enable("bo")
    accounts.reset("bo")
    r = live.http.put("/api/admin/agents/vi-day-1/skills", json={"skills": {"vi": 7}},
                      headers=admin)  # fmt: skip
    assert r.status_code == 400  # refused: nothing changed, nothing in the trail
    live.http.put("/api/admin/agents/vi-day-1/skills", json={"skills": {"vi": 5}}, headers=admin)
    live.http.put(f"{BASE}/mode", json={"mode": "holiday"}, headers=admin)
    v2 = FLOW.read_text(encoding="utf-8").replace("version: 2", "version: 3")
    live.http.post(f"{BASE}/flows", json={"text": v2}, headers=admin)
    live.http.post(f"{BASE}/flows/2/active", headers=admin)
    assert changes(live) == [
        (os_actor(), "admin", "config.line.import", f"line:{NAME}",
         {"line": LINE, "status": "flow national-hotline v2"}),
        (os_actor(), "admin", "user.add", "user:ada", {"role": "admin"}),
        ("os:root", "admin", "user.add", "user:bo", {"role": "supervisor"}),
        ("os:root", "admin", "user.disable", "user:bo", {}),
        ("os:root", "admin", "user.enable", "user:bo", {}),
        ("os:root", "admin", "user.reset", "user:bo", {}),
        ("ada", "admin", "config.skills", "agent:vi-day-1", {}),
        ("ada", "admin", "config.mode", f"line:{NAME}", {"status": "holiday"}),
        ("ada", "admin", "config.flow.upload", "flow:national-hotline:3",
         {"line": NAME, "status": "activated"}),
        ("ada", "admin", "config.flow.activate", "flow:national-hotline:2", {"line": NAME}),
    ]  # fmt: skip
    assert PASSWORD not in str(changes(live))


def test_a_flow_that_declares_a_connector_of_the_desks_record_look_ups_is_refused(live):
    """A connector of the agents' record look-ups (connectors.yaml's `records:`) is not
    the IVR's: an uploaded flow that declares it is refused at its line, nothing stored."""
    config = Configuration(store=live.store, desk_connectors={"case_records"})
    declared = "connectors: [agency_directory, case_records]"
    text = (FLOW.read_text(encoding="utf-8").replace("version: 2", "version: 3")
            .replace("connectors: [agency_directory]", declared))  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        config.upload_flow("ada", NAME, text, activate=True)
    (problem,) = refused.value.problems
    assert problem.line == text.splitlines().index(declared) + 1
    assert "'case_records' serves the agents' record look-ups" in problem.message
    assert [v["version"] for v in config.lines()[0]["versions"]] == [2]
    config.upload_flow("ada", NAME, text.replace(", case_records", ""), activate=False)
    assert [v["version"] for v in config.lines()[0]["versions"]] == [3, 2]
