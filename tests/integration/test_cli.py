"""The `hotline` command as a user runs it: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = [sys.executable, "-c", "from hotline.cli import main; main()"]


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own; `env`: settings added to the environment."""
    env = {**{k: v for k, v in os.environ.items() if k != "HOTLINE_DEBUG"}, **(env or {})}
    return subprocess.run(
        [*HOTLINE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


QUICK = (
    *("simulate", "--calls-per-hour", "120", "--aht-seconds", "300", "--agents", "12"),
    *("--patience-seconds", "180", "--answer-within", "20", "--hours", "50", "--seed", "7"),
    "--json",
)


def test_quick_single_queue_json_has_the_promised_keys():
    p = run(*QUICK)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for key in (
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "asa_seconds",
        "occupancy",
        "abandon_rate",
    ):
        assert key in r
    assert r["offered"] == r["answered"] + r["abandoned"]
    assert 0 < r["abandon_rate"] < 0.2
    again = run(*QUICK)
    assert json.loads(again.stdout) == r


def test_national_scenario_table():
    p = run("simulate", "scenarios/national-hotline.yaml")
    assert p.returncode == 0, p.stderr
    assert "National hotline (US)" in p.stdout
    for language in ("en", "es", "quc", "mam", "kjb"):
        assert f"│ {language} " in p.stdout
    assert "calls/s" in p.stdout


def test_national_scenario_json_per_language_and_queue():
    p = run("simulate", "scenarios/national-hotline.yaml", "--days", "2", "--json")
    r = json.loads(p.stdout)
    assert len(r["languages"]) >= 12
    assert {"agency-en", "en", "es"} <= set(r["queues"])
    assert sum(t["offered"] for t in r["languages"].values()) == r["offered"]
    # 7,000 a day on average; Monday and Tuesday are busier than the week's mean
    assert 13000 < r["offered"] < 16500


def test_erlang_staffing_mode():
    p = run(
        *("erlang", "--calls-per-hour", "120", "--aht-seconds", "300"),
        *("--service-level", "0.8", "--shrinkage", "0.3", "--json"),
    )
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert (r["agents"], r["scheduled_agents"]) == (14, 20)
    assert r["service_level"] >= 0.8
    p = run(
        *("erlang", "--calls-per-hour", "120", "--aht-seconds", "300"),
        *("--patience-seconds", "180", "--json"),
    )
    keys = {"agents", "service_level", "asa_seconds", "occupancy", "abandon_rate"}
    assert set(json.loads(p.stdout)) >= keys


def test_erlang_command():
    p = run("erlang", "--calls-per-hour", "120", "--aht-seconds", "300", "--agents", "12", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["service_level"] == pytest.approx(0.606707, abs=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("simulate", "--calls-per-hour", "-3", "--aht-seconds", "300", "--agents", "2"),
            "--calls-per-hour must be positive",
        ),
        (
            ("simulate", "--calls-per-hour", "3", "--aht-seconds", "300", "--agents", "0"),
            "--agents must be at least 1",
        ),
        (("simulate", "--calls-per-hour", "3"), "missing: --aht-seconds, --agents"),
        (("simulate", "no-such-file.yaml"), "no-such-file.yaml: cannot read the file"),
        (("simulate", "scenarios/national-hotline.yaml", "--agents", "3"), "not both"),
        (
            ("erlang", "--calls-per-hour", "3", "--aht-seconds", "-1", "--agents", "2"),
            "handle time must be positive",
        ),
        (
            ("erlang", "--calls-per-hour", "3", "--aht-seconds", "60", "--service-level", "1.5"),
            "strictly between 0 and 1",
        ),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(args, message):
    p = run(*args)
    assert p.returncode == 1
    assert message in " ".join(p.stderr.split())
    assert "Traceback" not in p.stderr + p.stdout


def test_bad_scenario_file_names_file_and_line(tmp_path):
    text = (ROOT / "scenarios" / "national-hotline.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("calls_per_day: 7000", "calls_per_day: -7000").replace(
            "{es: 4}, seconds: 20}", "{de: 4}, seconds: 20}"
        )
    )
    p = run("simulate", str(bad))
    assert p.returncode == 1
    err = " ".join(p.stderr.split())
    line = text.splitlines().index("  calls_per_day: 7000") + 1
    assert f"{bad}:{line}:3: arrivals.calls_per_day" in err
    assert "unknown skill or language 'de'" in err
    assert "Traceback" not in p.stderr


def test_unknown_option_is_a_usage_error():
    p = run("simulate", "--bogus")
    assert p.returncode == 2
    assert "No such option" in p.stderr
    assert "Traceback" not in p.stderr


def test_plan_command(tmp_path):
    p = run(
        *("plan", "--scenario", "scenarios/national-hotline.yaml", "--surge", "1.5"),
        *("--plot", str(tmp_path), "--out", str(tmp_path / "plan.json"), "--json"),
    )
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["surge"] == 1.5
    assert r["total"]["simulated_service_level"] >= 0.8
    assert json.loads((tmp_path / "plan.json").read_text()) == r
    assert (tmp_path / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shifts = [s for pool in r["pools"] for s in pool["shifts"]]
    assert {s["hours"] for s in shifts} <= {8, 10, 12}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--surge", "0"), "surge factor must be positive"),
        (("--service-level", "1.1"), "strictly between 0 and 1"),
        (("--interval", "45"), "15, 30, 60"),
        (("--shrinkage", "1"), "shrinkage must be in [0, 1)"),
    ],
)
def test_plan_bad_options(args, message):
    p = run("plan", "--scenario", "scenarios/national-hotline.yaml", "--no-simulate", *args)
    assert p.returncode == 1
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_plan_by_erlang_a(tmp_path):
    common = ("plan", "--scenario", "scenarios/national-hotline.yaml", "--no-simulate")
    c = run(*common, "--json")
    a = run(*common, "--model", "erlang-a", "--json")
    assert (c.returncode, a.returncode) == (0, 0), c.stderr + a.stderr
    rc, ra = json.loads(c.stdout), json.loads(a.stdout)
    assert (rc["model"], ra["model"]) == ("erlang-c", "erlang-a")
    # callers who hang up (mean patience 240 s) need fewer paid hours for the same target
    assert ra["total"]["paid_hours"] < 0.95 * rc["total"]["paid_hours"]
    for row in ra["pools"]:
        assert row["patience_seconds"] == 240.0
        assert 0.0 < row["planned_abandon_rate"] < 0.2
        assert row["planned_within_20s"] <= row["planned_service_level"]  # (T is 30 s)
        assert 0.8 <= row["worst_interval"]["service_level"] <= row["planned_service_level"]
        assert row["lower_bound_hours"] <= row["paid_hours"]
    assert rc["total"]["planned_abandon_rate"] is None  # Erlang C has no abandonment
    table = run(*common, "--model", "erlang-a")
    assert table.returncode == 0, table.stderr
    assert "Erlang A (callers hang up after their patience)" in " ".join(table.stdout.split())
    assert "x the lower bound" in table.stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("--model", "erlang-b"), "Invalid value for '--model'", 2),
        (("--model", "erlang-a", "--service-level", "1"), "strictly between 0 and 1", 1),
        (("--model", "erlang-a", "--surge", "1e12"), "more than 1,000,000 agents", 1),
        (("--surge", "1e12"), "more than 1,000,000 agents", 1),
    ],
)
def test_plan_refuses_targets_no_staff_meets_at_once(args, message, code):
    p = run("plan", "--scenario", "scenarios/national-hotline.yaml", "--no-simulate", *args)
    assert p.returncode == code
    assert message in " ".join(p.stderr.split())
    assert "Traceback" not in p.stderr


