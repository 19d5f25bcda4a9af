"""`hotline flow run`: a flow played in the terminal. Prompts are printed (and rendered to
audio files on request); keys and speech come from `--input` or the keyboard; look-ups go to
the connectors given on the command line. The same interpreter serves the live line."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from hotline.ivr.interpreter import (
    Action,
    CallStarted,
    Digits,
    Enqueue,
    Gather,
    HangUp,
    Hangup,
    Input,
    Lookup,
    LookupResult,
    Play,
    Record,
    Say,
    Session,
    Speech,
    Step,
    Timeout,
    Transfer,
    advance,
    start,
)
from hotline.ivr.model import Flow
from hotline.records.port import IVR, Connector, LookupRequest
from hotline.telephony.speech import EspeakSpeech, SpeechUnavailable

CONSOLE_CALL = "console"  # the call sid of a flow played in the terminal


def parse_inputs(text: str) -> list[str]:
    """`1,2,"1234#"` -> ["1", "2", "1234#"] (quotes allow commas inside speech)."""
    return next(csv.reader([text], skipinitialspace=True), [])


def to_input(token: str) -> Input:
    """One token typed by a tester: keys (`1`, `1234#`), nothing / `timeout` (silence),
    `hangup`, or anything else as speech (`agency`, `agency@0.3` for low confidence)."""
    t = token.strip()
    if t in ("", "timeout", "t"):
        return Timeout()
    if t == "hangup":
        return HangUp()
    if all(c in "0123456789*#" for c in t):
        return Digits(t)
    text, sep, conf = t.rpartition("@")
    if sep:
        try:
            return Speech(text, max(0.0, min(1.0, float(conf))))
        except ValueError:
            pass
    return Speech(t, 1.0)


@dataclass
class Transcript:
    session: Session
    actions: list[Action]


class FlowConsole:
    def __init__(
        self,
        *,
        flow: Flow,
        connectors: Mapping[str, Connector],
        out: Console,
        speech: EspeakSpeech | None = None,
    ) -> None:
        self.flow = flow
        self.connectors = connectors
        self.out = out
        self.speech = speech

    def run(self, call: CallStarted, next_input: Callable[[Gather], str | None]) -> Transcript:
        """Play the call to its end; `next_input` returns the caller's next token (None: they
        hang up)."""
        step = start(self.flow, call)
        actions: list[Action] = []
        while True:
            actions += step.actions
            pending = self.show(step)
            if step.session.ended:
                return Transcript(step.session, actions)
            if isinstance(pending, Lookup):
                result = self.look_up(pending)
                step = advance(self.flow, step.session, result)
                continue
            if not isinstance(pending, Gather):  # cannot happen: a live flow always asks
                step = advance(self.flow, step.session, HangUp())
                continue
            token = next_input(pending)
            if token is None:
                self.out.print("[dim]caller hangs up[/dim]")
                step = advance(self.flow, step.session, HangUp())
                continue
            shown = "****" if pending.secret and token.strip() not in ("", "timeout") else token
            self.out.print(f"[bold cyan]caller>[/bold cyan] {escape(shown) or '(silence)'}")
            step = advance(self.flow, step.session, to_input(token))

    def look_up(self, action: Lookup) -> LookupResult:
        connector = self.connectors.get(action.connector)
        if connector is None:
            self.out.print(
                escape(
                    f"no connector {action.connector!r} given (--connector "
                    f"{action.connector}=FILE); the look-up fails"
                ),
                style="yellow",
            )
            return LookupResult("error")
        request = LookupRequest(action.operation, action.params, IVR, "", CONSOLE_CALL)
        result = connector.lookup(request)
        self.out.print(f"  [dim]look-up result:[/dim] {result.status}")
        return result

    def show(self, step: Step) -> Action | None:
        """Print the actions; return the one the call now waits on (gather or look-up)."""
        pending: Action | None = None
        for a in step.actions:
            if isinstance(a, Gather):
                for p in a.prompts:
                    self.say(p)
                n = a.num_digits or 0
                how: list[str] = [f"up to {n} keys" if n > 1 else "a key"]
                if a.finish_on_key:
                    how.append(f"ending with {a.finish_on_key}")
                if a.speech:
                    how.append("or speech (" + ", ".join(a.hints[:6]) + ")")
                secret = " [red](secret: not shown or logged)[/red]" if a.secret else ""
                self.out.print(f"  [dim]waits {a.timeout:g} s for {' '.join(how)}[/dim]{secret}")
                pending = a
            elif isinstance(a, Say | Play):
                self.say(a)
            elif isinstance(a, Lookup):
                self.out.print(f"  [magenta]look-up[/magenta] {escape(repr(a))}")
                pending = a
            elif isinstance(a, Enqueue):
                attrs = ", ".join(f"{k}={v}" for k, v in a.attributes.items())
                waiting = escape(
                    f"callback to {a.callback_number}" if a.callback else "waiting on the line"
                )
                self.out.print(
                    f"[bold green]queued[/bold green] in [bold]{escape(a.queue)}[/bold], priority "
                    f"{a.priority}, language {escape(a.language)}, {waiting}"
                    + (f" [dim]({escape(attrs)})[/dim]" if attrs else "")
                )
            elif isinstance(a, Transfer):
                self.out.print(f"[bold green]transferred[/bold green] to {a.number}")
            elif isinstance(a, Record):
                self.out.print(f"[bold green]voicemail[/bold green] (up to {a.max_seconds} s)")
            elif isinstance(a, Hangup):
                self.out.print("[bold]hang up[/bold]")
        return pending

    def say(self, a: Say | Play) -> None:
        if isinstance(a, Play):
            self.out.print(f"[blue]plays[/blue] {escape(a.url)}")
            return
        line = f"[blue]{escape(a.language)}>[/blue] {escape(a.text)}"
        if self.speech is not None:
            try:
                line += f"  [dim]({self.speech.render(a.text, a.language)})[/dim]"
            except SpeechUnavailable as e:
                line += f"  [dim](no audio: {escape(e.message)})[/dim]"
        self.out.print(line)


def scripted(tokens: list[str]) -> Callable[[Gather], str | None]:
    """Inputs from a list; when it runs out the caller stays on the line, silent."""
    it: Iterator[str] = iter(tokens)
    return lambda _gather: next(it, "timeout")
