"""The disclosure policy: the demo policy's whole role × purpose × verification matrix, the
reasons for what is withheld and their precedence, every kind of bad file refused at its
file:line, and the invariants (a partition of the record; more verification never shows
less) over random requests and random policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.errors import ConfigError, PolicyError
from hotline.records.policy import Policy
from hotline.service.roles import ROLES

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "scenarios" / "disclosure-policy.yaml"
LEVELS = ("none", "unverified", "number", "verified")
PURPOSES = ("child-safety-check", "case-coordination", "court-liaison", "callback-verification")
FIELDS = (
    *("case_id", "status", "case_type", "assigned_worker", "worker_phone", "last_contact_date"),
    *("next_review_date", "safety_plan_in_place", "open_referrals", "court_order_in_force"),
    "notes_summary",
)
RECORD: dict[str, object] = {f: f"synthetic {f}" for f in FIELDS} | {"legacy_flag": True}

# The matrix, written out from the policy's rules by hand (not by the code under test).
EXISTS = {"case_id", "status"}
SAFETY = {"safety_plan_in_place", "assigned_worker", "worker_phone", "last_contact_date"}
NOTES = {"notes_summary", "open_referrals"}
COORD = {"case_type", "assigned_worker", "worker_phone", "next_review_date", "open_referrals"}
COURT = {"case_type", "court_order_in_force", "next_review_date"}
WORKER = {"assigned_worker", "worker_phone"}
E = EXISTS
# (role, purpose) -> disclosed at none, unverified, number, verified
MATRIX: dict[tuple[str, str], tuple[set[str], set[str], set[str], set[str]]] = {
    ("agent", "child-safety-check"): (E, E, E | SAFETY, E | SAFETY),
    ("agent", "case-coordination"): (E, E, E, E | COORD),
    ("agent", "court-liaison"): (E, E, E, E),
    ("agent", "callback-verification"): (E, E, E | WORKER, E | WORKER),
    ("supervisor", "child-safety-check"): (E, E, E | SAFETY, E | SAFETY | NOTES),
    ("supervisor", "case-coordination"): (E, E, E, E | COORD),
    ("supervisor", "court-liaison"): (E, E, E, E | COURT),
    ("supervisor", "callback-verification"): (E, E, E | WORKER, E | WORKER),
} | {(role, p): (set(), set(), set(), set()) for role in ("planner", "admin", "auditor")
     for p in PURPOSES}  # fmt: skip
CELLS = [
    (role, purpose, level, shown[i])
    for (role, purpose), shown in MATRIX.items()
    for i, level in enumerate(LEVELS)
]


@pytest.fixture(scope="module")
def example() -> Policy:
    return Policy.load(EXAMPLE)


def line_of(text: str, line: str) -> int:
    """The number (from 1) of the one line that reads `line`."""
    (n,) = [i for i, x in enumerate(text.splitlines(), 1) if x == line]
    return n


def test_the_matrix_covers_every_role_purpose_and_level():
    assert {(r, p, v) for r, p, v, _ in CELLS} == {
        (r, p, v) for r in ROLES for p in PURPOSES for v in LEVELS
    }


@pytest.mark.parametrize(("role", "purpose", "level", "shown"), CELLS)
def test_matrix(example, role, purpose, level, shown):
    d = example.decide(role, "case", purpose, level, RECORD)
    assert set(d.disclosed) == shown
    assert d.disclosed == {f: RECORD[f] for f in shown}
    assert set(d.withheld) == set(RECORD) - shown


@pytest.mark.parametrize(
    ("role", "purpose", "level", "rules"),
    [
        ("agent", "court-liaison", "none", ("case-exists",)),
        ("agent", "case-coordination", "verified", ("case-exists", "coordination")),
        (
            "supervisor",
            "child-safety-check",
            "verified",
            ("case-exists", "safety-check", "safety-check-notes"),
        ),
        ("supervisor", "callback-verification", "number", ("case-exists", "callback-worker")),
        ("planner", "child-safety-check", "verified", ()),
    ],
)
def test_the_rules_that_disclosed_something(example, role, purpose, level, rules):
    assert example.decide(role, "case", purpose, level, RECORD).rules == rules


def test_only_the_fields_a_record_has_are_decided(example):
    d = example.decide("agent", "case", "child-safety-check", "number", {"status": "open"})
    assert d.disclosed == {"status": "open"}
    assert d.withheld == {}
    assert d.rules == ("case-exists",)


def test_a_role_without_rules_sees_nothing(example):
    d = example.decide("auditor", "case", "court-liaison", "verified", RECORD)
    assert d.disclosed == {}
    assert d.withheld["case_id"] == "no rule for role auditor on case records"


NO_PAPERS = "; ask the caller to verify (agency ID and PIN) or to call from the number on file"


@pytest.mark.parametrize(
    ("role", "purpose", "level", "field", "reason"),
    [
        # a rule would disclose it but for the caller's verification (and its own hint)
        ("agent", "child-safety-check", "unverified", "worker_phone",
         "verification too low: needs number (rule safety-check)" + NO_PAPERS),
        ("supervisor", "court-liaison", "number", "court_order_in_force",
         "verification too low: needs verified (rule court-liaison)"),
        # the purpose is allowed by `coordination`: it is closer than `safety-check` and
        # `callback-worker`, which the caller's level already meets for other purposes
        ("agent", "case-coordination", "number", "assigned_worker",
         "verification too low: needs verified (rule coordination)"),
        ("agent", "court-liaison", "verified", "case_type",
         "purpose court-liaison not allowed: rule coordination allows case-coordination"),
        ("agent", "court-liaison", "none", "case_type",
         "purpose court-liaison not allowed: rule coordination allows case-coordination "
         "(and needs verification verified)"),
        # among rules for other purposes the one needing least verification, then file order
        ("agent", "court-liaison", "verified", "worker_phone",
         "purpose court-liaison not allowed: rule safety-check allows child-safety-check"),
        ("agent", "child-safety-check", "verified", "court_order_in_force",
         "not in any rule for role agent on case records"),
        ("planner", "child-safety-check", "verified", "status",
         "no rule for role planner on case records"),
        ("supervisor", "child-safety-check", "verified", "legacy_flag",
         "undeclared: the policy declares no field legacy_flag for case records"),
    ],
)  # fmt: skip
def test_withheld_reasons(example, role, purpose, level, field, reason):
    assert example.decide(role, "case", purpose, level, RECORD).withheld[field] == reason


def test_explain_names_the_rule_that_disclosed_and_its_line(example):
    text = EXAMPLE.read_text(encoding="utf-8")
    e = example.explain("agent", "case", "worker_phone", "child-safety-check", "number")
    assert e.allowed
    assert e.rule == "safety-check"
    assert e.decided_by == "safety-check"
    assert e.where == f"{EXAMPLE}:{line_of(text, '  - id: safety-check')}"
    assert e.sentence() == (
        "Yes: role agent may see field worker_phone of case records for purpose "
        f"child-safety-check at verification number, by rule safety-check ({e.where})."
    )


def test_explain_a_denial_is_default_deny_with_the_closest_rule(example):
    text = EXAMPLE.read_text(encoding="utf-8")
    e = example.explain("agent", "case", "case_type", "case-coordination", "number")
    assert not e.allowed
    assert e.rule is None
    assert e.decided_by == "default deny"
    assert e.where == f"{EXAMPLE}:{line_of(text, '  - id: coordination')}"
    assert e.reason == "verification too low: needs verified (rule coordination)"
    assert e.sentence() == (
        "No: role agent may not see field case_type of case records for purpose "
        "case-coordination at verification number: default deny, verification too low: "
        f"needs verified (rule coordination) ({e.where})."
    )


def test_explain_an_undeclared_field_is_denied(example):
    e = example.explain("supervisor", "case", "home_address", "court-liaison", "verified")
    assert not e.allowed
    assert e.reason == "undeclared: the policy declares no field home_address for case records"
    assert e.where == str(EXAMPLE)


@pytest.mark.parametrize(
    ("role", "record", "purpose", "level", "message"),
    [
        ("volunteer", "case", "court-liaison", "none",
         "unknown role 'volunteer' in a disclosure request: one of agent, supervisor, planner, "
         "admin, auditor"),
        ("agent", "person", "court-liaison", "none",
         "unknown record type 'person' in a disclosure request: one of case"),
        ("agent", "case", "curiosity", "none",
         "unknown purpose 'curiosity' in a disclosure request: one of child-safety-check, "
         "case-coordination, court-liaison, callback-verification"),
        ("agent", "case", "court-liaison", "maybe",
         "unknown verification level 'maybe' in a disclosure request: one of none, "
         "unverified, number, verified"),
    ],
)  # fmt: skip
def test_an_unknown_value_in_a_request_is_an_error_not_a_silent_deny(
    example, role, record, purpose, level, message
):
    with pytest.raises(PolicyError) as decided:
        example.decide(role, record, purpose, level, RECORD)
    assert decided.value.message == f"{message} (policy {EXAMPLE})"
    with pytest.raises(PolicyError) as explained:
        example.explain(role, record, "status", purpose, level)
    assert explained.value.message == f"{message} (policy {EXAMPLE})"


# -- rules that overlap, on a small policy written here

SMALL = """\
verification_levels: [none, unverified, verified]
purposes:
  safety: A child's safety now
  court: Court liaison
