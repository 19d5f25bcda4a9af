"""Prompt catalogs: the text of every prompt in every language, and how placeholders are
filled in the language's own formats (Babel: numbers, times of day, durations).

A catalog is one YAML file per language (`<dir>/<tag>.yaml`, prompt id -> text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from babel.dates import format_time, format_timedelta
from babel.numbers import format_decimal

from hotline.ivr.languages import voice

PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")

Value = str | int | float | timedelta | time | datetime


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace `{name}` by its value; a name without a value becomes empty."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def localise(value: Value, language: str) -> str:
    locale = voice(language).locale
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | float):
        return format_decimal(value, locale=locale)
    if isinstance(value, timedelta):
        # waits are announced rounded to whole minutes, never "0 minutes"
        seconds = max(value.total_seconds(), 60.0)
        return format_timedelta(
            timedelta(seconds=seconds), granularity="minute", threshold=2, locale=locale
        )
    if isinstance(value, datetime | time):
        return format_time(value, format="short", locale=locale)
    return str(value)


@dataclass(frozen=True, slots=True)
class Catalog:
    texts: Mapping[str, Mapping[str, str]]  # language -> prompt id -> text

    def has(self, prompt: str, language: str) -> bool:
        return prompt in self.texts.get(language, {})

    def render(
        self, prompt: str, language: str, values: Mapping[str, Value] | None = None
    ) -> str | None:
        """The prompt in this language with placeholders filled; None if it has no text."""
        text = self.texts.get(language, {}).get(prompt)
        if text is None:
            return None
        if not values:
            return fill(text, {})
        return fill(text, {k: localise(v, language) for k, v in values.items()})

    def words(self, prompt: str, language: str) -> tuple[str, ...]:
        """A words list (`agency|officer|one`), case-folded."""
        text = self.texts.get(language, {}).get(prompt, "")
        return tuple(w.strip().casefold() for w in text.split("|") if w.strip())
