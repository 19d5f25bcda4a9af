"""The validator catches each class of mistake on purpose-built bad files, all at once,
each at its file:line:column with a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.errors import ConfigError, Problem
from hotline.ivr.flow_file import load_flow, validate_flow

from .conftest import PROMPTS, WriteFlow

HEAD = """\
flow: test-line
version: 1
start: start
default_language: en
languages:
  en: {name: English}
  es: {name: Español}
catalog: prompts
queues: [sales, help]
fallback_queue: help
connectors: [directory]
nodes:
"""  # the first node is on line 13


def problems(
    write_flow: WriteFlow, nodes: str, prompts: dict[str, dict[str, str]] | None = None
) -> tuple[list[Problem], Path]:
    path = write_flow({}, text=HEAD + nodes, prompts=prompts)
    return validate_flow(path), path


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_a_good_flow_has_no_problems(write_flow):
    found, _ = problems(write_flow, "  start: {enqueue: {queue: sales}}\n")
    assert found == []


def test_unknown_node_reference_with_a_suggestion(write_flow):
    found, path = problems(
        write_flow, "  start: {say: hello, next: sael}\n  sale: {enqueue: {queue: sales}}\n"
    )
    p = next(x for x in found if "no node named" in x.message)
    assert (p.file, p.line, p.column) == (str(path), 13, 3)
    assert p.hint == "did you mean 'sale'?"


def test_unknown_queue(write_flow):
    p = only(problems(write_flow, "  start: {enqueue: {queue: slaes}}\n")[0])
    assert "unknown queue 'slaes'" in p.message
    assert p.line == 13
    assert p.hint == "did you mean 'sales'?"


def test_a_queue_template_must_exist_for_every_language(write_flow):
    p = only(problems(write_flow, '  start: {enqueue: {queue: "{language}"}}\n')[0])
    assert "unknown queue 'en', 'es'" in p.message


def test_unreachable_node(write_flow):
    p = only(problems(write_flow, "  start: {enqueue: {queue: sales}}\n  lost: {hangup: bye}\n")[0])
    assert p.message == "nodes.lost: no path leads to this node"
    assert p.line == 14


def test_a_loop_that_never_ends(write_flow):
    found, _ = problems(
        write_flow, "  start: {say: hello, next: again}\n  again: {say: hello, next: start}\n"
    )
    assert len(found) == 2
    assert all("no path from this node ever ends the call" in p.message for p in found)
    assert [p.line for p in found] == [13, 14]


def test_missing_translation_is_reported_in_the_catalog_of_that_language(write_flow):
    es = {k: v for k, v in PROMPTS["es"].items() if k != "hello"}
    found, path = problems(
        write_flow,
        "  start: {say: hello, next: q}\n  q: {enqueue: {queue: sales}}\n",
        {"en": PROMPTS["en"], "es": es},
    )
    p = only(found)
    assert p.file.endswith("prompts/es.yaml")
    assert "no Español text for prompt 'hello'" in p.message
    assert f"{path}:13" in p.message
    assert "interpreted: true" in (p.hint or "")


def test_a_missing_catalog_file_for_a_declared_language(write_flow):
    found, _ = problems(write_flow, "  start: {enqueue: {queue: sales}}\n", {"en": PROMPTS["en"]})
    p = only(found)
    assert "no prompt catalog" in p.message
    assert p.line == 7


def test_placeholders_must_match_the_default_language(write_flow):
    es = {**PROMPTS["es"], "offer": "La espera es de {espera}."}
    found, _ = problems(
        write_flow, "  start: {enqueue: {queue: sales}}\n", {"en": PROMPTS["en"], "es": es}
    )
    p = only(found)
    assert "placeholders ['espera']" in p.message
    assert p.file.endswith("es.yaml")


def test_menu_with_duplicate_keys_and_words(write_flow):
    es = {**PROMPTS["es"], "words_help": "ayuda|ventas"}
    found, _ = problems(
        write_flow,
        """\
  start:
    menu:
      prompt: menu
      choices:
        - {key: 1, words: words_sales, next: a}
        - {key: 1, words: words_help, next: b}
      default: a
  a: {enqueue: {queue: sales}}
  b: {enqueue: {queue: help}}