NATIONAL_PLAN = ("plan", "--scenario", "scenarios/national-hotline.yaml")
GOAL = ("--service-level", "0.9", "--answer-within", "10")


def test_plan_pools_auto_by_the_model_alone():
    p = run(*NATIONAL_PLAN, *GOAL, "--pools", "auto", "--no-simulate", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    c = r["choice"]
    assert c["pools_option"] == "auto"
    assert c["sufficient"] is None  # not simulated
    assert c["languages"] == []
    queues = [q for pool in c["pools"] for q in pool["queues"]]
    assert sorted(queues) == sorted(run_dedicated_pools())
    # the flow marks the Mayan languages interpreted: the interpreter line takes them
    line = next(pool for pool in c["pools"] if pool["interpreter_line"])
    assert line["interpreter_line"] == ["quc", "mam", "kjb"]
    assert line["profile"]["skills"] == {"en": 5, "interpreter": 1}
    assert c["routing"][0] == {
        "queue": "quc",
        "steps": [{"require": {"interpreter": 1}, "seconds": 620.0}],
        "overflow": "fallback:voicemail",
    }
    assert c["paid_hours"] == r["total"]["paid_hours"] < c["dedicated_paid_hours"]
    assert c["share_of_dedicated"] == round(c["paid_hours"] / c["dedicated_paid_hours"], 6)
    assert c["assumptions"][0].startswith("skill mix: the scenario's agent groups and a "
                                          "dedicated speaker for each queue")  # fmt: skip
    # no language interpreted: nothing goes to the interpreter line from the start
    p = run(*NATIONAL_PLAN, *GOAL, "--pools", "auto", "--interpreted", "", "--no-simulate",
            "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert not any(pool["interpreter_line"] for pool in json.loads(p.stdout)["choice"]["pools"])


def run_dedicated_pools() -> list[str]:
    """The pools of today's plan (one per queue)."""
    p = run(*NATIONAL_PLAN, *GOAL, "--no-simulate", "--json")
    assert p.returncode == 0, p.stderr
    return [str(row["pool"]) for row in json.loads(p.stdout)["pools"]]


def test_plan_pools_names_the_languages_a_skill_mix_cannot_answer():
    p = run(*NATIONAL_PLAN, *GOAL, "--pools", "auto", "--skills", "scenario", "--no-simulate")
    assert p.returncode == 1
    message = " ".join(p.stderr.split())
    assert "the skill mix cannot answer 2 languages: ko (queue ko): no profile of the skill " \
        "mix meets ko>=4; it would take agents with ko>=4, or marking ko `interpreted: " \
        "true` in the line's flow (or --interpreted) for the interpreter line (interp-day) " \
        "to answer it; hi (queue hi)" in message  # fmt: skip
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pools", "maybe"), "--pools is auto or dedicated, not 'maybe'"),
        (("--pools", "auto", "--pool", "cmn,yue"), "give --pool (queues pooled by hand) or"),
        (("--skills", "scenario"), "--skills go with --pools auto"),
        (("--pools", "auto", "--interpreted", "quc,xx"), "the scenario has no language xx"),
        (("--pools", "auto", "--max-abandon", "0"), "abandonment cap must lie strictly"),
        (("--pools", "auto", "--check-weeks", "0"), "at least one week"),
        (("--pools", "auto", "--skills", "nowhere.yaml"), "nowhere.yaml: cannot read the file"),
    ],
)
def test_plan_pools_bad_options(args, message):
    p = run(*NATIONAL_PLAN, "--no-simulate", *args)
    assert p.returncode == 1
    assert message in " ".join(p.stderr.split())
    assert "Traceback" not in p.stderr


