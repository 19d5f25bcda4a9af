"""What a flow means, checked before it may run: every reference resolves, every node is
reachable and can end the call, every declared language has every prompt, menus are
unambiguous, and secrets (PINs) never reach a log, a prompt or the router."""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Collection, Iterable

from hotline.errors import Problem
from hotline.ivr.catalog import placeholders
from hotline.ivr.flow_file import RETURN, Built, Origin
from hotline.ivr.languages import hears
from hotline.ivr.model import (
    TERMINAL,
    AllOf,
    AnyOf,
    BranchNode,
    CallbackNode,
    CollectNode,
    Condition,
    EnqueueNode,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    Not,
    SayNode,
    SetNode,
    TransferNode,
    VarTest,
    VoicemailNode,
    successors,
)
from hotline.yamlfile import Loc

BUILTIN_VARS = frozenset(
    {"caller", "called", "caller_country", "mode", "verification", "detected_language",
     "language", "callback"}
)  # fmt: skip
SECRET_NAME = re.compile(r"(^|_)(pin|passcode|password|passwd|pwd|secret)(_|$)", re.IGNORECASE)


def check_flow(
    b: Built, line_queues: Collection[str] | None = None, desk_connectors: Collection[str] = ()
) -> list[Problem]:
    out: list[Problem] = []
    out += [
        b.origin.problem(
            f"the connector {name!r} serves the agents' record look-ups, under the "
            "disclosure policy: a flow cannot use it",
            at=("connectors", i),
            hint="give the IVR a connector of its own (connectors.yaml's `records:` names "
            "the desk's)",
        )
        for i, name in enumerate(b.model.connectors)
        if name in desk_connectors
    ]
    out += _settings(b)
    if line_queues is not None:
        out += [
            b.origin.problem(
                f"the line has no queue {q!r}",
                at=("queues", i),
                hint=_suggest(q, line_queues) or "add the queue to the line or remove it here",
            )
            for i, q in enumerate(b.model.queues)
            if q not in line_queues
        ]
    out += _references(b)
    out += _graph(b)
    out += _menus(b)
    out += _queues_and_connectors(b)
    out += _prompts(b)
    out += _variables(b)
    # a sub-flow used twice would report the same line twice
    seen: set[str] = set()
    unique = []
    for p in out:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return unique


def _short(nid: str) -> str:
    return nid.rsplit("/", 1)[-1]


