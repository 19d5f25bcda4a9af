"""`hotline flow validate` and `hotline flow run` as an operator runs them."""

from __future__ import annotations

import json
import shutil

from .test_cli import ROOT, run

FLOW = "scenarios/national-hotline.flow.yaml"
DIRECTORY = "agency_directory=scenarios/demo-agency-directory.yaml"


def test_validate_the_demo_flow_against_its_scenario():
    p = run("flow", "validate", FLOW, "--scenario", "scenarios/national-hotline.yaml")
    assert p.returncode == 0, p.stderr
    assert "ok scenarios/national-hotline.flow.yaml: flow 'national-hotline' version 2" in p.stdout


def test_validate_reports_every_problem_with_file_line_and_exits_1(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "s")
    flow = tmp_path / "s" / "national-hotline.flow.yaml"
    text = flow.read_text(encoding="utf-8")
    text = text.replace(
        "next: caller_type\n  more_languages:", "next: caller_typ\n  more_languages:"
    )
    text = text.replace("queue: agency-es\n", "queue: agency-fr\n")
    flow.write_text(text, encoding="utf-8")
    (tmp_path / "s" / "national-hotline.prompts" / "vi.yaml").write_text(
        (ROOT / "scenarios/national-hotline.prompts/vi.yaml")
        .read_text(encoding="utf-8")
        .replace("pin:", "pinx:"),
        encoding="utf-8",
    )
    p = run("flow", "validate", str(flow))
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    lines = [x for x in p.stderr.splitlines() if x.startswith("error")]
    assert len(lines) == 3, p.stderr
    assert any(
        "national-hotline.flow.yaml:" in x and "no node named 'caller_typ'" in x for x in lines
    )
    assert any("unknown queue 'agency-fr'" in x for x in lines)
    assert any("vi.yaml:" in x and "prompt 'pin'" in x for x in lines)
    assert "3 problems found" in p.stderr

    j = run("flow", "validate", str(flow), "--json")
    assert j.returncode == 1
    result = json.loads(j.stdout)
    assert result["ok"] is False
    assert result["errors"] == 3
    assert all(isinstance(x["line"], int) for x in result["files"][0]["problems"])


def test_validate_a_missing_file_is_an_error_not_a_crash(tmp_path):
    p = run("flow", "validate", str(tmp_path / "nope.yaml"))
    assert p.returncode == 1
    assert "cannot read the file" in p.stderr
    assert "Traceback" not in p.stderr


def test_run_scripted_agency_call_in_spanish():
    p = run(
        "flow", "run", FLOW, "--from", "+525512345678", "--at", "2026-11-25T14:00",
        "--connector", DIRECTORY, "--input", '1,1,123455#,2468#,"1"',
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Para continuar en español" in p.stdout
    assert "2468" not in p.stdout  # the PIN is never shown
    assert "queued in agency-en, priority 20, language es" in p.stdout
    assert "national-hotline v2: enqueued" in p.stdout


def test_run_reads_the_keyboard_until_the_caller_hangs_up():
    p = run("flow", "run", FLOW, "--lang", "ht", "--at", "2026-11-25T14:00")  # stdin is empty
    assert p.returncode == 0, p.stderr
    assert "Mèsi" in p.stdout
    assert "caller hangs up" in p.stdout
    assert "caller-hung-up" in p.stdout


def test_run_rejects_bad_options_clearly():
    p = run("flow", "run", FLOW, "--lang", "xx")
    assert p.returncode == 1
    assert "--lang 'xx' is not a language of this flow" in p.stderr
    p = run("flow", "run", FLOW, "--wait", "es=soon")
    assert p.returncode == 1
    assert "QUEUE=SECONDS" in p.stderr


def test_run_renders_prompts_to_audio(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    p = run(
        "flow", "run", str(tmp_path / FLOW), "--lang", "ht", "--input", "1,2",
        "--at", "2026-11-25T14:00", "--audio", cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    wavs = list((tmp_path / ".hotline" / "speech").rglob("*.wav"))
    assert len(wavs) >= 3
    assert all(w.read_bytes()[:4] == b"RIFF" for w in wavs)