records:
  case: [case_id, status, notes]
rules:
  - id: basics
    roles: [agent, supervisor]
    record: case
    purposes: all
    min_verification: none
    fields: [case_id, status]
  - id: notes
    roles: [supervisor]
    record: case
    purposes: [safety]
    min_verification: verified
    fields: [notes]
"""  # rule `basics` on line 8, `notes` on line 14


EVERYTHING = """\
  - id: everything
    roles: [supervisor]
    record: case
    purposes: [safety]
    min_verification: unverified
    fields: all
"""  # line 20


def test_the_first_rule_in_the_file_decides_when_several_allow():
    p = Policy.from_text(SMALL + EVERYTHING, filename="small.yaml")
    d = p.decide("supervisor", "case", "safety", "verified", {"status": 1, "notes": 2})
    assert d.disclosed == {"status": 1, "notes": 2}
    assert d.rules == ("basics", "notes")
    assert p.explain("supervisor", "case", "notes", "safety", "verified").where == "small.yaml:14"
    # below `notes`' level, `everything` (line 20) still discloses notes
    e = p.explain("supervisor", "case", "notes", "safety", "unverified")
    assert (e.rule, e.where) == ("everything", "small.yaml:20")


NOTES_ON_THE_LINE = """\
  - id: notes-on-the-line
    roles: [supervisor]
    record: case
    purposes: [safety]
    min_verification: unverified
    fields: [notes]
