"""IVR actions and hold prompts as TwiML, built with the `twilio` library's VoiceResponse."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import VoiceResponse

from hotline.ivr.interpreter import (
    Action,
    Enqueue,
    Gather,
    Hangup,
    Lookup,
    Play,
    Record,
    Say,
    Transfer,
)
from hotline.ivr.languages import hears, voice


def _say(parent: VoiceResponse, s: Say | Play) -> None:
    if isinstance(s, Play):
        parent.play(s.url)
        return
    v = voice(s.language)
    kwargs = {}
    if v.carrier_language:
        kwargs["language"] = v.carrier_language
    if s.voice:
        kwargs["voice"] = s.voice
    parent.say(s.text, **kwargs)


def ivr_twiml(
    actions: Sequence[Action],
    *,
    gather_url: str,
    timeout_url: str,
    wait_url: str,
    voicemail_url: str,
) -> str:
    """The TwiML for one IVR step. A Gather that hears nothing falls through to a Redirect
    to `timeout_url` (the same step, told it timed out), as the carrier does not call the
    action then."""
    r = VoiceResponse()
    for a in actions:
        if isinstance(a, Say | Play):
            _say(r, a)
        elif isinstance(a, Gather):
            heard = a.speech and hears(a.language)  # (not where the carrier has no voice)
            inputs = "dtmf speech" if heard else "dtmf"
            kwargs: dict[str, object] = {
                "action": gather_url,
                "method": "POST",
                "input": inputs,
                "timeout": int(a.timeout),
                "action_on_empty_result": False,
            }
            if a.num_digits:
                kwargs["num_digits"] = a.num_digits
            if a.finish_on_key:
                kwargs["finish_on_key"] = a.finish_on_key
            if heard:
                kwargs["language"] = voice(a.language).carrier_language or "en-US"
                kwargs["hints"] = ", ".join(a.hints)
            g = r.gather(**kwargs)
            for p in a.prompts:
                _say(g, p)
            r.redirect(timeout_url, method="POST")
        elif isinstance(a, Enqueue):
            if not a.callback:
                r.redirect(wait_url, method="POST")
        elif isinstance(a, Transfer):
            r.dial(a.number)
        elif isinstance(a, Record):
            r.record(max_length=a.max_seconds, action=voicemail_url, method="POST", play_beep=True)
        elif isinstance(a, Hangup):
            r.hangup()
        elif isinstance(a, Lookup):  # resolved by the line before TwiML is built
            raise ValueError("a look-up cannot be sent to the carrier")
    return str(r)


def looking_up_twiml(actions: Sequence[Action], *, continue_url: str, pause: int = 1) -> str:
    """While a record look-up runs: what the flow said before it, a short pause, then the
    caller's next request, which hears the answer (or this again while it runs)."""
    r = VoiceResponse()
    for a in actions:
        if isinstance(a, Say | Play):
            _say(r, a)
        else:  # a look-up ends its step: nothing else comes before it
            raise ValueError(f"{type(a).__name__} before a look-up")
    r.pause(length=pause)
    r.redirect(continue_url, method="POST")
    return str(r)


def hold_twiml(
    prompts: Sequence[Say | Play], *, wait_url: str, pause: int, gather_url: str | None = None
) -> str:
    """While queued: where the caller stands, a pause, and back to the wait URL. With
    `gather_url`, the prompts are said in a one-key Gather (the callback offer)."""
    r = VoiceResponse()
    parent = (
        r.gather(action=gather_url, method="POST", num_digits=1, timeout=5) if gather_url else r
    )
    for p in prompts:
        _say(parent, p)
    r.pause(length=pause)
    r.redirect(wait_url, method="POST")
    return str(r)


def conference_twiml(name: str, *, done_url: str | None) -> str:
    """The caller joins their call's conference `name` (the agent is dialled into it);
    they hear nothing until someone joins, and the conference ends when they leave.
    `done_url` hears if it ends while the caller is still on the line (None: their call
    ends with it, as a caller called back does)."""
    r = VoiceResponse()
    d = r.dial(action=done_url, method="POST") if done_url else r.dial()
    d.conference(
        name, participant_label="caller", end_conference_on_exit=True, beep=False,
        start_conference_on_enter=True, wait_url="",
    )  # fmt: skip
    return str(r)


def redirect_twiml(url: str) -> str:
    r = VoiceResponse()
    r.redirect(url, method="POST")
    return str(r)


def message_twiml(text: str, *, language: str = "en", hang_up: bool = True) -> str:
    r = VoiceResponse()
    _say(r, Say(text, language, voice(language).carrier_voice))
    if hang_up:
        r.hangup()
    return str(r)
