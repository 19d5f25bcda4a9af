"""A live line's prompts in the languages the carrier has no voice for, spoken by
espeak-ng (`telephony.speech`) and played: the carrier fetches each from a URL of the
line's (`web.voice`, `/voice/audio`)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from hotline.errors import HotlineError, SealedValueUnreadable, SettingsInvalid
from hotline.ivr.languages import voice
from hotline.service.sealing import SEALED, Keyring
from hotline.telephony.speech import EspeakSpeech, SpeechUnavailable

log = logging.getLogger("hotline.speech")


class PromptAudioUnknown(HotlineError):
    error_id = "no-such-audio"


KEPT_BYTES = 32 * 1024 * 1024  # the rendered audio kept in memory (about 12 minutes)
SEALED_AS = "prompt-audio"  # the column a prompt's sealed text is bound to (with its call)
TOKEN_LIFE = 3600.0  # seconds a token plays after it was made (either way: nodes' clocks)
TOKEN_MAX = 4000  # characters of a token, at most (a longer prompt is said, not played)
# a fetch waits this long at most for its render (a follower's forward waits 10 s; a
# carrier that waits no more skips the prompt), each render takes at most RENDER_WITHIN,
# and at most RENDERS_AT_MOST prompts are rendered or waiting at once (others: busy)
RENDER_WAIT = 6.0
RENDER_WITHIN = 5.0
RENDERS_AT_MOST = 8

Run = Callable[..., Awaitable[bytes]]  # runs a blocking render off the event loop


class PromptAudio:
    """A live line's prompts in the languages the carrier has no voice for and espeak-ng
    has one (`plays`). A prompt becomes a token (`token`): its language, text and the
    time it was made, sealed with the line's key (HOTLINE_SECRET_KEY), bound to its call.
    The carrier fetches the token's URL; `wav` opens it and renders. So any node of the
    line can answer the fetch, nothing of a call is kept for it between its reply and the
    fetch, and nobody without the key can have a text rendered or learn one from its URL;
    a token plays for `TOKEN_LIFE` only. The audio of the latest prompts is kept in
    memory, at most `kept_bytes` of it, by (voice, text): a flow's prompts are rendered
    once, not at each call, and a prompt asked for again as it renders is rendered once.
    (Used on the event loop only; renders run where `run` puts them.)"""

    def __init__(
        self, speech: EspeakSpeech, keyring: Keyring, *, clock: Callable[[], float],
        run: Run, kept_bytes: int = KEPT_BYTES,
    ) -> None:  # fmt: skip
        """`clock`: the line's wall clock (seconds), which dates tokens; `run(fn, *args,
        **kwargs)`: `fn` in a thread, awaited (renders run there)."""
        self.speech = speech
        self.keyring = keyring
        self.clock = clock
        self.run = run
        self.kept_bytes = kept_bytes
        self.voices = speech.voices()
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._rendering: dict[str, asyncio.Future[bytes]] = {}

    @staticmethod
    def needed(language: str) -> bool:
        """Whether the carrier has no voice for `language`, and espeak-ng may have one."""
        v = voice(language)
        return v.carrier_language is None and v.espeak is not None

    def plays(self, language: str) -> bool:
        """Whether prompts in `language` are played (`needed`, and this espeak-ng has its
        voice)."""
        return self.needed(language) and voice(language).espeak in self.voices

    def token(self, text: str, language: str, call_sid: str) -> str | None:
        """The token of a prompt of call `call_sid`; None if it would be too long for a URL
        (`TOKEN_MAX`: the prompt is then said by the carrier's voice)."""
        said = [language, text, round(self.clock())]
        sealed = self.keyring.seal_value(said, column=SEALED_AS, row=call_sid)[SEALED]
        return sealed if len(sealed) <= TOKEN_MAX else None

    async def wav(self, token: str, call_sid: str) -> bytes:
        """The audio a token names. `PromptAudioUnknown` if it does not open under this
        line's key for this call, is too old, or names a language not played here;
        `SpeechUnavailable` if espeak-ng fails, or is too slow or too busy."""
        language, text = self._opened(token, call_sid)
        key = self.speech.key(text, language)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        rendering = self._rendering.get(key)
        if rendering is None:
            if len(self._rendering) >= RENDERS_AT_MOST:
                raise SpeechUnavailable(f"{RENDERS_AT_MOST} prompts are being rendered")
            rendering = asyncio.ensure_future(self._render(key, text, language))
            self._rendering[key] = rendering
            rendering.add_done_callback(functools.partial(self._rendered, key))
        try:
            return await asyncio.wait_for(asyncio.shield(rendering), RENDER_WAIT)
        except TimeoutError:
            raise SpeechUnavailable(f"a render took over {RENDER_WAIT:g} s") from None

    def _opened(self, token: str, call_sid: str) -> tuple[str, str]:
        try:
            said = self.keyring.open_value({SEALED: token}, column=SEALED_AS, row=call_sid)
        except SealedValueUnreadable:
            said = None
        if not (isinstance(said, list) and len(said) == 3 and isinstance(said[2], int)
                and all(type(x) is str for x in said[:2])):  # fmt: skip
            raise PromptAudioUnknown("no prompt of this call has this audio token")
        language, text, made = said
        if abs(self.clock() - made) > TOKEN_LIFE:
            raise PromptAudioUnknown("this audio token is too old to play")
        if not self.plays(language):  # (a token of another release's languages)
            raise PromptAudioUnknown("this line plays no prompt in this language")
        return language, text

    async def _render(self, key: str, text: str, language: str) -> bytes:
        audio: bytes = await self.run(self.speech.wav, text, language, within=RENDER_WITHIN)
        if len(audio) <= self.kept_bytes:
            self._kept[key] = audio
            self._size += len(audio)
            while self._size > self.kept_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)
        return audio

    def _rendered(self, key: str, done: asyncio.Future[bytes]) -> None:
        del self._rendering[key]
        if not done.cancelled():
            done.exception()  # (retrieved: a render no fetch waits for any more fails quietly)


def prompt_audio(
    speech: str, keyring: Keyring | None, languages: Iterable[str], *,
    clock: Callable[[], float], run: Run,
) -> PromptAudio | None:  # fmt: skip
    """A line's prompt audio as HOTLINE_SPEECH says (`speech`: auto, espeak or off); None
    if it is off, or cannot be had and `speech` is auto. The log says which of the
    `languages` the line's flows speak are left to the carrier's default voice, and why.
    `SettingsInvalid` if `speech` is espeak and it cannot be had."""
    if speech == "off":
        return None
    wanted = sorted({lang for lang in languages if PromptAudio.needed(lang)})
    try:
        if keyring is None:
            raise SpeechUnavailable(
                "HOTLINE_SECRET_KEY is not set (each prompt's text is sealed with it in the "
                "URL the carrier fetches its audio from)"
            )
        audio = PromptAudio(EspeakSpeech(), keyring, clock=clock, run=run)
    except SpeechUnavailable as e:
        if speech == "espeak":
            raise SettingsInvalid(f"HOTLINE_SPEECH=espeak: {e}") from None
        if wanted:
            log.warning("the carrier has no voice for %s: its default voice reads those "
                        "prompts, as espeak-ng cannot (%s)", ", ".join(wanted), e)  # fmt: skip
        return None
    if lacking := [lang for lang in wanted if not audio.plays(lang)]:
        log.warning("the carrier has no voice for %s, nor has this espeak-ng: the carrier's "
                    "default voice reads those prompts", ", ".join(lacking))  # fmt: skip
    return audio


def check_speech(speech: str, keyring: Keyring | None) -> None:
    """A start's first check: HOTLINE_SPEECH=espeak that cannot be had is refused
    (`SettingsInvalid`) before anything is built or led."""
    if speech == "espeak":
        prompt_audio(speech, keyring, (), clock=time.time, run=asyncio.to_thread)
