"""Prompts rendered to audio with espeak-ng, for self-hosted lines and the demo: the
carrier is told to `<Play>` the WAV instead of `<Say>`, which also covers languages the
carrier has no voice for (Haitian Creole, K'iche').

Files are cached by (espeak-ng version, voice, speed, text): the same prompt is rendered
once, and a new espeak-ng release renders afresh."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from hotline.errors import HotlineError
from hotline.ivr.languages import voice


class SpeechUnavailable(HotlineError):
    error_id = "speech-unavailable"


class EspeakSpeech:
    def __init__(self, *, cache_dir: Path, binary: str = "espeak-ng", speed: int = 150) -> None:
        path = shutil.which(binary)
        if path is None:
            raise SpeechUnavailable(
                f"{binary} is not installed; install the Debian package espeak-ng "
                "(apt-get install espeak-ng) or use the carrier's voices"
            )
        self.binary = path
        self.cache_dir = cache_dir
        self.speed = speed
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=False, timeout=10
        )
        self.version = version.stdout.strip()

    def can_speak(self, language: str) -> bool:
        return voice(language).espeak is not None

    def key(self, text: str, language: str) -> str:
        espeak_voice = voice(language).espeak
        material = f"{self.version}\0{espeak_voice}\0{self.speed}\0{text}"
        return hashlib.sha256(material.encode()).hexdigest()

    def render(self, text: str, language: str) -> Path:
        """The WAV file of `text` spoken in `language` (rendered now or taken from the cache)."""
        espeak_voice = voice(language).espeak
        if espeak_voice is None:
            raise SpeechUnavailable(f"espeak-ng has no voice for language {language!r}")
        key = self.key(text, language)
        path = self.cache_dir / key[:2] / f"{key}.wav"
        if path.is_file():
            return path
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                [self.binary, "-v", espeak_voice, "-s", str(self.speed), "-w", str(tmp), "--stdin"],
                input=text.encode(),
                capture_output=True,
                check=False,
                timeout=60,
            )
        except OSError as e:
            raise SpeechUnavailable(f"cannot write audio under {self.cache_dir}: {e}") from None
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise SpeechUnavailable("espeak-ng took over 60 s and was stopped") from None
        if done.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            reason = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise SpeechUnavailable(f"espeak-ng could not render {language} speech: {reason}")
        tmp.replace(path)  # atomic: a reader never sees half a file
        return path
