"""A live line's prompts in the languages the carrier has no voice for, spoken by
espeak-ng (`telephony.speech`) and played: the carrier fetches each from a URL of the
line's (`web.voice`, `/voice/audio`)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

from hotline.errors import HotlineError, SealedValueUnreadable, SettingsInvalid
from hotline.ivr.languages import voice
from hotline.service.sealing import SEALED, Keyring
from hotline.telephony.speech import EspeakSpeech, SpeechUnavailable

log = logging.getLogger("hotline.speech")


class PromptAudioUnknown(HotlineError):
    error_id = "no-such-audio"


KEPT_BYTES = 32 * 1024 * 1024  # the rendered audio kept in memory (about 12 minutes)
SEALED_AS = "prompt-audio"  # the column a prompt's sealed text is bound to (with its call)


class PromptAudio:
    """A live line's prompts in the languages the carrier has no voice for (`needed`),
    spoken by espeak-ng. A prompt becomes a token (`token`): its text and language sealed
    with the line's key (HOTLINE_SECRET_KEY), bound to its call. The carrier fetches the
    token's URL; `wav` opens it and renders. So any node of the line can answer the fetch,
    nothing of a call is kept for it between its reply and the fetch, and nobody without
    the key can have a text rendered or learn one from its URL. The audio of the latest
    prompts is kept in memory, at most `kept_bytes` of it, by (voice, text): a flow's
    prompts are rendered once, not at each call."""

    def __init__(
        self, speech: EspeakSpeech, keyring: Keyring, *, kept_bytes: int = KEPT_BYTES
    ) -> None:
        self.speech = speech
        self.keyring = keyring
        self.kept_bytes = kept_bytes
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # (`wav` runs in worker threads)

    @staticmethod
    def needed(language: str) -> bool:
        """Whether prompts in `language` are played as audio (the carrier has no voice for
        it, espeak-ng has one)."""
        v = voice(language)
        return v.carrier_language is None and v.espeak is not None

    def token(self, text: str, language: str, call_sid: str) -> str:
        sealed = self.keyring.seal_value([language, text], column=SEALED_AS, row=call_sid)
        return sealed[SEALED]

    def wav(self, token: str, call_sid: str) -> bytes:
        """The audio a token names (`PromptAudioUnknown` if it does not open under this
        line's key for this call; `SpeechUnavailable` if espeak-ng fails)."""
        try:
            said = self.keyring.open_value({SEALED: token}, column=SEALED_AS, row=call_sid)
        except SealedValueUnreadable:
            said = None
        if not (isinstance(said, list) and len(said) == 2 and all(type(x) is str for x in said)):
            raise PromptAudioUnknown("no prompt of this call has this audio token")
        language, text = said
        key = self.speech.key(text, language)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        audio = self.speech.wav(text, language)  # (outside the lock: renders run at once)
        with self._lock:
            if key not in self._kept and len(audio) <= self.kept_bytes:
                self._kept[key] = audio
                self._size += len(audio)
                while self._size > self.kept_bytes:
                    _, dropped = self._kept.popitem(last=False)
                    self._size -= len(dropped)
        return audio


def prompt_audio(
    speech: str, keyring: Keyring | None, languages: Iterable[str]
) -> PromptAudio | None:
    """A line's prompt audio as HOTLINE_SPEECH says (`speech`: auto, espeak or off); None
    if it is off, or cannot be had and `speech` is auto (said in the log if the line's
    flows speak `languages` that need it: their prompts are read by the carrier's default
    voice). `SettingsInvalid` if `speech` is espeak and it cannot be had."""
    if speech == "off":
        return None
    try:
        if keyring is None:
            raise SpeechUnavailable(
                "HOTLINE_SECRET_KEY is not set (each prompt's text is sealed with it in the "
                "URL the carrier fetches its audio from)"
            )
        return PromptAudio(EspeakSpeech(), keyring)
    except SpeechUnavailable as e:
        if speech == "espeak":
            raise SettingsInvalid(f"HOTLINE_SPEECH=espeak: {e}") from None
        wanted = sorted({lang for lang in languages if PromptAudio.needed(lang)})
        if wanted:
            log.warning("the carrier has no voice for %s: its default voice reads those prompts, "
                    "as espeak-ng cannot (%s)", ", ".join(wanted), e)  # fmt: skip
        return None