""",
        {"en": PROMPTS["en"], "es": es},
    )
    messages = sorted(p.message.split(": ", 1)[-1] for p in found)
    assert messages == [
        "key '1' is used by two choices",
        "the word 'ventas' (es) is in two choices",
    ]
    assert {p.line for p in found} == {16}


def test_a_pin_that_would_be_logged(write_flow):
    p = only(
        problems(
            write_flow,
            "  start:\n    collect: {prompt: pin, var: pin, max_length: 8}\n"
            "    next: q\n    failed: q\n"
            "  q: {enqueue: {queue: sales}}\n",
        )[0]
    )
    assert "'pin' looks like a secret" in p.message
    assert p.hint == "add `secret: true` to the collect node"
    assert (p.line, p.column) == (14, 28)  # at `var:`


def test_a_secret_may_not_reach_the_router_or_a_prompt(write_flow):
    en = {**PROMPTS["en"], "hold": "Your PIN is {code}."}
    es = {**PROMPTS["es"], "hold": "Su PIN es {code}."}
    found, _ = problems(
        write_flow,
        "  start:\n    collect: {prompt: pin, var: code, max_length: 8, secret: true}\n"
        "    next: q\n"
        "    failed: q\n  q: {enqueue: {queue: sales, prompt: hold, attributes: {c: '{code}'}}}\n",
        {"en": en, "es": es},
    )
    messages = sorted(p.message.split(": ", 1)[-1] for p in found)
    assert messages == [
        "prompt 'hold' would speak the secret {code}",
        "prompt 'hold' would speak the secret {code}",
        "the secret {code} would be stored or shown here",
    ]


def test_unknown_variable_kind_checksum_connector_and_subflow(write_flow):
    found, _ = problems(
        write_flow,
        """\
  start:
    branch:
      - {when: {var: verificaton, equals: verified}, next: c}
    otherwise: c
  c:
    collect: {prompt: code, var: code, max_length: 6, checksum: crc99}
    next: l
    failed: l
  l:
    lookup: {connector: directry, operation: verify}
    next: s
    not_found: s
    error: s
  s: {subflow: nothere, next: q}
  q: {enqeue: {queue: sales}}
""",
    )
    text = "\n".join(str(p) for p in found)
    assert "no node sets the variable 'verificaton'" in text
    assert "did you mean 'verification'?" in text
    assert "unknown checksum 'crc99'" in text
    assert "one of luhn, mod11" in text
    assert "unknown connector 'directry'" in text
    assert "no sub-flow named 'nothere'" in text
    assert "a node has exactly one kind (found none)" in text
    assert ":15:" in text
    assert ":27:" in text


def test_shape_errors_point_at_the_setting(write_flow):
    found, _path = problems(write_flow, "  start: {enqueue: {queue: sales, priority: high}}\n")
    p = only(found)
    assert p.line == 13
    assert "priority" in p.message
    assert "integer" in p.message


def test_broken_yaml_names_the_line(write_flow):
    found, _ = problems(write_flow, "  start: {enqueue: {queue: sales}\n")
    assert only(found).message.startswith("not valid YAML")


def test_every_problem_at_once(write_flow):
    found, _ = problems(
        write_flow,
        "  start: {say: nosuchprompt, next: nowhere}\n  lost: {enqueue: {queue: nosuchqueue}}\n",
    )
    assert len(found) >= 4


def test_load_refuses_a_bad_flow(write_flow):
    path = write_flow({}, text=HEAD + "  start: {say: hello, next: nowhere}\n")
    with pytest.raises(ConfigError) as e:
        load_flow(path)
    assert "no node named 'nowhere'" in str(e.value)


def test_flow_queues_checked_against_the_line(write_flow):
    path = write_flow({}, text=HEAD + "  start: {enqueue: {queue: sales}}\n")
    p = only(validate_flow(path, line_queues=["sales"]))
    assert p.message == "queues.1: the line has no queue 'help'"
    assert p.line == 9


def test_a_running_line_keeps_its_last_good_flow(write_flow):
    from hotline.ivr.line import LineFlow

    path = write_flow({}, text=HEAD + "  start: {enqueue: {queue: sales}}\n")
    line = LineFlow(path=path)
    good = line.flow
    path.write_text(
        HEAD.replace("version: 1", "version: 2") + "  start: {say: hello, next: gone}\n"
    )
    found = line.reload()
    assert found
    assert "no node named 'gone'" in found[0].message
    assert line.flow is good
    assert line.flow.version == 1
    path.write_text(
        HEAD.replace("version: 1", "version: 3") + "  start: {enqueue: {queue: help}}\n"
    )
    assert line.reload() == []
    assert line.flow.version == 3


def test_review_findings_are_caught(write_flow):
    # a secret overwritten by `set` would lose its mask; '#' ends input so cannot be a key;
    # days must be days; a value YAML cannot build is a problem, not a crash
    found, _ = problems(
        write_flow,
        """\
  start:
    collect: {prompt: pin, var: pin, max_length: 8, secret: true}
    next: s
    failed: s
  s: {set: {pin: {add: 0}}, next: m}
  m:
    menu: {prompt: menu, choices: [{key: "#", next: b}], default: b}
  b:
    branch: [{when: {time: {from: "22:00", to: "06:00", days: 5}}, next: q}]
    otherwise: q
  q: {enqueue: {queue: sales}}