def test_plan_pools_skill_mix_file_with_mistakes(tmp_path):
    mix = tmp_path / "mix.yaml"
    mix.write_text("profiles:\n  - {name: ko-en, skills: {ko: 5, en: 7}}\n")
    p = run(*NATIONAL_PLAN, "--pools", "auto", "--skills", str(mix), "--no-simulate")
    assert p.returncode == 1
    assert f"{mix}:2:35: profiles.0.skills.en: level 7 is outside 1..5" in p.stderr
    assert "Traceback" not in p.stderr


def test_plan_pools_auto_checked_by_simulation(tmp_path):
    from ..unit.wfm.test_pools import SMALL

    scenario = tmp_path / "small.yaml"
    scenario.write_text(SMALL)
    common = ("plan", "--scenario", str(scenario), "--service-level", "0.9", "--pools", "auto",
              "--model", "erlang-a", "--interpreted", "quc,mam", "--check-weeks", "2",
              "--margin", "2", "--seed", "1")  # fmt: skip
    p = run(*common, "--json", "--out", str(tmp_path / "plan.json"))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert json.loads((tmp_path / "plan.json").read_text()) == r
    c = r["choice"]
    assert c["sufficient"] is True
    assert c["check"] == {"seed": 1, "weeks": 2, "margin_se": 2.0, "partitions": 3, "rounds": 4}
    assert [x["language"] for x in c["languages"]] == ["en", "es", "fr", "ht", "quc", "mam"]
    for x in c["languages"]:
        assert x["meets"] is True
        assert x["simulated_service_level"] - 2 * x["service_level_se"] >= 0.9
        assert x["simulated_abandon_rate"] + 2 * x["abandon_rate_se"] <= 0.03
    assert c["tried"][0]["bound_hours"] <= c["tried"][0]["paid_hours"]
    assert c["paid_hours"] < c["dedicated_paid_hours"]
    table = run(*common)
    assert table.returncode == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "Languages, simulated 2 weeks (seed 1; ± one standard error)" in text
    assert "meets 90% within 10 s and at most 3.0% abandonment in every language" in text
    assert "routing: queue quc to the interpreter line at once (interpreter>=1 for 620 s, " \
        "then voicemail)" in text  # fmt: skip


