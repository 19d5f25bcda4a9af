"""Prompts in a language the carrier has no voice for (Haitian Creole) are played as
audio, spoken by the real espeak-ng (the test command installs it) and fetched from the
line; the others are said by the carrier's voices as before."""

from __future__ import annotations

import html
import io
import logging
import os
import re
import shutil
import struct
import wave

import pytest

from hotline.errors import SettingsInvalid

from .live_fixtures import LINE, PUBLIC, Live, call_form, gather_url, sqlite_url

HAITI = "+50937001234"  # a caller from Haiti: offered Kreyòl first
US = "+12025550143"


@pytest.fixture
def live(tmp_path):
    return Live(sqlite_url(tmp_path))


def plays(twiml: str) -> list[str]:
    """The `<Play>` URLs of a reply, as paths on the line (the carrier fetches them)."""
    urls = [html.unescape(u) for u in re.findall(r"<Play>([^<]+)</Play>", twiml)]
    assert all(u.startswith(PUBLIC + "/voice/audio?") for u in urls), urls
    return [u.removeprefix(PUBLIC) for u in urls]


def says(twiml: str) -> list[str]:
    return re.findall(r"<Say[^>]*>([^<]*)</Say>", twiml)


def seconds_of(audio: bytes) -> float:
    """The length of a WAV file, from its header, which must say its true sizes."""
    assert audio[:4] == b"RIFF"
    assert struct.unpack("<I", audio[4:8])[0] == len(audio) - 8
    with wave.open(io.BytesIO(audio)) as w:
        assert w.getnchannels() == 1
        data = w.getnframes() * w.getsampwidth()
        assert 0 < len(audio) - data <= 64  # the frames are the file, but for its header
        return float(w.getnframes() / w.getframerate())


def test_a_caller_in_kreyol_hears_prompts_the_line_serves_as_audio(live):
    sid = "CA" + "1" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=HAITI, To=LINE))
    assert r.status_code == 200
    assert says(r.text) == []  # the welcome and the language's confirmation, both played
    assert "Mèsi" not in r.text
    assert "kreyòl" not in r.text
    urls = plays(r.text)
    assert len(urls) == 2
    audio = []
    for url in urls:
        got = live.http.get(url)  # unsigned, as a carrier fetches what it plays
        assert got.status_code == 200
        assert got.headers["content-type"] == "audio/wav"
        audio.append(got.content)
    assert seconds_of(audio[0]) > 3.0  # the welcome: two sentences
    assert seconds_of(audio[1]) > 2.0
    assert audio[0] != audio[1]
    # the same prompt again (the carrier retried, or another caller): the same audio
    assert live.http.get(urls[0]).content == audio[0]

    # an English caller's prompts are said by the carrier's voice, as before
    r = live.carrier.post("/voice/incoming", call_form("CA" + "2" * 32, From=US, To=LINE))
    assert "<Play>" not in r.text
    assert any("Thank you for calling the National Hotline" in s for s in says(r.text))


def test_the_hold_loop_plays_kreyol_too(live):
    sid = "CA" + "3" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=HAITI, To=LINE))
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="1"))  # keep Kreyòl
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # the public
    r = live.carrier.post(gather_url(r.text), call_form(sid, Digits="2"))  # stays on
    assert "/voice/wait?sid=" in r.text
    r = live.carrier.post(f"/voice/wait?sid={sid}&n=1", call_form(sid))
    assert says(r.text) == []
    where = plays(r.text)  # where they stand in the queue, and the wait, in Kreyòl
    assert where
    assert all(seconds_of(live.http.get(url).content) > 1.0 for url in where)
    assert live.store.call(sid).language == "ht"


def test_an_audio_url_plays_only_for_its_own_call_and_as_sealed(live):
    sid, other = "CA" + "4" * 32, "CA" + "5" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=HAITI, To=LINE))
    url = plays(r.text)[0]
    token = url.partition("&p=")[2]  # (still escaped, as in the URL)
    assert token.startswith("v1%3A")
    assert live.http.get(url).status_code == 200

    elsewhere = live.http.get(url.replace(sid, other))  # another call's: it does not open
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error_id"] == "no-such-audio"
    last = token[-6]
    changed = url.replace(token, token[:-6] + ("A" if last != "A" else "B") + token[-5:])
    assert live.http.get(changed).status_code == 404

    live.wall.now += 3601  # an hour after the reply: a URL someone kept plays no more
    late = live.http.get(url)
    assert late.status_code == 404
    assert late.json()["error_id"] == "no-such-audio"

    for bad in (f"/voice/audio?sid={sid}", f"/voice/audio?sid={sid}&p=hello",
                f"/voice/audio?sid={sid}&p=v1%3A00000000%3A" + "A" * 4000,
                f"/voice/audio?sid=no%20call&p={token}"):  # fmt: skip
        refused = live.http.get(bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error_id"] == "bad-query"


def test_without_speech_the_carriers_voice_reads_kreyol_as_before(tmp_path, caplog):
    for folder in ("off", "keyless", "required"):
        (tmp_path / folder).mkdir()
    off = Live(sqlite_url(tmp_path / "off"), speech="off")
    r = off.carrier.post("/voice/incoming", call_form("CA" + "6" * 32, From=HAITI, To=LINE))
    assert "<Play>" not in r.text
    assert any("Mèsi paske ou rele" in s for s in says(r.text))
    token = "v1:00000000:" + "A" * 64
    gone = off.http.get(f"/voice/audio?sid={'CA' + '6' * 32}&p={token}")
    assert gone.status_code == 404
    assert gone.json()["error_id"] == "no-such-audio"

    # no HOTLINE_SECRET_KEY to seal a prompt's text with: said as before, and the start
    # says why Kreyòl is read by the carrier's default voice
    with caplog.at_level(logging.WARNING, logger="hotline.speech"):
        keyless = Live(sqlite_url(tmp_path / "keyless"), secret_key=None)
    assert "ht" in caplog.text
    assert "HOTLINE_SECRET_KEY" in caplog.text
    sid = "CA" + "7" * 32
    r = keyless.carrier.post("/voice/incoming", call_form(sid, From=HAITI, To=LINE))
    assert "<Play>" not in r.text
    assert says(r.text)

    # asked for, and not to be had: the start is refused, saying why
    with pytest.raises(SettingsInvalid, match="HOTLINE_SPEECH=espeak: HOTLINE_SECRET_KEY"):
        Live(sqlite_url(tmp_path / "required"), secret_key=None, speech="espeak")


def test_espeak_ng_failing_after_the_start_is_a_503(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "bin"
    folder.mkdir()
    espeak = folder / "espeak-ng"
    espeak.symlink_to(shutil.which("espeak-ng") or "espeak-ng-missing")
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    live = Live(sqlite_url(tmp_path))
    sid = "CA" + "8" * 32
    r = live.carrier.post("/voice/incoming", call_form(sid, From=HAITI, To=LINE))
    url = plays(r.text)[0]
    espeak.unlink()  # removed (or no process to be had) while the line runs
    with caplog.at_level(logging.ERROR, logger="hotline.web"):
        for _ in range(3):
            got = live.http.get(url)
            assert got.status_code == 503
            said = got.json()  # (the carrier skips the prompt)
            assert said["error_id"] == "speech-unavailable"
            assert said["message"] == "the prompt could not be spoken; try again"
    [logged] = [r for r in caplog.records if "could not be spoken" in r.getMessage()]
    assert "could not be run" in logged.getMessage()  # once a minute, no traceback
    assert logged.exc_info is None
