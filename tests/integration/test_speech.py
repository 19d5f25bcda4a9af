"""Prompts rendered by the real espeak-ng (the test command installs it)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from hotline.service.prompt_audio import TOKEN_LIFE, PromptAudio, PromptAudioUnknown
from hotline.service.sealing import new_key
from hotline.telephony.speech import EspeakSpeech, SpeechUnavailable

from .live_fixtures import keyring


def test_renders_wav_once_per_text_and_voice(tmp_path):
    speech = EspeakSpeech(cache_dir=tmp_path)
    first = speech.render("Gracias por llamar.", "es")
    assert first.read_bytes()[:4] == b"RIFF"
    assert first.stat().st_size > 10_000
    stamp = first.stat().st_mtime_ns
    assert speech.render("Gracias por llamar.", "es") == first
    assert first.stat().st_mtime_ns == stamp  # served from the cache, not rendered again
    other = speech.render("Gracias por llamar.", "pt")
    assert other != first
    assert len(list(tmp_path.rglob("*.wav"))) == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_language_without_a_voice_is_refused_clearly(tmp_path):
    speech = EspeakSpeech(cache_dir=tmp_path)
    assert speech.can_speak("ht")
    assert not speech.can_speak("mam")
    with pytest.raises(SpeechUnavailable, match="no voice for language 'mam'"):
        speech.render("Hola", "mam")


def test_a_missing_espeak_is_explained(tmp_path):
    with pytest.raises(SpeechUnavailable, match="apt-get install espeak-ng"):
        EspeakSpeech(cache_dir=tmp_path, binary="espeak-ng-not-installed")


def counting_espeak(folder: Path) -> tuple[Path, Path]:
    """An espeak-ng that notes each render (a call with --stdout) in a log, then renders."""
    log = folder / "renders.log"
    script = folder / "espeak-counting"
    real = shutil.which("espeak-ng")
    assert real is not None
    script.write_text(
        f'#!/bin/sh\ncase " $* " in *" --stdout "*) echo render >> "{log}";; esac\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return script, log


def renders(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def token(audio: PromptAudio, text: str, sid: str) -> str:
    made = audio.token(text, "ht", sid)
    assert made is not None
    return made


def audio_of(speech: EspeakSpeech, clock: Clock, key: str | None = None, **kw: Any) -> PromptAudio:
    return PromptAudio(speech, keyring(key) if key else keyring(), clock=clock,
                       run=asyncio.to_thread, **kw)  # fmt: skip


def played(audio: PromptAudio, made: str, sid: str) -> bytes:
    return asyncio.run(audio.wav(made, sid))


def test_prompt_audio_is_rendered_once_while_kept_and_again_once_dropped(tmp_path):
    script, log = counting_espeak(tmp_path)
    sid = "CA" + "1" * 32
    texts = ["Mèsi paske ou rele Liy Nasyonal la.", "Tanpri tann.", "Peze 4."]
    plain = EspeakSpeech()
    sizes = [len(plain.wav(t, "ht")) for t in texts]
    # room for the first prompt and either of the others, not for all three
    room = sizes[0] + max(sizes[1:])
    audio = audio_of(EspeakSpeech(binary=str(script)), Clock(), kept_bytes=room)
    first = played(audio, token(audio, texts[0], sid), sid)
    assert first == plain.wav(texts[0], "ht")
    assert played(audio, token(audio, texts[0], sid), sid) == first  # a new token, same text
    assert renders(log) == 1  # kept: rendered once
    played(audio, token(audio, texts[1], sid), sid)
    assert played(audio, token(audio, texts[0], sid), sid) == first
    assert renders(log) == 2  # both kept
    played(audio, token(audio, texts[2], sid), sid)  # the least lately played (the second) goes
    assert renders(log) == 3
    played(audio, token(audio, texts[0], sid), sid)
    assert renders(log) == 3
    played(audio, token(audio, texts[1], sid), sid)  # dropped: rendered again
    assert renders(log) == 4


def test_a_prompt_asked_for_again_as_it_renders_is_rendered_once(tmp_path):
    script, log = counting_espeak(tmp_path)
    audio = audio_of(EspeakSpeech(binary=str(script)), Clock())
    sids = [f"CA{n}" for n in range(6)]  # six callers hear the same prompt at once

    async def all_at_once() -> list[bytes]:
        made = [token(audio, "Tanpri tann.", sid) for sid in sids]
        return await asyncio.gather(*(audio.wav(t, sid) for t, sid in zip(made, sids, strict=True)))

    heard = asyncio.run(all_at_once())
    assert len(set(heard)) == 1
    assert renders(log) == 1


def test_prompt_audio_plays_only_its_own_calls_tokens_and_for_an_hour(tmp_path):
    clock = Clock()
    audio = audio_of(EspeakSpeech(), clock)
    made = token(audio, "Tanpri tann.", "CA1")
    assert played(audio, made, "CA1")[:4] == b"RIFF"
    with pytest.raises(PromptAudioUnknown, match="no prompt of this call"):
        played(audio, made, "CA2")
    with pytest.raises(PromptAudioUnknown, match="no prompt of this call"):
        played(audio_of(EspeakSpeech(), clock, new_key()), made, "CA1")
    clock.now += TOKEN_LIFE  # (an hour: still plays, though kept audio is not what decides)
    assert played(audio, made, "CA1")[:4] == b"RIFF"
    clock.now += 1
    with pytest.raises(PromptAudioUnknown, match="too old"):
        played(audio, made, "CA1")
    # a prompt too long for a URL is not made a token (the carrier's voice says it)
    assert audio.token("Tanpri tann. " * 300, "ht", "CA1") is None


def test_a_voice_this_espeak_ng_lacks_is_left_to_the_carrier(tmp_path):
    audio = audio_of(EspeakSpeech(), Clock())
    assert audio.plays("ht")
    assert not audio.plays("en")  # the carrier has a voice
    assert not audio.plays("mam")  # no espeak-ng voice exists
    # an espeak-ng built without Haitian Creole
    real = shutil.which("espeak-ng")
    lacking = tmp_path / "espeak-lacking"
    lacking.write_text(
        '#!/bin/sh\nif [ "$1" = --voices ]; then\n'
        f'  "{real}" --voices | grep -v " ht "\nelse\n  exec "{real}" "$@"\nfi\n'
    )
    lacking.chmod(0o755)
    without = audio_of(EspeakSpeech(binary=str(lacking)), Clock())
    assert without.plays("quc")
    assert not without.plays("ht")
    made = token(audio, "Tanpri tann.", "CA1")  # (a token of a node that has the voice)
    with pytest.raises(PromptAudioUnknown, match="no prompt in this language"):
        played(without, made, "CA1")


def test_espeak_ng_gone_after_the_start_is_unavailable_not_a_crash(tmp_path):
    script, _log = counting_espeak(tmp_path)
    speech = EspeakSpeech(binary=str(script))
    script.unlink()
    with pytest.raises(SpeechUnavailable, match="could not be run"):
        speech.wav("Tanpri tann.", "ht")
