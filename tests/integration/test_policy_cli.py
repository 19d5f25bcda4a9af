"""`hotline policy check` and `hotline policy explain` as an operator runs them."""

from __future__ import annotations

from .test_cli import ROOT, run

POLICY = "scenarios/disclosure-policy.yaml"


def line_of(line: str) -> int:
    text = (ROOT / POLICY).read_text(encoding="utf-8")
    (n,) = [i for i, x in enumerate(text.splitlines(), 1) if x == line]
    return n


def test_check_the_example_policy_prints_one_line():
    p = run("policy", "check", POLICY)
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "ok scenarios/disclosure-policy.yaml: 6 rules; roles agent, supervisor; purposes "
        "child-safety-check, case-coordination, court-liaison, callback-verification; "
        "record types case (11 fields)\n"
    )


def test_check_reports_every_problem_with_file_line_and_exits_1(tmp_path):
    bad = tmp_path / "policy.yaml"
    text = (ROOT / POLICY).read_text(encoding="utf-8")
    text = text.replace("roles: [supervisor]\n", "roles: [supervisor, volunteer]\n", 1)
    text = text.replace("fields: [notes_summary, open_referrals]", "fields: [home_address]")
    bad.write_text(text, encoding="utf-8")
    roles = text.splitlines().index("    roles: [supervisor, volunteer]") + 1  # rule 2's
    p = run("policy", "check", str(bad))
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert p.stdout == ""
    assert p.stderr.splitlines() == [
        f"error {bad}:{roles}:25: rules.2.roles.1: unknown role "
        "'volunteer' (fix: one of agent, supervisor, planner, admin, auditor)",
        f"error {bad}:{line_of('    fields: [notes_summary, open_referrals]')}:14: "
        "rules.2.fields.0: unknown field of case records 'home_address' (fix: one of case_id, "
        "status, case_type, assigned_worker, worker_phone, last_contact_date, "
        "next_review_date, safety_plan_in_place, open_referrals, court_order_in_force, "
        "notes_summary)",
        "2 problems found",
    ]


def test_check_a_missing_file_is_an_error_not_a_crash(tmp_path):
    p = run("policy", "check", str(tmp_path / "nope.yaml"))
    assert p.returncode == 1
    assert "cannot read the file" in p.stderr
    assert "Traceback" not in p.stderr


QUESTION = ("--role", "agent", "--record", "case", "--field", "worker_phone")


def test_explain_a_field_the_role_may_see():
    p = run("policy", "explain", POLICY, *QUESTION, "--purpose", "child-safety-check",
            "--verification", "number")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "Yes: role agent may see field worker_phone of case records for purpose "
        "child-safety-check at verification number, by rule safety-check "
        f"({POLICY}:{line_of('  - id: safety-check')}).\n"
    )


def test_explain_a_field_withheld_names_default_deny_and_the_closest_rule():
    p = run("policy", "explain", POLICY, *QUESTION, "--purpose", "case-coordination",
            "--verification", "number")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "No: role agent may not see field worker_phone of case records for purpose "
        "case-coordination at verification number: default deny, verification too low: "
        f"needs verified (rule coordination) ({POLICY}:{line_of('  - id: coordination')}).\n"
    )


def test_explain_a_question_with_an_unknown_role_exits_1():
    p = run("policy", "explain", POLICY, "--role", "volunteer", "--record", "case", "--field",
            "status", "--purpose", "court-liaison", "--verification", "none")  # fmt: skip
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr == (
        "error unknown role 'volunteer' in a disclosure request: one of agent, supervisor, "
        f"planner, admin, auditor (policy {POLICY})\n"
    )