def _suggest(name: str, known: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def _settings(b: Built) -> list[Problem]:
    m, top, out = b.model, b.origin, []

    def one_of(setting: str, value: str | None, known: Collection[str], what: str) -> None:
        if value is not None and value not in known:
            out.append(top.problem(f"{what} {value!r}", at=(setting,), hint=_suggest(value, known)))

    one_of("default_language", m.default_language, m.languages, "undeclared language")
    one_of("fallback_queue", m.fallback_queue, m.queues, "not one of `queues`:")
    one_of("start", m.start, b.nodes, "no node named")
    one_of("interpreter", m.interpreter, b.nodes, "no node named")
    default = m.languages.get(m.default_language)
    if default is not None and default.interpreted:
        out.append(
            top.problem("the default language must have full prompt text", at=("default_language",))
        )
    interpreted = [t for t, d in m.languages.items() if d.interpreted]
    if interpreted and m.interpreter is None:
        out.append(
            top.problem(
                f"languages {', '.join(interpreted)} are interpreted but no `interpreter` node "
                "is set",
                at=("languages",),
                hint="name the node that sends these callers to an interpreter",
            )
        )
    for i, q in enumerate(m.queues):
        if m.queues.index(q) != i:
            out.append(top.problem(f"queue {q!r} is listed twice", at=("queues", i)))
    return out


def _references(b: Built) -> list[Problem]:
    out = []
    for nid, node in b.nodes.items():
        prefix = nid[: -len(_short(nid))]
        for ref in successors(node):
            if ref not in b.nodes:
                written = ref.removeprefix(prefix)
                hint: str | None
                if written == RETURN:
                    hint = "`return` only ends a sub-flow; use a node name here"
                else:
                    hint = _suggest(
                        written, [k.removeprefix(prefix) for k in b.nodes if k.startswith(prefix)]
                    )
                out.append(b.origins[nid].problem(f"no node named {written!r}", hint=hint))
    return out


def _graph(b: Built) -> list[Problem]:
    """Unreachable nodes, and nodes from which no path ends the call."""
    if b.broken:  # a node we could not read hides its links: no false alarms
        return []
    nodes = b.nodes
    roots = [r for r in (b.model.start, b.model.interpreter) if r and r in nodes]
    reachable = _walk(roots, lambda n: [s for s in successors(nodes[n]) if s in nodes])
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for n, node in nodes.items():
        for s in successors(node):
            if s in preds:
                preds[s].append(n)
    ends = _walk([n for n, node in nodes.items() if isinstance(node, TERMINAL)], lambda n: preds[n])
    out = []
    for nid in nodes:
        if nid not in reachable:
            out.append(
                b.origins[nid].problem(
                    "no path leads to this node", hint="link it from another node or delete it"
                )
            )
        elif nid not in ends:
            out.append(
                b.origins[nid].problem(
                    "no path from this node ever ends the call (a loop with no way out)",
                    hint="give the loop an exit to enqueue, transfer, voicemail or hangup",
                )
            )
    return out


def _walk(roots: list[str], step: object) -> set[str]:
    assert callable(step)
    seen, todo = set(roots), deque(roots)
    while todo:
        for n in step(todo.popleft()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def _menus(b: Built) -> list[Problem]:
    out = []
    langs = b.model.languages
    for nid, node in b.nodes.items():
        o = b.origins[nid]
        if isinstance(node, MenuNode):
            keys = [c.key for c in node.choices if c.key is not None]
            for k in sorted({k for k in keys if keys.count(k) > 1}):
                out.append(
                    o.problem(
                        f"key {k!r} is used by two choices",
                        at=("menu", "choices"),
                        hint="give each choice its own key",
                    )
                )
            unheard = [langs[t].name for t in langs if not langs[t].interpreted and not hears(t)]
            for i, c in enumerate(node.choices):
                if c.key is None and c.words is None:
                    out.append(
                        o.problem("a choice needs a key, words, or both", at=("menu", "choices", i))
                    )
                elif c.key is None and unheard:
                    out.append(
                        o.problem(
                            f"a choice with words and no key cannot be made in "
                            f"{', '.join(unheard)}: the carrier recognises no speech in it",
                            at=("menu", "choices", i),
                            hint="give the choice a key too",
                        )
                    )
                if c.key is not None and not re.fullmatch(r"[0-9*]{1,4}", c.key):
                    out.append(
                        o.problem(
                            f"key {c.key!r} cannot be pressed on a phone",
                            at=("menu", "choices", i, "key"),
                            hint="digits, * or #",
                        )
                    )
            for tag in langs:
                said: dict[str, str] = {}
                for c in node.choices:
                    if (
                        c.words
                        and not hears(tag)
                        and b_words(b, c.words, tag)
                        and (tag in b.text_origins)
                    ):
                        out.append(
                            b.text_origins[tag].problem(
                                f"the carrier recognises no speech in {langs[tag].name}: "
                                f"the words of {c.words!r} would be heard as another "
                                "language's",
                                at=(c.words,),
                                hint=f"remove {c.words!r} from {tag}.yaml (its callers press "
                                f"keys) and name only keys in its prompt {node.prompt!r}",
                            )
                        )
                        continue
                    for w in b_words(b, c.words, tag):
                        if w in said and said[w] != c.next:
                            out.append(
                                o.problem(
                                    f"the word {w!r} ({tag}) is in two choices",
                                    at=("menu", "choices"),
                                    hint=f"remove it from one of the {tag} word lists",
                                )
                            )
                        said[w] = c.next
        elif isinstance(node, LanguageNode):
            keys = [x.key for x in node.options]
            for k in sorted({k for k in keys if keys.count(k) > 1}):
                out.append(
                    o.problem(f"key {k!r} is used by two options", at=("language", "options"))
                )
            for i, x in enumerate(node.options):
                at = ("language", "options", i)
                if not re.fullmatch(r"[0-9*]{1,4}", x.key):
                    out.append(o.problem(f"key {x.key!r} cannot be pressed", at=(*at, "key")))
                if (x.language is None) == (x.next is None):
                    out.append(
                        o.problem(
                            "an option sets a `language` or goes `next` to another menu", at=at
                        )
                    )
                if x.language is not None and x.language not in langs:
                    out.append(
                        o.problem(
                            f"language {x.language!r} is not declared",
                            at=(*at, "language"),
                            hint=_suggest(x.language, langs),
                        )
                    )
                if x.announce_in is not None and (
                    x.announce_in not in langs or langs[x.announce_in].interpreted
                ):
                    out.append(
                        o.problem(
                            f"cannot announce in {x.announce_in!r}: "
                            "not a declared language with prompts",
                            at=(*at, "announce_in"),
                        )
                    )
        elif isinstance(node, CollectNode) and not node.secret and SECRET_NAME.search(node.var):
            out.append(
                o.problem(
                    f"{node.var!r} looks like a secret but would be logged and shown as typed",
                    at=("collect", "var"),
                    hint="add `secret: true` to the collect node",
                )
            )
    return out


def b_words(b: Built, prompt: str | None, language: str) -> list[str]:
    if prompt is None:
        return []
    return [
        w.strip().casefold()
        for w in b.texts.get(language, {}).get(prompt, "").split("|")
        if w.strip()
    ]


def _expand(template: str, languages: Iterable[str]) -> list[str]:
    return (
        [template.replace("{language}", t) for t in languages]
        if "{language}" in template
        else [template]
    )


def _queues_and_connectors(b: Built) -> list[Problem]:
    out = []
    queues, langs = set(b.model.queues), list(b.model.languages)
    for nid, node in b.nodes.items():
        o = b.origins[nid]
        if isinstance(node, EnqueueNode | CallbackNode):
            at = (
                ("enqueue", "queue")
                if isinstance(node, EnqueueNode)
                else ("offer_callback", "queue")
            )
            others = placeholders(node.queue) - {"language"}
            if others:
                out.append(
                    o.problem(
                        f"a queue name may only use {{language}}, not {{{sorted(others)[0]}}}",
                        at=at,
                    )
                )
                continue
            missing = [q for q in _expand(node.queue, langs) if q not in queues]
            if missing:
                out.append(
                    o.problem(
                        f"unknown queue {', '.join(repr(q) for q in missing)}",
                        at=at,
                        hint=_suggest(missing[0], queues)
                        or "add it to `queues:` (and to the line's queues)",
                    )
                )
        if isinstance(node, LookupNode) and node.connector not in b.model.connectors:
            out.append(
                o.problem(
                    f"unknown connector {node.connector!r}",
                    at=("lookup", "connector"),
                    hint=_suggest(node.connector, b.model.connectors)
                    or "declare it under `connectors:`",
                )
            )
        if isinstance(node, LookupNode) and bool(node.save) != bool(node.keep):
            out.append(
                o.problem(
                    "`save:` names where the fields go and `keep:` which fields: give both"
                    if node.save
                    else "`keep:` without `save:` keeps nothing",
                    at=("lookup", "save" if node.save else "keep"),
                    hint="add `keep: [name, kind]`: only the fields named reach the call"
                    if node.save
                    else "add `save: NAME` (the fields become {NAME.field})",
                )
            )
        if isinstance(node, LookupNode) and node.lockout and not placeholders(node.lockout.key):
            out.append(
                o.problem(
                    "a lockout's key names no variable: every caller would share one count",
                    at=("lookup", "lockout", "key"),
                    hint='key it by what the caller gave, e.g. key: "{agency_id}"',
                )
            )
        if isinstance(node, LookupNode) and node.locked and node.lockout is None:
            out.append(
                o.problem(
                    "`locked:` leads nowhere without a lockout",
                    at=("locked",),
                    hint="add `lockout: {key: ..., failures: ..., minutes: ...}` to the lookup,"
                    " or remove `locked:`",
                )
            )
    return out


def _used_prompts(node: Node) -> list[tuple[str, Loc]]:
    """(prompt id, where in the node) for every prompt a node may play."""
    if isinstance(node, SayNode):
        return [(node.prompt, ("say",))]
    if isinstance(node, MenuNode):
        out: list[tuple[str, Loc]] = [(node.prompt, ("menu", "prompt"))]
        out += [
            (c.words, ("menu", "choices", i, "words"))
            for i, c in enumerate(node.choices)
            if c.words
        ]
        return out + _retry_prompts(node.ask, "menu")
    if isinstance(node, CollectNode):
        return [(node.prompt, ("collect", "prompt")), *_retry_prompts(node.ask, "collect")]
    if isinstance(node, LanguageNode):
        asked: list[tuple[str, Loc]] = (
            [("language_confirm", ("language", "detect"))] if node.detect else []
        )
        if any(x.next for x in node.options):
            asked.append(("language_more", ("language", "options")))
        return asked + _retry_prompts(node.ask, "language")
    if isinstance(node, CallbackNode):
        return [(node.prompt, ("offer_callback", "prompt"))]
    if isinstance(node, EnqueueNode):
        return [
            (p, ("enqueue", k))
            for k, p in (("prompt", node.prompt), ("callback_prompt", node.callback_prompt))
            if p
        ]
    if isinstance(node, TransferNode | VoicemailNode):
        kind = "transfer" if isinstance(node, TransferNode) else "voicemail"
        return [(node.prompt, (kind, "prompt"))] if node.prompt else []
    if isinstance(node, HangupNode):
        return [(node.prompt, ("hangup",))] if node.prompt else []
    return []


def _retry_prompts(ask: object, kind: str) -> list[tuple[str, Loc]]:
    from hotline.ivr.model import Gathering

    assert isinstance(ask, Gathering)
    return [
        (p, (kind, k))
        for k, p in (("invalid", ask.invalid_prompt), ("no_input", ask.no_input_prompt))
        if p
    ]


def _prompts(b: Built) -> list[Problem]:
    out: list[Problem] = []
    langs = b.model.languages
    default = b.model.default_language
    voiced = [t for t, d in langs.items() if not d.interpreted]
    uses: dict[str, tuple[Origin, Loc]] = {}
    words: set[str] = set()  # (a language the carrier does not hear has none: `_menus`)
    for nid, node in b.nodes.items():
        for prompt, at in _used_prompts(node):
            uses.setdefault(prompt, (b.origins[nid], at))
            if at[-1] == "words":
                words.add(prompt)
        if isinstance(node, LanguageNode):
            for x in node.options:
                if x.language in langs and not langs[x.language].interpreted:
                    uses.setdefault("language_option", (b.origins[nid], ("language", "options")))
                elif x.language in langs:
                    uses.setdefault(
                        "language_option_named", (b.origins[nid], ("language", "options"))
                    )
    known = set().union(*(b.texts.get(t, {}) for t in langs))
    for prompt, (o, at) in uses.items():
        if prompt not in known:
            out.append(
                o.problem(
                    f"no prompt named {prompt!r} in any catalog",
                    at=at,
                    hint=_suggest(prompt, known) or f"add {prompt!r} to the catalogs",
                )
            )
            continue
        for tag in voiced:
            if prompt in words and not hears(tag):
                continue
            if tag in b.texts and prompt not in b.texts[tag] and (tag in b.text_origins):
                where = o.problem("", at=at)
                out.append(
                    b.text_origins[tag].problem(
                        f"no {langs[tag].name} text for prompt {prompt!r} "
                        f"(used at {where.file}:{where.line})",
                        hint=f"translate it into {tag}.yaml, or mark {tag} `interpreted: true`",
                    )
                )
    # every language's text uses the same placeholders as the default language's
    base = b.texts.get(default, {})
    for tag, texts in b.texts.items():
        if tag == default or tag not in b.text_origins:
            continue
        for prompt, text in texts.items():
            if prompt in base and placeholders(text) != placeholders(base[prompt]):
                want = ", ".join(sorted(f"{{{p}}}" for p in placeholders(base[prompt]))) or "none"
                out.append(
                    b.text_origins[tag].problem(
                        f"prompt {prompt!r} has placeholders {sorted(placeholders(text))} "
                        f"but {default} has {want}",
                        at=(prompt,),
                        hint="use the same {placeholders} as the default language",
                    )
                )
    return out


def _variables(b: Built) -> list[Problem]:
    """Conditions and templates name variables that exist; secrets go nowhere but look-ups."""
    out: list[Problem] = []
    known, secrets = set(BUILTIN_VARS), set()
    for node in b.nodes.values():
        if isinstance(node, CollectNode):
            known.add(node.var)
            if node.secret:
                secrets.add(node.var)
        elif isinstance(node, SetNode):
            known |= {k for k, _ in node.values}
        elif isinstance(node, LookupNode) and node.save:
            known |= {f"{node.save}.{k}" for k in node.keep}

    def unknown(name: str) -> bool:
        return name not in known

    for nid, node in b.nodes.items():
        o = b.origins[nid]
        templates: list[tuple[str, Loc]] = []
        if isinstance(node, SetNode):
            templates += [(v, ("set", k)) for k, v in node.values if isinstance(v, str)]
            out += [
                o.problem(f"the secret {k!r} cannot be set", at=("set", k), hint="use another name")
                for k, _ in node.values
                if k in secrets
            ]
        elif isinstance(node, EnqueueNode):
            templates += [(v, ("enqueue", "attributes", k)) for k, v in node.attributes]
        elif isinstance(node, LookupNode):
            if node.lockout:
                templates.append((node.lockout.key, ("lookup", "lockout", "key")))
            for k, v in node.params:
                for name in placeholders(v):
                    if unknown(name):
                        out.append(
                            o.problem(
                                f"no node sets {{{name}}}",
                                at=("lookup", "params", k),
                                hint=_suggest(name, known),
                            )
                        )
        elif isinstance(node, BranchNode):
            for i, case in enumerate(node.cases):
                for name in _condition_vars(case.when):
                    if unknown(name):
                        out.append(
                            o.problem(
                                f"no node sets the variable {name!r}",
                                at=("branch", i, "when"),
                                hint=_suggest(name, known),
                            )
                        )
        for text, at in templates:
            for name in placeholders(text):
                if name in secrets:
                    out.append(
                        o.problem(
                            f"the secret {{{name}}} would be stored or shown here",
                            at=at,
                            hint="secrets may only be passed to a lookup",
                        )
                    )
                elif unknown(name):
                    out.append(
                        o.problem(f"no node sets {{{name}}}", at=at, hint=_suggest(name, known))
                    )
    for tag, texts in b.texts.items():
        for prompt, text in texts.items():
            for name in placeholders(text) & secrets:
                out.append(
                    b.text_origins[tag].problem(
                        f"prompt {prompt!r} would speak the secret {{{name}}}",
                        at=(prompt,),
                        hint="never read a PIN back to the caller",
                    )
                )
    return out


def _condition_vars(c: Condition) -> list[str]:
    if isinstance(c, VarTest):
        return [c.var]
    if isinstance(c, AllOf | AnyOf):
        return [v for p in c.parts for v in _condition_vars(p)]
    if isinstance(c, Not):
        return _condition_vars(c.part)
    return []