"""  # line 20


def test_the_reason_comes_from_the_rule_needing_least_verification_not_the_first():
    p = Policy.from_text(SMALL + NOTES_ON_THE_LINE, filename="small.yaml")
    e = p.explain("supervisor", "case", "notes", "safety", "none")
    assert e.reason == "verification too low: needs unverified (rule notes-on-the-line)"
    assert e.where == "small.yaml:20"


def test_a_policy_without_rules_denies_everything():
    p = Policy.from_text(SMALL.split("rules:")[0] + "rules: []\n")
    d = p.decide("supervisor", "case", "safety", "verified", {"case_id": 1})
    assert d.disclosed == {}
    assert d.withheld == {"case_id": "no rule for role supervisor on case records"}


# -- bad files, each refused at its file:line:column


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("roles: [supervisor]", "roles: [supervisor, volunteer]",
         "15:25: rules.1.roles.1: unknown role 'volunteer' "
         "(fix: one of agent, supervisor, planner, admin, auditor)"),
        ("fields: [notes]", "fields: [notes, home_address]",
         "19:21: rules.1.fields.1: unknown field of case records 'home_address' "
         "(fix: one of case_id, status, notes)"),
        ("purposes: [safety]", "purposes: [safety, curiosity]",
         "17:24: rules.1.purposes.1: unknown purpose 'curiosity' (fix: one of safety, court)"),
        ("min_verification: verified", "min_verification: verifed",
         "18:5: rules.1.min_verification: unknown verification level 'verifed' "
         "(fix: one of none, unverified, verified (declared under verification_levels:))"),
        ("record: case\n    purposes: [safety]", "record: person\n    purposes: [safety]",
         "16:5: rules.1.record: unknown record type 'person' "
         "(fix: one of case (declared under records:))"),
        ("- id: notes", "- id: basics",
         "14:5: rules.1.id: rule id 'basics' is used twice (first on line 8) "
         "(fix: give each rule its own id)"),
        ("fields: [notes]", "fields: []",
         "19:5: rules.1.fields: an empty list of fields allows nothing "
         "(fix: name the fields, or write `fields: all`)"),
        ("purposes: [safety]", "purposes: []",
         "17:5: rules.1.purposes: an empty list of purposes allows nothing "
         "(fix: name the purposes, or write `purposes: all`)"),
        ("fields: [notes]", "fields: notes",
         "19:5: rules.1.fields: expected a valid list or 'all'"),
        ("min_verification: verified", "min_verification: 3",
         "18:5: rules.1.min_verification: Input should be a valid string"),
        ("    fields: [notes]\n", "    fields: [notes]\n    show: everything\n",
         "20:5: rules.1.show: is not a known setting (check the spelling)"),
        ("verification_levels: [none, unverified, verified]",
         "verification_levels: [none, unverified, verified, none]",
         "1:51: verification_levels.3: verification level 'none' is listed twice (fix: keep one)"),
        ("  case: [case_id, status, notes]\n", "  case: [case_id, status, notes]\n  referral: []\n",
         "7:3: records.referral: a record type needs at least one field"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_at_its_line(tmp_path, old, new, problem):
    assert SMALL.count(old) == 1
    path = tmp_path / "policy.yaml"
    path.write_text(SMALL.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        Policy.load(path)
    assert [str(p) for p in refused.value.problems] == [f"{path}:{problem}"]


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "policy.yaml"
    text = SMALL.replace("roles: [supervisor]", "roles: [volunteer]")
    path.write_text(text.replace("record: case\n    purposes: all", "record: person\n    "
                                 "purposes: all"), encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        Policy.load(path)
    assert [(p.line, p.message) for p in refused.value.problems] == [
        (10, "rules.0.record: unknown record type 'person'"),
        (15, "rules.1.roles.0: unknown role 'volunteer'"),
    ]


def test_the_example_policy_declares_exactly_these_fields_none_for_finding_anyone(example):
    assert example.levels == LEVELS
    assert tuple(example.purposes) == PURPOSES
    assert example.records == {"case": FIELDS}
    assert [r.id for r in example.rules] == [
        "case-exists", "safety-check", "safety-check-notes", "coordination", "court-liaison",
        "callback-worker",
    ]  # fmt: skip


# -- invariants

requests = st.tuples(st.sampled_from(ROLES), st.sampled_from(PURPOSES))
records = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), st.integers(), max_size=16
)


@settings(max_examples=200, deadline=None)
@given(request=requests, record=records)
def test_a_decision_partitions_the_record_and_more_verification_never_shows_less(
    example, request, record
):
    role, purpose = request
    before: set[str] = set()
    for level in LEVELS:
        d = example.decide(role, "case", purpose, level, record)
        assert set(d.disclosed) | set(d.withheld) == set(record)
        assert set(d.disclosed).isdisjoint(d.withheld)
        assert all(d.disclosed[f] is record[f] for f in d.disclosed)
        assert before <= set(d.disclosed)
        before = set(d.disclosed)


RANDOM_FIELDS = ("f0", "f1", "f2", "f3", "f4")
RANDOM_PURPOSES = ("p0", "p1", "p2")
RANDOM_LEVELS = ("l0", "l1", "l2", "l3")


def subset_or_all(names: tuple[str, ...]) -> st.SearchStrategy[list[str] | str]:
    return st.one_of(st.just("all"), st.lists(st.sampled_from(names), min_size=1, unique=True))


rules = st.lists(
    st.fixed_dictionaries({
        "roles": st.lists(st.sampled_from(ROLES), min_size=1, unique=True),
        "purposes": subset_or_all(RANDOM_PURPOSES),
        "min_verification": st.sampled_from(RANDOM_LEVELS),
        "fields": subset_or_all(RANDOM_FIELDS),
    }),
    max_size=6,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(rules=rules)
def test_any_policy_discloses_exactly_what_some_rule_allows(rules):
    text = yaml.safe_dump({
        "verification_levels": list(RANDOM_LEVELS),
        "purposes": {p: p for p in RANDOM_PURPOSES},
        "records": {"case": list(RANDOM_FIELDS)},
        "rules": [{"id": f"r{i}", "record": "case", **r} for i, r in enumerate(rules)],
    })  # fmt: skip
    policy = Policy.from_text(text)
    record = {f: i for i, f in enumerate((*RANDOM_FIELDS, "extra"))}

    def allows(rule: dict[str, Any], role: str, purpose: str, at: int, field: str) -> bool:
        return (
            role in rule["roles"]
            and (rule["purposes"] == "all" or purpose in rule["purposes"])
            and RANDOM_LEVELS.index(rule["min_verification"]) <= at
            and (rule["fields"] == "all" or field in rule["fields"])
        )

    for role in ROLES:
        for purpose in RANDOM_PURPOSES:
            before: set[str] = set()
            for at, level in enumerate(RANDOM_LEVELS):
                d = policy.decide(role, "case", purpose, level, record)
                expected = {
                    f for f in RANDOM_FIELDS
                    if any(allows(r, role, purpose, at, f) for r in rules)
                }  # fmt: skip
                assert set(d.disclosed) == expected
                assert set(d.disclosed) | set(d.withheld) == set(record)
                assert set(d.disclosed).isdisjoint(d.withheld)
                assert before <= expected
                before = expected
                for f in RANDOM_FIELDS:
                    e = policy.explain(role, "case", f, purpose, level)
                    assert e.allowed == (f in expected)
                    assert e.allowed or e.reason == d.withheld[f]
