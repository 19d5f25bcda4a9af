"""Prompts rendered by the real espeak-ng (the test command installs it)."""

from __future__ import annotations

import pytest

from hotline.telephony.speech import EspeakSpeech, SpeechUnavailable


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
