"""Small flows written to a temporary directory, as an operator would write them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotline.ivr.flow_file import load_flow
from hotline.ivr.interpreter import CallStarted
from hotline.ivr.model import Flow

PROMPTS = {
    "en": {
        "hello": "Hello.",
        "menu": "Press 1 for sales, 2 for help.",
        "words_sales": "sales|buy",
        "words_help": "help|support",
        "invalid_entry": "Not valid.",
        "no_input": "Nothing heard.",
        "code": "Enter your code.",
        "pin": "Enter your PIN.",
        "hold": "Please hold.",
        "offer": "The wait is {wait}. Press 1 for a callback.",
        "called_back": "We will call you back.",
        "bye": "Goodbye.",
        "language_confirm": "For English press 1.",
        "language_option": "For English, press {digit}.",
        "language_option_named": "For {language_name}, press {digit}.",
        "language_more": "More languages: {digit}.",
    },
    "es": {
        "hello": "Hola.",
        "menu": "Oprima 1 para ventas, 2 para ayuda.",
        "words_sales": "ventas|comprar",
        "words_help": "ayuda|soporte",
        "invalid_entry": "No válido.",
        "no_input": "No escuchamos nada.",
        "code": "Marque su código.",
        "pin": "Marque su PIN.",
        "hold": "Espere, por favor.",
        "offer": "La espera es de {wait}. Oprima 1 para que le llamemos.",
        "called_back": "Le llamaremos.",
        "bye": "Adiós.",
        "language_confirm": "Para español oprima 1.",
        "language_option": "Para español, oprima {digit}.",
        "language_option_named": "Para {language_name}, oprima {digit}.",
        "language_more": "Más idiomas: {digit}.",
    },
}

BASE: dict[str, Any] = {
    "flow": "test-line",
    "version": 1,
    "start": "start",
    "default_language": "en",
    "languages": {
        "en": {"name": "English"},
        "es": {"name": "Español"},
        "quc": {"name": "K'iche'", "interpreted": True},
    },
    "catalog": "prompts",
    "queues": ["sales", "help", "en", "es", "quc"],
    "fallback_queue": "help",
    "interpreter": "interpreted",
    "connectors": ["directory"],
}

INTERPRETED = {"interpreted": {"enqueue": {"queue": "{language}"}}}

WriteFlow = Callable[..., Path]


@pytest.fixture
def write_flow(tmp_path: Path) -> WriteFlow:
    def write(
        nodes: dict[str, Any],
        *,
        prompts: dict[str, dict[str, str]] | None = None,
        text: str | None = None,
        **top: Any,
    ) -> Path:
        for tag, texts in (prompts or PROMPTS).items():
            (tmp_path / "prompts").mkdir(exist_ok=True)
            (tmp_path / "prompts" / f"{tag}.yaml").write_text(
                yaml.safe_dump(texts, allow_unicode=True), encoding="utf-8"
            )
        path = tmp_path / "line.flow.yaml"
        if text is None:
            text = yaml.safe_dump(
                {**BASE, **top, "nodes": {**nodes, **INTERPRETED}},
                allow_unicode=True,
                sort_keys=False,
            )
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_flow(write_flow: WriteFlow) -> Callable[..., Flow]:
    def make(nodes: dict[str, Any], **kw: Any) -> Flow:
        return load_flow(write_flow(nodes, **kw))

    return make


def call(caller: str = "+12025550143", **kw: Any) -> CallStarted:
    kw.setdefault("local_time", datetime(2026, 11, 25, 14, 0))  # a Wednesday afternoon
    return CallStarted(caller, "+18005550100", **kw)
