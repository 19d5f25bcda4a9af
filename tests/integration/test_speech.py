"""Prompts rendered by the real espeak-ng (the test command installs it)."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def test_prompt_audio_is_rendered_once_while_kept_and_again_once_dropped(tmp_path):
    script, log = counting_espeak(tmp_path)
    sid = "CA" + "1" * 32
    texts = ["Mèsi paske ou rele Liy Nasyonal la.", "Tanpri tann.", "Peze 4."]
    plain = EspeakSpeech()
    sizes = [len(plain.wav(t, "ht")) for t in texts]
    # room for the first prompt and either of the others, not for all three
    audio = PromptAudio(EspeakSpeech(binary=str(script)), keyring(), clock=Clock(),
                        kept_bytes=sizes[0] + max(sizes[1:]))  # fmt: skip
    first = audio.wav(token(audio, texts[0], sid), sid)
    assert first == plain.wav(texts[0], "ht")
    assert audio.wav(token(audio, texts[0], sid), sid) == first  # a new token, the same text
    assert renders(log) == 1  # kept: rendered once
    audio.wav(token(audio, texts[1], sid), sid)
    assert audio.wav(token(audio, texts[0], sid), sid) == first
    assert renders(log) == 2  # both kept
    audio.wav(token(audio, texts[2], sid), sid)  # the least lately played (the second) goes
    assert renders(log) == 3
    audio.wav(token(audio, texts[0], sid), sid)
    assert renders(log) == 3
    audio.wav(token(audio, texts[1], sid), sid)  # dropped: rendered again
    assert renders(log) == 4


def test_prompt_audio_plays_only_its_own_calls_tokens_and_for_an_hour(tmp_path):
    clock = Clock()
    audio = PromptAudio(EspeakSpeech(), keyring(), clock=clock)
    made = token(audio, "Tanpri tann.", "CA1")
    assert audio.wav(made, "CA1")[:4] == b"RIFF"
    with pytest.raises(PromptAudioUnknown, match="no prompt of this call"):
        audio.wav(made, "CA2")
    other_key = PromptAudio(EspeakSpeech(), keyring(new_key()), clock=clock)
    with pytest.raises(PromptAudioUnknown, match="no prompt of this call"):
        other_key.wav(made, "CA1")
    clock.now += TOKEN_LIFE  # (an hour: still plays, though kept audio is not what decides)
    assert audio.wav(made, "CA1")[:4] == b"RIFF"
    clock.now += 1
    with pytest.raises(PromptAudioUnknown, match="too old"):
        audio.wav(made, "CA1")
    # a prompt too long for a URL is not made a token (the carrier's voice says it)
    assert audio.token("Tanpri tann. " * 300, "ht", "CA1") is None


def test_a_voice_this_espeak_ng_lacks_is_left_to_the_carrier(tmp_path):
    audio = PromptAudio(EspeakSpeech(), keyring(), clock=Clock())
    assert audio.plays("ht")
    assert not audio.plays("en")  # the carrier has a voice
    assert not audio.plays("mam")  # no espeak-ng voice exists


def test_espeak_ng_gone_after_the_start_is_unavailable_not_a_crash(tmp_path):
    script, _log = counting_espeak(tmp_path)
    speech = EspeakSpeech(binary=str(script))
    script.unlink()
    with pytest.raises(SpeechUnavailable, match="could not be run"):
        speech.wav("Tanpri tann.", "ht")