""",
    )
    text = "\n".join(str(p) for p in found)
    assert "the secret 'pin' cannot be set" in text
    assert "key '#' cannot be pressed on a phone" in text
    assert "days: a day or a list of days" in text
    found, _ = problems(write_flow, "  start: {enqueue: {queue: sales, priority: 2026-02-30}}\n")
    assert "not a value YAML can read" in only(found).message


def test_a_lockout_is_keyed_by_a_known_variable_that_is_no_secret(write_flow):
    found, _ = problems(
        write_flow,
        """\
  start:
    collect: {prompt: pin, var: pin, max_length: 8, secret: true}
    next: l
    failed: q
  l:
    lookup:
      connector: directory
      operation: verify
      params: {pin: "{pin}"}
      lockout: {key: "{pin}{agnecy}", failures: 5, minutes: 60}
    next: q
    not_found: q
    error: q
  m:
    lookup: {connector: directory, operation: verify}
    next: q
    not_found: q
    error: q
    locked: q
  q: {enqueue: {queue: sales}}
""",
    )
    lines = {p.message.split(": ", 1)[-1]: p.line for p in found}
    assert lines["`locked:` leads nowhere without a lockout"] == 31
    assert lines["the secret {pin} would be stored or shown here"] == 22
    assert lines["no node sets {agnecy}"] == 22


def test_a_lockout_counts_at_least_one_failure_within_at_most_a_week(write_flow):
    for bad in ("failures: 0, minutes: 60", "failures: 5, minutes: 10081"):
        found, _ = problems(
            write_flow,
            "  start:\n    lookup:\n      connector: directory\n      operation: verify\n"
            f"      lockout: {{key: '{{caller}}', {bad}}}\n"
            "    next: q\n    not_found: q\n    error: q\n  q: {enqueue: {queue: sales}}\n",
        )
        assert only(found).line == 17, bad


def test_a_lookup_that_saves_names_the_fields_it_keeps(write_flow):
    found, _ = problems(
        write_flow,
        """\
  start:
    lookup: {connector: directory, operation: find, save: who}
    next: k
    not_found: k
    error: k
  k:
    lookup: {connector: directory, operation: find, keep: [name]}
    next: q
    not_found: q
    error: q
  q: {enqueue: {queue: sales, attributes: {team: "{who.team}"}}}