def test_simulated_history_feeds_the_forecast(tmp_path):
    history = tmp_path / "history.csv"
    p = run(
        *("simulate", "--calls-per-hour", "40", "--aht-seconds", "300", "--agents", "6"),
        *("--hours", str(22 * 24), "--calls-csv", str(history), "--json"),
    )
    assert p.returncode == 0, p.stderr
    calls = json.loads(p.stdout)["offered"]
    assert len(history.read_text().splitlines()) == calls + 1
    p = run("forecast", "--history", str(history), "--out", str(tmp_path / "f.csv"), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["forecast_start"] == "2026-01-27T00:00:00"
    en = r["series"]["en"]
    assert en["forecast_calls"] == pytest.approx(40 * 24 * 7, rel=0.05)
    assert len(en["forecast_per_hour"]) == 168
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 2 * 168  # en and all


def test_forecast_refuses_a_short_history(tmp_path):
    history = tmp_path / "h.csv"
    history.write_text("timestamp,language\n2026-01-05T00:10:00,es\n")
    p = run("forecast", "--history", str(history))
    assert p.returncode == 1
    assert "at least two weeks" in p.stderr
    assert "Traceback" not in p.stderr


def test_surge_command(tmp_path):
    p = run(
        *("surge", "--scenario", "scenarios/national-hotline.yaml", "--volumes", "1.5"),
        *("--handle", "0", "--spike", "es=2", "--plot", str(tmp_path), "--json"),
    )
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert [c["case"] for c in r["cases"]] == ["volume x1.5", "es calls x2"]
    for c in r["cases"]:
        # doing nothing loses service; a plan for the surge restores it (simulated)
        assert c["simulated_sl_base_schedule"] < 0.8 <= c["simulated_sl_surge_plan"]
        assert c["surge_plan_paid_hours"] > r["base_paid_hours"]
    assert (tmp_path / "surge.png").exists()


def test_surge_with_callbacks():
    common = ("surge", "--scenario", "scenarios/national-hotline.yaml", "--volumes", "1.5")
    p = run(*common, "--handle", "0", "--callbacks", "0.6", "--callback-after", "30", "--json")
    assert p.returncode == 0, p.stderr
    case = json.loads(p.stdout)["cases"][0]
    assert case["simulated_callbacks_base_schedule"] > 0
    p = run(*common, "--handle", "0", "--callbacks", "1.5", "--no-simulate")
    assert p.returncode == 1
    assert "--callbacks is a share in [0, 1]" in p.stderr


def test_surge_bad_spike():
    p = run(
        "surge", "--scenario", "scenarios/national-hotline.yaml", "--spike", "xx=2", "--no-simulate"
    )
    assert p.returncode == 1
    assert "unknown language 'xx'" in p.stderr


def test_simulate_loads_no_planning_libraries():
    """`hotline simulate` needs neither SciPy nor statsmodels (seconds of import time)."""
    script = (
        "import sys\n"
        "import hotline.cli as cli\n"
        f"sys.argv = ['hotline', 'simulate', *{list(QUICK)!r}]\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('scipy', 'statsmodels', 'matplotlib') if m in sys.modules))\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_user_code_shows_what_an_authenticator_app_would():
    import time

    from hotline.service.accounts import totp_code

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    for _ in range(3):  # (again if a 30 s step turned while it ran)
        before = totp_code(secret, time.time())
        done = run("user", "code", secret.lower())
        if totp_code(secret, time.time()) == before:
            break
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == before
    bad = run("user", "code", "not a secret!")
    assert bad.returncode != 0
    assert "not a TOTP secret" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_help_shows_each_default_it_names_in_brackets():
    # (a help text's own "[default: ...]" was taken for a Rich markup tag and vanished)
    wide = {"COLUMNS": "250"}
    serve = run("serve", "--help", env=wide)
    assert serve.returncode == 0, serve.stderr
    assert "Where the other nodes reach this one [default: http://HOST:PORT]." in serve.stdout
    verify = run("audit", "verify", "--help", env=wide)
    assert "The verifier key [default: HOTLINE_AUDIT_VERIFIER]." in verify.stdout
    # a docstring's lines are one paragraph, wrapped to the terminal, not where the source
    # breaks them
    top = run("--help", env=wide)
    assert "Settings come from HOTLINE_* environment variables" in top.stdout
