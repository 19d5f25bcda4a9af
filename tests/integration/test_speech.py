"""Prompts rendered by the real espeak-ng (the test command installs it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotline.service.prompt_audio import PromptAudio, PromptAudioUnknown
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


def test_prompt_audio_is_rendered_once_while_kept_and_again_once_dropped(tmp_path):
    script, log = counting_espeak(tmp_path)
    sid = "CA" + "1" * 32
    welcome = "Mèsi paske ou rele Liy Nasyonal la."
    first = EspeakSpeech(binary=str(script)).wav(welcome, "ht")
    assert renders(log) == 1
    # room for the welcome and one more prompt like it, not two
    audio = PromptAudio(EspeakSpeech(binary=str(script)), keyring(), kept_bytes=len(first) * 2)
    token = audio.token(welcome, "ht", sid)
    assert audio.wav(token, sid) == first
    assert audio.wav(audio.token(welcome, "ht", sid), sid) == first  # a new token, same text
    assert renders(log) == 2  # kept: rendered once
    for text in ("Tanpri tann.", "Pou kreyòl ayisyen, peze 4."):
        audio.wav(audio.token(text, "ht", sid), sid)
    assert renders(log) == 4
    assert audio.wav(token, sid) == first  # dropped for the later ones: rendered again
    assert renders(log) == 5


def test_prompt_audio_opens_only_its_own_calls_tokens(tmp_path):
    audio = PromptAudio(EspeakSpeech(), keyring())
    token = audio.token("Tanpri tann.", "ht", "CA1")
    assert audio.wav(token, "CA1")[:4] == b"RIFF"
    with pytest.raises(PromptAudioUnknown):
        audio.wav(token, "CA2")
    other_key = PromptAudio(EspeakSpeech(), keyring(new_key()))
    with pytest.raises(PromptAudioUnknown):
        other_key.wav(token, "CA1")