""",
    )
    lines = {p.message.split(": ", 1)[-1]: (p.line, p.hint) for p in found}
    assert lines["`save:` names where the fields go and `keep:` which fields: give both"] == (
        14,
        "add `keep: [name, kind]`: only the fields named reach the call",
    )
    assert lines["`keep:` without `save:` keeps nothing"][0] == 19
    assert lines["no node sets {who.team}"][0] == 23  # a field not kept is no variable


def test_a_lockout_key_names_a_variable(write_flow):
    found, _ = problems(
        write_flow,
        "  start:\n    lookup:\n      connector: directory\n      operation: verify\n"
        "      lockout: {key: everyone, failures: 5, minutes: 60}\n"
        "    next: q\n    not_found: q\n    error: q\n  q: {enqueue: {queue: sales}}\n",
    )
    p = only(found)
    assert "every caller would share one count" in p.message
    assert p.line == 17


@pytest.mark.parametrize("tag", ["../secrets", "/etc/hotline/keys", "e" * 36, "en us", ""])
def test_a_language_tag_names_no_file_but_its_catalog(write_flow, tag):
    """A tag names its catalog file (`catalog/TAG.yaml`): one that could name another file
    (a path, a name too long for a file system) is refused where it is written."""
    text = HEAD.replace("  es: {name: Español}", f'  "{tag}": {{name: Other}}')
    path = write_flow({}, text=text + "  start: {enqueue: {queue: sales}}\n")
    p = only(validate_flow(path))
    assert f"{tag[:40]!r} is not a language tag" in p.message
    assert p.line == 5  # (languages:)


def test_a_tag_with_a_region_is_one(write_flow):
    text = HEAD.replace("  es: {name: Español}", "  pt_BR: {name: Português}\n  es-MX: {name: Es}")
    path = write_flow({}, text=text + "  start: {enqueue: {queue: sales}}\n")
    assert [p.message for p in validate_flow(path) if "language tag" in p.message] == []


KREYOL = "  ht: {name: Kreyol}\n"
KREYOL_HEAD = HEAD.replace("  es: {name: Español}\n", "  es: {name: Español}\n" + KREYOL)
WORDS_MENU = """\
  start:
    menu:
      prompt: menu
      choices:
        - {key: 1, words: words_sales, next: a}
        - {key: 2, words: words_help, next: b}
      default: a
  a: {enqueue: {queue: sales}}
  b: {enqueue: {queue: help}}
"""


def test_words_in_a_language_the_carrier_cannot_hear_are_refused_and_not_required(write_flow):
    """Haitian Creole has no speech recognition at the carrier: a words list in it would be
    heard as English, so it is a problem, named at its line in ht.yaml; without one, the
    flow is good (its callers press keys)."""
    ht = {**PROMPTS["es"], "menu": "Peze 1 pou vant, 2 pou èd.", "words_sales": "vant|achte"}
    del ht["words_help"]
    prompts = {"en": PROMPTS["en"], "es": PROMPTS["es"], "ht": ht}
    path = write_flow({}, text=KREYOL_HEAD + WORDS_MENU, prompts=prompts)
    p = only(validate_flow(path))
    assert p.file.endswith("prompts/ht.yaml")
    assert p.line is not None
    lines = Path(p.file).read_text(encoding="utf-8").splitlines()
    assert lines[p.line - 1].startswith("words_sales:")
    assert "recognises no speech in Kreyol:" in p.message
    assert "remove 'words_sales' from ht.yaml" in (p.hint or "")

    del ht["words_sales"]
    path = write_flow({}, text=KREYOL_HEAD + WORDS_MENU, prompts=prompts)
    assert validate_flow(path) == []
    # a language the carrier hears still needs its words
    es = {k: v for k, v in PROMPTS["es"].items() if k != "words_help"}
    path = write_flow({}, text=KREYOL_HEAD + WORDS_MENU, prompts={**prompts, "es": es})
    assert "no Español text for prompt 'words_help'" in only(validate_flow(path)).message


def test_a_choice_made_by_words_alone_needs_a_key_where_the_carrier_hears_none(write_flow):
    ht = {**PROMPTS["es"], "menu": "Peze 1 pou vant."}
    del ht["words_sales"], ht["words_help"]
    nodes = WORDS_MENU.replace("{key: 2, words: words_help", "{words: words_help")
    path = write_flow({}, text=KREYOL_HEAD + nodes, prompts={**PROMPTS, "ht": ht})
    p = only(validate_flow(path))
    assert "a choice with words and no key cannot be made in Kreyol" in p.message
    assert (p.file, p.line) == (str(path), 19)  # (the choice)
    assert p.hint == "give the choice a key too"
