"""An IVR step's Gather as TwiML: words are listened for only in a language the carrier
recognises, in that language."""

from __future__ import annotations

import re

from hotline.ivr.interpreter import Gather, Say
from hotline.telephony.twiml import ivr_twiml


def gather_tag(language: str) -> str:
    step = Gather(
        (Say("…", language, None),), dtmf=True, speech=True, num_digits=1, finish_on_key="",
        timeout=5.0, language=language, hints=("agency", "help"),
    )  # fmt: skip
    xml = ivr_twiml([step], gather_url="/g", timeout_url="/t", wait_url="/w", voicemail_url="/v")
    (tag,) = re.findall(r"<Gather [^>]*>", xml)
    return str(tag)


def test_words_are_listened_for_in_the_callers_language():
    tag = gather_tag("es")
    assert 'input="dtmf speech"' in tag
    assert 'language="es-US"' in tag
    assert 'hints="agency, help"' in tag


def test_no_words_are_listened_for_where_the_carrier_would_hear_another_language():
    tag = gather_tag("ht")  # (no recogniser: it was heard as en-US)
    assert 'input="dtmf"' in tag
    assert "language=" not in tag
    assert "hints=" not in tag


def test_a_tag_with_a_region_is_listened_to_in_its_language_and_an_unknown_one_as_before():
    assert 'language="es-US"' in gather_tag("es-MX")  # (its language's voice and recogniser)
    tag = gather_tag("de")  # not in the table: listened to as before (the carrier's default)
    assert 'input="dtmf speech"' in tag
    assert 'language="en-US"' in tag
