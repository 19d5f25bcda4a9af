"""The IVR interpreter: a pure state machine, (flow, session, input) -> (actions, session).

No I/O and no clock: the telephony adapter, the terminal runner and the tests feed it the
caller's inputs and carry out the actions it returns. Nothing a caller does raises: unknown
digits and unsure speech re-prompt, retries end on the node's default route, and a flow
that runs away (`max_steps` nodes) sends the caller to the fallback queue rather than drop
them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from hotline.ivr.catalog import Value, fill
from hotline.ivr.checksums import DIGITS
from hotline.ivr.languages import callable_number, language_of, region_of, voice
from hotline.ivr.model import (
    BranchNode,
    CallbackNode,
    CollectNode,
    EnqueueNode,
    Flow,
    Gathering,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    SayNode,
    SetNode,
    TransferNode,
    VoicemailNode,
)

# -- inputs

LINE_MODES: Final = ("normal", "holiday", "emergency")  # what a flow's `mode` branch sees


@dataclass(frozen=True, slots=True)
class CallStarted:
    caller: str  # E.164
    called: str
    local_time: datetime  # the line's local time when the call arrived
    mode: str = "normal"  # one of LINE_MODES, set on the admin page
    waits: Mapping[str, float] = field(default_factory=dict)  # queue -> estimated wait (s)
    language: str | None = None  # a language chosen before the IVR (e.g. by the number)


@dataclass(frozen=True, slots=True)
class Digits:
    digits: str


@dataclass(frozen=True, slots=True)
class Speech:
    text: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Timeout:
    pass


@dataclass(frozen=True, slots=True)
class LookupResult:
    status: Literal["found", "not_found", "error", "locked"]
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Input = Digits | Speech | Timeout | LookupResult | HangUp


# -- actions


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str
    voice: str | None  # the carrier's voice (languages.VOICES); None: play rendered audio


@dataclass(frozen=True, slots=True)
class Play:
    url: str


@dataclass(frozen=True, slots=True)
class Gather:
    prompts: tuple[Say | Play, ...]
    dtmf: bool
    speech: bool
    num_digits: int | None  # stop after this many digits
    finish_on_key: str  # or at this key ("" for none)
    timeout: float
    language: str
    hints: tuple[str, ...] = ()
    secret: bool = False  # the digits must not be logged or shown


@dataclass(frozen=True, slots=True)
class Guard:
    """A look-up's lockout, filled in: the key's failures are counted across calls."""

    key: str
    failures: int
    window: float  # seconds


@dataclass(frozen=True, slots=True)
class Lookup:
    connector: str
    operation: str
    params: Mapping[str, str]
    secret_params: frozenset[str] = frozenset()
    guard: Guard | None = None

    def __repr__(self) -> str:
        shown = {k: "****" if k in self.secret_params else v for k, v in self.params.items()}
        guard = f", guard={self.guard!r}" if self.guard else ""
        return (f"Lookup(connector={self.connector!r}, operation={self.operation!r}, "
                f"params={shown}{guard})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Enqueue:
    queue: str
    priority: int
    language: str
    attributes: Mapping[str, str]
    callback: bool = False  # the caller hung up and is called back at `callback_number`
    callback_number: str | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    number: str


@dataclass(frozen=True, slots=True)
class Record:
    max_seconds: int
    purpose: str = "voicemail"


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Action = Say | Play | Gather | Lookup | Enqueue | Transfer | Record | Hangup
Outcome = Literal["enqueued", "callback", "transferred", "voicemail", "hung-up", "caller-hung-up"]


# -- the session


@dataclass(frozen=True, slots=True)
class Session:
    """Where one caller is in the flow. Immutable: each step returns a new one."""

    node: str | None  # None once the flow has ended
    waiting: Literal["input", "lookup", "nothing"]
    language: str
    vars: Mapping[str, str]
    secrets: frozenset[str]  # names of variables holding secrets (masked in repr)
    local_time: datetime
    waits: Mapping[str, float]
    attempts: int = 0  # failed tries at the current node
    phase: str = ""  # the language node's confirm/menu phase
    steps: int = 0  # nodes entered so far
    outcome: Outcome | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def __repr__(self) -> str:
        shown = {k: "****" if k in self.secrets else v for k, v in self.vars.items()}
        return (
            f"Session(node={self.node!r}, language={self.language!r}, vars={shown}, "
            f"attempts={self.attempts}, steps={self.steps}, outcome={self.outcome!r})"
        )


@dataclass(frozen=True, slots=True)
class Step:
    actions: tuple[Action, ...]
    session: Session


def start(flow: Flow, call: CallStarted) -> Step:
    """Begin a call: returns what to play first and the session to keep."""
    chosen = call.language if call.language in flow.languages else None
    detected = chosen or language_of(call.caller)
    if detected is not None and not flow.voiced(detected):
        detected = None
    # greet in the caller's likely language; the language node confirms or changes it
    language = chosen or detected or flow.default_language
    variables = {
        "caller": call.caller,
        "called": call.called,
        "caller_country": region_of(call.caller) or "",
        "mode": call.mode,
        "verification": "none",
        "detected_language": detected or "",
        "language": language,
    }
    session = Session(
        node=flow.start,
        waiting="nothing",
        language=language,
        vars=variables,
        secrets=frozenset(),
        local_time=call.local_time,
        waits=dict(call.waits),
    )
    if chosen is not None and not flow.voiced(chosen) and flow.interpreter:
        return _Run(flow, session).enter(flow.interpreter)
    return _Run(flow, session).enter(flow.start)


def advance(flow: Flow, session: Session, event: Input) -> Step:
    """Feed one input to a call in progress."""
    if session.ended or session.node is None:
        return Step((), session)
    if isinstance(event, HangUp):
        return Step((), replace(session, node=None, waiting="nothing", outcome="caller-hung-up"))
    run = _Run(flow, session)
    node = flow.nodes[session.node]
    if session.waiting == "lookup":
        if isinstance(event, LookupResult):
            return run.looked_up(node, event)
        if isinstance(event, Timeout):  # the connector did not answer in time
            return run.looked_up(node, LookupResult("error"))
        return Step((), session)  # keys pressed while we look up are ignored
    if session.waiting != "input" or isinstance(event, LookupResult):
        return Step((), session)
    return run.answer(node, event)


# -- the machinery


class _Run:
    """One step's work: the actions so far and the session being built."""

    def __init__(self, flow: Flow, session: Session) -> None:
        self.flow = flow
        self.s = session
        self.actions: list[Action] = []

    # - output helpers

    def say(self, prompt: str | None, **values: Value) -> Say | None:
        if prompt is None:
            return None
        return self._say_in(prompt, self.s.language, values)

    def _say_in(self, prompt: str, language: str, values: Mapping[str, Value]) -> Say | None:
        text = self.flow.catalog.render(prompt, language, self._values(values))
        if text is None:  # an interpreted language lacks this prompt: say nothing
            return None
        return Say(text, language, voice(language).carrier_voice)

    def _values(self, extra: Mapping[str, Value]) -> dict[str, Value]:
        public: dict[str, Value] = {k: v for k, v in self.s.vars.items() if k not in self.s.secrets}
        return public | dict(extra)

    def emit(self, *actions: Action | None) -> None:
        self.actions += [a for a in actions if a is not None]

    def done(self) -> Step:
        return Step(tuple(self.actions), self.s)

    def set(self, **changes: object) -> None:
        self.s = replace(self.s, **changes)  # type: ignore[arg-type]

    def var(self, name: str, value: str, *, secret: bool = False) -> None:
        secrets = self.s.secrets | {name} if secret else self.s.secrets - {name}
        self.set(vars={**self.s.vars, name: value}, secrets=secrets)

    def text_vars(self) -> dict[str, str]:
        return dict(self.s.vars)

    # - moving through nodes

    def enter(self, node_id: str) -> Step:
        """Run nodes from `node_id` until one waits for the caller or the flow ends."""
        while True:
            if self.s.steps >= self.flow.max_steps:
                return self.runaway()
            self.set(node=node_id, steps=self.s.steps + 1, attempts=0, phase="")
            node = self.flow.nodes[node_id]
            following = self.perform(node)
            if following is None:
                return self.done()
            node_id = following

    def perform(self, node: Node) -> str | None:
        """Do what a node does on entry; return the next node, or None to stop here."""
        if isinstance(node, SayNode):
            self.emit(self.say(node.prompt))
            return node.next
        if isinstance(node, PlayNode):
            self.emit(Play(node.url))
            return node.next
        if isinstance(node, SetNode):
            for name, value in node.values:
                keep = name in self.s.secrets  # a secret stays one (the validator forbids it)
                if isinstance(value, int):
                    self.var(name, str(_number(self.s.vars.get(name)) + value), secret=keep)
                else:
                    self.var(name, fill(value, self.text_vars()), secret=keep)
            return node.next
        if isinstance(node, BranchNode):
            for case in node.cases:
                if case.when.holds(self.s.vars, self.s.local_time):
                    return case.next
            return node.otherwise
        if isinstance(node, LookupNode):
            params = {k: fill(t, self.text_vars()) for k, t in node.params}
            secret = frozenset(
                k for k, t in node.params if any(f"{{{s}}}" in t for s in self.s.secrets)
            )
            lock = node.lockout
            guard = (Guard(fill(lock.key, self.text_vars()), lock.failures, lock.minutes * 60.0)
                     if lock else None)  # fmt: skip
            self.emit(Lookup(node.connector, node.operation, params, secret, guard))
            self.set(waiting="lookup")
            return None
        if isinstance(node, CallbackNode):
            queue = fill(node.queue, self.text_vars())
            wait = self.s.waits.get(queue, 0.0)
            callable_back = callable_number(self.s.vars["caller"])
            if math.isnan(wait) or wait < node.min_wait or not callable_back:
                self.var("callback", "no")
                return node.next
            self.ask_callback(node, wait)
            return None
        if isinstance(node, MenuNode | CollectNode | LanguageNode):
            self.ask(node)
            return None
        self.finish(node)
        return None

    def finish(self, node: EnqueueNode | TransferNode | VoicemailNode | HangupNode) -> None:
        self.set(waiting="nothing", node=None)
        if isinstance(node, EnqueueNode):
            queue = fill(node.queue, self.text_vars())
            if queue not in self.flow.queues:  # cannot happen in a validated flow
                queue = self.flow.fallback_queue
            self.enqueue(queue, node)
        elif isinstance(node, TransferNode):
            self.emit(self.say(node.prompt), Transfer(node.number))
            self.set(outcome="transferred")
        elif isinstance(node, VoicemailNode):
            self.emit(self.say(node.prompt), Record(node.max_seconds), Hangup())
            self.set(outcome="voicemail")
        else:
            self.emit(self.say(node.prompt), Hangup())
            self.set(outcome="hung-up")

    def enqueue(self, queue: str, node: EnqueueNode | None) -> None:
        values = self.text_vars()
        attributes = {k: fill(t, values) for k, t in node.attributes} if node else {}
        priority = node.priority if node else 0
        if self.s.vars.get("callback") == "yes":
            self.emit(
                self.say(node.callback_prompt if node else None),
                Enqueue(queue, priority, self.s.language, attributes, True, self.s.vars["caller"]),
                Hangup(),
            )
            self.set(outcome="callback")
        else:
            self.emit(
                self.say(node.prompt if node else None),
                Enqueue(queue, priority, self.s.language, attributes),
            )
            self.set(outcome="enqueued")

    def runaway(self) -> Step:
        """The flow went round too long: put the caller in the fallback queue."""
        self.set(waiting="nothing", node=None)
        self.enqueue(self.flow.fallback_queue, None)
        return self.done()

    # - asking the caller

    def ask(self, node: MenuNode | CollectNode | LanguageNode, retry: str | None = None) -> None:
        self.set(waiting="input")
        lead = self.say(retry) if retry else None
        if isinstance(node, MenuNode):
            words = tuple(
                w
                for c in node.choices
                if c.words
                for w in self.flow.catalog.words(c.words, self.s.language)
            )
            keys = [len(c.key) for c in node.choices if c.key]
            self.gather(
                (lead, self.say(node.prompt)),
                node.ask,
                num_digits=max(keys, default=1),
                speech=bool(words),
                hints=words,
            )
        elif isinstance(node, CollectNode):
            self.gather(
                (lead, self.say(node.prompt)),
                node.ask,
                num_digits=node.max_length,
                finish_on_key=node.finish_on_key,
                secret=node.secret,
            )
        elif self.s.phase == "" and node.detect and self.s.vars.get("detected_language"):
            self.set(phase="confirm")
            detected = self.s.vars["detected_language"]
            self.gather((self._say_in("language_confirm", detected, {}),), node.ask, 1)
        else:
            self.set(phase="menu")
            self.gather((lead, *self.language_options(node)), node.ask, _key_length(node))

    def language_options(self, node: LanguageNode) -> list[Say | None]:
        out = []
        for o in node.options:
            digit = {"digit": o.key}
            if o.language is None:
                voiced = self.flow.voiced(self.s.language)
                where = self.s.language if voiced else self.flow.default_language
                out.append(self._say_in("language_more", where, digit))
            elif self.flow.voiced(o.language):
                out.append(self._say_in("language_option", o.language, digit))
            else:
                name = self.flow.languages[o.language].name
                where = o.announce_in or self.s.language
                out.append(
                    self._say_in("language_option_named", where, {**digit, "language_name": name})
                )
        return out

    def ask_callback(self, node: CallbackNode, wait: float) -> None:
        self.set(waiting="input")
        prompt = self.say(node.prompt, wait=timedelta(seconds=min(wait, 86_400.0)))
        self.gather((prompt,), _CALLBACK_ASK, 1)

    def gather(
        self,
        prompts: tuple[Say | None, ...],
        ask: Gathering,
        num_digits: int | None,
        *,
        finish_on_key: str = "",
        speech: bool = False,
        hints: tuple[str, ...] = (),
        secret: bool = False,
    ) -> None:
        self.emit(
            Gather(
                tuple(p for p in prompts if p is not None),
                dtmf=True,
                speech=speech,
                num_digits=num_digits,
                finish_on_key=finish_on_key,
                timeout=ask.timeout,
                language=self.s.language,
                hints=hints,
                secret=secret,
            )
        )

    # - the caller answered

    def answer(self, node: Node, event: Input) -> Step:
        if isinstance(node, MenuNode):
            return self.menu_answer(node, event)
        if isinstance(node, LanguageNode):
            return self.language_answer(node, event)
        if isinstance(node, CollectNode):
            return self.collect_answer(node, event)
        if isinstance(node, CallbackNode):
            accepted = isinstance(event, Digits) and event.digits.rstrip("#") == node.key
            self.var("callback", "yes" if accepted else "no")
            return self.enter(node.next)
        return self.done()

    def retry(self, node: MenuNode | CollectNode | LanguageNode, heard: bool) -> str | None:
        """Count a failed try; re-ask and return None, or give up and return the route on."""
        attempts = self.s.attempts + 1
        if attempts > node.ask.retries:
            if isinstance(node, MenuNode):
                return node.default
            if isinstance(node, CollectNode):
                return node.failed
            return node.next
        # a language node re-asks with its full menu, never the confirmation again
        self.set(attempts=attempts, phase="menu" if isinstance(node, LanguageNode) else "")
        self.ask(node, node.ask.invalid_prompt if heard else node.ask.no_input_prompt)
        return None

    def menu_answer(self, node: MenuNode, event: Input) -> Step:
        choice = None
        if isinstance(event, Digits):
            key = event.digits.rstrip("#")
            choice = next((c for c in node.choices if c.key == key), None)
        elif isinstance(event, Speech) and event.confidence >= self.flow.min_confidence:
            said = event.text.casefold()
            choice = next(
                (
                    c
                    for c in node.choices
                    if c.words
                    and any(
                        _said(w, said) for w in self.flow.catalog.words(c.words, self.s.language)
                    )
                ),
                None,
            )
        if choice is not None:
            return self.enter(choice.next)
        on = self.retry(node, heard=not isinstance(event, Timeout))
        return self.enter(on) if on else self.done()

    def language_answer(self, node: LanguageNode, event: Input) -> Step:
        if self.s.phase == "confirm":
            key = event.digits.rstrip("#") if isinstance(event, Digits) else None
            if isinstance(event, Timeout) or key == "1":
                return self.choose(node, self.s.vars["detected_language"])
            self.ask(node)  # anything else: the full menu
            return self.done()
        if isinstance(event, Digits):
            key = event.digits.rstrip("#")
            option = next((o for o in node.options if o.key == key), None)
            if option is not None and option.language:
                return self.choose(node, option.language)
            if option is not None and option.next:
                return self.enter(option.next)
        on = self.retry(node, heard=not isinstance(event, Timeout))
        if on is None:
            return self.done()
        # no choice made: the region's language if we know it, else the one we started in
        return self.choose(node, self.s.vars.get("detected_language") or self.s.language, on)

    def choose(self, node: LanguageNode, language: str, on: str | None = None) -> Step:
        self.set(language=language)
        self.var("language", language)
        if not self.flow.voiced(language) and self.flow.interpreter:
            return self.enter(self.flow.interpreter)
        return self.enter(on or node.next)

    def collect_answer(self, node: CollectNode, event: Input) -> Step:
        if isinstance(event, Digits):
            digits = event.digits
            if node.finish_on_key:
                digits = digits.split(node.finish_on_key)[0]
            if _valid(node, digits):
                self.var(node.var, digits, secret=node.secret)
                return self.enter(node.next)
        on = self.retry(node, heard=not isinstance(event, Timeout))
        return self.enter(on) if on else self.done()

    def looked_up(self, node: Node, result: LookupResult) -> Step:
        if not isinstance(node, LookupNode):
            return self.done()
        self.set(waiting="nothing")
        # a secret is used once: the look-up that needed it has it now
        used = {s for s in self.s.secrets if any(f"{{{s}}}" in t for _, t in node.params)}
        if used:
            self.set(
                vars={k: v for k, v in self.s.vars.items() if k not in used},
                secrets=self.s.secrets - used,
            )
        if result.status == "found":
            if node.save:  # only the fields the flow keeps: the rest never reach the call
                for k in node.keep:
                    if k in result.data:
                        self.var(f"{node.save}.{k}", str(result.data[k]))
            return self.enter(node.next)
        if result.status == "locked":
            return self.enter(node.locked or node.not_found)
        return self.enter(node.not_found if result.status == "not_found" else node.error)


_CALLBACK_ASK = Gathering(timeout=6.0, retries=0, invalid_prompt=None, no_input_prompt=None)


def _key_length(node: LanguageNode) -> int:
    return max((len(o.key) for o in node.options), default=1)


def _said(word: str, text: str) -> bool:
    """A word or phrase of the list occurs in what was said (whole words for Latin text)."""
    if word.isascii():
        return f" {word} " in f" {''.join(c if c.isalnum() else ' ' for c in text)} "
    return word in text


def _number(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _valid(node: CollectNode, digits: str) -> bool:
    if not node.min_length <= len(digits) <= node.max_length:
        return False
    if not DIGITS.fullmatch(digits):
        return False
    if node.pattern and re.fullmatch(node.pattern, digits) is None:
        return False
    return node.checksum is None or node.checksum(digits)
