"""What the fuzzing of the HTTP surface (test_fuzz_http.py) found, each as the exact
requests that showed it (each failed on the code before its fix):

1-4. an administrator's flow upload answered 500 (an exception escaped the validator);
5.   a flow's language tag named a file outside the flow's folder, and the 400 said what
     that file held (its name, its keys); the 400s named the server's own folders;
6.   one signed status callback for the dial-back leg of a call that has none (`?call=` a
     plain call on an agent) dropped the agent from the caller's conference and requeued
     the call as a callback, its caller dialled back while still on the line;
7.   the hold loop's webhooks (/voice/wait, /voice/hold-key, /voice/dial-done) acted on
     the query's `sid` but kept their answer under the form's CallSid: one signed request
     naming another call answered that call's own next request, which then hung its
     caller up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline.service.lines import import_line

from .live_fixtures import (
    ROOT,
    Live,
    call_form,
    queue_public_caller,
    sqlite_url,
)
from .test_fuzz_http import session

BASE = "/api/admin/lines/National%20hotline%20(US)"
FLOW = (ROOT / "scenarios" / "national-hotline.flow.yaml").read_text(encoding="utf-8")
ENGLISH = "  en:  {name: English}"
CATALOG = "catalog: national-hotline.prompts"
INCLUDE = "include: [common/agency-verification.flow.yaml]"


@pytest.fixture
def live(tmp_path: Path) -> Live:
    live = Live(sqlite_url(tmp_path))
    import_line(live.store, ROOT / "scenarios" / "national-hotline.yaml")
    # (the app's exceptions answered as a caller sees them, a 500, rather than raised)
    live.http = live.client(raise_server_exceptions=False)
    return live


@pytest.fixture
def admin(live: Live) -> dict[str, str]:
    return session(live, live.http, "ada", "admin")


def upload(live: Live, admin: dict[str, str], text: str) -> tuple[int, dict[str, object]]:
    r = live.http.post(
        f"{BASE}/flows", json={"text": text.replace("version: 2", "version: 3")}, headers=admin
    )
    return r.status_code, r.json()


# -- 1-4: 500s from POST /api/admin/lines/{line}/flows


@pytest.mark.parametrize(
    ("old", "new", "raised"),
    [
        # ValueError: embedded null byte, from Path.resolve() (src/hotline/ivr/flow_file.py:424)
        (INCLUDE, 'include: ["common/a\\0b.yaml"]', "embedded null byte"),
        (CATALOG, 'catalog: "x\\0y"', "embedded null byte"),
        # OSError ENAMETOOLONG, from Path.is_file() in _catalogs (flow_file.py:499)
        (ENGLISH, ENGLISH + "\n  " + "e" * 300 + ": {name: English}", "File name too long"),
        (CATALOG, "catalog: " + "c" * 300, "File name too long"),
        # UnicodeEncodeError: the 400's problems name the tag, a lone surrogate, which
        # JSONResponse cannot encode (refused(), src/hotline/web/admin.py:64)
        (ENGLISH, ENGLISH + '\n  "\\ud800": {name: X}', "surrogates not allowed"),
    ],
    ids=[
        "nul-in-include",
        "nul-in-catalog",
        "long-language-tag",
        "long-catalog",
        "lone-surrogate-language-tag",
    ],
)
def test_a_flow_upload_the_validator_cannot_read_is_a_400_not_a_500(
    live, admin, old, new, raised, caplog
):
    assert old in FLOW
    status, body = upload(live, admin, FLOW.replace(old, new, 1))
    logged = " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert (status, body["error_id"]) == (400, "invalid-config"), (status, body, logged)


# -- 5: a language tag is a path the validator follows out of the flow's folder


def test_a_flow_language_tag_cannot_read_files_outside_the_flows_folder(live, admin, tmp_path):
    secret = tmp_path / "elsewhere" / "service-keys.yaml"
    secret.parent.mkdir()
    secret.write_text("api_key: sk-live-0123456789\nwebhook: {secret: abc}\n")
    tag = str(secret.with_suffix(""))  # (an absolute tag: the catalog's folder is dropped)
    status, body = upload(live, admin, FLOW.replace(ENGLISH, f'{ENGLISH}\n  "{tag}": {{name: X}}'))
    assert status == 400
    said = json.dumps(body)
    # today: "service-keys.yaml:2:1: webhook: a prompt is a name and a non-empty text" --
    # the file outside the folder was opened, parsed, and its keys are named
    assert "service-keys.yaml:" not in said, said[:600]


def test_a_refused_flow_upload_does_not_name_the_servers_folders(live, admin):
    """A language with no catalog: "no prompt catalog /srv/.../xx.yaml ... (used at
    /srv/.../national-hotline.flow.yaml:43)" -- the absolute paths of the server's files."""
    status, body = upload(live, admin, FLOW.replace(ENGLISH, f"{ENGLISH}\n  xx: {{name: X}}"))
    assert status == 400
    assert str(ROOT) not in json.dumps(body), json.dumps(body)[:600]


