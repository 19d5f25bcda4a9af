from __future__ import annotations

from datetime import time, timedelta

from hotline.ivr.catalog import Catalog, fill, localise
from hotline.ivr.checksums import luhn, mod11
from hotline.ivr.languages import VOICES, language_of, region_of, voice


def test_durations_and_numbers_in_the_languages_own_formats():
    assert localise(timedelta(seconds=330), "en") == "6 minutes"
    assert localise(timedelta(seconds=330), "es") == "6 minutos"
    assert localise(timedelta(seconds=330), "ru") == "6 минут"
    assert localise(timedelta(seconds=330), "cmn") == "6分钟"
    assert localise(timedelta(seconds=10), "en") == "1 minute"  # never "0 minutes"
    assert localise(12345, "en") == "12,345"
    assert localise(12345, "fr") == "12\u202f345"
    assert localise(time(15, 30), "en") == "3:30\u202fPM"
    assert localise(time(15, 30), "fr") == "15:30"


def test_render_fills_placeholders_and_words_are_casefolded():
    c = Catalog(
        {"en": {"pos": "You are number {position}, wait {wait}.", "w": "Agency | Officer|"}}
    )
    assert c.render("pos", "en", {"position": 1200, "wait": timedelta(minutes=3)}) == (
        "You are number 1,200, wait 3 minutes."
    )
    assert c.render("pos", "es") is None
    assert c.words("w", "en") == ("agency", "officer")
    assert fill("{a}-{b.c}-{missing}", {"a": "1", "b.c": "2"}) == "1-2-"


def test_region_and_language_of_a_number():
    assert region_of("+525512345678") == "MX"
    assert language_of("+525512345678") == "es"
    assert language_of("+12025550143") == "en"
    assert language_of("+82212345678") == "ko"
    assert region_of("not a number") is None
    assert language_of("+999") is None


def test_every_voice_has_a_locale_babel_knows():
    from babel import Locale

    for tag, v in VOICES.items():
        assert Locale.parse(v.locale), tag


def test_check_digits():
    assert luhn("79927398713")
    assert not luhn("79927398710")
    assert luhn("123455")
    assert not luhn("123456")
    assert not luhn("12a455")
    # ISBN-10 style weights: 0-306-40615-2
    assert mod11("0306406152")
    assert not mod11("0306406153")


def test_a_tag_with_a_region_speaks_its_language_in_the_regions_formats():
    assert localise(1234.5, "es-ES") == "1.234,5"  # Spain: a decimal comma
    assert localise(1234.5, "es") == "1,234.5"  # (the table's Spanish is the US's)
    assert voice("es-ES").carrier_language == voice("es").carrier_language == "es-US"
    assert voice("zz-ZZ").carrier_language is None  # (no such language: the carrier's default)
