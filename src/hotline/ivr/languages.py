"""The one table from our language tags to locales and voices, and the caller's region's
likely language. Carrier codes follow Twilio's `<Say language=… voice=…>`; a language the
carrier cannot speak is rendered by espeak-ng and played as audio."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

import phonenumbers
from babel import Locale, UnknownLocaleError


@dataclass(frozen=True, slots=True)
class Voice:
    locale: str  # Babel/CLDR locale for numbers, times and durations
    carrier_language: str | None  # `<Say language=…>` and `<Gather language=…>`; None:
    # the carrier has no voice for it, nor speech recognition (its callers press keys)
    carrier_voice: str | None  # `<Say voice=…>`
    espeak: str | None  # espeak-ng voice for self-hosted audio; None: none exists


VOICES: dict[str, Voice] = {
    "en": Voice("en_US", "en-US", "Polly.Joanna", "en-us"),
    "es": Voice("es_US", "es-US", "Polly.Lupe", "es-419"),
    "pt": Voice("pt_BR", "pt-BR", "Polly.Camila", "pt-br"),
    # CLDR has no Haitian Creole data yet: formats follow French (Haiti)
    "ht": Voice("fr_HT", None, None, "ht"),
    "cmn": Voice("zh_Hans_CN", "cmn-CN", "Polly.Zhiyu", "cmn"),
    "yue": Voice("yue_Hant_HK", "yue-HK", "Polly.Hiujin", "yue"),
    "vi": Voice("vi_VN", "vi-VN", "Google.vi-VN-Standard-A", "vi"),
    "fr": Voice("fr_FR", "fr-FR", "Polly.Lea", "fr-fr"),
    "ar": Voice("ar", "arb", "Polly.Zeina", "ar"),
    "ru": Voice("ru_RU", "ru-RU", "Polly.Tatyana", "ru"),
    "ko": Voice("ko_KR", "ko-KR", "Polly.Seoyeon", "ko"),
    "hi": Voice("hi_IN", "hi-IN", "Polly.Aditi", "hi"),
    # Mayan languages: no synthetic voice anywhere; callers get the interpreter path
    "quc": Voice("es_GT", None, None, "quc"),
    "mam": Voice("es_GT", None, None, None),
    "kjb": Voice("es_GT", None, None, None),
}

UNKNOWN = Voice("en_US", None, None, None)

# The language most callers from a region speak, when the flow offers it.
REGION_LANGUAGE: dict[str, str] = {
    "US": "en", "CA": "en", "GB": "en", "AU": "en", "IE": "en", "NZ": "en",
    "MX": "es", "GT": "es", "SV": "es", "HN": "es", "NI": "es", "CR": "es", "PA": "es",
    "CO": "es", "VE": "es", "EC": "es", "PE": "es", "BO": "es", "CL": "es", "AR": "es",
    "UY": "es", "PY": "es", "DO": "es", "CU": "es", "ES": "es", "PR": "es",
    "BR": "pt", "PT": "pt", "AO": "pt", "MZ": "pt", "CV": "pt",
    "HT": "ht",
    "CN": "cmn", "TW": "cmn", "SG": "cmn", "HK": "yue", "MO": "yue",
    "VN": "vi",
    "FR": "fr", "BE": "fr", "SN": "fr", "CI": "fr", "CM": "fr", "CD": "fr",
    "SA": "ar", "EG": "ar", "MA": "ar", "DZ": "ar", "TN": "ar", "IQ": "ar", "SY": "ar",
    "JO": "ar", "LB": "ar", "YE": "ar", "AE": "ar", "SD": "ar", "LY": "ar",
    "RU": "ru", "BY": "ru", "KZ": "ru", "KG": "ru",
    "KR": "ko",
    "IN": "hi",
}  # fmt: skip


@functools.lru_cache(maxsize=256)
def voice(language: str) -> Voice:
    """The language's voices; a tag with a region (`es-ES`, `pt_PT`) has its language's,
    and the region's own formats where Babel has them (a decimal comma in Spain)."""
    found = VOICES.get(language)
    if found is not None:
        return found
    found = VOICES.get(re.split(r"[-_]", language, maxsplit=1)[0])
    if found is None:
        return UNKNOWN
    try:
        locale = str(Locale.parse(language.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        return found
    return dataclasses.replace(found, locale=locale)


def hears(language: str) -> bool:
    """Whether the carrier may recognise speech in this language: not in one this table
    knows it has no voice for (its `<Gather language=…>` code is its voice's), where a
    caller's words would be heard as another language's, so its callers press keys. (A
    language the table does not know is listened to as before, in `en-US`.)"""
    v = voice(language)
    return v is UNKNOWN or v.carrier_language is not None


def region_of(number: str) -> str | None:
    """ISO region of an E.164 number (None when it cannot be told)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(parsed)


def callable_number(number: str) -> bool:
    """Whether we could call this number back (not withheld, not malformed)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def language_of(number: str) -> str | None:
    region = region_of(number)
    return REGION_LANGUAGE.get(region) if region else None