# -- 6: POST /voice/status?call=<a plain call> with a failed dial-back status


def test_a_dial_back_status_for_a_call_never_dialled_back_changes_nothing(live):
    sid = "CA" + "1" * 32
    queue_public_caller(live, sid, "+12025550101")
    first = live.agent("en-day-1")
    live.http.post("/api/agent/login", headers=first)
    assert live.http.post("/api/agent/ready", headers=first).json()["call_sid"] == sid
    assert live.http.post(f"/api/agent/calls/{sid}/accept", headers=first).status_code == 200
    live.carrier.post(
        f"/voice/agent-leg?sid={sid}&a=1", call_form("CA" + "2" * 32, CallStatus="in-progress")
    )
    before = live.events(sid)
    # the one request: a status callback "of the dial-back leg" of a call nobody dialled
    r = live.carrier.post(
        f"/voice/status?call={sid}", call_form("CA" + "3" * 32, CallStatus="busy")
    )
    assert r.status_code < 500
    live.line.flush()
    # today: 200 <Response/>, and the caller's agent is dropped from the conference ...
    assert live.control.legs == [], live.control.legs  # [(sid, 'agent:en-day-1', 'drop', ...)]
    # ... the call is closed and requeued as a callback it never was
    assert live.events(sid) == before, live.events(sid)[len(before) :]
    # (callback-not-reached, CallCompleted, CallRequeued, CallbackAccepted)
    assert live.http.get("/api/agent/me", headers=first).json()["state"] == "on_call"


# -- 7: /voice/wait and /voice/hold-key with a CallSid other than the query's sid

X, Y = "CA" + "1" * 32, "CA" + "2" * 32


@pytest.mark.parametrize("step", [f"wait?sid={Y}&n=3", f"hold-key?sid={Y}&n=1",
                                  f"dial-done?sid={Y}&a=1"])  # fmt: skip
def test_a_hold_step_of_one_call_sent_with_another_calls_id_is_refused(live, step):
    queue_public_caller(live, X, "+12025550101")
    queue_public_caller(live, Y, "+12025550102")
    before = live.events(Y)
    # Y's step, X's CallSid (refused as /voice/gather and /voice/lookup refuse it)
    r = live.carrier.post(f"/voice/{step}", call_form(X, Digits="1", DialCallStatus="busy"))
    assert (r.status_code, r.json()["error_id"]) == (409, "out-of-order"), r.text
    live.line.flush()
    assert live.events(Y) == before


def test_a_callers_hold_loop_is_never_answered_with_another_calls(live):
    queue_public_caller(live, X, "+12025550101")
    queue_public_caller(live, Y, "+12025550102")
    live.carrier.post(f"/voice/wait?sid={Y}&n=3", call_form(X))
    # the carrier's own step 3 of X's hold loop
    mine = live.carrier.post(f"/voice/wait?sid={X}&n=3", call_form(X)).text
    assert f"sid={Y}" not in mine, mine  # today: X is sent on to Y's loop (sid=Y&n=4)
    live.carrier.post("/voice/status", call_form(Y, CallStatus="completed"))  # Y hangs up
    then = live.carrier.post(f"/voice/wait?sid={Y}&n=4", call_form(X)).text  # where X was sent
    assert "<Hangup" not in then, then  # today: "Thank you for calling. Goodbye." to X
    live.line.flush()
    assert live.store.call(X).state == "queued"  # (while the line still has X waiting)


def test_a_callers_stay_on_the_line_is_never_answered_with_another_calls_callback(live):
    queue_public_caller(live, X, "+12025550101")
    queue_public_caller(live, Y, "+12025550102")
    live.carrier.post(f"/voice/hold-key?sid={Y}&n=1", call_form(X, Digits="1"))
    # X's own answer to the callback offer: 2, stay on the line
    mine = live.carrier.post(f"/voice/hold-key?sid={X}&n=1", call_form(X, Digits="2")).text
    # today: "We will call you back at this number ... Goodbye." and <Hangup/>, while the
    # callback was taken for Y (who never asked) and X, hung up, is called back by nobody
    assert "<Hangup" not in mine, mine
    live.line.flush()
    assert live.store.call(Y).callback_number is None
