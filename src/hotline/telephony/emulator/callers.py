"""Scripted callers for a line: who calls (the scenario's language and caller-type mix),
from which number, and which keys they press in the line's flow to reach their queue."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotline.ivr.model import Flow, LanguageNode
from hotline.sim.scenario import Scenario
from hotline.telephony.emulator.carrier import CallerScript

# a number from a country whose language the flow offers first ("press 1 or stay")
REGION_NUMBER = {
    "en": "+1202555{:04d}", "es": "+5255{:08d}", "pt": "+5511{:08d}", "cmn": "+8610{:08d}",
    "yue": "+8522{:07d}", "vi": "+8424{:08d}", "fr": "+331{:08d}", "ar": "+202{:08d}",
    "ru": "+7495{:07d}", "ko": "+822{:08d}", "hi": "+9111{:08d}",
}  # fmt: skip


def language_keys(flow: Flow, language: str) -> list[str]:
    """Keys that choose `language` in the flow's language menus (through a second page)."""
    menus = [n for n in flow.nodes.values() if isinstance(n, LanguageNode)]
    for menu in menus:
        for o in menu.options:
            if o.language == language:
                pages = [
                    m
                    for m in menus
                    if any(x.next and flow.nodes.get(x.next) is menu for x in m.options)
                ]
                if pages:
                    more = next(
                        x.key for x in pages[0].options if x.next and flow.nodes.get(x.next) is menu
                    )
                    return [more, o.key]
                return [o.key]
    return []


@dataclass
class CallerMix:
    """Callers of one line (`dial`: its number). After their language, callers answer the
    flow's `caller_type` menu if it has one (agency officers verify and queue as not
    urgent; the public go on). `patient` callers never hang up while they wait."""

    scenario: Scenario
    flow: Flow
    rng: np.random.Generator
    agency_id: str = "123455#"
    agency_pin: str = "2468#"
    dial: str = ""
    patient: bool = False

    def next(self) -> CallerScript:
        s, rng = self.scenario, self.rng
        kind = s.caller_types[_pick(rng, [c.share for c in s.caller_types])]
        if kind.languages:
            langs, weights = list(kind.languages), list(kind.languages.values())
        else:
            langs, weights = (
                [lang.tag for lang in s.languages],
                [lang.share for lang in s.languages],
            )
        language = langs[_pick(rng, weights)]
        if language in REGION_NUMBER:
            low, high = (100, 200) if language == "en" else (10**6, 10**7)
            number = REGION_NUMBER[language].format(int(rng.integers(low, high)))
            answers = ["1"]  # yes, my country's language
        else:
            number = REGION_NUMBER["en"].format(int(rng.integers(100, 200)))
            answers = ["2", *language_keys(self.flow, language)]
        if "caller_type" not in self.flow.nodes:
            pass
        elif kind.name == "agency":
            answers += ["1", self.agency_id, self.agency_pin, "2"]
        else:
            answers += ["2"]
        # as the simulator draws them: a caller type's or queue's own patience before the
        # line's, a language's own handle time (an interpreted call's) before the line's
        waits = s.patience_of(kind, kind.queue_for(language)) or s.patience
        patience = float(waits.sample(rng, 1)[0]) if waits else 3600.0
        if self.patient:
            patience = math.inf
        handle = next((lang.handle for lang in s.languages if lang.tag == language), None)
        talk = float((handle or s.handle).sample(rng, 1)[0])
        return CallerScript(number, answers, patience, talk, f"{kind.name}/{language}", self.dial)


def _pick(rng: np.random.Generator, weights: list[float]) -> int:
    p = np.asarray(weights, dtype=float)
    return int(rng.choice(len(p), p=p / p.sum()))
