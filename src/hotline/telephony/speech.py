"""Prompts rendered to audio with espeak-ng, for the languages the carrier has no voice
for (Haitian Creole, K'iche'): the carrier is told to `<Play>` the WAV instead of `<Say>`.

`hotline flow run --audio` keeps the files on disk, cached by (espeak-ng version, voice,
speed, text). A live line keeps nothing on disk (`service.prompt_audio`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

from hotline.errors import HotlineError
from hotline.ivr.languages import voice


class SpeechUnavailable(HotlineError):
    error_id = "speech-unavailable"


class EspeakSpeech:
    def __init__(
        self, *, cache_dir: Path | None = None, binary: str = "espeak-ng", speed: int = 150
    ) -> None:
        """`cache_dir`: where `render` keeps its files (None: `wav` only)."""
        path = shutil.which(binary)
        if path is None:
            raise SpeechUnavailable(
                f"{binary} is not installed; install the Debian package espeak-ng "
                "(apt-get install espeak-ng) or use the carrier's voices"
            )
        self.binary = path
        self.cache_dir = cache_dir
        self.speed = speed
        self.version = self._ask("--version").strip()

    def voices(self) -> set[str]:
        """The voices this espeak-ng has (`-v` names, as `ivr.languages` gives them)."""
        rows = self._ask("--voices").splitlines()[1:]  # (a header, then one row a voice)
        return {row.split()[1] for row in rows if len(row.split()) > 1}

    def _ask(self, what: str) -> str:
        try:
            done = subprocess.run([self.binary, what], capture_output=True, text=True,
                                  check=False, timeout=10)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SpeechUnavailable(f"espeak-ng {what} failed ({type(e).__name__})") from None
        return done.stdout

    def can_speak(self, language: str) -> bool:
        return voice(language).espeak is not None

    def key(self, text: str, language: str) -> str:
        espeak_voice = voice(language).espeak
        material = f"{self.version}\0{espeak_voice}\0{self.speed}\0{text}"
        return hashlib.sha256(material.encode()).hexdigest()

    def render(self, text: str, language: str) -> Path:
        """The WAV file of `text` spoken in `language` (rendered now or taken from the cache)."""
        self._voice(language)  # (refused before anything else)
        if self.cache_dir is None:
            raise SpeechUnavailable("no folder was given for audio files")
        key = self.key(text, language)
        path = self.cache_dir / key[:2] / f"{key}.wav"
        if path.is_file():
            return path
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._espeak(text, language, ["-w", str(tmp)])
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise SpeechUnavailable(f"cannot write audio under {self.cache_dir}: {e}") from None
        except SpeechUnavailable:
            tmp.unlink(missing_ok=True)
            raise
        if not tmp.is_file():
            raise SpeechUnavailable(f"espeak-ng wrote no {language} audio")
        tmp.replace(path)  # atomic: a reader never sees half a file
        return path

    def wav(self, text: str, language: str, *, within: float = 60) -> bytes:
        """`text` spoken in `language`, as the bytes of a WAV file (nothing written to disk),
        rendered within `within` seconds."""
        audio = self._espeak(text, language, ["--stdout"], within=within)
        return _sized(audio, language)

    def _voice(self, language: str) -> str:
        espeak_voice = voice(language).espeak
        if espeak_voice is None:
            raise SpeechUnavailable(f"espeak-ng has no voice for language {language!r}")
        return espeak_voice

    def _espeak(self, text: str, language: str, out: list[str], *, within: float = 60) -> bytes:
        """Run espeak-ng on `text` (its standard input), writing as `out` says, for at most
        `within` seconds; its output."""
        try:
            done = subprocess.run(
                [self.binary, "-v", self._voice(language), "-s", str(self.speed), *out, "--stdin"],
                input=text.encode(),
                capture_output=True,
                check=False,
                timeout=within,
            )
        except subprocess.TimeoutExpired:
            raise SpeechUnavailable(f"espeak-ng took over {within:g} s and was stopped") from None
        except OSError as e:  # (gone since the start, or no process to be had)
            raise SpeechUnavailable(f"espeak-ng could not be run ({type(e).__name__})") from None
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise SpeechUnavailable(f"espeak-ng could not render {language} speech: {reason}")
        return done.stdout


def _sized(audio: bytes, language: str) -> bytes:
    """A WAV file espeak-ng streamed, with its sizes filled in: streaming, it cannot know
    them when it writes the header, and says "as long as can be" (0x7ffffff0 and so on),
    which a player may wait for."""
    at = audio.find(b"data", 12)
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE" or at < 0 or at + 8 > len(audio):
        raise SpeechUnavailable(f"espeak-ng gave no {language} audio")
    body = len(audio) - (at + 8)
    return b"".join((b"RIFF", struct.pack("<I", len(audio) - 8), audio[8 : at + 4],
                     struct.pack("<I", body), audio[at + 8 :]))  # fmt: skip
